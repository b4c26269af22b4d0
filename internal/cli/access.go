package cli

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/hashicorp/vault/api"
)

// accessCommands are `coffer access who|what|report` (issue 14).
func accessCommands() map[string]*command {
	return map[string]*command{
		"access": {synopsis: "Ask who can reach a path and what a principal can reach"},
		"access who": {
			synopsis: "Show who can reach a path",
			usage:    "[options] PATH",
			help: `Shows the policies that grant (or deny) a capability on a request path,
with the rule that matches, and every principal that holds them: auth
roles and users, identity entities and groups (nested groups expanded),
and live tokens by accessor (sys/access/who; needs sudo).

    $ coffer access who secret/data/payments/db
    $ coffer access who -capability=update transit/encrypt/payments`,
			server: true,
			setup: func(fs *flag.FlagSet) runFunc {
				capability := fs.String("capability", "read", "the capability to ask about: create, read, update, patch, delete, list or sudo")
				limit := fs.Int("token-limit", 0, "list at most this many tokens (default: the server's, 1000)")
				return func(ctx context.Context, c *call, args []string) int {
					return runAccessWho(ctx, c, args, *capability, *limit)
				}
			},
		},
		"access what": {
			synopsis: "Show what a principal can reach",
			usage:    "[options]",
			help: `Shows the resultant ACL of a token (by accessor), an entity, an auth role
or a set of policies, and the existing secrets and named objects under
each mount it may use (sys/access/what; needs sudo). Give exactly one of
-accessor, -entity-id, -role or -policy.

    $ coffer access what -role=auth/approle/role/payments
    $ coffer access what -accessor=hmW2...`,
			server: true,
			setup: func(fs *flag.FlagSet) runFunc {
				q := map[string]*string{
					"accessor":  fs.String("accessor", "", "a live token's accessor"),
					"entity_id": fs.String("entity-id", "", "an identity entity's ID"),
					"role":      fs.String("role", "", "an auth role or user, such as auth/approle/role/payments"),
					"policy":    fs.String("policy", "", "policy names, separated by commas"),
				}
				limit := fs.Int("limit", 0, "list at most this many paths per mount (default: the server's, 1000)")
				return func(ctx context.Context, c *call, args []string) int {
					return runAccessWhat(ctx, c, args, q, *limit)
				}
			},
		},
		"access report": {
			synopsis: "Print the access hygiene report",
			usage:    "[options]",
			help: `Prints the hygiene and compliance report (sys/access/report; needs sudo):
secrets not read or not changed in N days, secrets readable by more than
N principals, tokens without expiry, root tokens, policies granted to no
one, policies that grant every path or sudo, AppRole roles whose secret
IDs have neither TTL nor use limit, and auth roles without bindings.
-format=csv prints one finding a line.

    $ coffer access report -days=30
    $ coffer access report -format=csv > report.csv`,
			server: true,
			csv:    true,
			setup: func(fs *flag.FlagSet) runFunc {
				days := fs.Int("days", 0, "sets -unread-days and -unrotated-days")
				unread := fs.Int("unread-days", 0, "list secrets not read for this many days (default 90)")
				unrotated := fs.Int("unrotated-days", 0, "list secrets not changed for this many days (default 90)")
				maxp := fs.Int("max-principals", 0, "list secrets readable by more principals than this (default 10)")
				return func(ctx context.Context, c *call, args []string) int {
					q := map[string][]string{}
					set := func(name string, v int) {
						if v > 0 {
							q[name] = []string{strconv.Itoa(v)}
						}
					}
					set("unread_days", *days)
					set("unrotated_days", *days)
					set("unread_days", *unread)
					set("unrotated_days", *unrotated)
					set("max_principals", *maxp)
					return runAccessReport(ctx, c, args, q)
				}
			},
		},
	}
}

// readAccess reads one sys/access endpoint and decodes its data into v.
func (c *call) readAccess(ctx context.Context, path string, q map[string][]string, v any) (*api.Secret, int) {
	cl, ok := c.newClient()
	if !ok {
		return nil, exitServer
	}
	sec, err := cl.Logical().ReadWithDataWithContext(ctx, path, q)
	if err != nil {
		return nil, c.serverError("reading", path, err)
	}
	if sec == nil || sec.Data == nil {
		return nil, c.notFound(path)
	}
	raw, err := json.Marshal(sec.Data)
	if err == nil {
		err = json.Unmarshal(raw, v)
	}
	if err != nil {
		fmt.Fprintf(c.env.Stderr, "Error decoding the answer of %s: %v\n", path, err)
		return nil, exitServer
	}
	return sec, exitOK
}

// printSections prints titled tables, leaving out the empty ones.
func (c *call) printSections(sections []accessSection) {
	for _, s := range sections {
		fmt.Fprintf(c.env.Stdout, "== %s (%d)\n", s.title, len(s.rows))
		if len(s.rows) == 0 {
			fmt.Fprintln(c.env.Stdout)
			continue
		}
		under := make([]string, len(s.header))
		for i, h := range s.header {
			under[i] = strings.Repeat("-", len(h))
		}
		t, _ := table(append([][]string{s.header, under}, s.rows...))
		fmt.Fprintln(c.env.Stdout, t)
	}
}

type accessSection struct {
	title  string
	header []string
	rows   [][]string
}

type accessRule struct {
	Policy string `json:"policy"`
	Rule   struct {
		Path               string   `json:"path"`
		Capabilities       []string `json:"capabilities"`
		RequiredParameters []string `json:"required_parameters"`
		AllowedParameters  map[string]any
	} `json:"rule"`
	Conditional bool `json:"conditional"`
}

type whoData struct {
	Path       string       `json:"path"`
	Capability string       `json:"capability"`
	Grants     []accessRule `json:"grants"`
	Denies     []accessRule `json:"denies"`
	Shadows    []accessRule `json:"shadows"`
	Root       []string     `json:"root_policies"`
	Templated  []string     `json:"templated_policies"`
	Principals []struct {
		Mount, Type, Kind, Name, Access string
		Policies                        []string
		Bindings                        map[string]any
	} `json:"principals"`
	Entities []struct {
		ID, Name, Access string
		Policies, Groups []string
	} `json:"entities"`
	Groups []struct {
		ID, Name, Type, Access string
		Policies               []string
		MemberEntityIDs        []string `json:"member_entity_ids"`
	} `json:"groups"`
	Tokens []struct {
		Accessor    string   `json:"accessor"`
		DisplayName string   `json:"display_name"`
		EntityID    string   `json:"entity_id"`
		Path        string   `json:"path"`
		TTL         int      `json:"ttl"`
		Access      string   `json:"access"`
		Policies    []string `json:"policies"`
	} `json:"tokens"`
	TokenCount      int  `json:"token_count"`
	TokensTruncated bool `json:"tokens_truncated"`
}

func ruleRows(rs []accessRule) [][]string {
	var rows [][]string
	for _, r := range rs {
		cond := ""
		if r.Conditional {
			cond = "yes"
		}
		rows = append(rows, []string{r.Policy, r.Rule.Path, strings.Join(r.Rule.Capabilities, ","), cond})
	}
	return rows
}

func runAccessWho(ctx context.Context, c *call, args []string, capability string, limit int) int {
	if len(args) != 1 {
		return c.usageError("Wrong number of arguments (expected 1, got %d)", len(args))
	}
	q := map[string][]string{"path": {args[0]}, "capability": {capability}}
	if limit > 0 {
		q["token_limit"] = []string{strconv.Itoa(limit)}
	}
	var d whoData
	sec, code := c.readAccess(ctx, "sys/access/who", q, &d)
	if sec == nil {
		return code
	}
	if c.format == "json" {
		return c.printJSONOrFail(sec)
	}
	c.warnings(sec.Warnings)
	fmt.Fprintf(c.env.Stdout, "Who can %s %s\n\n", d.Capability, d.Path)
	ruleHeader := []string{"Policy", "Rule path", "Capabilities", "Conditional"}
	s := []accessSection{
		{"Granting policies", ruleHeader, ruleRows(d.Grants)},
		{"Denying policies", ruleHeader, ruleRows(d.Denies)},
		{"Shadowing policies", ruleHeader, ruleRows(d.Shadows)},
	}
	var rows [][]string
	for _, p := range d.Principals {
		rows = append(rows, []string{p.Mount, p.Kind, p.Name, p.Access, strings.Join(p.Policies, ","), bindingsCell(p.Bindings)})
	}
	s = append(s, accessSection{"Auth principals", []string{"Mount", "Kind", "Name", "Access", "Policies", "Bindings"}, rows})
	rows = nil
	for _, e := range d.Entities {
		rows = append(rows, []string{e.Name, e.ID, e.Access, strings.Join(e.Groups, ","), strings.Join(e.Policies, ",")})
	}
	s = append(s, accessSection{"Entities", []string{"Name", "ID", "Access", "Groups", "Policies"}, rows})
	rows = nil
	for _, g := range d.Groups {
		rows = append(rows, []string{g.Name, g.Type, g.Access, strconv.Itoa(len(g.MemberEntityIDs)), strings.Join(g.Policies, ",")})
	}
	s = append(s, accessSection{"Groups", []string{"Name", "Type", "Access", "Members", "Policies"}, rows})
	rows = nil
	for _, t := range d.Tokens {
		rows = append(rows, []string{t.Accessor, t.DisplayName, t.EntityID, t.Path, humanDuration(t.TTL), t.Access})
	}
	s = append(s, accessSection{"Live tokens", []string{"Accessor", "Display name", "Entity", "Path", "TTL", "Access"}, rows})
	c.printSections(s)
	if d.TokensTruncated {
		fmt.Fprintf(c.env.Stdout, "%d tokens in all; raise -token-limit to list them.\n", d.TokenCount)
	}
	if len(d.Templated) > 0 {
		fmt.Fprintf(c.env.Stdout, "Templated policies (the answer depends on the entity): %s\n", strings.Join(d.Templated, ", "))
	}
	return exitOK
}

func bindingsCell(b map[string]any) string {
	if len(b) == 0 {
		return ""
	}
	raw, err := json.Marshal(b)
	if err != nil {
		return "?"
	}
	return string(raw)
}

type whatData struct {
	Subject struct {
		Kind, Name string
		Policies   []string
	} `json:"subject"`
	Root            bool `json:"root"`
	DependsOnEntity bool `json:"depends_on_entity"`
	ACL             []struct {
		Path         string   `json:"path"`
		Capabilities []string `json:"capabilities"`
	} `json:"acl"`
	Mounts []struct {
		Path, Type string
		Enumerated bool
		Truncated  bool
		Paths      []struct {
			Path         string   `json:"path"`
			Kind         string   `json:"kind"`
			Capabilities []string `json:"capabilities"`
		} `json:"paths"`
	} `json:"mounts"`
}

func runAccessWhat(ctx context.Context, c *call, args []string, flags map[string]*string, limit int) int {
	if len(args) != 0 {
		return c.usageError("Wrong number of arguments (expected 0, got %d)", len(args))
	}
	q := map[string][]string{}
	for k, v := range flags {
		if *v != "" {
			q[k] = []string{*v}
		}
	}
	if len(q) != 1 {
		return c.usageError("Give exactly one of -accessor, -entity-id, -role or -policy")
	}
	if limit > 0 {
		q["limit"] = []string{strconv.Itoa(limit)}
	}
	var d whatData
	sec, code := c.readAccess(ctx, "sys/access/what", q, &d)
	if sec == nil {
		return code
	}
	if c.format == "json" {
		return c.printJSONOrFail(sec)
	}
	c.warnings(sec.Warnings)
	fmt.Fprintf(c.env.Stdout, "What %s %s can reach (policies: %s)\n\n", d.Subject.Kind, d.Subject.Name, strings.Join(d.Subject.Policies, ", "))
	if d.Root {
		fmt.Fprintln(c.env.Stdout, "It holds the root policy: it may do anything.")
	}
	var rows [][]string
	for _, r := range d.ACL {
		rows = append(rows, []string{r.Path, strings.Join(r.Capabilities, ",")})
	}
	s := []accessSection{{"Resultant ACL", []string{"Path", "Capabilities"}, rows}}
	rows = nil
	for _, m := range d.Mounts {
		for _, p := range m.Paths {
			rows = append(rows, []string{p.Path, p.Kind, strings.Join(p.Capabilities, ",")})
		}
		if m.Truncated {
			rows = append(rows, []string{m.Path + "...", "(more; raise -limit)", ""})
		}
	}
	s = append(s, accessSection{"Existing paths", []string{"Path", "Kind", "Capabilities"}, rows})
	c.printSections(s)
	if d.DependsOnEntity {
		fmt.Fprintln(c.env.Stdout, "Templated policy rules were left out: the answer depends on the entity.")
	}
	return exitOK
}

// reportFindings flattens a report into (finding, subject, detail) rows.
func reportFindings(data map[string]any) ([][3]string, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, err
	}
	var parts map[string]json.RawMessage
	if err := json.Unmarshal(raw, &parts); err != nil {
		return nil, err
	}
	var out [][3]string
	for _, k := range []string{"unread_secrets", "unrotated_secrets", "widely_readable_secrets"} {
		var list []struct {
			Mount      string  `json:"mount"`
			Path       string  `json:"path"`
			LastRead   *string `json:"last_read"`
			Updated    string  `json:"updated_time"`
			Principals int     `json:"principals"`
		}
		if err := json.Unmarshal(orNull(parts[k]), &list); err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		for _, s := range list {
			detail := "updated " + s.Updated
			switch {
			case k == "widely_readable_secrets":
				detail = strconv.Itoa(s.Principals) + " principals can read it"
			case k == "unread_secrets" && s.LastRead == nil:
				detail = "never read since tracking began"
			case k == "unread_secrets":
				detail = "last read " + *s.LastRead
			}
			out = append(out, [3]string{k, s.Mount + s.Path, detail})
		}
	}
	for _, k := range []string{"tokens_without_expiry", "root_tokens"} {
		var list []struct {
			Accessor    string   `json:"accessor"`
			DisplayName string   `json:"display_name"`
			Path        string   `json:"path"`
			Policies    []string `json:"policies"`
		}
		if err := json.Unmarshal(orNull(parts[k]), &list); err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		for _, t := range list {
			out = append(out, [3]string{k, t.Accessor, t.DisplayName + " via " + t.Path + ", policies " + strings.Join(t.Policies, ",")})
		}
	}
	var unused []string
	if err := json.Unmarshal(orNull(parts["unused_policies"]), &unused); err != nil {
		return nil, fmt.Errorf("unused_policies: %w", err)
	}
	for _, p := range unused {
		out = append(out, [3]string{"unused_policies", p, "granted to no principal, entity, group or token"})
	}
	var broad []struct{ Policy, Path, Reason string }
	if err := json.Unmarshal(orNull(parts["broad_policies"]), &broad); err != nil {
		return nil, fmt.Errorf("broad_policies: %w", err)
	}
	for _, b := range broad {
		out = append(out, [3]string{"broad_policies", b.Policy, b.Reason + " on " + b.Path})
	}
	for _, k := range []string{"unlimited_secret_id_roles", "unbound_roles"} {
		var list []struct {
			Mount, Type, Kind, Name string
			Unlimited               int `json:"unlimited_secret_ids"`
		}
		if err := json.Unmarshal(orNull(parts[k]), &list); err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		for _, r := range list {
			detail := r.Type
			if r.Unlimited > 0 {
				detail += fmt.Sprintf(", %d secret IDs with neither TTL nor use limit", r.Unlimited)
			}
			out = append(out, [3]string{k, r.Mount + r.Kind + "/" + r.Name, detail})
		}
	}
	return out, nil
}

func orNull(m json.RawMessage) json.RawMessage {
	if len(m) == 0 {
		return json.RawMessage("null")
	}
	return m
}

func runAccessReport(ctx context.Context, c *call, args []string, q map[string][]string) int {
	if len(args) != 0 {
		return c.usageError("Wrong number of arguments (expected 0, got %d)", len(args))
	}
	var data map[string]any
	sec, code := c.readAccess(ctx, "sys/access/report", q, &data)
	if sec == nil {
		return code
	}
	if c.format == "json" {
		return c.printJSONOrFail(sec)
	}
	findings, err := reportFindings(data)
	if err != nil {
		fmt.Fprintf(c.env.Stderr, "Error decoding the report: %v\n", err)
		return exitServer
	}
	if c.format == "csv" {
		w := csv.NewWriter(c.env.Stdout)
		_ = w.Write([]string{"finding", "subject", "detail"})
		for _, f := range findings {
			_ = w.Write(f[:])
		}
		w.Flush()
		if err := w.Error(); err != nil {
			fmt.Fprintln(c.env.Stderr, err)
			return exitUsage
		}
		return exitOK
	}
	c.warnings(sec.Warnings)
	rows := [][]string{{"Finding", "Subject", "Detail"}, {"-------", "-------", "------"}}
	for _, f := range findings {
		rows = append(rows, f[:])
	}
	if len(findings) == 0 {
		return c.success("The report has no findings.")
	}
	t, _ := table(rows)
	fmt.Fprint(c.env.Stdout, t)
	return exitOK
}

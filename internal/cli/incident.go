package cli

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/audit/trail"
	"github.com/coffer-secrets/coffer/internal/incident"
	"github.com/hashicorp/vault/api"
)

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// incidentCommands are `coffer incident contain|release|list|show|lockdown|report|rotate`.
func incidentCommands() map[string]*command {
	return map[string]*command{
		"incident": {synopsis: "Contain a leaked credential and report what it exposed"},
		"incident contain": {
			synopsis: "Revoke a leaked credential's tokens and leases and block its logins",
			usage:    "[options]",
			help: `Opens an incident (sys/incident/contain, needs sudo on sys/incident/*):
revokes every token that matches (with its child tokens and every lease
they hold: dynamic database users are dropped), disables the identities of
those tokens, destroys the AppRole secret IDs they logged in with, and
blocks the roles, certificate serials and address ranges named until
'coffer incident release'. Each criterion may be repeated:

  -accessor=A            a token accessor
  -entity=ID             an identity entity
  -role=auth/M/role/R    tokens logged in with that role (and new logins)
  -secret-id-accessor=X  an AppRole secret ID (and the tokens it made)
  -cert-serial=S         a client certificate serial (decimal or hex)
  -source-cidr=C         an address range: every request refused
  -since=T               RFC 3339 time or duration back (24h): only tokens
                         made since, and the start of the report

Re-running with -id=ID retries the steps that failed and contains tokens
made since. Exits 2 when a step failed.

    $ coffer incident contain -accessor=hmP3... -since=24h -reason="payments token in a public repo"`,
			server: true,
			setup: func(fs *flag.FlagSet) runFunc {
				var acc, ent, role, sid, serial, cidr listFlag
				var since, reason, id string
				fs.Var(&acc, "accessor", "token accessor (repeatable)")
				fs.Var(&ent, "entity", "identity entity ID (repeatable)")
				fs.Var(&role, "role", "auth/MOUNT/role/NAME (repeatable)")
				fs.Var(&sid, "secret-id-accessor", "AppRole secret ID accessor (repeatable)")
				fs.Var(&serial, "cert-serial", "client certificate serial (repeatable)")
				fs.Var(&cidr, "source-cidr", "client address range to ban (repeatable)")
				fs.StringVar(&since, "since", "", "RFC 3339 time or duration back from now")
				fs.StringVar(&reason, "reason", "", "why, for the record")
				fs.StringVar(&id, "id", "", "re-run this open incident")
				return func(ctx context.Context, c *call, args []string) int {
					body := map[string]any{}
					for k, v := range map[string]listFlag{"accessor": acc, "entity_id": ent, "role": role, "secret_id_accessor": sid, "cert_serial": serial, "source_cidr": cidr} {
						if len(v) > 0 {
							body[k] = []string(v)
						}
					}
					for k, v := range map[string]string{"since": since, "reason": reason, "id": id} {
						if v != "" {
							body[k] = v
						}
					}
					return runIncidentWrite(ctx, c, args, "sys/incident/contain", body)
				}
			},
		},
		"incident release": {
			synopsis: "Lift an incident's login blocks",
			usage:    "[options] ID",
			help: `Releases an incident (sys/incident/release): its role, certificate and
address blocks are lifted and the identities it disabled are enabled
again. Revoked tokens and destroyed secret IDs stay revoked.

    $ coffer incident release 5d1c...`,
			server: true,
			setup: func(*flag.FlagSet) runFunc {
				return func(ctx context.Context, c *call, args []string) int {
					if len(args) != 1 {
						return c.usageError("Wrong number of arguments (expected 1, got %d)", len(args))
					}
					return runIncidentWrite(ctx, c, nil, "sys/incident/release", map[string]any{"id": args[0]})
				}
			},
		},
		"incident list": {
			synopsis: "List incidents",
			usage:    "[options]",
			help:     "Lists incidents with their status (LIST sys/incident).",
			server:   true,
			setup:    func(*flag.FlagSet) runFunc { return runIncidentList },
		},
		"incident show": {
			synopsis: "Show an incident",
			usage:    "[options] ID",
			help:     "Prints an incident: what it matched, what it revoked, each step's outcome (sys/incident/ID).",
			server:   true,
			setup: func(*flag.FlagSet) runFunc {
				return func(ctx context.Context, c *call, args []string) int {
					cl, code := c.argsClient(args, 1)
					if cl == nil {
						return code
					}
					sec, err := cl.Logical().ReadWithContext(ctx, "sys/incident/"+args[0])
					if err != nil {
						return c.serverError("reading incident", args[0], err)
					}
					if sec == nil {
						return c.notFound("sys/incident/" + args[0])
					}
					return c.printIncident(sec)
				}
			},
		},
		"incident lockdown": {
			synopsis: "Lock a path prefix down (read-only or deny), or lift it",
			usage:    "[options] [PREFIX]",
			help: `With PREFIX, makes every request under it read-only (-mode=read-only, the
default) or refused (-mode=deny) on every node at once, for every token
but those with sudo on sys/incident/*. With -lift, lifts the lockdown of
PREFIX. Without PREFIX, lists the lockdowns.

    $ coffer incident lockdown -mode=deny secret/data/payments
    $ coffer incident lockdown -lift secret/data/payments`,
			server: true,
			setup: func(fs *flag.FlagSet) runFunc {
				var mode, reason string
				var lift bool
				fs.StringVar(&mode, "mode", "read-only", "read-only or deny")
				fs.StringVar(&reason, "reason", "", "why, for the record")
				fs.BoolVar(&lift, "lift", false, "lift the lockdown of PREFIX")
				return func(ctx context.Context, c *call, args []string) int {
					return runIncidentLockdown(ctx, c, args, mode, reason, lift)
				}
			},
		},
		"incident rotate": incidentRotateCommand(),
		"incident report": {
			synopsis: "Report what a contained identity read, was issued and wrote",
			usage:    "[options] ID",
			help: `Reads the audit log -audit FILE (written by the audit device -device) and
lists every secret path and version the incident's identities read since
its -since, every credential they were issued (lease IDs, database users
as the log holds them), every write, login and refused request, with
times and source addresses. Token accessors are matched through their
HMACs, which the server computes with the device's key
(sys/incident/ID/audit-hashes).

The log's hash chain is verified first (with -public-key, the checkpoint
signatures too). A log that does not verify is refused; with
-allow-untrusted the report is printed marked UNTRUSTED. -format is
table, json or markdown.

    $ coffer incident report -audit=/var/log/coffer/audit.log -format=markdown 5d1c...`,
			setup: func(fs *flag.FlagSet) runFunc {
				o := &reportOptions{}
				var sf serverFlagValues
				sf.register(fs)
				fs.StringVar(&o.format, "format", incident.FormatTable, "Output format: table, json or markdown.")
				fs.Var(&o.files, "audit", "an audit log file to read (repeatable: one per cluster node)")
				fs.StringVar(&o.device, "device", "file", "the audit device (its path) that wrote the file")
				fs.StringVar(&o.key, "public-key", "", "the device's ed25519 public key (base64, hex or @file)")
				fs.BoolVar(&o.untrusted, "allow-untrusted", false, "print the report of a log that does not verify, marked UNTRUSTED")
				fs.StringVar(&o.since, "since", "", "start of the report (RFC 3339); default: the incident's -since")
				return func(ctx context.Context, c *call, args []string) int {
					sf.apply(c)
					return runIncidentReport(ctx, c, args, o)
				}
			},
		},
	}
}

func runIncidentWrite(ctx context.Context, c *call, args []string, path string, body map[string]any) int {
	cl, code := c.argsClient(args, 0)
	if cl == nil {
		return code
	}
	sec, err := cl.Logical().WriteWithContext(ctx, path, body)
	if err != nil {
		return c.serverError("writing", path, err)
	}
	if sec == nil {
		return exitOK
	}
	code = c.printIncident(sec)
	if rec, err := decodeRecord(sec); err == nil && len(rec.Failed()) > 0 {
		return exitServer
	}
	return code
}

// decodeRecord turns a response's data into an incident record.
func decodeRecord(sec *api.Secret) (*incident.Record, error) {
	buf, err := json.Marshal(sec.Data)
	if err != nil {
		return nil, err
	}
	var r incident.Record
	if err := json.Unmarshal(buf, &r); err != nil {
		return nil, fmt.Errorf("decode incident: %w", err)
	}
	return &r, nil
}

// printIncident prints an incident record: JSON, or a summary and the
// steps.
func (c *call) printIncident(sec *api.Secret) int {
	if c.format == "json" {
		return c.printJSONOrFail(sec)
	}
	c.warnings(sec.Warnings)
	r, err := decodeRecord(sec)
	if err != nil {
		fmt.Fprintln(c.env.Stderr, err)
		return exitServer
	}
	pairs := [][2]string{
		{"id", r.ID}, {"status", r.Status}, {"opened_at", r.OpenedAt.Format("2006-01-02T15:04:05Z07:00")},
		{"opened_by", r.OpenedBy.Accessor}, {"reason", r.Reason},
		{"entities", strings.Join(r.Entities, ", ")},
		{"disabled_entities", strings.Join(r.DisabledEntities, ", ")},
		{"revoked_tokens", fmt.Sprint(len(r.Revoked))},
		{"revoked_leases", fmt.Sprint(countLeases(r))},
		{"destroyed_secret_ids", fmt.Sprint(len(r.SecretIDs))},
		{"blocked_roles", strings.Join(r.Blocks.Roles, ", ")},
		{"denied_cert_serials", strings.Join(r.Blocks.CertSerials, ", ")},
		{"banned_cidrs", strings.Join(r.Blocks.CIDRs, ", ")},
	}
	t, _ := kvTable(pairs)
	fmt.Fprint(c.env.Stdout, t)
	if len(r.Steps) > 0 {
		rows := [][]string{{"Step", "Target", "Outcome", "Attempts", "Error"}, {"----", "------", "-------", "--------", "-----"}}
		for _, s := range r.Steps {
			rows = append(rows, []string{s.Action, s.Target, s.Outcome, fmt.Sprint(s.Attempts), s.Error})
		}
		t, _ := table(rows)
		fmt.Fprint(c.env.Stdout, "\n"+t)
	}
	if len(r.Rotations) > 0 {
		rows := [][]string{{"Rotation", "Target", "Outcome", "Attempts", "Error"}, {"--------", "------", "-------", "--------", "-----"}}
		for _, s := range r.Rotations {
			rows = append(rows, []string{s.Action, s.Target, s.Outcome, fmt.Sprint(s.Attempts), s.Error})
		}
		t, _ := table(rows)
		fmt.Fprint(c.env.Stdout, "\n"+t)
	}
	return exitOK
}

func countLeases(r *incident.Record) int {
	n := 0
	for _, t := range r.Revoked {
		n += len(t.Leases)
	}
	return n
}

func runIncidentList(ctx context.Context, c *call, args []string) int {
	cl, code := c.argsClient(args, 0)
	if cl == nil {
		return code
	}
	sec, err := cl.Logical().ListWithContext(ctx, "sys/incident")
	if err != nil {
		return c.serverError("listing", "sys/incident", err)
	}
	if sec == nil || sec.Data == nil {
		return c.notFound("sys/incident")
	}
	if c.format == "json" {
		return c.printJSONOrFail(sec.Data)
	}
	info, _ := sec.Data["key_info"].(map[string]any)
	rows := [][]string{{"ID", "Status", "Opened", "Revoked", "Failed steps", "Reason"}, {"--", "------", "------", "-------", "------------", "------"}}
	keys, _ := sec.Data["keys"].([]any)
	for _, k := range keys {
		id, _ := k.(string)
		m, _ := info[id].(map[string]any)
		rows = append(rows, []string{id, fmt.Sprint(m["status"]), fmt.Sprint(m["opened_at"]), fmt.Sprint(m["revoked"]), fmt.Sprint(m["failed_steps"]), fmt.Sprint(m["reason"])})
	}
	t, _ := table(rows)
	fmt.Fprint(c.env.Stdout, t)
	return exitOK
}

func runIncidentLockdown(ctx context.Context, c *call, args []string, mode, reason string, lift bool) int {
	if len(args) > 1 || (lift && len(args) != 1) {
		return c.usageError("Wrong number of arguments (expected a PREFIX)")
	}
	cl, ok := c.newClient()
	if !ok {
		return exitUsage
	}
	const path = "sys/incident/lockdown"
	switch {
	case lift:
		if _, err := cl.Logical().DeleteWithDataWithContext(ctx, path, map[string][]string{"prefix": {args[0]}}); err != nil {
			return c.serverError("lifting the lockdown of", args[0], err)
		}
		fmt.Fprintf(c.env.Stdout, "Success! Lifted the lockdown of %s\n", args[0])
		return exitOK
	case len(args) == 1:
		sec, err := cl.Logical().WriteWithContext(ctx, path, map[string]any{"prefix": args[0], "mode": mode, "reason": reason})
		if err != nil {
			return c.serverError("locking down", args[0], err)
		}
		if c.format == "json" {
			return c.printJSONOrFail(sec)
		}
		fmt.Fprintf(c.env.Stdout, "Success! %s is now %s for all but incident responders\n", args[0], mode)
		return exitOK
	}
	sec, err := cl.Logical().ReadWithContext(ctx, path)
	if err != nil {
		return c.serverError("reading", path, err)
	}
	if c.format == "json" {
		return c.printJSONOrFail(sec)
	}
	rows := [][]string{{"Prefix", "Mode", "Since", "By", "Reason"}, {"------", "----", "-----", "--", "------"}}
	if sec != nil {
		lds, _ := sec.Data["lockdowns"].([]any)
		for _, l := range lds {
			m, _ := l.(map[string]any)
			rows = append(rows, []string{fmt.Sprint(m["prefix"]), fmt.Sprint(m["mode"]), fmt.Sprint(m["created_at"]), fmt.Sprint(m["created_by"]), fmt.Sprint(m["reason"])})
		}
	}
	t, _ := table(rows)
	fmt.Fprint(c.env.Stdout, t)
	return exitOK
}

type reportOptions struct {
	// files are the audit logs to read: one, or each cluster node's own.
	files                      listFlag
	device, key, format, since string
	untrusted                  bool
}

func runIncidentReport(ctx context.Context, c *call, args []string, o *reportOptions) int {
	if len(o.files) == 0 {
		return c.usageError("-audit FILE is required: the audit log to read")
	}
	switch o.format {
	case incident.FormatTable, incident.FormatJSON, incident.FormatMarkdown:
	default:
		return c.usageError("invalid -format %q: want table, json or markdown", o.format)
	}
	var pub ed25519.PublicKey
	if o.key != "" {
		k, err := decodeKey(o.key)
		if err != nil {
			return c.usageError("%v", err)
		}
		pub = k
	}
	cl, code := c.argsClient(args, 1)
	if cl == nil {
		return code
	}
	rep, _, code := buildIncidentReport(ctx, c, cl, args[0], o, pub)
	if rep == nil {
		return code
	}
	if err := incident.Render(c.env.Stdout, rep, o.format); err != nil {
		fmt.Fprintln(c.env.Stderr, err)
		return exitServer
	}
	if !rep.Trusted {
		return exitServer
	}
	return exitOK
}

// buildIncidentReport reads incident id and builds its report from the
// audit logs o.files (one per cluster node: each node writes its own),
// each verified first: a log that does not verify is refused unless
// o.untrusted. On failure it has said why and returns a nil
// report and the exit code.
func buildIncidentReport(ctx context.Context, c *call, cl *api.Client, id string, o *reportOptions, pub ed25519.PublicKey) (*incident.Report, *incident.Record, int) {
	sec, err := cl.Logical().ReadWithContext(ctx, "sys/incident/"+id)
	if err != nil {
		return nil, nil, c.serverError("reading incident", id, err)
	}
	if sec == nil {
		return nil, nil, c.notFound("sys/incident/" + id)
	}
	rec, err := decodeRecord(sec)
	if err != nil {
		fmt.Fprintln(c.env.Stderr, err)
		return nil, nil, exitServer
	}
	hs, err := cl.Logical().WriteWithContext(ctx, "sys/incident/"+id+"/audit-hashes", map[string]any{"device": o.device})
	if err != nil {
		return nil, nil, c.serverError("hashing the incident's accessors with audit device", o.device, err)
	}
	t := incident.Targets{EntityIDs: rec.Entities, Accessors: append(rec.Accessors(), rec.Criteria.Accessors...), Since: rec.Criteria.Since}
	if o.since != "" {
		s, err := time.Parse(time.RFC3339, o.since)
		if err != nil {
			return nil, nil, c.usageError("invalid -since %q: want RFC 3339, such as 2026-01-02T15:04:05Z", o.since)
		}
		t.Since = s
	}
	if hs != nil {
		list, _ := hs.Data["accessors"].([]any)
		for _, h := range list {
			if s, ok := h.(string); ok {
				t.Accessors = append(t.Accessors, s)
			}
		}
	}
	for _, s := range rec.Criteria.SourceCIDRs {
		if p, err := netip.ParsePrefix(s); err == nil {
			t.CIDRs = append(t.CIDRs, p)
		}
	}
	var logs []io.Reader
	trusted, verifications, problems := true, []string{}, []string{}
	for _, name := range o.files {
		f, err := os.Open(name)
		if err != nil {
			return nil, nil, c.usageError("%v", err)
		}
		defer f.Close()
		ok, verification, probs, err := verifyForReport(f, pub)
		if err != nil {
			fmt.Fprintf(c.env.Stderr, "Error verifying %s: %v\n", name, err)
			return nil, nil, exitServer
		}
		if !ok && !o.untrusted {
			fmt.Fprintf(c.env.Stderr, "Error: the audit log %s does not verify (%s); refusing to report from it.\n", name, verification)
			for _, p := range probs {
				fmt.Fprintf(c.env.Stderr, "  %s\n", p)
			}
			fmt.Fprintln(c.env.Stderr, "Give -allow-untrusted to print the report marked UNTRUSTED.")
			return nil, nil, exitServer
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			fmt.Fprintln(c.env.Stderr, err)
			return nil, nil, exitServer
		}
		trusted = trusted && ok
		if len(o.files) > 1 {
			verification = name + ": " + verification
			for i, p := range probs {
				probs[i] = name + ": " + p
			}
		}
		verifications = append(verifications, verification)
		problems = append(problems, probs...)
		logs = append(logs, f)
	}
	verification := strings.Join(verifications, "; ")
	rep, err := incident.BuildAll(logs, t)
	if err != nil {
		fmt.Fprintf(c.env.Stderr, "Error reading %s: %v\n", strings.Join(o.files, ", "), err)
		return nil, nil, exitServer
	}
	rep.Incident, rep.Trusted, rep.Verification, rep.Problems = id, trusted, verification, problems
	return rep, rec, exitOK
}

// verifyForReport checks the log's hash chain (and signatures, with pub)
// and says what it proved.
func verifyForReport(r io.Reader, pub ed25519.PublicKey) (trusted bool, verification string, problems []string, err error) {
	rep, err := trail.Verify(r, pub)
	if err != nil {
		return false, "", nil, err
	}
	for _, p := range rep.Problems {
		problems = append(problems, p.Error())
	}
	if len(problems) > 0 {
		return false, fmt.Sprintf("hash chain broken: %d problem(s)", rep.ProblemCount), problems, nil
	}
	if rep.Lines == 0 {
		return false, "the log is empty", nil, errors.New("the audit log is empty")
	}
	v := fmt.Sprintf("hash chain intact over %d entries", rep.Entries)
	if rep.SignaturesChecked {
		v += ", checkpoint signatures checked"
	} else {
		v += ", signatures not checked (give -public-key)"
	}
	if rep.Unchecked > 0 {
		v += fmt.Sprintf(", %d entries after the last checkpoint unsigned", rep.Unchecked)
	}
	return true, v, nil, nil
}

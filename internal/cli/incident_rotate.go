package cli

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/coffer-secrets/coffer/internal/incident"
	"github.com/hashicorp/vault/api"
)

// incidentRotateCommand is `coffer incident rotate`.
func incidentRotateCommand() *command {
	return &command{
		synopsis: "Rotate what a contained identity read and was issued",
		usage:    "[options] ID",
		help: `Builds the incident's report from the audit log -audit FILE (as
'coffer incident report' does, refusing a log that does not verify) and
rotates everything in it that can be rotated, with your token:

  rotate-kv           KV v2 secrets with a rotation policy (MOUNT/rotate/PATH)
  rotate-static-role  database static roles read (MOUNT/rotate-role/NAME)
  revoke-lease        credentials issued, unless contain revoked them
  rotate-transit-key  transit keys encrypted with (MOUNT/keys/NAME/rotate)
  revoke-cert         certificates issued (MOUNT/revoke; the CRL is rebuilt)

What cannot be rotated automatically (a KV secret without a rotation
policy, the ciphertexts to rewrap, a secret of another engine) is printed
as a checklist with the command to run. Each outcome is recorded in the
incident (sys/incident/ID/rotations): a re-run skips what is done and
retries what failed. -dry-run prints the plan and changes nothing.
Exits 2 when a step failed.

    $ coffer incident rotate -audit=/var/log/coffer/audit.log 5d1c...`,
		setup: func(fs *flag.FlagSet) runFunc {
			o := &reportOptions{}
			var sf serverFlagValues
			var format string
			var dry bool
			sf.register(fs)
			fs.StringVar(&format, "format", "table", "Output format: table or json.")
			fs.Var(&o.files, "audit", "an audit log file to read (repeatable: one per cluster node)")
			fs.StringVar(&o.device, "device", "file", "the audit device (its path) that wrote the file")
			fs.StringVar(&o.key, "public-key", "", "the device's ed25519 public key (base64, hex or @file)")
			fs.BoolVar(&o.untrusted, "allow-untrusted", false, "rotate from a log that does not verify")
			fs.StringVar(&o.since, "since", "", "start of the report (RFC 3339); default: the incident's -since")
			fs.BoolVar(&dry, "dry-run", false, "print the plan, change nothing")
			return func(ctx context.Context, c *call, args []string) int {
				sf.apply(c)
				return runIncidentRotate(ctx, c, args, o, format, dry)
			}
		},
	}
}

// rotationResult is one line of rotate's output.
type rotationResult struct {
	incident.Step
	// Skipped is set when an earlier run did the step.
	Skipped bool `json:"skipped,omitempty"`
}

func runIncidentRotate(ctx context.Context, c *call, args []string, o *reportOptions, format string, dry bool) int {
	if len(o.files) == 0 {
		return c.usageError("-audit FILE is required: the audit log to read")
	}
	if format != "table" && format != "json" {
		return c.usageError("invalid -format %q: want table or json", format)
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
	id := args[0]
	rep, rec, code := buildIncidentReport(ctx, c, cl, id, o, pub)
	if rep == nil {
		return code
	}
	if !rep.Trusted {
		fmt.Fprintf(c.env.Stderr, "WARNING: the audit log does not verify (%s); rotating what it shows anyway.\n", rep.Verification)
	}
	r := &rotator{cl: cl, device: o.device, certs: map[string]map[string]string{}}
	var results []rotationResult
	failed := false
	for _, a := range incident.Plan(rep) {
		if done, ok := rec.Rotated(a.Kind, a.Target); ok && done.Outcome == incident.OutcomeOK {
			results = append(results, rotationResult{Step: done, Skipped: true})
			if rw, ok := rec.Rotated(incident.ActionRewrap, a.Target); ok && a.Kind == incident.ActionRotateTransitKey {
				results = append(results, rotationResult{Step: rw}) // the checklist stays
			}
			continue
		}
		var steps []incident.Step
		if dry {
			steps = []incident.Step{{Action: a.Kind, Target: a.Target, Outcome: "planned"}}
		} else {
			steps = r.do(ctx, a)
		}
		for _, s := range steps {
			if s.Outcome == incident.OutcomeFailed {
				failed = true
			}
			results = append(results, rotationResult{Step: s})
		}
		if dry {
			continue
		}
		body := map[string]any{"steps": steps}
		if _, err := cl.Logical().WriteWithContext(ctx, "sys/incident/"+id+"/rotations", body); err != nil {
			// The rotation happened; only its record is missing, so
			// a re-run does it again (rotating twice is harmless).
			failed = true
			fmt.Fprintf(c.env.Stderr, "Error recording %s %s in the incident: %v\n", a.Kind, a.Target, err)
		}
	}
	if format == "json" {
		if results == nil {
			results = []rotationResult{}
		}
		enc := json.NewEncoder(c.env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(results); err != nil {
			return exitServer
		}
	} else {
		printRotations(c, results)
	}
	if failed {
		return exitServer
	}
	return exitOK
}

func printRotations(c *call, results []rotationResult) {
	rows := [][]string{{"Action", "Target", "Outcome", "Detail"}, {"------", "------", "-------", "------"}}
	var manual []incident.Step
	for _, r := range results {
		out, detail := r.Outcome, r.Detail
		if r.Skipped {
			out = "done before"
		}
		if r.Error != "" {
			detail = r.Error
		}
		if r.Outcome == incident.OutcomeManual {
			manual = append(manual, r.Step)
			detail = "see the checklist"
		}
		rows = append(rows, []string{r.Action, r.Target, out, detail})
	}
	t, _ := table(rows)
	fmt.Fprint(c.env.Stdout, t)
	if len(results) == 0 {
		fmt.Fprintln(c.env.Stdout, "The report lists nothing to rotate.")
	}
	if len(manual) > 0 {
		fmt.Fprintf(c.env.Stdout, "\nCHECKLIST: %d item(s) to do by hand\n", len(manual))
		for _, m := range manual {
			fmt.Fprintf(c.env.Stdout, "[ ] %s %s\n    %s\n", m.Action, m.Target, strings.ReplaceAll(m.Detail, "\n", "\n    "))
		}
	}
}

// rotator runs the rotation actions with the caller's client.
type rotator struct {
	cl     *api.Client
	device string
	// certs caches, per PKI mount, the audit device's HMAC of each serial.
	certs map[string]map[string]string
}

func stepOf(a incident.Action, outcome, detail string) incident.Step {
	return incident.Step{Action: a.Kind, Target: a.Target, Outcome: outcome, Detail: detail}
}

func failedStep(a incident.Action, err error) incident.Step {
	s := stepOf(a, incident.OutcomeFailed, "")
	s.Error = err.Error()
	return s
}

func statusOf(err error) int {
	if re, ok := errors.AsType[*api.ResponseError](err); ok {
		return re.StatusCode
	}
	return 0
}

func joinVersions(vs []int64) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = fmt.Sprint(v)
	}
	return strings.Join(s, ",")
}

// do runs one action and returns its steps (a transit rotation adds the
// rewrap checklist item).
func (r *rotator) do(ctx context.Context, a incident.Action) []incident.Step {
	lg := r.cl.Logical()
	switch a.Kind {
	case incident.ActionRotateKV:
		pol, err := lg.ReadWithContext(ctx, a.Mount+"rotation/"+a.Name)
		if err != nil && statusOf(err) != http.StatusNotFound {
			return []incident.Step{failedStep(a, err)}
		}
		if pol == nil {
			return []incident.Step{stepOf(a, incident.OutcomeManual, fmt.Sprintf(
				"no rotation policy: change the value (versions read: %s) where it is issued, then store it:\n"+
					"coffer kv put -mount=%s %s KEY=NEW_VALUE ...\n"+
					"(or give it a rotation policy, coffer write %srotation/%s @policy.json, and re-run rotate)",
				joinVersions(a.Versions), strings.TrimSuffix(a.Mount, "/"), a.Name, a.Mount, a.Name))}
		}
		sec, err := lg.WriteWithContext(ctx, a.Mount+"rotate/"+a.Name, nil)
		if err != nil {
			return []incident.Step{failedStep(a, err)}
		}
		detail := "rotated"
		if sec != nil {
			detail = fmt.Sprintf("version %v is current (was %v)", sec.Data["version"], sec.Data["previous_version"])
		}
		return []incident.Step{stepOf(a, incident.OutcomeOK, detail)}
	case incident.ActionRotateStaticRole:
		if _, err := lg.WriteWithContext(ctx, a.Mount+"rotate-role/"+a.Name, nil); err != nil {
			return []incident.Step{failedStep(a, err)}
		}
		return []incident.Step{stepOf(a, incident.OutcomeOK, "password rotated")}
	case incident.ActionRevokeLease:
		_, err := lg.WriteWithContext(ctx, "sys/leases/lookup", map[string]any{"lease_id": a.Target})
		switch st := statusOf(err); {
		case st == http.StatusBadRequest || st == http.StatusNotFound:
			return []incident.Step{stepOf(a, incident.OutcomeOK, "already revoked")}
		case err != nil:
			return []incident.Step{failedStep(a, err)}
		}
		if _, err := lg.WriteWithContext(ctx, "sys/leases/revoke", map[string]any{"lease_id": a.Target}); err != nil {
			return []incident.Step{failedStep(a, err)}
		}
		return []incident.Step{stepOf(a, incident.OutcomeOK, "revoked")}
	case incident.ActionRotateTransitKey:
		if _, err := lg.WriteWithContext(ctx, a.Mount+"keys/"+a.Name+"/rotate", nil); err != nil {
			return []incident.Step{failedStep(a, err)}
		}
		latest := "LATEST"
		if k, err := lg.ReadWithContext(ctx, a.Mount+"keys/"+a.Name); err == nil && k != nil {
			latest = fmt.Sprint(k.Data["latest_version"])
		}
		rewrap := incident.Step{Action: incident.ActionRewrap, Target: a.Target, Outcome: incident.OutcomeManual, Detail: rewrapDetail(a, latest)}
		return []incident.Step{stepOf(a, incident.OutcomeOK, "now version "+latest), rewrap}
	case incident.ActionRevokeCert:
		serial, err := r.serial(ctx, a)
		if err != nil {
			return []incident.Step{failedStep(a, err)}
		}
		if _, err := lg.WriteWithContext(ctx, a.Mount+"revoke", map[string]any{"serial_number": serial}); err != nil {
			return []incident.Step{failedStep(a, err)}
		}
		return []incident.Step{stepOf(a, incident.OutcomeOK, "revoked "+serial+", CRL updated")}
	}
	what := "a secret of an engine that cannot rotate it"
	if a.Mount != "" {
		what = "a secret of " + a.Mount
	}
	vs := ""
	if len(a.Versions) > 0 {
		vs = " (versions read: " + joinVersions(a.Versions) + ")"
	}
	return []incident.Step{stepOf(a, incident.OutcomeManual, fmt.Sprintf(
		"%s%s: change it where it is issued, then write the new value:\ncoffer write %s KEY=NEW_VALUE ...", what, vs, a.Target))}
}

// hmacPrefix starts a value the audit device HMACed.
const hmacPrefix = "hmac-sha256:"

// serial returns the certificate serial of a revoke-cert action: the
// target itself when the log holds it raw, else the serial on the mount
// whose HMAC by the audit device (sys/audit-hash) is the target.
func (r *rotator) serial(ctx context.Context, a incident.Action) (string, error) {
	if !strings.HasPrefix(a.Target, hmacPrefix) {
		return a.Target, nil
	}
	hashes, ok := r.certs[a.Mount]
	if !ok {
		hashes = map[string]string{}
		list, err := r.cl.Logical().ListWithContext(ctx, a.Mount+"certs")
		if err != nil {
			return "", err
		}
		if list != nil {
			keys, _ := list.Data["keys"].([]any)
			for _, k := range keys {
				s, _ := k.(string)
				s = strings.ReplaceAll(s, "-", ":") // the form issue answers
				h, err := r.cl.Sys().AuditHashWithContext(ctx, r.device, s)
				if err != nil {
					return "", fmt.Errorf("hash serial %s with audit device %s: %w", s, r.device, err)
				}
				hashes[h] = s
			}
		}
		r.certs[a.Mount] = hashes
	}
	if s, ok := hashes[a.Target]; ok {
		return s, nil
	}
	return "", fmt.Errorf("no certificate on %s has that serial (compared through audit device %s)", a.Mount, r.device)
}

// maxRewrapDetail bounds the rewrap checklist item (the incident records
// at most 4096 bytes a step).
const maxRewrapDetail = 3000

// rewrapDetail is the rewrap checklist item of a rotated transit key:
// the ciphertexts the identities got when the audit log holds them, else
// the key versions they used.
func rewrapDetail(a incident.Action, latest string) string {
	var b strings.Builder
	used := "all older versions"
	if len(a.Versions) > 0 {
		used = "versions " + joinVersions(a.Versions)
	}
	cts := slices.Compact(slices.Sorted(slices.Values(a.Ciphertexts)))
	if len(cts) == 0 {
		fmt.Fprintf(&b, "rewrap every ciphertext made with %s of the key (the audit log holds the identities' ciphertexts only as HMACs, so take them from where they are stored):\n"+
			"coffer write %srewrap/%s ciphertext=CIPHERTEXT\n", used, a.Mount, a.Name)
	} else {
		fmt.Fprintf(&b, "rewrap the %d ciphertext(s) the identities got (%s), and any other made with those versions:\n", len(cts), used)
		for i, ct := range cts {
			line := fmt.Sprintf("coffer write %srewrap/%s ciphertext=%s\n", a.Mount, a.Name, ct)
			if b.Len()+len(line) > maxRewrapDetail {
				fmt.Fprintf(&b, "... and %d more (coffer incident report -format=json lists them under writes)\n", len(cts)-i)
				break
			}
			b.WriteString(line)
		}
	}
	fmt.Fprintf(&b, "then refuse the old versions: coffer write %skeys/%s/config min_decryption_version=%s", a.Mount, a.Name, latest)
	return b.String()
}

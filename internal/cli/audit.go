package cli

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/audit"
	"github.com/coffer-secrets/coffer/internal/audit/trail"
)

// auditCommands are the offline audit log tools. verify needs no server;
// search asks one only to HMAC values given with -value or a raw
// -accessor.
func auditCommands() map[string]*command {
	return map[string]*command{
		"audit": {synopsis: "Interact with audit devices and check their logs"},
		"audit verify": {
			synopsis: "Check an audit log for tampering",
			usage:    "[options] FILE...",
			help: `Reads the audit log FILE and checks that its lines follow each other (seq),
that each line's prev_hash is the hash of the line before, and that every
signed checkpoint vouches for the chain before it. With -public-key (the
value of sys/audit/DEVICE/public-key, base64 or hex, or @file) the
checkpoints' signatures are checked too.

Reports every edited, deleted, inserted or reordered line, line from
another device's log and bad checkpoint (TAMPERED), every write cut off by
a crash or a full disk that no device repaired and a cut-off tail
(DAMAGED), and exits 2 when there is one. Torn writes the device repaired
itself and recorded in its chain are listed (RECOVERED) and are not
problems. Entries after the last checkpoint are chained but not signed:
the report counts them, and lines cut from the end of the file go
unnoticed offline.

With -server ADDR (and a token with sudo in COFFER_TOKEN or VAULT_TOKEN)
the file is also compared with the device's live chain head
(sys/audit/DEVICE/head, the device named by -device): a file that ends
before it was cut short (TAMPERED: cut-short). The head is signed; give
-public-key, kept apart from the server, for that to prove anything
against a server that lies: without it the key is read from the same
server.

With -witness WITNESS (a file of the checkpoint lines the device's witness
received: witness_address on the device, captured from its socket or from
syslog) every checkpoint the witness holds for the file's chain must be in
the file, byte for byte, and the file must reach the last one: a file cut
short disagrees with its witness (TAMPERED: cut-short). With -public-key the
witness's signatures are checked too.

Several files (each node's own file of a cluster: every node writes its
own chain) are verified one by one, each as its own chain with its own
report and verdict; the exit status is 2 when any file has a problem.
-server and -witness take one file.

    $ coffer audit verify -public-key=@audit.pub /var/log/coffer/audit.log
    $ coffer audit verify -public-key=@audit.pub audit-node1.log audit-node2.log
    $ coffer audit verify -server=https://coffer:8200 -public-key=@audit.pub audit.log
    $ coffer audit verify -witness=checkpoints.log -public-key=@audit.pub audit.log`,
			setup: func(fs *flag.FlagSet) runFunc {
				var key, server, device, witness string
				fs.StringVar(&key, "public-key", "", "the device's ed25519 public key (base64, hex or @file)")
				fs.StringVar(&server, "server", "", "compare the file with the live chain head of this server's device")
				fs.StringVar(&device, "device", "file", "the audit device (its path) that writes the file, with -server")
				fs.StringVar(&witness, "witness", "", "a file of the checkpoints the device's witness received, to compare the file with")
				return func(ctx context.Context, c *call, args []string) int {
					return runAuditVerify(ctx, c, args, key, server, device, witness)
				}
			},
		},
		"audit search": {
			synopsis: "Find entries in an audit log",
			usage:    "[options] FILE...",
			server:   true,
			help: `Prints the entries of the audit log FILE that match every filter given.

Given several files (each node's own file of a cluster), or with -merge,
it merges their entries by time (entries of equal time keep the order of
the files given) and shows each entry's file and node.

  -path=PREFIX        request path prefix
  -operation=OP       read, list, create, update, patch or delete (repeatable)
  -type=T             request, response or forward (a standby's record
                      that it sent the request to the active node)
  -accessor=A         token accessor, raw or hmac-sha256:... (raw is HMACed
                      through the server with -device)
  -entity=ID          identity entity ID
  -since=T, -until=T  RFC 3339 times
  -status=S           ok or error
  -value=V            entries that carried V anywhere: the server HMACs it
                      (sys/audit-hash/DEVICE); repeatable
  -device=PATH        the audit device the log belongs to (for -value and
                      raw accessors)

  -merge              merge by time and show file and node, even for one file

Output is a table, or JSON lines with -format=json.

    $ coffer audit search -device=file -value=@leaked.txt audit.log
    $ coffer audit search -path=secret/ audit-node1.log audit-node2.log`,
			setup: func(fs *flag.FlagSet) runFunc {
				o := &auditSearchOptions{}
				fs.StringVar(&o.path, "path", "", "request path prefix")
				fs.Func("operation", "operation (repeatable)", func(s string) error { o.ops = append(o.ops, s); return nil })
				fs.BoolVar(&o.merge, "merge", false, "merge the files by time, showing each entry's file and node")
				fs.Func("type", "entry type: request, response or forward", func(s string) error { o.types = append(o.types, s); return nil })
				fs.StringVar(&o.accessor, "accessor", "", "token accessor, raw or HMACed")
				fs.StringVar(&o.entity, "entity", "", "identity entity ID")
				fs.StringVar(&o.since, "since", "", "RFC 3339 start time")
				fs.StringVar(&o.until, "until", "", "RFC 3339 end time")
				fs.StringVar(&o.status, "status", "", "ok or error")
				fs.Func("value", "a value the entries carried (repeatable; @file or - for stdin)", func(s string) error { o.values = append(o.values, s); return nil })
				fs.StringVar(&o.device, "device", "", "the audit device that wrote the log")
				return func(ctx context.Context, c *call, args []string) int { return runAuditSearch(ctx, c, args, o) }
			},
		},
	}
}

// decodeKey reads an ed25519 public key in base64 or hex, or from @file.
func decodeKey(s string) (ed25519.PublicKey, error) {
	if name, ok := strings.CutPrefix(s, "@"); ok {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read public key file: %w", err)
		}
		s = string(b)
	}
	s = strings.TrimSpace(s)
	for _, dec := range []func(string) ([]byte, error){base64.StdEncoding.DecodeString, hex.DecodeString} {
		if b, err := dec(s); err == nil && len(b) == ed25519.PublicKeySize {
			return ed25519.PublicKey(b), nil
		}
	}
	return nil, fmt.Errorf("the public key must be %d bytes in base64 or hex", ed25519.PublicKeySize)
}

// liveHead reads the device's signed chain head from the server at addr
// and, when pub is nil, the device's public key.
func liveHead(ctx context.Context, c *call, addr, device string, pub ed25519.PublicKey) (audit.Head, ed25519.PublicKey, bool) {
	c.address = addr
	cl, ok := c.newClient()
	if !ok {
		return audit.Head{}, nil, false
	}
	device = strings.Trim(device, "/")
	sec, err := cl.Logical().ReadWithContext(ctx, "sys/audit/"+device+"/head")
	if err != nil || sec == nil {
		if err == nil {
			err = errors.New("no head returned")
		}
		c.serverError("reading the chain head of audit device", device, err)
		return audit.Head{}, nil, false
	}
	var h audit.Head
	h.ChainID, _ = sec.Data["chain_id"].(string)
	h.Hash, _ = sec.Data["hash"].(string)
	h.Time, _ = sec.Data["time"].(string)
	h.Signature, _ = sec.Data["signature"].(string)
	if n, ok := sec.Data["seq"].(json.Number); ok {
		seq, err := strconv.ParseUint(string(n), 10, 64)
		if err != nil {
			c.serverError("reading the chain head of audit device", device, err)
			return audit.Head{}, nil, false
		}
		h.Seq = seq
	}
	if pub != nil {
		return h, pub, true
	}
	sec, err = cl.Logical().ReadWithContext(ctx, "sys/audit/"+device+"/public-key")
	if err != nil || sec == nil {
		if err == nil {
			err = errors.New("no key returned")
		}
		c.serverError("reading the public key of audit device", device, err)
		return audit.Head{}, nil, false
	}
	k, _ := sec.Data["public_key"].(string)
	pub, err = decodeKey(k)
	if err != nil {
		c.serverError("reading the public key of audit device", device, err)
		return audit.Head{}, nil, false
	}
	return h, pub, true
}

func runAuditVerify(ctx context.Context, c *call, args []string, key, server, device, witness string) int {
	if len(args) == 0 {
		return c.usageError("Wrong number of arguments (expected at least 1, got 0)")
	}
	if len(args) > 1 && (server != "" || witness != "") {
		return c.usageError("-server and -witness check one file: give one")
	}
	var pub ed25519.PublicKey
	if key != "" {
		k, err := decodeKey(key)
		if err != nil {
			return c.usageError("%v", err)
		}
		pub = k
	}
	var head *audit.Head
	keyFromServer := false
	if server != "" {
		// The head is read before the file, so the file must reach it.
		keyFromServer = pub == nil
		h, k, ok := liveHead(ctx, c, server, device, pub)
		if !ok {
			return exitServer
		}
		head, pub = &h, k
	}
	var witnessed []trail.Witnessed
	if witness != "" {
		wf, err := os.Open(witness)
		if err != nil {
			return c.usageError("%v", err)
		}
		witnessed, err = trail.ReadWitness(wf)
		wf.Close()
		if err != nil {
			fmt.Fprintf(c.env.Stderr, "Error reading the witness %s: %v\n", witness, err)
			return exitServer
		}
	}
	if len(args) == 1 {
		return verifyFile(c, args[0], "", trail.Options{PublicKey: pub, Head: head, Witness: witnessed}, keyFromServer, witness != "")
	}
	code := exitOK
	for i, path := range args {
		if i > 0 {
			fmt.Fprintln(c.env.Stdout)
		}
		fmt.Fprintf(c.env.Stdout, "==> %s <==\n", path)
		if r := verifyFile(c, path, path+": ", trail.Options{PublicKey: pub}, false, false); r != exitOK {
			code = r
		}
	}
	return code
}

// verifyFile verifies one file and prints its report; problems go to
// stderr, each after prefix (the file's name when several are verified).
func verifyFile(c *call, path, prefix string, opts trail.Options, keyFromServer, withWitness bool) int {
	head, witness := opts.Head, withWitness
	f, err := os.Open(path)
	if err != nil {
		return c.usageError("%v", err)
	}
	defer f.Close()
	rep, err := trail.VerifyWith(f, opts)
	if err != nil {
		fmt.Fprintf(c.env.Stderr, "Error verifying %s: %v\n", path, err)
		return exitServer
	}
	out := c.env.Stdout
	fmt.Fprintf(out, "Lines:        %d (%d entries, %d checkpoints)\n", rep.Lines, rep.Entries, rep.Checkpoints)
	if rep.Lines > 0 {
		fmt.Fprintf(out, "Chain:        %s, seq %d to %d\n", rep.ChainID, rep.FirstSeq, rep.LastSeq)
	}
	if !rep.Anchored && rep.Lines > 0 {
		fmt.Fprintln(out, "Start:        the file does not start the chain (rotated, or its head is missing)")
	}
	if head != nil {
		fmt.Fprintf(out, "Live head:    seq %d of chain %s, reported by the server at %s\n", head.Seq, head.ChainID, head.Time)
	}
	if witness {
		if rep.Witnessed > 0 {
			fmt.Fprintf(out, "Witness:      %d checkpoint(s) of this chain, the last at seq %d\n", rep.Witnessed, rep.WitnessLastSeq)
		} else {
			fmt.Fprintln(out, "Witness:      no checkpoint of this chain (another device's witness, or none written yet)")
		}
	}
	if rep.SignaturesChecked && keyFromServer {
		fmt.Fprintln(out, "Signatures:   checked with the key the server gave (give -public-key to check against a key kept apart)")
	} else if rep.SignaturesChecked {
		fmt.Fprintln(out, "Signatures:   checked")
	} else {
		fmt.Fprintln(out, "Signatures:   not checked (give -public-key)")
	}
	if rep.Unchecked > 0 {
		fmt.Fprintf(out, "Unsigned:     %d entries after the last checkpoint are chained but not signed\n", rep.Unchecked)
	}
	for _, r := range rep.Recovered {
		fmt.Fprintf(out, "RECOVERED: line %d: torn write, recovered: after %d failed write(s) (%s) the device cut %d bytes at offset %d and recorded it at seq %d\n", r.Line, r.FailedWrites, r.Error, r.CutBytes, r.Offset, r.Seq)
	}
	if len(rep.Problems) > 0 {
		for _, p := range rep.Problems {
			label := "TAMPERED"
			if !p.Kind.Tampering() {
				label = "DAMAGED"
			}
			fmt.Fprintf(c.env.Stderr, "%s%s: %s\n", prefix, label, p.Error())
		}
		if more := rep.ProblemCount - len(rep.Problems); more > 0 {
			fmt.Fprintf(c.env.Stderr, "%s... and %d more problem(s): %d in all (the first %d are listed)\n", prefix, more, rep.ProblemCount, len(rep.Problems))
		}
		return exitServer
	}
	fmt.Fprintln(out, "Result:       OK")
	return exitOK
}

type auditSearchOptions struct {
	path, accessor, entity, since, until, status, device string
	ops, types, values                                   []string
	merge                                                bool
}

// hashThroughServer asks sys/audit-hash/DEVICE for the HMAC of s.
func hashThroughServer(ctx context.Context, c *call, device, s string) (string, bool) {
	cl, ok := c.newClient()
	if !ok {
		return "", false
	}
	sec, err := cl.Logical().WriteWithContext(ctx, "sys/audit-hash/"+device, map[string]any{"input": s})
	if err != nil {
		c.serverError("hashing a value with audit device", device, err)
		return "", false
	}
	h, _ := sec.Data["hash"].(string)
	return h, h != ""
}

func runAuditSearch(ctx context.Context, c *call, args []string, o *auditSearchOptions) int {
	if len(args) == 0 {
		return c.usageError("Wrong number of arguments (expected at least 1, got 0)")
	}
	f := trail.Filter{PathPrefix: o.path, Operations: o.ops, Types: o.types, EntityID: o.entity, Accessor: o.accessor}
	for name, dst := range map[string]*time.Time{o.since: &f.Since, o.until: &f.Until} {
		if name == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, name)
		if err != nil {
			return c.usageError("invalid time %q: want RFC 3339, such as 2026-01-02T15:04:05Z", name)
		}
		*dst = t
	}
	switch o.status {
	case "":
	case "ok":
		f.Status = trail.Succeeded
	case "error":
		f.Status = trail.Failed
	default:
		return c.usageError("invalid -status %q: want ok or error", o.status)
	}
	needServer := len(o.values) > 0 || (o.accessor != "" && !strings.HasPrefix(o.accessor, "hmac-sha256:"))
	if needServer && o.device == "" {
		return c.usageError("-value and a raw -accessor need -device: the server HMACs them with that device's key")
	}
	if o.accessor != "" && !strings.HasPrefix(o.accessor, "hmac-sha256:") {
		h, ok := hashThroughServer(ctx, c, o.device, o.accessor)
		if !ok {
			return exitServer
		}
		f.Accessor = h
	}
	for _, v := range o.values {
		raw, err := readValueArg(c, v)
		if err != nil {
			return c.usageError("%v", err)
		}
		h, ok := hashThroughServer(ctx, c, o.device, raw)
		if !ok {
			return exitServer
		}
		f.Values = append(f.Values, h)
	}
	if len(args) > 1 || o.merge {
		return searchMerged(ctx, c, args, f)
	}
	file, err := os.Open(args[0])
	if err != nil {
		return c.usageError("%v", err)
	}
	defer file.Close()
	n := 0
	if c.format != "json" {
		fmt.Fprintf(c.env.Stdout, "%-6s %-30s %-9s %-8s %-40s %s\n", "LINE", "TIME", "TYPE", "OP", "PATH", "ERROR")
	}
	for m, err := range trail.Search(file, f) {
		if err != nil {
			fmt.Fprintf(c.env.Stderr, "warning: %v\n", err)
			continue
		}
		n++
		if c.format == "json" {
			fmt.Fprintln(c.env.Stdout, string(m.Raw))
			continue
		}
		var op, path string
		if m.Entry.Request != nil {
			op, path = m.Entry.Request.Operation, m.Entry.Request.Path
		}
		fmt.Fprintf(c.env.Stdout, "%-6d %-30s %-9s %-8s %-40s %s\n", m.Line, m.Entry.Time, m.Entry.Type, op, path, m.Entry.Error)
	}
	if n == 0 {
		fmt.Fprintln(c.env.Stderr, "No matching entries.")
		return exitServer
	}
	return exitOK
}

// searchMerged prints the entries f selects in the files at paths, merged
// by time, with each entry's file and node.
func searchMerged(ctx context.Context, c *call, paths []string, f trail.Filter) int {
	logs := make([]io.Reader, 0, len(paths))
	for _, p := range paths {
		file, err := os.Open(p)
		if err != nil {
			return c.usageError("%v", err)
		}
		defer file.Close()
		logs = append(logs, file)
	}
	n := 0
	if c.format != "json" {
		fmt.Fprintf(c.env.Stdout, "%-20s %-6s %-30s %-16s %-9s %-8s %-40s %s\n", "FILE", "LINE", "TIME", "NODE", "TYPE", "OP", "PATH", "ERROR")
	}
	for m, err := range trail.SearchMerged(ctx, logs, f) {
		if err != nil {
			fmt.Fprintf(c.env.Stderr, "warning: %s: %v\n", paths[m.File], err)
			continue
		}
		n++
		if c.format == "json" {
			fmt.Fprintln(c.env.Stdout, string(m.Raw))
			continue
		}
		var op, path string
		if m.Entry.Request != nil {
			op, path = m.Entry.Request.Operation, m.Entry.Request.Path
		}
		node := m.Entry.NodeID
		if node == "" {
			node = "-"
		}
		fmt.Fprintf(c.env.Stdout, "%-20s %-6d %-30s %-16s %-9s %-8s %-40s %s\n", filepath.Base(paths[m.File]), m.Line, m.Entry.Time, node, m.Entry.Type, op, path, m.Entry.Error)
	}
	if n == 0 {
		fmt.Fprintln(c.env.Stderr, "No matching entries.")
		return exitServer
	}
	return exitOK
}

// readValueArg reads a -value: literal, @file, or "-" for stdin.
func readValueArg(c *call, v string) (string, error) {
	switch {
	case v == "-":
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := c.env.Stdin.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return strings.TrimRight(b.String(), "\r\n"), nil
	case strings.HasPrefix(v, "@"):
		b, err := os.ReadFile(v[1:])
		if err != nil {
			return "", fmt.Errorf("read -value file: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return v, nil
}

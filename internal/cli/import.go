package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coffer-secrets/coffer/internal/scan/manifest"
)

func importCommands() map[string]*command {
	return map[string]*command{
		"import":            {synopsis: "Move secrets from files into Coffer"},
		"import dotenv":     importCommand("dotenv", "a dotenv file (KEY=value lines)"),
		"import json":       importCommand("json", "a JSON object of keys and values"),
		"import k8s-secret": importCommand("k8s-secret", "a Kubernetes Secret manifest (YAML or JSON; data is base64-decoded)"),
	}
}

func importCommand(kind, what string) *command {
	return &command{
		synopsis: "Import " + what + " into a KV version 2 secret",
		usage:    "[options] FILE -to MOUNT/PATH",
		help: `Reads ` + what + ` from FILE ("-" for standard input) and writes
its keys and values as one new version of the KV version 2 secret at -to,
with custom_metadata recording where they came from (imported_from,
import_kind, imported_at). An existing secret is never overwritten
without -force. On a terminal the command only shows what it would write
(key names, never values) until -yes is given. It then prints what can
replace the file: a "coffer exec" line, an agent template, and a
Kubernetes patch that adds the agent as a sidecar.

    $ coffer import ` + kind + ` FILE -to secret/app -yes`,
		server: true,
		setup: func(fs *flag.FlagSet) runFunc {
			var o importOptions
			o.kind = kind
			fs.StringVar(&o.to, "to", "", "The KV version 2 secret to write, as MOUNT/PATH (e.g. secret/app).")
			fs.BoolVar(&o.force, "force", false, "Write a new version over an existing secret.")
			fs.BoolVar(&o.yes, "yes", false, "Write (on a terminal the default is a dry run).")
			fs.BoolVar(&o.dryRun, "dry-run", false, "Only show what would be written, also when not on a terminal.")
			if kind == "k8s-secret" {
				fs.StringVar(&o.name, "name", "", "The Secret to import when FILE holds several.")
			}
			return func(ctx context.Context, c *call, args []string) int {
				args, err := interspersed(fs, args)
				if err != nil {
					fmt.Fprintln(c.env.Stderr, err)
					return exitUsage
				}
				return runImport(ctx, c, args, &o)
			}
		},
	}
}

// importOptions are the flags of the import commands.
type importOptions struct {
	kind               string
	to, name           string
	force, yes, dryRun bool
}

func runImport(ctx context.Context, c *call, args []string, o *importOptions) int {
	if len(args) != 1 {
		return c.usageError("Wrong number of arguments (expected 1, got %d)", len(args))
	}
	if o.to == "" {
		return c.usageError("Missing -to MOUNT/PATH")
	}
	file := args[0]
	var raw []byte
	var err error
	if file == "-" {
		raw, err = readAllLimited(c.env.Stdin)
	} else {
		raw, err = os.ReadFile(file)
	}
	if err != nil {
		fmt.Fprintf(c.env.Stderr, "Error reading %s: %v\n", file, unwrapPathError(err))
		return exitUsage
	}
	data, err := parseImport(o.kind, raw, o.name)
	if err != nil {
		// Parse errors name lines and keys, never values.
		fmt.Fprintf(c.env.Stderr, "Error reading %s: %v\n", file, err)
		return exitUsage
	}
	if len(data) == 0 {
		fmt.Fprintf(c.env.Stderr, "Error reading %s: no keys found\n", file)
		return exitUsage
	}
	cl, ok := c.newClient()
	if !ok {
		return exitServer
	}
	t, err := resolveKV(ctx, cl, "", o.to)
	if err != nil {
		return c.serverError("resolving", o.to, err)
	}
	if !t.v2 {
		fmt.Fprintf(c.env.Stderr, "Error: %s is not on a KV version 2 mount (import writes versions with metadata)\n", o.to)
		return exitServer
	}
	display := t.mount + t.rel
	meta, err := cl.Logical().ReadWithContext(ctx, t.apiPath("metadata"))
	if err != nil {
		return c.serverError("reading metadata of", display, err)
	}
	exists := meta != nil && meta.Data != nil
	if exists && !o.force {
		fmt.Fprintf(c.env.Stderr, "Error: %s already exists; -force writes a new version over it\n", display)
		return exitServer
	}
	keys := slices.Sorted(maps.Keys(data))
	state := "a new secret"
	if exists {
		state = "a new version of the existing secret"
	}
	if o.dryRun || (!o.yes && isTerminal(c.env.Stdout)) {
		fmt.Fprintf(c.env.Stdout, "Would write %d key(s) to %s as %s:\n", len(keys), display, state)
		for _, k := range keys {
			fmt.Fprintf(c.env.Stdout, "  %s\n", k)
		}
		fmt.Fprintln(c.env.Stdout, "\nNothing was written. Run again with -yes to write.")
		return exitOK
	}
	body := map[string]any{"data": data}
	if !o.force {
		// Create only: fails if someone wrote the secret since the check.
		body["options"] = map[string]any{"cas": 0}
	}
	sec, err := cl.Logical().WriteWithContext(ctx, t.apiPath("data"), body)
	if err != nil {
		return c.serverError("writing", display, err)
	}
	version := ""
	if sec != nil && sec.Data != nil {
		version = formatValue(sec.Data["version"])
	}
	source := filepath.Base(file)
	if file == "-" {
		source = "stdin"
	}
	custom := map[string]any{"custom_metadata": map[string]any{
		"imported_from": source,
		"import_kind":   o.kind,
		"imported_at":   time.Now().UTC().Format(time.RFC3339),
	}}
	if _, err := cl.Logical().JSONMergePatch(ctx, t.apiPath("metadata"), custom); err != nil {
		return c.serverError("writing metadata of", display, err)
	}
	fmt.Fprintf(c.env.Stdout, "Wrote version %s of %s with %d key(s): %s\n\n", version, display, len(keys), strings.Join(keys, ", "))
	fmt.Fprint(c.env.Stdout, replacementText(t.mount, t.rel, keys, file))
	return exitOK
}

// maxImportSize bounds what import reads from standard input.
const maxImportSize = 16 << 20

func readAllLimited(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxImportSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxImportSize {
		return nil, fmt.Errorf("input larger than %d bytes", maxImportSize)
	}
	return b, nil
}

// parseImport reads the keys and values of one input kind.
func parseImport(kind string, raw []byte, name string) (map[string]any, error) {
	switch kind {
	case "dotenv":
		return parseDotenv(raw)
	case "json":
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			return nil, errors.New("not a JSON object")
		}
		if dec.More() {
			return nil, errors.New("more than one JSON value")
		}
		return m, nil
	case "k8s-secret":
		return parseK8sSecret(raw, name)
	}
	return nil, fmt.Errorf("unknown kind %q", kind)
}

// parseDotenv reads KEY=value lines: blank lines and # comments are
// skipped, "export " is allowed, values may be single-quoted (taken as
// is), double-quoted (\n, \t, \", \\ and \$ escapes) or bare (a " #"
// starts a comment). A key given twice is an error. Errors name the line,
// never the value.
func parseDotenv(raw []byte) (map[string]any, error) {
	out := map[string]any{}
	for i, line := range strings.Split(string(raw), "\n") {
		n := i + 1
		line = strings.TrimSpace(strings.TrimSuffix(line, "\r"))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		key, val, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok || !validDotenvKey(key) {
			return nil, fmt.Errorf("line %d: want KEY=value", n)
		}
		val = strings.TrimSpace(val)
		switch {
		case strings.HasPrefix(val, "'"):
			end := strings.IndexByte(val[1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("line %d: unterminated single quote", n)
			}
			val = val[1 : 1+end]
		case strings.HasPrefix(val, `"`):
			v, ok := dotenvUnquote(val[1:])
			if !ok {
				return nil, fmt.Errorf("line %d: unterminated double quote", n)
			}
			val = v
		default:
			if j := strings.Index(val, " #"); j >= 0 {
				val = strings.TrimSpace(val[:j])
			}
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("line %d: key %s given twice", n, key)
		}
		out[key] = val
	}
	return out, nil
}

func validDotenvKey(k string) bool {
	if k == "" {
		return false
	}
	for i, r := range k {
		ok := r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && (r >= '0' && r <= '9' || r == '.' || r == '-')
		if !ok {
			return false
		}
	}
	return true
}

// dotenvUnquote reads a double-quoted value after its opening quote.
func dotenvUnquote(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			return b.String(), true
		case '\\':
			if i+1 == len(s) {
				return "", false
			}
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			default:
				b.WriteByte(s[i])
			}
		default:
			b.WriteByte(s[i])
		}
	}
	return "", false
}

// parseK8sSecret reads the Secret named name (or the only one) of a
// manifest.
func parseK8sSecret(raw []byte, name string) (map[string]any, error) {
	vals, err := manifest.Secrets(raw)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, v := range vals {
		names[v.Name] = true
	}
	if name == "" && len(names) > 1 {
		return nil, fmt.Errorf("several Secrets (%s): choose one with -name", strings.Join(slices.Sorted(maps.Keys(names)), ", "))
	}
	out := map[string]any{}
	for _, v := range vals {
		if name != "" && v.Name != name {
			continue
		}
		if v.Problem != "" {
			return nil, fmt.Errorf("key %s of Secret %s (line %d): %s; nothing imported", v.Key, v.Name, v.Line, v.Problem)
		}
		if !utf8.Valid(v.Value) {
			return nil, fmt.Errorf("key %s of Secret %s is binary; KV values are text: store it base64-encoded", v.Key, v.Name)
		}
		out[v.Key] = string(v.Value)
	}
	if name != "" && len(out) == 0 {
		return nil, fmt.Errorf("no Secret named %s with data", name)
	}
	return out, nil
}

// templateField is the Go template expression for a key of .Data.data.
func templateField(k string) string {
	ident := k != ""
	for i, r := range k {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			ident = false
		}
	}
	if ident {
		return ".Data.data." + k
	}
	return fmt.Sprintf("index .Data.data %q", k)
}

// replacementText is what replaces the imported file: a coffer exec line,
// an agent template and a Kubernetes patch adding the agent sidecar. It
// holds key names and paths, never values.
func replacementText(mount, rel string, keys []string, file string) string {
	kvPath := mount + rel
	dataPath := mount + "data/" + rel
	base := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	if file == "-" || base == "" || base == "." {
		base = "app"
	}
	dest := "/run/secrets/app/" + base + ".env"
	var b strings.Builder
	fmt.Fprintf(&b, "Delete %s (and its copies: run \"coffer scan\" to find them), then give the values to the program in one of these ways.\n\n", file)

	b.WriteString("1. Environment variables, with coffer exec:\n\n    coffer exec \\\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "      -secret %s=%s#%s \\\n", envName(k), kvPath, k)
	}
	b.WriteString("      -- ./your-program\n\n")

	b.WriteString("2. A file rendered by the agent (agent.hcl):\n\n")
	b.WriteString("    template {\n      contents    = <<EOT\n")
	fmt.Fprintf(&b, "{{ with secret %q -}}\n", dataPath)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s={{ %s }}\n", envName(k), templateField(k))
	}
	b.WriteString("{{ end -}}\nEOT\n")
	fmt.Fprintf(&b, "      destination = %q\n      perms       = \"0440\"\n      error_on_missing_key = true\n    }\n\n", dest)

	b.WriteString("3. On Kubernetes, the agent as a sidecar (the agent.hcl above, with an auto_auth\n")
	b.WriteString("   kubernetes block, in the ConfigMap coffer-agent; see docs/kubernetes.md):\n")
	b.WriteString("   kubectl patch deployment NAME --type=strategic --patch-file coffer-agent.yaml\n\n")
	fmt.Fprintf(&b, `    # coffer-agent.yaml
    spec:
      template:
        spec:
          containers:
            - name: coffer-agent
              image: registry.example.com/coffer:0.1.0
              command: ["/usr/local/bin/coffer"]
              args: ["agent", "-config=/etc/coffer-agent/agent.hcl"]
              volumeMounts:
                - {name: coffer-agent-config, mountPath: /etc/coffer-agent, readOnly: true}
                - {name: coffer-token, mountPath: /var/run/secrets/coffer, readOnly: true}
                - {name: app-secrets, mountPath: /run/secrets/app}
            - name: APP-CONTAINER # your container: it reads %s
              volumeMounts:
                - {name: app-secrets, mountPath: /run/secrets/app, readOnly: true}
          volumes:
            - name: coffer-agent-config
              configMap: {name: coffer-agent}
            - name: coffer-token
              projected:
                sources:
                  - serviceAccountToken: {audience: coffer, expirationSeconds: 600, path: token}
            - name: app-secrets
              emptyDir: {medium: Memory, sizeLimit: 1Mi}
`, dest)
	return b.String()
}

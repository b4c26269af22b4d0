package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/coffer-secrets/coffer/internal/agent"
	"github.com/coffer-secrets/coffer/internal/agent/child"
	"github.com/hashicorp/vault/api"
)

func execCommand() *command {
	return &command{
		synopsis: "Run a program with secrets in its environment",
		usage:    "[options] -- COMMAND [ARGS...]",
		help: `Reads secrets and runs COMMAND with them in its environment (never on its
command line), forwarding SIGINT, SIGTERM and SIGHUP to it, and exits with
its status.

  -secret NAME=PATH#KEY   puts KEY of the secret at PATH in NAME
  -secret-path PATH       puts every key of the secret at PATH in a variable
                          named after the key, in upper case

KV version 2 paths are given as with "coffer kv get" (secret/app). The
command runs as a child process (not with exec(2)) so that -watch can read
the secrets again every -interval and restart it when they change.
Secret values are never printed, also not in errors.

    $ coffer exec -secret DB_PASSWORD=secret/db#password -- ./server`,
		server: true,
		setup: func(fs *flag.FlagSet) runFunc {
			var o execOptions
			fs.Var(&o.secrets, "secret", "NAME=PATH#KEY: put KEY of the secret at PATH in the variable NAME. Repeatable.")
			fs.Var(&o.paths, "secret-path", "PATH: put every key of the secret at PATH in upper-cased variables. Repeatable.")
			fs.StringVar(&o.auth, "auth", "", `Log in first with this method ("approle") instead of using the current token.`)
			fs.StringVar(&o.authPath, "auth-path", "approle", "Mount path of the auth method.")
			fs.StringVar(&o.roleIDFile, "role-id-file", "", "File holding the AppRole role ID.")
			fs.StringVar(&o.secretIDFile, "secret-id-file", "", "File holding the AppRole secret ID.")
			fs.BoolVar(&o.watch, "watch", false, "Read the secrets again every -interval and restart the command when they change.")
			o.interval = durationFlag{d: 30 * time.Second, set: true}
			fs.Var(&o.interval, "interval", "How often -watch reads the secrets.")
			return func(ctx context.Context, c *call, args []string) int { return runExec(ctx, c, args, &o) }
		},
	}
}

// execOptions are the flags of coffer exec.
type execOptions struct {
	secrets, paths stringListFlag
	auth, authPath string
	roleIDFile     string
	secretIDFile   string
	watch          bool
	interval       durationFlag
}

// secretRef is one -secret flag.
type secretRef struct {
	name, path, key string
}

func parseSecretRefs(flags []string) ([]secretRef, error) {
	var out []secretRef
	for _, f := range flags {
		name, rest, ok := strings.Cut(f, "=")
		p, key, ok2 := strings.Cut(rest, "#")
		if !ok || !ok2 || name == "" || p == "" || key == "" {
			return nil, fmt.Errorf("-secret %q: want NAME=PATH#KEY", f)
		}
		if !validEnvName(name) {
			return nil, fmt.Errorf("-secret %q: %q is not a valid variable name", f, name)
		}
		out = append(out, secretRef{name: name, path: sanitizePath(p), key: key})
	}
	return out, nil
}

func runExec(ctx context.Context, c *call, args []string, o *execOptions) int {
	if len(args) == 0 {
		return c.usageError("Missing the command to run (after --)")
	}
	refs, err := parseSecretRefs(o.secrets)
	if err != nil {
		return c.usageError("%v", err)
	}
	if len(refs) == 0 && len(o.paths) == 0 {
		return c.usageError("Give at least one -secret or -secret-path")
	}
	if o.interval.d <= 0 {
		return c.usageError("-interval must be positive")
	}
	cl, ok := c.newClient()
	if !ok {
		return exitServer
	}
	switch o.auth {
	case "":
	case "approle":
		if o.roleIDFile == "" {
			return c.usageError("-auth=approle needs -role-id-file")
		}
		m := &agent.AppRole{MountPath: "auth/" + strings.Trim(o.authPath, "/"), RoleIDFile: o.roleIDFile, SecretIDFile: o.secretIDFile}
		sec, err := m.Login(ctx, cl)
		if err != nil {
			fmt.Fprintf(c.env.Stderr, "Error logging in: %v\n", err)
			return exitServer
		}
		if sec == nil || sec.Auth == nil {
			fmt.Fprintln(c.env.Stderr, "Error logging in: the response holds no token")
			return exitServer
		}
		cl.SetToken(sec.Auth.ClientToken)
	default:
		return c.usageError("Unsupported -auth %q (supported: approle)", o.auth)
	}
	env, err := fetchEnv(ctx, cl, refs, o.paths)
	if err != nil {
		fmt.Fprintf(c.env.Stderr, "Error reading secrets: %v\n", err)
		return exitServer
	}

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	envs := make(chan map[string]string, 1)
	envs <- env
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if o.watch {
		go watchEnv(ctx, c, cl, refs, o, envs)
	}
	sup := child.New(child.Options{
		Command: args, Environ: os.Environ(), Stdin: c.env.Stdin, Stdout: c.env.Stdout, Stderr: c.env.Stderr,
		Restart: true, Signals: sigs,
	})
	code, err := sup.Run(ctx, envs)
	if err != nil {
		fmt.Fprintf(c.env.Stderr, "Error running %s: %v\n", args[0], err)
		return exitUnknown
	}
	return code
}

// watchEnv reads the secrets every interval and sends changed values.
func watchEnv(ctx context.Context, c *call, cl *api.Client, refs []secretRef, o *execOptions, envs chan map[string]string) {
	t := time.NewTicker(o.interval.d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		env, err := fetchEnv(ctx, cl, refs, o.paths)
		if err != nil {
			fmt.Fprintf(c.env.Stderr, "Error reading secrets (keeping the last values): %v\n", err)
			continue
		}
		select {
		case <-envs:
		default:
		}
		envs <- env
	}
}

// fetchEnv reads the secrets into variables. Errors name paths and keys,
// never values.
func fetchEnv(ctx context.Context, cl *api.Client, refs []secretRef, paths []string) (map[string]string, error) {
	env := make(map[string]string)
	cache := make(map[string]map[string]any)
	read := func(p string) (map[string]any, error) {
		if d, ok := cache[p]; ok {
			return d, nil
		}
		d, err := readSecretData(ctx, cl, p)
		if err != nil {
			return nil, err
		}
		cache[p] = d
		return d, nil
	}
	for _, p := range paths {
		p = sanitizePath(p)
		data, err := read(p)
		if err != nil {
			return nil, err
		}
		for _, k := range slices.Sorted(maps.Keys(data)) {
			env[envName(k)] = valueString(data[k])
		}
	}
	for _, r := range refs {
		data, err := read(r.path)
		if err != nil {
			return nil, err
		}
		v, ok := data[r.key]
		if !ok {
			return nil, fmt.Errorf("no key %q in the secret at %s", r.key, r.path)
		}
		env[r.name] = valueString(v)
	}
	return env, nil
}

// readSecretData reads the secret at p: for a KV version 2 path given as
// "mount/path", the data of its current version.
func readSecretData(ctx context.Context, cl *api.Client, p string) (map[string]any, error) {
	target, err := resolveKV(ctx, cl, "", p)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	apiPath := target.apiPath("data")
	if target.mount == "" {
		apiPath = p
	}
	sec, err := cl.Logical().ReadWithContext(ctx, apiPath)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	if sec == nil || sec.Data == nil {
		return nil, fmt.Errorf("no secret at %s", p)
	}
	if target.v2 {
		data, ok := sec.Data["data"].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("no secret at %s (deleted or destroyed)", p)
		}
		return data, nil
	}
	return sec.Data, nil
}

// valueString is a value as a variable holds it: strings as they are,
// anything else as JSON.
func valueString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// envName turns a secret's key into a variable name: upper case, with
// every character other than a letter, digit or underscore replaced by an
// underscore, and a leading digit prefixed with one.
func envName(key string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(key) {
		if r == '_' || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	s := b.String()
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		s = "_" + s
	}
	return s
}

// validEnvName reports whether s is a portable variable name.
func validEnvName(s string) bool {
	for i, r := range s {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return s != ""
}

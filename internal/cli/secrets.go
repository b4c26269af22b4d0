package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"
)

// secretsCommands are the `secrets` group.
func secretsCommands() map[string]*command {
	return map[string]*command{
		"secrets enable": {
			synopsis: "Enable a secrets engine",
			usage:    "[options] TYPE",
			help: `Mounts a secrets engine of TYPE at -path (by default, at TYPE). "kv-v2"
is "kv" with -version=2.

    $ coffer secrets enable -path=apps -version=2 kv`,
			server: true,
			setup: func(fs *flag.FlagSet) runFunc {
				var o enableOptions
				o.options = mapFlag{}
				fs.StringVar(&o.path, "path", "", "Where to mount the engine; defaults to TYPE.")
				fs.StringVar(&o.description, "description", "", "Human-friendly description of the mount.")
				fs.Var(&o.defaultTTL, "default-lease-ttl", "Default lease TTL of the mount (e.g. 30m, 768h or seconds).")
				fs.Var(&o.maxTTL, "max-lease-ttl", "Maximum lease TTL of the mount.")
				fs.Var(o.options, "options", "Engine option KEY=VALUE; may be repeated.")
				fs.IntVar(&o.version, "version", 0, `Engine version; the same as -options=version=N.`)
				fs.BoolVar(&o.forceNoCache, "force-no-cache", false, "Disable caching for the mount.")
				fs.BoolVar(&o.local, "local", false, "Do not replicate the mount.")
				fs.BoolVar(&o.sealWrap, "seal-wrap", false, "Seal-wrap the mount's critical values.")
				fs.BoolVar(&o.externalEntropy, "external-entropy-access", false, "Give the mount access to external entropy.")
				return func(ctx context.Context, c *call, args []string) int {
					return runSecretsEnable(ctx, c, args, &o)
				}
			},
		},
		"secrets disable": {
			synopsis: "Disable a secrets engine",
			usage:    "[options] PATH",
			help:     `Unmounts the secrets engine at PATH, deleting all its data.`,
			server:   true,
			setup:    func(*flag.FlagSet) runFunc { return runSecretsDisable },
		},
		"secrets list": {
			synopsis: "List enabled secrets engines",
			usage:    "[options]",
			help:     `Lists the mounted secrets engines; -detailed adds TTLs, options and more.`,
			server:   true,
			setup: func(fs *flag.FlagSet) runFunc {
				detailed := fs.Bool("detailed", false, "Print more information about each mount.")
				return func(ctx context.Context, c *call, args []string) int {
					return runSecretsList(ctx, c, args, *detailed)
				}
			},
		},
		"secrets tune": {
			synopsis: "Tune a secrets engine configuration",
			usage:    "[options] PATH",
			help:     `Changes the configuration of the mount at PATH. Only the flags given are sent.`,
			server:   true,
			setup: func(fs *flag.FlagSet) runFunc {
				var o tuneOptions
				o.options = mapFlag{}
				fs.Var(&o.defaultTTL, "default-lease-ttl", "Default lease TTL of the mount.")
				fs.Var(&o.maxTTL, "max-lease-ttl", "Maximum lease TTL of the mount.")
				fs.StringVar(&o.description, "description", "", "Human-friendly description of the mount.")
				fs.Var(o.options, "options", "Engine option KEY=VALUE; may be repeated.")
				fs.IntVar(&o.version, "version", 0, "Engine version; the same as -options=version=N.")
				return func(ctx context.Context, c *call, args []string) int {
					o.set = setFlags(fs)
					return runSecretsTune(ctx, c, args, &o)
				}
			},
		},
		"secrets move": {
			synopsis: "Move a secrets engine to a new path",
			usage:    "[options] SOURCE DESTINATION",
			help:     `Moves the mount at SOURCE, with its data, to DESTINATION (sys/remount).`,
			server:   true,
			setup:    func(*flag.FlagSet) runFunc { return runSecretsMove },
		},
	}
}

// setFlags returns the names of the flags given on the command line.
func setFlags(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// enableOptions are the flags of secrets enable.
type enableOptions struct {
	path, description string
	defaultTTL        durationFlag
	maxTTL            durationFlag
	options           mapFlag
	version           int
	forceNoCache      bool
	local             bool
	sealWrap          bool
	externalEntropy   bool
}

func runSecretsEnable(ctx context.Context, c *call, args []string, o *enableOptions) int {
	if len(args) != 1 {
		return c.usageError("Wrong number of arguments (expected 1, got %d)", len(args))
	}
	engine := args[0]
	path := o.path
	if path == "" {
		path = engine
	}
	path = ensureTrailingSlash(sanitizePath(path))
	options := maps.Clone(map[string]string(o.options))
	if engine == "kv-v2" {
		engine = "kv"
		options["version"] = "2"
	}
	if o.version > 0 {
		options["version"] = strconv.Itoa(o.version)
	}
	in := &api.MountInput{
		Type:                  engine,
		Description:           o.description,
		Local:                 o.local,
		SealWrap:              o.sealWrap,
		ExternalEntropyAccess: o.externalEntropy,
		Options:               options,
		Config: api.MountConfigInput{
			DefaultLeaseTTL: o.defaultTTL.apiValue(),
			MaxLeaseTTL:     o.maxTTL.apiValue(),
			ForceNoCache:    o.forceNoCache,
		},
	}
	cl, ok := c.newClient()
	if !ok {
		return exitServer
	}
	if err := cl.Sys().MountWithContext(ctx, path, in); err != nil {
		return c.serverError("enabling", path, err)
	}
	return c.success("Enabled the %s secrets engine at: %s", args[0], path)
}

func runSecretsDisable(ctx context.Context, c *call, args []string) int {
	return runDisable(ctx, c, args, disable{
		action: "disabling secrets engine at",
		done:   "Disabled the secrets engine (if it existed) at: %s", call: (*api.Sys).UnmountWithContext,
	})
}

// disable is what the disable commands of audit devices, auth methods and
// secrets engines differ in.
type disable struct {
	empty  string // the usage error for an empty path; "" lets one through
	action string // what failed, for serverError
	done   string // the success message, with the path
	call   func(s *api.Sys, ctx context.Context, path string) error
}

// runDisable runs a disable command: one PATH argument, made to end in "/".
func runDisable(ctx context.Context, c *call, args []string, d disable) int {
	if len(args) != 1 {
		return c.usageError("Wrong number of arguments (expected 1, got %d)", len(args))
	}
	path := ensureTrailingSlash(sanitizePath(args[0]))
	if path == "" && d.empty != "" {
		return c.usageError("%s", d.empty)
	}
	cl, ok := c.newClient()
	if !ok {
		return exitServer
	}
	if err := d.call(cl.Sys(), ctx, path); err != nil {
		return c.serverError(d.action, path, err)
	}
	return c.success(d.done, path)
}

// mountInfo is one entry of sys/mounts or sys/auth as the lists print it.
type mountInfo struct {
	Type        string            `json:"type"`
	Description string            `json:"description"`
	Accessor    string            `json:"accessor"`
	UUID        string            `json:"uuid"`
	Local       bool              `json:"local"`
	SealWrap    bool              `json:"seal_wrap"`
	External    bool              `json:"external_entropy_access"`
	Options     map[string]string `json:"options"`
	Config      struct {
		DefaultLeaseTTL int    `json:"default_lease_ttl"`
		MaxLeaseTTL     int    `json:"max_lease_ttl"`
		ForceNoCache    bool   `json:"force_no_cache"`
		TokenType       string `json:"token_type"`
	} `json:"config"`
}

// mountList says what a mount listing lists: secrets engines or auth
// methods.
type mountList struct {
	path  string // "sys/mounts" or "sys/auth"
	noun  string // "secrets engines", "auth methods"
	thing string // "mount", "auth method", for decoding errors
	auth  bool   // the detailed table shows Token Type, not Force No Cache
}

func runSecretsList(ctx context.Context, c *call, args []string, detailed bool) int {
	return runMountList(ctx, c, args, detailed, mountList{path: "sys/mounts", noun: "secrets engines", thing: "mount"})
}

// runMountList prints sys/mounts or sys/auth as Vault's secrets list and
// auth list do.
func runMountList(ctx context.Context, c *call, args []string, detailed bool, l mountList) int {
	cl, code := c.argsClient(args, 0)
	if cl == nil {
		return code
	}
	secret, err := cl.Logical().ReadWithContext(ctx, l.path)
	if err != nil {
		return c.serverError("listing "+l.noun+" with", l.path, err)
	}
	if secret == nil || len(secret.Data) == 0 {
		fmt.Fprintf(c.env.Stderr, "No %s are enabled.\n", l.noun)
		return exitServer
	}
	if c.format == "json" {
		return c.printJSONOrFail(secret.Data)
	}
	mounts := map[string]mountInfo{}
	for path, raw := range secret.Data {
		b, err := json.Marshal(raw)
		if err != nil {
			continue
		}
		var m mountInfo
		if err := json.Unmarshal(b, &m); err != nil {
			fmt.Fprintf(c.env.Stderr, "Error decoding %s %q: %v\n", l.thing, path, err)
			return exitServer
		}
		mounts[path] = m
	}
	sixth := "Force No Cache"
	if l.auth {
		sixth = "Token Type"
	}
	var rows [][]string
	if detailed {
		rows = [][]string{
			{"Path", "Plugin", "Accessor", "Default TTL", "Max TTL", sixth, "Replication", "Seal Wrap", "External Entropy Access", "Options", "Description", "UUID"},
			{"----", "------", "--------", "-----------", "-------", strings.Repeat("-", len(sixth)), "-----------", "---------", "-----------------------", "-------", "-----------", "----"},
		}
	} else {
		rows = [][]string{
			{"Path", "Type", "Accessor", "Description"},
			{"----", "----", "--------", "-----------"},
		}
	}
	for _, path := range slices.Sorted(maps.Keys(mounts)) {
		m := mounts[path]
		if !detailed {
			rows = append(rows, []string{path, m.Type, m.Accessor, m.Description})
			continue
		}
		replication := "replicated"
		if m.Local {
			replication = "local"
		}
		var options string
		if len(m.Options) > 0 {
			options = fmt.Sprint(m.Options)
		}
		cell := strconv.FormatBool(m.Config.ForceNoCache)
		if l.auth {
			cell = m.Config.TokenType
		}
		rows = append(rows, []string{
			path, m.Type, m.Accessor,
			ttlCell(m.Config.DefaultLeaseTTL), ttlCell(m.Config.MaxLeaseTTL),
			cell, replication,
			strconv.FormatBool(m.SealWrap), strconv.FormatBool(m.External),
			options, m.Description, m.UUID,
		})
	}
	t, _ := table(rows)
	fmt.Fprint(c.env.Stdout, t)
	return exitOK
}

// ttlCell prints a mount TTL; zero means the system default.
func ttlCell(secs int) string {
	if secs == 0 {
		return "system"
	}
	return humanDuration(secs)
}

// tuneOptions are the flags of secrets tune.
type tuneOptions struct {
	defaultTTL  durationFlag
	maxTTL      durationFlag
	description string
	options     mapFlag
	version     int
	set         map[string]bool
}

func runSecretsTune(ctx context.Context, c *call, args []string, o *tuneOptions) int {
	if len(args) != 1 {
		return c.usageError("Wrong number of arguments (expected 1, got %d)", len(args))
	}
	path := ensureTrailingSlash(sanitizePath(args[0]))
	body := map[string]any{}
	if o.set["default-lease-ttl"] {
		body["default_lease_ttl"] = o.defaultTTL.apiValue()
	}
	if o.set["max-lease-ttl"] {
		body["max_lease_ttl"] = o.maxTTL.apiValue()
	}
	if o.set["description"] {
		body["description"] = o.description
	}
	options := maps.Clone(map[string]string(o.options))
	if o.set["version"] {
		options["version"] = strconv.Itoa(o.version)
	}
	if len(options) > 0 {
		body["options"] = options
	}
	if len(body) == 0 {
		return c.usageError("Nothing to tune: give at least one option")
	}
	cl, ok := c.newClient()
	if !ok {
		return exitServer
	}
	if _, err := cl.Logical().WriteWithContext(ctx, "sys/mounts/"+path+"tune", body); err != nil {
		return c.serverError("tuning secrets engine", path, err)
	}
	return c.success("Tuned the secrets engine at: %s", path)
}

// remountPoll is how often secrets move asks whether a move has finished.
const remountPoll = 100 * time.Millisecond

func runSecretsMove(ctx context.Context, c *call, args []string) int {
	if len(args) != 2 {
		return c.usageError("Wrong number of arguments (expected 2, got %d)", len(args))
	}
	from := ensureTrailingSlash(sanitizePath(args[0]))
	to := ensureTrailingSlash(sanitizePath(args[1]))
	cl, ok := c.newClient()
	if !ok {
		return exitServer
	}
	secret, err := cl.Logical().WriteWithContext(ctx, "sys/remount", map[string]any{"from": from, "to": to})
	if err != nil {
		return c.serverError("moving secrets engine", from+" to "+to, err)
	}
	var id string
	if secret != nil {
		id, _ = secret.Data["migration_id"].(string)
	}
	if id == "" {
		// The server moved the mount before answering.
		return c.success("Moved secrets engine %s to: %s", from, to)
	}
	fmt.Fprintf(c.env.Stdout, "Started moving secrets engine %s to %s, with migration ID %s\n", from, to, id)
	ticker := time.NewTicker(remountPoll)
	defer ticker.Stop()
	for {
		st, err := cl.Logical().ReadWithContext(ctx, "sys/remount/status/"+id)
		if err != nil {
			return c.serverError("checking the move of", from, err)
		}
		status := ""
		if st != nil {
			if info, ok := st.Data["migration_info"].(map[string]any); ok {
				status, _ = info["status"].(string)
			}
		}
		switch status {
		case "success":
			return c.success("Finished moving secrets engine %s to %s, with migration ID %s", from, to, id)
		case "failure":
			fmt.Fprintf(c.env.Stderr, "Error moving secrets engine %s to %s: the move failed (migration ID %s)\n", from, to, id)
			return exitServer
		}
		select {
		case <-ctx.Done():
			fmt.Fprintf(c.env.Stderr, "Error moving secrets engine %s: %v\n", from, ctx.Err())
			return exitServer
		case <-ticker.C:
		}
	}
}

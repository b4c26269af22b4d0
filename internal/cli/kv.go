package cli

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"net/http"
	"strconv"

	"github.com/hashicorp/vault/api"
)

// kvFlags are the flags most kv commands share.
type kvFlags struct {
	mount    string
	version  int
	versions intListFlag
	cas      int
	method   string
	// recursive asks kv list for every key below the path (-r).
	recursive bool
}

func (f *kvFlags) registerMount(fs *flag.FlagSet) {
	fs.StringVar(&f.mount, "mount", "", `The mount of the secret. With -mount, PATH is relative to it ("-mount=secret foo"); without, PATH starts with the mount ("secret/foo").`)
}

// kvCommands are the `kv` group, including `kv metadata`.
func kvCommands() map[string]*command {
	t := map[string]*command{
		"kv get": {
			synopsis: "Retrieves data from the KV store",
			usage:    "[options] PATH",
			help: `Reads the secret at PATH. For KV v2, -version reads an older version.

    $ coffer kv get -mount=secret foo
    $ coffer kv get -field=password secret/db`,
			server: true, field: true,
			setup: func(fs *flag.FlagSet) runFunc {
				var f kvFlags
				f.registerMount(fs)
				fs.IntVar(&f.version, "version", 0, "The version to read (KV v2); 0 reads the latest.")
				return func(ctx context.Context, c *call, args []string) int { return runKVGet(ctx, c, args, &f) }
			},
		},
		"kv put": {
			synopsis: "Sets or updates data in the KV store",
			usage:    "[options] PATH [DATA K=V...]",
			help: `Writes the data to PATH, replacing what was there (KV v2 keeps the old
version). A value of "@file" reads the value from a file and "-" from stdin;
a lone "-" reads a JSON object of all the data from stdin.

    $ coffer kv put -mount=secret foo bar=baz
    $ coffer kv put secret/cert pem=@cert.pem`,
			server: true, field: true,
			setup: func(fs *flag.FlagSet) runFunc {
				var f kvFlags
				f.registerMount(fs)
				fs.IntVar(&f.cas, "cas", -1, "Check-and-set: write only if the current version is this (0: only if the secret does not exist). KV v2.")
				return func(ctx context.Context, c *call, args []string) int { return runKVPut(ctx, c, args, &f) }
			},
		},
		"kv patch": {
			synopsis: "Sets or updates data in the KV store without overwriting",
			usage:    "[options] PATH [DATA K=V...]",
			help: `Merges the data into the secret at PATH (KV v2 only). -method=patch sends
an HTTP PATCH; -method=rw reads, merges locally and writes back with
check-and-set. Without -method, patch is tried and rw used if the server
does not support PATCH.`,
			server: true, field: true,
			setup: func(fs *flag.FlagSet) runFunc {
				var f kvFlags
				f.registerMount(fs)
				fs.IntVar(&f.cas, "cas", -1, "Check-and-set version for -method=patch.")
				fs.StringVar(&f.method, "method", "", `How to patch: "patch" or "rw".`)
				return func(ctx context.Context, c *call, args []string) int { return runKVPatch(ctx, c, args, &f) }
			},
		},
		"kv list": {
			synopsis: "List data or secrets",
			usage:    "[options] PATH",
			help: `Lists the keys under PATH. Keys ending in "/" are folders. With -r, lists
every key below PATH (folders expanded) that the token may read or list.`,
			server: true,
			setup: func(fs *flag.FlagSet) runFunc {
				var f kvFlags
				f.registerMount(fs)
				fs.BoolVar(&f.recursive, "r", false, "List every key below PATH, as paths relative to it, leaving out those the token may not read or list.")
				return func(ctx context.Context, c *call, args []string) int { return runKVList(ctx, c, args, &f) }
			},
		},
		"kv delete": {
			synopsis: "Deletes versions in the KV store",
			usage:    "[options] PATH",
			help: `Deletes the latest version of the secret at PATH (KV v2; the data can be
undeleted), the -versions given, or the secret itself on KV v1.`,
			server: true,
			setup: func(fs *flag.FlagSet) runFunc {
				var f kvFlags
				f.registerMount(fs)
				fs.Var(&f.versions, "versions", "Comma-separated versions to delete (KV v2).")
				return func(ctx context.Context, c *call, args []string) int { return runKVDelete(ctx, c, args, &f) }
			},
		},
		"kv undelete": kvVersionsCommand("undelete", "Undeletes versions in the KV store",
			`Restores deleted versions of the secret at PATH (KV v2).`),
		"kv destroy": kvVersionsCommand("destroy", "Permanently removes one or more versions in the KV store",
			`Permanently removes versions of the secret at PATH (KV v2). This cannot be undone.`),
		"kv rollback": {
			synopsis: "Rolls back to a previous version of data",
			usage:    "[options] -version=N PATH",
			help: `Writes the data of version N as a new version of the secret at PATH
(KV v2), with check-and-set against the current version.`,
			server: true, field: true,
			setup: func(fs *flag.FlagSet) runFunc {
				var f kvFlags
				f.registerMount(fs)
				fs.IntVar(&f.version, "version", 0, "The version to roll back to.")
				return func(ctx context.Context, c *call, args []string) int { return runKVRollback(ctx, c, args, &f) }
			},
		},
	}
	maps.Copy(t, kvMetadataCommands())
	maps.Copy(t, kvSearchCommands())
	return t
}

// resolveKV resolves the KV path argument, printing the failure.
func (c *call) resolveKV(ctx context.Context, cl *api.Client, mount, arg string) (kvTarget, bool) {
	t, err := resolveKV(ctx, cl, mount, arg)
	if err != nil {
		fmt.Fprintf(c.env.Stderr, "Error: %v\n", err)
		return kvTarget{}, false
	}
	return t, true
}

// kvPathArg checks the positional arguments of kv list: one path, which may
// be omitted when -mount is given (the mount's root is listed).
func (c *call) kvPathArg(args []string, mount string) (string, int) {
	switch {
	case len(args) == 0 && mount != "":
		return "", exitOK
	case len(args) == 0:
		return "", c.usageError("Not enough arguments (expected 1, got 0)")
	case len(args) > 1:
		return "", c.usageError("Too many arguments (expected 1, got %d)", len(args))
	}
	return args[0], exitOK
}

func runKVGet(ctx context.Context, c *call, args []string, f *kvFlags) int {
	cl, code := c.argsClient(args, 1)
	if cl == nil {
		return code
	}
	t, ok := c.resolveKV(ctx, cl, f.mount, args[0])
	if !ok {
		return exitServer
	}
	if !t.v2 {
		if f.version > 0 {
			return c.usageError("The -version flag needs a KV version 2 mount")
		}
		p := t.apiPath("")
		secret, err := cl.Logical().ReadWithContext(ctx, p)
		if err != nil {
			return c.serverError("reading", p, err)
		}
		if secret == nil {
			return c.notFound(p)
		}
		return c.printSecret(secret)
	}

	p := t.apiPath("data")
	var query map[string][]string
	if f.version > 0 {
		query = map[string][]string{"version": {strconv.Itoa(f.version)}}
	}
	secret, err := cl.Logical().ReadWithDataWithContext(ctx, p, query)
	if err != nil {
		return c.serverError("reading", p, err)
	}
	if secret == nil {
		return c.notFound(p)
	}
	data, _ := secret.Data["data"].(map[string]any)
	if c.field != "" {
		return c.printSecretField(secret, data)
	}
	if c.format == "json" {
		return c.printJSONOrFail(secret)
	}
	c.warnings(secret.Warnings)
	c.printSecretPath(p)
	if md, ok := secret.Data["metadata"].(map[string]any); ok {
		c.printSection("Metadata", mapPairs(md))
	}
	// A deleted or destroyed version comes back with metadata and no data,
	// which is shown as such.
	if data != nil {
		fmt.Fprintln(c.env.Stdout)
		c.printSection("Data", mapPairs(data))
	}
	return exitOK
}

// printSecretPath prints the "== Secret Path ==" section.
func (c *call) printSecretPath(p string) {
	fmt.Fprintf(c.env.Stdout, "%s\n%s\n\n", sectionHeader("Secret Path", len(p)), p)
}

// printSection prints a titled Key/Value section; with no title, just the
// table (never a header of '=' signs around nothing).
func (c *call) printSection(title string, pairs [][2]string) {
	t, width := kvTable(pairs)
	if title == "" {
		fmt.Fprint(c.env.Stdout, t)
		return
	}
	fmt.Fprintf(c.env.Stdout, "%s\n%s", sectionHeader(title, width), t)
}

// printKVWrite prints the result of a v2 write (put, patch, rollback): the
// new version's metadata.
func (c *call) printKVWrite(secret *api.Secret, p string) int {
	if secret == nil {
		if c.field != "" {
			fmt.Fprintf(c.env.Stderr, "Field %q not present in secret\n", c.field)
			return exitUsage
		}
		return c.success("Data written to: %s", p)
	}
	if c.field != "" {
		return c.printSecretField(secret, secret.Data)
	}
	if c.format == "json" {
		return c.printJSONOrFail(secret)
	}
	c.warnings(secret.Warnings)
	c.printSecretPath(p)
	c.printSection("Metadata", mapPairs(secret.Data))
	return exitOK
}

// kvData parses the data arguments of put and patch; code is non-zero on a
// usage error.
func (c *call) kvData(args []string) (map[string]any, int) {
	data, err := c.parseData(args)
	if err != nil {
		return nil, c.usageError("Failed to parse K=V data: %v", err)
	}
	if len(data) == 0 {
		return nil, c.usageError("Must supply data")
	}
	return data, exitOK
}

// v2Body wraps data for a KV v2 write, with check-and-set when cas >= 0.
func v2Body(data map[string]any, cas int) map[string]any {
	body := map[string]any{"data": data}
	if cas >= 0 {
		body["options"] = map[string]any{"cas": cas}
	}
	return body
}

// kvWriteTarget parses the data arguments of put and patch (args[1:]),
// builds the client and resolves PATH (args[0], at least one argument).
// A nil client means the command must stop with the returned exit code.
func (c *call) kvWriteTarget(ctx context.Context, args []string, mount string) (map[string]any, *api.Client, kvTarget, int) {
	data, code := c.kvData(args[1:])
	if code != exitOK {
		return nil, nil, kvTarget{}, code
	}
	cl, ok := c.newClient()
	if !ok {
		return nil, nil, kvTarget{}, exitServer
	}
	t, ok := c.resolveKV(ctx, cl, mount, args[0])
	if !ok {
		return nil, nil, kvTarget{}, exitServer
	}
	return data, cl, t, exitOK
}

func runKVPut(ctx context.Context, c *call, args []string, f *kvFlags) int {
	if len(args) < 1 {
		return c.usageError("Not enough arguments (expected at least 1, got 0)")
	}
	data, cl, t, code := c.kvWriteTarget(ctx, args, f.mount)
	if cl == nil {
		return code
	}
	if !t.v2 {
		if f.cas >= 0 {
			return c.usageError("The -cas flag needs a KV version 2 mount")
		}
		p := t.apiPath("")
		secret, err := cl.Logical().WriteWithContext(ctx, p, data)
		if err != nil {
			return c.serverError("writing data to", p, err)
		}
		if secret != nil && len(secret.Data) > 0 {
			return c.printSecret(secret)
		}
		return c.success("Data written to: %s", p)
	}
	p := t.apiPath("data")
	secret, err := cl.Logical().WriteWithContext(ctx, p, v2Body(data, f.cas))
	if err != nil {
		return c.serverError("writing data to", p, err)
	}
	return c.printKVWrite(secret, p)
}

func runKVPatch(ctx context.Context, c *call, args []string, f *kvFlags) int {
	if len(args) < 1 {
		return c.usageError("Not enough arguments (expected at least 1, got 0)")
	}
	switch f.method {
	case "", "patch", "rw":
	default:
		return c.usageError("Unsupported method %q: use \"patch\" or \"rw\"", f.method)
	}
	data, cl, t, code := c.kvWriteTarget(ctx, args, f.mount)
	if cl == nil {
		return code
	}
	if !t.v2 {
		fmt.Fprintln(c.env.Stderr, "Error: patch needs a KV version 2 mount")
		return exitServer
	}
	p := t.apiPath("data")
	if f.method == "rw" {
		return c.kvReadWritePatch(ctx, cl, p, data)
	}
	secret, err := cl.Logical().JSONMergePatch(ctx, p, v2Body(data, f.cas))
	if err != nil {
		status := responseStatus(err)
		switch {
		case status == http.StatusMethodNotAllowed && f.method == "":
			// A server without HTTP PATCH: read, merge and write instead.
			return c.kvReadWritePatch(ctx, cl, p, data)
		case status == http.StatusNotFound:
			return c.notFound(p)
		}
		return c.serverError("writing data to", p, err)
	}
	if secret == nil {
		return c.notFound(p)
	}
	return c.printKVWrite(secret, p)
}

// kvReadWritePatch patches by reading the secret, merging data into it and
// writing it back with check-and-set against the version read.
func (c *call) kvReadWritePatch(ctx context.Context, cl *api.Client, p string, data map[string]any) int {
	secret, err := cl.Logical().ReadWithContext(ctx, p)
	if err != nil {
		return c.serverError("reading", p, err)
	}
	if secret == nil {
		return c.notFound(p)
	}
	current, _ := secret.Data["data"].(map[string]any)
	if current == nil {
		return c.notFound(p)
	}
	version := -1
	if md, ok := secret.Data["metadata"].(map[string]any); ok {
		if n, err := strconv.Atoi(formatValue(md["version"])); err == nil {
			version = n
		}
	}
	maps.Copy(current, data)
	out, err := cl.Logical().WriteWithContext(ctx, p, v2Body(current, version))
	if err != nil {
		return c.serverError("writing data to", p, err)
	}
	return c.printKVWrite(out, p)
}

func runKVList(ctx context.Context, c *call, args []string, f *kvFlags) int {
	arg, code := c.kvPathArg(args, f.mount)
	if code != exitOK {
		return code
	}
	cl, ok := c.newClient()
	if !ok {
		return exitServer
	}
	t, ok := c.resolveKV(ctx, cl, f.mount, arg)
	if !ok {
		return exitServer
	}
	if f.recursive {
		return runKVListRecursive(ctx, c, cl, t)
	}
	p := t.apiPath("metadata")
	secret, err := cl.Logical().ListWithContext(ctx, p)
	if err != nil {
		return c.serverError("listing", p, err)
	}
	return c.printList(secret, p)
}

func runKVDelete(ctx context.Context, c *call, args []string, f *kvFlags) int {
	cl, code := c.argsClient(args, 1)
	if cl == nil {
		return code
	}
	t, ok := c.resolveKV(ctx, cl, f.mount, args[0])
	if !ok {
		return exitServer
	}
	var (
		p   string
		err error
	)
	switch {
	case !t.v2 && len(f.versions) > 0:
		return c.usageError("The -versions flag needs a KV version 2 mount")
	case !t.v2:
		p = t.apiPath("")
		_, err = cl.Logical().DeleteWithContext(ctx, p)
	case len(f.versions) > 0:
		p = t.apiPath("delete")
		_, err = cl.Logical().WriteWithContext(ctx, p, map[string]any{"versions": []int(f.versions)})
	default:
		p = t.apiPath("data")
		_, err = cl.Logical().DeleteWithContext(ctx, p)
	}
	if err != nil {
		return c.serverError("deleting", p, err)
	}
	return c.success("Data deleted (if it existed) at: %s", p)
}

// kvVersionsCommand is "kv undelete" or "kv destroy" (op), which take the
// same flags.
func kvVersionsCommand(op, synopsis, help string) *command {
	return &command{
		synopsis: synopsis,
		usage:    "[options] -versions=N[,N...] PATH",
		help:     help,
		server:   true,
		setup: func(fs *flag.FlagSet) runFunc {
			var f kvFlags
			f.registerMount(fs)
			fs.Var(&f.versions, "versions", "Comma-separated versions to "+op+".")
			return func(ctx context.Context, c *call, args []string) int {
				return runKVVersions(ctx, c, args, &f, op)
			}
		},
	}
}

// runKVVersions runs undelete and destroy, which both post a list of
// versions to <mount>/<op>/<path>.
func runKVVersions(ctx context.Context, c *call, args []string, f *kvFlags, op string) int {
	if len(args) != 1 {
		return c.usageError("Wrong number of arguments (expected 1, got %d)", len(args))
	}
	if len(f.versions) == 0 {
		return c.usageError("No versions provided, use the \"-versions\" flag to specify the versions to %s.", op)
	}
	cl, ok := c.newClient()
	if !ok {
		return exitServer
	}
	t, ok := c.resolveKV(ctx, cl, f.mount, args[0])
	if !ok {
		return exitServer
	}
	if !t.v2 {
		return c.usageError("%s needs a KV version 2 mount", op)
	}
	p := t.apiPath(op)
	secret, err := cl.Logical().WriteWithContext(ctx, p, map[string]any{"versions": []int(f.versions)})
	if err != nil {
		return c.serverError("writing data to", p, err)
	}
	if secret != nil {
		c.warnings(secret.Warnings)
	}
	return c.success("Data written to: %s", p)
}

func runKVRollback(ctx context.Context, c *call, args []string, f *kvFlags) int {
	if len(args) != 1 {
		return c.usageError("Wrong number of arguments (expected 1, got %d)", len(args))
	}
	if f.version <= 0 {
		return c.usageError("A positive -version to roll back to must be given")
	}
	cl, ok := c.newClient()
	if !ok {
		return exitServer
	}
	t, ok := c.resolveKV(ctx, cl, f.mount, args[0])
	if !ok {
		return exitServer
	}
	if !t.v2 {
		return c.usageError("rollback needs a KV version 2 mount")
	}
	mp := t.apiPath("metadata")
	meta, err := cl.Logical().ReadWithContext(ctx, mp)
	if err != nil {
		return c.serverError("reading", mp, err)
	}
	if meta == nil {
		return c.notFound(mp)
	}
	current, err := strconv.Atoi(formatValue(meta.Data["current_version"]))
	if err != nil {
		fmt.Fprintf(c.env.Stderr, "Error: no current_version in the metadata at %s\n", mp)
		return exitServer
	}
	versions, _ := meta.Data["versions"].(map[string]any)
	v, ok := versions[strconv.Itoa(f.version)].(map[string]any)
	if !ok {
		fmt.Fprintf(c.env.Stderr, "Error: version %d of %s does not exist\n", f.version, t.apiPath("data"))
		return exitServer
	}
	if destroyed, _ := v["destroyed"].(bool); destroyed {
		fmt.Fprintf(c.env.Stderr, "Error: cannot roll back to version %d: it has been destroyed\n", f.version)
		return exitServer
	}
	if dt, _ := v["deletion_time"].(string); dt != "" {
		fmt.Fprintf(c.env.Stderr, "Error: cannot roll back to version %d: it has been deleted\n", f.version)
		return exitServer
	}
	p := t.apiPath("data")
	old, err := cl.Logical().ReadWithDataWithContext(ctx, p, map[string][]string{"version": {strconv.Itoa(f.version)}})
	if err != nil {
		return c.serverError("reading", p, err)
	}
	var data map[string]any
	if old != nil {
		data, _ = old.Data["data"].(map[string]any)
	}
	if data == nil {
		return c.notFound(p)
	}
	secret, err := cl.Logical().WriteWithContext(ctx, p, v2Body(data, current))
	if err != nil {
		return c.serverError("writing data to", p, err)
	}
	return c.printKVWrite(secret, p)
}

package cli

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/hashicorp/vault/api"
)

// metadataFlags are the flags of kv metadata put and patch.
type metadataFlags struct {
	mount              string
	maxVersions        int
	casRequired        bool
	deleteVersionAfter durationFlag
	customMetadata     mapFlag
	lifeFlags
	set map[string]bool
}

func (f *metadataFlags) register(fs *flag.FlagSet) {
	f.customMetadata = mapFlag{}
	fs.StringVar(&f.mount, "mount", "", "The mount of the secret; PATH is then relative to it.")
	fs.IntVar(&f.maxVersions, "max-versions", -1, "Number of versions to keep; 0 uses the mount's setting.")
	fs.BoolVar(&f.casRequired, "cas-required", false, "Require check-and-set on every write of this secret.")
	fs.Var(&f.deleteVersionAfter, "delete-version-after", `Delete versions this long after they are written ("0s": never).`)
	fs.Var(f.customMetadata, "custom-metadata", "Custom metadata KEY=VALUE; may be repeated.")
	f.lifeFlags.register(fs)
}

// body returns the metadata fields given on the command line.
func (f *metadataFlags) body() map[string]any {
	b := map[string]any{}
	if f.set["max-versions"] {
		b["max_versions"] = f.maxVersions
	}
	if f.set["cas-required"] {
		b["cas_required"] = f.casRequired
	}
	if f.set["delete-version-after"] {
		b["delete_version_after"] = f.deleteVersionAfter.apiValue()
	}
	if f.set["custom-metadata"] {
		b["custom_metadata"] = maps.Clone(map[string]string(f.customMetadata))
	}
	f.lifeFlags.addTo(b, f.set)
	return b
}

// kvMetadataCommands are the `kv metadata` group.
func kvMetadataCommands() map[string]*command {
	return map[string]*command{
		"kv metadata get": {
			synopsis: "Retrieves key metadata from the KV store",
			usage:    "[options] PATH",
			help:     `Prints the metadata of the secret at PATH and of each of its versions (KV v2).`,
			server:   true, field: true,
			setup: func(fs *flag.FlagSet) runFunc {
				var f kvFlags
				f.registerMount(fs)
				return func(ctx context.Context, c *call, args []string) int { return runKVMetadataGet(ctx, c, args, &f) }
			},
		},
		"kv metadata put": {
			synopsis: "Sets or updates key settings in the KV store",
			usage:    "[options] PATH",
			help: `Writes the metadata settings of the secret at PATH (KV v2). Only the flags
given are sent.

    $ coffer kv metadata put -max-versions=5 -custom-metadata=owner=ops secret/foo
    $ coffer kv metadata put -ttl=720h -recovery-window-days=7 secret/foo`,
			server: true,
			setup:  metadataWriteSetup(false),
		},
		"kv metadata patch": {
			synopsis: "Patches key settings in the KV store",
			usage:    "[options] PATH",
			help:     `Merges the metadata settings given into those of the secret at PATH (KV v2).`,
			server:   true,
			setup:    metadataWriteSetup(true),
		},
		"kv metadata delete": {
			synopsis: "Deletes all versions and metadata for a key in the KV store",
			usage:    "[options] PATH",
			help: `Deletes the secret at PATH with all its versions (KV v2): permanently, or,
when the secret or its mount has a recovery window, recoverably until the
window ends (coffer write -f MOUNT/recover/PATH brings it back).`,
			server: true,
			setup: func(fs *flag.FlagSet) runFunc {
				var f kvFlags
				f.registerMount(fs)
				return func(ctx context.Context, c *call, args []string) int { return runKVMetadataDelete(ctx, c, args, &f) }
			},
		},
	}
}

// metadataWriteSetup is the setup of "kv metadata put" (patch false) and
// "kv metadata patch".
func metadataWriteSetup(patch bool) func(fs *flag.FlagSet) runFunc {
	return func(fs *flag.FlagSet) runFunc {
		var f metadataFlags
		f.register(fs)
		return func(ctx context.Context, c *call, args []string) int {
			f.set = setFlags(fs)
			return runKVMetadataWrite(ctx, c, args, &f, patch)
		}
	}
}

// resolveV2 resolves a path argument that must be on a KV v2 mount.
func (c *call) resolveV2(ctx context.Context, cl *api.Client, mount string, args []string) (kvTarget, int) {
	if len(args) != 1 {
		return kvTarget{}, c.usageError("Wrong number of arguments (expected 1, got %d)", len(args))
	}
	t, ok := c.resolveKV(ctx, cl, mount, args[0])
	if !ok {
		return kvTarget{}, exitServer
	}
	if !t.v2 {
		return kvTarget{}, c.usageError("Metadata is only supported on KV version 2 mounts")
	}
	return t, exitOK
}

func runKVMetadataGet(ctx context.Context, c *call, args []string, f *kvFlags) int {
	cl, code := c.argsClient(args, 1)
	if cl == nil {
		return code
	}
	t, code := c.resolveV2(ctx, cl, f.mount, args)
	if code != exitOK {
		return code
	}
	p := t.apiPath("metadata")
	secret, err := cl.Logical().ReadWithContext(ctx, p)
	if err != nil {
		return c.serverError("reading", p, err)
	}
	if secret == nil {
		return c.notFound(p)
	}
	if c.field != "" {
		return c.printSecretField(secret, secret.Data)
	}
	if c.format == "json" {
		return c.printJSONOrFail(secret)
	}
	c.warnings(secret.Warnings)
	fmt.Fprintf(c.env.Stdout, "%s\n%s\n\n", sectionHeader("Metadata Path", len(p)), p)
	top := maps.Clone(secret.Data)
	versions, _ := top["versions"].(map[string]any)
	delete(top, "versions")
	c.printSection("Metadata", mapPairs(top))
	nums := make([]int, 0, len(versions))
	for k := range versions {
		if n, err := strconv.Atoi(k); err == nil {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	for _, n := range nums {
		v, _ := versions[strconv.Itoa(n)].(map[string]any)
		fmt.Fprintln(c.env.Stdout)
		c.printSection("Version "+strconv.Itoa(n), mapPairs(v))
	}
	return exitOK
}

func runKVMetadataWrite(ctx context.Context, c *call, args []string, f *metadataFlags, patch bool) int {
	if len(args) != 1 {
		return c.usageError("Wrong number of arguments (expected 1, got %d)", len(args))
	}
	body := f.body()
	if patch && len(body) == 0 {
		return c.usageError("Nothing to patch: give at least one metadata flag")
	}
	cl, ok := c.newClient()
	if !ok {
		return exitServer
	}
	t, code := c.resolveV2(ctx, cl, f.mount, args)
	if code != exitOK {
		return code
	}
	p := t.apiPath("metadata")
	var (
		secret *api.Secret
		err    error
	)
	if patch {
		secret, err = cl.Logical().JSONMergePatch(ctx, p, body)
	} else {
		secret, err = cl.Logical().WriteWithContext(ctx, p, body)
	}
	if err != nil {
		if patch && responseStatus(err) == 404 {
			return c.notFound(p)
		}
		return c.serverError("writing data to", p, err)
	}
	if secret != nil {
		c.warnings(secret.Warnings)
	}
	return c.success("Data written to: %s", p)
}

func runKVMetadataDelete(ctx context.Context, c *call, args []string, f *kvFlags) int {
	cl, code := c.argsClient(args, 1)
	if cl == nil {
		return code
	}
	t, code := c.resolveV2(ctx, cl, f.mount, args)
	if code != exitOK {
		return code
	}
	p := t.apiPath("metadata")
	if _, err := cl.Logical().DeleteWithContext(ctx, p); err != nil {
		return c.serverError("deleting", p, err)
	}
	return c.success("Data deleted (if it existed) at: %s", p)
}

package cli

import (
	"context"
	"flag"
	"maps"
	"strconv"

	"github.com/hashicorp/vault/api"
)

// authCommands are the `auth` group.
func authCommands() map[string]*command {
	return map[string]*command{
		"auth enable": {
			synopsis: "Enable a new auth method",
			usage:    "[options] TYPE",
			help: `Enables an auth method of TYPE at auth/PATH (-path, by default TYPE).

    $ coffer auth enable userpass
    $ coffer auth enable -path=apps -description='service logins' approle`,
			server: true,
			setup: func(fs *flag.FlagSet) runFunc {
				var o authEnableOptions
				o.options = mapFlag{}
				fs.StringVar(&o.path, "path", "", "Where to enable the method, under auth/; defaults to TYPE.")
				fs.StringVar(&o.description, "description", "", "Human-friendly description of the method.")
				fs.Var(&o.defaultTTL, "default-lease-ttl", "Default TTL of the method's tokens (e.g. 30m, 768h or seconds).")
				fs.Var(&o.maxTTL, "max-lease-ttl", "Maximum TTL of the method's tokens.")
				fs.StringVar(&o.listingVisibility, "listing-visibility", "", `"unauth" to list the method to unauthenticated clients, "hidden" otherwise.`)
				fs.StringVar(&o.tokenType, "token-type", "", `Type of the tokens the method issues: "service", "batch" or a default-* variant.`)
				fs.Var(o.options, "options", "Method option KEY=VALUE; may be repeated.")
				fs.BoolVar(&o.local, "local", false, "Do not replicate the method.")
				fs.BoolVar(&o.sealWrap, "seal-wrap", false, "Seal-wrap the method's critical values.")
				return func(ctx context.Context, c *call, args []string) int {
					return runAuthEnable(ctx, c, args, &o)
				}
			},
		},
		"auth disable": {
			synopsis: "Disable an auth method",
			usage:    "[options] PATH",
			help: `Disables the auth method at auth/PATH, revoking every token it issued and
deleting its data.`,
			server: true,
			setup:  func(*flag.FlagSet) runFunc { return runAuthDisable },
		},
		"auth list": {
			synopsis: "List enabled auth methods",
			usage:    "[options]",
			help:     `Lists the enabled auth methods (sys/auth); -detailed adds TTLs, token types, options and more.`,
			server:   true,
			setup: func(fs *flag.FlagSet) runFunc {
				detailed := fs.Bool("detailed", false, "Print more information about each method.")
				return func(ctx context.Context, c *call, args []string) int {
					return runAuthList(ctx, c, args, *detailed)
				}
			},
		},
		"auth tune": {
			synopsis: "Tune an auth method configuration",
			usage:    "[options] PATH",
			help: `Changes the configuration of the auth method at auth/PATH. Only the flags
given are sent. The -user-lockout-* flags set how many failed logins lock a
user out, for how long, and when the failure count resets.

    $ coffer auth tune -user-lockout-threshold=5 -user-lockout-duration=15m userpass/`,
			server: true,
			setup: func(fs *flag.FlagSet) runFunc {
				var o authTuneOptions
				o.options = mapFlag{}
				registerAuthTuneFlags(fs, &o)
				return func(ctx context.Context, c *call, args []string) int {
					o.set = setFlags(fs)
					return runAuthTune(ctx, c, args, &o)
				}
			},
		},
	}
}

// authEnableOptions are the flags of auth enable.
type authEnableOptions struct {
	path, description            string
	defaultTTL, maxTTL           durationFlag
	listingVisibility, tokenType string
	options                      mapFlag
	local, sealWrap              bool
}

func runAuthEnable(ctx context.Context, c *call, args []string, o *authEnableOptions) int {
	if len(args) != 1 {
		return c.usageError("Wrong number of arguments (expected 1, got %d)", len(args))
	}
	method := args[0]
	path := o.path
	if path == "" {
		path = method
	}
	path = ensureTrailingSlash(sanitizePath(path))
	if path == "" {
		return c.usageError("The path must not be empty")
	}
	in := &api.EnableAuthOptions{
		Type:        method,
		Description: o.description,
		Local:       o.local,
		SealWrap:    o.sealWrap,
		Options:     maps.Clone(map[string]string(o.options)),
		Config: api.MountConfigInput{
			DefaultLeaseTTL:   o.defaultTTL.apiValue(),
			MaxLeaseTTL:       o.maxTTL.apiValue(),
			ListingVisibility: o.listingVisibility,
			TokenType:         o.tokenType,
		},
	}
	cl, ok := c.newClient()
	if !ok {
		return exitServer
	}
	if err := cl.Sys().EnableAuthWithOptionsWithContext(ctx, path, in); err != nil {
		return c.serverError("enabling auth method at", path, err)
	}
	return c.success("Enabled %s auth method at: %s", method, path)
}

func runAuthDisable(ctx context.Context, c *call, args []string) int {
	return runDisable(ctx, c, args, disable{
		empty: "The path must not be empty", action: "disabling auth method at",
		done: "Disabled the auth method (if it existed) at: %s", call: (*api.Sys).DisableAuthWithContext,
	})
}

func runAuthList(ctx context.Context, c *call, args []string, detailed bool) int {
	return runMountList(ctx, c, args, detailed, mountList{path: "sys/auth", noun: "auth methods", thing: "auth method", auth: true})
}

// authTuneOptions are the flags of auth tune.
type authTuneOptions struct {
	defaultTTL, maxTTL           durationFlag
	description                  string
	listingVisibility, tokenType string
	options                      mapFlag
	lockoutThreshold             uint
	lockoutDuration              durationFlag
	lockoutCounterReset          durationFlag
	lockoutDisable               bool
	set                          map[string]bool
}

// registerAuthTuneFlags adds the flags of auth tune to fs.
func registerAuthTuneFlags(fs *flag.FlagSet, o *authTuneOptions) {
	fs.Var(&o.defaultTTL, "default-lease-ttl", "Default TTL of the method's tokens.")
	fs.Var(&o.maxTTL, "max-lease-ttl", "Maximum TTL of the method's tokens.")
	fs.StringVar(&o.description, "description", "", "Human-friendly description of the method.")
	fs.StringVar(&o.listingVisibility, "listing-visibility", "", `"unauth" or "hidden".`)
	fs.StringVar(&o.tokenType, "token-type", "", "Type of the tokens the method issues.")
	fs.Var(o.options, "options", "Method option KEY=VALUE; may be repeated.")
	fs.UintVar(&o.lockoutThreshold, "user-lockout-threshold", 0, "Failed logins after which a user is locked out.")
	fs.Var(&o.lockoutDuration, "user-lockout-duration", "How long a lockout lasts.")
	fs.Var(&o.lockoutCounterReset, "user-lockout-counter-reset-duration", "Time after which the failed-login count resets.")
	fs.BoolVar(&o.lockoutDisable, "user-lockout-disable", false, "Turn user lockout off for the method.")
}

// body builds the sys/auth/:path/tune request from the flags given; it is
// empty when no tuning flag was given.
func (o *authTuneOptions) body() map[string]any {
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
	if o.set["listing-visibility"] {
		body["listing_visibility"] = o.listingVisibility
	}
	if o.set["token-type"] {
		body["token_type"] = o.tokenType
	}
	if len(o.options) > 0 {
		body["options"] = maps.Clone(map[string]string(o.options))
	}
	lockout := map[string]any{}
	if o.set["user-lockout-threshold"] {
		lockout["lockout_threshold"] = strconv.FormatUint(uint64(o.lockoutThreshold), 10)
	}
	if o.set["user-lockout-duration"] {
		lockout["lockout_duration"] = o.lockoutDuration.apiValue()
	}
	if o.set["user-lockout-counter-reset-duration"] {
		lockout["lockout_counter_reset_duration"] = o.lockoutCounterReset.apiValue()
	}
	if o.set["user-lockout-disable"] {
		lockout["lockout_disable"] = o.lockoutDisable
	}
	if len(lockout) > 0 {
		body["user_lockout_config"] = lockout
	}
	return body
}

func runAuthTune(ctx context.Context, c *call, args []string, o *authTuneOptions) int {
	if len(args) != 1 {
		return c.usageError("Wrong number of arguments (expected 1, got %d)", len(args))
	}
	path := ensureTrailingSlash(sanitizePath(args[0]))
	if path == "" {
		return c.usageError("The path must not be empty")
	}
	body := o.body()
	if len(body) == 0 {
		return c.usageError("Nothing to tune: give at least one option")
	}
	cl, ok := c.newClient()
	if !ok {
		return exitServer
	}
	if _, err := cl.Logical().WriteWithContext(ctx, "sys/auth/"+path+"tune", body); err != nil {
		return c.serverError("tuning auth method", path, err)
	}
	return c.success("Tuned the auth method at: %s", path)
}

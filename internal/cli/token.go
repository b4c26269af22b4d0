package cli

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/vault/api"
)

// tokenCommands are the `token` group.
func tokenCommands() map[string]*command {
	return map[string]*command{
		"token create": {
			synopsis: "Create a new token",
			usage:    "[options]",
			help: `Creates a token: a child of the calling token (auth/token/create), an orphan
with -orphan (auth/token/create-orphan), or from a token role with -role
(auth/token/create/ROLE). Without -policy the new token gets the calling
token's policies.

    $ coffer token create -policy=app -ttl=1h -metadata=team=payments
    $ coffer token create -field=token -policy=app -use-limit=1`,
			server: true, field: true,
			setup: func(fs *flag.FlagSet) runFunc {
				var o tokenCreateOptions
				o.metadata = mapFlag{}
				registerTokenCreateFlags(fs, &o)
				return func(ctx context.Context, c *call, args []string) int {
					o.set = setFlags(fs)
					return runTokenCreate(ctx, c, args, &o)
				}
			},
		},
		"token lookup": {
			synopsis: "Display information about a token",
			usage:    "[options] [TOKEN | ACCESSOR]",
			help: `Shows a token's properties: the calling token's without TOKEN
(auth/token/lookup-self), another token's with TOKEN (auth/token/lookup), or
the token behind ACCESSOR with -accessor (auth/token/lookup-accessor).

    $ coffer token lookup
    $ coffer token lookup -accessor 8609694a-cdbc-db9b-d345-e782dbb562ed`,
			server: true, field: true,
			setup: func(fs *flag.FlagSet) runFunc {
				accessor := fs.Bool("accessor", false, "Treat the argument as an accessor.")
				return func(ctx context.Context, c *call, args []string) int {
					return runTokenLookup(ctx, c, args, *accessor)
				}
			},
		},
		"token renew": {
			synopsis: "Renew a token lease",
			usage:    "[options] [TOKEN | ACCESSOR]",
			help: `Renews a token: the calling token without TOKEN (auth/token/renew-self),
another with TOKEN (auth/token/renew), or by accessor with -accessor
(auth/token/renew-accessor). The server may grant less than -increment.

    $ coffer token renew -increment=1h`,
			server: true, field: true,
			setup: func(fs *flag.FlagSet) runFunc {
				var o tokenRenewOptions
				fs.Var(&o.increment, "increment", "Requested new TTL from now; the token's own TTL by default.")
				fs.Var(&o.increment, "i", "Alias for -increment.")
				fs.BoolVar(&o.accessor, "accessor", false, "Treat the argument as an accessor.")
				return func(ctx context.Context, c *call, args []string) int {
					return runTokenRenew(ctx, c, args, &o)
				}
			},
		},
		"token revoke": {
			synopsis: "Revoke a token and its children",
			usage:    "[options] [TOKEN | ACCESSOR]",
			help: `Revokes TOKEN and all its children (auth/token/revoke). -self revokes the
calling token, -accessor takes an accessor, -mode=orphan revokes the token
but keeps its children as orphans (auth/token/revoke-orphan), and -mode=path
revokes every token created under the path prefix given as the argument
(sys/leases/revoke-prefix, needs sudo).

    $ coffer token revoke -accessor 8609694a-cdbc-db9b-d345-e782dbb562ed
    $ coffer token revoke -mode=path auth/userpass/`,
			server: true,
			setup: func(fs *flag.FlagSet) runFunc {
				var o tokenRevokeOptions
				fs.BoolVar(&o.self, "self", false, "Revoke the calling token.")
				fs.BoolVar(&o.accessor, "accessor", false, "Treat the argument as an accessor.")
				fs.StringVar(&o.mode, "mode", "", `"orphan" to keep the token's children, "path" to revoke by creation path prefix.`)
				return func(ctx context.Context, c *call, args []string) int {
					return runTokenRevoke(ctx, c, args, &o)
				}
			},
		},
		"token capabilities": {
			synopsis: "Print capabilities of a token on a path",
			usage:    "[options] [TOKEN | ACCESSOR] PATH",
			help: `Prints what a token may do on PATH: the calling token's without TOKEN
(sys/capabilities-self), another token's with TOKEN (sys/capabilities), or
the token behind ACCESSOR with -accessor (sys/capabilities-accessor).

    $ coffer token capabilities secret/data/foo
    read, list`,
			server: true,
			setup: func(fs *flag.FlagSet) runFunc {
				accessor := fs.Bool("accessor", false, "Treat the first argument as an accessor.")
				return func(ctx context.Context, c *call, args []string) int {
					return runTokenCapabilities(ctx, c, args, *accessor)
				}
			},
		},
	}
}

// tokenCreateOptions are the flags of token create.
type tokenCreateOptions struct {
	id, displayName, role, tokenType, entityAlias string
	ttl, explicitMaxTTL, period                   durationFlag
	renewable, orphan, noDefaultPolicy            bool
	useLimit                                      int
	policies                                      stringListFlag
	metadata                                      mapFlag
	set                                           map[string]bool
}

// registerTokenCreateFlags adds the flags of token create to fs.
func registerTokenCreateFlags(fs *flag.FlagSet, o *tokenCreateOptions) {
	fs.StringVar(&o.id, "id", "", "ID of the new token (root only); random by default.")
	fs.StringVar(&o.displayName, "display-name", "", "Name attached to the token.")
	fs.Var(&o.ttl, "ttl", "Initial TTL of the token (e.g. 30m, 768h or seconds).")
	fs.Var(&o.explicitMaxTTL, "explicit-max-ttl", "Hard limit on the token's lifetime, renewals included.")
	fs.Var(&o.period, "period", "Make a periodic token, renewed to this period each time.")
	fs.BoolVar(&o.renewable, "renewable", true, "Allow the token to be renewed.")
	fs.BoolVar(&o.orphan, "orphan", false, "Create the token with no parent (needs sudo or root).")
	fs.BoolVar(&o.noDefaultPolicy, "no-default-policy", false, `Do not attach the "default" policy.`)
	fs.IntVar(&o.useLimit, "use-limit", 0, "Number of uses after which the token is revoked; 0 is unlimited.")
	fs.IntVar(&o.useLimit, "num-uses", 0, "Alias for -use-limit.")
	fs.StringVar(&o.role, "role", "", "Create the token from this token role.")
	fs.StringVar(&o.tokenType, "type", "service", `Token type: "service" or "batch".`)
	fs.Var(&o.policies, "policy", "Policy to attach; may be repeated or comma-separated.")
	fs.Var(o.metadata, "metadata", "Metadata KEY=VALUE; may be repeated.")
	fs.StringVar(&o.entityAlias, "entity-alias", "", "Entity alias to bind the token to (with -role).")
}

// request builds the API request from the flags. Only flags given are
// sent, so the server's defaults apply to the rest.
func (o *tokenCreateOptions) request() *api.TokenCreateRequest {
	req := &api.TokenCreateRequest{
		ID:              o.id,
		Policies:        o.policies,
		DisplayName:     o.displayName,
		TTL:             o.ttl.apiValue(),
		ExplicitMaxTTL:  o.explicitMaxTTL.apiValue(),
		Period:          o.period.apiValue(),
		NoParent:        o.orphan,
		NoDefaultPolicy: o.noDefaultPolicy,
		NumUses:         o.useLimit,
		EntityAlias:     o.entityAlias,
	}
	if len(o.metadata) > 0 {
		req.Metadata = map[string]string(o.metadata)
	}
	if o.set["renewable"] {
		req.Renewable = &o.renewable
	}
	if o.set["type"] {
		req.Type = o.tokenType
	}
	return req
}

func runTokenCreate(ctx context.Context, c *call, args []string, o *tokenCreateOptions) int {
	if len(args) != 0 {
		return c.usageError("Too many arguments (expected 0, got %d)", len(args))
	}
	if o.useLimit < 0 {
		return c.usageError("-use-limit must not be negative")
	}
	if o.set["type"] && o.tokenType != "service" && o.tokenType != "batch" {
		return c.usageError(`Invalid token type %q (valid types are "service" and "batch")`, o.tokenType)
	}
	req := o.request()
	cl, ok := c.newClient()
	if !ok {
		return exitServer
	}
	var (
		secret *api.Secret
		err    error
		path   = "auth/token/create"
	)
	switch {
	case o.role != "":
		path += "/" + o.role
		secret, err = cl.Auth().Token().CreateWithRoleWithContext(ctx, req, o.role)
	case o.orphan:
		path = "auth/token/create-orphan"
		secret, err = cl.Auth().Token().CreateOrphanWithContext(ctx, req)
	default:
		secret, err = cl.Auth().Token().CreateWithContext(ctx, req)
	}
	if err != nil {
		return c.serverError("creating token with", path, err)
	}
	if secret == nil || secret.Auth == nil {
		fmt.Fprintln(c.env.Stderr, "Error creating token: the response holds no token")
		return exitServer
	}
	return c.printSecret(secret)
}

func runTokenLookup(ctx context.Context, c *call, args []string, accessor bool) int {
	switch {
	case accessor && len(args) != 1:
		return c.usageError("Wrong number of arguments with -accessor (expected 1, got %d)", len(args))
	case len(args) > 1:
		return c.usageError("Too many arguments (expected 0 or 1, got %d)", len(args))
	}
	cl, ok := c.newClient()
	if !ok {
		return exitServer
	}
	var (
		secret *api.Secret
		err    error
		path   string
	)
	switch {
	case accessor:
		path = "auth/token/lookup-accessor"
		secret, err = cl.Auth().Token().LookupAccessorWithContext(ctx, args[0])
	case len(args) == 1:
		path = "auth/token/lookup"
		secret, err = cl.Auth().Token().LookupWithContext(ctx, args[0])
	default:
		path = "auth/token/lookup-self"
		secret, err = cl.Auth().Token().LookupSelfWithContext(ctx)
	}
	if err != nil {
		return c.serverError("looking up token with", path, err)
	}
	if secret == nil {
		return c.notFound(path)
	}
	return c.printSecret(secret)
}

// tokenRenewOptions are the flags of token renew.
type tokenRenewOptions struct {
	increment durationFlag
	accessor  bool
}

func runTokenRenew(ctx context.Context, c *call, args []string, o *tokenRenewOptions) int {
	switch {
	case o.accessor && len(args) != 1:
		return c.usageError("Wrong number of arguments with -accessor (expected 1, got %d)", len(args))
	case len(args) > 1:
		return c.usageError("Too many arguments (expected 0 or 1, got %d)", len(args))
	}
	inc := int(o.increment.d.Seconds())
	cl, ok := c.newClient()
	if !ok {
		return exitServer
	}
	var (
		secret *api.Secret
		err    error
		path   string
	)
	switch {
	case o.accessor:
		path = "auth/token/renew-accessor"
		secret, err = cl.Auth().Token().RenewAccessorWithContext(ctx, args[0], inc)
	case len(args) == 1:
		path = "auth/token/renew"
		secret, err = cl.Auth().Token().RenewWithContext(ctx, args[0], inc)
	default:
		path = "auth/token/renew-self"
		secret, err = cl.Auth().Token().RenewSelfWithContext(ctx, inc)
	}
	if err != nil {
		return c.serverError("renewing token with", path, err)
	}
	if secret == nil {
		fmt.Fprintln(c.env.Stderr, "Error renewing token: empty response from server")
		return exitServer
	}
	return c.printSecret(secret)
}

// tokenRevokeOptions are the flags of token revoke.
type tokenRevokeOptions struct {
	self, accessor bool
	mode           string
}

// check returns the usage problem with the flags and n arguments, or "".
func (o *tokenRevokeOptions) check(n int) string {
	switch {
	case o.mode != "" && o.mode != "orphan" && o.mode != "path":
		return fmt.Sprintf(`Invalid -mode %q (valid modes are "orphan" and "path")`, o.mode)
	case o.self && n > 0:
		return fmt.Sprintf("Too many arguments with -self (expected 0, got %d)", n)
	case !o.self && n > 1:
		return fmt.Sprintf("Too many arguments (expected 1 or -self, got %d)", n)
	case !o.self && n == 0:
		return "Not enough arguments (expected 1 or -self, got 0)"
	case o.self && o.accessor:
		return "-self and -accessor cannot be used together"
	case o.self && o.mode != "":
		return "-self and -mode cannot be used together"
	case o.accessor && o.mode != "":
		return "-accessor and -mode cannot be used together"
	}
	return ""
}

func runTokenRevoke(ctx context.Context, c *call, args []string, o *tokenRevokeOptions) int {
	if msg := o.check(len(args)); msg != "" {
		return c.usageError("%s", msg)
	}
	cl, ok := c.newClient()
	if !ok {
		return exitServer
	}
	var (
		err  error
		path string
	)
	switch {
	case o.self:
		path = "auth/token/revoke-self"
		err = cl.Auth().Token().RevokeSelfWithContext(ctx, "")
	case o.accessor:
		path = "auth/token/revoke-accessor"
		err = cl.Auth().Token().RevokeAccessorWithContext(ctx, args[0])
	case o.mode == "orphan":
		path = "auth/token/revoke-orphan"
		err = cl.Auth().Token().RevokeOrphanWithContext(ctx, args[0])
	case o.mode == "path":
		prefix := sanitizePath(args[0])
		path = "sys/leases/revoke-prefix/" + prefix
		err = cl.Sys().RevokePrefixWithContext(ctx, prefix)
	default:
		path = "auth/token/revoke"
		err = cl.Auth().Token().RevokeTreeWithContext(ctx, args[0])
	}
	if err != nil {
		return c.serverError("revoking token with", path, err)
	}
	return c.success("Revoked token (if it existed)")
}

func runTokenCapabilities(ctx context.Context, c *call, args []string, accessor bool) int {
	switch {
	case accessor && len(args) != 2:
		return c.usageError("Wrong number of arguments with -accessor (expected 2, got %d)", len(args))
	case len(args) < 1:
		return c.usageError("Not enough arguments (expected 1-2, got 0)")
	case len(args) > 2:
		return c.usageError("Too many arguments (expected 1-2, got %d)", len(args))
	}
	cl, ok := c.newClient()
	if !ok {
		return exitServer
	}
	var (
		caps     []string
		err      error
		endpoint string
	)
	switch {
	case accessor:
		endpoint = "sys/capabilities-accessor"
		caps, err = cl.Sys().CapabilitiesAccessorWithContext(ctx, args[0], sanitizePath(args[1]))
	case len(args) == 2:
		endpoint = "sys/capabilities"
		caps, err = cl.Sys().CapabilitiesWithContext(ctx, args[0], sanitizePath(args[1]))
	default:
		endpoint = "sys/capabilities-self"
		caps, err = cl.Sys().CapabilitiesSelfWithContext(ctx, sanitizePath(args[0]))
	}
	if err != nil {
		return c.serverError("listing capabilities with", endpoint, err)
	}
	if caps == nil {
		caps = []string{}
	}
	slices.Sort(caps)
	if c.format == "json" {
		return c.printJSONOrFail(caps)
	}
	fmt.Fprintln(c.env.Stdout, strings.Join(caps, ", "))
	return exitOK
}

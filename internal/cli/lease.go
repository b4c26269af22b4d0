package cli

import (
	"context"
	"flag"
	"time"
)

// leaseCommands are `coffer lease lookup|renew|revoke`.
func leaseCommands() map[string]*command {
	return map[string]*command{
		"lease": {synopsis: "Interact with leases"},
		"lease lookup": {
			synopsis: "Look up a lease",
			usage:    "[options] LEASE_ID",
			help: `Prints a lease's issue and expiry times, its TTL and whether it can be
renewed (sys/leases/lookup).

    $ coffer lease lookup database/creds/app/2f7VxQ...`,
			server: true,
			setup:  func(*flag.FlagSet) runFunc { return runLeaseLookup },
		},
		"lease renew": {
			synopsis: "Renew a lease",
			usage:    "[options] LEASE_ID",
			help: `Extends a lease by -increment (default: its original TTL), capped by its
maximum TTL (sys/leases/renew).

    $ coffer lease renew -increment=1h database/creds/app/2f7VxQ...`,
			server: true,
			setup: func(fs *flag.FlagSet) runFunc {
				inc := new(durationFlag)
				fs.Var(inc, "increment", "how long to extend the lease by, e.g. 1h")
				fs.Var(inc, "i", "alias of -increment")
				return func(ctx context.Context, c *call, args []string) int { return runLeaseRenew(ctx, c, args, inc.d) }
			},
		},
		"lease revoke": {
			synopsis: "Revoke a lease or every lease under a prefix",
			usage:    "[options] ID",
			help: `Revokes the lease ID in the system it came from (sys/leases/revoke). With
-prefix, revokes every lease whose ID starts with ID (needs sudo); with
-force as well, leases are removed even when their backend cannot revoke
them.

    $ coffer lease revoke database/creds/app/2f7VxQ...
    $ coffer lease revoke -prefix database/creds/app`,
			server: true,
			setup: func(fs *flag.FlagSet) runFunc {
				var prefix, force bool
				fs.BoolVar(&prefix, "prefix", false, "treat ID as a prefix")
				fs.BoolVar(&force, "force", false, "with -prefix: remove leases even when the backend cannot revoke them")
				fs.BoolVar(&force, "f", false, "alias of -force")
				return func(ctx context.Context, c *call, args []string) int {
					return runLeaseRevoke(ctx, c, args, prefix, force)
				}
			},
		},
	}
}

func runLeaseLookup(ctx context.Context, c *call, args []string) int {
	cl, code := c.argsClient(args, 1)
	if cl == nil {
		return code
	}
	sec, err := cl.Logical().WriteWithContext(ctx, "sys/leases/lookup", map[string]any{"lease_id": args[0]})
	if err != nil {
		return c.serverError("looking up lease", args[0], err)
	}
	return c.printSecret(sec)
}

func runLeaseRenew(ctx context.Context, c *call, args []string, inc time.Duration) int {
	cl, code := c.argsClient(args, 1)
	if cl == nil {
		return code
	}
	sec, err := cl.Sys().RenewWithContext(ctx, args[0], int(inc/time.Second))
	if err != nil {
		return c.serverError("renewing lease", args[0], err)
	}
	if sec == nil {
		return c.notFound(args[0])
	}
	// A Key/Value table of lease_id, lease_duration and lease_renewable,
	// as for any response that carries a lease.
	return c.printSecret(sec)
}

func runLeaseRevoke(ctx context.Context, c *call, args []string, prefix, force bool) int {
	if len(args) != 1 {
		return c.usageError("Wrong number of arguments (expected 1, got %d)", len(args))
	}
	if force && !prefix {
		return c.usageError("-force needs -prefix")
	}
	cl, ok := c.newClient()
	if !ok {
		return exitServer
	}
	var err error
	switch {
	case force:
		err = cl.Sys().RevokeForceWithContext(ctx, args[0])
	case prefix:
		err = cl.Sys().RevokePrefixWithContext(ctx, args[0])
	default:
		err = cl.Sys().RevokeWithContext(ctx, args[0])
	}
	if err != nil {
		return c.serverError("revoking", args[0], err)
	}
	if prefix {
		return c.success("All revocation operations queued successfully!")
	}
	return c.success("Revoked lease: %s", args[0])
}

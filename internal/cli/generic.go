package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/vault/api"
)

// genericCommands are the path-level commands: read, write, delete, list and
// login.
func genericCommands() map[string]*command {
	return map[string]*command{
		"read": {
			synopsis: "Read data and retrieve secrets",
			usage:    "[options] PATH [KEY=VALUE ...]",
			help: `Reads data from the server at PATH. KEY=VALUE arguments are sent as
query parameters.

    $ coffer read -field=value sys/mounts/secret/tune`,
			server: true, field: true,
			setup: func(*flag.FlagSet) runFunc { return runRead },
		},
		"write": {
			synopsis: "Write data, configuration, and secrets",
			usage:    "[options] PATH [DATA K=V...]",
			help: `Writes data to the server at PATH. Data is given as KEY=VALUE pairs;
a value of "@file" reads the value from a file and "-" from stdin; a lone
"-" reads a JSON object of all the data from stdin.

    $ coffer write secret/foo value=bar
    $ echo '{"value":"bar"}' | coffer write secret/foo -`,
			server: true, field: true,
			setup: func(fs *flag.FlagSet) runFunc {
				force := fs.Bool("force", false, "Allow the write with no data.")
				fs.BoolVar(force, "f", false, "Alias for -force.")
				return func(ctx context.Context, c *call, args []string) int {
					return runWrite(ctx, c, args, *force)
				}
			},
		},
		"delete": {
			synopsis: "Delete secrets and configuration",
			usage:    "[options] PATH [KEY=VALUE ...]",
			help:     `Deletes the data at PATH. KEY=VALUE arguments are sent as query parameters.`,
			server:   true,
			setup:    func(*flag.FlagSet) runFunc { return runDelete },
		},
		"list": {
			synopsis: "List data or secrets",
			usage:    "[options] PATH",
			help:     `Lists the keys under PATH. Keys ending in "/" are folders.`,
			server:   true,
			setup:    func(*flag.FlagSet) runFunc { return runList },
		},
		"login": {
			synopsis: "Authenticate locally with a token",
			usage:    "[options] [TOKEN]",
			help: `Checks TOKEN with auth/token/lookup-self and stores it in ~/.coffer-token,
where later commands find it when COFFER_TOKEN and VAULT_TOKEN are unset.
Without TOKEN, or with "-", the token is read from stdin (or prompted for on a
terminal).`,
			server: true, field: true,
			setup: func(fs *flag.FlagSet) runFunc {
				noStore := fs.Bool("no-store", false, "Do not store the token in the token file.")
				return func(ctx context.Context, c *call, args []string) int {
					return runLogin(ctx, c, args, *noStore)
				}
			},
		},
	}
}

// queryParams turns KEY=VALUE arguments into query parameters.
func (c *call) queryParams(args []string) (map[string][]string, error) {
	data, err := c.parseData(args)
	if err != nil {
		return nil, err
	}
	q := make(map[string][]string, len(data))
	for k, v := range data {
		if list, ok := v.([]any); ok {
			for _, item := range list {
				q[k] = append(q[k], formatValue(item))
			}
			continue
		}
		q[k] = []string{formatValue(v)}
	}
	return q, nil
}

// parseData parses KEY=VALUE data arguments with the call's stdin.
func (c *call) parseData(args []string) (map[string]any, error) {
	p := &dataParser{stdin: c.env.Stdin, readFile: os.ReadFile}
	return p.parse(args)
}

func runRead(ctx context.Context, c *call, args []string) int {
	if len(args) < 1 {
		return c.usageError("Not enough arguments (expected at least 1, got %d)", len(args))
	}
	path := sanitizePath(args[0])
	query, err := c.queryParams(args[1:])
	if err != nil {
		return c.usageError("Failed to parse K=V data: %v", err)
	}
	cl, ok := c.newClient()
	if !ok {
		return exitServer
	}
	secret, err := cl.Logical().ReadWithDataWithContext(ctx, path, query)
	if err != nil {
		return c.serverError("reading", path, err)
	}
	if secret == nil {
		return c.notFound(path)
	}
	return c.printSecret(secret)
}

func runWrite(ctx context.Context, c *call, args []string, force bool) int {
	if len(args) < 1 {
		return c.usageError("Not enough arguments (expected at least 1, got %d)", len(args))
	}
	path := sanitizePath(args[0])
	data, err := c.parseData(args[1:])
	if err != nil {
		return c.usageError("Failed to parse K=V data: %v", err)
	}
	if len(data) == 0 && !force {
		return c.usageError("Must supply data or use -force")
	}
	cl, ok := c.newClient()
	if !ok {
		return exitServer
	}
	secret, err := cl.Logical().WriteWithContext(ctx, path, data)
	if err != nil {
		return c.serverError("writing", path, err)
	}
	if secret == nil || (len(secret.Data) == 0 && secret.Auth == nil && secret.LeaseID == "") {
		if secret != nil {
			c.warnings(secret.Warnings)
		}
		if c.field != "" {
			fmt.Fprintf(c.env.Stderr, "Field %q not present in secret\n", c.field)
			return exitUsage
		}
		return c.success("Data written to: %s", path)
	}
	return c.printSecret(secret)
}

func runDelete(ctx context.Context, c *call, args []string) int {
	if len(args) < 1 {
		return c.usageError("Not enough arguments (expected at least 1, got %d)", len(args))
	}
	path := sanitizePath(args[0])
	query, err := c.queryParams(args[1:])
	if err != nil {
		return c.usageError("Failed to parse K=V data: %v", err)
	}
	cl, ok := c.newClient()
	if !ok {
		return exitServer
	}
	secret, err := cl.Logical().DeleteWithDataWithContext(ctx, path, query)
	if err != nil {
		return c.serverError("deleting", path, err)
	}
	if secret != nil {
		c.warnings(secret.Warnings)
	}
	return c.success("Data deleted (if it existed) at: %s", path)
}

func runList(ctx context.Context, c *call, args []string) int {
	if len(args) != 1 {
		return c.usageError("Wrong number of arguments (expected 1, got %d)", len(args))
	}
	path := sanitizePath(args[0])
	cl, ok := c.newClient()
	if !ok {
		return exitServer
	}
	secret, err := cl.Logical().ListWithContext(ctx, path)
	if err != nil {
		return c.serverError("listing", path, err)
	}
	return c.printList(secret, path)
}

func runLogin(ctx context.Context, c *call, args []string, noStore bool) int {
	if len(args) > 1 {
		return c.usageError("Too many arguments (expected 0 or 1, got %d)", len(args))
	}
	var token string
	if len(args) == 1 && args[0] != "-" {
		token = args[0]
	} else {
		t, err := c.readSecretLine("Token (will be hidden): ")
		if err != nil {
			return c.usageError("Error reading token: %v", err)
		}
		token = t
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return c.usageError("A token must be given")
	}
	cl, ok := c.newClient()
	if !ok {
		return exitServer
	}
	cl.SetToken(token)
	secret, err := cl.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil {
		return c.serverError("looking up token with", "auth/token/lookup-self", err)
	}
	if secret == nil || secret.Data == nil {
		fmt.Fprintln(c.env.Stderr, "Error looking up token: empty response from server")
		return exitServer
	}
	if !noStore {
		path := c.tokenPath()
		if path == "" {
			fmt.Fprintln(c.env.Stderr, "Error storing token: HOME is not set")
			return exitUsage
		}
		if err := os.WriteFile(path, []byte(token), 0o600); err != nil {
			fmt.Fprintf(c.env.Stderr, "Error storing token: %v\n", err)
			return exitUsage
		}
	}
	// Present the lookup as a login result, as the vault binary does.
	auth := &api.SecretAuth{ClientToken: token}
	if v, ok := secret.Data["accessor"].(string); ok {
		auth.Accessor = v
	}
	if ttl, err := secret.TokenTTL(); err == nil {
		auth.LeaseDuration = int(ttl.Seconds())
	}
	if r, err := secret.TokenIsRenewable(); err == nil {
		auth.Renewable = r
	}
	if p, err := secret.TokenPolicies(); err == nil {
		auth.TokenPolicies = p
		auth.Policies = p
	}
	out := &api.Secret{Auth: auth}
	if c.field != "" {
		return c.printSecretField(out, nil)
	}
	if c.format == "json" {
		return c.printJSONOrFail(out)
	}
	if noStore {
		fmt.Fprintln(c.env.Stdout, "Success! The token is valid; it was not stored (-no-store).")
	} else {
		fmt.Fprintln(c.env.Stdout, "Success! You are now authenticated. The token is stored in ~/"+tokenFile+";\nlater commands use it when COFFER_TOKEN and VAULT_TOKEN are unset.")
	}
	fmt.Fprintln(c.env.Stdout)
	return c.printSecret(out)
}

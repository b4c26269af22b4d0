package cli

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/hashicorp/vault/api"
)

// genericCommands are the path-level commands: read, write, delete and
// list.
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

// pathQuery parses the arguments "PATH [K=V...]" of read and delete, the
// K=V pairs as query parameters, and builds the client. A nil client
// means the command must stop with the returned exit code.
func (c *call) pathQuery(args []string) (string, map[string][]string, *api.Client, int) {
	if len(args) < 1 {
		return "", nil, nil, c.usageError("Not enough arguments (expected at least 1, got %d)", len(args))
	}
	query, err := c.queryParams(args[1:])
	if err != nil {
		return "", nil, nil, c.usageError("Failed to parse K=V data: %v", err)
	}
	cl, ok := c.newClient()
	if !ok {
		return "", nil, nil, exitServer
	}
	return sanitizePath(args[0]), query, cl, exitOK
}

func runRead(ctx context.Context, c *call, args []string) int {
	path, query, cl, code := c.pathQuery(args)
	if cl == nil {
		return code
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
	path, query, cl, code := c.pathQuery(args)
	if cl == nil {
		return code
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
	cl, code := c.argsClient(args, 1)
	if cl == nil {
		return code
	}
	path := sanitizePath(args[0])
	secret, err := cl.Logical().ListWithContext(ctx, path)
	if err != nil {
		return c.serverError("listing", path, err)
	}
	return c.printList(secret, path)
}

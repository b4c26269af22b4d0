package cli

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/hashicorp/vault/api"
)

// auditDeviceCommands are `coffer audit enable|disable|list`, the vault
// binary's commands for audit devices (sys/audit).
func auditDeviceCommands() map[string]*command {
	return map[string]*command{
		"audit enable": {
			synopsis: "Enable an audit device",
			usage:    "[options] TYPE [KEY=VALUE ...]",
			help: `Enables an audit device of TYPE ("file" or "socket") at -path (by
default, at TYPE). The device's options follow as KEY=VALUE; a value of
"@file" reads it from a file and "-" from stdin. A file device writes
under the server's audit_allowed_dirs.

    $ coffer audit enable file file_path=/var/log/coffer/audit.log
    $ coffer audit enable -path=net -description="to the collector" socket address=10.0.0.5:9090`,
			server: true,
			setup: func(fs *flag.FlagSet) runFunc {
				var o auditEnableOptions
				fs.StringVar(&o.path, "path", "", "Where to enable the device; defaults to TYPE.")
				fs.StringVar(&o.description, "description", "", "Human-friendly description of the device.")
				fs.BoolVar(&o.local, "local", false, "Mark the device as local to this cluster (not replicated).")
				return func(ctx context.Context, c *call, args []string) int { return runAuditEnable(ctx, c, args, &o) }
			},
		},
		"audit disable": {
			synopsis: "Disable an audit device",
			usage:    "[options] PATH",
			help: `Disables the audit device at PATH. Its log file stays where it is.
Disabling a path where no device is enabled succeeds.

    $ coffer audit disable file/`,
			server: true,
			setup:  func(*flag.FlagSet) runFunc { return runAuditDisable },
		},
		"audit list": {
			synopsis: "List enabled audit devices",
			usage:    "[options]",
			help: `Lists the enabled audit devices; -detailed adds replication and options.
Exits 2 when no device is enabled (table output).

    $ coffer audit list -detailed`,
			server: true,
			setup: func(fs *flag.FlagSet) runFunc {
				detailed := fs.Bool("detailed", false, "Print the replication and options of each device.")
				return func(ctx context.Context, c *call, args []string) int { return runAuditList(ctx, c, args, *detailed) }
			},
		},
	}
}

// auditEnableOptions are the flags of audit enable.
type auditEnableOptions struct {
	path, description string
	local             bool
}

func runAuditEnable(ctx context.Context, c *call, args []string, o *auditEnableOptions) int {
	if len(args) < 1 {
		return c.usageError("Not enough arguments (expected at least 1, got %d)", len(args))
	}
	typ := strings.TrimSpace(args[0])
	options, err := c.stringOptions(args[1:])
	if err != nil {
		return c.usageError("Failed to parse K=V data: %v", err)
	}
	path := o.path
	if path == "" {
		path = typ
	}
	path = ensureTrailingSlash(sanitizePath(path))
	cl, ok := c.newClient()
	if !ok {
		return exitServer
	}
	in := &api.EnableAuditOptions{Type: typ, Description: o.description, Options: options, Local: o.local}
	if err := cl.Sys().EnableAuditWithOptionsWithContext(ctx, path, in); err != nil {
		return c.serverError("enabling audit device at", path, err)
	}
	return c.success("Enabled the %s audit device at: %s", typ, path)
}

// stringOptions parses KEY=VALUE arguments into string options. A value
// from a JSON file or stdin may be a number or a boolean; a list, an object
// or a key given twice is an error.
func (c *call) stringOptions(args []string) (map[string]string, error) {
	data, err := c.parseData(args)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(data))
	for k, v := range data {
		switch v.(type) {
		case []any:
			return nil, fmt.Errorf("option %q is given more than once or is a list", k)
		case map[string]any:
			return nil, fmt.Errorf("option %q must be a string, not an object", k)
		}
		out[k] = formatValue(v)
	}
	return out, nil
}

func runAuditDisable(ctx context.Context, c *call, args []string) int {
	return runDisable(ctx, c, args, disable{
		empty: "The audit device path must not be empty", action: "disabling audit device at",
		done: "Disabled audit device (if it was enabled) at: %s", call: (*api.Sys).DisableAuditWithContext,
	})
}

func runAuditList(ctx context.Context, c *call, args []string, detailed bool) int {
	cl, code := c.argsClient(args, 0)
	if cl == nil {
		return code
	}
	devices, err := cl.Sys().ListAuditWithContext(ctx)
	if err != nil {
		return c.serverError("listing audit devices at", "sys/audit", err)
	}
	if c.format == "json" {
		return c.printJSONOrFail(devices)
	}
	if len(devices) == 0 {
		fmt.Fprintln(c.env.Stdout, "No audit devices are enabled.")
		return exitServer
	}
	rows := [][]string{{"Path", "Type", "Description"}, {"----", "----", "-----------"}}
	if detailed {
		rows = [][]string{
			{"Path", "Type", "Description", "Replication", "Options"},
			{"----", "----", "-----------", "-----------", "-------"},
		}
	}
	for _, path := range slices.Sorted(maps.Keys(devices)) {
		d := devices[path]
		row := []string{path, d.Type, d.Description}
		if detailed {
			replication := "replicated"
			if d.Local {
				replication = "local"
			}
			opts := make([]string, 0, len(d.Options))
			for _, k := range slices.Sorted(maps.Keys(d.Options)) {
				opts = append(opts, k+"="+d.Options[k])
			}
			row = append(row, replication, strings.Join(opts, " "))
		}
		rows = append(rows, row)
	}
	t, _ := table(rows)
	fmt.Fprint(c.env.Stdout, t)
	return exitOK
}

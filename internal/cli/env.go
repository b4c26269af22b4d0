package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strings"
)

func envCommand() *command {
	return &command{
		synopsis: "Print secrets as environment variables for local development",
		usage:    "[options] PATH...",
		help: `Reads the secrets at each PATH and prints every key as a variable named
after it in upper case, for local development:

    $ eval "$(coffer env secret/app)"

-format=sh (the default) prints export NAME='value' lines quoted for
POSIX shells; dotenv prints NAME="value" lines; json prints one object.
Later paths win over earlier ones. A warning goes to stderr when stdout is
a terminal: the values are then on screen.`,
		setup: func(fs *flag.FlagSet) runFunc {
			format := fs.String("format", "sh", `Output format: "sh", "dotenv" or "json".`)
			var sf serverFlagValues
			sf.register(fs)
			return func(ctx context.Context, c *call, args []string) int {
				sf.apply(c)
				return runEnv(ctx, c, args, *format)
			}
		},
	}
}

// serverFlagValues are the connection flags of a command whose -format
// flag is its own.
type serverFlagValues struct {
	address, caCert, caPath string
	skipVerify              bool
}

func (v *serverFlagValues) register(fs *flag.FlagSet) {
	fs.StringVar(&v.address, "address", "", "Address of the server; overrides COFFER_ADDR and VAULT_ADDR.")
	fs.StringVar(&v.caCert, "ca-cert", "", "Path to a PEM-encoded CA certificate; overrides COFFER_CACERT and VAULT_CACERT.")
	fs.StringVar(&v.caPath, "ca-path", "", "Path to a directory of PEM-encoded CA certificates; overrides COFFER_CAPATH and VAULT_CAPATH.")
	fs.BoolVar(&v.skipVerify, "tls-skip-verify", false, "Do not verify the server's TLS certificate. Insecure.")
}

func (v *serverFlagValues) apply(c *call) {
	c.address, c.caCert, c.caPath, c.skipVerify = v.address, v.caCert, v.caPath, v.skipVerify
}

func runEnv(ctx context.Context, c *call, args []string, format string) int {
	if len(args) == 0 {
		return c.usageError("Give at least one PATH")
	}
	switch format {
	case "sh", "dotenv", "json":
	default:
		return c.usageError("Invalid -format %q (valid formats are \"sh\", \"dotenv\" and \"json\")", format)
	}
	cl, ok := c.newClient()
	if !ok {
		return exitServer
	}
	env, err := fetchEnv(ctx, cl, nil, args)
	if err != nil {
		fmt.Fprintf(c.env.Stderr, "Error reading secrets: %v\n", err)
		return exitServer
	}
	if isTerminal(c.env.Stdout) {
		fmt.Fprintln(c.env.Stderr, "WARNING! Secret values are being printed to a terminal. Use this for local development only.")
	}
	fmt.Fprint(c.env.Stdout, formatEnv(env, format))
	return exitOK
}

// formatEnv renders env in format ("sh", "dotenv" or "json"), sorted by
// name.
func formatEnv(env map[string]string, format string) string {
	var b strings.Builder
	switch format {
	case "json":
		out, _ := json.MarshalIndent(env, "", "  ")
		b.Write(out)
		b.WriteByte('\n')
	case "dotenv":
		for _, k := range slices.Sorted(maps.Keys(env)) {
			fmt.Fprintf(&b, "%s=%s\n", k, dotenvQuote(env[k]))
		}
	default:
		for _, k := range slices.Sorted(maps.Keys(env)) {
			fmt.Fprintf(&b, "export %s=%s\n", k, shellQuote(env[k]))
		}
	}
	return b.String()
}

// shellQuote quotes s for a POSIX shell: single quotes, with each single
// quote written as '\”. Nothing inside single quotes is expanded.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// dotenvQuote quotes s in double quotes with backslash escapes for the
// characters dotenv readers interpret.
func dotenvQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "$", `\$`, "`", "\\`")
	return `"` + r.Replace(s) + `"`
}

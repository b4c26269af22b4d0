package diagnose

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
)

const usage = `Usage: coffer operator diagnose -config FILE

  Checks what a server started with FILE needs, before starting it: the
  configuration, the storage (reachable, not held by a migration, and
  whether it is initialized), each listener (address free, TLS certificate
  and key that parse and match, expiry), the seal and the audit devices'
  paths. One line per check: [ ok ], [warn] or [fail]. The exit code is 2
  when a check fails, 0 otherwise. Run it with the server stopped: a
  running server holds its addresses and its bolt file, which shows as
  warnings.

Options:
`

// Run runs the command with args (the words after "operator diagnose")
// and returns the exit code: 0 when no check failed, 1 for a usage error,
// 2 when a check failed.
func (c Command) Run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("operator diagnose", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	configFile := fs.String("config", "", "the server configuration file (HCL) to check")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 1
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "Too many arguments (expected 0, got %d)\n", fs.NArg())
		return 1
	}
	if *configFile == "" {
		fmt.Fprintln(stderr, "Error: -config is required")
		return 1
	}
	fmt.Fprintf(stdout, "Diagnosing %s\n\n", *configFile)
	switch Print(stdout, c.Check(ctx, *configFile, getenv)) {
	case Fail:
		fmt.Fprintln(stdout, "\nSome checks failed: the server would not start, or not work, as configured.")
		return 2
	case Warn:
		fmt.Fprintln(stdout, "\nNo check failed; read the warnings.")
	default:
		fmt.Fprintln(stdout, "\nEvery check passed.")
	}
	return 0
}

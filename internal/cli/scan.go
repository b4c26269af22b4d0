package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"sync"

	"github.com/coffer-secrets/coffer/internal/scan"
	"github.com/coffer-secrets/coffer/internal/scan/format"
	"github.com/coffer-secrets/coffer/internal/scan/live"
	"github.com/coffer-secrets/coffer/internal/scan/report"
	"github.com/coffer-secrets/coffer/internal/scan/source"
)

// Exit codes of coffer scan, which differ from the other commands': 1 means
// findings, so every error (flags included) is 2.
const (
	scanClean    = 0
	scanFindings = 1
	scanError    = 2
)

func scanCommands() map[string]*command {
	return map[string]*command{"scan": scanCommand()}
}

func scanCommand() *command {
	return &command{
		synopsis: "Find live secrets and known credential formats in files, history and manifests",
		usage:    "[options] [PATH...]",
		help: `Scans files, directories, git repositories and Kubernetes manifests for
secrets, with two detectors:

  live-secret  values that are secrets stored in Coffer (the server is asked
               with the SHA-256 of each candidate value, never the value,
               through sys/leaks/check: the token needs update on it)
  format       credentials of well-known formats (the gitleaks rule set)

PATH is a file, a directory (.gitignore files are respected) or "-" for
standard input; the default is ".". A directory that is the top of a git
repository is scanned with its whole history (every blob of every commit,
once) unless -no-history is given; -staged scans what the index adds to
HEAD, for a pre-commit hook. Kubernetes Secrets in YAML or JSON manifests
(including "kubectl get secrets -A -o yaml" output) are scanned with their
data values base64-decoded.

Secrets are never printed: a finding shows at most the first four
characters of the value. Exit status: 0 nothing found, 1 findings, 2 error.

    $ coffer scan -format=sarif . > coffer-scan.sarif
    $ coffer scan -staged .
    $ kubectl get secrets -A -o yaml | coffer scan -`,
		server:    true,
		sarif:     true,
		usageCode: scanError,
		setup: func(fs *flag.FlagSet) runFunc {
			var o scanOptions
			fs.BoolVar(&o.offline, "offline", false, "Run only the format detector: no server is asked.")
			fs.BoolVar(&o.noHistory, "no-history", false, "Scan a repository's working tree, not its history.")
			fs.BoolVar(&o.staged, "staged", false, "Scan what the index of the repository at PATH adds to HEAD (a pre-commit hook).")
			fs.BoolVar(&o.noFormat, "no-format", false, "Run only the live-secret detector.")
			fs.StringVar(&o.baseline, "baseline", "", "JSON report (as -format=json writes it) of accepted findings to leave out.")
			fs.Int64Var(&o.maxFileSize, "max-file-size", 256<<20, "Skip files larger than this many bytes.")
			return func(ctx context.Context, c *call, args []string) int {
				args, err := interspersed(fs, args)
				if err != nil {
					fmt.Fprintln(c.env.Stderr, err)
					return scanError
				}
				if err := c.validateFormat(); err != nil {
					fmt.Fprintln(c.env.Stderr, err)
					return scanError
				}
				return runScan(ctx, c, args, &o)
			}
		},
	}
}

// scanOptions are the flags of coffer scan.
type scanOptions struct {
	offline, noHistory, staged, noFormat bool
	baseline                             string
	maxFileSize                          int64
}

// interspersed parses the flags that follow positional arguments too
// ("coffer scan . -format=json"), which the flag package alone stops at.
func interspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for len(args) > 0 {
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		if len(args[0]) > 1 && args[0][0] == '-' {
			if err := fs.Parse(args); err != nil {
				return nil, err
			}
			args = fs.Args()
			continue
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	return pos, nil
}

func runScan(ctx context.Context, c *call, args []string, o *scanOptions) int {
	if len(args) == 0 {
		args = []string{"."}
	}
	if o.offline && o.noFormat {
		fmt.Fprintln(c.env.Stderr, "-offline and -no-format leave no detector to run")
		return scanError
	}
	var srcs source.Multi
	for _, a := range args {
		s, err := scanSource(c, a, o)
		if err != nil {
			fmt.Fprintf(c.env.Stderr, "Error: %v\n", err)
			return scanError
		}
		srcs = append(srcs, s)
	}
	var baseline report.Baseline
	if o.baseline != "" {
		b, err := report.ReadBaseline(o.baseline)
		if err != nil {
			fmt.Fprintf(c.env.Stderr, "Error: %v\n", err)
			return scanError
		}
		baseline = b
	}
	// Notes come from the scan's workers at once.
	var noteMu sync.Mutex
	opts := scan.Options{
		MaxFileSize: o.maxFileSize,
		Note: func(s string) {
			noteMu.Lock()
			defer noteMu.Unlock()
			fmt.Fprintf(c.env.Stderr, "Note: %s\n", s)
		},
	}
	if !o.noFormat {
		rules, err := format.DefaultRules()
		if err != nil {
			fmt.Fprintf(c.env.Stderr, "Error: %v\n", err)
			return scanError
		}
		opts.Rules = rules
	}
	if !o.offline {
		cl, ok := c.newClient()
		if !ok {
			return scanError
		}
		opts.Checker = &live.Client{API: cl}
	}
	res, err := scan.Scan(ctx, srcs, opts)
	if err != nil {
		fmt.Fprintf(c.env.Stderr, "Error scanning: %v\n", err)
		switch responseStatus(err) {
		case 403:
			fmt.Fprintln(c.env.Stderr, "The token needs the update capability on sys/leaks/check; -offline runs the format detector alone.")
		case 404, 405:
			fmt.Fprintln(c.env.Stderr, "This server has no sys/leaks/check; -offline runs the format detector alone.")
		}
		return scanError
	}
	findings, suppressed := baseline.Filter(res.Findings)
	switch c.format {
	case "json":
		err = report.WriteJSON(c.env.Stdout, findings)
	case "sarif":
		err = report.WriteSARIF(c.env.Stdout, findings, c.env.Version)
	default:
		err = report.WriteTable(c.env.Stdout, findings)
	}
	if err != nil {
		fmt.Fprintf(c.env.Stderr, "Error: %v\n", err)
		return scanError
	}
	fmt.Fprintf(c.env.Stderr, "Scanned %d blob(s), %d bytes (%d skipped); %d candidate(s) checked with the server; %d finding(s)",
		res.Blobs, res.Bytes, res.Skipped, res.Checked, len(findings))
	if suppressed > 0 {
		fmt.Fprintf(c.env.Stderr, ", %d in the baseline", suppressed)
	}
	fmt.Fprintln(c.env.Stderr, ".")
	if len(findings) > 0 {
		return scanFindings
	}
	return scanClean
}

// scanSource picks the source for one PATH argument.
func scanSource(c *call, arg string, o *scanOptions) (source.Source, error) {
	if arg == "-" {
		if o.staged {
			return nil, errors.New("-staged needs a repository, not standard input")
		}
		return source.Stream{Name: "-", R: c.env.Stdin}, nil
	}
	st, err := os.Stat(arg)
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", arg, unwrapPathError(err))
	}
	repo := st.IsDir() && source.IsRepository(arg)
	switch {
	case o.staged && !repo:
		return nil, fmt.Errorf("-staged: %s is not the top of a git repository", arg)
	case o.staged:
		return source.Staged{Dir: arg}, nil
	case repo && !o.noHistory:
		return source.History{Dir: arg}, nil
	default:
		return source.Files{Root: arg}, nil
	}
}

package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/coffer-secrets/coffer/internal/suggest"
)

// Exit codes, as the vault binary uses them. Like vault (whose command
// library answers an unknown command with 127, the shell's "command not
// found"), no command or an unknown top-level one exits 127.
const (
	exitOK      = 0
	exitUsage   = 1
	exitServer  = 2
	exitUnknown = 127
)

// ServerFunc runs `coffer server` with args (the words after "server") and
// returns the process exit code.
type ServerFunc func(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int

// Env is the process environment a command runs in. Every field but Server
// is required.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads an environment variable; the CLI reads the environment
	// only through it (never os.Getenv), so tests control it fully.
	Getenv func(string) string
	// Server runs `coffer server`. When nil, that command reports that this
	// binary has no server.
	Server ServerFunc
	// Version is the release `coffer version` prints, such as "0.1.0";
	// empty prints "(unknown version)".
	Version string
	// Local runs the commands that work on storage and files in this
	// process rather than through a server ("operator migrate",
	// "operator diagnose"; see localCommands), by command path, with the
	// words after it. A command missing here reports that this binary
	// cannot run it.
	Local map[string]ServerFunc
}

// Run runs the command line args (without the program name) and returns the
// process exit code (see the package documentation).
func Run(ctx context.Context, args []string, env Env) int {
	if len(args) == 0 {
		printTopHelp(env.Stderr)
		return exitUnknown
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		printTopHelp(env.Stderr)
		return exitOK
	case "-v", "-version", "--version":
		// As with vault, the version flags stand for the version command
		// only when they are the whole command line.
		if len(args) == 1 {
			return printVersion(env)
		}
	case "version":
		if len(args) > 1 && !isHelpFlag(args[1]) {
			fmt.Fprintf(env.Stderr, "Too many arguments (expected 0, got %d)\n", len(args)-1)
			return exitUsage
		}
		if len(args) > 1 {
			fmt.Fprint(env.Stderr, "Usage: coffer version\n\nPrints the version of this coffer binary.\n")
			return exitOK
		}
		return printVersion(env)
	case "server":
		if env.Server == nil {
			fmt.Fprintln(env.Stderr, "This coffer binary has no server.")
			return exitUsage
		}
		return env.Server(ctx, args[1:], env.Stdout, env.Stderr, env.Getenv)
	}

	table := commands()
	name, rest := lookup(table, args)
	if name == "" {
		fmt.Fprintf(env.Stderr, "Unknown command: %q\n", args[0])
		if s := suggestCommand(table, args[0]); s != "" {
			fmt.Fprintf(env.Stderr, "Did you mean %q?\n", s)
		}
		fmt.Fprintln(env.Stderr)
		printTopHelp(env.Stderr)
		fmt.Fprintln(env.Stderr, "\nRun \"coffer <command> -h\" for a command's usage.")
		return exitUnknown
	}
	cmd := table[name]
	if cmd.local {
		run := env.Local[name]
		if run == nil {
			fmt.Fprintf(env.Stderr, "This coffer binary cannot run %q.\n", name)
			return exitUsage
		}
		return run(ctx, rest, env.Stdout, env.Stderr, env.Getenv)
	}
	if cmd.setup == nil {
		// A group such as "kv" or "operator": list its subcommands.
		if len(rest) > 0 && !isHelpFlag(rest[0]) {
			fmt.Fprintf(env.Stderr, "Unknown command: %q\n\n", name+" "+rest[0])
		}
		printGroupHelp(env.Stderr, table, name)
		if len(rest) > 0 && isHelpFlag(rest[0]) {
			return exitOK
		}
		return exitUsage
	}
	return runCommand(ctx, env, name, cmd, rest)
}

// command is one leaf or group of the command tree.
type command struct {
	// synopsis is one line for the list of commands.
	synopsis string
	// usage is the argument part of the usage line, e.g. "[options] PATH".
	usage string
	// help is the long description printed by -h.
	help string
	// server says the command talks to a server and so takes the HTTP and
	// output flags.
	server bool
	// field says the command takes -field.
	field bool
	// setup registers the command's own flags on fs and returns the function
	// that runs it with the positional arguments. Groups have no setup.
	setup func(fs *flag.FlagSet) runFunc
	// local says [Env].Local runs the command, flags and all.
	local bool
	// csv says the command also accepts -format=csv.
	csv bool
	// sarif says the command also accepts -format=sarif.
	sarif bool
	// usageCode, when not 0, is the exit code of a flag error (coffer
	// scan keeps 1 for "findings").
	usageCode int
}

// runFunc runs a command after its flags have been parsed.
type runFunc func(ctx context.Context, c *call, args []string) int

// commands returns the command tree keyed by command path ("kv metadata get").
func commands() map[string]*command {
	t := map[string]*command{
		"operator":    {synopsis: "Perform operator-specific tasks"},
		"secrets":     {synopsis: "Interact with secrets engines"},
		"kv":          {synopsis: "Interact with Coffer's Key-Value storage"},
		"kv metadata": {synopsis: "Interact with Coffer's Key-Value storage metadata"},
		"token":       {synopsis: "Interact with tokens"},
		"policy":      {synopsis: "Interact with policies"},
		"auth":        {synopsis: "Interact with auth methods"},
	}
	maps.Copy(t, operatorCommands())
	maps.Copy(t, ceremonyCommands())
	maps.Copy(t, loginCommands())
	maps.Copy(t, tokenCommands())
	maps.Copy(t, policyCommands())
	maps.Copy(t, authCommands())
	maps.Copy(t, secretsCommands())
	maps.Copy(t, kvCommands())
	maps.Copy(t, genericCommands())
	maps.Copy(t, deliveryCommands())
	maps.Copy(t, auditCommands())
	maps.Copy(t, auditDeviceCommands())
	maps.Copy(t, leaseCommands())
	maps.Copy(t, haCommands())
	maps.Copy(t, localCommands())
	maps.Copy(t, snapshotCommands())
	maps.Copy(t, eventsCommands())
	maps.Copy(t, accessCommands())
	maps.Copy(t, incidentCommands())
	maps.Copy(t, kmsCommands())
	maps.Copy(t, csiCommands())
	maps.Copy(t, scanCommands())
	maps.Copy(t, importCommands())
	return t
}

// lookup finds the longest command path that prefixes args and returns it
// with the remaining arguments; name is "" when no command matches.
func lookup(table map[string]*command, args []string) (name string, rest []string) {
	for i := len(args); i > 0; i-- {
		candidate := strings.Join(args[:i], " ")
		if _, ok := table[candidate]; ok {
			return candidate, args[i:]
		}
	}
	return "", args
}

func isHelpFlag(s string) bool {
	switch s {
	case "-h", "-help", "--help", "--h":
		return true
	}
	return false
}

// runCommand parses the flags of cmd and runs it.
func runCommand(ctx context.Context, env Env, name string, cmd *command, args []string) int {
	fs := flag.NewFlagSet("coffer "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	c := &call{env: env, name: name, csv: cmd.csv, sarif: cmd.sarif}
	usageCode := exitUsage
	if cmd.usageCode != 0 {
		usageCode = cmd.usageCode
	}
	if cmd.server {
		c.registerServerFlags(fs, cmd.field)
	}
	run := cmd.setup(fs)
	fs.Usage = func() { printCommandHelp(env.Stderr, name, cmd, fs) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		// The flag package has already printed the error and the usage.
		return usageCode
	}
	if cmd.server {
		if err := c.validateFormat(); err != nil {
			fmt.Fprintln(env.Stderr, err)
			return usageCode
		}
	}
	return run(ctx, c, fs.Args())
}

// printVersion prints "Coffer v<version>" on stdout.
func printVersion(env Env) int {
	v := env.Version
	if v == "" {
		fmt.Fprintln(env.Stdout, "Coffer (unknown version)")
		return exitOK
	}
	fmt.Fprintf(env.Stdout, "Coffer v%s\n", strings.TrimPrefix(v, "v"))
	return exitOK
}

// suggestCommand returns the top-level command closest to word, by edit
// distance, when it is close enough to be a likely typo; else "". Flags get
// no suggestion.
func suggestCommand(table map[string]*command, word string) string {
	if strings.HasPrefix(word, "-") || len(word) < 2 {
		return ""
	}
	names := []string{"server", "version"}
	for n := range table {
		if !strings.Contains(n, " ") {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return suggest.Closest(word, names)
}

func printTopHelp(w io.Writer) {
	fmt.Fprint(w, "Usage: coffer <command> [args]\n\nCommands:\n")
	synopses := map[string]string{
		"server":  "Start a Coffer server",
		"version": "Print the Coffer version",
	}
	for n, cmd := range commands() {
		if !strings.Contains(n, " ") {
			synopses[n] = cmd.synopsis
		}
	}
	names := slices.Sorted(maps.Keys(synopses))
	width := 0
	for _, n := range names {
		width = max(width, len(n))
	}
	for _, n := range names {
		fmt.Fprintf(w, "    %-*s    %s\n", width, n, synopses[n])
	}
}

func printGroupHelp(w io.Writer, table map[string]*command, group string) {
	fmt.Fprintf(w, "Usage: coffer %s <subcommand> [options] [args]\n\n%s.\n\nSubcommands:\n", group, table[group].synopsis)
	var subs []string
	for n := range table {
		if after, ok := strings.CutPrefix(n, group+" "); ok && !strings.Contains(after, " ") {
			subs = append(subs, after)
		}
	}
	slices.Sort(subs)
	width := 0
	for _, s := range subs {
		width = max(width, len(s))
	}
	for _, s := range subs {
		fmt.Fprintf(w, "    %-*s    %s\n", width, s, table[group+" "+s].synopsis)
	}
}

func printCommandHelp(w io.Writer, name string, cmd *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: coffer %s %s\n\n", name, cmd.usage)
	if cmd.help != "" {
		fmt.Fprintf(w, "%s\n\n", strings.TrimSpace(cmd.help))
	}
	fmt.Fprintln(w, "Options:")
	fs.PrintDefaults()
}

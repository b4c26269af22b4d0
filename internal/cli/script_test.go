package cli

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/coffer-secrets/coffer/internal/testserver"
	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"coffer": func() {
			os.Exit(Run(context.Background(), os.Args[1:], Env{
				Stdin:  os.Stdin,
				Stdout: os.Stdout,
				Stderr: os.Stderr,
				Getenv: os.Getenv,
			}))
		},
	})
}

// TestScripts runs testdata/script/*.txtar, each against its own test
// server. A script chooses the server's state with a file named
// "server-options" holding "sealed", "uninitialized" or "audit-any-dir"
// (audit files may be enabled anywhere). The scripts see:
//
//   - COFFER_ADDR, COFFER_TOKEN (the root token), ROOT_TOKEN;
//   - UNSEAL_KEY, the first unseal key, when the server has one;
//   - HOME, an empty directory for the token file.
//
// Extra commands: "exits CODE prog args..." runs prog and checks its exit
// code; "jsonvar NAME PATH" sets $NAME to the value at a dotted PATH
// (e.g. unseal_keys_b64.0) of the JSON on the last command's stdout.
func TestScripts(t *testing.T) {
	t.Parallel()
	testscript.Run(t, testscript.Params{
		Dir:   filepath.Join("testdata", "script"),
		Setup: setupScript,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits":   cmdExits,
			"jsonvar": cmdJSONVar,
		},
	})
}

func setupScript(e *testscript.Env) error {
	var opts testserver.Options
	if b, err := os.ReadFile(filepath.Join(e.WorkDir, "server-options")); err == nil {
		for _, word := range strings.Fields(string(b)) {
			switch word {
			case "sealed":
				opts.Sealed = true
			case "uninitialized":
				opts.Uninitialized = true
			case "audit-any-dir":
				opts.AuditAnyDir = true
			default:
				return errors.New("server-options: unknown option " + strconv.Quote(word))
			}
		}
	}
	srv, err := testserver.New(opts)
	if err != nil {
		return err
	}
	e.Defer(func() { srv.Close() })
	home := filepath.Join(e.WorkDir, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return err
	}
	e.Setenv("HOME", home)
	e.Setenv("COFFER_ADDR", srv.Addr)
	e.Setenv("COFFER_TOKEN", srv.RootToken)
	e.Setenv("ROOT_TOKEN", srv.RootToken)
	e.Setenv("COFFER_MAX_RETRIES", "0")
	e.Setenv("GORACE", shortRaceExitSleep(os.Getenv("GORACE")))
	if len(srv.UnsealKeys) > 0 {
		e.Setenv("UNSEAL_KEY", srv.UnsealKeys[0])
	}
	return nil
}

// shortRaceExitSleep returns the GORACE options for the script's coffer
// processes: the test's own, with atexit_sleep_ms=10 unless it sets it. A
// binary built with -race otherwise sleeps a whole second when it exits
// (the detector's default grace for goroutines still running), and the
// scripts start hundreds of coffer processes. Races are still reported:
// the detector reports each one when it happens, and a coffer command has
// no goroutines left working when it exits. Without -race GORACE is unused.
func shortRaceExitSleep(gorace string) string {
	if strings.Contains(gorace, "atexit_sleep_ms") {
		return gorace
	}
	return strings.TrimSpace(gorace + " atexit_sleep_ms=10")
}

// cmdExits runs a program and checks its exit code.
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! exits")
	}
	if len(args) < 2 {
		ts.Fatalf("usage: exits CODE program [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exits: bad code %q", args[0])
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		ee, ok := errors.AsType[*exec.ExitError](err)
		if !ok {
			ts.Fatalf("exits: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with %d, want %d", args[1], got, want)
	}
}

// cmdJSONVar sets an environment variable from the JSON on stdout.
func cmdJSONVar(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: jsonvar NAME PATH")
	}
	var v any
	if err := json.Unmarshal([]byte(ts.ReadFile("stdout")), &v); err != nil {
		ts.Fatalf("jsonvar: stdout is not JSON: %v", err)
	}
	for part := range strings.SplitSeq(args[1], ".") {
		switch node := v.(type) {
		case map[string]any:
			v = node[part]
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(node) {
				ts.Fatalf("jsonvar: no index %q in %s", part, args[1])
			}
			v = node[i]
		default:
			ts.Fatalf("jsonvar: cannot index %T with %q", v, part)
		}
	}
	s, ok := v.(string)
	if !ok {
		b, _ := json.Marshal(v)
		s = string(b)
	}
	ts.Setenv(args[0], s)
}

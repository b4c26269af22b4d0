// Package child supervises one child process that receives secrets in its
// environment: it starts the process when the first environment arrives,
// restarts it (or only signals it) when the environment changes, forwards
// signals to it and reports its exit status.
//
// Secrets are passed only in the environment, never on the command line,
// and never logged. The package imports nothing of Coffer's.
package child

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"time"
)

// Options configure a [Supervisor]. Command is required.
type Options struct {
	// Command is the program and its arguments.
	Command []string
	// Environ is the base environment ("NAME=value"), usually the
	// process's own; the secrets are added to it and win over it.
	Environ []string
	// Stdin, Stdout and Stderr are the child's; nil means /dev/null.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Restart restarts the child when the environment changes; when false
	// a change only sends ChangeSignal, if set.
	Restart bool
	// StopSignal stops the child before a restart (default SIGTERM).
	StopSignal syscall.Signal
	// ChangeSignal, when set and Restart is false, is sent on a change.
	ChangeSignal syscall.Signal
	// StopTimeout is how long a stopping child may take before it is
	// killed (default 30s).
	StopTimeout time.Duration
	// Signals are forwarded to the child as they arrive.
	Signals <-chan os.Signal
	// Logger receives lifecycle messages; nil discards them.
	Logger *slog.Logger
}

// Supervisor runs one child process. Use [Supervisor.Run].
type Supervisor struct {
	opts Options
}

// New returns a Supervisor for opts.
func New(opts Options) *Supervisor {
	if opts.StopSignal == 0 {
		opts.StopSignal = syscall.SIGTERM
	}
	if opts.StopTimeout == 0 {
		opts.StopTimeout = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Supervisor{opts: opts}
}

// running is a started child.
type running struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when Wait returns
	err  error         // Wait's error, set before done is closed
}

// Run waits for the first environment on envs, starts the child, and
// returns its exit code when it exits by itself. A new value on envs that
// differs from the last restarts or signals the child. When ctx ends the
// child is sent SIGTERM and Run returns its exit code once it has exited.
// Forwarded signals do not restart the child. Run returns an error only
// when the child cannot be started.
func (s *Supervisor) Run(ctx context.Context, envs <-chan map[string]string) (int, error) {
	if len(s.opts.Command) == 0 {
		return 0, errors.New("no command to run")
	}
	var env map[string]string
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case env = <-envs:
	}
	r, err := s.start(env)
	if err != nil {
		return 0, err
	}
	for {
		select {
		case <-r.done:
			code := exitCode(r.err)
			s.opts.Logger.Info("child exited", "code", code)
			return code, nil
		case sig := <-s.opts.Signals:
			if r.cmd.Process != nil {
				r.cmd.Process.Signal(sig)
			}
		case <-ctx.Done():
			r.cmd.Process.Signal(syscall.SIGTERM)
			return s.waitStopped(r), nil
		case next := <-envs:
			if maps.Equal(next, env) {
				continue
			}
			env = next
			if !s.opts.Restart {
				if s.opts.ChangeSignal != 0 {
					r.cmd.Process.Signal(s.opts.ChangeSignal)
				}
				continue
			}
			s.opts.Logger.Info("secrets changed; restarting child")
			r.cmd.Process.Signal(s.opts.StopSignal)
			s.waitStopped(r)
			if r, err = s.start(env); err != nil {
				return 0, err
			}
		}
	}
}

// waitStopped waits for a child that was asked to stop, killing it after
// StopTimeout, and returns its exit code.
func (s *Supervisor) waitStopped(r *running) int {
	t := time.NewTimer(s.opts.StopTimeout)
	defer t.Stop()
	select {
	case <-r.done:
	case <-t.C:
		s.opts.Logger.Warn("child did not stop in time; killing it")
		r.cmd.Process.Kill()
		<-r.done
	}
	return exitCode(r.err)
}

func (s *Supervisor) start(env map[string]string) (*running, error) {
	cmd := exec.Command(s.opts.Command[0], s.opts.Command[1:]...)
	cmd.Env = Environ(s.opts.Environ, env)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = s.opts.Stdin, s.opts.Stdout, s.opts.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", s.opts.Command[0], err)
	}
	s.opts.Logger.Info("child started", "pid", cmd.Process.Pid, "variables", slices.Sorted(maps.Keys(env)))
	r := &running{cmd: cmd, done: make(chan struct{})}
	go func() {
		r.err = cmd.Wait()
		close(r.done)
	}()
	return r, nil
}

// Environ returns base with the variables of env added, replacing any of
// the same name.
func Environ(base []string, env map[string]string) []string {
	out := make([]string, 0, len(base)+len(env))
	for _, kv := range base {
		name, _, _ := cutEnv(kv)
		if _, ok := env[name]; !ok {
			out = append(out, kv)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}
	return out
}

func cutEnv(kv string) (string, string, bool) {
	for i := 0; i < len(kv); i++ {
		if kv[i] == '=' {
			return kv[:i], kv[i+1:], true
		}
	}
	return kv, "", false
}

// exitCode turns Wait's error into a shell-style exit code: the status,
// or 128 plus the signal number for a child killed by a signal.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	ee, ok := errors.AsType[*exec.ExitError](err)
	if !ok {
		return 1
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ee.ExitCode()
}

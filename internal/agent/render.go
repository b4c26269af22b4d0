package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/coffer-secrets/coffer/internal/agent/config"
	"github.com/coffer-secrets/coffer/internal/agent/template"
	"github.com/coffer-secrets/coffer/internal/atomicfile"
	"github.com/coffer-secrets/coffer/internal/backoff"
)

// maxRenderFailures is how many renders of one template in a row may fail
// before exit_on_retry_failure stops the agent.
const maxRenderFailures = 5

// destDirMode is the mode of the directories create_dest_dirs makes,
// before the umask.
const destDirMode = 0o755

// fileTemplate is a template rendered to a file.
type fileTemplate struct {
	cfg      config.Template
	t        *template.Template
	failures int
}

// envTemplate is a template rendered to an environment variable.
type envTemplate struct {
	name string
	t    *template.Template
}

// parseTemplates parses every template of cfg; a syntax error names the
// template file and line.
func parseTemplates(cfg *config.Config, getenv func(string) string) ([]*fileTemplate, []*envTemplate, error) {
	var files []*fileTemplate
	var errs []error
	for _, tc := range cfg.Templates {
		text := tc.Contents
		if tc.Source != "" {
			b, err := os.ReadFile(tc.Source)
			if err != nil {
				errs = append(errs, fmt.Errorf("read template: %w", err))
				continue
			}
			text = string(b)
		}
		t, err := template.Parse(tc.Name(), text, template.Options{
			LeftDelim: tc.LeftDelim, RightDelim: tc.RightDelim, ErrorOnMissingKey: tc.ErrorOnMissingKey, Getenv: getenv,
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		files = append(files, &fileTemplate{cfg: tc, t: t})
	}
	var envs []*envTemplate
	for _, ec := range cfg.EnvTemplates {
		t, err := template.Parse("env_template "+ec.Name, ec.Contents, template.Options{
			LeftDelim: ec.LeftDelim, RightDelim: ec.RightDelim, ErrorOnMissingKey: ec.ErrorOnMissingKey, Getenv: getenv,
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		envs = append(envs, &envTemplate{name: ec.Name, t: t})
	}
	return files, envs, errors.Join(errs...)
}

// renderer renders the templates whenever their secrets change.
type renderer struct {
	store   *store
	state   *tokenState
	files   []*fileTemplate
	envs    []*envTemplate
	logger  *slog.Logger
	stderr  io.Writer
	environ []string
	// exitOnFailure stops the agent after maxRenderFailures.
	exitOnFailure bool
	// envOut receives each new set of env_template values; it is
	// buffered (1) and holds only the latest set.
	envOut chan map[string]string
	// rendered receives one value after the first complete render.
	rendered chan struct{}
	// attempted receives the outcome of the first render of every
	// template, failed or not: nil, or the templates' errors. It is
	// buffered (1).
	attempted chan error
	min, max  time.Duration
}

// run renders until ctx ends.
func (r *renderer) run(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-r.state.ready:
	}
	b := backoff.Backoff{Min: r.min, Max: r.max, Jitter: true}
	var lastEnv map[string]string
	first, attempted := true, false
	for {
		failed, err := r.renderAll(ctx, &lastEnv)
		if err != nil {
			return err
		}
		ok := failed == nil
		if !attempted {
			attempted = true
			r.attempted <- failed
		}
		if ok {
			b.Reset()
			if first {
				first = false
				select {
				case r.rendered <- struct{}{}:
				default:
				}
			}
		}
		for {
			wait := time.Duration(-1)
			if due, has := r.store.nextDue(); has {
				wait = max(time.Until(due), 0)
			}
			if !ok {
				if bw := b.Next(); wait < 0 || bw < wait {
					wait = bw
				}
			}
			if wait < 0 {
				// Nothing is due: wait for the end, or an event.
				wait = 24 * time.Hour
			}
			if !r.sleep(ctx, wait) {
				return nil
			}
			if r.store.tick(ctx) || !ok {
				break
			}
		}
	}
}

// sleep waits d, or until an event makes a secret due; it returns false
// when ctx ends.
func (r *renderer) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-r.store.wake:
	}
	return true
}

// renderAll renders every template. failed joins the errors of the
// templates that could not be rendered (nil when all were); fatal is set
// only when the agent must stop.
func (r *renderer) renderAll(ctx context.Context, lastEnv *map[string]string) (failed, fatal error) {
	var errs []error
	for _, f := range r.files {
		if err := r.renderFile(ctx, f); err != nil {
			f.failures++
			r.logger.Error("render template", "template", f.cfg.Name(), "destination", f.cfg.Destination, "error", err)
			if r.exitOnFailure && f.failures >= maxRenderFailures {
				return nil, fmt.Errorf("template %s failed %d times: %w", f.cfg.Name(), f.failures, err)
			}
			errs = append(errs, fmt.Errorf("template %s: %w", f.cfg.Name(), err))
			continue
		}
		f.failures = 0
	}
	if len(r.envs) == 0 {
		return errors.Join(errs...), nil
	}
	env := make(map[string]string, len(r.envs))
	for _, e := range r.envs {
		out, err := e.t.Render(ctx, r.store)
		if err != nil {
			r.logger.Error("render env_template", "name", e.name, "error", err)
			return errors.Join(append(errs, fmt.Errorf("env_template %s: %w", e.name, err))...), nil
		}
		env[e.name] = string(out)
	}
	if *lastEnv == nil || !maps.Equal(env, *lastEnv) {
		*lastEnv = env
		// Replace an unread value: only the latest matters.
		select {
		case <-r.envOut:
		default:
		}
		r.envOut <- env
	}
	return errors.Join(errs...), nil
}

// renderFile renders f and, when the output differs from the file,
// replaces the file and runs the command. On error the file is untouched.
func (r *renderer) renderFile(ctx context.Context, f *fileTemplate) error {
	out, err := f.t.Render(ctx, r.store)
	if err != nil {
		return err
	}
	if sameContent(f.cfg.Destination, out) {
		return nil
	}
	if f.cfg.CreateDestDirs {
		if err := os.MkdirAll(filepath.Dir(f.cfg.Destination), destDirMode); err != nil {
			return fmt.Errorf("create destination directory: %w", err)
		}
	}
	if err := atomicfile.WriteFile(f.cfg.Destination, out, f.cfg.Perms); err != nil {
		return err
	}
	r.logger.Info("rendered template", "template", f.cfg.Name(), "destination", f.cfg.Destination)
	if len(f.cfg.Command) > 0 {
		r.runCommand(ctx, f)
	}
	return nil
}

// runCommand runs the template's command, /bin/sh -c for a single string
// as Vault Agent does; a failure is logged, not fatal.
func (r *renderer) runCommand(ctx context.Context, f *fileTemplate) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var cmd *exec.Cmd
	if len(f.cfg.Command) == 1 {
		cmd = exec.CommandContext(ctx, "/bin/sh", "-c", f.cfg.Command[0])
	} else {
		cmd = exec.CommandContext(ctx, f.cfg.Command[0], f.cfg.Command[1:]...)
	}
	cmd.Env = r.environ
	cmd.Stdout, cmd.Stderr = r.stderr, r.stderr
	if err := cmd.Run(); err != nil {
		r.logger.Error("template command failed", "template", f.cfg.Name(), "error", err)
	}
}

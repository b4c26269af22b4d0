package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/coffer-secrets/coffer/internal/config"
	"github.com/coffer-secrets/coffer/internal/diagnose"
	"github.com/coffer-secrets/coffer/internal/migrate"
	"github.com/coffer-secrets/coffer/internal/storage"
	"github.com/coffer-secrets/coffer/internal/storage/bolt"
	"github.com/coffer-secrets/coffer/internal/storage/postgres"
)

// toolLockWait is how long an operator tool waits for a bolt file's lock
// before it concludes that a server holds the file.
const toolLockWait = 500 * time.Millisecond

// MigrateMain runs `coffer operator migrate` with args (the words after
// "operator migrate") and returns the exit code. It lives here, not in
// package cli, because it opens storage itself.
func MigrateMain(ctx context.Context, args []string, stdout, stderr io.Writer, _ func(string) string) int {
	return migrate.Command{Open: openExclusive}.Run(ctx, args, stdout, stderr)
}

// DiagnoseMain runs `coffer operator diagnose` with args (the words after
// "operator diagnose") and returns the exit code.
func DiagnoseMain(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	open := func(ctx context.Context, sc *config.Storage) (storage.Storage, error) {
		return openTool(ctx, sc, false)
	}
	probe := func(ctx context.Context, s *config.Seal) error { return probeSeal(ctx, s, getenv) }
	return diagnose.Command{Open: open, ProbeSeal: probe}.Run(ctx, args, stdout, stderr, getenv)
}

// probeSeal builds the auto seal s names, as the server would (but never
// creating an HSM key), and wraps and unwraps a probe value with it.
func probeSeal(ctx context.Context, s *config.Seal, getenv func(string) string) error {
	c := *s
	if c.PKCS11 != nil {
		p := *c.PKCS11
		p.GenerateKey = false // diagnose reads; it never creates a key
		c.PKCS11 = &p
	}
	w, err := newSeal(&c, getenv, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	if w == nil {
		return nil
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	probe := []byte("coffer operator diagnose")
	b, err := w.Wrap(ctx, probe)
	if err != nil {
		return fmt.Errorf("wrap a probe value: %w", err)
	}
	got, err := w.Unwrap(ctx, b)
	if err != nil {
		return fmt.Errorf("unwrap the probe value: %w", err)
	}
	if !bytes.Equal(got, probe) {
		return errors.New("the probe value came back different")
	}
	return nil
}

// openExclusive opens sc once, without retrying, for one process's sole
// use: a bolt file's lock, or PostgreSQL's exclusive claim. It fails when
// a server has the storage open.
func openExclusive(ctx context.Context, sc *config.Storage) (storage.Storage, error) {
	return openTool(ctx, sc, true)
}

// openTool opens sc once, without retrying; exclusive is PostgreSQL's
// claim (a bolt file is always locked by its one user).
func openTool(ctx context.Context, sc *config.Storage, exclusive bool) (storage.Storage, error) {
	switch {
	case sc.Bolt != nil:
		st, err := bolt.Open(bolt.Options{Path: sc.Bolt.Path, Timeout: toolLockWait})
		if errors.Is(err, bolt.ErrLocked) {
			return nil, fmt.Errorf("%w; stop the server using it first", err)
		}
		return st, err
	case sc.Postgres != nil:
		connURL, table := postgresTarget(string(sc.Postgres.ConnectionURL), sc.Postgres.Table)
		// Open checks the table name before it connects.
		return postgres.Open(ctx, postgres.Options{ConnURL: connURL, Table: table, MaxParallel: 4, Exclusive: exclusive})
	}
	return nil, fmt.Errorf("storage %q cannot be opened outside a server", sc.Type)
}

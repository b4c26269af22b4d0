package migrate

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/coffer-secrets/coffer/internal/config"
	"github.com/coffer-secrets/coffer/internal/storage"
)

const usage = `Usage: coffer operator migrate [options]

  Copies every key of one storage to another, as stored: the data stays
  encrypted and the destination unseals with the same key shares. Stop
  every server using either storage first; the command refuses to run
  while one holds it (the bolt file lock, or PostgreSQL's claim), and no
  server starts on either until it ends.

  The configuration file has Vault's form:

      storage_source "bolt" {
        path = "/var/lib/coffer/coffer.db"
      }

      storage_destination "postgresql" {
        connection_url = "postgres://coffer@db.example.com/coffer"
      }

  Keys already in the destination are overwritten, so the command may be
  run again; -start resumes an interrupted run from a key. Keys the
  destination holds and the source lacks are left in place and counted,
  unless -delete-extra is given. A destination that belongs to another
  Coffer (a different root key) is refused unless -delete-extra is given.

Options:
`

// rootKey is the seal's encrypted root key: it differs between two
// initialized Coffers, so a destination holding another one belongs to a
// different server.
const rootKey = "core/root-key"

// Command is `coffer operator migrate`. Open is required.
type Command struct {
	// Open opens a storage block for the migration's sole use, once and
	// without retrying: it fails when a server (or another migration)
	// has the storage open.
	Open func(ctx context.Context, sc *config.Storage) (storage.Storage, error)
}

// Run runs the command with args (the words after "operator migrate")
// and returns the exit code: 0 on success, 1 for a usage or configuration
// error, 2 when the migration fails.
func (c Command) Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("operator migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	configFile := fs.String("config", "", "the migration file (HCL), with storage_source and storage_destination blocks")
	start := fs.String("start", "", "copy only the keys that sort at or after this one (resumes an interrupted run)")
	deleteExtra := fs.Bool("delete-extra", false, "delete the destination's keys that the source lacks")
	reset := fs.Bool("reset", false, "accepted for Vault's scripts: Coffer's migration lock ends with the process, so there is nothing to reset")
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
	if *reset {
		fmt.Fprintln(stdout, "Nothing to reset: Coffer's migration lock is held by the migrating process and ends with it.")
		return 0
	}
	if *configFile == "" {
		fmt.Fprintln(stderr, "Error: -config is required")
		return 1
	}
	cfg, err := config.LoadMigrate(*configFile)
	if err != nil {
		fmt.Fprintln(stderr, "Error loading migration config:", err)
		return 1
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(stderr, "Warning: %s: %s is ignored: %s\n", w.Pos, w.Key, w.Why)
	}
	if err := c.migrate(ctx, cfg, *start, *deleteExtra, stdout); err != nil {
		fmt.Fprintln(stderr, "Error migrating:", err)
		return 2
	}
	return 0
}

func (c Command) migrate(ctx context.Context, cfg *config.Migrate, start string, deleteExtra bool, stdout io.Writer) error {
	if b := cfg.Source.Bolt; b != nil {
		// Opening a missing bolt file would create an empty one.
		if _, err := os.Stat(b.Path); err != nil {
			return fmt.Errorf("storage_source: %w", err)
		}
	}
	src, err := c.Open(ctx, cfg.Source)
	if err != nil {
		return fmt.Errorf("open storage_source: %w", err)
	}
	defer closeStorage(src)
	dst, err := c.Open(ctx, cfg.Destination)
	if err != nil {
		return fmt.Errorf("open storage_destination: %w", err)
	}
	defer closeStorage(dst)
	if err := checkSameCoffer(ctx, src, dst, deleteExtra); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Migrating from %s to %s.\n", describe(cfg.Source), describe(cfg.Destination))
	opts := Options{Source: src, Destination: dst, Start: start, DeleteExtra: deleteExtra}
	tty := isTerminal(stdout)
	if tty {
		opts.Progress = func(st Stats) {
			fmt.Fprintf(stdout, "\rCopied %d keys (%s)...", st.Copied, size(st.Bytes))
		}
	}
	began := time.Now()
	st, err := Copy(ctx, opts)
	if tty {
		fmt.Fprintln(stdout)
	}
	if err != nil {
		fmt.Fprintf(stdout, "Copied %d keys (%s) before the failure; run again to finish (with -start to skip what was copied).\n", st.Copied, size(st.Bytes))
		return err
	}
	fmt.Fprintf(stdout, "Success! Copied %d keys (%s) in %s.\n", st.Copied, size(st.Bytes), time.Since(began).Round(time.Millisecond))
	switch {
	case st.Deleted > 0:
		fmt.Fprintf(stdout, "Deleted %d keys the source does not have from the destination.\n", st.Deleted)
	case st.Extra > 0:
		fmt.Fprintf(stdout, "The destination holds %d keys the source does not have; they were left in place (-delete-extra deletes them).\n", st.Extra)
	}
	return nil
}

// checkSameCoffer refuses a destination initialized by another Coffer:
// copying over it would mix two servers' data, which neither set of key
// shares can fully read. With deleteExtra the destination ends up an exact
// copy, so it is allowed.
func checkSameCoffer(ctx context.Context, src, dst storage.Storage, deleteExtra bool) error {
	if deleteExtra {
		return nil
	}
	d, err := dst.Get(ctx, rootKey)
	if err != nil {
		return fmt.Errorf("read the destination: %w", err)
	}
	if d == nil {
		return nil
	}
	s, err := src.Get(ctx, rootKey)
	if err != nil {
		return fmt.Errorf("read the source: %w", err)
	}
	if s == nil || !bytes.Equal(s.Value, d.Value) {
		return errors.New("the destination is already initialized by another Coffer (its root key differs from the source's); " +
			"empty it, or run with -delete-extra to replace its contents with the source's")
	}
	return nil
}

// describe names a storage without its secrets.
func describe(sc *config.Storage) string {
	switch {
	case sc.Bolt != nil:
		return fmt.Sprintf("bolt (%s)", sc.Bolt.Path)
	case sc.Postgres != nil:
		return fmt.Sprintf("postgresql (table %s)", sc.Postgres.Table)
	}
	return string(sc.Type)
}

func closeStorage(s storage.Storage) {
	if c, ok := s.(storage.Closer); ok {
		_ = c.Close() // the copy's outcome is already decided
	}
}

// size formats n bytes for people.
func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// isTerminal reports whether w is a character device (a terminal), where
// a progress line that rewrites itself is welcome.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Package diagnose checks a server's configuration and surroundings
// before the server starts, as `coffer operator diagnose -config FILE`
// does: the configuration file, the storage (reachable, free, initialized),
// each listener (address free, TLS files that parse, a key that matches
// its certificate, expiry), the seal, and the audit devices' paths. Each
// check reports one [Result]; any [Fail] makes the command exit non-zero.
//
// Diagnose only reads: it opens a bolt file read-only, and PostgreSQL
// through [Command].Open (the server's shared, non-retrying open). It
// never prints a secret: connection URLs and key contents stay out of its
// messages.
//
// This package imports config, storage, bbolt and the standard library.
package diagnose

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/coffer-secrets/coffer/internal/config"
	"github.com/coffer-secrets/coffer/internal/storage"
)

// Status is the outcome of one check.
type Status int

// The outcomes, least severe first.
const (
	OK Status = iota
	Warn
	Fail
)

// String returns the status as the report prints it.
func (s Status) String() string {
	switch s {
	case OK:
		return "[ ok ]"
	case Warn:
		return "[warn]"
	}
	return "[fail]"
}

// Result is one line of the report.
type Result struct {
	Status Status
	// Check names what was checked, such as "storage" or
	// `listener "tcp" 0.0.0.0:8200 TLS`.
	Check string
	// Msg says what was found; it never holds a secret.
	Msg string
}

// expirySoon is how close to its expiry a certificate draws a warning.
const expirySoon = 30 * 24 * time.Hour

// Command is `coffer operator diagnose`. Open is required.
type Command struct {
	// Open opens a PostgreSQL storage block once, without retrying and
	// without excluding running servers.
	Open func(ctx context.Context, sc *config.Storage) (storage.Storage, error)
	// Now tells the time for certificate expiry; nil means time.Now.
	Now func() time.Time
	// ProbeSeal reaches the key source of an auto seal block and wraps
	// and unwraps a probe value with it, creating nothing; an error says
	// what failed and never holds a secret. Nil leaves auto seals
	// unchecked (a warning).
	ProbeSeal func(ctx context.Context, s *config.Seal) error
}

// Check runs every check on the configuration file at path and returns
// the results in order. A configuration that does not load is one Fail
// and ends the checks.
func (c Command) Check(ctx context.Context, path string, getenv func(string) string) []Result {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	cfg, err := config.Load(path, getenv)
	if err != nil {
		return []Result{{Fail, "configuration", err.Error()}}
	}
	rs := []Result{{OK, "configuration", fmt.Sprintf("%s parses and validates", path)}}
	for _, w := range cfg.Warnings {
		rs = append(rs, Result{Warn, "configuration", fmt.Sprintf("%s: %s is ignored: %s", w.Pos, w.Key, w.Why)})
	}
	rs = append(rs, c.storage(ctx, cfg.Storage)...)
	for _, l := range cfg.Listeners {
		rs = append(rs, listener(l, now())...)
	}
	rs = append(rs, c.seal(ctx, cfg.Seal, "seal"))
	if cfg.DisabledSeal != nil {
		rs = append(rs, c.seal(ctx, cfg.DisabledSeal, "seal (disabled, for a migration)"))
	}
	rs = append(rs, audit(cfg)...)
	if cfg.PIDFile != "" {
		rs = append(rs, writableDir("pid_file", filepath.Dir(cfg.PIDFile)))
	}
	return rs
}

// storage checks that the storage is reachable and free, and says
// whether it holds an initialized Coffer.
func (c Command) storage(ctx context.Context, sc *config.Storage) []Result {
	const name = "storage"
	switch {
	case sc.Inmem != nil:
		return []Result{{Warn, name, "inmem: everything is lost when the server stops; for tests only"}}
	case sc.Bolt != nil:
		return []Result{boltStorage(sc.Bolt.Path)}
	case sc.Postgres != nil:
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		st, err := c.Open(ctx, sc)
		if err != nil {
			return []Result{{Fail, name, fmt.Sprintf("postgresql table %s: %v", sc.Postgres.Table, err)}}
		}
		defer func() {
			if cl, ok := st.(storage.Closer); ok {
				_ = cl.Close() // read-only use; nothing to lose
			}
		}()
		e, err := st.Get(ctx, "core/seal-config")
		if err != nil {
			return []Result{{Fail, name, fmt.Sprintf("postgresql table %s: read: %v", sc.Postgres.Table, err)}}
		}
		return []Result{{OK, name, fmt.Sprintf("postgresql table %s is reachable; %s", sc.Postgres.Table, initialized(e != nil))}}
	}
	return []Result{{Fail, name, fmt.Sprintf("storage %q cannot be checked", sc.Type)}}
}

func initialized(yes bool) string {
	if yes {
		return "it holds an initialized Coffer"
	}
	return "it is not initialized yet (run coffer operator init once the server is up)"
}

// boltStorage opens the file read-only, which waits for no writer but
// conflicts with a running server's lock.
func boltStorage(path string) Result {
	const name = "storage"
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		// The server creates the file and any missing directories.
		dir := filepath.Dir(path)
		for {
			if _, err := os.Stat(dir); err == nil || filepath.Dir(dir) == dir {
				break
			}
			dir = filepath.Dir(dir)
		}
		r := writableDir(name, dir)
		if r.Status == OK {
			r.Msg = fmt.Sprintf("bolt file %s does not exist yet; the server creates it (%s)", path, r.Msg)
		}
		return r
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: 300 * time.Millisecond})
	if errors.Is(err, berrors.ErrTimeout) {
		return Result{Warn, name, fmt.Sprintf("bolt file %s is locked: a server (or a migration) is using it", path)}
	}
	if err != nil {
		return Result{Fail, name, fmt.Sprintf("bolt file %s: %v", path, err)}
	}
	defer db.Close()
	var init bool
	err = db.View(func(tx *bbolt.Tx) error {
		if b := tx.Bucket([]byte("coffer")); b != nil {
			init = b.Get([]byte("core/seal-config")) != nil
		}
		return nil
	})
	if err != nil {
		return Result{Fail, name, fmt.Sprintf("bolt file %s: read: %v", path, err)}
	}
	return Result{OK, name, fmt.Sprintf("bolt file %s opens; %s", path, initialized(init))}
}

// listener checks that the address is free and the TLS material sound.
func listener(l config.Listener, now time.Time) []Result {
	name := fmt.Sprintf("listener %q %s", l.Type, l.Address)
	var rs []Result
	if ln, err := net.Listen("tcp", l.Address); err != nil {
		rs = append(rs, Result{Warn, name, fmt.Sprintf("cannot listen: %v (a running server may hold it)", err)})
	} else {
		ln.Close()
		rs = append(rs, Result{OK, name, "the address is free"})
	}
	tlsName := name + " TLS"
	switch {
	case l.TLSDisable:
		return append(rs, Result{Warn, tlsName, "TLS is disabled: tokens and secrets cross the network in the clear"})
	case l.LocalCA():
		return append(rs, Result{OK, tlsName, "no certificate configured: the server issues one from its local CA"})
	}
	rs = append(rs, certificate(tlsName, l.TLSCertFile, l.TLSKeyFile, now))
	if l.TLSClientCAFile != "" {
		rs = append(rs, caBundle(tlsName+" client CA", l.TLSClientCAFile))
	}
	return rs
}

// certificate loads the pair (which checks that the key matches the
// certificate) and checks the leaf's validity period.
func certificate(name, certFile, keyFile string, now time.Time) Result {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		// The error names files and what is wrong, never key bytes.
		return Result{Fail, name, err.Error()}
	}
	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return Result{Fail, name, fmt.Sprintf("%s: %v", certFile, err)}
		}
	}
	subject := leaf.Subject.CommonName
	if len(leaf.DNSNames) > 0 {
		subject = leaf.DNSNames[0]
	}
	switch {
	case now.After(leaf.NotAfter):
		return Result{Fail, name, fmt.Sprintf("%s (%s) expired on %s", certFile, subject, leaf.NotAfter.UTC().Format(time.DateOnly))}
	case now.Before(leaf.NotBefore):
		return Result{Fail, name, fmt.Sprintf("%s (%s) is not valid before %s", certFile, subject, leaf.NotBefore.UTC().Format(time.RFC3339))}
	case leaf.NotAfter.Sub(now) < expirySoon:
		return Result{Warn, name, fmt.Sprintf("%s (%s) expires in %d days, on %s", certFile, subject, int(leaf.NotAfter.Sub(now).Hours()/24), leaf.NotAfter.UTC().Format(time.DateOnly))}
	}
	return Result{OK, name, fmt.Sprintf("%s (%s) matches its key and is valid until %s", certFile, subject, leaf.NotAfter.UTC().Format(time.DateOnly))}
}

// caBundle checks that file holds at least one PEM certificate.
func caBundle(name, file string) Result {
	b, err := os.ReadFile(file)
	if err != nil {
		return Result{Fail, name, err.Error()}
	}
	n := 0
	for rest := b; ; {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
			return Result{Fail, name, fmt.Sprintf("%s: %v", file, err)}
		}
		n++
	}
	if n == 0 {
		return Result{Fail, name, fmt.Sprintf("%s holds no PEM certificate", file)}
	}
	return Result{OK, name, fmt.Sprintf("%s holds %d certificates", file, n)}
}

// audit checks that file devices can write where they are told and that
// socket devices' addresses answer.
func audit(cfg *config.Config) []Result {
	var rs []Result
	for _, a := range cfg.Audit {
		name := fmt.Sprintf("audit %q %q", a.Type, a.Path)
		switch a.Type {
		case "file":
			switch a.FilePath {
			case "stdout", "discard":
				rs = append(rs, Result{OK, name, "writes to " + a.FilePath})
				continue
			}
			rs = append(rs, writableFile(name, a.FilePath))
		case "socket":
			network := a.SocketType
			if network == "" {
				network = "tcp"
			}
			conn, err := net.DialTimeout(network, a.Address, 2*time.Second)
			if err != nil {
				rs = append(rs, Result{Warn, name, fmt.Sprintf("cannot connect to %s: %v (requests fail while no audit device records them)", a.Address, err)})
				continue
			}
			conn.Close()
			rs = append(rs, Result{OK, name, "connects to " + a.Address})
		}
	}
	for _, d := range cfg.AuditAllowedDirs {
		rs = append(rs, writableDir("audit_allowed_dirs", d))
	}
	return rs
}

// writableFile checks that path can be opened for appending, without
// creating it when it does not exist.
func writableFile(name, path string) Result {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if errors.Is(err, os.ErrNotExist) {
		r := writableDir(name, filepath.Dir(path))
		if r.Status == OK {
			r.Msg = fmt.Sprintf("%s will be created (%s)", path, r.Msg)
		}
		return r
	}
	if err != nil {
		return Result{Fail, name, err.Error()}
	}
	f.Close()
	return Result{OK, name, path + " is writable"}
}

// writableDir checks that dir exists and a file can be created in it.
func writableDir(name, dir string) Result {
	fi, err := os.Stat(dir)
	if err != nil {
		return Result{Fail, name, fmt.Sprintf("directory %s: %v", dir, err)}
	}
	if !fi.IsDir() {
		return Result{Fail, name, dir + " is not a directory"}
	}
	f, err := os.CreateTemp(dir, ".coffer-diagnose-*")
	if err != nil {
		return Result{Fail, name, fmt.Sprintf("directory %s is not writable: %v", dir, err)}
	}
	f.Close()
	os.Remove(f.Name())
	return Result{OK, name, fmt.Sprintf("directory %s is writable", dir)}
}

// Print writes one line per result and returns the worst status.
func Print(w io.Writer, rs []Result) Status {
	worst := OK
	for _, r := range rs {
		fmt.Fprintf(w, "%s %s: %s\n", r.Status, r.Check, r.Msg)
		worst = max(worst, r.Status)
	}
	return worst
}

// seal checks one seal block: Shamir has nothing to reach; an auto seal's
// key source must wrap and unwrap a probe value.
func (c Command) seal(ctx context.Context, s *config.Seal, name string) Result {
	if s == nil || s.Type == config.SealShamir {
		return Result{OK, name, "shamir: key shares are submitted by operators; nothing to reach"}
	}
	if c.ProbeSeal == nil {
		return Result{Warn, name, fmt.Sprintf("%s: not checked", s.Type)}
	}
	if err := c.ProbeSeal(ctx, s); err != nil {
		return Result{Fail, name, fmt.Sprintf("%s: %v", s.Type, err)}
	}
	return Result{OK, name, fmt.Sprintf("%s: the key source wrapped and unwrapped a probe value", s.Type)}
}

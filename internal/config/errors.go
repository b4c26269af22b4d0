package config

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/hashicorp/hcl/v2"
)

// Error is one problem with a configuration. [Parse], [Load] and
// [Config.Validate] return one or more of them joined with errors.Join;
// inspect them with errors.AsType.
type Error struct {
	// Pos says where the problem is: "file:line,col-col" for a value read
	// from a file, the file name alone for something missing from it,
	// "environment variable NAME" for an override, or the key path (such
	// as "listener[0].address") for a Config built in code.
	Pos string
	// Msg says what is wrong, naming the key. It never holds the value of
	// a [Secret].
	Msg string
}

// Error returns "Pos: Msg".
func (e *Error) Error() string { return e.Pos + ": " + e.Msg }

// origin is where one key's value came from.
type origin struct {
	rng hcl.Range // zero when env is set
	env string    // environment variable name, for overrides
}

// sources records, for a Config read from a file, where each key came from
// and which keys failed to decode (so validation does not report them a
// second time). Keys are paths such as "api_addr", "storage.path" and
// "listener[1].address".
type sources struct {
	filename string
	// storageLabel is the storage type as written ("file" for the alias).
	storageLabel string
	// storageBlock is the storage block's name when it is not "storage"
	// (storage_source in a migration's file).
	storageBlock string
	at           map[string]origin
	broken       map[string]bool
	// sealFirstDisabled is set when the disabled seal block comes first
	// (it is then seal[0]).
	sealFirstDisabled bool
	// envErrs are environment values that did not decode, by source key.
	envErrs []envErr
}

// envErr is an environment variable's value that did not decode.
type envErr struct{ key, msg string }

// problem is an Error with the place it sorts at.
type problem struct {
	err *Error
	rng hcl.Range // zero for problems without a file position
}

// problems collects Errors in the order they are found.
type problems []problem

func (ps *problems) add(rng hcl.Range, format string, args ...any) {
	*ps = append(*ps, problem{err: &Error{Pos: rng.String(), Msg: fmt.Sprintf(format, args...)}, rng: rng})
}

func (ps *problems) addAt(pos string, format string, args ...any) {
	*ps = append(*ps, problem{err: &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}})
}

// diags adds HCL's own error diagnostics.
func (ps *problems) diags(ds hcl.Diagnostics) {
	for _, d := range ds {
		if d.Severity != hcl.DiagError {
			continue
		}
		msg := d.Summary
		if d.Detail != "" {
			msg += ": " + d.Detail
		}
		if d.Subject == nil {
			*ps = append(*ps, problem{err: &Error{Pos: "config", Msg: msg}})
			continue
		}
		*ps = append(*ps, problem{err: &Error{Pos: d.Subject.String(), Msg: msg}, rng: *d.Subject})
	}
}

// join returns the problems as one error, those with a file position first
// in file order, then the rest in the order found; nil when there are none.
func (ps problems) join() error {
	if len(ps) == 0 {
		return nil
	}
	sorted := slices.Clone(ps)
	slices.SortStableFunc(sorted, func(a, b problem) int { return fileOrder(a.rng, b.rng) })
	errs := make([]error, len(sorted))
	for i, p := range sorted {
		errs[i] = p.err
	}
	return errors.Join(errs...)
}

// Warning is a key of the file that Coffer accepts and ignores: it means
// something in Vault, but not in Coffer (disable_mlock, plugin_directory,
// telemetry sinks Coffer lacks ...). The server logs each once at start.
type Warning struct {
	// Pos is where the key is: "file:line,col-col", or "environment
	// variable NAME".
	Pos string
	// Key is the key or block name, such as "disable_mlock".
	Key string
	// Block is the block holding Key, such as `listener "tcp"`, or ""
	// for a top-level key.
	Block string
	// Why says why Coffer ignores the key and what to do instead.
	Why string
}

// String returns "Pos: Key [in Block] is ignored: Why".
func (w Warning) String() string {
	key := w.Key
	if w.Block != "" {
		key += " in " + w.Block
	}
	return w.Pos + ": " + key + " is ignored: " + w.Why
}

// warnings collects Warnings, one per key and block.
type warnings struct {
	list []problemWarning
	seen map[[2]string]bool
}

// problemWarning is a Warning with the place it sorts at.
type problemWarning struct {
	w   Warning
	rng hcl.Range
}

func (ws *warnings) add(rng hcl.Range, pos, block, key, why string) {
	k := [2]string{block, key}
	if ws.seen[k] {
		return
	}
	if ws.seen == nil {
		ws.seen = make(map[[2]string]bool)
	}
	ws.seen[k] = true
	if pos == "" {
		pos = rng.String()
	}
	ws.list = append(ws.list, problemWarning{w: Warning{Pos: pos, Key: key, Block: block, Why: why}, rng: rng})
}

// sorted returns the warnings in file order, those without a file
// position last.
func (ws *warnings) sorted() []Warning {
	if len(ws.list) == 0 {
		return nil
	}
	l := slices.Clone(ws.list)
	slices.SortStableFunc(l, func(a, b problemWarning) int { return fileOrder(a.rng, b.rng) })
	out := make([]Warning, len(l))
	for i, p := range l {
		out[i] = p.w
	}
	return out
}

// fileOrder orders ranges in file order, those without a file position
// last (and among themselves as found).
func fileOrder(a, b hcl.Range) int {
	ah, bh := a.Filename != "", b.Filename != ""
	switch {
	case ah && !bh:
		return -1
	case !ah && bh:
		return 1
	case !ah && !bh:
		return 0
	}
	return cmp.Or(cmp.Compare(a.Start.Byte, b.Start.Byte), cmp.Compare(a.End.Byte, b.End.Byte))
}

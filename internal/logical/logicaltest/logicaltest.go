// Package logicaltest is the conformance suite every secrets engine and
// auth method runs ([Run]), with the in-memory [Storage], manual [Clock]
// and [System] view that backend tests build on, and the [Harness] that
// drives one backend through HandleRequest in a package's own tests.
//
// It is test support: production packages never import it. It imports
// logical, storage (for key validation), go-cmp and the standard library.
package logicaltest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// Options tells [Run] about the backend under test.
type Options struct {
	// Config is the mount's options, passed as Env.Options.
	Config map[string]string
	// Writes are valid requests that write something (create, update or
	// patch with a JSON body). Run sends each once and requires success,
	// then resends it with malformed bodies, which must be refused with
	// ErrInvalidRequest and change nothing in storage.
	Writes []*logical.Request
	// Reads are valid requests (read or list) that must succeed after the
	// writes. Run also sends them concurrently with the writes.
	Reads []*logical.Request
	// UnknownPaths are paths the backend does not serve; a read of each must
	// fail with ErrUnsupportedPath. When nil, Run uses a few paths no
	// backend should serve, unless ServesAllPaths is set.
	UnknownPaths []string
	// ServesAllPaths says that every path is valid for the backend (KV
	// version 1, for one), so there is no unknown path to test.
	ServesAllPaths bool
}

// NewEnv returns a [logical.Env] for tests: a fresh [Storage], a [Clock]
// stopped at a fixed instant, a logger that discards everything, a [System]
// view with one-hour and one-day TTLs, and options as the mount's options.
func NewEnv(options map[string]string) logical.Env {
	return logical.Env{
		Storage: NewStorage(),
		Logger:  slog.New(slog.DiscardHandler),
		Clock:   NewClock(time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)),
		System:  System{DefaultTTL: time.Hour, MaxTTL: 24 * time.Hour},
		Options: options,
	}
}

// New builds the backend under test on env, running Initialize when the
// backend has it. It fails tb on error.
func New(tb testing.TB, factory logical.Factory, env logical.Env) logical.Backend {
	tb.Helper()
	b, err := factory(tb.Context(), env)
	if err != nil {
		tb.Fatalf("factory: %v", err)
	}
	if in, ok := b.(logical.Initializer); ok {
		if err := in.Initialize(tb.Context()); err != nil {
			tb.Fatalf("initialize: %v", err)
		}
	}
	if c, ok := b.(logical.Cleaner); ok {
		tb.Cleanup(func() { c.Cleanup(context.Background()) })
	}
	return b
}

// Run checks the contract every backend must keep:
//
//   - an unknown path is refused with [logical.ErrUnsupportedPath];
//   - a malformed JSON body on any writable path is refused with
//     [logical.ErrInvalidRequest] and changes nothing in storage;
//   - paths with odd characters never panic, for any operation, and neither
//     does ExistenceCheck;
//   - successful responses marshal to JSON;
//   - concurrent requests are race-free (run the suite with -race) and fail,
//     if at all, only with typed [logical.Error] values.
func Run(t *testing.T, factory logical.Factory, opts Options) {
	t.Helper()
	env := NewEnv(opts.Config)
	st := env.Storage.(*Storage)
	b := New(t, factory, env)

	t.Run("Writes", func(t *testing.T) {
		for _, req := range opts.Writes {
			if _, err := call(t, b, req); err != nil {
				t.Fatalf("%s %q: %v", req.Operation, req.Path, err)
			}
		}
	})
	t.Run("Reads", func(t *testing.T) {
		for _, req := range opts.Reads {
			if _, err := call(t, b, req); err != nil {
				t.Errorf("%s %q: %v", req.Operation, req.Path, err)
			}
		}
	})
	t.Run("UnknownPath", func(t *testing.T) {
		if opts.ServesAllPaths {
			t.Skip("backend serves every path")
		}
		paths := opts.UnknownPaths
		if paths == nil {
			paths = []string{"coffer-logicaltest-unknown", "coffer-logicaltest/unknown/path"}
		}
		for _, p := range paths {
			for _, op := range []logical.Operation{logical.ReadOperation, logical.UpdateOperation} {
				_, err := call(t, b, &logical.Request{Operation: op, Path: p, Body: json.RawMessage(`{}`)})
				if !errors.Is(err, logical.ErrUnsupportedPath) {
					t.Errorf("%s %q: error = %v, want ErrUnsupportedPath", op, p, err)
				}
			}
		}
	})
	t.Run("MalformedBody", func(t *testing.T) {
		for _, req := range opts.Writes {
			for _, body := range malformedBodies {
				before := st.Snapshot()
				bad := clone(req)
				bad.Body = json.RawMessage(body)
				_, err := call(t, b, bad)
				if !errors.Is(err, logical.ErrInvalidRequest) {
					t.Errorf("%s %q with body %q: error = %v, want ErrInvalidRequest", req.Operation, req.Path, body, err)
				}
				if after := st.Snapshot(); !sameSnapshot(before, after) {
					t.Errorf("%s %q with body %q changed storage", req.Operation, req.Path, body)
				}
			}
		}
	})
	t.Run("OddPaths", func(t *testing.T) {
		for _, p := range oddPaths(opts) {
			for _, op := range allOperations {
				for _, body := range []json.RawMessage{nil, json.RawMessage(`{}`), json.RawMessage(`{"data":{}}`)} {
					req := &logical.Request{Operation: op, Path: p, Body: body}
					// Any outcome but a panic or an untyped error is fine.
					if _, err := call(t, b, req); err != nil && !isTyped(err) {
						t.Errorf("%s %q: untyped error %v", op, p, err)
					}
				}
			}
			if ec, ok := b.(logical.ExistenceChecker); ok {
				noPanic(t, fmt.Sprintf("ExistenceCheck(%q)", p), func() {
					_, _, _ = ec.ExistenceCheck(t.Context(), &logical.Request{Operation: logical.UpdateOperation, Path: p})
				})
			}
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		reqs := slices.Concat(opts.Writes, opts.Reads)
		if len(reqs) == 0 {
			t.Skip("no sample requests")
		}
		const workers, rounds = 8, 25
		var wg sync.WaitGroup
		errs := make(chan error, workers*rounds*len(reqs))
		for w := range workers {
			wg.Go(func() {
				for r := range rounds {
					req := clone(reqs[(w+r)%len(reqs)])
					if _, err := call(t, b, req); err != nil && !isTyped(err) {
						errs <- fmt.Errorf("%s %q: untyped error %w", req.Operation, req.Path, err)
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

var allOperations = []logical.Operation{
	logical.ReadOperation, logical.ListOperation, logical.CreateOperation,
	logical.UpdateOperation, logical.PatchOperation, logical.DeleteOperation,
}

// malformedBodies are request bodies that are not one JSON object.
var malformedBodies = []string{
	`{`, `{"a":}`, `{"a":1}{}`, `{"a":1} x`, `[]`, `"string"`, `42`, `nul`, `{'a':1}`, "\xff\xfe",
}

// oddPaths returns paths with characters a router lets through, alone and
// under each sample path.
func oddPaths(opts Options) []string {
	odd := []string{
		"", "/", "a b", "ünïcødé/秘密", "%2e%2e", "a%00b", "\x00", "a\nb", "*", "?x=1", "#",
		strings.Repeat("long/", 200) + "end", strings.Repeat("x", 4096), "(?P<x>.*)", "\\", "..a", "a..",
	}
	out := slices.Clone(odd)
	for _, req := range slices.Concat(opts.Writes, opts.Reads) {
		base := strings.TrimSuffix(req.Path, "/")
		for _, o := range odd {
			out = append(out, base+"/"+o, base+o)
		}
	}
	return out
}

// call sends a copy of req to b, failing t on a panic and checking that a
// successful response marshals to JSON.
func call(t *testing.T, b logical.Backend, req *logical.Request) (resp *logical.Response, err error) {
	t.Helper()
	req = clone(req)
	noPanic(t, fmt.Sprintf("%s %q", req.Operation, req.Path), func() {
		resp, err = b.HandleRequest(t.Context(), req)
	})
	if err == nil && resp != nil && resp.Data != nil {
		if _, merr := json.Marshal(resp.Data); merr != nil {
			t.Errorf("%s %q: response data does not marshal: %v", req.Operation, req.Path, merr)
		}
	}
	return resp, err
}

func noPanic(t *testing.T, what string, fn func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s panicked: %v", what, r)
		}
	}()
	fn()
}

// isTyped reports whether err carries one of the logical error kinds.
func isTyped(err error) bool {
	for _, kind := range []error{
		logical.ErrInvalidRequest, logical.ErrPermissionDenied, logical.ErrNotFound,
		logical.ErrUnsupportedOperation, logical.ErrUnsupportedPath, logical.ErrUpstream,
		logical.ErrTooLarge, logical.ErrConflict, logical.ErrInvalidCredentials,
	} {
		if errors.Is(err, kind) {
			return true
		}
	}
	return false
}

func clone(req *logical.Request) *logical.Request {
	c := *req
	c.Body = slices.Clone(req.Body)
	c.Query = maps.Clone(req.Query)
	return &c
}

func sameSnapshot(a, b map[string][]byte) bool {
	return maps.EqualFunc(a, b, func(x, y []byte) bool { return string(x) == string(y) })
}

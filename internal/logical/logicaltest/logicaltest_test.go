package logicaltest

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// itemBackend is a small well-behaved backend for exercising Run.
type itemBackend struct {
	framework.Backend
	storage logical.Storage
}

type itemInput struct {
	Value string `json:"value"`
}

func newItemBackend(_ context.Context, env logical.Env) (logical.Backend, error) {
	b := &itemBackend{storage: env.Storage}
	b.Paths = []*framework.Path{
		{
			Pattern: `items/(?P<name>[a-z]+)`,
			Operations: map[logical.Operation]framework.Handler{
				logical.ReadOperation:   b.read,
				logical.UpdateOperation: framework.Typed(b.write),
			},
			ExistenceCheck: func(ctx context.Context, _ *logical.Request, m *framework.Match) (bool, error) {
				e, err := b.storage.Get(ctx, "items/"+m.Get("name"))
				return e != nil, err
			},
		},
		{
			Pattern: `items/?`,
			Operations: map[logical.Operation]framework.Handler{
				logical.ListOperation: b.list,
			},
		},
	}
	return b, b.Compile()
}

func (b *itemBackend) read(ctx context.Context, _ *logical.Request, m *framework.Match) (*logical.Response, error) {
	e, err := b.storage.Get(ctx, "items/"+m.Get("name"))
	if err != nil || e == nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]string{"value": string(e.Value)}}, nil
}

func (b *itemBackend) write(ctx context.Context, _ *logical.Request, m *framework.Match, in *itemInput) (*logical.Response, error) {
	return nil, b.storage.Put(ctx, &logical.StorageEntry{Key: "items/" + m.Get("name"), Value: []byte(in.Value)})
}

func (b *itemBackend) list(ctx context.Context, _ *logical.Request, _ *framework.Match) (*logical.Response, error) {
	keys, err := b.storage.List(ctx, "items/")
	if err != nil {
		return nil, err
	}
	return framework.ListResponse(keys)
}

func TestRunOnWellBehavedBackend(t *testing.T) {
	t.Parallel()
	Run(t, newItemBackend, Options{
		Writes: []*logical.Request{
			{Operation: logical.UpdateOperation, Path: "items/a", Body: json.RawMessage(`{"value":"x"}`)},
			{Operation: logical.CreateOperation, Path: "items/b", Body: json.RawMessage(`{"value":"y"}`)},
		},
		Reads: []*logical.Request{
			{Operation: logical.ReadOperation, Path: "items/a"},
			{Operation: logical.ListOperation, Path: "items/"},
		},
	})
}

func TestStorage(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := NewStorage()
	for _, k := range []string{"a", "b/c", "b/d/e", "bz"} {
		if err := s.Put(ctx, &logical.StorageEntry{Key: k, Value: []byte(k)}); err != nil {
			t.Fatalf("Put(%q) error = %v", k, err)
		}
	}
	got, err := s.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a", "b/", "bz"}, got); diff != "" {
		t.Errorf("List(\"\") mismatch (-want +got):\n%s", diff)
	}
	got, _ = s.List(ctx, "b/")
	if diff := cmp.Diff([]string{"c", "d/"}, got); diff != "" {
		t.Errorf("List(\"b/\") mismatch (-want +got):\n%s", diff)
	}

	e, err := s.Get(ctx, "a")
	if err != nil || e == nil || string(e.Value) != "a" {
		t.Fatalf("Get(a) = %v, %v", e, err)
	}
	e.Value[0] = 'z' // must not reach the stored copy
	if e, _ := s.Get(ctx, "a"); string(e.Value) != "a" {
		t.Errorf("Get returned a shared slice: stored value now %q", e.Value)
	}
	if e, err := s.Get(ctx, "missing"); e != nil || err != nil {
		t.Errorf("Get(missing) = %v, %v, want nil, nil", e, err)
	}

	before := s.Snapshot()
	err = s.Txn(ctx, []logical.TxnOp{{Key: "new", Value: []byte("1")}, {Key: "../bad", Value: []byte("2")}})
	if err == nil {
		t.Fatal("Txn with an invalid key = nil, want error")
	}
	if diff := cmp.Diff(before, s.Snapshot()); diff != "" {
		t.Errorf("failed Txn changed storage (-before +after):\n%s", diff)
	}
	if err := s.Txn(ctx, []logical.TxnOp{{Key: "a", Delete: true}, {Key: "n", Value: []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	if e, _ := s.Get(ctx, "a"); e != nil {
		t.Errorf("Txn delete left a")
	}
	c := s.Counts()
	if c.Puts != 4 || c.Txns != 2 || c.Lists != 2 || c.Gets != 4 {
		t.Errorf("Counts() = %+v, want 4 puts, 2 txns, 2 lists, 4 gets", c)
	}
}

func TestClock(t *testing.T) {
	t.Parallel()
	env := NewEnv(nil)
	c := env.Clock.(*Clock)
	start := c.Now()
	c.Advance(90)
	if got := c.Now().Sub(start); got != 90 {
		t.Errorf("Advance(90) moved the clock by %v", got)
	}
}

func TestNewFailsOnFactoryError(t *testing.T) {
	t.Parallel()
	factory := func(context.Context, logical.Env) (logical.Backend, error) { return nil, errors.New("boom") }
	ft := &fakeTB{TB: t}
	func() {
		defer func() { _ = recover() }()
		New(ft, factory, NewEnv(nil))
	}()
	if !ft.failed {
		t.Error("New with a failing factory did not fail the test")
	}
}

// fakeTB records Fatalf instead of stopping the real test.
type fakeTB struct {
	testing.TB
	failed bool
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(string, ...any) {
	f.failed = true
	panic("fatal")
}

package framework_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

type widget struct {
	Size int `json:"size"`
}

// countingLock is a sync.Locker that counts how often it was taken.
type countingLock struct {
	sync.Mutex
	taken int // guarded by the caller: the test runs requests one by one
}

func (l *countingLock) Lock() { l.Mutex.Lock(); l.taken++ }

// widgetName refuses names with upper-case letters, as an engine's name
// check would.
func widgetName(m *framework.Match) (string, error) {
	n := m.Get("name")
	if strings.ToLower(n) != n {
		return "", logical.InvalidRequest("invalid widget name")
	}
	return n, nil
}

func newWidgets(st logical.Storage, lock *countingLock) (*framework.Collection[widget], *framework.Backend) {
	c := &framework.Collection[widget]{
		Storage: st,
		Prefix:  "widget/",
		Lock:    func(string) sync.Locker { return lock },
	}
	b := &framework.Backend{Paths: []*framework.Path{
		{
			Pattern:    `widget/?`,
			Operations: map[logical.Operation]framework.Handler{logical.ListOperation: c.ListHandler()},
		},
		{
			Pattern: `widget/(?P<name>[^/]+)`,
			Operations: map[logical.Operation]framework.Handler{
				logical.ReadOperation:   c.ReadHandler(widgetName, func(w *widget) any { return map[string]int{"size": w.Size} }),
				logical.DeleteOperation: c.DeleteHandler(widgetName),
			},
			ExistenceCheck: c.ExistenceCheck(widgetName),
		},
	}}
	return c, b
}

func TestCollectionStore(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := logicaltest.NewStorage()
	c, _ := newWidgets(st, &countingLock{})
	if w, err := c.Get(ctx, "a"); w != nil || err != nil {
		t.Fatalf("Get of a missing record = %v, %v; want nil, nil", w, err)
	}
	if ok, err := c.Exists(ctx, "a"); ok || err != nil {
		t.Fatalf("Exists of a missing record = %v, %v; want false, nil", ok, err)
	}
	for _, name := range []string{"b", "a"} {
		if err := c.Put(ctx, name, &widget{Size: len(name) + 1}); err != nil {
			t.Fatal(err)
		}
	}
	if got := st.Snapshot()["widget/a"]; string(got) != `{"size":2}` {
		t.Errorf("stored widget/a = %s, want {\"size\":2}", got)
	}
	if w, err := c.Get(ctx, "a"); err != nil || w == nil || w.Size != 2 {
		t.Fatalf("Get(a) = %+v, %v; want size 2", w, err)
	}
	if ok, err := c.Exists(ctx, "a"); !ok || err != nil {
		t.Fatalf("Exists(a) = %v, %v; want true, nil", ok, err)
	}
	names, err := c.List(ctx)
	if diff := cmp.Diff([]string{"a", "b"}, names); err != nil || diff != "" {
		t.Fatalf("List = %v, %v (-want +got):\n%s", names, err, diff)
	}
	op, err := c.PutOp("c", &widget{Size: 3})
	if err != nil || op.Key != "widget/c" || string(op.Value) != `{"size":3}` || op.Delete {
		t.Fatalf("PutOp = %+v, %v", op, err)
	}
	if err := c.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "a"); err != nil {
		t.Fatalf("Delete of a missing record: %v", err)
	}
	if w, err := c.Get(ctx, "a"); w != nil || err != nil {
		t.Fatalf("Get after Delete = %v, %v", w, err)
	}
	if err := st.Put(ctx, &logical.StorageEntry{Key: "widget/bad", Value: []byte("{not json")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "bad"); err == nil {
		t.Error("Get of a corrupt record succeeded")
	}
}

func TestCollectionHandlers(t *testing.T) {
	t.Parallel()
	st := logicaltest.NewStorage()
	lock := &countingLock{}
	c, b := newWidgets(st, lock)
	if err := c.Put(t.Context(), "a", &widget{Size: 7}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		op        logical.Operation
		path      string
		want      string // the response data as JSON; "" for no response
		wantErr   error
		wantTaken int // the lock's count after the request
	}{
		{name: "list", op: logical.ListOperation, path: "widget/", want: `{"keys":["a"]}`},
		{name: "read", op: logical.ReadOperation, path: "widget/a", want: `{"size":7}`},
		{name: "read missing", op: logical.ReadOperation, path: "widget/z"},
		{name: "read bad name", op: logical.ReadOperation, path: "widget/A", wantErr: logical.ErrInvalidRequest},
		{name: "delete bad name", op: logical.DeleteOperation, path: "widget/A", wantErr: logical.ErrInvalidRequest},
		{name: "delete", op: logical.DeleteOperation, path: "widget/a", wantTaken: 1},
		{name: "delete missing", op: logical.DeleteOperation, path: "widget/a", wantTaken: 2},
		{name: "read deleted", op: logical.ReadOperation, path: "widget/a", wantTaken: 2},
		{name: "list empty", op: logical.ListOperation, path: "widget", wantTaken: 2},
	}
	for _, tt := range tests {
		resp, err := b.HandleRequest(t.Context(), &logical.Request{Operation: tt.op, Path: tt.path})
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("%s: error = %v, want %v", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got := ""
		if resp != nil {
			raw, err := json.Marshal(resp.Data)
			if err != nil {
				t.Fatal(err)
			}
			got = string(raw)
		}
		if got != tt.want {
			t.Errorf("%s: data = %s, want %s", tt.name, got, tt.want)
		}
		if lock.taken != tt.wantTaken {
			t.Errorf("%s: lock taken %d times, want %d", tt.name, lock.taken, tt.wantTaken)
		}
	}
}

func TestCollectionExistenceCheck(t *testing.T) {
	t.Parallel()
	st := logicaltest.NewStorage()
	c, b := newWidgets(st, &countingLock{})
	if err := c.Put(t.Context(), "a", &widget{}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path       string
		wantExists bool
	}{
		{path: "widget/a", wantExists: true},
		{path: "widget/b"},
		{path: "widget/A"}, // refused names do not exist
	}
	for _, tt := range tests {
		exists, handled, err := b.ExistenceCheck(context.Background(), &logical.Request{Operation: logical.CreateOperation, Path: tt.path})
		if err != nil || !handled || exists != tt.wantExists {
			t.Errorf("ExistenceCheck(%q) = %v, %v, %v; want %v, true, nil", tt.path, exists, handled, err, tt.wantExists)
		}
	}
}

func TestCaptureAndHoldWithoutLock(t *testing.T) {
	t.Parallel()
	c := &framework.Collection[widget]{Storage: logicaltest.NewStorage(), Prefix: "w/"}
	c.Hold("x")() // no Lock: a no-op, not a panic
	b := &framework.Backend{Paths: []*framework.Path{{
		Pattern:    `w/(?P<id>.+)`,
		Operations: map[logical.Operation]framework.Handler{logical.ReadOperation: c.ReadHandler(framework.Capture("id"), func(w *widget) any { return w })},
	}}}
	if err := c.Put(t.Context(), "Mixed.Case", &widget{Size: 1}); err != nil {
		t.Fatal(err)
	}
	resp, err := b.HandleRequest(t.Context(), &logical.Request{Operation: logical.ReadOperation, Path: "w/Mixed.Case"})
	if err != nil || resp == nil || resp.Data.(*widget).Size != 1 {
		t.Fatalf("read by Capture = %+v, %v", resp, err)
	}
}

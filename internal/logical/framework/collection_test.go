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

func TestCollectionPaths(t *testing.T) {
	t.Parallel()
	c := &framework.Collection[widget]{Storage: logicaltest.NewStorage(), Prefix: "widget/"}
	write := func(context.Context, *logical.Request, *framework.Match) (*logical.Response, error) {
		return &logical.Response{Data: "written"}, nil
	}
	tests := []struct {
		name               string
		paths              framework.CollectionPaths[widget]
		wantList, wantItem string // patterns
		wantListSynopsis   string
		wantSynopsis       string
		wantDelete         bool // whether delete is the collection's own
	}{
		{
			name:             "noun",
			paths:            framework.CollectionPaths[widget]{Base: "widget", Capture: "name", Noun: "widget", Write: write},
			wantList:         `widget/?`,
			wantItem:         `widget/(?P<name>[^/]+)`,
			wantListSynopsis: "List widgets.",
			wantSynopsis:     "Create, read, update and delete a widget.",
			wantDelete:       true,
		},
		{
			name: "overrides",
			paths: framework.CollectionPaths[widget]{
				Base: "w", Capture: "id", NamePattern: `[a-z]+`, Noun: "widget", Write: write,
				Operations:   map[logical.Operation]framework.Handler{logical.DeleteOperation: write},
				ListSynopsis: "All of them.", Synopsis: "One of them.",
			},
			wantList:         `w/?`,
			wantItem:         `w/(?P<id>[a-z]+)`,
			wantListSynopsis: "All of them.",
			wantSynopsis:     "One of them.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ps := c.Paths(tt.paths)
			if len(ps) != 2 {
				t.Fatalf("Paths returned %d paths, want 2", len(ps))
			}
			list, item := ps[0], ps[1]
			if list.Pattern != tt.wantList || item.Pattern != tt.wantItem {
				t.Errorf("patterns = %q, %q; want %q, %q", list.Pattern, item.Pattern, tt.wantList, tt.wantItem)
			}
			if list.Synopsis != tt.wantListSynopsis || item.Synopsis != tt.wantSynopsis {
				t.Errorf("synopses = %q, %q; want %q, %q", list.Synopsis, item.Synopsis, tt.wantListSynopsis, tt.wantSynopsis)
			}
			if list.Operations[logical.ListOperation] == nil || item.Operations[logical.ReadOperation] == nil || item.ExistenceCheck == nil {
				t.Error("list, read or existence check missing")
			}
			b := &framework.Backend{Paths: ps}
			path := "widget/x"
			if tt.paths.Base == "w" {
				path = "w/x"
			}
			resp, err := b.HandleRequest(t.Context(), &logical.Request{Operation: logical.UpdateOperation, Path: path})
			if err != nil || resp == nil || resp.Data != "written" {
				t.Errorf("update = %+v, %v; want the Write handler's answer", resp, err)
			}
			resp, err = b.HandleRequest(t.Context(), &logical.Request{Operation: logical.DeleteOperation, Path: path})
			if own := err == nil && resp == nil; own != tt.wantDelete {
				t.Errorf("delete answered %+v, %v; want the collection's own delete: %v", resp, err, tt.wantDelete)
			}
		})
	}
}

func TestCollectionEach(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, _ := newWidgets(logicaltest.NewStorage(), &countingLock{})
	for i, name := range []string{"c", "a", "b"} {
		if err := c.Put(ctx, name, &widget{Size: i}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	err := c.Each(ctx, func(name string, w *widget) error {
		got = append(got, name)
		return nil
	})
	if err != nil || !cmp.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("Each visited %v (%v), want a b c in order", got, err)
	}
	stop := errors.New("stop")
	got = nil
	err = c.Each(ctx, func(name string, _ *widget) error {
		got = append(got, name)
		return stop
	})
	if !errors.Is(err, stop) || len(got) != 1 {
		t.Fatalf("Each after an error visited %v and returned %v; want one record and the error", got, err)
	}
}

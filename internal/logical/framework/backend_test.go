package framework

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// echo answers with the operation and the "name" capture.
func echo(tag string) Handler {
	return func(_ context.Context, req *logical.Request, m *Match) (*logical.Response, error) {
		return &logical.Response{Data: tag + ":" + string(req.Operation) + ":" + m.Get("name")}, nil
	}
}

func testBackend() *Backend {
	return &Backend{Paths: []*Path{
		{
			Pattern: `config`,
			Operations: map[logical.Operation]Handler{
				logical.ReadOperation:   echo("config"),
				logical.UpdateOperation: echo("config"),
			},
		},
		{
			Pattern: `roles/(?P<name>[^/]+)`,
			Operations: map[logical.Operation]Handler{
				logical.ReadOperation:   echo("role"),
				logical.CreateOperation: echo("role-create"),
				logical.UpdateOperation: echo("role-update"),
			},
			ExistenceCheck: func(_ context.Context, _ *logical.Request, m *Match) (bool, error) {
				return m.Get("name") == "exists", nil
			},
		},
		{
			Pattern: `roles/?`,
			Operations: map[logical.Operation]Handler{
				logical.ListOperation: echo("roles"),
			},
		},
		{
			Pattern: `(?P<name>.*)`,
			Operations: map[logical.Operation]Handler{
				logical.DeleteOperation: echo("any"),
			},
		},
	}}
}

func TestHandleRequest(t *testing.T) {
	t.Parallel()
	b := testBackend()
	tests := []struct {
		name    string
		op      logical.Operation
		path    string
		want    string
		wantErr error
	}{
		{name: "read config", op: logical.ReadOperation, path: "config", want: "config:read:"},
		{name: "create falls back to update", op: logical.CreateOperation, path: "config", want: "config:create:"},
		{name: "explicit create handler", op: logical.CreateOperation, path: "roles/a", want: "role-create:create:a"},
		{name: "update", op: logical.UpdateOperation, path: "roles/a", want: "role-update:update:a"},
		{name: "list with slash", op: logical.ListOperation, path: "roles/", want: "roles:list:"},
		{name: "list without slash", op: logical.ListOperation, path: "roles", want: "roles:list:"},
		{name: "first match wins", op: logical.DeleteOperation, path: "config", wantErr: logical.ErrUnsupportedOperation},
		{name: "catch-all", op: logical.DeleteOperation, path: "x/y", want: "any:delete:x/y"},
		{name: "anchored at end", op: logical.ReadOperation, path: "configx", wantErr: logical.ErrUnsupportedOperation},
		{name: "unsupported op", op: logical.PatchOperation, path: "roles/a", wantErr: logical.ErrUnsupportedOperation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, err := b.HandleRequest(t.Context(), &logical.Request{Operation: tt.op, Path: tt.path})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("HandleRequest(%s %q) error = %v, want %v", tt.op, tt.path, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("HandleRequest(%s %q) error = %v", tt.op, tt.path, err)
			}
			if got := resp.Data; got != tt.want {
				t.Errorf("HandleRequest(%s %q) = %v, want %v", tt.op, tt.path, got, tt.want)
			}
		})
	}
}

func TestHandleRequestUnsupportedPath(t *testing.T) {
	t.Parallel()
	b := &Backend{Paths: []*Path{{Pattern: `a/(?P<x>.+)`}}}
	for _, p := range []string{"", "a", "a/", "b/c", "xa/b"} {
		_, err := b.HandleRequest(t.Context(), &logical.Request{Operation: logical.ReadOperation, Path: p})
		if !errors.Is(err, logical.ErrUnsupportedPath) {
			t.Errorf("HandleRequest(%q) error = %v, want ErrUnsupportedPath", p, err)
		}
	}
}

func TestCompileError(t *testing.T) {
	t.Parallel()
	b := &Backend{Paths: []*Path{{Pattern: `(`}}}
	if err := b.Compile(); err == nil {
		t.Fatal("Compile() = nil, want error for a bad pattern")
	}
	if _, err := b.HandleRequest(t.Context(), &logical.Request{Path: "x"}); err == nil {
		t.Fatal("HandleRequest with a bad pattern = nil error, want error")
	}
}

func TestExistenceCheck(t *testing.T) {
	t.Parallel()
	b := testBackend()
	tests := []struct {
		path                  string
		wantExists, wantKnown bool
	}{
		{path: "roles/exists", wantExists: true, wantKnown: true},
		{path: "roles/other", wantExists: false, wantKnown: true},
		{path: "config", wantExists: false, wantKnown: false},
	}
	for _, tt := range tests {
		exists, handled, err := b.ExistenceCheck(t.Context(), &logical.Request{Operation: logical.UpdateOperation, Path: tt.path})
		if err != nil {
			t.Fatalf("ExistenceCheck(%q) error = %v", tt.path, err)
		}
		if exists != tt.wantExists || handled != tt.wantKnown {
			t.Errorf("ExistenceCheck(%q) = %v, %v, want %v, %v", tt.path, exists, handled, tt.wantExists, tt.wantKnown)
		}
	}
}

func TestMatchGet(t *testing.T) {
	t.Parallel()
	var nilMatch *Match
	if got := nilMatch.Get("x"); got != "" {
		t.Errorf("nil Match.Get = %q, want empty", got)
	}
	m := &Match{names: []string{"", "a", "b"}, values: []string{"whole", "1", "2"}}
	for name, want := range map[string]string{"a": "1", "b": "2", "c": "", "": ""} {
		if got := m.Get(name); got != want {
			t.Errorf("Get(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestListResponse(t *testing.T) {
	t.Parallel()
	resp, err := ListResponse(nil)
	if resp != nil || err != nil {
		t.Errorf("ListResponse(nil) = %v, %v, want nil, nil", resp, err)
	}
	resp, err = ListResponse([]string{"a", "b/"})
	if err != nil {
		t.Fatal(err)
	}
	got := resp.Data.(*ListData).Keys
	if len(got) != 2 || got[0] != "a" || got[1] != "b/" {
		t.Errorf("ListResponse keys = %v", got)
	}
}

func TestQueryInt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw     string
		want    int
		wantErr bool
	}{
		{raw: "", want: 7},
		{raw: "3", want: 3},
		{raw: " 0 ", want: 0},
		{raw: "-1", wantErr: true},
		{raw: "x", wantErr: true},
		{raw: "99999999999999999999999", wantErr: true},
	}
	for _, tt := range tests {
		req := &logical.Request{Query: map[string][]string{"version": {tt.raw}}}
		got, err := QueryInt(req, "version", 7)
		if tt.wantErr {
			if !errors.Is(err, logical.ErrInvalidRequest) {
				t.Errorf("QueryInt(%q) error = %v, want ErrInvalidRequest", tt.raw, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("QueryInt(%q) = %d, %v, want %d", tt.raw, got, err, tt.want)
		}
	}
	if got, err := QueryInt(&logical.Request{}, "version", 5); got != 5 || err != nil {
		t.Errorf("QueryInt(no query) = %d, %v, want 5, nil", got, err)
	}
}

func TestBackendHelp(t *testing.T) {
	t.Parallel()
	noop := func(context.Context, *logical.Request, *Match) (*logical.Response, error) { return nil, nil }
	b := &Backend{Paths: []*Path{
		{Pattern: `keys/?`, Operations: map[logical.Operation]Handler{logical.ListOperation: noop}, Synopsis: "List keys."},
		{Pattern: `keys/(?P<name>[^/]+)`, Operations: map[logical.Operation]Handler{logical.ReadOperation: noop, logical.UpdateOperation: noop}, Synopsis: "Manage a key.", TopLevel: true},
	}}
	h, err := b.Help("keys/k1")
	if err != nil {
		t.Fatal(err)
	}
	want := logical.HelpPath{Pattern: `keys/(?P<name>[^/]+)`, Synopsis: "Manage a key.", Captures: []string{"name"},
		Operations: []logical.Operation{logical.CreateOperation, logical.ReadOperation, logical.UpdateOperation}}
	if len(h.Paths) != 1 || !reflect.DeepEqual(h.Paths[0], want) {
		t.Errorf("Help(keys/k1).Paths = %+v, want [%+v]", h.Paths, want)
	}
	for _, s := range []string{"Request:        keys/k1", "Manage a key.", "name (string)", "create, read, update"} {
		if !strings.Contains(h.Text, s) {
			t.Errorf("Help(keys/k1) text lacks %q:\n%s", s, h.Text)
		}
	}
	root, err := b.Help("")
	if err != nil || len(root.Paths) != 2 || !strings.Contains(root.Text, "List keys.") || !strings.Contains(root.Text, "Manage a key.") {
		t.Errorf("root help = %+v, %v", root, err)
	}
	if _, err := b.Help("nope"); !errors.Is(err, logical.ErrUnsupportedPath) {
		t.Errorf("Help(nope) error = %v, want ErrUnsupportedPath", err)
	}
	resp, err := b.HandleRequest(t.Context(), &logical.Request{Operation: logical.ReadOperation, Path: "keys/k"})
	if err != nil || resp != nil {
		t.Errorf("nil response = %v, %v", resp, err)
	}
}

func TestBackendTopLevel(t *testing.T) {
	t.Parallel()
	data := func(context.Context, *logical.Request, *Match) (*logical.Response, error) {
		return &logical.Response{Data: map[string]int{"a": 1}}, nil
	}
	b := &Backend{Paths: []*Path{
		{Pattern: `old`, Operations: map[logical.Operation]Handler{logical.ReadOperation: data}, TopLevel: true},
		{Pattern: `new`, Operations: map[logical.Operation]Handler{logical.ReadOperation: data}},
	}}
	for path, want := range map[string]bool{"old": true, "new": false} {
		resp, err := b.HandleRequest(t.Context(), &logical.Request{Operation: logical.ReadOperation, Path: path})
		if err != nil || resp.TopLevel != want {
			t.Errorf("%s: TopLevel = %v, %v; want %v", path, resp.TopLevel, err, want)
		}
	}
}

package logicaltest

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// echoBackend answers every request with what it received.
type echoBackend struct{}

type echoData struct {
	Path string          `json:"path"`
	Addr string          `json:"addr"`
	Body json.RawMessage `json:"body"`
}

func (echoBackend) HandleRequest(_ context.Context, r *logical.Request) (*logical.Response, error) {
	if r.Path == "fail" {
		return nil, logical.InvalidRequest("told to fail")
	}
	return &logical.Response{Data: &echoData{Path: r.Path, Addr: r.Connection.RemoteAddr, Body: r.Body}}, nil
}

func echoFactory(context.Context, logical.Env) (logical.Backend, error) { return echoBackend{}, nil }

func TestHarnessRequests(t *testing.T) {
	t.Parallel()
	h := NewHarness(t, echoFactory, logical.Env{})
	if h.Storage == nil || h.Clock == nil || h.Env.Storage != h.Storage {
		t.Fatalf("NewHarness with a zero env: Storage %v, Clock %v; want NewEnv's", h.Storage, h.Clock)
	}
	tests := []struct {
		name string
		addr string
		body any
		want string
	}{
		{name: "no body", want: `{"path":"p","addr":"` + DefaultAddr + `","body":null}`},
		{name: "string body", body: `{"a":1}`, want: `{"path":"p","addr":"` + DefaultAddr + `","body":{"a":1}}`},
		{name: "bytes body", body: []byte(`[1]`), want: `{"path":"p","addr":"` + DefaultAddr + `","body":[1]}`},
		{name: "value body", body: map[string]int{"n": 2}, want: `{"path":"p","addr":"` + DefaultAddr + `","body":{"n":2}}`},
		{name: "other address", addr: "198.51.100.7:1", want: `{"path":"p","addr":"198.51.100.7:1","body":null}`},
	}
	for _, tt := range tests {
		resp, err := h.DoFrom(tt.addr, logical.ReadOperation, "p", tt.body)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		DiffJSON(t, tt.name, tt.want, resp)
	}
	DiffJSON(t, "Must", `{"path":"q","addr":"`+DefaultAddr+`","body":null}`, h.Must(logical.ReadOperation, "q", nil))
	before := h.Storage.Snapshot()
	resp, err := h.DoReq(Req{Op: logical.ReadOperation, Path: "r", Body: `{"b":2}`, Addr: "198.51.100.8:2"})
	WantData(t, "DoReq", `{"path":"r","addr":"198.51.100.8:2","body":{"b":2}}`, resp, err)
	DiffJSON(t, "MustReq", `{"path":"s","addr":"`+DefaultAddr+`","body":null}`, h.MustReq(Req{Op: logical.ReadOperation, Path: "s"}))
	h.Unchanged("reads", before)
	_, err = h.Do(logical.ReadOperation, "fail", "")
	WantKind(t, "a failing request", err, logical.ErrInvalidRequest)
}

func TestData(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		resp *logical.Response
		want any
	}{
		{name: "no response"},
		{name: "no data", resp: &logical.Response{}},
		{name: "object", resp: &logical.Response{Data: map[string]int{"a": 1}}, want: map[string]any{"a": 1.0}},
		{name: "list", resp: &logical.Response{Data: []string{"x"}}, want: []any{"x"}},
	}
	for _, tt := range tests {
		got := Data(t, tt.resp)
		gotJSON, _ := json.Marshal(got)
		wantJSON, _ := json.Marshal(tt.want)
		if string(gotJSON) != string(wantJSON) {
			t.Errorf("%s: Data = %s, want %s", tt.name, gotJSON, wantJSON)
		}
	}
}

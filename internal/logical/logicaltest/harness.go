package logicaltest

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// DefaultAddr is the client address ("ip:port") of a [Harness] request
// that names none.
const DefaultAddr = "192.0.2.10:51000"

// Harness drives one backend through HandleRequest, as core would, for a
// package's own tests. Build it with [NewHarness]; its fields may be read
// and T may be pointed at a subtest.
type Harness struct {
	// T is the test that a failed request fails.
	T testing.TB
	// Backend is the backend under test, built by [New].
	Backend logical.Backend
	// Env is the environment the backend was built on; Storage and
	// Clock are its storage and clock when they are the test ones.
	Env     logical.Env
	Storage *Storage
	Clock   *Clock
}

// NewHarness builds factory's backend on env, as [New] does; a zero env
// means [NewEnv](nil).
func NewHarness(tb testing.TB, factory logical.Factory, env logical.Env) *Harness {
	tb.Helper()
	if env.Storage == nil {
		env = NewEnv(nil)
	}
	h := &Harness{T: tb, Backend: New(tb, factory, env), Env: env}
	h.Storage, _ = env.Storage.(*Storage)
	h.Clock, _ = env.Clock.(*Clock)
	return h
}

// Request returns a request for op on path from [DefaultAddr]. body is
// the JSON body: a string or []byte is sent as it is ("" or nil for no
// body), anything else is encoded with encoding/json.
func (h *Harness) Request(op logical.Operation, path string, body any) *logical.Request {
	h.T.Helper()
	r := &logical.Request{Operation: op, Path: path, Connection: &logical.Connection{RemoteAddr: DefaultAddr}}
	switch v := body.(type) {
	case nil:
	case string:
		if v != "" {
			r.Body = json.RawMessage(v)
		}
	case []byte:
		if len(v) > 0 {
			r.Body = json.RawMessage(v)
		}
	default:
		raw, err := json.Marshal(v)
		if err != nil {
			h.T.Fatalf("encode the body of %s %q: %v", op, path, err)
		}
		r.Body = raw
	}
	return r
}

// Send hands r to the backend with h.T's context.
func (h *Harness) Send(r *logical.Request) (*logical.Response, error) {
	h.T.Helper()
	return h.Backend.HandleRequest(h.T.Context(), r)
}

// Do sends op on path with body (see [Harness.Request]) from
// [DefaultAddr].
func (h *Harness) Do(op logical.Operation, path string, body any) (*logical.Response, error) {
	h.T.Helper()
	return h.Send(h.Request(op, path, body))
}

// DoFrom is [Harness.Do] from the client address addr ("ip:port"; ""
// means [DefaultAddr]).
func (h *Harness) DoFrom(addr string, op logical.Operation, path string, body any) (*logical.Response, error) {
	h.T.Helper()
	r := h.Request(op, path, body)
	if addr != "" {
		r.Connection.RemoteAddr = addr
	}
	return h.Send(r)
}

// Must is [Harness.Do] for a request that must succeed: an error fails
// h.T.
func (h *Harness) Must(op logical.Operation, path string, body any) *logical.Response {
	h.T.Helper()
	resp, err := h.Do(op, path, body)
	if err != nil {
		h.T.Fatalf("%s %q: %v", op, path, err)
	}
	return resp
}

// Req is one request in a test table: a body as [Harness.Request] takes
// it and the client's "ip:port" ("" for [DefaultAddr]).
type Req struct {
	Op   logical.Operation
	Path string
	Body string
	Addr string
}

// DoReq is [Harness.DoFrom] for r.
func (h *Harness) DoReq(r Req) (*logical.Response, error) {
	h.T.Helper()
	return h.DoFrom(r.Addr, r.Op, r.Path, r.Body)
}

// MustReq is [Harness.DoReq] for a request that must succeed: an error
// fails h.T.
func (h *Harness) MustReq(r Req) *logical.Response {
	h.T.Helper()
	resp, err := h.DoReq(r)
	if err != nil {
		h.T.Fatalf("%s %q: %v", r.Op, r.Path, err)
	}
	return resp
}

// Data returns resp's data as generic JSON (maps, slices, float64s), or
// nil when there is no response or no data.
func Data(tb testing.TB, resp *logical.Response) any {
	tb.Helper()
	if resp == nil || resp.Data == nil {
		return nil
	}
	b, err := json.Marshal(resp.Data)
	if err != nil {
		tb.Fatalf("marshal response data: %v", err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		tb.Fatalf("unmarshal response data: %v", err)
	}
	return v
}

// JSON decodes s, a JSON text written in the test, into generic JSON; bad
// JSON fails tb.
func JSON(tb testing.TB, s string) any {
	tb.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		tb.Fatalf("bad test JSON %q: %v", s, err)
	}
	return v
}

// DiffJSON reports an error on tb when resp's data is not the JSON want
// ("null" for no data), with the difference; what names the request.
func DiffJSON(tb testing.TB, what, want string, resp *logical.Response) {
	tb.Helper()
	if diff := cmp.Diff(JSON(tb, want), Data(tb, resp)); diff != "" {
		tb.Errorf("%s mismatch (-want +got):\n%s", what, diff)
	}
}

// WantData checks the answer of a request that must succeed: err fails
// tb, and resp must be nil when want is "" and otherwise carry data that
// is the JSON want ([DiffJSON]); what names the request.
func WantData(tb testing.TB, what, want string, resp *logical.Response, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatalf("%s: %v", what, err)
	}
	if want == "" {
		if resp != nil {
			tb.Errorf("%s: response = %+v, want none", what, resp)
		}
		return
	}
	DiffJSON(tb, what, want, resp)
}

// Unchanged reports an error on h.T when the storage is no longer before
// (a [Storage.Snapshot] taken earlier), with the difference; what names
// the request that should have left it alone.
func (h *Harness) Unchanged(what string, before map[string][]byte) {
	h.T.Helper()
	if diff := cmp.Diff(before, h.Storage.Snapshot()); diff != "" {
		h.T.Errorf("%s: storage changed (-before +after):\n%s", what, diff)
	}
}

// WantKind fails tb unless err is of kind ([errors.Is]).
func WantKind(tb testing.TB, what string, err, kind error) {
	tb.Helper()
	if !errors.Is(err, kind) {
		tb.Fatalf("%s: error = %v, want %v", what, err, kind)
	}
}

// WantError fails tb unless err is of kind, and reports an error unless
// its message contains substr.
func WantError(tb testing.TB, what string, err, kind error, substr string) {
	tb.Helper()
	WantKind(tb, what, err, kind)
	if !strings.Contains(err.Error(), substr) {
		tb.Errorf("%s: error %q does not contain %q", what, err.Error(), substr)
	}
}

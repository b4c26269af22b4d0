package approle

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

func TestLogin(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	idA := h.role("a", `{"token_policies":"dev,ops","token_ttl":"10m","token_max_ttl":"1h","token_num_uses":3,"token_type":"service"}`)
	idB := h.role("b", `{}`)
	idNet := h.role("net", `{"secret_id_bound_cidrs":"10.0.0.0/8"}`)
	idTok := h.role("tok", `{"token_bound_cidrs":"10.0.0.0/8,192.0.2.0/24"}`)
	idFree := h.role("free", `{"bind_secret_id":false,"secret_id_bound_cidrs":"10.9.0.0/16","token_policies":"p"}`)
	sidA, accA := h.secretID("a", `{"metadata":"{\"tag\":\"prod\",\"role_name\":\"spoof\"}"}`)
	sidB, _ := h.secretID("b", `{}`)
	sidNet, _ := h.secretID("net", `{}`)
	sidList, _ := h.secretID("b", `{"cidr_list":"172.16.0.0/12"}`)
	sidTok, accTok := h.secretID("tok", `{"token_bound_cidrs":"192.0.2.128/25"}`)
	sidTok2, accTok2 := h.secretID("tok", `{}`)
	sidGone, _ := h.secretID("a", `{}`)
	h.MustReq(req{Op: opUpdate, Path: "role/a/secret-id/destroy", Body: `{"secret_id":"` + sidGone + `"}`})

	tests := []struct {
		name       string
		roleID     string
		secretID   string
		addr       string
		want       *logical.Auth
		wantErrKnd error // with want nil: nil means the standard invalid credentials
	}{
		{name: "success", roleID: idA, secretID: sidA, want: &logical.Auth{
			DisplayName: "a", Policies: []string{"dev", "ops"}, TTL: 10 * time.Minute, MaxTTL: time.Hour, NumUses: 3,
			TokenType: "service", Renewable: true, Metadata: map[string]string{"role_name": "a", "tag": "prod"},
			Alias: &logical.Alias{Name: idA}, InternalData: map[string]string{"role_name": "a", "secret_id_accessor": accA},
		}},
		{name: "unknown role_id", roleID: "no-such-role-id", secretID: sidA},
		{name: "role_id differs in case", roleID: fmt.Sprintf("%X", idA), secretID: sidA},
		{name: "wrong secret_id", roleID: idA, secretID: flipLast(sidA)},
		{name: "empty secret_id", roleID: idA, secretID: ""},
		{name: "another role's secret_id", roleID: idA, secretID: sidB},
		{name: "secret_id with another role's role_id", roleID: idB, secretID: sidA},
		{name: "destroyed secret_id", roleID: idA, secretID: sidGone},
		{name: "role cidr allows", roleID: idNet, secretID: sidNet, addr: "10.2.3.4:80", want: &logical.Auth{
			DisplayName: "net", Renewable: true, Metadata: map[string]string{"role_name": "net"}, Alias: &logical.Alias{Name: idNet},
		}},
		{name: "role cidr refuses", roleID: idNet, secretID: sidNet, addr: "11.2.3.4:80"},
		{name: "secret cidr_list allows", roleID: idB, secretID: sidList, addr: "172.20.0.1:1", want: &logical.Auth{
			DisplayName: "b", Renewable: true, Metadata: map[string]string{"role_name": "b"}, Alias: &logical.Alias{Name: idB},
		}},
		{name: "secret cidr_list refuses", roleID: idB, secretID: sidList, addr: "10.0.0.1:1"},
		{name: "secret cidr_list refuses an IPv6 client", roleID: idB, secretID: sidList, addr: "[2001:db8::1]:1"},
		{name: "token cidrs of the role allow", roleID: idTok, secretID: sidTok2, addr: "10.0.0.1:1", want: &logical.Auth{
			DisplayName: "tok", Renewable: true, BoundCIDRs: []string{"10.0.0.0/8", "192.0.2.0/24"},
			Metadata: map[string]string{"role_name": "tok"}, Alias: &logical.Alias{Name: idTok},
		}},
		{name: "token cidrs of the role refuse", roleID: idTok, secretID: sidTok2, addr: "11.0.0.1:1"},
		{name: "token cidrs of the secret ID allow", roleID: idTok, secretID: sidTok, addr: "192.0.2.200:1", want: &logical.Auth{
			DisplayName: "tok", Renewable: true, BoundCIDRs: []string{"192.0.2.128/25"},
			Metadata: map[string]string{"role_name": "tok"}, Alias: &logical.Alias{Name: idTok},
		}},
		{name: "token cidrs of the secret ID refuse within the role's", roleID: idTok, secretID: sidTok, addr: "10.0.0.1:1"},
		{name: "unbound role from an allowed address", roleID: idFree, addr: "10.9.1.1:1", want: &logical.Auth{
			DisplayName: "free", Policies: []string{"p"}, Renewable: true,
			Metadata: map[string]string{"role_name": "free"}, Alias: &logical.Alias{Name: idFree},
		}},
		{name: "unbound role ignores a secret_id", roleID: idFree, secretID: "whatever", addr: "10.9.1.1:1", want: &logical.Auth{
			DisplayName: "free", Policies: []string{"p"}, Renewable: true,
			Metadata: map[string]string{"role_name": "free"}, Alias: &logical.Alias{Name: idFree},
		}},
		{name: "unbound role from elsewhere", roleID: idFree, addr: "10.8.1.1:1"},
		{name: "missing role_id", roleID: "", secretID: sidA, wantErrKnd: logical.ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, err := h.login(tt.roleID, tt.secretID, tt.addr)
			switch {
			case tt.want != nil:
				if err != nil {
					t.Fatalf("login: %v", err)
				}
				if resp.Data != nil {
					t.Errorf("login data = %v, want none", resp.Data)
				}
				got := *resp.Auth
				if tt.want.InternalData == nil {
					got.InternalData = nil // checked in the first case only
				}
				if diff := cmp.Diff(tt.want, &got); diff != "" {
					t.Errorf("login auth mismatch (-want +got):\n%s", diff)
				}
			case tt.wantErrKnd != nil:
				logicaltest.WantKind(t, "login", err, tt.wantErrKnd)
			default:
				wantInvalid(t, "login", err)
			}
		})
	}
	t.Run("token cidrs carry the accessor", func(t *testing.T) {
		t.Parallel()
		resp, err := h.login(idTok, sidTok2, "10.0.0.1:1")
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Auth.InternalData["secret_id_accessor"]; got != accTok2 || got == accTok {
			t.Errorf("secret_id_accessor = %q, want %q", got, accTok2)
		}
	})
}

// flipLast returns s with its last hex digit changed.
func flipLast(s string) string {
	if s[len(s)-1] == '0' {
		return s[:len(s)-1] + "1"
	}
	return s[:len(s)-1] + "0"
}

func TestLoginWithoutConnection(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.role("net", `{"secret_id_bound_cidrs":"0.0.0.0/0"}`)
	sid, _ := h.secretID("net", `{}`)
	body, _ := json.Marshal(loginInput{RoleID: id, SecretID: sid})
	_, err := h.Backend.HandleRequest(t.Context(), &logical.Request{Operation: opUpdate, Path: "login", Body: body})
	wantInvalid(t, "bound login with no client address", err)
}

// TestFailedLoginsDoSameWork checks that every kind of failed login reads
// storage as often as the others, so that the failure cause does not show
// in the work done.
func TestFailedLoginsDoSameWork(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	idA := h.role("a", `{}`)
	idB := h.role("b", `{"secret_id_num_uses":3}`)
	sidA, _ := h.secretID("a", `{}`)
	sidB, _ := h.secretID("b", `{}`)
	expired, _ := h.secretID("a", `{"ttl":"1s"}`)
	bound, _ := h.secretID("a", `{"cidr_list":"10.0.0.0/8"}`)
	h.Clock.Advance(time.Second)
	cases := []struct{ name, roleID, secretID string }{
		{"unknown role_id", "nope", sidA},
		{"wrong secret_id", idA, "nope"},
		{"cross-role secret_id", idA, sidB},
		{"cross-role with limited role", idB, sidA},
		{"expired", idA, expired},
		{"outside cidr_list", idA, bound},
		{"empty secret_id", idA, ""},
	}
	var want logicalCounts
	for i, c := range cases {
		before := h.Storage.Counts()
		_, err := h.login(c.roleID, c.secretID, "")
		wantInvalid(t, c.name, err)
		after := h.Storage.Counts()
		got := logicalCounts{after.Gets - before.Gets, after.Puts - before.Puts, after.Txns - before.Txns, after.Lists - before.Lists}
		if i == 0 {
			want = got
			if got.gets != 3 || got.puts != 0 || got.txns != 0 {
				t.Errorf("%s: storage work %+v, want 3 gets and no writes", c.name, got)
			}
			continue
		}
		if got != want {
			t.Errorf("%s: storage work %+v, want %+v as for %s", c.name, got, want, cases[0].name)
		}
	}
}

type logicalCounts struct{ gets, puts, txns, lists int64 }

func TestNumUses(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.role("r", `{"secret_id_num_uses":2}`)
	sid, acc := h.secretID("r", `{}`)
	lookup := func() *logical.Response {
		return h.MustReq(req{Op: opUpdate, Path: "role/r/secret-id/lookup", Body: `{"secret_id":"` + sid + `"}`})
	}
	if got := lookup().Data.(*secretIDResponse).SecretIDNumUses; got != 2 {
		t.Fatalf("uses left = %d, want 2", got)
	}
	h.Clock.Advance(time.Minute)
	if _, err := h.login(id, sid, ""); err != nil {
		t.Fatalf("first use: %v", err)
	}
	d := lookup().Data.(*secretIDResponse)
	if d.SecretIDNumUses != 1 || !d.LastUpdatedTime.Equal(h.Clock.Now()) || d.LastUpdatedTime.Equal(d.CreationTime) {
		t.Errorf("after one use: %+v, want 1 use left and last_updated_time now", d)
	}
	resp, err := h.login(id, sid, "")
	if err != nil {
		t.Fatalf("last use: %v", err)
	}
	if resp.Auth.InternalData["secret_id_accessor"] != acc {
		t.Errorf("accessor in auth = %q, want %q", resp.Auth.InternalData["secret_id_accessor"], acc)
	}
	_, err = h.login(id, sid, "")
	wantInvalid(t, "use after the last", err)
	if resp := lookup(); resp != nil {
		t.Errorf("used-up secret ID still stored: %+v", resp.Data)
	}
	if keys := append(h.storedKeys(secretIDPrefix), h.storedKeys(accessorPrefix)...); len(keys) != 0 {
		t.Errorf("used-up secret ID left %q in storage", keys)
	}
}

// TestNumUsesConcurrent races 32 logins for a secret ID with 5 uses:
// exactly 5 may succeed.
func TestNumUsesConcurrent(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.role("r", `{"secret_id_num_uses":5}`)
	sid, _ := h.secretID("r", `{}`)
	const logins = 32
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, logins)
	for range logins {
		wg.Go(func() {
			<-start
			_, err := h.login(id, sid, "")
			errs <- err
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		if err == nil {
			ok++
			continue
		}
		if !isInvalid(err) {
			t.Errorf("failed login error = %v, want the standard invalid credentials", err)
		}
	}
	if ok != 5 {
		t.Errorf("%d of %d concurrent logins succeeded, want exactly 5", ok, logins)
	}
	if keys := h.storedKeys(secretIDPrefix); len(keys) != 0 {
		t.Errorf("used-up secret ID still stored: %q", keys)
	}
}

func BenchmarkAppRoleLogin(b *testing.B) {
	for _, bc := range []struct{ name, role, secret string }{
		{name: "unlimited", role: `{"token_policies":"a"}`, secret: `{}`},
		{name: "num_uses", role: `{"token_policies":"a"}`, secret: `{"num_uses":1000000000}`},
		{name: "bound", role: `{"secret_id_bound_cidrs":"127.0.0.0/8","token_bound_cidrs":"127.0.0.1"}`, secret: `{}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := newHarness(b)
			id := h.role("bench", bc.role)
			sid, _ := h.secretID("bench", bc.secret)
			body, _ := json.Marshal(loginInput{RoleID: id, SecretID: sid})
			r := &logical.Request{Operation: opUpdate, Path: "login", Body: body, Connection: &logical.Connection{RemoteAddr: "127.0.0.1:5000"}}
			b.ReportAllocs()
			for b.Loop() {
				resp, err := h.Backend.HandleRequest(b.Context(), r)
				if err != nil || resp.Auth == nil {
					b.Fatalf("login = %v, %v", resp, err)
				}
			}
		})
	}
}

// FuzzLoginBody sends arbitrary login bodies: the backend must never
// panic, must fail only with ErrInvalidRequest or the standard invalid credentials, and
// LookaheadAlias must agree with the login on which bodies are malformed.
func FuzzLoginBody(f *testing.F) {
	h := newHarness(f)
	id := h.role("r", `{"role_id":"fuzz-role"}`)
	h.MustReq(req{Op: opUpdate, Path: "role/r/custom-secret-id", Body: `{"secret_id":"fuzz-secret"}`})
	for _, s := range []string{
		`{"role_id":"` + id + `","secret_id":"fuzz-secret"}`, `{"role_id":"fuzz-role"}`, `{}`, ``, `null`, `[]`,
		`{"role_id":1}`, `{"role_id":"x","secret_id":null}`, `{"role_id":"x","extra":1}`, `{"role_id":"\u0000"}`,
		`{"role_id":"fuzz-role","secret_id":"fuzz-secret"} x`,
	} {
		f.Add([]byte(s))
	}
	la := h.Backend.(logical.AliasLookahead)
	f.Fuzz(func(t *testing.T, body []byte) {
		r := &logical.Request{Operation: opUpdate, Path: "login", Body: body, Connection: &logical.Connection{RemoteAddr: "127.0.0.1:1"}}
		resp, err := h.Backend.HandleRequest(t.Context(), r)
		_, laErr := la.LookaheadAlias(t.Context(), r)
		if laErr != nil && !errors.Is(laErr, logical.ErrInvalidRequest) {
			t.Fatalf("LookaheadAlias(%q) error = %v, want ErrInvalidRequest", body, laErr)
		}
		if laErr != nil && !errors.Is(err, logical.ErrInvalidRequest) {
			t.Fatalf("LookaheadAlias(%q) refused the body but login said %v", body, err)
		}
		if err == nil {
			if resp == nil || resp.Auth == nil || resp.Auth.Alias == nil || resp.Auth.Alias.Name != id {
				t.Fatalf("login(%q) = %+v, want an Auth for the role", body, resp)
			}
			return
		}
		if !errors.Is(err, logical.ErrInvalidRequest) && !isInvalid(err) {
			t.Fatalf("login(%q) error = %v, want ErrInvalidRequest or the standard invalid credentials", body, err)
		}
	})
}

// TestLookaheadAlias checks that the look-ahead names the role_id, says
// whether a role has it, and refuses oversized values before any work.
func TestLookaheadAlias(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.role("r", `{"role_id":"known-role"}`)
	la := h.Backend.(logical.AliasLookahead)
	long := strings.Repeat("x", maxRoleIDBytes+1)
	tests := []struct {
		name, path, body string
		want             logical.LookaheadResult
		wantErr          string
	}{
		{name: "known", path: "login", body: `{"role_id":"` + id + `"}`, want: logical.LookaheadResult{Name: id, Exists: true}},
		{name: "unknown", path: "login", body: `{"role_id":"invented"}`, want: logical.LookaheadResult{Name: "invented"}},
		{name: "no role_id", path: "login", body: `{}`},
		{name: "other path", path: "role/r", body: `{"role_id":"` + id + `"}`},
		{name: "long role_id", path: "login", body: `{"role_id":"` + long + `"}`, wantErr: "role_id is longer than 4096 bytes"},
		{name: "long secret_id", path: "login", body: `{"role_id":"x","secret_id":"` + long + `"}`, wantErr: "secret_id is longer than 4096 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := la.LookaheadAlias(t.Context(), &logical.Request{Operation: opUpdate, Path: tt.path, Body: []byte(tt.body)})
			if tt.wantErr != "" {
				if !errors.Is(err, logical.ErrInvalidRequest) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("LookaheadAlias = %v, want ErrInvalidRequest %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("LookaheadAlias = %+v, %v, want %+v, nil", got, err, tt.want)
			}
		})
	}
}

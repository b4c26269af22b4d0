package userpass

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/argon2"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	logicaltest.Run(t, testFactory, logicaltest.Options{
		Writes: []*logical.Request{
			{Operation: opCreate, Path: "users/alice", Body: json.RawMessage(`{"password":"pw-1","token_policies":"a,b"}`)},
			{Operation: opUpdate, Path: "users/alice/policies", Body: json.RawMessage(`{"token_policies":["c"]}`)},
			{Operation: opUpdate, Path: "users/alice/password", Body: json.RawMessage(`{"password":"pw-1"}`)},
			{
				Operation: opUpdate, Path: "login/alice", Body: json.RawMessage(`{"password":"pw-1"}`),
				Connection: &logical.Connection{RemoteAddr: "127.0.0.1:1234"},
			},
		},
		Reads: []*logical.Request{
			{Operation: opRead, Path: "users/alice"},
			{Operation: opList, Path: "users/"},
		},
	})
}

func TestUsers(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const zero = `{"token_policies":[],"token_ttl":0,"token_max_ttl":0,"token_explicit_max_ttl":0,"token_period":0,` +
		`"token_num_uses":0,"token_type":"default","token_bound_cidrs":[],"token_no_default_policy":false}`
	steps := []struct {
		name     string
		r        req
		wantErr  error
		wantData string // JSON; "" for no data
	}{
		{name: "new user needs a password", r: req{Op: opCreate, Path: "users/bob", Body: `{"token_ttl":60}`}, wantErr: logical.ErrInvalidRequest},
		{name: "empty password", r: req{Op: opCreate, Path: "users/bob", Body: `{"password":""}`}, wantErr: logical.ErrInvalidRequest},
		{name: "deprecated bound_cidrs refused", r: req{Op: opCreate, Path: "users/bob", Body: `{"password":"x","bound_cidrs":"10.0.0.0/8"}`}, wantErr: logical.ErrInvalidRequest},
		{name: "bad token field", r: req{Op: opCreate, Path: "users/bob", Body: `{"password":"x","token_type":"nope"}`}, wantErr: logical.ErrInvalidRequest},
		{name: "read missing", r: req{Op: opRead, Path: "users/bob"}},
		{name: "list empty", r: req{Op: opList, Path: "users"}},
		{name: "create", r: req{Op: opCreate, Path: "users/Bob", Body: `{"password":"pw","token_policies":"Dev, ops","token_ttl":"1m","token_max_ttl":"1h","token_bound_cidrs":"127.0.0.1"}`}},
		{
			name: "read lowercased", r: req{Op: opRead, Path: "users/BOB"},
			wantData: `{"token_policies":["dev","ops"],"token_ttl":60,"token_max_ttl":3600,"token_explicit_max_ttl":0,"token_period":0,` +
				`"token_num_uses":0,"token_type":"default","token_bound_cidrs":["127.0.0.1"],"token_no_default_policy":false}`,
		},
		{name: "update changes only what it names", r: req{Op: opUpdate, Path: "users/bob", Body: `{"token_ttl":"2m","token_num_uses":3}`}},
		{
			name: "read after update", r: req{Op: opRead, Path: "users/bob"},
			wantData: `{"token_policies":["dev","ops"],"token_ttl":120,"token_max_ttl":3600,"token_explicit_max_ttl":0,"token_period":0,` +
				`"token_num_uses":3,"token_type":"default","token_bound_cidrs":["127.0.0.1"],"token_no_default_policy":false}`,
		},
		{name: "ttl over stored max", r: req{Op: opUpdate, Path: "users/bob", Body: `{"token_ttl":"2h"}`}, wantErr: logical.ErrInvalidRequest},
		{name: "policies endpoint", r: req{Op: opUpdate, Path: "users/bob/policies", Body: `{"token_policies":"x"}`}},
		{
			name: "read after policies", r: req{Op: opRead, Path: "users/bob"},
			wantData: `{"token_policies":["x"],"token_ttl":120,"token_max_ttl":3600,"token_explicit_max_ttl":0,"token_period":0,` +
				`"token_num_uses":3,"token_type":"default","token_bound_cidrs":["127.0.0.1"],"token_no_default_policy":false}`,
		},
		{name: "deprecated policies field", r: req{Op: opUpdate, Path: "users/bob/policies", Body: `{"policies":["y","z"]}`}},
		{name: "policies endpoint without policies clears", r: req{Op: opUpdate, Path: "users/bob/policies", Body: `{}`}},
		{name: "clear other fields", r: req{Op: opUpdate, Path: "users/bob", Body: `{"token_ttl":0,"token_num_uses":0,"token_max_ttl":0,"token_bound_cidrs":""}`}},
		{name: "read cleared", r: req{Op: opRead, Path: "users/bob"}, wantData: zero},
		{name: "policies of missing user", r: req{Op: opUpdate, Path: "users/carol/policies", Body: `{"token_policies":"x"}`}, wantErr: logical.ErrNotFound},
		{name: "password of missing user", r: req{Op: opUpdate, Path: "users/carol/password", Body: `{"password":"x"}`}, wantErr: logical.ErrNotFound},
		{name: "password endpoint needs a password", r: req{Op: opUpdate, Path: "users/bob/password", Body: `{}`}, wantErr: logical.ErrInvalidRequest},
		{name: "second user", r: req{Op: opUpdate, Path: "users/a.b-c_d", Body: `{"password":"pw2"}`}},
		{name: "list", r: req{Op: opList, Path: "users/"}, wantData: `{"keys":["a.b-c_d","bob"]}`},
		{name: "delete", r: req{Op: opDelete, Path: "users/BOB"}},
		{name: "read deleted", r: req{Op: opRead, Path: "users/bob"}},
		{name: "delete missing is fine", r: req{Op: opDelete, Path: "users/bob"}},
		{name: "list after delete", r: req{Op: opList, Path: "users"}, wantData: `{"keys":["a.b-c_d"]}`},
		{name: "unsupported op", r: req{Op: logical.PatchOperation, Path: "users/x"}, wantErr: logical.ErrUnsupportedOperation},
	}
	for _, s := range steps {
		resp, err := h.DoReq(s.r)
		if s.wantErr != nil {
			logicaltest.WantKind(t, s.name, err, s.wantErr)
			continue
		}
		logicaltest.WantData(t, s.name, s.wantData, resp, err)
	}
}

func TestUsernames(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tests := []struct {
		name string
		ok   bool
	}{
		{"alice", true}, {"a", true}, {"_a", true}, {"a-", true}, {"a.b", true}, {"0", true}, {"A.B", true},
		{"-a", false}, {".a", false}, {"a.", false}, {"a b", false}, {"a@b", false}, {"ü", false}, {"a%2fb", false},
		{string(bytes.Repeat([]byte("a"), maxUsernameBytes+1)), false},
	}
	for _, tt := range tests {
		for _, path := range []string{"users/" + tt.name, "users/" + tt.name + "/password", "login/" + tt.name} {
			_, err := h.DoReq(req{Op: opUpdate, Path: path, Body: `{"password":"pw"}`})
			if tt.ok {
				if errors.Is(err, logical.ErrInvalidRequest) {
					t.Errorf("%s: error = %v, want the name accepted", path, err)
				}
				continue
			}
			logicaltest.WantKind(t, path, err, logical.ErrInvalidRequest)
		}
	}
}

func TestLogin(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.MustReq(req{Op: opCreate, Path: "users/alice", Body: `{"password":"correct horse","token_policies":"dev,ops","token_ttl":"10m",` +
		`"token_max_ttl":"1h","token_period":"5m","token_num_uses":7,"token_no_default_policy":true,"token_explicit_max_ttl":"2h"}`})
	h.MustReq(req{Op: opCreate, Path: "users/bound", Body: `{"password":"pw","token_bound_cidrs":"10.0.0.0/8, 192.0.2.7"}`})
	h.MustReq(req{Op: opCreate, Path: "users/batch", Body: `{"password":"pw","token_type":"batch"}`})

	wantAlice := &logical.Auth{
		DisplayName: "alice", Policies: []string{"dev", "ops"}, NoDefaultPolicy: true,
		Metadata: map[string]string{"username": "alice"}, TTL: 10 * time.Minute, MaxTTL: time.Hour,
		ExplicitMaxTTL: 2 * time.Hour, Period: 5 * time.Minute, NumUses: 7, Renewable: true,
		Alias: &logical.Alias{Name: "alice"},
	}
	tests := []struct {
		name    string
		r       req
		want    *logical.Auth
		wantErr error // nil with want nil: the one failed-login error
	}{
		{name: "success", r: req{Path: "login/alice", Body: `{"password":"correct horse"}`}, want: wantAlice},
		{name: "username is case-insensitive", r: req{Path: "login/ALICE", Body: `{"password":"correct horse"}`}, want: wantAlice},
		{name: "wrong password", r: req{Path: "login/alice", Body: `{"password":"correct horsf"}`}},
		{name: "password is case-sensitive", r: req{Path: "login/alice", Body: `{"password":"Correct horse"}`}},
		{name: "unknown user", r: req{Path: "login/mallory", Body: `{"password":"correct horse"}`}},
		{name: "bound: allowed address", r: req{Path: "login/bound", Body: `{"password":"pw"}`, Addr: "10.1.2.3:9"}, want: &logical.Auth{
			DisplayName: "bound", Metadata: map[string]string{"username": "bound"}, BoundCIDRs: []string{"10.0.0.0/8", "192.0.2.7"},
			Renewable: true, Alias: &logical.Alias{Name: "bound"},
		}},
		{name: "bound: single address", r: req{Path: "login/bound", Body: `{"password":"pw"}`, Addr: "192.0.2.7:9"}, want: &logical.Auth{
			DisplayName: "bound", Metadata: map[string]string{"username": "bound"}, BoundCIDRs: []string{"10.0.0.0/8", "192.0.2.7"},
			Renewable: true, Alias: &logical.Alias{Name: "bound"},
		}},
		{name: "bound: refused address", r: req{Path: "login/bound", Body: `{"password":"pw"}`, Addr: "192.0.2.8:9"}},
		{name: "bound: refused address and wrong password", r: req{Path: "login/bound", Body: `{"password":"px"}`, Addr: "192.0.2.8:9"}},
		{name: "batch", r: req{Path: "login/batch", Body: `{"password":"pw"}`}, want: &logical.Auth{
			DisplayName: "batch", Metadata: map[string]string{"username": "batch"}, TokenType: "batch",
			Alias: &logical.Alias{Name: "batch"},
		}},
		{name: "missing password", r: req{Path: "login/alice", Body: `{}`}, wantErr: logical.ErrInvalidRequest},
		{name: "malformed body", r: req{Path: "login/alice", Body: `{"password":`}, wantErr: logical.ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.r.Op = opUpdate
			resp, err := h.DoReq(tt.r)
			switch {
			case tt.want != nil:
				if err != nil {
					t.Fatalf("login: %v", err)
				}
				if resp.Data != nil {
					t.Errorf("login data = %v, want none", resp.Data)
				}
				if diff := cmp.Diff(tt.want, resp.Auth); diff != "" {
					t.Errorf("login auth mismatch (-want +got):\n%s", diff)
				}
			case tt.wantErr != nil:
				logicaltest.WantKind(t, "login", err, tt.wantErr)
			default:
				wantInvalid(t, err)
			}
		})
	}
}

// wantInvalid checks that err is the one failed-login error: invalid
// credentials (HTTP 400, as in Vault), not permission denied.
func wantInvalid(t testing.TB, err error) {
	t.Helper()
	var le *logical.Error
	if !errors.As(err, &le) || !errors.Is(err, logical.ErrInvalidCredentials) || errors.Is(err, logical.ErrPermissionDenied) {
		t.Fatalf("login error = %v, want ErrInvalidCredentials", err)
	}
	if le.Msg != "invalid username or password" {
		t.Errorf("login error message = %q, want %q", le.Msg, "invalid username or password")
	}
}

func TestLoginWithoutConnectionIsRefusedWhenBound(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.MustReq(req{Op: opCreate, Path: "users/u", Body: `{"password":"pw","token_bound_cidrs":"0.0.0.0/0"}`})
	_, err := h.Backend.HandleRequest(t.Context(), &logical.Request{Operation: opUpdate, Path: "login/u", Body: json.RawMessage(`{"password":"pw"}`)})
	wantInvalid(t, err)
	h.MustReq(req{Op: opUpdate, Path: "users/u", Body: `{"token_bound_cidrs":[]}`})
	resp, err := h.Backend.HandleRequest(t.Context(), &logical.Request{Operation: opUpdate, Path: "login/u", Body: json.RawMessage(`{"password":"pw"}`)})
	if err != nil || resp.Auth == nil {
		t.Fatalf("unbound login without a connection = %v, %v, want success", resp, err)
	}
}

func TestPasswordChange(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.MustReq(req{Op: opCreate, Path: "users/u", Body: `{"password":"old-password","token_policies":"p"}`})
	h.MustReq(req{Op: opUpdate, Path: "login/u", Body: `{"password":"old-password"}`})
	h.MustReq(req{Op: opUpdate, Path: "users/u/password", Body: `{"password":"new-password"}`})
	_, err := h.DoReq(req{Op: opUpdate, Path: "login/u", Body: `{"password":"old-password"}`})
	wantInvalid(t, err)
	resp := h.MustReq(req{Op: opUpdate, Path: "login/u", Body: `{"password":"new-password"}`})
	if diff := cmp.Diff([]string{"p"}, resp.Auth.Policies); diff != "" {
		t.Errorf("password change touched policies (-want +got):\n%s", diff)
	}
	// A user write with a password changes it too.
	h.MustReq(req{Op: opUpdate, Path: "users/u", Body: `{"password":"third"}`})
	_, err = h.DoReq(req{Op: opUpdate, Path: "login/u", Body: `{"password":"new-password"}`})
	wantInvalid(t, err)
	h.MustReq(req{Op: opUpdate, Path: "login/u", Body: `{"password":"third"}`})
	// A deleted user's last password no longer works.
	h.MustReq(req{Op: opDelete, Path: "users/u"})
	_, err = h.DoReq(req{Op: opUpdate, Path: "login/u", Body: `{"password":"third"}`})
	wantInvalid(t, err)
}

func TestPasswordNeverStored(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	passwords := []string{"first-Pa55word-xyz", "second-Pa55word-xyz", "third-Pa55word-xyz"}
	h.MustReq(req{Op: opCreate, Path: "users/u", Body: `{"password":"` + passwords[0] + `"}`})
	h.MustReq(req{Op: opUpdate, Path: "users/u/password", Body: `{"password":"` + passwords[1] + `"}`})
	h.MustReq(req{Op: opUpdate, Path: "users/u", Body: `{"password":"` + passwords[2] + `"}`})
	h.MustReq(req{Op: opUpdate, Path: "login/u", Body: `{"password":"` + passwords[2] + `"}`})
	_, _ = h.DoReq(req{Op: opUpdate, Path: "login/u", Body: `{"password":"` + passwords[0] + `"}`})
	resp := h.MustReq(req{Op: opRead, Path: "users/u"})
	out, err := json.Marshal(resp.Data)
	if err != nil {
		t.Fatal(err)
	}
	snap := h.Storage.Snapshot()
	if len(snap) == 0 {
		t.Fatal("nothing stored")
	}
	for _, pw := range passwords {
		for _, form := range [][]byte{[]byte(pw), []byte(base64.StdEncoding.EncodeToString([]byte(pw))), []byte(fmt.Sprintf("%x", pw))} {
			for k, v := range snap {
				if bytes.Contains(v, form) || bytes.Contains([]byte(k), form) {
					t.Errorf("storage key %q holds password %q", k, pw)
				}
			}
			if bytes.Contains(out, form) {
				t.Errorf("user read %s holds password %q", out, pw)
			}
		}
	}
}

// TestStoredHash checks the production parameters: it is the one test
// that builds its backend with Factory.
func TestStoredHash(t *testing.T) {
	t.Parallel()
	h := newHarnessWith(t, Factory)
	h.MustReq(req{Op: opCreate, Path: "users/a", Body: `{"password":"same"}`})
	h.MustReq(req{Op: opCreate, Path: "users/b", Body: `{"password":"same"}`})
	var hashes []passwordHash
	for _, name := range []string{"a", "b"} {
		e, err := h.Storage.Get(t.Context(), userPrefix+name)
		if err != nil || e == nil {
			t.Fatalf("Get(%s) = %v, %v", name, e, err)
		}
		var u user
		if err := json.Unmarshal(e.Value, &u); err != nil {
			t.Fatal(err)
		}
		p := u.Password
		if p.Algorithm != "argon2id" || p.Version != 0x13 || p.Time != 2 || p.MemoryKiB != 19456 || p.Threads != 1 || len(p.Salt) != 16 || len(p.Key) != 32 {
			t.Errorf("stored hash of %s = %+v, want argon2id v19 t=2 m=19456 p=1 with a 16-byte salt and 32-byte key", name, p)
		}
		hashes = append(hashes, p)
	}
	if bytes.Equal(hashes[0].Salt, hashes[1].Salt) || bytes.Equal(hashes[0].Key, hashes[1].Key) {
		t.Error("two users with the same password share a salt or a hash")
	}
}

func TestOldParametersStillVerify(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.MustReq(req{Op: opCreate, Path: "users/old", Body: `{"password":"x"}`})
	// Rewrite the stored hash as if made with other (older) parameters.
	old := passwordHash{Algorithm: algArgon2id, Version: 0x13, Time: 3, MemoryKiB: 256, Threads: 2, Salt: []byte("0123456789abcdef")}
	old.Key = argonKey("legacy-password", old)
	u := user{Password: old}
	v, _ := json.Marshal(u)
	if err := h.Storage.Put(t.Context(), &logical.StorageEntry{Key: userPrefix + "old", Value: v}); err != nil {
		t.Fatal(err)
	}
	h.MustReq(req{Op: opUpdate, Path: "login/old", Body: `{"password":"legacy-password"}`})
	_, err := h.DoReq(req{Op: opUpdate, Path: "login/old", Body: `{"password":"x"}`})
	wantInvalid(t, err)
}

// argonKey derives the 32-byte key verify expects for pw under p's
// parameters.
func argonKey(pw string, p passwordHash) []byte {
	return argon2.IDKey([]byte(pw), p.Salt, p.Time, p.MemoryKiB, p.Threads, 32)
}

func TestHashParameterBounds(t *testing.T) {
	t.Parallel()
	good := passwordHash{Algorithm: algArgon2id, Version: 0x13, Time: 1, MemoryKiB: 64, Threads: 1, Salt: []byte("salt-salt-salt-1")}
	good.Key = argonKey("pw", good)
	if !good.verify("pw") {
		t.Fatal("verify of a good hash = false")
	}
	tests := []struct {
		name string
		edit func(*passwordHash)
	}{
		{"other algorithm", func(p *passwordHash) { p.Algorithm = "argon2i" }},
		{"other version", func(p *passwordHash) { p.Version = 0x10 }},
		{"zero time", func(p *passwordHash) { p.Time = 0 }},
		{"huge time", func(p *passwordHash) { p.Time = 1 << 20 }},
		{"huge memory", func(p *passwordHash) { p.MemoryKiB = 1 << 30 }},
		{"zero threads", func(p *passwordHash) { p.Threads = 0 }},
		{"short key", func(p *passwordHash) { p.Key = p.Key[:8] }},
		{"flipped key", func(p *passwordHash) { p.Key = slices.Clone(p.Key); p.Key[0] ^= 1 }},
	}
	for _, tt := range tests {
		p := good
		tt.edit(&p)
		if p.verify("pw") {
			t.Errorf("%s: verify = true, want false", tt.name)
		}
	}
}

// TestUnknownUserCostsAHash checks that a login for a user who does not
// exist computes a password hash with the same parameters as a known
// user's, so that the two cannot be told apart by their cost. It counts
// the work rather than timing it.
func TestUnknownUserCostsAHash(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.MustReq(req{Op: opCreate, Path: "users/known", Body: `{"password":"pw"}`})
	b := h.Backend.(*backend)
	count := func(path string) int64 {
		before := b.hashes.Load()
		_, err := h.DoReq(req{Op: opUpdate, Path: path, Body: `{"password":"wrong"}`})
		wantInvalid(t, err)
		return b.hashes.Load() - before
	}
	if known, unknown := count("login/known"), count("login/nobody"); known != 1 || unknown != 1 {
		t.Errorf("hashes per failed login: known user %d, unknown user %d; want 1 each", known, unknown)
	}
	u, err := b.users.Get(t.Context(), "known")
	if err != nil || u == nil {
		t.Fatal(err)
	}
	if u.Password.Algorithm != b.dummy.Algorithm || u.Password.Time != b.dummy.Time || u.Password.MemoryKiB != b.dummy.MemoryKiB || u.Password.Threads != b.dummy.Threads {
		t.Errorf("dummy hash parameters %+v differ from a real user's %+v", b.dummy, u.Password)
	}
}

func TestConcurrentWritesKeepEachOther(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.MustReq(req{Op: opCreate, Path: "users/u", Body: `{"password":"p0"}`})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			h.MustReq(req{Op: opUpdate, Path: "users/u", Body: fmt.Sprintf(`{"token_num_uses":%d}`, i+1)})
		})
	}
	wg.Go(func() { h.MustReq(req{Op: opUpdate, Path: "users/u/password", Body: `{"password":"p1"}`}) })
	wg.Go(func() { h.MustReq(req{Op: opUpdate, Path: "users/u/policies", Body: `{"token_policies":"keep"}`}) })
	wg.Wait()
	resp := h.MustReq(req{Op: opUpdate, Path: "login/u", Body: `{"password":"p1"}`})
	if diff := cmp.Diff([]string{"keep"}, resp.Auth.Policies); diff != "" {
		t.Errorf("policies lost in concurrent writes (-want +got):\n%s", diff)
	}
	if resp.Auth.NumUses < 1 || resp.Auth.NumUses > 8 {
		t.Errorf("NumUses = %d, want one of the written values", resp.Auth.NumUses)
	}
}

func TestLookaheadAndLoginPaths(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	la, ok := h.Backend.(logical.AliasLookahead)
	if !ok {
		t.Fatal("backend does not implement logical.AliasLookahead")
	}
	h.MustReq(req{Op: opCreate, Path: "users/alice", Body: `{"password":"x"}`})
	tests := []struct {
		path string
		want logical.LookaheadResult
	}{
		{"login/Alice", logical.LookaheadResult{Name: "alice", Exists: true}},
		{"login/bob", logical.LookaheadResult{Name: "bob"}},
		{"login/" + strings.Repeat("a", maxUsernameBytes+1), logical.LookaheadResult{}},
		{"login/-bad", logical.LookaheadResult{}},
		{"login/", logical.LookaheadResult{}},
		{"users/alice", logical.LookaheadResult{}},
		{"login", logical.LookaheadResult{}},
	}
	for _, tt := range tests {
		got, err := la.LookaheadAlias(t.Context(), &logical.Request{Operation: opUpdate, Path: tt.path})
		if err != nil || got != tt.want {
			t.Errorf("LookaheadAlias(%q) = %+v, %v, want %+v, nil", tt.path, got, err, tt.want)
		}
	}
	lp, ok := h.Backend.(logical.LoginPaths)
	if !ok {
		t.Fatal("backend does not implement logical.LoginPaths")
	}
	if diff := cmp.Diff([]string{"login/*"}, lp.LoginPaths()); diff != "" {
		t.Errorf("LoginPaths mismatch (-want +got):\n%s", diff)
	}
}

func TestExistenceCheck(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.MustReq(req{Op: opCreate, Path: "users/here", Body: `{"password":"x"}`})
	ec := h.Backend.(logical.ExistenceChecker)
	for path, want := range map[string]bool{"users/here": true, "users/HERE": true, "users/gone": false, "users/-bad": false} {
		exists, handled, err := ec.ExistenceCheck(t.Context(), &logical.Request{Operation: opUpdate, Path: path})
		if err != nil || !handled || exists != want {
			t.Errorf("ExistenceCheck(%q) = %v, %v, %v, want %v, true, nil", path, exists, handled, err, want)
		}
	}
}

func BenchmarkUserpassLogin(b *testing.B) {
	h := newHarnessWith(b, Factory)
	h.MustReq(req{Op: opCreate, Path: "users/bench", Body: `{"password":"correct horse battery staple","token_policies":"a"}`})
	r := &logical.Request{
		Operation: opUpdate, Path: "login/bench", Body: json.RawMessage(`{"password":"correct horse battery staple"}`),
		Connection: &logical.Connection{RemoteAddr: "127.0.0.1:5000"},
	}
	b.ReportAllocs()
	for b.Loop() {
		resp, err := h.Backend.HandleRequest(b.Context(), r)
		if err != nil || resp.Auth == nil {
			b.Fatalf("login = %v, %v", resp, err)
		}
	}
}

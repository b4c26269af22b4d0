package core_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
	"github.com/coffer-secrets/coffer/internal/testserver"
	"github.com/hashicorp/vault/api"
)

func statusCode(err error) int {
	if re, ok := errors.AsType[*api.ResponseError](err); ok {
		return re.StatusCode
	}
	return 0
}

// clientWith returns a client for s using tok.
func clientWith(t *testing.T, s *testserver.Server, tok string) *api.Client {
	t.Helper()
	cl, err := api.NewClient(&api.Config{Address: s.Addr, MaxRetries: 0})
	if err != nil {
		t.Fatal(err)
	}
	cl.SetToken(tok)
	return cl
}

func mustWrite(t *testing.T, cl *api.Client, path string, data map[string]any) *api.Secret {
	t.Helper()
	sec, err := cl.Logical().Write(path, data)
	if err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return sec
}

func createToken(t *testing.T, cl *api.Client, req *api.TokenCreateRequest) (string, string) {
	t.Helper()
	sec, err := cl.Auth().Token().Create(req)
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	return sec.Auth.ClientToken, sec.Auth.Accessor
}

func TestTokenLifecycle(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	root := s.Client
	mustWrite(t, root, "sys/policies/acl/reader", map[string]any{"policy": `path "secret/data/*" { capabilities = ["read"] }`})

	tok, acc := createToken(t, root, &api.TokenCreateRequest{Policies: []string{"reader"}, TTL: "1h", DisplayName: "ci", Metadata: map[string]string{"team": "a"}})
	if !strings.HasPrefix(tok, "cfs.") {
		t.Errorf("token prefix %q", tok[:4])
	}
	me := clientWith(t, s, tok)
	self, err := me.Auth().Token().LookupSelf()
	if err != nil {
		t.Fatalf("lookup-self: %v", err)
	}
	pols, _ := self.TokenPolicies()
	if !slices.Equal(pols, []string{"default", "reader"}) {
		t.Errorf("policies = %v, want [default reader]", pols)
	}
	if self.Data["display_name"] != "token-ci" || self.Data["accessor"] != acc || self.Data["orphan"] != false {
		t.Errorf("lookup-self data = %v", self.Data)
	}
	ttl, _ := self.TokenTTL()
	if ttl <= 59*time.Minute || ttl > time.Hour {
		t.Errorf("ttl = %v, want about 1h", ttl)
	}
	// Renew, lookup by accessor and by token.
	if _, err := me.Auth().Token().RenewSelf(7200); err != nil {
		t.Errorf("renew-self: %v", err)
	}
	byAcc, err := root.Auth().Token().LookupAccessor(acc)
	if err != nil || byAcc.Data["id"] != "" {
		t.Errorf("lookup-accessor = %v, %v (the id must stay hidden)", byAcc, err)
	}
	if sec, err := root.Auth().Token().Lookup(tok); err != nil || sec.Data["accessor"] != acc {
		t.Errorf("lookup = %v, %v", sec, err)
	}
	// Bad input changes nothing.
	for _, req := range []*api.TokenCreateRequest{
		{Policies: []string{"no-such-policy"}},
		{Policies: []string{"reader"}, TTL: "forever"},
		{Type: "weird"},
		{NumUses: -1},
	} {
		if _, err := root.Auth().Token().Create(req); statusCode(err) != 400 {
			t.Errorf("Create(%+v) error = %v, want 400", req, err)
		}
	}
	// A child may hold only its parent's policies; no_parent needs sudo,
	// while create-orphan is governed by its own ACL, as in Vault.
	if _, err := me.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"admin"}}); err == nil {
		t.Error("a non-root token gave its child a policy it does not hold")
	}
	mustWrite(t, root, "sys/policies/acl/creator", map[string]any{"policy": `
path "auth/token/create" { capabilities = ["update"] }
path "auth/token/create-orphan" { capabilities = ["update"] }
path "secret/data/*" { capabilities = ["read"] }`})
	creatorTok, _ := createToken(t, root, &api.TokenCreateRequest{Policies: []string{"creator", "reader"}})
	creator := clientWith(t, s, creatorTok)
	if _, err := creator.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"reader"}}); err != nil {
		t.Errorf("child with a subset of policies: %v", err)
	}
	if _, err := creator.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"reader"}, NoParent: true}); statusCode(err) != 400 || !strings.Contains(err.Error(), "root or sudo privileges required to create orphan token") {
		t.Errorf("orphan without sudo error = %v, want 400 with Vault's words", err)
	}
	if orphan, err := creator.Auth().Token().CreateOrphan(&api.TokenCreateRequest{Policies: []string{"reader"}}); err != nil || !orphan.Auth.Orphan {
		t.Errorf("create-orphan allowed by ACL = %v, %v; want an orphan", orphan, err)
	}
	// accessors needs sudo.
	if _, err := creator.Logical().List("auth/token/accessors"); statusCode(err) != 403 {
		t.Errorf("accessors without sudo error = %v, want 403", err)
	}
	list, err := root.Logical().List("auth/token/accessors")
	if err != nil || list == nil || !slices.Contains(list.Data["keys"].([]any), any(acc)) {
		t.Errorf("accessors = %v, %v", list, err)
	}
	// Revoke.
	if err := root.Auth().Token().RevokeAccessor(acc); err != nil {
		t.Fatal(err)
	}
	if _, err := me.Auth().Token().LookupSelf(); statusCode(err) != 403 {
		t.Errorf("lookup-self after revoke error = %v, want 403", err)
	}
}

func TestTokenTreeRevocation(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	root := s.Client
	// root -> a -> b -> c, and a -> b2.
	a, _ := createToken(t, root, &api.TokenCreateRequest{Policies: []string{"root"}})
	b, _ := createToken(t, clientWith(t, s, a), &api.TokenCreateRequest{Policies: []string{"root"}})
	c, _ := createToken(t, clientWith(t, s, b), &api.TokenCreateRequest{Policies: []string{"root"}})
	b2, _ := createToken(t, clientWith(t, s, a), &api.TokenCreateRequest{Policies: []string{"root"}})
	// Cubbyhole data of c goes with it.
	if _, err := clientWith(t, s, c).Logical().Write("cubbyhole/x", map[string]any{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	if err := root.Auth().Token().RevokeTree(b); err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"b": b, "c": c} {
		if _, err := clientWith(t, s, tok).Auth().Token().LookupSelf(); statusCode(err) != 403 {
			t.Errorf("%s survived revoking b: %v", name, err)
		}
	}
	for name, tok := range map[string]string{"a": a, "b2": b2} {
		if _, err := clientWith(t, s, tok).Auth().Token().LookupSelf(); err != nil {
			t.Errorf("%s was revoked with b: %v", name, err)
		}
	}
	// revoke-orphan keeps the children.
	if err := root.Auth().Token().RevokeOrphan(a); err != nil {
		t.Fatal(err)
	}
	sec, err := clientWith(t, s, b2).Auth().Token().LookupSelf()
	if err != nil || sec.Data["orphan"] != true {
		t.Errorf("b2 after revoke-orphan of a = %v, %v; want alive and orphan", sec, err)
	}
}

func TestTokenExpiryAndUses(t *testing.T) {
	t.Parallel()
	clock := logicaltest.NewClock(time.Now())
	path := filepath.Join(t.TempDir(), "coffer.db")
	s, err := testserver.New(testserver.Options{BoltPath: path, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	short, _ := createToken(t, s.Client, &api.TokenCreateRequest{Policies: []string{"default"}, TTL: "2s"})
	long, _ := createToken(t, s.Client, &api.TokenCreateRequest{Policies: []string{"default"}, TTL: "1h"})
	if _, err := clientWith(t, s, short).Auth().Token().LookupSelf(); err != nil {
		t.Fatal(err)
	}
	clock.Advance(3 * time.Second)
	if _, err := clientWith(t, s, short).Auth().Token().LookupSelf(); statusCode(err) != 403 {
		t.Errorf("expired token error = %v, want 403", err)
	}
	// A limited token: the last use works, the next fails.
	limited, _ := createToken(t, s.Client, &api.TokenCreateRequest{Policies: []string{"default"}, NumUses: 2})
	lc := clientWith(t, s, limited)
	for i := range 2 {
		if _, err := lc.Auth().Token().LookupSelf(); err != nil {
			t.Fatalf("use %d: %v", i+1, err)
		}
	}
	if _, err := lc.Auth().Token().LookupSelf(); statusCode(err) != 403 {
		t.Errorf("third use error = %v, want 403", err)
	}
	keys, root := s.UnsealKeys, s.RootToken
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// After a restart the expired token is still refused and the live one
	// still works.
	s2 := testserver.StartWith(t, testserver.Options{BoltPath: path, UnsealKeys: keys, Clock: clock})
	if _, err := clientWith(t, s2, short).Auth().Token().LookupSelf(); statusCode(err) != 403 {
		t.Errorf("expired token after restart error = %v, want 403", err)
	}
	if _, err := clientWith(t, s2, long).Auth().Token().LookupSelf(); err != nil {
		t.Errorf("live token after restart: %v", err)
	}
	if _, err := clientWith(t, s2, root).Auth().Token().LookupSelf(); err != nil {
		t.Errorf("root token after restart: %v", err)
	}
}

func TestBatchTokens(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	tok, _ := createToken(t, s.Client, &api.TokenCreateRequest{Policies: []string{"default"}, Type: "batch", TTL: "1h"})
	if !strings.HasPrefix(tok, "cfb.") {
		t.Fatalf("batch token prefix %q", tok[:4])
	}
	bc := clientWith(t, s, tok)
	self, err := bc.Auth().Token().LookupSelf()
	if err != nil || self.Data["type"] != "batch" || self.Data["renewable"] != false {
		t.Fatalf("batch lookup-self = %v, %v", self, err)
	}
	if _, err := bc.Auth().Token().RenewSelf(60); statusCode(err) != 400 {
		t.Errorf("renew batch error = %v, want 400", err)
	}
	if _, err := bc.Auth().Token().Create(&api.TokenCreateRequest{}); err == nil {
		t.Error("a batch token made a child")
	}
	forged := tok[:len(tok)-2] + "AA"
	if _, err := clientWith(t, s, forged).Auth().Token().LookupSelf(); statusCode(err) != 403 {
		t.Errorf("forged batch token error = %v, want 403", err)
	}
}

func TestCubbyholeIsPerToken(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	t1, _ := createToken(t, s.Client, &api.TokenCreateRequest{Policies: []string{"default"}})
	t2, _ := createToken(t, s.Client, &api.TokenCreateRequest{Policies: []string{"default"}})
	c1, c2 := clientWith(t, s, t1), clientWith(t, s, t2)
	if _, err := c1.Logical().Write("cubbyhole/mine", map[string]any{"v": "one"}); err != nil {
		t.Fatalf("default policy should allow cubbyhole writes: %v", err)
	}
	if sec, err := c1.Logical().Read("cubbyhole/mine"); err != nil || sec.Data["v"] != "one" {
		t.Errorf("own cubbyhole read = %v, %v", sec, err)
	}
	if sec, err := c2.Logical().Read("cubbyhole/mine"); err != nil || sec != nil {
		t.Errorf("another token read my cubbyhole: %v, %v", sec, err)
	}
	if l, err := c1.Logical().List("cubbyhole/"); err != nil || l == nil || len(l.Data["keys"].([]any)) != 1 {
		t.Errorf("cubbyhole list = %v, %v", l, err)
	}
}

// policyCase is one request checked against a policy.
type policyCase struct {
	method, path, body string
	want               int
}

func rawRequest(t *testing.T, s *testserver.Server, tok, method, path, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequestWithContext(t.Context(), method, s.Addr+"/v1/"+path, rd)
	req.Header.Set("X-Vault-Token", tok)
	if method == "PATCH" {
		req.Header.Set("Content-Type", "application/merge-patch+json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestPolicyEnforcement(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	root := s.Client
	if err := root.Sys().Mount("kv1", &api.MountInput{Type: "kv"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"kv1/team-a/app", "kv1/team-a/secret", "kv1/team-b/app", "kv1/team-b/app/config", "kv1/shared/x", "kv1/exact", "kv1/exactly"} {
		mustWrite(t, root, p, map[string]any{"v": "1"})
	}
	policies := map[string]string{
		"globs": `
path "kv1/team-a/*" { capabilities = ["read", "list"] }
path "kv1/team-a/secret" { capabilities = ["deny"] }
path "kv1/exact" { capabilities = ["read"] }
path "kv1/+/app" { capabilities = ["read", "update"] }
path "kv1/+/app/*" { capabilities = ["read"] }
`,
		"params": `
path "kv1/params" {
  capabilities = ["create", "update", "read"]
  allowed_parameters = {
    "env" = ["dev", "staging"]
    "owner" = []
  }
  denied_parameters = { "owner" = ["root"] }
  required_parameters = ["env"]
}
`,
		"rotator": `
path "sys/rotate" { capabilities = ["update"] }
path "sys/key-status" { capabilities = ["read"] }
`,
		"sudoer": `path "sys/rotate" { capabilities = ["update", "sudo"] }`,
	}
	for name, text := range policies {
		mustWrite(t, root, "sys/policies/acl/"+name, map[string]any{"policy": text})
	}
	cases := map[string][]policyCase{
		"globs": {
			{"GET", "kv1/team-a/app", "", 200},
			{"LIST", "kv1/team-a/", "", 200},
			{"GET", "kv1/team-a/secret", "", 403}, // deny wins
			// "kv1/team-a/*" (first wildcard late) outranks "kv1/+/app"
			// (first wildcard early), so team-a/app is read and list only.
			{"POST", "kv1/team-a/app", `{"v":"2"}`, 403},
			{"GET", "kv1/exact", "", 200},
			{"GET", "kv1/exactly", "", 403}, // exact means exact
			{"GET", "kv1/team-b/app", "", 200},
			{"GET", "kv1/team-b/app/config", "", 200},
			{"POST", "kv1/team-b/app/config", `{"v":"2"}`, 403},
			{"GET", "kv1/shared/x", "", 403},
			{"GET", "sys/mounts", "", 403},
			// The default policy grants lookup-self and cubbyhole.
			{"GET", "auth/token/lookup-self", "", 200},
			{"POST", "cubbyhole/note", `{"a":"b"}`, 204},
		},
		"params": {
			{"POST", "kv1/params", `{"env":"dev","owner":"alice"}`, 204},
			{"POST", "kv1/params", `{"env":"prod"}`, 403},               // value not allowed
			{"POST", "kv1/params", `{"env":"dev","owner":"root"}`, 403}, // denied value
			{"POST", "kv1/params", `{"owner":"alice"}`, 403},            // required missing
			{"POST", "kv1/params", `{"env":"dev","extra":"x"}`, 403},    // not allowed
			{"GET", "kv1/params", "", 200},
		},
		"rotator": {
			{"POST", "sys/rotate", "", 403}, // sys/rotate needs sudo too
			{"GET", "sys/key-status", "", 200},
		},
		"sudoer": {
			{"POST", "sys/rotate", "", 204},
		},
	}
	for name, list := range cases {
		tok, _ := createToken(t, root, &api.TokenCreateRequest{Policies: []string{name}})
		for _, c := range list {
			t.Run(name+" "+c.method+" "+c.path, func(t *testing.T) {
				code, body := rawRequest(t, s, tok, c.method, c.path, c.body)
				if code != c.want {
					t.Fatalf("%s %s with %q = %d %s, want %d", c.method, c.path, name, code, body, c.want)
				}
				if code == 403 && !strings.Contains(body, `"permission denied"`) {
					t.Errorf("403 body = %s, want permission denied", body)
				}
			})
		}
	}
	// Changing a policy takes effect on the next request.
	tok, _ := createToken(t, root, &api.TokenCreateRequest{Policies: []string{"globs"}})
	if code, _ := rawRequest(t, s, tok, "GET", "kv1/shared/x", ""); code != 403 {
		t.Fatalf("before the policy change: %d", code)
	}
	mustWrite(t, root, "sys/policies/acl/globs", map[string]any{"policy": `path "kv1/shared/*" { capabilities = ["read"] }`})
	if code, _ := rawRequest(t, s, tok, "GET", "kv1/shared/x", ""); code != 200 {
		t.Errorf("after the policy change: %d, want 200", code)
	}
	// Capabilities.
	caps, err := root.Sys().CapabilitiesWithContext(t.Context(), tok, "kv1/shared/x")
	if err != nil || !slices.Equal(caps, []string{"read"}) {
		t.Errorf("capabilities = %v, %v", caps, err)
	}
	self, err := clientWith(t, s, tok).Sys().CapabilitiesSelf("kv1/other")
	if err != nil || !slices.Equal(self, []string{"deny"}) {
		t.Errorf("capabilities-self = %v, %v", self, err)
	}
	if caps, err := root.Sys().CapabilitiesSelf("anything"); err != nil || !slices.Equal(caps, []string{"root"}) {
		t.Errorf("root capabilities-self = %v, %v", caps, err)
	}
}

func TestPolicyAPI(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	sys := s.Client.Sys()
	if err := sys.PutPolicy("ops", `path "secret/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	got, err := sys.GetPolicy("ops")
	if err != nil || !strings.Contains(got, "secret/*") {
		t.Errorf("GetPolicy = %q, %v", got, err)
	}
	names, err := sys.ListPolicies()
	if err != nil || !slices.Contains(names, "ops") || !slices.Contains(names, "default") || !slices.Contains(names, "root") {
		t.Errorf("ListPolicies = %v, %v", names, err)
	}
	for _, bad := range []struct{ name, text string }{
		{"broken", "path \"x\" {\n capabilities = [\"read\"\n"},
		{"badcap", `path "x" { capabilities = ["fly"] }`},
		{"unknownkey", `path "x" { capabilites = ["read"] }`},
		{"root", `path "x" { capabilities = ["read"] }`},
	} {
		err := sys.PutPolicy(bad.name, bad.text)
		if statusCode(err) != 400 {
			t.Errorf("PutPolicy(%s) error = %v, want 400", bad.name, err)
		}
	}
	if err := sys.PutPolicy("broken", "path \"x\" {\n capabilities = [\"read\"\n"); err == nil || !strings.Contains(err.Error(), "2") {
		t.Errorf("a malformed policy's error should name the line: %v", err)
	}
	if _, err := sys.GetPolicy("broken"); err != nil {
		t.Errorf("GetPolicy(broken): %v", err)
	}
	if err := sys.DeletePolicy("default"); statusCode(err) != 400 {
		t.Errorf("delete default error = %v, want 400", err)
	}
	if err := sys.DeletePolicy("ops"); err != nil {
		t.Fatal(err)
	}
	if got, _ := sys.GetPolicy("ops"); got != "" {
		t.Errorf("deleted policy still readable: %q", got)
	}
	// The older endpoint.
	sec, err := s.Client.Logical().Read("sys/policy/default")
	if err != nil || sec.Data["rules"] == "" {
		t.Errorf("sys/policy/default = %v, %v", sec, err)
	}
}

func TestUserpassLoginLockoutAndIdentity(t *testing.T) {
	t.Parallel()
	clock := logicaltest.NewClock(time.Now())
	s := testserver.StartWith(t, testserver.Options{Clock: clock})
	root := s.Client
	if err := root.Sys().EnableAuthWithOptions("userpass", &api.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatal(err)
	}
	auths, err := root.Sys().ListAuth()
	if err != nil || auths["userpass/"] == nil || auths["token/"] == nil {
		t.Fatalf("ListAuth = %v, %v", auths, err)
	}
	mustWrite(t, root, "sys/policies/acl/app", map[string]any{"policy": `path "secret/data/app" { capabilities = ["read"] }`})
	mustWrite(t, root, "sys/policies/acl/groupy", map[string]any{"policy": `path "secret/data/group" { capabilities = ["read"] }`})
	mustWrite(t, root, "auth/userpass/users/alice", map[string]any{"password": "correct horse", "token_policies": "app"})
	if err := root.Sys().TuneMountAllowNil("auth/userpass", api.TuneMountConfigInput{UserLockoutConfig: &api.TuneUserLockoutConfigInput{
		LockoutThreshold: ptr("3"), LockoutDuration: ptr("10m"), LockoutCounterResetDuration: ptr("10m"),
	}}); err != nil {
		t.Fatalf("tune lockout: %v", err)
	}

	anon := clientWith(t, s, "")
	anon.ClearToken()
	login := func(pw string) (*api.Secret, error) {
		return anon.Logical().Write("auth/userpass/login/alice", map[string]any{"password": pw})
	}
	sec, err := login("correct horse")
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	if sec.Auth == nil || !slices.Contains(sec.Auth.Policies, "app") || !slices.Contains(sec.Auth.Policies, "default") || sec.Auth.EntityID == "" {
		t.Fatalf("login auth = %+v", sec.Auth)
	}
	entityID := sec.Auth.EntityID
	// The same user maps to the same entity on the next login.
	sec2, err := login("correct horse")
	if err != nil || sec2.Auth.EntityID != entityID {
		t.Fatalf("second login entity = %v, %v", sec2, err)
	}
	// Group policies join the token's effective policies.
	mustWrite(t, root, "identity/group", map[string]any{"name": "devs", "policies": []string{"groupy"}, "member_entity_ids": []string{entityID}})
	uc := clientWith(t, s, sec.Auth.ClientToken)
	if _, err := uc.Logical().Read("secret/data/group"); statusCode(err) == 403 {
		t.Errorf("group policy not applied: %v", err)
	}
	if _, err := uc.Logical().Read("secret/data/other"); statusCode(err) != 403 {
		t.Errorf("read outside the policies error = %v, want 403", err)
	}

	// Brute force: three failures lock alice out; the right password then
	// fails too, until the lockout ends.
	for i := range 3 {
		if _, err := login(fmt.Sprintf("guess-%d", i)); statusCode(err) != 400 {
			t.Fatalf("bad login %d error = %v, want 400", i, err)
		}
	}
	if _, err := login("correct horse"); statusCode(err) != 403 {
		t.Fatalf("the correct password during the lockout: error = %v, want 403", err)
	}
	locked, err := root.Logical().Read("sys/locked-users")
	if err != nil || !strings.Contains(fmt.Sprint(locked.Data), "alice") {
		t.Errorf("sys/locked-users = %v, %v; want alice listed", locked, err)
	}
	clock.Advance(11 * time.Minute)
	if _, err := login("correct horse"); err != nil {
		t.Errorf("login after the lockout window: %v", err)
	}
	// An unknown user fails like a wrong password, is never locked out and
	// never listed: only existing aliases are tracked.
	for i := range 5 {
		_, err := anon.Logical().Write("auth/userpass/login/nobody", map[string]any{"password": "x"})
		if statusCode(err) != 400 || !strings.Contains(err.Error(), "invalid username or password") {
			t.Fatalf("login %d of an unknown user: error = %v, want 400 invalid username or password", i, err)
		}
	}
	locked, err = root.Logical().Read("sys/locked-users")
	if err != nil || strings.Contains(fmt.Sprint(locked.Data), "nobody") {
		t.Errorf("sys/locked-users = %v, %v; want no invented name", locked, err)
	}
}

func TestAuthMountAPI(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	sys := s.Client.Sys()
	if err := sys.EnableAuthWithOptions("token", &api.EnableAuthOptions{Type: "userpass"}); statusCode(err) != 400 {
		t.Errorf("enable at token/ error = %v, want 400", err)
	}
	if err := sys.EnableAuthWithOptions("up", &api.EnableAuthOptions{Type: "nosuch"}); statusCode(err) != 400 {
		t.Errorf("enable unknown type error = %v, want 400", err)
	}
	if err := sys.EnableAuthWithOptions("up", &api.EnableAuthOptions{Type: "userpass", Description: "people"}); err != nil {
		t.Fatal(err)
	}
	auths, _ := sys.ListAuth()
	if a := auths["up/"]; a == nil || a.Type != "userpass" || a.Description != "people" || !strings.HasPrefix(a.Accessor, "auth_userpass_") {
		t.Errorf("ListAuth()[up/] = %+v", a)
	}
	// Auth mounts do not show among secrets engines, and vice versa.
	mounts, _ := sys.ListMounts()
	if mounts["up/"] != nil || mounts["auth/up/"] != nil {
		t.Error("an auth method is listed among secrets engines")
	}
	if mounts["cubbyhole/"] == nil || mounts["identity/"] == nil {
		t.Error("built-in mounts are missing from sys/mounts")
	}
	if err := sys.Unmount("cubbyhole"); statusCode(err) != 400 {
		t.Errorf("disable cubbyhole error = %v, want 400", err)
	}
	if err := sys.DisableAuth("token"); statusCode(err) != 400 {
		t.Errorf("disable token auth error = %v, want 400", err)
	}
	mustWrite(t, s.Client, "auth/up/users/bob", map[string]any{"password": "pw-bob-123"})
	anon := clientWith(t, s, "")
	anon.ClearToken()
	sec, err := anon.Logical().Write("auth/up/login/bob", map[string]any{"password": "pw-bob-123"})
	if err != nil {
		t.Fatal(err)
	}
	if err := sys.DisableAuth("up"); err != nil {
		t.Fatal(err)
	}
	// Tokens the method issued go with it.
	if _, err := clientWith(t, s, sec.Auth.ClientToken).Auth().Token().LookupSelf(); statusCode(err) != 403 {
		t.Errorf("token of a disabled auth method still works: %v", err)
	}
	auths, _ = sys.ListAuth()
	if auths["up/"] != nil {
		t.Error("disabled auth method still listed")
	}
}

func ptr[T any](v T) *T { return &v }

func TestAppRoleLogin(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	root := s.Client
	if err := root.Sys().EnableAuthWithOptions("approle", &api.EnableAuthOptions{Type: "approle"}); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, root, "sys/policies/acl/svc", map[string]any{"policy": `path "secret/data/svc/*" { capabilities = ["read"] }`})
	mustWrite(t, root, "auth/approle/role/web", map[string]any{"token_policies": "svc", "token_ttl": "10m", "secret_id_num_uses": 2})
	mustWrite(t, root, "auth/approle/role/db", map[string]any{"token_policies": "svc"})
	// Bound to an address the test client does not have.
	mustWrite(t, root, "auth/approle/role/fenced", map[string]any{"token_policies": "svc", "secret_id_bound_cidrs": "10.9.9.0/24"})
	roleID := func(role string) string {
		sec, err := root.Logical().Read("auth/approle/role/" + role + "/role-id")
		if err != nil {
			t.Fatal(err)
		}
		return sec.Data["role_id"].(string)
	}
	secretID := func(role string) string {
		return mustWrite(t, root, "auth/approle/role/"+role+"/secret-id", nil).Data["secret_id"].(string)
	}
	anon := clientWith(t, s, "")
	anon.ClearToken()
	login := func(rid, sid string) (*api.Secret, error) {
		return anon.Logical().Write("auth/approle/login", map[string]any{"role_id": rid, "secret_id": sid})
	}
	webSID := secretID("web")
	sec, err := login(roleID("web"), webSID)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	if sec.Auth.LeaseDuration != 600 || !slices.Contains(sec.Auth.Policies, "svc") || sec.Auth.Metadata["role_name"] != "web" {
		t.Errorf("login auth = %+v", sec.Auth)
	}
	self, err := clientWith(t, s, sec.Auth.ClientToken).Auth().Token().LookupSelf()
	if err != nil || !strings.HasPrefix(self.Data["path"].(string), "auth/approle/login") {
		t.Errorf("lookup-self = %v, %v", self, err)
	}
	// A secret ID of another role, a wrong one, and a CIDR-bound one all
	// fail with the same answer and change nothing.
	for name, c := range map[string][2]string{
		"other role's secret id": {roleID("db"), webSID},
		"wrong secret id":        {roleID("web"), "00000000-0000-0000-0000-000000000000"},
		"unknown role id":        {"nope", webSID},
		"outside bound cidrs":    {roleID("fenced"), secretID("fenced")},
	} {
		if _, err := login(c[0], c[1]); statusCode(err) != 400 {
			t.Errorf("%s: error = %v, want 400", name, err)
		}
	}
	// num_uses: the second use works, the third fails.
	if _, err := login(roleID("web"), webSID); err != nil {
		t.Errorf("second use of the secret id: %v", err)
	}
	if _, err := login(roleID("web"), webSID); err == nil {
		t.Error("a used-up secret id still logs in")
	}
}

func TestPasswordPolicies(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	pol := "length = 24\nrule \"charset\" {\n  charset = \"abcdef\"\n  min-chars = 2\n}\nrule \"charset\" {\n  charset = \"0123\"\n  min-chars = 2\n}\n"
	mustWrite(t, s.Client, "sys/policies/password/hexish", map[string]any{"policy": pol})
	for range 20 {
		sec, err := s.Client.Logical().Read("sys/policies/password/hexish/generate")
		if err != nil {
			t.Fatal(err)
		}
		pw := sec.Data["password"].(string)
		if len(pw) != 24 || strings.Trim(pw, "abcdef0123") != "" {
			t.Fatalf("generated %q does not follow the policy", pw)
		}
	}
	if sec, err := s.Client.Logical().Read("sys/policies/password/hexish"); err != nil || sec.Data["policy"] != pol {
		t.Errorf("read policy = %v, %v", sec, err)
	}
	for _, bad := range []string{"length = 2", "lenght = 20", "length = 8\nrule \"charset\" {\n charset = \"a\"\n min-chars = 9\n}"} {
		if _, err := s.Client.Logical().Write("sys/policies/password/bad", map[string]any{"policy": bad}); statusCode(err) != 400 {
			t.Errorf("policy %q error = %v, want 400", bad, err)
		}
	}
	if sec, _ := s.Client.Logical().Read("sys/policies/password/bad"); sec != nil {
		t.Error("a refused policy was stored")
	}
	if _, err := s.Client.Logical().Read("sys/policies/password/none/generate"); statusCode(err) != 400 {
		t.Errorf("generate with an unknown policy error = %v, want 400", err)
	}
}

// TestMountLookupNeedsOnlyAccessUnderTheMount: sys/internal/ui/mounts
// answers a token with any access under the mount, as Vault does, so that
// the kv commands work with a narrow policy.
func TestMountLookupNeedsOnlyAccessUnderTheMount(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	mustWrite(t, s.Client, "sys/policies/acl/app", map[string]any{"policy": `path "secret/data/app" { capabilities = ["read"] }`})
	tok, _ := createToken(t, s.Client, &api.TokenCreateRequest{Policies: []string{"app"}})
	if code, body := rawRequest(t, s, tok, "GET", "sys/internal/ui/mounts/secret/app", ""); code != 200 || !strings.Contains(body, `"version":"2"`) {
		t.Errorf("mount lookup under an allowed mount = %d %s", code, body)
	}
	if err := s.Client.Sys().Mount("other", &api.MountInput{Type: "kv"}); err != nil {
		t.Fatal(err)
	}
	if code, _ := rawRequest(t, s, tok, "GET", "sys/internal/ui/mounts/other/x", ""); code != 403 {
		t.Errorf("mount lookup under a mount the token cannot reach = %d, want 403", code)
	}
}

package accessapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/access"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/policy"
)

var testNow = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

type fixedClock struct{}

func (fixedClock) Now() time.Time { return testNow }

func mustParse(tb testing.TB, name, src string) *policy.Policy {
	tb.Helper()
	p, err := policy.Parse(name, src)
	if err != nil {
		tb.Fatalf("Parse(%s): %v", name, err)
	}
	return p
}

// tokens is a TokenSource over a slice.
type tokens []access.Token

func (ts tokens) Each(fn func(*access.Token) bool) {
	for i := range ts {
		if !fn(&ts[i]) {
			return
		}
	}
}

func (ts tokens) Len() int { return len(ts) }

// walker is a KV-like engine listing fixed secrets and objects.
type walker struct {
	logical.Backend
	secrets []logical.SecretInfo
}

func (w walker) WalkSecrets(_ context.Context, prefix string, fn func(logical.SecretInfo) (bool, error)) error {
	for _, s := range w.secrets {
		if !strings.HasPrefix(s.Path, prefix) {
			continue
		}
		if ok, err := fn(s); !ok || err != nil {
			return err
		}
	}
	return nil
}

type objects struct {
	logical.Backend
	objs []logical.Object
}

func (o objects) Objects(context.Context) ([]logical.Object, error) { return o.objs, nil }

type fakeCore struct {
	pols   []*policy.Policy
	dir    *access.Directory
	mounts []Mount
}

func (f *fakeCore) Policies() []*policy.Policy                                 { return f.pols }
func (f *fakeCore) Directory(context.Context, bool) (*access.Directory, error) { return f.dir, nil }
func (f *fakeCore) SecretMounts() []Mount                                      { return f.mounts }

// testSetup is a small installation: payments can read its secrets,
// a deny policy covers payments' root key, an admin policy with sudo,
// a templated policy, nested groups.
func testSetup(t testing.TB) *fakeCore {
	t.Helper()
	pols := []*policy.Policy{
		mustParse(t, "default", `path "auth/token/lookup-self" { capabilities = ["read"] }`),
		mustParse(t, "payments", `
path "secret/data/payments/*" { capabilities = ["read", "list"] }
path "secret/metadata/payments/*" { capabilities = ["list"] }`),
		mustParse(t, "payments-writer", `
path "secret/data/payments/*" {
  capabilities = ["create", "update"]
  allowed_parameters = { "data" = [] }
}`),
		mustParse(t, "no-root-key", `path "secret/data/payments/root-key" { capabilities = ["deny"] }`),
		mustParse(t, "narrow", `path "secret/data/payments/db" { capabilities = ["list"] }`),
		mustParse(t, "admin", `path "*" { capabilities = ["read", "sudo"] }`),
		mustParse(t, "orphan-policy", `path "kv/x" { capabilities = ["read"] }`),
		mustParse(t, "database", `path "database/creds/payments" { capabilities = ["read"] }`),
		{Name: "per-entity", Rules: []policy.Rule{{Path: "secret/data/{{identity.entity.name}}/*", Capabilities: policy.CapRead}}},
	}
	dir := &access.Directory{
		Mounts: []access.AuthMount{
			{Path: "auth/approle/", Type: "approle", Accessor: "auth_approle_1", Principals: []logical.Principal{
				{Kind: "role", Name: "payments-api", Policies: []string{"default", "payments"}, Bindings: map[string]any{"secret_id_ttl": 3600, "secret_id_num_uses": 0}},
				{Kind: "role", Name: "payments-batch", Policies: []string{"default", "payments", "no-root-key"}},
				{Kind: "role", Name: "billing", Policies: []string{"default"}},
				{Kind: "role", Name: "counted", Policies: []string{"default"}, Counts: map[string]int{"secret_ids": 3, "secret_ids_unlimited": 2}},
				{Kind: "role", Name: "counted-none", Policies: []string{"default"}, Counts: map[string]int{"secret_ids": 3, "secret_ids_unlimited": 0}},
			}},
			{Path: "auth/kubernetes/", Type: "kubernetes", Accessor: "auth_kubernetes_2", Principals: []logical.Principal{
				{Kind: "role", Name: "payments-writer", Policies: []string{"payments-writer"}, Bindings: map[string]any{"bound_service_account_names": []string{"pay"}}},
				{Kind: "role", Name: "narrowed", Policies: []string{"payments", "narrow"}},
			}},
			{Path: "auth/jwt/", Type: "jwt", Accessor: "auth_jwt_3", Principals: []logical.Principal{
				{Kind: "role", Name: "ci", Policies: []string{"per-entity"}, Unbound: true},
			}},
		},
		Entities: []access.Entity{
			{ID: "e-alice", Name: "alice", GroupIDs: []string{"g-ops", "g-eng"}, IdentityPolicies: []string{"admin", "payments"},
				Aliases: []access.Alias{
					{ID: "a1", Name: "alice", MountAccessor: "auth_jwt_3", MountPath: "auth/jwt/"},
					{ID: "a2", Name: "role-id-of-alice", MountAccessor: "auth_approle_1", MountPath: "auth/approle/"},
				}},
			{ID: "e-bob", Name: "bob", IdentityPolicies: []string{}},
			{ID: "e-carol", Name: "carol", IdentityPolicies: []string{"per-entity"}},
			{ID: "e-dave", Name: "dave", Disabled: true, IdentityPolicies: []string{"payments"}},
		},
		Groups: []access.Group{
			{ID: "g-eng", Name: "eng", Type: "internal", Policies: []string{"payments"}},
			{ID: "g-ops", Name: "ops", Type: "internal", Policies: []string{"admin"}, ParentGroupIDs: []string{"g-eng"}, MemberEntityIDs: []string{"e-alice"}},
		},
		Tokens: tokens{
			{Accessor: "acc-1", DisplayName: "approle", Policies: []string{"default", "payments"}, Path: "auth/approle/login", CreationTime: testNow.Add(-time.Hour), ExpireTime: testNow.Add(time.Hour), Type: "service"},
			{Accessor: "acc-2", DisplayName: "approle", Policies: []string{"default", "payments", "no-root-key"}, Path: "auth/approle/login", CreationTime: testNow.Add(-time.Hour), ExpireTime: testNow.Add(30 * time.Minute), Type: "service"},
			{Accessor: "acc-root", DisplayName: "root", Policies: []string{"root"}, Path: "auth/token/root", CreationTime: testNow.Add(-48 * time.Hour), Type: "service"},
			{Accessor: "acc-alice", DisplayName: "jwt-alice", EntityID: "e-alice", Policies: []string{"default"}, Path: "auth/jwt/login", CreationTime: testNow, ExpireTime: testNow.Add(time.Hour), Type: "service"},
			{Accessor: "acc-none", DisplayName: "token", Policies: []string{"default"}, Path: "auth/token/create", CreationTime: testNow, Type: "service"},
			{Accessor: "acc-bob", DisplayName: "jwt-bob", EntityID: "e-bob", Policies: []string{"per-entity"}, Path: "auth/jwt/login", CreationTime: testNow, ExpireTime: testNow.Add(time.Hour), Type: "service"},
			{Accessor: "acc-carol", DisplayName: "jwt-carol", EntityID: "e-carol", Policies: []string{"default"}, Path: "auth/jwt/login", CreationTime: testNow, ExpireTime: testNow.Add(time.Hour), Type: "service"},
			{Accessor: "acc-dave", DisplayName: "jwt-dave", EntityID: "e-dave", Policies: []string{"default"}, Path: "auth/jwt/login", CreationTime: testNow, ExpireTime: testNow.Add(time.Hour), Type: "service"},
			{Accessor: "acc-noentity", DisplayName: "token", Policies: []string{"per-entity"}, Path: "auth/token/create", CreationTime: testNow, ExpireTime: testNow.Add(time.Hour), Type: "service"},
		},
	}
	kv := walker{secrets: []logical.SecretInfo{
		{Path: "payments/db", CreatedTime: testNow.AddDate(0, -6, 0), UpdatedTime: testNow.AddDate(0, -6, 0), LastRead: testNow.Add(-time.Hour)},
		{Path: "payments/root-key", CreatedTime: testNow.AddDate(-1, 0, 0), UpdatedTime: testNow.AddDate(-1, 0, 0)},
		{Path: "billing/api", CreatedTime: testNow.Add(-time.Hour), UpdatedTime: testNow.Add(-time.Hour)},
		{Path: "carol/notes", CreatedTime: testNow.Add(-time.Hour), UpdatedTime: testNow.Add(-time.Hour), LastRead: testNow},
	}}
	db := objects{objs: []logical.Object{
		{Kind: "role", Name: "payments", Paths: []string{"creds/payments", "roles/payments"}},
		{Kind: "role", Name: "billing", Paths: []string{"creds/billing"}},
	}}
	return &fakeCore{pols: pols, dir: dir, mounts: []Mount{{Path: "database/", Type: "database", Backend: db}, {Path: "secret/", Type: "kv", Backend: kv}}}
}

func call(t *testing.T, f *fakeCore, path string, q url.Values) (map[string]any, error) {
	t.Helper()
	b := &framework.Backend{Paths: New(Options{Core: f, Clock: fixedClock{}}).Paths()}
	resp, err := b.HandleRequest(context.Background(), &logical.Request{Operation: logical.ReadOperation, Path: path, Query: q})
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(resp.Data)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m, nil
}

// byName indexes the answer list key by "name" (or another member).
func accessOf(t *testing.T, m map[string]any, list, key string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, x := range m[list].([]any) {
		o := x.(map[string]any)
		out[o[key].(string)] = o["access"].(string)
	}
	return out
}

func TestWho(t *testing.T) {
	t.Parallel()
	f := testSetup(t)
	tests := []struct {
		name       string
		path, cap  string
		principals map[string]string
		entities   map[string]string
		groups     map[string]string
		tokens     map[string]string
		grants     []string
		denies     []string
	}{
		{
			name: "read db", path: "secret/data/payments/db",
			principals: map[string]string{"payments-api": AccessYes, "payments-batch": AccessYes, "narrowed": AccessShadowed, "ci": AccessDependsOnEntity},
			entities:   map[string]string{"alice": AccessYes, "dave": AccessEntityDisabled},
			groups:     map[string]string{"eng": AccessYes, "ops": AccessYes},
			tokens:     map[string]string{"acc-1": AccessYes, "acc-2": AccessYes, "acc-root": AccessYes, "acc-alice": AccessYes, "acc-dave": AccessEntityDisabled},
			grants:     []string{"payments", "admin"},
		},
		{
			name: "read root key is denied to the batch", path: "/secret/data/payments/root-key", cap: "read",
			principals: map[string]string{"payments-api": AccessYes, "payments-batch": AccessDenied, "narrowed": AccessYes, "ci": AccessDependsOnEntity},
			entities:   map[string]string{"alice": AccessYes, "dave": AccessEntityDisabled},
			groups:     map[string]string{"eng": AccessYes, "ops": AccessYes},
			tokens:     map[string]string{"acc-1": AccessYes, "acc-2": AccessDenied, "acc-root": AccessYes, "acc-alice": AccessYes, "acc-dave": AccessEntityDisabled},
			grants:     []string{"payments", "admin"}, denies: []string{"no-root-key"},
		},
		{
			name: "update is conditional on parameters", path: "secret/data/payments/db", cap: "update",
			principals: map[string]string{"payments-writer": AccessConditional, "ci": AccessDependsOnEntity},
			entities:   map[string]string{},
			groups:     map[string]string{},
			tokens:     map[string]string{"acc-root": AccessYes},
			grants:     []string{"payments-writer"},
		},
		{
			name: "templated resolved per entity", path: "secret/data/bob/db",
			principals: map[string]string{"ci": AccessDependsOnEntity},
			entities:   map[string]string{"alice": AccessYes},
			groups:     map[string]string{"ops": AccessYes},
			tokens:     map[string]string{"acc-bob": AccessYes, "acc-root": AccessYes, "acc-alice": AccessYes},
			grants:     []string{"admin"},
		},
		{
			name: "templated for the entity's own policies", path: "secret/data/carol/db",
			principals: map[string]string{"ci": AccessDependsOnEntity},
			entities:   map[string]string{"alice": AccessYes, "carol": AccessYes},
			groups:     map[string]string{"ops": AccessYes},
			tokens:     map[string]string{"acc-carol": AccessYes, "acc-root": AccessYes, "acc-alice": AccessYes},
			grants:     []string{"admin"},
		},
		{
			name: "nobody but root: the template cannot match", path: "cubbyhole/x", cap: "delete",
			principals: map[string]string{},
			entities:   map[string]string{}, groups: map[string]string{},
			tokens: map[string]string{"acc-root": AccessYes},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := url.Values{"path": {tt.path}}
			if tt.cap != "" {
				q.Set("capability", tt.cap)
			}
			m, err := call(t, f, "access/who", q)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				list, key string
				want      map[string]string
			}{
				{"principals", "name", tt.principals}, {"entities", "name", tt.entities},
				{"groups", "name", tt.groups}, {"tokens", "accessor", tt.tokens},
			} {
				if got := accessOf(t, m, c.list, c.key); !mapsEqual(got, c.want) {
					t.Errorf("%s = %v, want %v", c.list, got, c.want)
				}
			}
			for _, c := range []struct {
				list string
				want []string
			}{{"grants", tt.grants}, {"denies", tt.denies}} {
				var got []string
				for _, g := range m[c.list].([]any) {
					got = append(got, g.(map[string]any)["policy"].(string))
				}
				if !slices.Equal(got, c.want) {
					t.Errorf("%s = %v, want %v", c.list, got, c.want)
				}
			}
			if got := int(m["token_count"].(float64)); got != len(tt.tokens) {
				t.Errorf("token_count = %d, want %d", got, len(tt.tokens))
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestWhoDetails(t *testing.T) {
	t.Parallel()
	f := testSetup(t)
	m, err := call(t, f, "access/who", url.Values{"path": {"secret/data/payments/db"}, "token_limit": {"2"}})
	if err != nil {
		t.Fatal(err)
	}
	if m["tokens_truncated"] != true || len(m["tokens"].([]any)) != 2 || m["token_count"].(float64) != 5 {
		t.Errorf("token_limit=2: tokens %v, count %v, truncated %v", len(m["tokens"].([]any)), m["token_count"], m["tokens_truncated"])
	}
	for _, g := range m["groups"].([]any) {
		g := g.(map[string]any)
		if g["name"] == "eng" {
			// alice is in ops, nested in eng.
			if ms := g["member_entity_ids"].([]any); len(ms) != 1 || ms[0] != "e-alice" {
				t.Errorf("eng members = %v, want [e-alice] through ops", ms)
			}
		}
		if g["name"] == "ops" {
			if ps := g["policies"].([]any); len(ps) != 2 {
				t.Errorf("ops policies = %v, want its own and eng's", ps)
			}
		}
	}
	for _, e := range m["entities"].([]any) {
		e := e.(map[string]any)
		if e["name"] != "alice" {
			continue
		}
		al := e["aliases"].([]any)
		if len(al) != 2 || al[0].(map[string]any)["mount_path"] != "auth/jwt/" || al[0].(map[string]any)["name"] != "alice" {
			t.Errorf("alice's aliases = %v", al)
		}
		if len(al) == 2 && al[1].(map[string]any)["name"] != nil {
			t.Errorf("an AppRole alias shows its name (a role ID): %v", al[1])
		}
	}
	for _, tk := range m["tokens"].([]any) {
		tk := tk.(map[string]any)
		if tk["accessor"] == "acc-1" && tk["ttl"].(float64) != 3600 {
			t.Errorf("acc-1 ttl = %v, want 3600", tk["ttl"])
		}
	}
	for _, p := range m["principals"].([]any) {
		p := p.(map[string]any)
		if p["name"] == "payments-api" && p["mount"] != "auth/approle/" {
			t.Errorf("payments-api mount = %v", p["mount"])
		}
	}
}

func TestBadRequests(t *testing.T) {
	t.Parallel()
	f := testSetup(t)
	tests := []struct {
		path string
		q    url.Values
		want error
		msg  string
	}{
		{"access/who", url.Values{}, logical.ErrInvalidRequest, "path"},
		{"access/who", url.Values{"path": {"a"}, "capability": {"deny"}}, logical.ErrInvalidRequest, "capability"},
		{"access/who", url.Values{"path": {"a"}, "capability": {"READ"}}, logical.ErrInvalidRequest, "capability"},
		{"access/who", url.Values{"path": {"a"}, "token_limit": {"-1"}}, logical.ErrInvalidRequest, "token_limit"},
		{"access/who", url.Values{"path": {"a"}, "token_limit": {"100001"}}, logical.ErrInvalidRequest, "token_limit"},
		{"access/what", url.Values{}, logical.ErrInvalidRequest, "exactly one"},
		{"access/what", url.Values{"accessor": {"a"}, "policy": {"b"}}, logical.ErrInvalidRequest, "exactly one"},
		{"access/what", url.Values{"accessor": {"nope"}}, logical.ErrNotFound, "accessor"},
		{"access/what", url.Values{"entity_id": {"nope"}}, logical.ErrNotFound, "entity"},
		{"access/what", url.Values{"role": {"auth/approle/role/nope"}}, logical.ErrNotFound, "auth/approle/role/nope"},
		{"access/what", url.Values{"policy": {"payments,nope"}}, logical.ErrInvalidRequest, "nope"},
		{"access/report", url.Values{"unread_days": {"x"}}, logical.ErrInvalidRequest, "unread_days"},
		{"access/report", url.Values{"max_principals": {"99999999"}}, logical.ErrInvalidRequest, "max_principals"},
	}
	for _, tt := range tests {
		_, err := call(t, f, tt.path, tt.q)
		if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s?%s: err = %v, want %v naming %q", tt.path, tt.q.Encode(), err, tt.want, tt.msg)
		}
	}
}

func TestWhat(t *testing.T) {
	t.Parallel()
	f := testSetup(t)
	tests := []struct {
		name  string
		q     url.Values
		paths map[string][]string // concrete path -> capabilities
		root  bool
		dep   bool
	}{
		{
			name: "role", q: url.Values{"role": {"auth/approle/role/payments-batch"}},
			paths: map[string][]string{
				"secret/data/payments/db": {"list", "read"}, "secret/metadata/payments/db": {"list"},
				"secret/metadata/payments/root-key": {"list"},
			},
		},
		{
			name: "accessor adds the entity's policies", q: url.Values{"accessor": {"acc-alice"}},
			paths: map[string][]string{
				"secret/data/payments/db": {"list", "read"}, "secret/metadata/payments/db": {"list"},
				"secret/data/payments/root-key": {"list", "read"}, "secret/metadata/payments/root-key": {"list"},
				"secret/data/billing/api": {"read", "sudo"}, "secret/metadata/billing/api": {"read", "sudo"},
				"secret/data/carol/notes": {"read", "sudo"}, "secret/metadata/carol/notes": {"read", "sudo"},
				"database/creds/payments": {"read", "sudo"}, "database/roles/payments": {"read", "sudo"},
				"database/creds/billing": {"read", "sudo"},
			},
		},
		{
			name: "policies", q: url.Values{"policy": {" database , default"}},
			paths: map[string][]string{"database/creds/payments": {"read"}},
		},
		{
			name: "templated", q: url.Values{"role": {"auth/jwt/role/ci"}}, dep: true,
			paths: map[string][]string{},
		},
		{
			name: "templated resolved for the token's entity", q: url.Values{"accessor": {"acc-carol"}},
			paths: map[string][]string{"secret/data/carol/notes": {"read"}},
		},
		{
			name: "templated resolved for the entity", q: url.Values{"entity_id": {"e-bob"}},
			paths: map[string][]string{},
		},
		{
			name: "templated without an entity resolves nothing", q: url.Values{"accessor": {"acc-noentity"}},
			paths: map[string][]string{},
		},
		{
			name: "root token", q: url.Values{"accessor": {"acc-root"}}, root: true,
			paths: map[string][]string{
				"secret/data/payments/db": {"root"}, "secret/metadata/payments/db": {"root"},
				"secret/data/payments/root-key": {"root"}, "secret/metadata/payments/root-key": {"root"},
				"secret/data/billing/api": {"root"}, "secret/metadata/billing/api": {"root"},
				"secret/data/carol/notes": {"root"}, "secret/metadata/carol/notes": {"root"},
				"database/creds/payments": {"root"}, "database/roles/payments": {"root"}, "database/creds/billing": {"root"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := call(t, f, "access/what", tt.q)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]string{}
			for _, mo := range m["mounts"].([]any) {
				for _, p := range mo.(map[string]any)["paths"].([]any) {
					p := p.(map[string]any)
					var caps []string
					for _, c := range p["capabilities"].([]any) {
						caps = append(caps, c.(string))
					}
					got[p["path"].(string)] = caps
				}
			}
			if len(got) != len(tt.paths) {
				t.Errorf("paths = %v, want %v", got, tt.paths)
			}
			for p, want := range tt.paths {
				if !slices.Equal(got[p], want) {
					t.Errorf("%s: capabilities %v, want %v", p, got[p], want)
				}
			}
			if m["root"] != tt.root || m["depends_on_entity"] != tt.dep {
				t.Errorf("root = %v, depends_on_entity = %v; want %v, %v", m["root"], m["depends_on_entity"], tt.root, tt.dep)
			}
		})
	}
}

func TestWhatACLMerges(t *testing.T) {
	t.Parallel()
	f := testSetup(t)
	m, err := call(t, f, "access/what", url.Values{"policy": {"payments,payments-writer"}, "limit": {"1"}})
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, r := range m["acl"].([]any) {
		r := r.(map[string]any)
		if r["path"] == "secret/data/payments/*" {
			found = true
			if caps := r["capabilities"].([]any); len(caps) != 4 {
				t.Errorf("merged capabilities = %v, want create, list, read, update", caps)
			}
		}
	}
	if !found {
		t.Errorf("acl = %v, want a merged rule for secret/data/payments/*", m["acl"])
	}
	for _, mo := range m["mounts"].([]any) {
		mo := mo.(map[string]any)
		if mo["path"] == "secret/" && (len(mo["paths"].([]any)) != 1 || mo["truncated"] != true) {
			t.Errorf("limit=1: secret/ paths %v, truncated %v", mo["paths"], mo["truncated"])
		}
	}
}

func TestReport(t *testing.T) {
	t.Parallel()
	f := testSetup(t)
	m, err := call(t, f, "access/report", url.Values{"max_principals": {"2"}})
	if err != nil {
		t.Fatal(err)
	}
	field := func(list, key string) []string {
		var out []string
		for _, x := range m[list].([]any) {
			switch x := x.(type) {
			case string:
				out = append(out, x)
			case map[string]any:
				out = append(out, x[key].(string))
			}
		}
		slices.Sort(out)
		return out
	}
	tests := []struct {
		list, key string
		want      []string
	}{
		{"unread_secrets", "path", []string{"payments/root-key"}},
		{"unrotated_secrets", "path", []string{"payments/db", "payments/root-key"}},
		// payments/db: payments-api, payments-batch, alice; root-key:
		// payments-api, narrowed, alice.
		{"widely_readable_secrets", "path", []string{"payments/db", "payments/root-key"}},
		{"tokens_without_expiry", "accessor", []string{"acc-none", "acc-root"}},
		{"root_tokens", "accessor", []string{"acc-root"}},
		{"unused_policies", "", []string{"database", "orphan-policy"}},
		{"broad_policies", "reason", []string{"sudo", "wildcard"}},
		{"unlimited_secret_id_roles", "name", []string{"billing", "counted", "payments-batch"}},
		{"unbound_roles", "name", []string{"ci"}},
	}
	for _, tt := range tests {
		if got := field(tt.list, tt.key); !slices.Equal(got, tt.want) {
			t.Errorf("%s = %v, want %v", tt.list, got, tt.want)
		}
	}
}

// TestIndexReused checks that an unchanged policy set reuses its index
// and a changed one does not.
func TestIndexReused(t *testing.T) {
	t.Parallel()
	f := testSetup(t)
	a := New(Options{Core: f})
	_, x1 := a.snapshot()
	_, x2 := a.snapshot()
	if x1 != x2 {
		t.Error("the same policies built a new index")
	}
	f.pols = append(slices.Clone(f.pols), mustParse(t, "new", `path "x" { capabilities = ["read"] }`))
	if _, x3 := a.snapshot(); x3 == x1 {
		t.Error("a new policy reused the old index")
	}
}

// TestDeciderMatchesFor checks that deciding on the answer cut down to a
// set's policies (and caching) gives the decision of the whole answer.
func TestDeciderMatchesFor(t *testing.T) {
	t.Parallel()
	idx, _ := benchSetup(t, 300, 0, 0)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, path := range []string{"secret/data/shared/db", "secret/data/shared/root", "secret/data/app-10/config", "kv/x/app-20/y", "transit/encrypt/key-30"} {
		for _, c := range []policy.Capability{policy.CapRead, policy.CapUpdate, policy.CapList} {
			ans := idx.Who(path, c)
			d := newDecider(ans, nil, nil)
			for range 300 {
				var set []string
				for range 1 + rng.IntN(4) {
					set = append(set, fmt.Sprintf("app-%d", rng.IntN(40)*[]int{1, 10}[rng.IntN(2)]%300))
				}
				v := d.decide(set)
				full := ans.For(set)
				allowed := v.Access == AccessYes || v.Access == AccessConditional
				if allowed != full.Allowed || (v.Access != "" && !slices.Equal(v.Policies, nonNil(full.Policies))) {
					t.Fatalf("%s %s %v: verdict %+v, For %+v", path, c, set, v, full)
				}
			}
		}
	}
}

func TestCouldMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rule, path string
		want       bool
	}{
		{"secret/data/{{identity.entity.name}}/*", "secret/data/alice/db", true},
		{"secret/data/{{identity.entity.name}}/*", "secret/data/alice", false},
		{"secret/data/{{identity.entity.name}}/*", "secret/metadata/alice/db", false},
		{"secret/data/{{identity.entity.name}}", "secret/data/alice", true},
		{"secret/data/{{identity.entity.name}}", "secret/data/a/b", false},
		{"secret/data/team-{{identity.groups.names.x.name}}-x/db", "secret/data/team-ops-x/db", true},
		{"secret/data/team-{{identity.groups.names.x.name}}-x/db", "secret/data/team-ops/db", false},
		{"+/data/{{identity.entity.id}}", "kv/data/123", true},
		{"secret/{{identity.entity.id}}/", "secret/123/", true},
		{"secret/{{identity.entity.id}}", "secret/123/", true},
		{"secret/a.b/{{identity.entity.id}}", "secret/aXb/1", false},
		{"secret/{{unclosed", "secret/{{unclosed", true},
	}
	for _, tt := range tests {
		if got := couldMatch(tt.rule, tt.path); got != tt.want {
			t.Errorf("couldMatch(%q, %q) = %v, want %v", tt.rule, tt.path, got, tt.want)
		}
	}
}

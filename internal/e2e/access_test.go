package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/hashicorp/vault/api"

	"github.com/coffer-secrets/coffer/internal/testserver"
)

// fakeK8s is a Kubernetes API server's TokenReview endpoint: it vouches
// for the tokens it was told about, as the service accounts given.
type fakeK8s struct {
	srv   *httptest.Server
	mu    sync.Mutex
	known map[string][2]string // guarded by mu: token -> namespace, name
}

func newFakeK8s(t *testing.T) *fakeK8s {
	t.Helper()
	f := &fakeK8s{known: map[string][2]string{}}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var review struct {
			Spec struct {
				Token     string   `json:"token"`
				Audiences []string `json:"audiences"`
			} `json:"spec"`
		}
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		sa, ok := f.known[review.Spec.Token]
		f.mu.Unlock()
		status := map[string]any{"authenticated": false, "error": "unknown token"}
		if ok {
			status = map[string]any{"authenticated": true, "audiences": review.Spec.Audiences,
				"user": map[string]any{"username": "system:serviceaccount:" + sa[0] + ":" + sa[1], "uid": "uid-" + sa[1]}}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "status": status})
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// accessFixture is the realistic installation of TestAccessWhoMatchesReads.
type accessFixture struct {
	t      *testing.T
	cl     *api.Client
	sign   func(claims map[string]any) string
	k8s    *fakeK8s
	pubPEM string
	// secrets are every secret value written; tokens every token ID
	// issued: no access answer may contain one.
	secrets, tokens []string
}

func newAccessFixture(t *testing.T) *accessFixture {
	t.Helper()
	srv := testserver.Start(t)
	f := &accessFixture{t: t, cl: srv.Client, k8s: newFakeK8s(t)}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	f.pubPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: priv}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	f.sign = func(claims map[string]any) string {
		t.Helper()
		now := time.Now()
		c := map[string]any{"iat": now.Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(10 * time.Minute).Unix()}
		for k, v := range claims {
			c[k] = v
		}
		tok, err := josejwt.Signed(signer).Claims(c).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	return f
}

func (f *accessFixture) write(path string, data map[string]any) *api.Secret {
	f.t.Helper()
	return mustWrite(f.t, f.cl, path, data)
}

// clientFor returns a client holding the token of a login answer.
func (f *accessFixture) clientFor(sec *api.Secret) (*api.Client, string) {
	f.t.Helper()
	if sec == nil || sec.Auth == nil || sec.Auth.ClientToken == "" {
		f.t.Fatalf("login gave no token: %+v", sec)
	}
	f.tokens = append(f.tokens, sec.Auth.ClientToken)
	c, err := f.cl.Clone()
	if err != nil {
		f.t.Fatal(err)
	}
	c.SetToken(sec.Auth.ClientToken)
	return c, sec.Auth.Accessor
}

// raw reads a sys/access endpoint and returns its body, checking that no
// token ID or secret value of the test appears in it.
func (f *accessFixture) raw(path string, q map[string][]string) map[string]any {
	f.t.Helper()
	resp, err := f.cl.Logical().ReadRawWithData(path, q)
	if err != nil {
		f.t.Fatalf("read %s %v: %v", path, q, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, s := range append(append([]string{f.cl.Token()}, f.tokens...), f.secrets...) {
		if strings.Contains(string(body), s) {
			f.t.Fatalf("%s %v: the answer contains a token ID or secret value", path, q)
		}
	}
	var out struct {
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		f.t.Fatal(err)
	}
	return out.Data
}

// principal is one way of logging in, with the token it got.
type principal struct {
	name     string // mount and role, "auth/approle/role/svc-00"
	client   *api.Client
	accessor string
}

// TestAccessWhoMatchesReads builds a realistic installation (20 services,
// 40 policies, AppRole, Kubernetes and JWT roles, nested groups, a deny
// rule, a shadowing rule, a templated policy), logs in as every principal for real, and checks
// for many paths that sys/access/who says a token can read if and only if
// a real read with it succeeds. It also checks that no answer of who,
// what or report contains a token ID or a secret value.
func TestAccessWhoMatchesReads(t *testing.T) {
	t.Parallel()
	f := newAccessFixture(t)
	cl := f.cl
	const services = 20

	// 40 policies: a read and a write policy per service; every fifth
	// read policy also reads the shared tree; svc-03-read has a more
	// specific list-only rule on shared/audit (a shadow); the last
	// write policy is replaced by one that denies the shared root key.
	for i := range services {
		read := fmt.Sprintf(`path "secret/data/svc-%02d/*" { capabilities = ["read", "list"] }`, i)
		if i%5 == 0 || i == 3 {
			read += "\n" + `path "secret/data/shared/*" { capabilities = ["read"] }`
		}
		if i == 3 {
			read += "\n" + `path "secret/data/shared/audit" { capabilities = ["list"] }`
		}
		read += "\n" + fmt.Sprintf(`path "transit/encrypt/svc-%02d" { capabilities = ["update"] }`, i)
		if err := cl.Sys().PutPolicy(fmt.Sprintf("svc-%02d-read", i), read); err != nil {
			t.Fatal(err)
		}
		write := fmt.Sprintf(`path "secret/data/svc-%02d/*" {
  capabilities = ["create", "update"]
  allowed_parameters = { "data" = [] }
}`, i)
		name := fmt.Sprintf("svc-%02d-write", i)
		if i == services-1 {
			name, write = "deny-root-key", `path "secret/data/shared/root-key" { capabilities = ["deny"] }`
		}
		if err := cl.Sys().PutPolicy(name, write); err != nil {
			t.Fatal(err)
		}
	}
	// A templated policy: each person reads their own folder.
	if err := cl.Sys().PutPolicy("personal", `path "secret/data/people/{{identity.entity.name}}/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	paths := []string{"secret/data/shared/config", "secret/data/shared/root-key", "secret/data/shared/audit",
		"secret/data/people/alice/notes", "secret/data/people/bob/notes", "secret/data/people/dave/notes"}
	for i := range services {
		paths = append(paths, fmt.Sprintf("secret/data/svc-%02d/db", i))
	}
	if err := cl.Sys().Mount("transit", &api.MountInput{Type: "transit"}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"svc-00", "svc-05", "svc-09"} {
		f.write("transit/keys/"+k, nil)
	}
	for _, p := range paths {
		v := "value-" + strings.ReplaceAll(p, "/", "-") + "-" + fmt.Sprint(time.Now().UnixNano())
		f.secrets = append(f.secrets, v)
		f.write(p, map[string]any{"data": map[string]any{"password": v}})
	}

	// Auth methods: AppRole for services 0-6, Kubernetes for 7-13, JWT
	// for 14-19. Every fifth role also gets deny-root-key.
	for _, m := range []string{"approle", "kubernetes", "jwt"} {
		if err := cl.Sys().EnableAuthWithOptions(m, &api.EnableAuthOptions{Type: m}); err != nil {
			t.Fatal(err)
		}
	}
	f.write("auth/kubernetes/config", map[string]any{
		"kubernetes_host": f.k8s.srv.URL, "token_reviewer_jwt": "reviewer-token",
		"kubernetes_ca_cert": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.k8s.srv.Certificate().Raw})),
	})
	f.write("auth/jwt/config", map[string]any{"jwt_validation_pubkeys": []string{f.pubPEM}, "bound_issuer": "https://issuer.example"})
	var logins []principal
	var approleEntity string
	for i := range services {
		svc := fmt.Sprintf("svc-%02d", i)
		pols := svc + "-read"
		if i%5 == 1 {
			pols += ",deny-root-key"
		}
		if i%4 == 2 && i != services-1 {
			pols += "," + svc + "-write"
		}
		if i >= 14 {
			pols += ",personal" // the JWT roles people log in with
		}
		switch {
		case i < 7:
			f.write("auth/approle/role/"+svc, map[string]any{"token_policies": pols, "secret_id_ttl": "1h"})
			rid, err := cl.Logical().Read("auth/approle/role/" + svc + "/role-id")
			if err != nil {
				t.Fatal(err)
			}
			sid := f.write("auth/approle/role/"+svc+"/secret-id", nil)
			roleID, secretID := rid.Data["role_id"].(string), sid.Data["secret_id"].(string)
			f.secrets = append(f.secrets, secretID, roleID) // a role ID is half the credential: not shown either
			login := f.write("auth/approle/login", map[string]any{"role_id": roleID, "secret_id": secretID})
			if i == 2 {
				approleEntity = login.Auth.EntityID // joins the auditors below
			}
			c, acc := f.clientFor(login)
			logins = append(logins, principal{"auth/approle/role/" + svc, c, acc})
		case i < 14:
			f.write("auth/kubernetes/role/"+svc, map[string]any{
				"bound_service_account_names": svc, "bound_service_account_namespaces": "prod", "token_policies": pols,
			})
			jwt := f.sign(map[string]any{
				"iss": "https://kubernetes.default.svc.cluster.local", "sub": "system:serviceaccount:prod:" + svc, "aud": []string{"coffer"},
				"kubernetes.io": map[string]any{"namespace": "prod", "serviceaccount": map[string]any{"name": svc, "uid": "uid-" + svc}},
			})
			f.k8s.mu.Lock()
			f.k8s.known[jwt] = [2]string{"prod", svc}
			f.k8s.mu.Unlock()
			f.tokens = append(f.tokens, jwt)
			c, acc := f.clientFor(f.write("auth/kubernetes/login", map[string]any{"role": svc, "jwt": jwt}))
			logins = append(logins, principal{"auth/kubernetes/role/" + svc, c, acc})
		default:
			f.write("auth/jwt/role/"+svc, map[string]any{
				"role_type": "jwt", "bound_audiences": "coffer", "user_claim": "sub",
				"bound_claims": map[string]any{"service": svc}, "token_policies": pols, "token_ttl": "10m",
			})
		}
	}

	// People log in through JWT as services' operators. Their entities
	// sit in nested groups: "payments-oncall" is a member of "sre", which
	// grants svc-05-read; "sre" is a member of "platform", which grants
	// svc-06-read. So alice (in payments-oncall) gets both.
	auths, err := cl.Sys().ListAuth()
	if err != nil {
		t.Fatal(err)
	}
	jwtAccessor := auths["jwt/"].Accessor
	people := map[string]string{"alice": "svc-14", "bob": "svc-15", "carol": "svc-19"}
	entityOf := map[string]string{}
	for name := range people {
		e := f.write("identity/entity", map[string]any{"name": name})
		id := e.Data["id"].(string)
		entityOf[name] = id
		f.write("identity/entity-alias", map[string]any{"name": name, "canonical_id": id, "mount_accessor": jwtAccessor})
	}
	oncall := f.write("identity/group", map[string]any{"name": "payments-oncall", "member_entity_ids": []string{entityOf["alice"]}})
	sre := f.write("identity/group", map[string]any{"name": "sre", "policies": "svc-05-read", "member_group_ids": []string{oncall.Data["id"].(string)}})
	f.write("identity/group", map[string]any{"name": "platform", "policies": "svc-06-read,deny-root-key", "member_group_ids": []string{sre.Data["id"].(string)}})
	f.write("identity/group", map[string]any{"name": "auditors", "policies": "svc-10-read", "member_entity_ids": []string{entityOf["bob"], approleEntity}})
	for name, svc := range people {
		jwt := f.sign(map[string]any{"iss": "https://issuer.example", "aud": "coffer", "sub": name, "service": svc})
		f.tokens = append(f.tokens, jwt)
		c, acc := f.clientFor(f.write("auth/jwt/login", map[string]any{"role": svc, "jwt": jwt}))
		logins = append(logins, principal{"auth/jwt/role/" + svc + " as " + name, c, acc})
	}
	// Carol's entity is disabled after her login: her token is refused.
	f.write("identity/entity/id/"+entityOf["carol"], map[string]any{"disabled": true})
	// A token made directly, with no entity.
	c, acc := f.clientFor(f.write("auth/token/create", map[string]any{"policies": []string{"svc-00-read", "svc-01-read"}, "ttl": "1h"}))
	logins = append(logins, principal{"auth/token/create", c, acc})

	if who := f.raw("sys/access/who", map[string][]string{"path": {"secret/data/shared/config"}}); len(who["tokens"].([]any)) == 0 {
		t.Fatal("who lists no token, not even root's: core's access directory is empty (core.AccessDirectory missing?)")
	}
	yes, checked := 0, 0
	for _, p := range paths {
		who := f.raw("sys/access/who", map[string][]string{"path": {p}, "capability": {"read"}, "token_limit": {"100000"}})
		access := map[string]string{}
		for _, tk := range who["tokens"].([]any) {
			tk := tk.(map[string]any)
			access[tk["accessor"].(string)] = tk["access"].(string)
		}
		for _, l := range logins {
			_, err := l.client.Logical().Read(p)
			real := err == nil
			if err != nil {
				var re *api.ResponseError
				if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden {
					t.Fatalf("%s reads %s: %v, want success or 403", l.name, p, err)
				}
			}
			said := access[l.accessor] == "yes" || access[l.accessor] == "conditional"
			if said != real {
				t.Errorf("%s on %s: who says access %q, the real read succeeded: %v", l.name, p, access[l.accessor], real)
			}
			checked++
			if real {
				yes++
			}
			if real && strings.HasSuffix(l.name, " as carol") {
				t.Errorf("carol's token reads %s although her entity is disabled", p)
			}
			if strings.HasSuffix(l.name, " as carol") && p == "secret/data/svc-19/db" && access[l.accessor] != "entity_disabled" {
				t.Errorf("who says %q for carol's token on her service's secret, want entity_disabled", access[l.accessor])
			}
		}
	}
	if yes == 0 || yes == checked {
		t.Errorf("%d of %d reads succeeded: the fixture tests nothing", yes, checked)
	}

	// Spot checks of the answer's other parts.
	who := f.raw("sys/access/who", map[string][]string{"path": {"secret/data/svc-06/db"}})
	var groups []string
	for _, g := range who["groups"].([]any) {
		groups = append(groups, g.(map[string]any)["name"].(string))
	}
	if !sameSet(groups, []string{"payments-oncall", "platform", "sre"}) {
		t.Errorf("groups reaching svc-06 = %v, want platform and its nested sre and payments-oncall", groups)
	}
	var principals []string
	for _, p := range who["principals"].([]any) {
		p := p.(map[string]any)
		principals = append(principals, p["mount"].(string)+p["name"].(string)+"="+p["access"].(string))
	}
	if !sameSet(principals, []string{"auth/approle/svc-06=yes"}) {
		t.Errorf("principals reaching svc-06 = %v", principals)
	}
	rk := f.raw("sys/access/who", map[string][]string{"path": {"secret/data/shared/root-key"}})
	if d := rk["denies"].([]any); len(d) != 1 || d[0].(map[string]any)["policy"] != "deny-root-key" {
		t.Errorf("denies of the root key = %v", d)
	}

	// what and report: the real paths, and no credential in them.
	what := f.raw("sys/access/what", map[string][]string{"role": {"auth/approle/role/svc-05"}})
	var transit []string
	for _, m := range what["mounts"].([]any) {
		m := m.(map[string]any)
		if m["path"] == "transit/" {
			for _, p := range m["paths"].([]any) {
				p := p.(map[string]any)
				transit = append(transit, fmt.Sprint(p["path"], p["capabilities"]))
			}
		}
	}
	if want := []string{"transit/encrypt/svc-05[update]"}; !sameSet(transit, want) {
		t.Errorf("what svc-05 reaches under transit/ = %v, want %v", transit, want)
	}
	for _, m := range what["mounts"].([]any) {
		m := m.(map[string]any)
		if m["path"] != "secret/" {
			continue
		}
		if m["enumerated"] != true {
			t.Errorf("what does not list the KV v2 secrets of secret/: %v", m)
		}
		var reachable []string
		for _, p := range m["paths"].([]any) {
			reachable = append(reachable, p.(map[string]any)["path"].(string))
		}
		want := []string{"secret/data/shared/audit", "secret/data/shared/config", "secret/data/shared/root-key", "secret/data/svc-05/db"}
		if !sameSet(reachable, want) {
			t.Errorf("what svc-05 reaches under secret/ = %v, want %v", reachable, want)
		}
	}
	for _, l := range logins {
		f.raw("sys/access/what", map[string][]string{"accessor": {l.accessor}})
	}
	// The endpoints need sudo: read alone is refused.
	for name, caps := range map[string]string{"reader": `["read"]`, "auditor": `["read", "sudo"]`} {
		if err := cl.Sys().PutPolicy("access-"+name, `path "sys/access/*" { capabilities = `+caps+` }`); err != nil {
			t.Fatal(err)
		}
		c, _ := f.clientFor(f.write("auth/token/create", map[string]any{"policies": []string{"access-" + name}, "ttl": "10m"}))
		_, err := c.Logical().ReadWithData("sys/access/who", map[string][]string{"path": {"secret/data/shared/config"}})
		var re *api.ResponseError
		if denied := errors.As(err, &re) && re.StatusCode == http.StatusForbidden; denied != (name == "reader") || (!denied && err != nil) {
			t.Errorf("%s (capabilities %s) reads sys/access/who: %v", name, caps, err)
		}
	}
	// A legacy AppRole role whose secret ID never expires.
	f.write("auth/approle/role/legacy", map[string]any{"token_policies": "default"})
	f.secrets = append(f.secrets, f.write("auth/approle/role/legacy/secret-id", nil).Data["secret_id"].(string))
	report := f.raw("sys/access/report", map[string][]string{"max_principals": {"3"}})
	wide := map[string]float64{}
	for _, w := range report["widely_readable_secrets"].([]any) {
		w := w.(map[string]any)
		wide[w["mount"].(string)+w["path"].(string)] = w["principals"].(float64)
	}
	// shared/config: the AppRole roles svc-00, 03, 05, the Kubernetes
	// role svc-10, the JWT role svc-15, alice (through sre), bob and
	// svc-02's AppRole entity (through auditors); carol's entity is
	// disabled.
	if wide["secret/shared/config"] != 8 || wide["secret/svc-01/db"] != 0 {
		t.Errorf("widely_readable_secrets = %v, want secret/shared/config read by 8", wide)
	}
	if n := len(report["unread_secrets"].([]any)) + len(report["unrotated_secrets"].([]any)); n != 0 {
		t.Errorf("the report lists %d secrets written a moment ago as unread or unrotated", n)
	}
	if u := report["unlimited_secret_id_roles"].([]any); len(u) != 1 || u[0].(map[string]any)["name"] != "legacy" || u[0].(map[string]any)["unlimited_secret_ids"] != 1.0 {
		t.Errorf("unlimited_secret_id_roles = %v, want legacy with 1 secret ID", u)
	}
	if b := report["broad_policies"].([]any); len(b) != 1 || b[0].(map[string]any)["policy"] != "access-auditor" {
		t.Errorf("broad_policies = %v, want access-auditor's sudo alone", b)
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

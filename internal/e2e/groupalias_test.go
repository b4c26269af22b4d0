package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/hashicorp/vault/api"

	"github.com/coffer-secrets/coffer/internal/testserver"
)

// TestJWTGroupAlias logs in with JWTs through a jwt auth mount whose role
// has groups_claim "groups". The external group "devs" (policy
// "devs-read") has the group alias "developers" on that mount, so a token
// whose groups include "developers" may read what devs-read allows, and
// one whose groups lack it may not; a later login without the group takes
// the membership away from the entity.
func TestJWTGroupAlias(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t)
	cl := srv.Client

	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: priv}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	sign := func(sub string, groups []string) string {
		t.Helper()
		now := time.Now()
		tok, err := josejwt.Signed(signer).Claims(map[string]any{
			"iss": "https://issuer.example", "aud": "coffer", "sub": sub, "groups": groups,
			"iat": now.Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(10 * time.Minute).Unix(),
		}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	if err := cl.Sys().EnableAuthWithOptions("jwt", &api.EnableAuthOptions{Type: "jwt"}); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, cl, "auth/jwt/config", map[string]any{"jwt_validation_pubkeys": []string{pubPEM}, "bound_issuer": "https://issuer.example"})
	mustWrite(t, cl, "auth/jwt/role/app", map[string]any{
		"role_type": "jwt", "bound_audiences": "coffer", "user_claim": "sub", "groups_claim": "groups", "token_ttl": "10m",
	})
	if err := cl.Sys().PutPolicy("devs-read", `path "secret/data/devs/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, cl, "secret/data/devs/db", map[string]any{"data": map[string]any{"password": "s3cret"}})

	auths, err := cl.Sys().ListAuth()
	if err != nil {
		t.Fatal(err)
	}
	accessor := auths["jwt/"].Accessor
	group := mustWrite(t, cl, "identity/group", map[string]any{"name": "devs", "type": "external", "policies": "devs-read"})
	groupID, _ := group.Data["id"].(string)
	ga := mustWrite(t, cl, "identity/group-alias", map[string]any{"name": "developers", "mount_accessor": accessor, "canonical_id": groupID})
	if ga.Data["canonical_id"] != groupID {
		t.Fatalf("group-alias canonical_id = %v, want %q", ga.Data["canonical_id"], groupID)
	}

	login := func(sub string, groups []string) *api.Client {
		t.Helper()
		sec := mustWrite(t, cl, "auth/jwt/login", map[string]any{"role": "app", "jwt": sign(sub, groups)})
		if sec.Auth == nil || sec.Auth.ClientToken == "" {
			t.Fatalf("login %s: no token in %+v", sub, sec)
		}
		if _, ok := sec.Auth.Metadata["groups"]; ok {
			t.Errorf("login %s: token metadata has groups", sub)
		}
		c, err := cl.Clone()
		if err != nil {
			t.Fatal(err)
		}
		c.SetToken(sec.Auth.ClientToken)
		return c
	}
	canRead := func(c *api.Client) bool {
		t.Helper()
		sec, err := c.Logical().Read("secret/data/devs/db")
		if err != nil {
			var re *api.ResponseError
			if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden {
				t.Fatalf("read: %v, want success or 403", err)
			}
			return false
		}
		data, _ := sec.Data["data"].(map[string]any)
		return data["password"] == "s3cret"
	}

	alice := login("alice", []string{"ops", "developers"})
	if !canRead(alice) {
		t.Error("a login with group developers cannot read what devs-read allows")
	}
	if bob := login("bob", []string{"ops", "devs"}); canRead(bob) {
		t.Error("a login without group developers can read what devs-read allows")
	}

	g, err := cl.Logical().Read("identity/group/id/" + groupID)
	if err != nil {
		t.Fatal(err)
	}
	if members, _ := g.Data["member_entity_ids"].([]any); len(members) != 1 {
		t.Errorf("devs member_entity_ids = %v, want alice's entity alone", g.Data["member_entity_ids"])
	}

	// Alice logs in again without the group: the membership goes, for
	// the new token and the old one alike (both are alice's entity).
	again := login("alice", []string{"ops"})
	if canRead(again) || canRead(alice) {
		t.Error("after a login without group developers, alice's tokens can still read")
	}
}

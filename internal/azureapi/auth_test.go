package azureapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/hashicorp/vault/api"
)

// TestInvalidToken: a bearer token that is no live Coffer token (never
// issued, revoked) answers Key Vault's 401 with the bearer challenge,
// through the SDK and raw; a live token without permission stays 403.
func TestInvalidToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	revoked, err := e.ts.Client.Auth().Token().CreateWithContext(ctx, &api.TokenCreateRequest{Policies: []string{"default"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ts.Client.Auth().Token().RevokeTreeWithContext(ctx, revoked.Auth.ClientToken); err != nil {
		t.Fatal(err)
	}
	live, err := e.ts.Client.Auth().Token().CreateWithContext(ctx, &api.TokenCreateRequest{Policies: []string{"default"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		token  string
		status int
		code   string
	}{
		{"unknown", "hvs.not-a-coffer-token", http.StatusUnauthorized, "Unauthorized"},
		{"revoked", revoked.Auth.ClientToken, http.StatusUnauthorized, "Unauthorized"},
		{"live without permission", live.Auth.ClientToken, http.StatusForbidden, "Forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.do(t, http.MethodGet, "/secrets/any?api-version=7.4", tt.token, "")
			if resp.StatusCode != tt.status || errorCode(t, resp) != tt.code {
				t.Errorf("GET status %d, want %d %s", resp.StatusCode, tt.status, tt.code)
			}
			ch := resp.Header.Get("WWW-Authenticate")
			if wantCh := tt.status == http.StatusUnauthorized; wantCh != strings.HasPrefix(ch, `Bearer authorization="https://`) || wantCh != strings.Contains(ch, "resource=") {
				t.Errorf("WWW-Authenticate %q with status %d", ch, resp.StatusCode)
			}
			_, err := e.client(t, tt.token).GetSecret(ctx, "any", "", nil)
			if !isCode(err, tt.code, tt.status) {
				t.Errorf("SDK GetSecret = %v, want %d %s", err, tt.status, tt.code)
			}
		})
	}
}

// TestValidityWindow: a get of a version whose exp has passed, or whose
// nbf is still ahead, answers 403 Forbidden with the inner code saying
// why; inside its window it reads; the Vault API's read is unaffected.
func TestValidityWindow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	c := e.client(t, e.ts.RootToken)
	now := time.Now()
	tests := []struct {
		name     string
		nbf, exp *time.Time
		inner    string // "" reads
	}{
		{"expired", nil, to.Ptr(now.Add(-time.Hour)), "SecretExpired"},
		{"not yet valid", to.Ptr(now.Add(time.Hour)), nil, "SecretNotYetValid"},
		{"inside", to.Ptr(now.Add(-time.Hour)), to.Ptr(now.Add(time.Hour)), ""},
	}
	for i, tt := range tests {
		name := "window-" + string(rune('a'+i))
		value := "value of " + name
		if _, err := c.SetSecret(ctx, name, azsecrets.SetSecretParameters{Value: to.Ptr(value), SecretAttributes: &azsecrets.SecretAttributes{NotBefore: tt.nbf, Expires: tt.exp}}, nil); err != nil {
			t.Fatalf("%s: SetSecret: %v", tt.name, err)
		}
		got, err := c.GetSecret(ctx, name, "", nil)
		if tt.inner == "" {
			if err != nil || *got.Value != value {
				t.Errorf("%s: GetSecret = %v, want the value", tt.name, err)
			}
		} else if !isCode(err, "Forbidden", http.StatusForbidden) {
			t.Errorf("%s: GetSecret = %v, want 403 Forbidden", tt.name, err)
		}
		if tt.inner != "" {
			resp := e.do(t, http.MethodGet, "/secrets/"+name+"?api-version=7.4", e.ts.RootToken, "")
			var body struct {
				Error struct {
					InnerError struct {
						Code string `json:"code"`
					} `json:"innererror"`
				} `json:"error"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Error.InnerError.Code != tt.inner {
				t.Errorf("%s: inner error %q (%v), want %s", tt.name, body.Error.InnerError.Code, err, tt.inner)
			}
		}
		// The properties are still shown, and the Vault API reads the data.
		if _, err := c.NewListSecretPropertiesVersionsPager(name, nil).NextPage(ctx); err != nil {
			t.Errorf("%s: list versions: %v", tt.name, err)
		}
		kv, err := e.ts.Client.KVv2("secret").Get(ctx, name)
		if err != nil || kv.Data["SecretString"] != value {
			t.Errorf("%s: Vault API read = %v, %v", tt.name, kv, err)
		}
	}
}

// TestRequestMetrics: Azure requests are counted in the listener's
// request metrics under their own mount type, as Vault API requests are.
func TestRequestMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(t, e.ts.RootToken)
	ctx := t.Context()
	if _, err := c.SetSecret(ctx, "counted", azsecrets.SetSecretParameters{Value: to.Ptr("v")}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetSecret(ctx, "counted", "", nil); err != nil {
		t.Fatal(err)
	}
	resp, err := e.ts.Client.Logical().ReadRawWithDataWithContext(ctx, "sys/metrics", map[string][]string{"format": {"prometheus"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	if _, err := io.Copy(&b, resp.Body); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`mount_type="azure-key-vault",operation="read"`, `mount_type="azure-key-vault",operation="update"`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("sys/metrics has no series with %s", want)
		}
	}
}

// TestInFlight: an Azure request is in the listener's in-flight registry
// (sys/in-flight-req) while it is served: here a set whose body is still
// arriving.
func TestInFlight(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	pr, pw := io.Pipe()
	defer pw.Close()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, e.url+"/secrets/slow-body?api-version=7.4", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.ts.RootToken)
	req.Header.Set("Content-Type", "application/json")
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := e.front.Client().Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	if _, err := pw.Write([]byte(`{"value":`)); err != nil {
		t.Fatal(err)
	}
	found := false
	for range 100 {
		s, err := e.ts.Client.Logical().ReadWithContext(t.Context(), "sys/in-flight-req")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(s.Data)
		if strings.Contains(string(b), `"/secrets/slow-body"`) {
			found = true
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !found {
		t.Error("sys/in-flight-req never listed the Azure request in flight")
	}
	pw.CloseWithError(io.ErrUnexpectedEOF)
	<-done
}

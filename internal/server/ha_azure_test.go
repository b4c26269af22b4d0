package server_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/coffer-secrets/coffer/internal/testserver"
)

// azureToken answers a Coffer token whatever scope is asked.
type azureToken struct{ token string }

func (a azureToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: a.token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// azureClient is the azsecrets client for a node, through a TLS front
// that keeps the client's Host (the SDK speaks only https).
func azureClient(t *testing.T, addr, token string) (*azsecrets.Client, string) {
	t.Helper()
	target, err := url.Parse(addr)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewTLSServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Host = r.In.Host
	}})
	t.Cleanup(front.Close)
	opts := &azsecrets.ClientOptions{}
	opts.Transport = front.Client()
	opts.Retry.MaxRetries = -1
	c, err := azsecrets.NewClient(front.URL, azureToken{token}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c, front.URL
}

// TestAzureThroughStandby drives the Azure Key Vault API of a standby
// with the SDK: the standby forwards each request over the cluster
// listener to the active node, whose answers name the vault URL the
// client used.
func TestAzureThroughStandby(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2, func(i int, o *testserver.Options) {
		o.ExtraConfig = "azure_key_vault {}\n"
		o.ClusterAddr = "127.0.0.1:0"
	})
	ctx := t.Context()
	root := c.nodes[0].RootToken
	eventually(t, 10*time.Second, "the standby knows the active node", func() error {
		l, err := c.client(t, 1, root).Sys().Leader()
		if err != nil {
			return err
		}
		if l.IsSelf || l.LeaderAddress == "" {
			return fmt.Errorf("leader = %+v", l)
		}
		return nil
	})
	viaStandby, standbyURL := azureClient(t, c.nodes[1].Addr, root)
	viaActive, _ := azureClient(t, c.nodes[0].Addr, root)
	set, err := viaStandby.SetSecret(ctx, "fwd-db", azsecrets.SetSecretParameters{Value: to.Ptr("through the standby"), ContentType: to.Ptr("text/plain")}, nil)
	if err != nil {
		t.Fatalf("SetSecret through the standby: %v", err)
	}
	if !strings.HasPrefix(string(*set.ID), standbyURL+"/secrets/fwd-db/") {
		t.Errorf("id = %s, want it under the URL the client used, %s", *set.ID, standbyURL)
	}
	for name, cl := range map[string]*azsecrets.Client{"standby": viaStandby, "active": viaActive} {
		got, err := cl.GetSecret(ctx, "fwd-db", "", nil)
		if err != nil || *got.Value != "through the standby" || *got.ContentType != "text/plain" {
			t.Errorf("GetSecret through the %s = %v, %v", name, got.Value, err)
		}
	}
	if _, err := viaStandby.DeleteSecret(ctx, "fwd-db", nil); err != nil {
		t.Fatalf("DeleteSecret through the standby: %v", err)
	}
}

// TestAzureStandbyUnavailable: a standby that cannot forward (here with
// disable_request_forwarding) answers 503 in Azure's shape and changes
// nothing.
func TestAzureStandbyUnavailable(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2, func(i int, o *testserver.Options) {
		o.ExtraConfig = "azure_key_vault {}\n"
		o.DisableForwarding = i == 1
	})
	viaStandby, _ := azureClient(t, c.nodes[1].Addr, c.nodes[0].RootToken)
	_, err := viaStandby.SetSecret(t.Context(), "nope", azsecrets.SetSecretParameters{Value: to.Ptr("v")}, nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusServiceUnavailable || re.ErrorCode != "ServiceUnavailable" {
		t.Fatalf("SetSecret through a standby that does not forward = %v, want 503 ServiceUnavailable", err)
	}
	if s, err := c.client(t, 0, c.nodes[0].RootToken).KVv2("secret").Get(t.Context(), "nope"); err == nil {
		t.Errorf("secret written despite the 503: %v", s.Data)
	}
}

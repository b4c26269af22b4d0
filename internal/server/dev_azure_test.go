package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/coffer-secrets/coffer/internal/server"
)

// devToken is the Azure SDK credential of the quick start: it answers a
// Coffer token.
type devToken string

func (d devToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(d), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// TestDevModeAzureTLS follows docs/azure-key-vault.md's quick start:
// `coffer server -dev -dev-tls` serves TLS with a local CA whose path the
// banner prints, and the azsecrets SDK, trusting that CA, sets and gets a
// secret with the root token.
func TestDevModeAzureTLS(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	const root = "dev-azure-root"
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncWriter{w: &bytes.Buffer{}}
	done := make(chan int, 1)
	go func() {
		done <- server.Main(ctx, []string{"-dev", "-dev-tls", "-dev-root-token=" + root, "-listen=" + addr}, out, out, func(string) string { return "" })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("server.Main = %d, want 0", code)
			}
		case <-time.After(30 * time.Second):
			t.Error("the dev server did not stop within 30 s")
		}
	})
	output := func() string {
		out.mu.Lock()
		defer out.mu.Unlock()
		return out.w.(*bytes.Buffer).String()
	}
	caLine := regexp.MustCompile(`Local CA:\s+(\S+)`)
	eventually(t, 30*time.Second, "the dev server prints its local CA", func() error {
		if !caLine.MatchString(output()) || !strings.Contains(output(), "Root Token") {
			return fmt.Errorf("output so far:\n%s", output())
		}
		return nil
	})
	pem, err := os.ReadFile(caLine.FindStringSubmatch(output())[1])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("the local CA file holds no certificate")
	}
	opts := &azsecrets.ClientOptions{DisableChallengeResourceVerification: true}
	opts.Transport = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	opts.Retry.MaxRetries = -1
	c, err := azsecrets.NewClient("https://"+addr, devToken(root), opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetSecret(t.Context(), "db-password", azsecrets.SetSecretParameters{Value: to.Ptr("dev value")}, nil); err != nil {
		t.Fatalf("SetSecret: %v", err)
	}
	got, err := c.GetSecret(t.Context(), "db-password", "", nil)
	if err != nil || *got.Value != "dev value" {
		t.Fatalf("GetSecret = %v, %v", got, err)
	}
}

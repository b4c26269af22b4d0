package azureapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/coffer-secrets/coffer/internal/azureapi"
	"github.com/coffer-secrets/coffer/internal/testserver"
	"github.com/hashicorp/vault/api"
)

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkGetSecret measures GetSecret (one core read: token, ACL, KV
// data read) from parallel clients with a token whose policy allows the
// read: through the official SDK over TLS, and as plain HTTP requests
// (the server's part with the least client cost). cpu-µs/op is the
// process's CPU per request, client included (they share the process).
// docs/performance.md records the numbers.
func BenchmarkGetSecret(b *testing.B) {
	ts := testserver.Start(b)
	ctx := b.Context()
	if err := ts.Client.Sys().PutPolicyWithContext(ctx, "bench", `path "secret/data/*" { capabilities = ["read"] }`); err != nil {
		b.Fatal(err)
	}
	tok, err := ts.Client.Auth().Token().CreateWithContext(ctx, &api.TokenCreateRequest{Policies: []string{"bench"}})
	if err != nil {
		b.Fatal(err)
	}
	token := tok.Auth.ClientToken
	h := azureapi.New(azureapi.Options{Core: ts.Core(), Mount: "secret/"})

	b.Run("sdk-tls", func(b *testing.B) {
		srv := httptest.NewTLSServer(h)
		b.Cleanup(srv.Close)
		opts := &azsecrets.ClientOptions{}
		opts.Transport = srv.Client()
		opts.Retry.MaxRetries = -1
		c, err := azsecrets.NewClient(srv.URL, tokenCredential{token}, opts)
		if err != nil {
			b.Fatal(err)
		}
		root, err := azsecrets.NewClient(srv.URL, tokenCredential{ts.RootToken}, opts)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := root.SetSecret(ctx, "bench", azsecrets.SetSecretParameters{Value: to.Ptr("value"), ContentType: to.Ptr("text/plain")}, nil); err != nil {
			b.Fatal(err)
		}
		run(b, func() error {
			_, err := c.GetSecret(ctx, "bench", "", nil)
			return err
		})
	})
	b.Run("http", func(b *testing.B) {
		srv := httptest.NewServer(h)
		b.Cleanup(srv.Close)
		cl := srv.Client()
		cl.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
		url := srv.URL + "/secrets/bench?api-version=7.6"
		run(b, func() error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return err
			}
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := cl.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != http.StatusOK {
				b.Errorf("GET = %d", resp.StatusCode)
			}
			return nil
		})
	})
}

func run(b *testing.B, get func() error) {
	if err := get(); err != nil {
		b.Fatal(err)
	}
	start := cpuTime(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := get(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64((cpuTime(b)-start).Microseconds())/float64(b.N), "cpu-µs/op")
}

package server_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"
	"github.com/coffer-secrets/coffer/internal/testdb"
	"github.com/coffer-secrets/coffer/internal/testserver"
	"github.com/hashicorp/vault/api"
)

// TestAWSThroughStandby drives the AWS Secrets Manager API of a standby
// with the AWS SDK: the standby forwards each request, as the client sent
// it, to the active node, which verifies the client's signature itself.
// The active node's api_addr is unreachable in the first case, so the
// requests can only go over the cluster listener (HTTP/2, mutual TLS). A
// raw signed request replayed through the other node is refused by the
// active node's replay memory, whichever node got it first; the standby
// keeps its own body limit; a request another node already forwarded is
// not forwarded again. In the second case the active node announces no
// cluster address: the standby does not forward AWS requests to its
// api_addr, where the active node would check a key's bound CIDRs against
// the standby's address, and answers 503 (see testAWSNoClusterListener).
func TestAWSThroughStandby(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cluster bool
	}{
		{name: "over the cluster listener", cluster: true},
		{name: "no cluster address: not forwarded to api_addr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCluster(t, 2, func(i int, o *testserver.Options) {
				o.ExtraConfig = "aws_secrets_manager {}\n"
				if tt.cluster {
					o.ClusterAddr = "127.0.0.1:0"
					if i == 0 {
						o.ExtraConfig += unreachableAPI + "\n"
					}
				}
				if i == 1 {
					o.MaxRequestSize = 8 << 10
				}
			})
			if !tt.cluster {
				testAWSNoClusterListener(t, c)
				return
			}
			testAWSThroughStandby(t, c)
		})
	}
}

// TestAWSStandbyUnavailable checks that a standby that cannot hand an AWS
// request to an active node answers 503 ServiceUnavailable in AWS's shape
// and changes nothing: with disable_request_forwarding (a 307 would send
// the request to a host its signature does not name), and when the active
// node's announced cluster address cannot be reached (its api_addr can:
// the standby does not fall back to it).
func TestAWSStandbyUnavailable(t *testing.T) {
	t.Parallel()
	// The active node's API listener that binds its cluster listener.
	clusterAPI := freeAddr(t)
	tests := []struct {
		name   string
		adjust nodeOpts
	}{
		{name: "forwarding disabled", adjust: func(i int, o *testserver.Options) { o.DisableForwarding = i == 1 }},
		{name: "active unreachable", adjust: func(i int, o *testserver.Options) {
			if i == 0 {
				o.ExtraConfig += fmt.Sprintf("cluster_addr = \"https://127.0.0.1:1\"\nlistener \"tcp\" {\n address = %q\n tls_disable = true\n cluster_address = \"127.0.0.1:0\"\n}\n", clusterAPI)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCluster(t, 2, func(i int, o *testserver.Options) {
				o.ExtraConfig = "aws_secrets_manager {}\n"
				tt.adjust(i, o)
			})
			vc := c.client(t, 0, c.nodes[0].RootToken)
			if err := vc.Sys().EnableAuthWithOptions("awskeys", &api.EnableAuthOptions{Type: "awskeys"}); err != nil {
				t.Fatal(err)
			}
			created, err := vc.Logical().Write("auth/awskeys/keys/app", map[string]any{"policies": "default"})
			if err != nil {
				t.Fatal(err)
			}
			key := awsKey{id: created.Data["access_key_id"].(string), secret: created.Data["secret_access_key"].(string)}
			// The standby knows the active node: the 503 is not for want
			// of one.
			eventually(t, 10*time.Second, "the standby knows the active node", func() error {
				l, err := c.client(t, 1, c.nodes[0].RootToken).Sys().Leader()
				if err != nil {
					return err
				}
				if l.IsSelf || l.LeaderAddress == "" {
					return fmt.Errorf("leader = %+v", l)
				}
				return nil
			})
			body := `{"Name":"nofwd/db","SecretString":"v"}`
			req := key.sign(t, c.nodes[1].Addr, "secretsmanager.CreateSecret", body)
			status, code, out := sendAWS(t, req, c.nodes[1].Addr, body)
			if status != http.StatusServiceUnavailable || code != "ServiceUnavailable" || !strings.Contains(out, `"__type":"ServiceUnavailable"`) {
				t.Errorf("an AWS request the standby cannot forward = %d %s %s, want 503 ServiceUnavailable", status, code, out)
			}
			if _, err := vc.KVv2("secret").GetMetadata(t.Context(), "nofwd/db"); err == nil {
				t.Error("the refused CreateSecret made the secret")
			}
		})
	}
}

// testAWSNoClusterListener checks a standby whose active node announced
// no cluster address: Vault requests still go to the active node's
// api_addr, and AWS requests are answered 503 ServiceUnavailable, saying
// that forwarding them needs the cluster listener, with nothing changed.
// Among them is the case the refusal is for: a key bound to the
// standby's own address (127.0.0.1), used by a client outside it
// (127.0.0.2), which the active node would accept if it saw only the
// standby's address.
func testAWSNoClusterListener(t *testing.T, c *cluster) {
	root := c.nodes[0].RootToken
	vc := c.client(t, 0, root)
	if err := vc.Sys().EnableAuthWithOptions("awskeys", &api.EnableAuthOptions{Type: "awskeys"}); err != nil {
		t.Fatal(err)
	}
	if err := vc.Sys().PutPolicy("app", `path "secret/*" { capabilities = ["create", "read", "update", "patch", "list"] }`); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the standby knows the active node", func() error {
		l, err := c.client(t, 1, root).Sys().Leader()
		if err != nil {
			return err
		}
		if l.IsSelf || l.LeaderAddress == "" || l.LeaderClusterAddress != "" {
			return fmt.Errorf("leader = %+v", l)
		}
		return nil
	})
	// Vault requests through the standby reach the active node.
	if _, err := c.client(t, 1, root).KVv2("secret").Put(t.Context(), "vault/db", map[string]any{"v": "1"}); err != nil {
		t.Fatalf("a Vault write through the standby: %v", err)
	}
	standby := c.nodes[1].Addr
	for _, tt := range []struct {
		name, key, cidrs, from string
	}{
		{name: "unbound key", key: "free", from: "127.0.0.1"},
		{name: "key bound to the standby's address, client outside it", key: "bound", cidrs: "127.0.0.1/32", from: "127.0.0.2"},
	} {
		data := map[string]any{"policies": "app"}
		if tt.cidrs != "" {
			data["token_bound_cidrs"] = tt.cidrs
		}
		created, err := vc.Logical().Write("auth/awskeys/keys/"+tt.key, data)
		if err != nil {
			t.Fatal(err)
		}
		key := awsKey{id: created.Data["access_key_id"].(string), secret: created.Data["secret_access_key"].(string)}
		name := "nocluster/" + tt.key
		body := fmt.Sprintf(`{"Name":%q,"SecretString":"v"}`, name)
		req := key.sign(t, standby, "secretsmanager.CreateSecret", body)
		status, code, out := sendAWSFrom(t, req, standby, body, tt.from)
		if status != http.StatusServiceUnavailable || code != "ServiceUnavailable" || !strings.Contains(out, "cluster listener") {
			t.Errorf("%s: CreateSecret through a standby without a cluster listener = %d %s %s, want 503 ServiceUnavailable naming the cluster listener", tt.name, status, code, out)
		}
		if _, err := vc.KVv2("secret").GetMetadata(t.Context(), name); err == nil {
			t.Errorf("%s: the refused CreateSecret made the secret", tt.name)
		}
	}
	// The SDK sees the same answer (its retries turned off).
	created, err := vc.Logical().Write("auth/awskeys/keys/sdk", map[string]any{"policies": "app"})
	if err != nil {
		t.Fatal(err)
	}
	key := awsKey{id: created.Data["access_key_id"].(string), secret: created.Data["secret_access_key"].(string)}
	_, err = awsClient(standby, key).CreateSecret(t.Context(), &sm.CreateSecretInput{Name: aws.String("nocluster/sdk"), SecretString: aws.String("v")})
	if code := awsCode(err); code != "ServiceUnavailable" {
		t.Errorf("CreateSecret with the SDK through the standby: %v, want ServiceUnavailable", err)
	}
	if _, err := vc.KVv2("secret").GetMetadata(t.Context(), "nocluster/sdk"); err == nil {
		t.Error("the refused SDK CreateSecret made the secret")
	}
}

func testAWSThroughStandby(t *testing.T, c *cluster) {
	ctx := t.Context()
	root := c.nodes[0].RootToken
	vc := c.client(t, 0, root)
	if err := vc.Sys().EnableAuthWithOptions("awskeys", &api.EnableAuthOptions{Type: "awskeys"}); err != nil {
		t.Fatal(err)
	}
	if err := vc.Sys().PutPolicy("app", `path "secret/*" { capabilities = ["create", "read", "update", "patch", "list"] }`); err != nil {
		t.Fatal(err)
	}
	created, err := vc.Logical().Write("auth/awskeys/keys/app", map[string]any{"policies": "app"})
	if err != nil {
		t.Fatal(err)
	}
	key := awsKey{id: created.Data["access_key_id"].(string), secret: created.Data["secret_access_key"].(string)}
	active, standby := c.nodes[0].Addr, c.nodes[1].Addr
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

	// Created through the standby, read through both nodes.
	viaStandby := awsClient(standby, key)
	if _, err := viaStandby.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("fwd/db"), SecretString: aws.String("v1 through the standby")}); err != nil {
		t.Fatalf("CreateSecret through the standby: %v", err)
	}
	for name, cl := range map[string]*sm.Client{"active": awsClient(active, key), "standby": viaStandby} {
		got, err := cl.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("fwd/db")})
		if err != nil || aws.ToString(got.SecretString) != "v1 through the standby" {
			t.Errorf("GetSecretValue on the %s node = %+v, %v", name, got, err)
		}
	}
	// The Vault API sees the same secret.
	s, err := vc.KVv2("secret").Get(ctx, "fwd/db")
	if err != nil || s.Data["SecretString"] != "v1 through the standby" {
		t.Fatalf("Vault read of the secret = %v, %v", s, err)
	}
	// The active node's errors come back as they are.
	_, err = viaStandby.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("fwd/none")})
	if code := awsCode(err); code != "ResourceNotFoundException" {
		t.Errorf("GetSecretValue of a missing secret through the standby: %v, want ResourceNotFoundException", err)
	}
	_, err = awsClient(standby, awsKey{id: key.id, secret: "wrong" + key.secret[5:]}).GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("fwd/db")})
	if code := awsCode(err); code != "InvalidSignatureException" {
		t.Errorf("a wrong secret key through the standby: %v, want InvalidSignatureException", err)
	}

	// A signed request is accepted once, whichever node gets it first.
	body := `{"SecretId":"fwd/db"}`
	for _, tt := range []struct{ name, first, second string }{
		{"standby then active", standby, active},
		{"active then standby", active, standby},
	} {
		req := key.sign(t, tt.first, "secretsmanager.GetSecretValue", body)
		if status, code, out := sendAWS(t, req, tt.first, body); status != http.StatusOK || !strings.Contains(out, "v1 through the standby") {
			t.Fatalf("%s: first send = %d %s %s", tt.name, status, code, out)
		}
		if status, code, _ := sendAWS(t, req, tt.second, body); status != http.StatusBadRequest || code != "InvalidSignatureException" {
			t.Errorf("%s: replay through the other node = %d %s, want 400 InvalidSignatureException", tt.name, status, code)
		}
	}

	// Headers a reverse proxy would rewrite reach the active node as
	// signed: X-Forwarded-*, Forwarded, a header sent twice.
	req := key.sign(t, standby, "secretsmanager.GetSecretValue", body,
		"X-Forwarded-For", "203.0.113.7", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "secrets.example.com",
		"Forwarded", "for=203.0.113.7", "X-Custom", "one", "X-Custom", "two")
	if !strings.Contains(req.Header.Get("Authorization"), "x-forwarded-for") {
		t.Fatalf("the SDK did not sign X-Forwarded-For: %s", req.Header.Get("Authorization"))
	}
	if status, code, out := sendAWS(t, req, standby, body); status != http.StatusOK {
		t.Errorf("a request with signed X-Forwarded-* headers through the standby = %d %s %s", status, code, out)
	}

	// Over the cluster listener the active node believes the standby
	// about the client's address: a key bound to 127.0.0.2 works for a
	// client there, through the standby (whose own address is
	// 127.0.0.1), and not for one at 127.0.0.1.
	bound, err := vc.Logical().Write("auth/awskeys/keys/bound", map[string]any{"policies": "app", "token_bound_cidrs": "127.0.0.2/32"})
	if err != nil {
		t.Fatal(err)
	}
	bk := awsKey{id: bound.Data["access_key_id"].(string), secret: bound.Data["secret_access_key"].(string)}
	for _, tt := range []struct {
		from   string
		wantOK bool
	}{{"127.0.0.2", true}, {"127.0.0.1", false}} {
		req := bk.sign(t, standby, "secretsmanager.GetSecretValue", body)
		status, code, _ := sendAWSFrom(t, req, standby, body, tt.from)
		if ok := status == http.StatusOK; ok != tt.wantOK {
			t.Errorf("a key bound to 127.0.0.2, from %s through the standby = %d %s; want success %v", tt.from, status, code, tt.wantOK)
		}
	}

	// The standby's own body limit (8 KiB) holds before anything is
	// forwarded (the active node's is 32 MiB).
	big := fmt.Sprintf(`{"SecretId":"fwd/db","SecretString":%q}`, strings.Repeat("x", 16<<10))
	req = key.sign(t, standby, "secretsmanager.PutSecretValue", big)
	if status, code, _ := sendAWS(t, req, standby, big); status != http.StatusRequestEntityTooLarge || code != "RequestEntityTooLargeException" {
		t.Errorf("a body over the standby's limit = %d %s, want 413 RequestEntityTooLargeException", status, code)
	}
	// A request a node says it forwarded is not forwarded again.
	req = key.sign(t, standby, "secretsmanager.GetSecretValue", body)
	req.Header.Set("X-Coffer-Forwarded", "1")
	if status, code, _ := sendAWS(t, req, standby, body); status != http.StatusServiceUnavailable || code != "ServiceUnavailable" {
		t.Errorf("an already forwarded request on the standby = %d %s, want 503 ServiceUnavailable", status, code)
	}
	got, err := awsClient(active, key).DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: aws.String("fwd/db")})
	if err != nil || len(got.VersionIdsToStages) != 1 {
		t.Errorf("after the refused requests: %+v, %v; want one version", got, err)
	}
}

// awsKey is an access key of the awskeys auth method.
type awsKey struct{ id, secret string }

// awsClient is the AWS SDK's Secrets Manager client of the node at url,
// signing with key, without retries.
func awsClient(url string, key awsKey) *sm.Client {
	cfg := aws.Config{
		Region:           "eu-north-1",
		Credentials:      credentials.NewStaticCredentialsProvider(key.id, key.secret, ""),
		RetryMaxAttempts: 1,
	}
	return sm.NewFromConfig(cfg, func(o *sm.Options) { o.BaseEndpoint = aws.String(url) })
}

// awsCode is an SDK error's AWS error code.
func awsCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// sign answers a request to the node at url with body, signed with k now,
// with the headers in extra (name, value, ...) among those signed.
func (k awsKey) sign(t *testing.T, url, target, body string, extra ...string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", target)
	for i := 0; i+1 < len(extra); i += 2 {
		req.Header.Add(extra[i], extra[i+1])
	}
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(t.Context(), aws.Credentials{AccessKeyID: k.id, SecretAccessKey: k.secret}, req, hex.EncodeToString(sum[:]), "secretsmanager", "eu-north-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	return req
}

// sendAWS sends signed's method, headers, Host and body to the node at
// url (a replay when signed was sent before) and answers the status, the
// AWS error code and the body.
func sendAWS(t *testing.T, signed *http.Request, url, body string) (int, string, string) {
	t.Helper()
	return sendAWSFrom(t, signed, url, body, "127.0.0.1")
}

// sendAWSFrom is sendAWS from the local address ip.
func sendAWSFrom(t *testing.T, signed *http.Request, url, body, ip string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), signed.Method, url+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = signed.Header.Clone()
	req.Host = signed.URL.Host
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	resp, err := (&http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: dialer.DialContext, DisableKeepAlives: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Amzn-Errortype"), string(b)
}

// BenchmarkAWSForwarded measures GetSecretValue, signed by the AWS SDK,
// sent to the active node of a 2-node cluster on PostgreSQL and to its
// standby, which forwards it over the cluster listener (HTTP/2, mutual
// TLS): the difference is what forwarding costs. Both nodes and the
// client share the process, so the CPU per request is the whole path's.
// docs/performance.md records the numbers.
func BenchmarkAWSForwarded(b *testing.B) {
	db := testdb.New(b, testdb.Postgres)
	var nodes []*testserver.Server
	for i := range 2 {
		o := testserver.Options{
			Postgres:    &testserver.Postgres{URL: pgURL(db.Name), HA: true},
			NodeID:      fmt.Sprintf("node%d", i),
			ClusterAddr: "127.0.0.1:0",
			ExtraConfig: "aws_secrets_manager {}\n",
		}
		if i > 0 {
			o.UnsealKeys, o.RootToken = nodes[0].UnsealKeys, nodes[0].RootToken
		}
		nodes = append(nodes, testserver.StartWith(b, o))
	}
	vc := nodes[0].Client
	if err := vc.Sys().EnableAuthWithOptions("awskeys", &api.EnableAuthOptions{Type: "awskeys"}); err != nil {
		b.Fatal(err)
	}
	if err := vc.Sys().PutPolicy("app", `path "secret/data/*" { capabilities = ["read"] }`); err != nil {
		b.Fatal(err)
	}
	created, err := vc.Logical().Write("auth/awskeys/keys/app", map[string]any{"policies": "app"})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := vc.KVv2("secret").Put(b.Context(), "bench/db", map[string]any{"SecretString": "value"}); err != nil {
		b.Fatal(err)
	}
	key := awsKey{id: created.Data["access_key_id"].(string), secret: created.Data["secret_access_key"].(string)}
	in := &sm.GetSecretValueInput{SecretId: aws.String("bench/db")}
	for _, n := range []struct {
		name string
		node *testserver.Server
	}{{"active", nodes[0]}, {"standby", nodes[1]}} {
		b.Run(n.name, func(b *testing.B) {
			c := awsClient(n.node.Addr, key)
			// The standby may not know the active node for a moment.
			for range 500 {
				if _, err = c.GetSecretValue(b.Context(), in); err == nil {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err != nil {
				b.Fatal(err)
			}
			start := processCPU(b)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.GetSecretValue(b.Context(), in); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64((processCPU(b)-start).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// processCPU is the process's user and system CPU time so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

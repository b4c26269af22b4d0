package kms_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/agent"
	"github.com/coffer-secrets/coffer/internal/k8s/kms"
	"github.com/coffer-secrets/coffer/internal/testserver"
	"github.com/hashicorp/vault/api"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	kmsapi "k8s.io/kms/apis/v2"
)

// keyName is the transit key the tests wrap data keys with.
const keyName = "k8s-etcd"

// pluginPolicy is what docs/kubernetes.md tells operators to grant.
const pluginPolicy = `
path "transit/encrypt/k8s-etcd" { capabilities = ["update"] }
path "transit/decrypt/k8s-etcd" { capabilities = ["update"] }
path "transit/keys/k8s-etcd"    { capabilities = ["read"] }
path "auth/token/lookup-self"   { capabilities = ["read"] }
path "auth/token/renew-self"    { capabilities = ["update"] }
`

// setUpCoffer mounts transit with the key on s and returns a token that
// holds only pluginPolicy.
func setUpCoffer(t testing.TB, s *testserver.Server) string {
	t.Helper()
	cl := s.Client
	if err := cl.Sys().Mount("transit", &api.MountInput{Type: "transit"}); err != nil {
		t.Fatalf("mount transit: %v", err)
	}
	if _, err := cl.Logical().Write("transit/keys/"+keyName, nil); err != nil {
		t.Fatalf("create key: %v", err)
	}
	if err := cl.Sys().PutPolicy("kms-plugin", pluginPolicy); err != nil {
		t.Fatalf("put policy: %v", err)
	}
	sec, err := cl.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"kms-plugin"}, TTL: "2h", NoDefaultPolicy: true})
	if err != nil {
		t.Fatalf("create token: %v", err)
	}
	return sec.Auth.ClientToken
}

// plugin is a running plugin and the API server's end of its socket.
type plugin struct {
	socket string
	kms    kmsapi.KeyManagementServiceClient
	stop   func() // stops the plugin and waits for it
}

// startPlugin runs a plugin on socket that logs in to addr with the token
// in tokenFile through the agent's auto-auth, and dials it as the API
// server does.
func startPlugin(t testing.TB, addr, tokenFile, socket string) *plugin {
	t.Helper()
	cl, err := api.NewClient(&api.Config{Address: addr, MaxRetries: 0, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cl.ClearToken()
	auth := agent.NewAutoAuth(agent.AutoAuthOptions{
		Method: &agent.TokenFile{Path: tokenFile}, Client: cl,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
	})
	p, err := kms.New(kms.Options{Client: cl, Key: keyName, Refused: auth.Refused})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ln, err := kms.Listen("unix://" + socket)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	authDone, serveDone := make(chan error, 1), make(chan error, 1)
	go func() { authDone <- auth.Run(ctx) }()
	go func() { serveDone <- kms.Serve(ctx, ln, p, nil) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-authDone; err != nil {
			t.Errorf("auto-auth: %v", err)
		}
		if err := <-serveDone; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}
	t.Cleanup(stop)
	select {
	case <-auth.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("plugin did not log in")
	}
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return &plugin{socket: socket, kms: kmsapi.NewKeyManagementServiceClient(conn), stop: stop}
}

// writeToken writes tok to a file in a new temporary directory.
func writeToken(t testing.TB, tok string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// socketPath is a unix socket path short enough for sun_path (108 bytes;
// t.TempDir can be longer).
func socketPath(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "kms")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "kms.sock")
}

// newPlugin starts a Coffer server and a plugin against it.
func newPlugin(t testing.TB) (*testserver.Server, *plugin) {
	t.Helper()
	s := testserver.Start(t)
	tok := setUpCoffer(t, s)
	return s, startPlugin(t, s.Addr, writeToken(t, tok), socketPath(t))
}

// fqdn is a DNS-1123 subdomain of at least two labels, what the API server
// requires of annotation keys.
var fqdn = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$`)

func TestEncryptDecrypt(t *testing.T) {
	t.Parallel()
	_, p := newPlugin(t)
	ctx := t.Context()

	st, err := p.kms.Status(ctx, &kmsapi.StatusRequest{})
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if st.Version != "v2" || st.Healthz != "ok" || st.KeyId != keyName+":v1" {
		t.Fatalf("Status = %q %q %q, want v2 ok %s:v1", st.Version, st.Healthz, st.KeyId, keyName)
	}
	tests := []struct {
		name string
		size int
	}{
		{"one byte", 1},
		{"data key", 32},
		{"largest", kms.MaxPlaintext},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt := bytes.Repeat([]byte{0xA5}, tt.size)
			enc, err := p.kms.Encrypt(ctx, &kmsapi.EncryptRequest{Plaintext: pt, Uid: "u1"})
			if err != nil {
				t.Fatalf("Encrypt: %v", err)
			}
			if enc.KeyId != st.KeyId {
				t.Errorf("Encrypt key_id = %q, want %q (Status's)", enc.KeyId, st.KeyId)
			}
			if len(enc.Ciphertext) == 0 || len(enc.Ciphertext) >= 1024 || bytes.Contains(enc.Ciphertext, pt) {
				t.Errorf("Encrypt ciphertext of %d bytes, want 1 to 1023 bytes not holding the plaintext", len(enc.Ciphertext))
			}
			if len(enc.Annotations) == 0 {
				t.Error("Encrypt returned no annotation")
			}
			for k, v := range enc.Annotations {
				if !fqdn.MatchString(k) {
					t.Errorf("annotation key %q is not a fully qualified domain name", k)
				}
				if k == kms.AnnotationKey && string(v) != "transit/"+keyName {
					t.Errorf("annotation %s = %q, want transit/%s", k, v, keyName)
				}
			}
			dec, err := p.kms.Decrypt(ctx, &kmsapi.DecryptRequest{Ciphertext: enc.Ciphertext, KeyId: enc.KeyId, Annotations: enc.Annotations, Uid: "u2"})
			if err != nil {
				t.Fatalf("Decrypt: %v", err)
			}
			if !bytes.Equal(dec.Plaintext, pt) {
				t.Errorf("Decrypt = %x, want %x", dec.Plaintext, pt)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	s, p := newPlugin(t)
	ctx := t.Context()
	old := []byte("data key of version one, 32 byte")
	enc1, err := p.kms.Encrypt(ctx, &kmsapi.EncryptRequest{Plaintext: old})
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	if _, err := s.Client.Logical().Write("transit/keys/"+keyName+"/rotate", nil); err != nil {
		t.Fatalf("rotate: %v", err)
	}
	st, err := p.kms.Status(ctx, &kmsapi.StatusRequest{})
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if st.Healthz != "ok" || st.KeyId != keyName+":v2" || st.KeyId == enc1.KeyId {
		t.Fatalf("Status after rotation = %q %q, want ok and a new key_id %s:v2 (was %q)", st.Healthz, st.KeyId, keyName, enc1.KeyId)
	}
	enc2, err := p.kms.Encrypt(ctx, &kmsapi.EncryptRequest{Plaintext: []byte("data key of version two")})
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	if enc2.KeyId != st.KeyId {
		t.Errorf("Encrypt key_id after rotation = %q, want %q", enc2.KeyId, st.KeyId)
	}
	dec, err := p.kms.Decrypt(ctx, &kmsapi.DecryptRequest{Ciphertext: enc1.Ciphertext, KeyId: enc1.KeyId, Annotations: enc1.Annotations})
	if err != nil {
		t.Fatalf("Decrypt of a version 1 ciphertext after rotation: %v", err)
	}
	if !bytes.Equal(dec.Plaintext, old) {
		t.Errorf("Decrypt = %q, want %q", dec.Plaintext, old)
	}

	// Once transit no longer holds version 1 for decryption, the old
	// ciphertext is refused, as an error the API server sees.
	if _, err := s.Client.Logical().Write("transit/keys/"+keyName+"/config", map[string]any{"min_decryption_version": 2}); err != nil {
		t.Fatalf("config: %v", err)
	}
	_, err = p.kms.Decrypt(ctx, &kmsapi.DecryptRequest{Ciphertext: enc1.Ciphertext, KeyId: enc1.KeyId})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("Decrypt below min_decryption_version: %v, want InvalidArgument", err)
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	_, p := newPlugin(t)
	ctx := t.Context()
	enc, err := p.kms.Encrypt(ctx, &kmsapi.EncryptRequest{Plaintext: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	ct := string(enc.Ciphertext)
	// The same shape with the body's first byte changed: only Coffer
	// can tell it is wrong.
	body := ct[len("vault:v1:"):]
	flip := "A"
	if body[0] == 'A' {
		flip = "B"
	}
	tampered := "vault:v1:" + flip + body[1:]

	decrypts := []struct {
		name string
		req  *kmsapi.DecryptRequest
		want codes.Code
	}{
		{"garbage ciphertext", &kmsapi.DecryptRequest{Ciphertext: []byte("garbage"), KeyId: enc.KeyId}, codes.InvalidArgument},
		{"empty ciphertext", &kmsapi.DecryptRequest{KeyId: enc.KeyId}, codes.InvalidArgument},
		{"oversized ciphertext", &kmsapi.DecryptRequest{Ciphertext: bytes.Repeat([]byte("A"), 2048), KeyId: enc.KeyId}, codes.InvalidArgument},
		{"tampered ciphertext", &kmsapi.DecryptRequest{Ciphertext: []byte(tampered), KeyId: enc.KeyId}, codes.InvalidArgument},
		{"unknown key_id", &kmsapi.DecryptRequest{Ciphertext: enc.Ciphertext, KeyId: "some-other-key:v1"}, codes.InvalidArgument},
		{"malformed key_id", &kmsapi.DecryptRequest{Ciphertext: enc.Ciphertext, KeyId: "k8s-etcd"}, codes.InvalidArgument},
		{"empty key_id", &kmsapi.DecryptRequest{Ciphertext: enc.Ciphertext}, codes.InvalidArgument},
		{"key_id of another version", &kmsapi.DecryptRequest{Ciphertext: enc.Ciphertext, KeyId: keyName + ":v7"}, codes.InvalidArgument},
		{"version not held", &kmsapi.DecryptRequest{Ciphertext: []byte("vault:v7:" + body), KeyId: keyName + ":v7"}, codes.InvalidArgument},
		{"annotation of another key", &kmsapi.DecryptRequest{Ciphertext: enc.Ciphertext, KeyId: enc.KeyId,
			Annotations: map[string][]byte{kms.AnnotationKey: []byte("transit/other")}}, codes.InvalidArgument},
	}
	for _, tt := range decrypts {
		t.Run(tt.name, func(t *testing.T) {
			_, err := p.kms.Decrypt(ctx, tt.req)
			if status.Code(err) != tt.want {
				t.Fatalf("Decrypt = %v, want code %v", err, tt.want)
			}
			if msg := status.Convert(err).Message(); strings.Contains(msg, string(tt.req.Ciphertext)) && len(tt.req.Ciphertext) > 0 {
				t.Errorf("error %q quotes the ciphertext", msg)
			}
		})
	}
	encrypts := []struct {
		name string
		pt   []byte
	}{
		{"empty plaintext", nil},
		{"oversized plaintext", make([]byte, kms.MaxPlaintext+1)},
	}
	for _, tt := range encrypts {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := p.kms.Encrypt(ctx, &kmsapi.EncryptRequest{Plaintext: tt.pt}); status.Code(err) != codes.InvalidArgument {
				t.Fatalf("Encrypt = %v, want InvalidArgument", err)
			}
		})
	}
	// The plugin still works after all that.
	if _, err := p.kms.Decrypt(ctx, &kmsapi.DecryptRequest{Ciphertext: enc.Ciphertext, KeyId: enc.KeyId, Annotations: enc.Annotations}); err != nil {
		t.Fatalf("Decrypt after bad input: %v", err)
	}
}

// TestUnhealthyKey checks Status's healthz when the key is missing, is of
// a signing type, or the token may not read it.
func TestUnhealthyKey(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	setUpCoffer(t, s)
	if _, err := s.Client.Logical().Write("transit/keys/signer", map[string]any{"type": "ed25519"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, key, token string
		want             string
	}{
		{"missing key", "nope", s.RootToken, "not found"},
		{"signing key", "signer", s.RootToken, "cannot encrypt"},
		{"token refused", keyName, "not-a-token", "403"},
		{"not logged in", keyName, "", "not logged in"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl, err := api.NewClient(&api.Config{Address: s.Addr, MaxRetries: 0})
			if err != nil {
				t.Fatal(err)
			}
			cl.SetToken(tt.token)
			if tt.token == "" {
				cl.ClearToken()
			}
			refused := make(chan struct{}, 1)
			p, err := kms.New(kms.Options{Client: cl, Key: tt.key, Refused: func() {
				select {
				case refused <- struct{}{}:
				default:
				}
			}})
			if err != nil {
				t.Fatal(err)
			}
			st, err := p.Status(t.Context())
			if err != nil {
				t.Fatalf("Status: %v", err)
			}
			if st.Healthz == "ok" || !strings.Contains(st.Healthz, tt.want) || st.KeyID == "" {
				t.Errorf("Status = healthz %q key_id %q, want healthz holding %q and some key_id", st.Healthz, st.KeyID, tt.want)
			}
			if tt.token != "" && strings.Contains(st.Healthz, tt.token) {
				t.Errorf("healthz %q holds the token", st.Healthz)
			}
			if tt.token == "not-a-token" {
				select {
				case <-refused:
				default:
					t.Error("a 403 did not call Refused")
				}
			}
		})
	}
}

// freeAddr returns a TCP address on 127.0.0.1 that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitHealth polls Status, as the API server does, until healthz
// satisfies ok or a generous deadline passes.
func waitHealth(t testing.TB, p *plugin, what string, ok func(string) bool) *kmsapi.StatusResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	for {
		st, err := p.kms.Status(ctx, &kmsapi.StatusRequest{})
		if err == nil && ok(st.Healthz) {
			return st
		}
		select {
		case <-ctx.Done():
			t.Fatalf("Status never became %s (last: %v, %v)", what, st, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestCofferDownAndBack stops the Coffer server under a running plugin
// and starts it again on the same address and storage.
func TestCofferDownAndBack(t *testing.T) {
	t.Parallel()
	bolt := filepath.Join(t.TempDir(), "coffer.db")
	addr := freeAddr(t)
	opts := testserver.Options{
		BoltPath:    bolt,
		ExtraConfig: fmt.Sprintf("listener \"tcp\" {\n address = %q\n tls_disable = true\n}\n", addr),
	}
	s1, err := testserver.New(opts)
	if err != nil {
		t.Fatalf("start coffer: %v", err)
	}
	tok := setUpCoffer(t, s1)
	p := startPlugin(t, "http://"+addr, writeToken(t, tok), socketPath(t))
	ctx := t.Context()

	st := waitHealth(t, p, "healthy", func(h string) bool { return h == "ok" })
	pt := []byte("a data key written before the outage")
	enc, err := p.kms.Encrypt(ctx, &kmsapi.EncryptRequest{Plaintext: pt})
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}

	if err := s1.Close(); err != nil {
		t.Fatalf("stop coffer: %v", err)
	}
	down := waitHealth(t, p, "unhealthy", func(h string) bool { return h != "ok" })
	if down.KeyId != st.KeyId || down.Version != "v2" {
		t.Errorf("Status while down = key_id %q version %q, want the last key_id %q and v2", down.KeyId, down.Version, st.KeyId)
	}
	if _, err := p.kms.Encrypt(ctx, &kmsapi.EncryptRequest{Plaintext: pt}); status.Code(err) != codes.Unavailable {
		t.Errorf("Encrypt while down = %v, want Unavailable", err)
	}
	if _, err := p.kms.Decrypt(ctx, &kmsapi.DecryptRequest{Ciphertext: enc.Ciphertext, KeyId: enc.KeyId}); status.Code(err) != codes.Unavailable {
		t.Errorf("Decrypt while down = %v, want Unavailable", err)
	}

	opts.UnsealKeys = s1.UnsealKeys
	s2, err := testserver.New(opts)
	if err != nil {
		t.Fatalf("restart coffer: %v", err)
	}
	t.Cleanup(func() { s2.Close() })
	back := waitHealth(t, p, "healthy again", func(h string) bool { return h == "ok" })
	if back.KeyId != st.KeyId {
		t.Errorf("key_id after restart = %q, want %q", back.KeyId, st.KeyId)
	}
	dec, err := p.kms.Decrypt(ctx, &kmsapi.DecryptRequest{Ciphertext: enc.Ciphertext, KeyId: enc.KeyId, Annotations: enc.Annotations})
	if err != nil {
		t.Fatalf("Decrypt after restart: %v", err)
	}
	if !bytes.Equal(dec.Plaintext, pt) {
		t.Errorf("Decrypt = %q, want %q", dec.Plaintext, pt)
	}
}

// TestPluginRestart stops a plugin and starts a new one on the same
// socket: it decrypts what the first one encrypted.
func TestPluginRestart(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	tokFile := writeToken(t, setUpCoffer(t, s))
	socket := socketPath(t)
	p1 := startPlugin(t, s.Addr, tokFile, socket)
	pt := []byte("0123456789abcdef0123456789abcdef")
	enc, err := p1.kms.Encrypt(t.Context(), &kmsapi.EncryptRequest{Plaintext: pt})
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	p1.stop()

	p2 := startPlugin(t, s.Addr, tokFile, socket)
	dec, err := p2.kms.Decrypt(t.Context(), &kmsapi.DecryptRequest{Ciphertext: enc.Ciphertext, KeyId: enc.KeyId, Annotations: enc.Annotations})
	if err != nil {
		t.Fatalf("Decrypt by the new plugin: %v", err)
	}
	if !bytes.Equal(dec.Plaintext, pt) {
		t.Errorf("Decrypt = %q, want %q", dec.Plaintext, pt)
	}
}

func TestListen(t *testing.T) {
	t.Parallel()
	t.Run("stale socket", func(t *testing.T) {
		t.Parallel()
		path := socketPath(t)
		ln, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		ln.(*net.UnixListener).SetUnlinkOnClose(false)
		ln.Close() // leaves the file, as a killed process does
		ln, err = kms.Listen("unix://" + path)
		if err != nil {
			t.Fatalf("Listen over a stale socket: %v", err)
		}
		defer ln.Close()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("socket mode = %v, want 0600", fi.Mode().Perm())
		}
	})
	t.Run("live socket", func(t *testing.T) {
		t.Parallel()
		path := socketPath(t)
		ln, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		if ln2, err := kms.Listen("unix://" + path); err == nil {
			ln2.Close()
			t.Fatal("Listen took over a socket another process serves")
		}
	})
	t.Run("regular file", func(t *testing.T) {
		t.Parallel()
		path := socketPath(t)
		if err := os.WriteFile(path, []byte("keep me"), 0o600); err != nil {
			t.Fatal(err)
		}
		if ln, err := kms.Listen("unix://" + path); err == nil {
			ln.Close()
			t.Fatal("Listen replaced a regular file")
		}
		if b, err := os.ReadFile(path); err != nil || string(b) != "keep me" {
			t.Errorf("the file changed: %q, %v", b, err)
		}
	})
	for _, tt := range []struct{ endpoint, want string }{
		{"", "empty string"},
		{"tcp://127.0.0.1:1", "unsupported scheme"},
		{"unix://", "names no socket"},
		{"/no/scheme.sock", "unsupported scheme"},
		{"unix:///@", "names no socket"},
		// An abstract socket has no file mode: any host process could
		// connect and unwrap data keys.
		{"unix:///@coffer-kms", "abstract socket"},
	} {
		t.Run("endpoint "+tt.endpoint, func(t *testing.T) {
			t.Parallel()
			ln, err := kms.Listen(tt.endpoint)
			if err == nil {
				ln.Close()
				t.Fatalf("Listen(%q) succeeded", tt.endpoint)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Listen(%q) = %v, want an error saying %q", tt.endpoint, err, tt.want)
			}
		})
	}
}

func TestNewOptions(t *testing.T) {
	t.Parallel()
	cl, err := api.NewClient(&api.Config{Address: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts kms.Options
		ok   bool
	}{
		{"defaults", kms.Options{Client: cl, Key: "k"}, true},
		{"nested mount", kms.Options{Client: cl, Mount: "/team/transit/", Key: "k"}, true},
		{"no client", kms.Options{Key: "k"}, false},
		{"no key", kms.Options{Client: cl}, false},
		{"key with slash", kms.Options{Client: cl, Key: "a/b"}, false},
		{"key with query", kms.Options{Client: cl, Key: "a?b"}, false},
		{"key with space", kms.Options{Client: cl, Key: "a b"}, false},
		{"dot-dot mount", kms.Options{Client: cl, Mount: "a/../b", Key: "k"}, false},
		{"dot-dot key", kms.Options{Client: cl, Key: ".."}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := kms.New(tt.opts)
			if (err == nil) != tt.ok {
				t.Errorf("New(%+v) error = %v, want ok %v", tt.opts, err, tt.ok)
			}
		})
	}
}

// TestStatusContext checks that Status fails, rather than answering
// unhealthy, when its caller gave up.
func TestStatusContext(t *testing.T) {
	t.Parallel()
	cl, err := api.NewClient(&api.Config{Address: "http://127.0.0.1:1", MaxRetries: 0})
	if err != nil {
		t.Fatal(err)
	}
	cl.SetToken("t")
	p, err := kms.New(kms.Options{Client: cl, Key: keyName})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := p.Status(ctx); status.Code(err) != codes.Canceled {
		t.Errorf("Status(canceled) = %v, want Canceled", err)
	}
}

// hangingCoffer returns the address of a server that accepts connections
// and never answers.
func hangingCoffer(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return "http://" + ln.Addr().String()
}

// TestStatusCofferHangs checks that Status answers "not ok", with the
// last key_id, when Coffer accepts the connection and never answers,
// instead of failing with its caller's deadline.
func TestStatusCofferHangs(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	tok := setUpCoffer(t, s)
	cl, err := api.NewClient(&api.Config{Address: s.Addr, MaxRetries: 0})
	if err != nil {
		t.Fatal(err)
	}
	cl.SetToken(tok)
	p, err := kms.New(kms.Options{Client: cl, Key: keyName, StatusWait: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	st, err := p.Status(ctx)
	if err != nil || st.Healthz != kms.Healthy {
		t.Fatalf("Status = %+v, %v; want healthy", st, err)
	}
	if err := cl.SetAddress(hangingCoffer(t)); err != nil {
		t.Fatal(err)
	}
	hung, err := p.Status(ctx)
	if err != nil {
		t.Fatalf("Status while Coffer hangs = %v, want an answer", err)
	}
	if hung.Healthz == kms.Healthy || !strings.Contains(hung.Healthz, "coffer did not answer in time") {
		t.Errorf("healthz = %q, want coffer did not answer in time", hung.Healthz)
	}
	if hung.KeyID != st.KeyID || hung.Version != kms.Version {
		t.Errorf("Status while Coffer hangs = key_id %q version %q, want the last key_id %q and %s", hung.KeyID, hung.Version, st.KeyID, kms.Version)
	}
}

// TestProbeCofferHangs serves a plugin whose Coffer never answers and
// probes it as the liveness probe does, with the default wait and a
// caller's deadline shorter than it: the plugin answers unhealthy in
// time rather than let the probe fail.
func TestProbeCofferHangs(t *testing.T) {
	t.Parallel()
	cl, err := api.NewClient(&api.Config{Address: hangingCoffer(t), MaxRetries: 0})
	if err != nil {
		t.Fatal(err)
	}
	cl.SetToken("a token Coffer never sees")
	p, err := kms.New(kms.Options{Client: cl, Key: keyName})
	if err != nil {
		t.Fatal(err)
	}
	socket := socketPath(t)
	ln, err := kms.Listen("unix://" + socket)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- kms.Serve(ctx, ln, p, nil) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()

	pctx, pcancel := context.WithTimeout(ctx, 3*time.Second)
	defer pcancel()
	st, err := kms.Probe(pctx, "unix://"+socket)
	if err != nil {
		t.Fatalf("Probe while Coffer hangs = %v, want an answer", err)
	}
	if !strings.Contains(st.Healthz, "coffer did not answer in time") || st.KeyId != "unknown" {
		t.Errorf("Probe = healthz %q key_id %q, want coffer did not answer in time and unknown", st.Healthz, st.KeyId)
	}
}

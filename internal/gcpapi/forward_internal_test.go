package gcpapi

import (
	"context"
	"log/slog"
	"testing"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/grpc/metadata"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// TestIsWrite checks which RPCs a standby forwards.
func TestIsWrite(t *testing.T) {
	const svc = "/google.cloud.secretmanager.v1.SecretManagerService/"
	tests := []struct {
		method string
		want   bool
	}{
		{svc + "CreateSecret", true},
		{svc + "AddSecretVersion", true},
		{svc + "DestroySecretVersion", true},
		{svc + "AccessSecretVersion", false},
		{svc + "ListSecrets", false},
		{svc + "GetIamPolicy", false},
		{"CreateSecret", false},
	}
	for _, tt := range tests {
		if got := isWrite(tt.method); got != tt.want {
			t.Errorf("isWrite(%q) = %v, want %v", tt.method, got, tt.want)
		}
	}
}

// TestReplyFor checks that a forwarded call's reply has the RPC's type.
func TestReplyFor(t *testing.T) {
	const svc = "/google.cloud.secretmanager.v1.SecretManagerService/"
	if r, err := replyFor(svc + "AddSecretVersion"); err != nil {
		t.Fatal(err)
	} else if _, ok := r.(*secretmanagerpb.SecretVersion); !ok {
		t.Fatalf("AddSecretVersion reply is %T", r)
	}
	for _, m := range []string{svc + "Nope", "/no.Such/Method", "garbage"} {
		if _, err := replyFor(m); err == nil {
			t.Errorf("replyFor(%q) succeeded", m)
		}
	}
}

// TestPeerCall checks what a forwarded call's metadata may set.
func TestPeerCall(t *testing.T) {
	const id = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
	s := &Service{logger: slog.New(slog.DiscardHandler)}
	tests := []struct {
		name     string
		md       metadata.MD
		wantAddr string
		wantID   string
	}{
		{"both", metadata.Pairs(clientAddrMD, "10.0.0.7:5555", requestIDMD, id), "10.0.0.7:5555", id},
		{"not an address", metadata.Pairs(clientAddrMD, "evil", requestIDMD, "not-a-uuid"), "192.0.2.1:1", "local"},
		{"two addresses", metadata.Pairs(clientAddrMD, "10.0.0.7:1", clientAddrMD, "10.0.0.8:1"), "192.0.2.1:1", "local"},
		{"none", metadata.MD{}, "192.0.2.1:1", "local"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &call{reqID: "local", conn: &logical.Connection{RemoteAddr: "192.0.2.1:1"}}
			s.peerCall(c, tt.md)
			if c.conn.RemoteAddr != tt.wantAddr || c.reqID != tt.wantID {
				t.Fatalf("got %s %s, want %s %s", c.conn.RemoteAddr, c.reqID, tt.wantAddr, tt.wantID)
			}
		})
	}
	if fromPeer(context.Background()) {
		t.Fatal("a plain context is from a peer")
	}
}

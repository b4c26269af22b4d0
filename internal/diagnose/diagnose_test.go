package diagnose

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/config"
	"github.com/coffer-secrets/coffer/internal/storage"
	"github.com/coffer-secrets/coffer/internal/storage/bolt"
)

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// writeCert writes a certificate valid from notBefore to notAfter and
// its key into dir, named after name.
func writeCert(t *testing.T, dir, name string, notBefore, notAfter time.Time) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "coffer.test"}, DNSNames: []string{"coffer.test"}, NotBefore: notBefore, NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, keyFile := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	return cert, keyFile
}

func TestCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good, goodKey := writeCert(t, dir, "good", now.Add(-time.Hour), now.Add(365*24*time.Hour))
	soon, soonKey := writeCert(t, dir, "soon", now.Add(-time.Hour), now.Add(10*24*time.Hour))
	old, oldKey := writeCert(t, dir, "old", now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	_, otherKey := writeCert(t, dir, "other", now.Add(-time.Hour), now.Add(time.Hour))

	held := filepath.Join(dir, "held.db")
	b, err := bolt.Open(bolt.Options{Path: held})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })

	listener := func(cert, key string) string {
		return fmt.Sprintf("listener \"tcp\" {\n  address = \"127.0.0.1:0\"\n  tls_cert_file = %q\n  tls_key_file = %q\n}\n", cert, key)
	}
	boltAt := func(p string) string { return fmt.Sprintf("storage \"bolt\" {\n  path = %q\n}\n", p) }
	tests := []struct {
		name  string
		src   string
		worst Status
		want  []string
	}{
		{"good", boltAt(filepath.Join(dir, "new", "coffer.db")) + listener(good, goodKey), OK,
			[]string{"[ ok ] storage: bolt file", "does not exist yet", "matches its key and is valid until 2027-06-01", "[ ok ] seal: shamir"}},
		{"expires soon", boltAt(filepath.Join(dir, "c.db")) + listener(soon, soonKey), Warn, []string{"[warn]", "expires in 10 days"}},
		{"expired", boltAt(filepath.Join(dir, "c.db")) + listener(old, oldKey), Fail, []string{"[fail]", "expired on 2026-05-31"}},
		{"key mismatch", boltAt(filepath.Join(dir, "c.db")) + listener(good, otherKey), Fail, []string{"[fail]", "private key does not match public key"}},
		{"missing cert", boltAt(filepath.Join(dir, "c.db")) + listener(filepath.Join(dir, "none.crt"), goodKey), Fail, []string{"[fail]", "none.crt"}},
		{"bolt held by a server", boltAt(held) + listener(good, goodKey), Warn, []string{"[warn] storage: bolt file", "is locked"}},
		{"config error", "storage \"bolt\" {}\n", Fail, []string{"[fail] configuration:", "needs a path"}},
		{"tls off and audit", boltAt(filepath.Join(dir, "c.db")) + "listener \"tcp\" {\n  address = \"127.0.0.1:0\"\n  tls_disable = true\n}\n" +
			fmt.Sprintf("audit \"file\" \"a\" {\n  file_path = %q\n}\naudit \"file\" \"b\" {\n  file_path = \"/nonexistent/dir/audit.log\"\n}\n", filepath.Join(dir, "audit.log")),
			Fail, []string{"[warn] listener \"tcp\" 127.0.0.1:0 TLS: TLS is disabled", "[ ok ] audit \"file\" \"a\"", "[fail] audit \"file\" \"b\""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "coffer.hcl")
			if err := os.WriteFile(path, []byte(tt.src), 0o600); err != nil {
				t.Fatal(err)
			}
			open := func(context.Context, *config.Storage) (storage.Storage, error) { return nil, errors.New("unused") }
			var out strings.Builder
			worst := Print(&out, Command{Open: open, Now: func() time.Time { return now }}.Check(t.Context(), path, nil))
			if worst != tt.worst {
				t.Errorf("worst status = %v, want %v\n%s", worst, tt.worst, out.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("report lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

package tlsutil

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var testNow = time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)

// readCert parses the first certificate in the PEM file at path.
func readCert(t testing.TB, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		t.Fatalf("%s: no CERTIFICATE PEM block", path)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return c
}

// snapshot returns the contents of the local CA's files.
func snapshot(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	out := make(map[string][]byte)
	for _, name := range []string{caCertName, caKeyName, certName, keyName} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		out[name] = data
	}
	return out
}

func TestEnsureLocalCAChains(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		hosts     []string
		wantDNS   []string
		wantIPs   []string
		verifyFor []string
	}{
		{
			name:      "defaults only",
			hosts:     nil,
			wantDNS:   []string{"localhost"},
			wantIPs:   []string{"127.0.0.1", "::1"},
			verifyFor: []string{"localhost", "127.0.0.1", "::1"},
		},
		{
			name:      "names and addresses",
			hosts:     []string{"Coffer.Example.com.", "10.0.0.5", "[fe80::1%eth0]", "0.0.0.0", "::", "", "coffer.example.com", "*.svc.internal"},
			wantDNS:   []string{"*.svc.internal", "coffer.example.com", "localhost"},
			wantIPs:   []string{"10.0.0.5", "127.0.0.1", "::1", "fe80::1"},
			verifyFor: []string{"coffer.example.com", "vault.svc.internal", "10.0.0.5", "fe80::1", "localhost", "127.0.0.1", "::1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "tls")
			p, err := EnsureLocalCA(dir, tt.hosts, testNow)
			if err != nil {
				t.Fatalf("EnsureLocalCA(%q) error: %v", tt.hosts, err)
			}
			want := Paths{CACert: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "server.pem"), Key: filepath.Join(dir, "server-key.pem")}
			if p != want {
				t.Errorf("EnsureLocalCA paths = %+v, want %+v", p, want)
			}
			ca := readCert(t, p.CACert)
			leaf := readCert(t, p.Cert)

			if ca.Subject.CommonName != CAName || !ca.IsCA || !ca.BasicConstraintsValid || !ca.MaxPathLenZero {
				t.Errorf("CA = CN %q IsCA %v constraints %v pathlen0 %v, want %q, a path-length-0 CA", ca.Subject.CommonName, ca.IsCA, ca.BasicConstraintsValid, ca.MaxPathLenZero, CAName)
			}
			if err := ca.CheckSignatureFrom(ca); err != nil {
				t.Errorf("CA is not self-signed: %v", err)
			}
			for _, c := range []*x509.Certificate{ca, leaf} {
				pub, ok := c.PublicKey.(*ecdsa.PublicKey)
				if !ok || pub.Curve != elliptic.P256() {
					t.Errorf("%s key is %T, want ECDSA P-256", c.Subject.CommonName, c.PublicKey)
				}
			}
			if got := ca.NotAfter.Sub(testNow); got != CAValidity {
				t.Errorf("CA valid for %v after now, want %v", got, CAValidity)
			}
			if got := leaf.NotAfter.Sub(testNow); got != CertValidity {
				t.Errorf("server certificate valid for %v after now, want %v", got, CertValidity)
			}
			if leaf.IsCA || !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) {
				t.Errorf("server certificate IsCA %v, ExtKeyUsage %v; want a server-auth leaf", leaf.IsCA, leaf.ExtKeyUsage)
			}
			if diff := cmp.Diff(tt.wantDNS, leaf.DNSNames); diff != "" {
				t.Errorf("DNS SANs (-want +got):\n%s", diff)
			}
			var ips []string
			for _, ip := range leaf.IPAddresses {
				ips = append(ips, ip.String())
			}
			if diff := cmp.Diff(tt.wantIPs, ips); diff != "" {
				t.Errorf("IP SANs (-want +got):\n%s", diff)
			}

			roots := x509.NewCertPool()
			roots.AddCert(ca)
			for _, host := range tt.verifyFor {
				_, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: roots, CurrentTime: testNow})
				if err != nil {
					t.Errorf("server certificate does not verify for %q: %v", host, err)
				}
			}
			if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "other.example.com", Roots: roots, CurrentTime: testNow}); err == nil {
				t.Errorf("server certificate verifies for other.example.com, want an error")
			}
		})
	}
}

func TestEnsureLocalCAFileModes(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "a", "tls")
	if _, err := EnsureLocalCA(dir, nil, testNow); err != nil {
		t.Fatal(err)
	}
	want := map[string]os.FileMode{
		".":        os.ModeDir | 0o700,
		caCertName: 0o644,
		caKeyName:  0o600,
		certName:   0o644,
		keyName:    0o600,
	}
	got := make(map[string]os.FileMode)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		got[e.Name()] = info.Mode()
	}
	info, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	got["."] = info.Mode()
	// Exactly the four files: no temporary files left behind.
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("file modes (-want +got):\n%s", diff)
	}
}

func TestEnsureLocalCAReuse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	hosts := []string{"coffer.internal", "192.0.2.7"}
	if _, err := EnsureLocalCA(dir, hosts, testNow); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, dir)
	// Same hosts (in another order, and a subset) a day later: nothing changes.
	for _, h := range [][]string{{"192.0.2.7", "coffer.internal"}, {"coffer.internal"}, nil} {
		if _, err := EnsureLocalCA(dir, h, testNow.Add(24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(before, snapshot(t, dir)); diff != "" {
			t.Errorf("EnsureLocalCA(%q) again changed the files (-before +after):\n%s", h, diff)
		}
	}
}

func TestEnsureLocalCAReissue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		hosts       []string
		now         time.Time
		damage      func(t *testing.T, dir string)
		wantReissue bool
	}{
		{name: "unchanged", now: testNow.Add(time.Hour)},
		{name: "well before expiry", now: testNow.Add(CertValidity - RenewBefore - time.Hour)},
		{name: "host added", hosts: []string{"new.example.com"}, now: testNow, wantReissue: true},
		{name: "ip added", hosts: []string{"198.51.100.1"}, now: testNow, wantReissue: true},
		{name: "near expiry", now: testNow.Add(CertValidity - RenewBefore + time.Hour), wantReissue: true},
		{name: "expired", now: testNow.Add(CertValidity + time.Hour), wantReissue: true},
		{
			name: "certificate not yet valid", now: testNow.Add(time.Hour), wantReissue: true,
			damage: func(t *testing.T, dir string) {
				// Issued in the future, as by a clock that was ahead.
				if _, err := EnsureLocalCA(dir, []string{"x.example"}, testNow.Add(48*time.Hour)); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "server key missing", now: testNow, wantReissue: true,
			damage: func(t *testing.T, dir string) { removeFile(t, filepath.Join(dir, keyName)) },
		},
		{
			name: "server certificate garbled", now: testNow, wantReissue: true,
			damage: func(t *testing.T, dir string) { writeFile(t, filepath.Join(dir, certName), []byte("garbage")) },
		},
		{
			name: "server certificate from another CA", now: testNow, wantReissue: true,
			damage: func(t *testing.T, dir string) {
				other := t.TempDir()
				p, err := EnsureLocalCA(other, nil, testNow)
				if err != nil {
					t.Fatal(err)
				}
				copyFile(t, p.Cert, filepath.Join(dir, certName))
				copyFile(t, p.Key, filepath.Join(dir, keyName))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if _, err := EnsureLocalCA(dir, nil, testNow); err != nil {
				t.Fatal(err)
			}
			if tt.damage != nil {
				tt.damage(t, dir)
			}
			before := snapshot2(t, dir)
			p, err := EnsureLocalCA(dir, tt.hosts, tt.now)
			if err != nil {
				t.Fatalf("EnsureLocalCA(%q) at %v error: %v", tt.hosts, tt.now, err)
			}
			after := snapshot(t, dir)
			for _, name := range []string{caCertName, caKeyName} {
				if !bytes.Equal(before[name], after[name]) {
					t.Errorf("%s changed; the CA must never be regenerated", name)
				}
			}
			reissued := !bytes.Equal(before[certName], after[certName])
			if reissued != tt.wantReissue {
				t.Errorf("server certificate reissued = %v, want %v", reissued, tt.wantReissue)
			}
			if reissued && bytes.Equal(before[keyName], after[keyName]) {
				t.Errorf("reissued certificate kept the old key, want a fresh one")
			}
			// Whatever happened, the result is valid now for every host.
			ca, leaf := readCert(t, p.CACert), readCert(t, p.Cert)
			roots := x509.NewCertPool()
			roots.AddCert(ca)
			for _, h := range append([]string{"localhost", "127.0.0.1"}, tt.hosts...) {
				if _, err := leaf.Verify(x509.VerifyOptions{DNSName: h, Roots: roots, CurrentTime: tt.now}); err != nil {
					t.Errorf("server certificate does not verify for %q at %v: %v", h, tt.now, err)
				}
			}
		})
	}
}

// snapshot2 is snapshot tolerating missing server files.
func snapshot2(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := make(map[string][]byte)
	for _, name := range []string{caCertName, caKeyName, certName, keyName} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		out[name] = data
	}
	return out
}

func TestEnsureLocalCAErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		hosts   []string
		now     time.Time
		damage  func(t *testing.T, dir string)
		wantErr string
	}{
		{
			name: "CA key missing", now: testNow,
			damage:  func(t *testing.T, dir string) { removeFile(t, filepath.Join(dir, caKeyName)) },
			wantErr: "the CA certificate exists but its key does not load",
		},
		{
			name: "CA key replaced", now: testNow,
			damage: func(t *testing.T, dir string) {
				other := t.TempDir()
				if _, err := EnsureLocalCA(other, nil, testNow); err != nil {
					t.Fatal(err)
				}
				copyFile(t, filepath.Join(other, caKeyName), filepath.Join(dir, caKeyName))
			},
			wantErr: "does not belong to",
		},
		{
			name: "CA certificate garbled", now: testNow,
			damage:  func(t *testing.T, dir string) { writeFile(t, filepath.Join(dir, caCertName), []byte("nope")) },
			wantErr: "no CERTIFICATE PEM block",
		},
		{name: "CA expired", now: testNow.Add(CAValidity + time.Hour), wantErr: "expired at"},
		{name: "CA not yet valid", now: testNow.Add(-time.Hour), wantErr: "check the system clock"},
		{name: "bad host", hosts: []string{"not a host"}, now: testNow, wantErr: `host "not a host" is neither an IP address nor a DNS name`},
		{name: "underscore host", hosts: []string{"a_b.example"}, now: testNow, wantErr: `host "a_b.example"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if _, err := EnsureLocalCA(dir, nil, testNow); err != nil {
				t.Fatal(err)
			}
			if tt.damage != nil {
				tt.damage(t, dir)
			}
			before := snapshot2(t, dir)
			_, err := EnsureLocalCA(dir, tt.hosts, tt.now)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("EnsureLocalCA(%q) error = %v, want one containing %q", tt.hosts, err, tt.wantErr)
			}
			if diff := cmp.Diff(before, snapshot2(t, dir)); diff != "" {
				t.Errorf("failed EnsureLocalCA changed files (-before +after):\n%s", diff)
			}
		})
	}
}

// TestEnsureLocalCAInterruptedCreation: a CA key without its certificate
// means creation stopped before anything was issued; a new CA is made.
func TestEnsureLocalCAInterruptedCreation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, caKeyName), []byte("left over"))
	p, err := EnsureLocalCA(dir, nil, testNow)
	if err != nil {
		t.Fatalf("EnsureLocalCA with a stray CA key: %v", err)
	}
	if err := readCert(t, p.Cert).CheckSignatureFrom(readCert(t, p.CACert)); err != nil {
		t.Errorf("server certificate not signed by the new CA: %v", err)
	}
}

func removeFile(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, to, data)
}

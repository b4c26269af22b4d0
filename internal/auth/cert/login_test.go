package cert

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

// testPKI is the certificates the login tests share.
type testPKI struct {
	root, inter, other *issuer
	web                *x509.Certificate // CN svc-web, OU payments, DNS and SPIFFE URI SANs, under inter
	db                 *x509.Certificate // CN svc-db, OU ops, under inter
	bare               *x509.Certificate // CN svc-bare, no SANs, no OU, under inter
	serverOnly         *x509.Certificate // server auth EKU only, under inter
	noEKU              *x509.Certificate // no EKU extension, under inter
	expired            *x509.Certificate // expired an hour ago, under inter
	future             *x509.Certificate // valid from tomorrow, under inter
	stranger           *x509.Certificate // under an unrelated root
	selfSigned         *x509.Certificate // self-signed client certificate (not a CA)
	signedByLeaf       *x509.Certificate // "issued" by selfSigned's key
	serverCA           *issuer           // intermediate under root limited to server auth
	underServerCA      *x509.Certificate // client certificate under serverCA
	clientCA           *x509.Certificate // a CA under root that also has the client auth EKU
}

func newTestPKI(t testing.TB, now time.Time) *testPKI {
	t.Helper()
	p := newPKI(t, now)
	tp := &testPKI{root: p.ca("Coffer Test Root", nil)}
	tp.inter = p.ca("Coffer Test Intermediate", tp.root)
	tp.other = p.ca("Unrelated Root", nil)
	tp.web, _ = p.client(certSpec{
		cn: "svc-web", ous: []string{"payments"}, dns: []string{"web.svc.example.com"},
		emails: []string{"web@example.com"}, uris: []string{"spiffe://cluster/ns/prod/sa/web"},
	}, tp.inter)
	tp.db, _ = p.client(certSpec{cn: "svc-db", ous: []string{"ops"}, dns: []string{"db.internal"}, uris: []string{"spiffe://other/ns/prod/sa/db"}}, tp.inter)
	tp.bare, _ = p.client(certSpec{cn: "svc-bare"}, tp.inter)
	tp.serverOnly, _ = p.client(certSpec{cn: "svc-web", eku: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, tp.inter)
	tp.noEKU, _ = p.client(certSpec{cn: "svc-web", eku: []x509.ExtKeyUsage{}}, tp.inter)
	tp.expired, _ = p.client(certSpec{cn: "svc-web", notBefore: now.Add(-48 * time.Hour), notAfter: now.Add(-time.Hour)}, tp.inter)
	tp.future, _ = p.client(certSpec{cn: "svc-web", notBefore: now.Add(24 * time.Hour), notAfter: now.Add(48 * time.Hour)}, tp.inter)
	tp.stranger, _ = p.client(certSpec{cn: "svc-web"}, tp.other)
	sc, sk := p.make(certSpec{cn: "Server-only CA", ca: true, eku: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, tp.root)
	tp.serverCA = &issuer{cert: sc, key: sk}
	tp.underServerCA, _ = p.client(certSpec{cn: "svc-web"}, tp.serverCA)
	tp.clientCA, _ = p.make(certSpec{cn: "Client CA", ca: true, eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, tp.root)
	var selfKey *ecdsa.PrivateKey
	tp.selfSigned, selfKey = p.client(certSpec{cn: "pinned-client"}, nil)
	// A certificate whose issuer is the pinned, non-CA certificate: a
	// pinned entry must not act as a CA for it.
	tp.signedByLeaf, _ = p.client(certSpec{cn: "child-of-leaf"}, &issuer{cert: tp.selfSigned, key: selfKey})
	return tp
}

func TestLogin(t *testing.T) {
	t.Parallel()
	tp := newTestPKI(t, testNow)
	type entry struct {
		name string
		body map[string]any
	}
	caEntry := func(name string, c *x509.Certificate, extra map[string]any) entry {
		body := map[string]any{"certificate": pemOf(c)}
		for k, v := range extra {
			body[k] = v
		}
		return entry{name: name, body: body}
	}
	tests := []struct {
		name     string
		entries  []entry
		crls     map[string]string
		login    string // entry name to ask for
		chain    []*x509.Certificate
		wantCert string // cert_name of the accepting entry; "" for refused
		wantErr  error
		cause    string // part of the internal cause of a refusal
	}{
		{name: "root CA accepts leaf through presented intermediate", entries: []entry{caEntry("root", tp.root.cert, nil)}, chain: []*x509.Certificate{tp.web, tp.inter.cert}, wantCert: "root"},
		{name: "intermediate as trust anchor", entries: []entry{caEntry("inter", tp.inter.cert, nil)}, chain: []*x509.Certificate{tp.web}, wantCert: "inter"},
		{name: "trusted CA presented as the client certificate itself", entries: []entry{caEntry("ca", tp.clientCA, nil)}, chain: []*x509.Certificate{tp.clientCA}, wantCert: "ca"},
		{name: "entries that cannot anchor the chain are skipped", entries: []entry{caEntry("a", tp.other.cert, nil), caEntry("b", tp.selfSigned, nil), caEntry("c", tp.root.cert, nil)}, chain: []*x509.Certificate{tp.web, tp.inter.cert}, wantCert: "c"},
		{name: "missing intermediate", entries: []entry{caEntry("root", tp.root.cert, nil)}, chain: []*x509.Certificate{tp.web}, wantErr: logical.ErrInvalidCredentials, cause: "unknown authority"},
		{name: "untrusted CA", entries: []entry{caEntry("root", tp.root.cert, nil)}, chain: []*x509.Certificate{tp.stranger, tp.other.cert}, wantErr: logical.ErrInvalidCredentials, cause: "unknown authority"},
		{name: "client presents a trusted CA as intermediate of a stranger", entries: []entry{caEntry("root", tp.root.cert, nil)}, chain: []*x509.Certificate{tp.stranger, tp.inter.cert}, wantErr: logical.ErrInvalidCredentials, cause: "unknown authority"},
		{name: "server auth only", entries: []entry{caEntry("root", tp.root.cert, nil)}, chain: []*x509.Certificate{tp.serverOnly, tp.inter.cert}, wantErr: logical.ErrInvalidCredentials, cause: "no client authentication extended key usage"},
		{name: "no extended key usage", entries: []entry{caEntry("root", tp.root.cert, nil)}, chain: []*x509.Certificate{tp.noEKU, tp.inter.cert}, wantErr: logical.ErrInvalidCredentials, cause: "no client authentication extended key usage"},
		{name: "intermediate restricted to server auth", entries: []entry{caEntry("root", tp.root.cert, nil)}, chain: []*x509.Certificate{tp.underServerCA, tp.serverCA.cert}, wantErr: logical.ErrInvalidCredentials, cause: "incompatible key usage"},
		{name: "expired", entries: []entry{caEntry("root", tp.root.cert, nil)}, chain: []*x509.Certificate{tp.expired, tp.inter.cert}, wantErr: logical.ErrInvalidCredentials, cause: "expired"},
		{name: "not yet valid", entries: []entry{caEntry("root", tp.root.cert, nil)}, chain: []*x509.Certificate{tp.future, tp.inter.cert}, wantErr: logical.ErrInvalidCredentials, cause: "not yet valid"},

		{name: "common name glob accepts", entries: []entry{caEntry("e", tp.root.cert, map[string]any{"allowed_common_names": "svc-w*, other"})}, chain: []*x509.Certificate{tp.web, tp.inter.cert}, wantCert: "e"},
		{name: "common name glob refuses", entries: []entry{caEntry("e", tp.root.cert, map[string]any{"allowed_common_names": []string{"svc-d*"}})}, chain: []*x509.Certificate{tp.web, tp.inter.cert}, wantErr: logical.ErrInvalidCredentials, cause: "allowed_common_names"},
		{name: "dns glob accepts, case-insensitively", entries: []entry{caEntry("e", tp.root.cert, map[string]any{"allowed_dns_sans": "*.SVC.example.com"})}, chain: []*x509.Certificate{tp.web, tp.inter.cert}, wantCert: "e"},
		{name: "dns glob refuses", entries: []entry{caEntry("e", tp.root.cert, map[string]any{"allowed_dns_sans": "*.svc.example.com"})}, chain: []*x509.Certificate{tp.db, tp.inter.cert}, wantErr: logical.ErrInvalidCredentials, cause: "allowed_dns_sans"},
		{name: "dns constraint refuses a certificate without DNS SANs", entries: []entry{caEntry("e", tp.root.cert, map[string]any{"allowed_dns_sans": "*"})}, chain: []*x509.Certificate{tp.bare, tp.inter.cert}, wantErr: logical.ErrInvalidCredentials, cause: "allowed_dns_sans"},
		{name: "spiffe uri glob accepts", entries: []entry{caEntry("e", tp.root.cert, map[string]any{"allowed_uri_sans": "spiffe://cluster/ns/*/sa/*"})}, chain: []*x509.Certificate{tp.web, tp.inter.cert}, wantCert: "e"},
		{name: "spiffe uri glob refuses another trust domain", entries: []entry{caEntry("e", tp.root.cert, map[string]any{"allowed_uri_sans": "spiffe://cluster/ns/*/sa/*"})}, chain: []*x509.Certificate{tp.db, tp.inter.cert}, wantErr: logical.ErrInvalidCredentials, cause: "allowed_uri_sans"},
		{name: "spiffe uri glob refuses no URI", entries: []entry{caEntry("e", tp.root.cert, map[string]any{"allowed_uri_sans": "spiffe://cluster/ns/*/sa/*"})}, chain: []*x509.Certificate{tp.bare, tp.inter.cert}, wantErr: logical.ErrInvalidCredentials, cause: "allowed_uri_sans"},
		{name: "exact uri accepts", entries: []entry{caEntry("e", tp.root.cert, map[string]any{"allowed_uri_sans": "spiffe://cluster/ns/prod/sa/web"})}, chain: []*x509.Certificate{tp.web, tp.inter.cert}, wantCert: "e"},
		{name: "OU accepts", entries: []entry{caEntry("e", tp.root.cert, map[string]any{"allowed_organizational_units": "payments"})}, chain: []*x509.Certificate{tp.web, tp.inter.cert}, wantCert: "e"},
		{name: "OU refuses", entries: []entry{caEntry("e", tp.root.cert, map[string]any{"allowed_organizational_units": "payments"})}, chain: []*x509.Certificate{tp.db, tp.inter.cert}, wantErr: logical.ErrInvalidCredentials, cause: "allowed_organizational_units"},
		{name: "email accepts", entries: []entry{caEntry("e", tp.root.cert, map[string]any{"allowed_email_sans": "*@example.com"})}, chain: []*x509.Certificate{tp.web, tp.inter.cert}, wantCert: "e"},
		{name: "email refuses", entries: []entry{caEntry("e", tp.root.cert, map[string]any{"allowed_email_sans": "*@example.com"})}, chain: []*x509.Certificate{tp.db, tp.inter.cert}, wantErr: logical.ErrInvalidCredentials, cause: "allowed_email_sans"},
		{name: "allowed_names matches a DNS SAN", entries: []entry{caEntry("e", tp.root.cert, map[string]any{"allowed_names": "db.*"})}, chain: []*x509.Certificate{tp.db, tp.inter.cert}, wantCert: "e"},
		{name: "allowed_names refuses", entries: []entry{caEntry("e", tp.root.cert, map[string]any{"allowed_names": "nothing-*"})}, chain: []*x509.Certificate{tp.db, tp.inter.cert}, wantErr: logical.ErrInvalidCredentials, cause: "allowed_names"},
		{name: "all constraints together", entries: []entry{caEntry("e", tp.root.cert, map[string]any{
			"allowed_common_names": "svc-web", "allowed_dns_sans": "web.*", "allowed_uri_sans": "spiffe://cluster/*",
			"allowed_organizational_units": "payments", "allowed_email_sans": "web@*",
		})}, chain: []*x509.Certificate{tp.web, tp.inter.cert}, wantCert: "e"},
		{name: "bound CIDRs refuse the client address", entries: []entry{caEntry("e", tp.root.cert, map[string]any{"token_bound_cidrs": "10.0.0.0/8"})}, chain: []*x509.Certificate{tp.web, tp.inter.cert}, wantErr: logical.ErrInvalidCredentials, cause: "token_bound_cidrs"},
		{name: "bound CIDRs accept the client address", entries: []entry{caEntry("e", tp.root.cert, map[string]any{"token_bound_cidrs": "192.0.2.0/24"})}, chain: []*x509.Certificate{tp.web, tp.inter.cert}, wantCert: "e"},

		{name: "revoked leaf", entries: []entry{caEntry("root", tp.root.cert, nil)}, crls: map[string]string{"c": crlFor(t, tp.inter, tp.web.SerialNumber)}, chain: []*x509.Certificate{tp.web, tp.inter.cert}, wantErr: logical.ErrInvalidCredentials, cause: "revoked"},
		{name: "revoked intermediate", entries: []entry{caEntry("root", tp.root.cert, nil)}, crls: map[string]string{"c": crlFor(t, tp.root, tp.inter.cert.SerialNumber)}, chain: []*x509.Certificate{tp.web, tp.inter.cert}, wantErr: logical.ErrInvalidCredentials, cause: "revoked"},
		{name: "CRL listing other serials", entries: []entry{caEntry("root", tp.root.cert, nil)}, crls: map[string]string{"c": crlFor(t, tp.inter, tp.db.SerialNumber, big.NewInt(7))}, chain: []*x509.Certificate{tp.web, tp.inter.cert}, wantCert: "root"},
		{name: "empty CRL", entries: []entry{caEntry("root", tp.root.cert, nil)}, crls: map[string]string{"c": crlFor(t, tp.inter)}, chain: []*x509.Certificate{tp.web, tp.inter.cert}, wantCert: "root"},

		{name: "pinned leaf accepts itself", entries: []entry{caEntry("pin", tp.selfSigned, nil)}, chain: []*x509.Certificate{tp.selfSigned}, wantCert: "pin"},
		{name: "pinned CA-issued leaf accepts itself alone", entries: []entry{caEntry("pin", tp.web, nil)}, chain: []*x509.Certificate{tp.web}, wantCert: "pin"},
		{name: "pinned leaf refuses a sibling", entries: []entry{caEntry("pin", tp.web, nil)}, chain: []*x509.Certificate{tp.db, tp.inter.cert}, wantErr: logical.ErrInvalidCredentials, cause: "not one of its pinned"},
		{name: "pinned leaf is no CA", entries: []entry{caEntry("pin", tp.selfSigned, nil)}, chain: []*x509.Certificate{tp.signedByLeaf, tp.selfSigned}, wantErr: logical.ErrInvalidCredentials, cause: "not one of its pinned"},
		{name: "pinned expired leaf refused", entries: []entry{caEntry("pin", tp.expired, nil)}, chain: []*x509.Certificate{tp.expired}, wantErr: logical.ErrInvalidCredentials, cause: "expired"},
		{name: "pinned server-only leaf refused", entries: []entry{caEntry("pin", tp.serverOnly, nil)}, chain: []*x509.Certificate{tp.serverOnly}, wantErr: logical.ErrInvalidCredentials, cause: "no client authentication extended key usage"},
		{name: "pinned leaf revoked", entries: []entry{caEntry("pin", tp.web, nil)}, crls: map[string]string{"c": crlFor(t, tp.inter, tp.web.SerialNumber)}, chain: []*x509.Certificate{tp.web}, wantErr: logical.ErrInvalidCredentials, cause: "revoked"},

		{
			name:    "first matching entry in name order",
			entries: []entry{caEntry("c-root", tp.root.cert, nil), caEntry("a-strict", tp.root.cert, map[string]any{"allowed_common_names": "nobody"}), caEntry("b-inter", tp.inter.cert, nil)},
			chain:   []*x509.Certificate{tp.web, tp.inter.cert}, wantCert: "b-inter",
		},
		{
			name:    "named entry",
			entries: []entry{caEntry("a", tp.root.cert, nil), caEntry("b", tp.root.cert, nil)},
			login:   "B", chain: []*x509.Certificate{tp.web, tp.inter.cert}, wantCert: "b",
		},
		{
			name:    "named entry that does not accept",
			entries: []entry{caEntry("a", tp.root.cert, nil), caEntry("b", tp.other.cert, nil)},
			login:   "b", chain: []*x509.Certificate{tp.web, tp.inter.cert}, wantErr: logical.ErrInvalidCredentials, cause: "unknown authority",
		},
		{
			name:    "unknown named entry",
			entries: []entry{caEntry("a", tp.root.cert, nil)},
			login:   "nope", chain: []*x509.Certificate{tp.web, tp.inter.cert}, wantErr: logical.ErrInvalidCredentials, cause: "no certificate entry",
		},
		{name: "no entries", chain: []*x509.Certificate{tp.web, tp.inter.cert}, wantErr: logical.ErrInvalidCredentials, cause: "no certificate entry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			for _, e := range tt.entries {
				h.Must(opCreate, "certs/"+e.name, e.body)
			}
			for name, crl := range tt.crls {
				h.Must(opUpdate, "crls/"+name, map[string]string{"crl": crl})
			}
			resp, err := h.login(tt.login, tt.chain...)
			if tt.wantErr != nil {
				logicaltest.WantKind(t, "login", err, tt.wantErr)
				var le *logical.Error
				if !errors.As(err, &le) || !strings.Contains(fmt.Sprint(le.Err), tt.cause) {
					t.Errorf("login refused for %v, want a cause containing %q", le.Err, tt.cause)
				}
				// Vault's words: a chain an entry trusts but whose
				// constraints fail, or a certificate no entry trusts.
				want := msgUntrusted
				if strings.HasPrefix(tt.cause, "allowed_") || tt.cause == "revoked" || tt.cause == "token_bound_cidrs" {
					want = msgUnmet
				}
				if err.Error() != want {
					t.Errorf("login error message = %q, want %q", err.Error(), want)
				}
				return
			}
			if err != nil {
				t.Fatalf("login: %v", err)
			}
			if got := resp.Auth.Metadata["cert_name"]; got != tt.wantCert {
				t.Errorf("login accepted by %q, want %q", got, tt.wantCert)
			}
		})
	}
}

func crlFor(t testing.TB, iss *issuer, revoked ...*big.Int) string {
	t.Helper()
	return newPKI(t, testNow).crl(iss, revoked...)
}

func TestLoginAuth(t *testing.T) {
	t.Parallel()
	tp := newTestPKI(t, testNow)
	h := newHarness(t)
	h.Must(opCreate, "certs/web", map[string]any{
		"certificate": pemOf(tp.root.cert), "display_name": "web services", "token_policies": "web,Payments",
		"token_ttl": "10m", "token_max_ttl": "1h", "token_num_uses": 3,
	})
	h.Must(opCreate, "certs/noname", map[string]any{"certificate": pemOf(tp.root.cert), "token_type": "batch"})

	want := &logical.Auth{
		DisplayName: "web services",
		Policies:    []string{"web", "payments"},
		Metadata: map[string]string{
			"cert_name": "web", "common_name": "svc-web", "serial_number": tp.web.SerialNumber.String(),
			"subject_key_id": hexColons(tp.web.SubjectKeyId), "authority_key_id": hexColons(tp.inter.cert.SubjectKeyId),
		},
		TTL: 10 * time.Minute, MaxTTL: time.Hour, NumUses: 3, Renewable: true,
		Alias: &logical.Alias{Name: "svc-web"},
	}
	resp, err := h.login("web", tp.web, tp.inter.cert)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, resp.Auth); diff != "" {
		t.Errorf("auth mismatch (-want +got):\n%s", diff)
	}
	if len(want.Metadata["subject_key_id"]) != 3*20-1 || len(want.Metadata["authority_key_id"]) != 3*20-1 {
		t.Errorf("key IDs %q, %q: want 20 colon-separated hex bytes", want.Metadata["subject_key_id"], want.Metadata["authority_key_id"])
	}

	// With identity alias metadata on, the alias carries the metadata too.
	h.Must(opUpdate, "config", `{"enable_identity_alias_metadata":true}`)
	resp, err = h.login("web", tp.web, tp.inter.cert)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want.Metadata, resp.Auth.Alias.Metadata); diff != "" {
		t.Errorf("alias metadata mismatch (-want +got):\n%s", diff)
	}

	// Display name defaults to the entry name; batch tokens are not renewable.
	resp, err = h.login("noname", tp.web, tp.inter.cert)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Auth.DisplayName != "noname" || resp.Auth.TokenType != "batch" || resp.Auth.Renewable {
		t.Errorf("auth = %+v, want display name \"noname\", a batch token, not renewable", resp.Auth)
	}
}

func TestLoginAliasWithoutCommonName(t *testing.T) {
	t.Parallel()
	p := newPKI(t, testNow)
	root := p.ca("root", nil)
	leaf, _ := p.client(certSpec{uris: []string{"spiffe://cluster/ns/a/sa/b"}}, root)
	h := newHarness(t)
	h.Must(opCreate, "certs/root", map[string]any{"certificate": pemOf(root.cert)})
	resp, err := h.login("", leaf)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := resp.Auth.Alias.Name, leaf.SerialNumber.String(); got != want {
		t.Errorf("alias = %q, want the serial %q", got, want)
	}
}

func TestLoginClock(t *testing.T) {
	t.Parallel()
	tp := newTestPKI(t, testNow)
	h := newHarness(t)
	h.Must(opCreate, "certs/root", map[string]any{"certificate": pemOf(tp.root.cert)})
	if _, err := h.login("", tp.web, tp.inter.cert); err != nil {
		t.Fatalf("login before expiry: %v", err)
	}
	h.Clock.Advance(48 * time.Hour) // the leaf is valid for a day
	_, err := h.login("", tp.web, tp.inter.cert)
	logicaltest.WantKind(t, "login after expiry", err, logical.ErrInvalidCredentials)
}

func TestLoginNoCertificate(t *testing.T) {
	t.Parallel()
	tp := newTestPKI(t, testNow)
	h := newHarness(t)
	h.Must(opCreate, "certs/root", map[string]any{"certificate": pemOf(tp.root.cert)})
	tests := []struct {
		name string
		conn *logical.Connection
	}{
		{"no connection", nil},
		{"plain HTTP", &logical.Connection{RemoteAddr: "192.0.2.1:1"}},
		{"TLS without client certificate", &logical.Connection{RemoteAddr: "192.0.2.1:1", TLS: &tls.ConnectionState{}}},
		{"nil certificate", &logical.Connection{RemoteAddr: "192.0.2.1:1", TLS: &tls.ConnectionState{PeerCertificates: []*x509.Certificate{nil}}}},
	}
	for _, tt := range tests {
		req := &logical.Request{Operation: opUpdate, Path: "login", Connection: tt.conn}
		_, err := h.Backend.HandleRequest(t.Context(), req)
		logicaltest.WantKind(t, tt.name, err, logical.ErrInvalidRequest)
		if got := err.Error(); got != "client certificate must be supplied" {
			t.Errorf("%s: message = %q", tt.name, got)
		}
	}
	// A malformed body or name is a client error too.
	for _, body := range []string{`{"name":1}`, `{"name":"a/b"}`} {
		req := loginRequest("", tp.web, tp.inter.cert)
		req.Body = json.RawMessage(body)
		_, err := h.Backend.HandleRequest(t.Context(), req)
		logicaltest.WantKind(t, body, err, logical.ErrInvalidRequest)
	}
}

// TestLoginSeesStorageChanges checks that the parsed-entry cache never
// serves a stale entry or CRL.
func TestLoginSeesStorageChanges(t *testing.T) {
	t.Parallel()
	tp := newTestPKI(t, testNow)
	h := newHarness(t)
	login := func() error {
		_, err := h.login("", tp.web, tp.inter.cert)
		return err
	}
	h.Must(opCreate, "certs/e", map[string]any{"certificate": pemOf(tp.root.cert)})
	if err := login(); err != nil {
		t.Fatal(err)
	}
	h.Must(opUpdate, "certs/e", map[string]any{"allowed_common_names": "someone-else"})
	logicaltest.WantKind(t, "after constraint", login(), logical.ErrInvalidCredentials)
	h.Must(opUpdate, "certs/e", map[string]any{"allowed_common_names": ""})
	if err := login(); err != nil {
		t.Fatalf("after clearing constraint: %v", err)
	}
	h.Must(opUpdate, "crls/c", map[string]any{"crl": crlFor(t, tp.inter, tp.web.SerialNumber)})
	logicaltest.WantKind(t, "after CRL", login(), logical.ErrInvalidCredentials)
	h.Must(opDelete, "crls/c", nil)
	if err := login(); err != nil {
		t.Fatalf("after deleting CRL: %v", err)
	}
	h.Must(opUpdate, "certs/e", map[string]any{"certificate": pemOf(tp.other.cert)})
	logicaltest.WantKind(t, "after replacing the CA", login(), logical.ErrInvalidCredentials)
	h.Must(opDelete, "certs/e", nil)
	logicaltest.WantKind(t, "after delete", login(), logical.ErrInvalidCredentials)
}

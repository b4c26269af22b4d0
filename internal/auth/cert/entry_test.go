package cert

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"strconv"
	"strings"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	tp := newTestPKI(t, testNow)
	body := func(v any) json.RawMessage {
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	login := loginRequest("web", tp.web, tp.inter.cert)
	login.Body = json.RawMessage(`{"name":"web"}`)
	logicaltest.Run(t, Factory, logicaltest.Options{
		Writes: []*logical.Request{
			{Operation: opCreate, Path: "certs/web", Body: body(map[string]any{"certificate": pemOf(tp.root.cert), "token_policies": "a,b", "allowed_common_names": "svc-*"})},
			{Operation: opUpdate, Path: "crls/old", Body: body(map[string]any{"crl": crlFor(t, tp.inter, big.NewInt(5))})},
			{Operation: opUpdate, Path: "config", Body: json.RawMessage(`{"enable_identity_alias_metadata":true}`)},
			login,
		},
		Reads: []*logical.Request{
			{Operation: opRead, Path: "certs/web"},
			{Operation: opList, Path: "certs/"},
			{Operation: opRead, Path: "crls/old"},
			{Operation: opList, Path: "crls"},
			{Operation: opRead, Path: "config"},
		},
	})
}

func TestCertEntries(t *testing.T) {
	t.Parallel()
	tp := newTestPKI(t, testNow)
	rootPEM, otherPEM := pemOf(tp.root.cert), pemOf(tp.other.cert)
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{1, 2, 3}}))
	junkPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not DER")}))
	h := newHarness(t)
	zeroToken := `"token_policies":[],"token_ttl":0,"token_max_ttl":0,"token_explicit_max_ttl":0,"token_period":0,` +
		`"token_num_uses":0,"token_type":"default","token_bound_cidrs":[],"token_no_default_policy":false`
	steps := []struct {
		name     string
		op       logical.Operation
		path     string
		body     any
		wantErr  error
		wantMsg  string // the exact client message of an error, when set
		wantData string // JSON; "" for no data
	}{
		{name: "new entry needs a certificate", op: opCreate, path: "certs/web", body: `{"display_name":"x"}`, wantErr: logical.ErrInvalidRequest,
			wantMsg: `missing "certificate": a new entry needs a PEM-encoded certificate`},
		{name: "not PEM", op: opCreate, path: "certs/web", body: map[string]any{"certificate": "hello"}, wantErr: logical.ErrInvalidRequest,
			wantMsg: `invalid value for "certificate": no PEM-encoded certificate found`},
		{name: "private key instead of a certificate", op: opCreate, path: "certs/web", body: map[string]any{"certificate": rootPEM + keyPEM}, wantErr: logical.ErrInvalidRequest,
			wantMsg: `invalid value for "certificate": PEM block 2 is a "EC PRIVATE KEY" block, want CERTIFICATE`},
		{name: "certificate block that does not parse", op: opCreate, path: "certs/web", body: map[string]any{"certificate": junkPEM}, wantErr: logical.ErrInvalidRequest,
			wantMsg: `invalid value for "certificate": PEM block 1 is not a valid X.509 certificate`},
		{name: "trailing data", op: opCreate, path: "certs/web", body: map[string]any{"certificate": rootPEM + "garbage"}, wantErr: logical.ErrInvalidRequest,
			wantMsg: `invalid value for "certificate": unexpected data after the last PEM block`},
		{name: "too large", op: opCreate, path: "certs/web", body: map[string]any{"certificate": strings.Repeat(" ", maxPEMBytes+1)}, wantErr: logical.ErrInvalidRequest},
		{name: "certificate of the wrong type", op: opCreate, path: "certs/web", body: `{"certificate":5}`, wantErr: logical.ErrInvalidRequest,
			wantMsg: `invalid value for "certificate": want a string`},
		{name: "OCSP refused", op: opCreate, path: "certs/web", body: map[string]any{"certificate": rootPEM, "ocsp_enabled": true}, wantErr: logical.ErrInvalidRequest,
			wantMsg: `parameter "ocsp_enabled" is not supported by this server`},
		{name: "required extensions", op: opCreate, path: "certs/web", body: map[string]any{"certificate": rootPEM, "required_extensions": "1.2.3:*"}, wantErr: logical.ErrInvalidRequest},
		{name: "bad token type", op: opCreate, path: "certs/web", body: map[string]any{"certificate": rootPEM, "token_type": "nope"}, wantErr: logical.ErrInvalidRequest},
		{name: "root policy", op: opCreate, path: "certs/web", body: map[string]any{"certificate": rootPEM, "token_policies": "root"}, wantErr: logical.ErrInvalidRequest},
		{name: "too many patterns", op: opCreate, path: "certs/web", body: map[string]any{"certificate": rootPEM, "allowed_dns_sans": manyPatterns(maxPatterns + 1)}, wantErr: logical.ErrInvalidRequest},
		{name: "bad name", op: opCreate, path: "certs/-web", body: map[string]any{"certificate": rootPEM}, wantErr: logical.ErrInvalidRequest},
		{name: "read missing", op: opRead, path: "certs/web"},
		{name: "list empty", op: opList, path: "certs"},
		{name: "create", op: opCreate, path: "certs/Web", body: map[string]any{
			"certificate": rootPEM, "allowed_common_names": "svc-*, svc-*", "allowed_uri_sans": []string{"spiffe://c/ns/*/sa/*"},
			"allowed_organizational_units": "payments", "required_extensions": "", "token_policies": "Dev", "token_ttl": "1m",
		}},
		{name: "read lowercased", op: opRead, path: "certs/WEB", wantData: `{"certificate":` + jsonString(rootPEM) + `,"display_name":"web",` +
			`"allowed_names":[],"allowed_common_names":["svc-*"],"allowed_dns_sans":[],"allowed_email_sans":[],` +
			`"allowed_uri_sans":["spiffe://c/ns/*/sa/*"],"allowed_organizational_units":["payments"],"required_extensions":[],` +
			`"token_policies":["dev"],"token_ttl":60,"token_max_ttl":0,"token_explicit_max_ttl":0,"token_period":0,` +
			`"token_num_uses":0,"token_type":"default","token_bound_cidrs":[],"token_no_default_policy":false}`},
		{name: "update changes only what it names", op: opUpdate, path: "certs/web", body: map[string]any{
			"display_name": "Web tier", "allowed_organizational_units": "", "allowed_email_sans": "*@example.com", "token_policies": "",
		}},
		{name: "update with a bad certificate", op: opUpdate, path: "certs/web", body: map[string]any{"certificate": keyPEM}, wantErr: logical.ErrInvalidRequest},
		{name: "read after update", op: opRead, path: "certs/web", wantData: `{"certificate":` + jsonString(rootPEM) + `,"display_name":"Web tier",` +
			`"allowed_names":[],"allowed_common_names":["svc-*"],"allowed_dns_sans":[],"allowed_email_sans":["*@example.com"],` +
			`"allowed_uri_sans":["spiffe://c/ns/*/sa/*"],"allowed_organizational_units":[],"required_extensions":[],` +
			`"token_policies":[],"token_ttl":60,"token_max_ttl":0,"token_explicit_max_ttl":0,"token_period":0,` +
			`"token_num_uses":0,"token_type":"default","token_bound_cidrs":[],"token_no_default_policy":false}`},
		{name: "bundle of two CAs", op: opCreate, path: "certs/both", body: map[string]any{"certificate": rootPEM + "\n" + otherPEM}},
		{name: "read bundle", op: opRead, path: "certs/both", wantData: `{"certificate":` + jsonString(rootPEM+"\n"+otherPEM) + `,"display_name":"both",` +
			`"allowed_names":[],"allowed_common_names":[],"allowed_dns_sans":[],"allowed_email_sans":[],` +
			`"allowed_uri_sans":[],"allowed_organizational_units":[],"required_extensions":[],` + zeroToken + `}`},
		{name: "deprecated names", op: opCreate, path: "certs/old", body: map[string]any{
			"certificate": rootPEM, "policies": "web,prod", "ttl": 3600, "max_ttl": "2h", "period": "30m", "bound_cidrs": "10.0.0.0/8",
		}},
		{name: "token names win over deprecated ones", op: opUpdate, path: "certs/old", body: map[string]any{"ttl": 60, "token_ttl": 120}},
		{name: "read deprecated", op: opRead, path: "certs/old", wantData: `{"certificate":` + jsonString(rootPEM) + `,"display_name":"old",` +
			`"allowed_names":[],"allowed_common_names":[],"allowed_dns_sans":[],"allowed_email_sans":[],` +
			`"allowed_uri_sans":[],"allowed_organizational_units":[],"required_extensions":[],` +
			`"token_policies":["web","prod"],"token_ttl":120,"token_max_ttl":7200,"token_explicit_max_ttl":0,"token_period":1800,` +
			`"token_num_uses":0,"token_type":"default","token_bound_cidrs":["10.0.0.0/8"],"token_no_default_policy":false}`},
		{name: "delete deprecated", op: opDelete, path: "certs/old"},
		{name: "list", op: opList, path: "certs/", wantData: `{"keys":["both","web"]}`},
		{name: "delete", op: opDelete, path: "certs/WEB"},
		{name: "read deleted", op: opRead, path: "certs/web"},
		{name: "delete missing is fine", op: opDelete, path: "certs/web"},
		{name: "list after delete", op: opList, path: "certs", wantData: `{"keys":["both"]}`},
		{name: "unsupported op", op: logical.PatchOperation, path: "certs/both", wantErr: logical.ErrUnsupportedOperation},
	}
	for _, s := range steps {
		before := h.Storage.Snapshot()
		resp, err := h.Do(s.op, s.path, s.body)
		if s.wantErr != nil {
			logicaltest.WantKind(t, s.name, err, s.wantErr)
			if s.wantMsg != "" && err.Error() != s.wantMsg {
				t.Errorf("%s: message = %q, want %q", s.name, err.Error(), s.wantMsg)
			}
			h.Unchanged(s.name, before)
			continue
		}
		logicaltest.WantData(t, s.name, s.wantData, resp, err)
	}
}

func TestExistenceCheck(t *testing.T) {
	t.Parallel()
	tp := newTestPKI(t, testNow)
	h := newHarness(t)
	h.Must(opCreate, "certs/web", map[string]any{"certificate": pemOf(tp.root.cert)})
	h.Must(opCreate, "crls/c", map[string]any{"crl": crlFor(t, tp.root)})
	ec := h.Backend.(logical.ExistenceChecker)
	tests := []struct {
		path            string
		exists, handled bool
	}{
		{"certs/web", true, true}, {"certs/WEB", true, true}, {"certs/api", false, true},
		{"crls/c", true, true}, {"crls/d", false, true}, {"certs/-x", false, true}, {"login", false, false},
	}
	for _, tt := range tests {
		exists, handled, err := ec.ExistenceCheck(t.Context(), &logical.Request{Operation: opUpdate, Path: tt.path})
		if err != nil || exists != tt.exists || handled != tt.handled {
			t.Errorf("ExistenceCheck(%q) = %v, %v, %v; want %v, %v, nil", tt.path, exists, handled, err, tt.exists, tt.handled)
		}
	}
}

func TestCRLs(t *testing.T) {
	t.Parallel()
	p := newPKI(t, testNow)
	ca := p.ca("CRL CA", nil)
	crl := p.crl(ca, big.NewInt(13), big.NewInt(7), big.NewInt(13))
	certPEM := pemOf(ca.cert)
	junk := string(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: []byte("nope")}))
	h := newHarness(t)
	steps := []struct {
		name     string
		op       logical.Operation
		path     string
		body     any
		wantErr  error
		wantMsg  string
		wantData string
	}{
		{name: "missing crl", op: opUpdate, path: "crls/a", body: `{}`, wantErr: logical.ErrInvalidRequest, wantMsg: `missing "crl": a PEM-encoded CRL is required`},
		{name: "not PEM", op: opUpdate, path: "crls/a", body: map[string]any{"crl": "hello"}, wantErr: logical.ErrInvalidRequest, wantMsg: `invalid value for "crl": no PEM block found`},
		{name: "a certificate", op: opUpdate, path: "crls/a", body: map[string]any{"crl": certPEM}, wantErr: logical.ErrInvalidRequest,
			wantMsg: `invalid value for "crl": the PEM block is a "CERTIFICATE" block, want X509 CRL`},
		{name: "junk CRL", op: opUpdate, path: "crls/a", body: map[string]any{"crl": junk}, wantErr: logical.ErrInvalidRequest, wantMsg: `invalid value for "crl": not a valid X.509 CRL`},
		{name: "two CRLs", op: opUpdate, path: "crls/a", body: map[string]any{"crl": crl + crl}, wantErr: logical.ErrInvalidRequest},
		{name: "read missing", op: opRead, path: "crls/a"},
		{name: "write", op: opUpdate, path: "crls/A", body: map[string]any{"crl": crl}},
		{name: "read", op: opRead, path: "crls/a", wantData: `{"serials":{"13":{},"7":{}}}`},
		{name: "list", op: opList, path: "crls/", wantData: `{"keys":["a"]}`},
		{name: "replace", op: opUpdate, path: "crls/a", body: map[string]any{"crl": p.crl(ca)}},
		{name: "read replaced", op: opRead, path: "crls/a", wantData: `{"serials":{}}`},
		{name: "delete", op: opDelete, path: "crls/a"},
		{name: "read deleted", op: opRead, path: "crls/a"},
		{name: "unknown field ignored", op: opUpdate, path: "crls/a", body: map[string]any{"crl": crl, "url": "http://x"}},
	}
	for _, s := range steps {
		resp, err := h.Do(s.op, s.path, s.body)
		if s.wantErr != nil {
			logicaltest.WantKind(t, s.name, err, s.wantErr)
			if s.wantMsg != "" && err.Error() != s.wantMsg {
				t.Errorf("%s: message = %q, want %q", s.name, err.Error(), s.wantMsg)
			}
			continue
		}
		logicaltest.WantData(t, s.name, s.wantData, resp, err)
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	logicaltest.DiffJSON(t, "default", `{"disable_binding":false,"enable_identity_alias_metadata":false}`, h.Must(opRead, "config", nil))
	h.Must(opUpdate, "config", `{"disable_binding":"true"}`)
	logicaltest.DiffJSON(t, "after binding", `{"disable_binding":true,"enable_identity_alias_metadata":false}`, h.Must(opRead, "config", nil))
	h.Must(opUpdate, "config", `{"enable_identity_alias_metadata":true}`)
	logicaltest.DiffJSON(t, "after alias", `{"disable_binding":true,"enable_identity_alias_metadata":true}`, h.Must(opRead, "config", nil))
	// Unknown fields are ignored, as in Vault.
	h.Must(opUpdate, "config", `{"ocsp_cache_size":10}`)
	for _, body := range []string{`{"disable_binding":"maybe"}`} {
		_, err := h.Do(opUpdate, "config", body)
		logicaltest.WantKind(t, body, err, logical.ErrInvalidRequest)
	}
}

func TestParseCertificatesKinds(t *testing.T) {
	t.Parallel()
	tp := newTestPKI(t, testNow)
	// A bundle's CA certificates become roots and the others pinned.
	raw, err := json.Marshal(certEntry{Certificate: pemOf(tp.root.cert, tp.web, tp.inter.cert, tp.selfSigned)})
	if err != nil {
		t.Fatal(err)
	}
	te, err := parseTrustEntry("x", raw)
	if err != nil {
		t.Fatal(err)
	}
	var pinned []string
	for _, c := range te.pinned {
		pinned = append(pinned, c.Subject.CommonName)
	}
	if got, want := strings.Join(pinned, ","), "svc-web,pinned-client"; got != want {
		t.Errorf("pinned = %s, want %s", got, want)
	}
	if _, err := tp.inter.cert.Verify(x509.VerifyOptions{Roots: te.roots, CurrentTime: testNow}); err != nil {
		t.Errorf("roots do not hold the CAs: %v", err)
	}
}

// manyPatterns returns n distinct patterns.
func manyPatterns(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "host" + strconv.Itoa(i) + ".example.com"
	}
	return out
}

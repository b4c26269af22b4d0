package pki

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

// harness drives one PKI mount through HandleRequest.
type harness struct{ *logicaltest.Harness }

func newHarness(t testing.TB) *harness {
	t.Helper()
	return &harness{logicaltest.NewHarness(t, Factory, logical.Env{})}
}

// decode turns response data into T through JSON, as a client sees it.
func decode[T any](t testing.TB, resp *logical.Response) T {
	t.Helper()
	var v T
	if resp == nil || resp.Data == nil {
		t.Fatalf("response has no data")
	}
	b, err := json.Marshal(resp.Data)
	if err != nil {
		t.Fatalf("marshal response data: %v", err)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("unmarshal response data %s: %v", b, err)
	}
	return v
}

// certResp is the client's view of issue, sign and sign-intermediate.
type certResp struct {
	Certificate    string   `json:"certificate"`
	IssuingCA      string   `json:"issuing_ca"`
	CAChain        []string `json:"ca_chain"`
	PrivateKey     string   `json:"private_key"`
	PrivateKeyType string   `json:"private_key_type"`
	SerialNumber   string   `json:"serial_number"`
	Expiration     int64    `json:"expiration"`
	IssuerID       string   `json:"issuer_id"`
	KeyID          string   `json:"key_id"`
	CSR            string   `json:"csr"`
}

// parseCert parses exactly one PEM certificate.
func parseCert(t testing.TB, s string) *x509.Certificate {
	t.Helper()
	block, rest := pem.Decode([]byte(s))
	if block == nil || block.Type != "CERTIFICATE" || strings.TrimSpace(string(rest)) != "" {
		t.Fatalf("not one PEM certificate: %q", s)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("parse certificate: %v", err)
	}
	return c
}

// genRoot makes an internal root with the given extra JSON fields.
func (h *harness) genRoot(fields string) (certResp, *x509.Certificate) {
	h.T.Helper()
	body := `{"common_name":"Coffer Test Root","key_type":"ec"` + fields + `}`
	r := decode[certResp](h.T, h.Must(logical.UpdateOperation, "root/generate/internal", body))
	return r, parseCert(h.T, r.Certificate)
}

func wantInvalid(t testing.TB, what string, err error, wantMsg ...string) {
	t.Helper()
	if !errors.Is(err, logical.ErrInvalidRequest) {
		t.Fatalf("%s: error = %v, want ErrInvalidRequest", what, err)
	}
	for _, m := range wantMsg {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("%s: error %q does not contain %q", what, err, m)
		}
	}
}

const (
	opRead   = logical.ReadOperation
	opList   = logical.ListOperation
	opUpdate = logical.UpdateOperation
	opPatch  = logical.PatchOperation
	opDelete = logical.DeleteOperation
)

func decodeBase64(s string) ([]byte, error) {
	return base64.StdEncoding.DecodeString(s)
}

package cert

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"slices"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// crlInput is the body of crls/:name.
type crlInput struct {
	CRL string `json:"crl"`
}

// storedCRL is what is kept of a CRL: its revoked serials, in decimal,
// sorted.
type storedCRL struct {
	Serials []string `json:"serials"`
}

// crlResponse is the data of a crls/:name read: Vault's map from each
// revoked serial (decimal) to an empty object.
type crlResponse struct {
	Serials map[string]struct{} `json:"serials"`
}

// serialSet is a set of revoked serial numbers in decimal.
type serialSet map[string]struct{}

func (b *backend) writeCRL(ctx context.Context, _ *logical.Request, m *framework.Match, in *crlInput) (*logical.Response, error) {
	name, err := entryName(m)
	if err != nil {
		return nil, err
	}
	serials, err := parseCRL(in.CRL)
	if err != nil {
		return nil, err
	}
	b.writeMu.Lock()
	defer b.writeMu.Unlock()
	return nil, b.storedCRL.Put(ctx, name, &storedCRL{Serials: serials})
}

// response is the data of a read of s.
func (s *storedCRL) response() any {
	out := &crlResponse{Serials: make(map[string]struct{}, len(s.Serials))}
	for _, v := range s.Serials {
		out.Serials[v] = struct{}{}
	}
	return out
}

// parseCRL decodes one PEM "X509 CRL" block and returns its revoked
// serials in decimal, sorted and without duplicates. Errors are
// [logical.ErrInvalidRequest] errors that never quote the input.
func parseCRL(pemText string) ([]string, error) {
	if strings.TrimSpace(pemText) == "" {
		return nil, logical.InvalidRequest("missing \"crl\": a PEM-encoded CRL is required")
	}
	if len(pemText) > maxPEMBytes {
		return nil, logical.InvalidRequest("invalid value for \"crl\": longer than %d bytes", maxPEMBytes)
	}
	block, rest := pem.Decode([]byte(pemText))
	switch {
	case block == nil:
		return nil, logical.InvalidRequest("invalid value for \"crl\": no PEM block found")
	case block.Type != "X509 CRL":
		return nil, logical.InvalidRequest("invalid value for \"crl\": the PEM block is a %q block, want X509 CRL", block.Type)
	case len(strings.TrimSpace(string(rest))) > 0:
		return nil, logical.InvalidRequest("invalid value for \"crl\": unexpected data after the PEM block")
	}
	rl, err := x509.ParseRevocationList(block.Bytes)
	if err != nil {
		return nil, &logical.Error{Kind: logical.ErrInvalidRequest, Msg: "invalid value for \"crl\": not a valid X.509 CRL", Err: err}
	}
	out := make([]string, 0, len(rl.RevokedCertificateEntries))
	for _, e := range rl.RevokedCertificateEntries {
		if e.SerialNumber != nil {
			out = append(out, e.SerialNumber.String())
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// parseStoredCRL decodes a stored CRL into a set.
func parseStoredCRL(raw []byte) (serialSet, error) {
	var s storedCRL
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("decode stored crl: %w", err)
	}
	set := make(serialSet, len(s.Serials))
	for _, v := range s.Serials {
		set[v] = struct{}{}
	}
	return set, nil
}

// revokedIn reports whether serial is in any of sets.
func revokedIn(sets []serialSet, serial *big.Int) bool {
	if len(sets) == 0 || serial == nil {
		return false
	}
	s := serial.String()
	for _, set := range sets {
		if _, ok := set[s]; ok {
			return true
		}
	}
	return false
}

package pkcs11

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
)

// Type is the seal type of this key source in the configuration.
const Type = "pkcs11"

// Mechanism numbers (CKM_*) this package knows.
const (
	// MechanismAESGCM is CKM_AES_GCM, the default and only supported
	// mechanism.
	MechanismAESGCM uint = 0x1087
	// MechanismRSAOAEP is CKM_RSA_PKCS_OAEP, which Vault also accepts; New
	// refuses it with a clear error.
	MechanismRSAOAEP uint = 0x0009
)

// PIN is a token's user PIN. It prints and logs as a placeholder; use
// string(p) only where the raw value is needed.
type PIN string

// String returns a placeholder, never the PIN.
func (PIN) String() string { return "[pin]" }

// GoString returns a placeholder, never the PIN.
func (PIN) GoString() string { return "[pin]" }

// LogValue returns a placeholder, never the PIN.
func (PIN) LogValue() slog.Value { return slog.StringValue("[pin]") }

// Options configure [New]. Lib, PIN, KeyLabel and one of Slot and
// TokenLabel are required.
type Options struct {
	// Lib is the path of the PKCS#11 library (Vault's lib).
	Lib string
	// Slot is the slot ID of the token (Vault's slot); nil to find the
	// token by TokenLabel.
	Slot *uint
	// TokenLabel is the label of the token (Vault's token_label).
	TokenLabel string
	// PIN is the user PIN (Vault's pin).
	PIN PIN
	// KeyLabel is the CKA_LABEL of the AES key (Vault's key_label).
	KeyLabel string
	// KeyID is the CKA_ID of the key, in hexadecimal with an optional 0x
	// (Vault's key_id); empty to find the key by its label alone.
	KeyID string
	// Mechanism is the CKM_* number (Vault's mechanism, see
	// [ParseMechanism]); 0 means [MechanismAESGCM].
	Mechanism uint
	// GenerateKey creates the key when no key has KeyLabel (Vault's
	// generate_key).
	GenerateKey bool
	// Logger receives lifecycle messages (key generated, session
	// re-opened); nil discards them.
	Logger *slog.Logger
}

// validate checks the options and returns the decoded key ID.
func (o *Options) validate() (keyID []byte, err error) {
	var errs []error
	if o.Lib == "" {
		errs = append(errs, errors.New("lib is required"))
	}
	if o.Slot == nil && o.TokenLabel == "" {
		errs = append(errs, errors.New("slot or token_label is required"))
	}
	if o.PIN == "" {
		errs = append(errs, errors.New("pin is required"))
	}
	if o.KeyLabel == "" {
		errs = append(errs, errors.New("key_label is required"))
	}
	if o.KeyID != "" {
		keyID, err = parseHex(o.KeyID)
		if err != nil || len(keyID) == 0 || len(keyID) > maxKeyIDLen {
			errs = append(errs, fmt.Errorf("key_id %q is not 1 to %d bytes of hexadecimal", o.KeyID, maxKeyIDLen))
		}
	}
	switch o.Mechanism {
	case 0, MechanismAESGCM:
	case MechanismRSAOAEP:
		errs = append(errs, errors.New("mechanism CKM_RSA_PKCS_OAEP (0x0009) is not supported; use CKM_AES_GCM (0x1087)"))
	default:
		errs = append(errs, fmt.Errorf("mechanism %s is not supported; use CKM_AES_GCM (0x1087)", FormatMechanism(o.Mechanism)))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("pkcs11 seal: %w", err)
	}
	return keyID, nil
}

// ParseMechanism reads a mechanism number written as Vault's
// configuration does: decimal ("4231") or hexadecimal with 0x ("0x1087").
func ParseMechanism(s string) (uint, error) {
	t := strings.TrimSpace(s)
	var (
		n   uint64
		err error
	)
	if h, ok := strings.CutPrefix(strings.ToLower(t), "0x"); ok {
		n, err = strconv.ParseUint(h, 16, 64)
	} else {
		n, err = strconv.ParseUint(t, 10, 64)
	}
	if err != nil || t == "" {
		return 0, fmt.Errorf("pkcs11 seal: mechanism %q is not a decimal or 0x-prefixed hexadecimal number", s)
	}
	return uint(n), nil
}

// FormatMechanism writes a mechanism number as 0x and four or more
// hexadecimal digits, the form stored in [seal.Blob.Mechanism].
func FormatMechanism(m uint) string {
	return fmt.Sprintf("0x%04x", m)
}

func parseHex(s string) ([]byte, error) {
	h := strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "0x")
	if len(h)%2 == 1 {
		h = "0" + h
	}
	b := make([]byte, len(h)/2)
	for i := range b {
		v, err := strconv.ParseUint(h[2*i:2*i+2], 16, 8)
		if err != nil {
			return nil, err
		}
		b[i] = byte(v)
	}
	return b, nil
}

// Ciphertext format; see the package documentation.
const (
	formatVersion = 1
	maxKeyIDLen   = 64
	gcmIVLen      = 12
	gcmTagLen     = 16
)

// header is the authenticated, unencrypted part of a blob's ciphertext.
type header struct {
	keyID []byte // CKA_ID of the key; empty if it has none
	iv    []byte
}

// encode returns the ciphertext bytes: header, then sealed.
func (h header) encode(sealed []byte) []byte {
	out := make([]byte, 0, 3+len(h.keyID)+len(h.iv)+len(sealed))
	out = append(out, formatVersion, byte(len(h.keyID)))
	out = append(out, h.keyID...)
	out = append(out, byte(len(h.iv)))
	out = append(out, h.iv...)
	return append(out, sealed...)
}

// errFormat reports a ciphertext that is not in this package's format.
var errFormat = errors.New("malformed ciphertext")

// decodeCiphertext splits a blob's ciphertext into its header and the GCM
// ciphertext with its tag. The returned slices alias ct.
func decodeCiphertext(ct []byte) (header, []byte, error) {
	if len(ct) < 2 || ct[0] != formatVersion {
		return header{}, nil, errFormat
	}
	n := int(ct[1])
	rest := ct[2:]
	if n > maxKeyIDLen || len(rest) < n+1 {
		return header{}, nil, errFormat
	}
	h := header{keyID: rest[:n:n]}
	rest = rest[n:]
	n = int(rest[0])
	rest = rest[1:]
	if n == 0 || len(rest) < n+gcmTagLen {
		return header{}, nil, errFormat
	}
	h.iv = rest[:n:n]
	return h, rest[n:], nil
}

// additionalData is the GCM additional data for a blob: the format
// version, the key's CKA_ID, its label and the mechanism, each
// length-prefixed so that no two different triples give the same bytes.
func additionalData(keyID []byte, label, mechanism string) []byte {
	var out []byte
	out = append(out, "coffer pkcs11 seal"...)
	out = append(out, formatVersion)
	for _, f := range [][]byte{keyID, []byte(label), []byte(mechanism)} {
		out = binary.BigEndian.AppendUint32(out, uint32(len(f)))
		out = append(out, f...)
	}
	return out
}

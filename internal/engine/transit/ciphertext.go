package transit

import (
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// prefix starts every ciphertext, signature and HMAC the engine returns,
// as in Vault, so that existing clients recognise them.
const prefix = "vault:v"

// maxVersion bounds the version number a ciphertext may name.
const maxVersion = 1<<31 - 1

// formatVersioned returns "vault:v<version>:<base64 body>".
func formatVersioned(version int, body []byte) string {
	var sb strings.Builder
	sb.Grow(len(prefix) + 11 + base64.StdEncoding.EncodedLen(len(body)))
	sb.WriteString(prefix)
	sb.WriteString(strconv.Itoa(version))
	sb.WriteByte(':')
	enc := base64.StdEncoding
	buf := make([]byte, enc.EncodedLen(len(body)))
	enc.Encode(buf, body)
	sb.Write(buf)
	return sb.String()
}

// parseVersioned splits a "vault:v<version>:<base64 body>" string. what
// names the value in errors ("ciphertext", "signature", "hmac"). The
// version is a positive decimal integer without sign or leading zeros; the
// body is padded standard base64. Errors are ErrInvalidRequest errors that
// never quote the input.
func parseVersioned(what, s string) (version int, body []byte, err error) {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return 0, nil, logical.InvalidRequest("invalid %s: missing the \"vault:v\" prefix", what)
	}
	num, enc, ok := strings.Cut(rest, ":")
	if !ok {
		return 0, nil, logical.InvalidRequest("invalid %s: missing the version", what)
	}
	version, err = parseVersion(num)
	if err != nil {
		return 0, nil, logical.InvalidRequest("invalid %s: bad version", what)
	}
	// The decoder skips line breaks; a canonical value has none.
	body, err = base64.StdEncoding.Strict().DecodeString(enc)
	if err != nil || strings.ContainsAny(enc, "\r\n") {
		return 0, nil, logical.InvalidRequest("invalid %s: not base64", what)
	}
	return version, body, nil
}

// parseVersion parses a positive decimal version number.
func parseVersion(s string) (int, error) {
	if s == "" || s[0] == '0' || len(s) > 10 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, strconv.ErrSyntax
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > maxVersion {
		return 0, strconv.ErrRange
	}
	return n, nil
}

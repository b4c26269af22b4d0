package awsauth

import (
	"strings"
)

// Limits on unauthenticated input.
const (
	// maxAuthorizationBytes bounds the Authorization header.
	maxAuthorizationBytes = 4096
	// maxSignedHeaders bounds the SignedHeaders list.
	maxSignedHeaders = 64
	// maxSignedHeaderBytes bounds all signed header values together.
	maxSignedHeaderBytes = 16 << 10
)

// algorithm is the only signing algorithm accepted.
const algorithm = "AWS4-HMAC-SHA256"

// authorization is a parsed SigV4 Authorization header.
type authorization struct {
	AccessKeyID string
	// Date (YYYYMMDD), Region and Service are the credential scope.
	Date, Region, Service string
	// SignedHeaders are the lower-case names, as listed.
	SignedHeaders []string
	// SignedHeadersRaw is the SignedHeaders value as sent.
	SignedHeadersRaw string
	// Signature is 64 lower-case hex digits.
	Signature string
}

// parseAuthorization parses "AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/
// SERVICE/aws4_request, SignedHeaders=a;b, Signature=HEX". Each failure is
// an IncompleteSignatureException saying what is wrong; its work is linear
// in the header's length, which is bounded.
func parseAuthorization(h string) (*authorization, *Error) {
	if len(h) > maxAuthorizationBytes {
		return nil, incomplete("Authorization header is too long.")
	}
	alg, rest, ok := strings.Cut(h, " ")
	if !ok || alg != algorithm {
		return nil, incomplete("Authorization header must start with '" + algorithm + " ' (only SigV4 with HMAC-SHA256 is accepted).")
	}
	var a authorization
	var haveCred, haveSigned, haveSig bool
	for part := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, incomplete("Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters, as name=value separated by commas.")
		}
		switch k {
		case "Credential":
			if haveCred {
				return nil, incomplete("Authorization header has 'Credential' twice.")
			}
			haveCred = true
			parts := strings.Split(v, "/")
			if len(parts) != 5 || parts[4] != "aws4_request" || parts[0] == "" || parts[2] == "" || parts[3] == "" {
				return nil, incomplete("Credential should be of the form 'ACCESS_KEY_ID/YYYYMMDD/REGION/SERVICE/aws4_request'.")
			}
			if !isDate(parts[1]) {
				return nil, incomplete("Credential date should be YYYYMMDD.")
			}
			a.AccessKeyID, a.Date, a.Region, a.Service = parts[0], parts[1], parts[2], parts[3]
		case "SignedHeaders":
			if haveSigned {
				return nil, incomplete("Authorization header has 'SignedHeaders' twice.")
			}
			haveSigned = true
			if v == "" || strings.Count(v, ";") >= maxSignedHeaders {
				return nil, incomplete("SignedHeaders should list between 1 and 64 header names separated by ';'.")
			}
			names := strings.Split(v, ";")
			for i, n := range names {
				if n == "" || n != strings.ToLower(n) || (i > 0 && names[i-1] >= n) {
					return nil, incomplete("SignedHeaders should list lower-case header names, sorted, each once, separated by ';'.")
				}
			}
			a.SignedHeaders, a.SignedHeadersRaw = names, v
		case "Signature":
			if haveSig {
				return nil, incomplete("Authorization header has 'Signature' twice.")
			}
			haveSig = true
			if !isLowerHex(v, 64) {
				return nil, incomplete("Signature should be 64 lower-case hexadecimal digits.")
			}
			a.Signature = v
		default:
			return nil, incomplete("Authorization header has an unknown parameter; it takes 'Credential', 'SignedHeaders' and 'Signature'.")
		}
	}
	switch {
	case !haveCred:
		return nil, incomplete("Authorization header requires 'Credential' parameter.")
	case !haveSigned:
		return nil, incomplete("Authorization header requires 'SignedHeaders' parameter.")
	case !haveSig:
		return nil, incomplete("Authorization header requires 'Signature' parameter.")
	}
	return &a, nil
}

// signs reports whether name (lower case) is among the signed headers.
func (a *authorization) signs(name string) bool {
	for _, n := range a.SignedHeaders {
		if n == name {
			return true
		}
	}
	return false
}

// isDate reports whether s is eight decimal digits.
func isDate(s string) bool {
	if len(s) != 8 {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isLowerHex reports whether s is n lower-case hex digits.
func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

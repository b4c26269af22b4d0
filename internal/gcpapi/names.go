package gcpapi

import (
	"strconv"
	"strings"
)

// Limits from Google's API reference.
const (
	maxProjectLen  = 63
	maxSecretIDLen = 255
	// MaxPayloadBytes is the largest secret payload, as Google's.
	MaxPayloadBytes = 64 << 10
)

// secretName is a parsed projects/P/secrets/S.
type secretName struct {
	project string
	secret  string
}

func (n secretName) String() string {
	return "projects/" + n.project + "/secrets/" + n.secret
}

// versionName is a parsed projects/P/secrets/S/versions/V; version 0
// means "latest".
type versionName struct {
	secretName
	version int
}

func (n versionName) String() string {
	return n.secretName.String() + "/versions/" + strconv.Itoa(n.version)
}

// validProject reports whether p is a project ID or number Coffer
// accepts: 1 to 63 lowercase letters, digits and hyphens, starting with
// a letter or digit (it becomes part of a mount path).
func validProject(p string) bool {
	if p == "" || len(p) > maxProjectLen || p[0] == '-' {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// validSecretID reports whether s is a secret ID as Google allows: 1 to
// 255 letters, digits, underscores and hyphens.
func validSecretID(s string) bool {
	if s == "" || len(s) > maxSecretIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// parseParent parses projects/P (with an optional /locations/L, which
// is accepted and ignored: Coffer has one location).
func parseParent(s string) (string, error) {
	parts := strings.Split(s, "/")
	switch {
	case len(parts) == 2 && parts[0] == "projects" && validProject(parts[1]):
		return parts[1], nil
	case len(parts) == 4 && parts[0] == "projects" && validProject(parts[1]) && parts[2] == "locations" && parts[3] != "":
		return parts[1], nil
	}
	return "", invalidArg("invalid parent %q: want projects/PROJECT", clip(s))
}

// parseSecret parses projects/P/secrets/S.
func parseSecret(s string) (secretName, error) {
	parts := strings.Split(s, "/")
	if len(parts) == 4 && parts[0] == "projects" && parts[2] == "secrets" && validProject(parts[1]) && validSecretID(parts[3]) {
		return secretName{project: parts[1], secret: parts[3]}, nil
	}
	return secretName{}, invalidArg("invalid secret name %q: want projects/PROJECT/secrets/SECRET, the secret ID of 1 to 255 letters, digits, _ and -", clip(s))
}

// parseVersion parses projects/P/secrets/S/versions/V, V a version
// number from 1 or "latest" (version 0) when latestOK.
func parseVersion(s string, latestOK bool) (versionName, error) {
	i := strings.LastIndex(s, "/versions/")
	if i < 0 {
		return versionName{}, invalidArg("invalid version name %q: want projects/PROJECT/secrets/SECRET/versions/VERSION", clip(s))
	}
	sn, err := parseSecret(s[:i])
	if err != nil {
		return versionName{}, invalidArg("invalid version name %q: want projects/PROJECT/secrets/SECRET/versions/VERSION", clip(s))
	}
	v := s[i+len("/versions/"):]
	if v == "latest" {
		if !latestOK {
			return versionName{}, invalidArg("this method takes a version number, not \"latest\"")
		}
		return versionName{secretName: sn}, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1<<31 || strconv.Itoa(n) != v {
		return versionName{}, invalidArg("invalid version %q: want a number from 1 or \"latest\"", clip(v))
	}
	return versionName{secretName: sn, version: n}, nil
}

// clip shortens a client-given string for an error message.
func clip(s string) string {
	const max = 300
	if len(s) <= max {
		return s
	}
	return strings.ToValidUTF8(s[:max], "") + "..."
}

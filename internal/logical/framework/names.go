package framework

import "github.com/coffer-secrets/coffer/internal/logical"

// MaxNameBytes is the longest role or object name [Name] accepts.
const MaxNameBytes = 512

// Name lowercases a role (or similar object) name from a request and
// checks it: letters, digits, "_", "-" and ".", not "." or "..", at most
// [MaxNameBytes] bytes. The error is an ErrInvalidRequest naming what
// is allowed, with kind ("role") in the message.
func Name(kind, name string) (string, error) {
	b := []byte(name)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	name = string(b)
	ok := name != "" && name != "." && name != ".." && len(name) <= MaxNameBytes
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
	}
	if !ok {
		return "", logical.InvalidRequest("invalid %s name: use letters, digits, \"_\", \"-\" and \".\", at most %d bytes", kind, MaxNameBytes)
	}
	return name, nil
}

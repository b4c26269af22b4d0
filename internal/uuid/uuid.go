// Package uuid makes the random version 4 UUIDs that Coffer hands out
// where Vault's clients expect one: mount UUIDs and accessors' peers,
// request IDs, identity IDs, AppRole role IDs and secret ID accessors, PKI
// key and issuer IDs, ceremony nonces. An ID that needs no UUID shape is
// better made with crypto/rand.Text.
//
// It imports only the standard library.
package uuid

import (
	"crypto/rand"
	"encoding/hex"
)

// New returns a random version 4 UUID (RFC 9562) in its canonical
// lowercase form, such as "1b4e28ba-2fa1-41d2-883f-0016d3cca427". It is
// safe for concurrent use and never fails: crypto/rand.Read does not return
// an error.
func New() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // variant 10
	var out [36]byte
	hex.Encode(out[0:8], u[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], u[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], u[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], u[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], u[10:16])
	return string(out[:])
}

// Valid reports whether s has the shape [New] makes: 36 characters of
// lowercase hexadecimal digits with dashes after the 8th, 12th, 16th and
// 20th. It checks the shape only, not the version or variant bits.
func Valid(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}

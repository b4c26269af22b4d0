// Package otp encodes a generated root token with a one-time pad, as
// Vault's sys/generate-root does since Vault 1.10: the token ID XORed byte
// by byte with a pad of the same length, in unpadded standard base64. The
// server encodes, the CLI decodes (-decode) and makes pads
// (-generate-otp). It imports only the standard library, so the CLI may
// use it.
package otp

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
)

// otpAlphabet are the characters of a generated one-time pad (base62, as
// Vault's).
const otpAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// New returns n random base62 characters from crypto/rand, without
// modulo bias: a one-time pad for a root token generation
// (sys/generate-root), where n is the length of a token ID.
func New(n int) string {
	out := make([]byte, 0, n)
	var buf [64]byte
	for len(out) < n {
		// crypto/rand.Read never fails (it crashes the program instead).
		_, _ = rand.Read(buf[:])
		for _, b := range buf {
			if b < 248 && len(out) < n { // 248 = 4*62: no bias
				out = append(out, otpAlphabet[b%62])
			}
		}
	}
	return string(out)
}

// Encode XORs a token ID with a one-time pad of the same length and
// encodes the result in unpadded standard base64: Vault's encoded_token
// form since Vault 1.10. [Decode] reverses it.
func Encode(id, otp string) (string, error) {
	if len(id) != len(otp) {
		return "", errors.New("the one-time pad and the token differ in length")
	}
	x := make([]byte, len(id))
	defer clear(x)
	for i := range x {
		x[i] = id[i] ^ otp[i]
	}
	return base64.RawStdEncoding.EncodeToString(x), nil
}

// Decode reverses [Encode]; padded base64 is accepted too.
func Decode(encoded, otp string) (string, error) {
	x, err := base64.RawStdEncoding.DecodeString(encoded)
	if err != nil {
		if x, err = base64.StdEncoding.DecodeString(encoded); err != nil {
			return "", fmt.Errorf("the encoded token is not base64: %w", err)
		}
	}
	if len(x) != len(otp) {
		return "", errors.New("the one-time pad and the encoded token differ in length")
	}
	for i := range x {
		x[i] ^= otp[i]
	}
	return string(x), nil
}

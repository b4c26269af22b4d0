package kms

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
)

// AnnotationKey is the annotation Encrypt adds to every ciphertext: its
// value is "<transit mount>/<key name>", the transit key that wrapped the
// data key. The API server stores it in etcd beside the ciphertext (it is
// not secret) and hands it back to Decrypt. Annotation keys must be fully
// qualified domain names, so it has no slash.
const AnnotationKey = "transit.kms.coffer.dev"

// MaxCiphertext bounds a ciphertext: the KMS v2 API requires less than
// 1 kB, and Decrypt refuses longer ones before calling Coffer.
const MaxCiphertext = 1023

// MaxPlaintext bounds what Encrypt accepts, so that the ciphertext stays
// under [MaxCiphertext]. The API server sends 32 bytes.
const MaxPlaintext = 512

// ciphertextPrefix starts every transit ciphertext.
const ciphertextPrefix = "vault:v"

// maxVersion bounds a key version, as transit does.
const maxVersion = 1<<31 - 1

// Parse errors. They never quote the input.
var (
	errKeyIDShape      = errors.New("key_id is not of the form <key>:v<version>")
	errCiphertextShape = errors.New(`ciphertext is not a Coffer transit ciphertext ("vault:v<version>:<base64>")`)
	errCiphertextSize  = errors.New("ciphertext is empty or longer than 1023 bytes")
)

// formatKeyID returns the key_id of version of key: "<key>:v<version>".
func formatKeyID(key string, version int) string {
	return key + ":v" + strconv.Itoa(version)
}

// parseKeyID splits a key_id made by formatKeyID. The version is a
// positive decimal without sign or leading zeros.
func parseKeyID(id string) (key string, version int, err error) {
	i := strings.LastIndex(id, ":v")
	if i <= 0 {
		return "", 0, errKeyIDShape
	}
	version, ok := parseVersion(id[i+2:])
	if !ok {
		return "", 0, errKeyIDShape
	}
	return id[:i], version, nil
}

// parseCiphertext checks that ct is a transit ciphertext,
// "vault:v<version>:<standard padded base64>", at most MaxCiphertext
// bytes, and returns its key version.
func parseCiphertext(ct []byte) (version int, err error) {
	if len(ct) == 0 || len(ct) > MaxCiphertext {
		return 0, errCiphertextSize
	}
	rest, ok := strings.CutPrefix(string(ct), ciphertextPrefix)
	if !ok {
		return 0, errCiphertextShape
	}
	num, body, ok := strings.Cut(rest, ":")
	if !ok {
		return 0, errCiphertextShape
	}
	version, ok = parseVersion(num)
	if !ok || body == "" {
		return 0, errCiphertextShape
	}
	if _, err := base64.StdEncoding.Strict().DecodeString(body); err != nil || strings.ContainsAny(body, "\r\n") {
		return 0, errCiphertextShape
	}
	return version, nil
}

// parseVersion parses a positive decimal version number without sign or
// leading zeros.
func parseVersion(s string) (int, bool) {
	if s == "" || s[0] == '0' || len(s) > 10 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > maxVersion {
		return 0, false
	}
	return n, true
}

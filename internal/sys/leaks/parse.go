package leaks

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"slices"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// MaxCandidates is the most candidates one call may carry.
const MaxCandidates = 1000

// ParseRequest decodes a check's body: a JSON object whose "candidates"
// member is an array of 1 to [MaxCandidates] strings, each the standard
// base64 encoding (padded) of a 32-byte SHA-256 hash. Other members are
// returned, sorted, in ignored. A candidate sent twice is refused (the
// scanner sends each once; a repeated one would only multiply the
// work). Any other body is an
// [logical.ErrInvalidRequest] error whose message never quotes a
// candidate; nothing is checked then.
func ParseRequest(body []byte) (hashes [][sha256.Size]byte, ignored []string, err error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || string(body) == "null" {
		return nil, nil, logical.InvalidRequest("missing candidates: send {\"candidates\": [...]} with the base64 SHA-256 of each candidate")
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil {
		return nil, nil, logical.InvalidRequest("the request body must be a JSON object")
	}
	for k := range members {
		if k != "candidates" {
			ignored = append(ignored, k)
		}
	}
	slices.Sort(ignored)
	raw, ok := members["candidates"]
	if !ok || string(raw) == "null" {
		return nil, nil, logical.InvalidRequest("missing candidates: send {\"candidates\": [...]} with the base64 SHA-256 of each candidate")
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, nil, notStrings(raw)
	}
	if len(list) == 0 {
		return nil, nil, logical.InvalidRequest("candidates is empty: send 1 to %d", MaxCandidates)
	}
	if len(list) > MaxCandidates {
		return nil, nil, logical.InvalidRequest("too many candidates: %d; send at most %d per call", len(list), MaxCandidates)
	}
	hashes = make([][sha256.Size]byte, len(list))
	first := make(map[[sha256.Size]byte]int, len(list))
	for i, s := range list {
		bad := func() error {
			return logical.InvalidRequest("candidates[%d] is not the base64 encoding of a 32-byte SHA-256 hash", i)
		}
		// The length first: Decode writes past a buffer too small for a
		// longer string.
		if len(s) != base64.StdEncoding.EncodedLen(sha256.Size) {
			return nil, nil, bad()
		}
		var buf [sha256.Size + 1]byte // room for what 44 characters can hold
		n, err := base64.StdEncoding.Strict().Decode(buf[:], []byte(s))
		if err != nil || n != sha256.Size {
			return nil, nil, bad()
		}
		copy(hashes[i][:], buf[:n])
		if j, dup := first[hashes[i]]; dup {
			return nil, nil, logical.InvalidRequest("candidates[%d] repeats candidates[%d]: send each candidate once", i, j)
		}
		first[hashes[i]] = i
	}
	return hashes, ignored, nil
}

// notStrings is the error for candidates that are not an array of
// strings, naming the first member that is not a string.
func notStrings(raw json.RawMessage) error {
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return logical.InvalidRequest("candidates must be an array of strings")
	}
	for i, item := range list {
		var s string
		if json.Unmarshal(item, &s) != nil {
			return logical.InvalidRequest("candidates[%d] is not a string", i)
		}
	}
	return logical.InvalidRequest("candidates must be an array of strings")
}

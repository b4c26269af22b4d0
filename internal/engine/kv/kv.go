package kv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// Limits on what one secret may hold.
const (
	// MaxDataBytes is the most JSON one secret (one version) may hold.
	MaxDataBytes = 1 << 20
	// MaxTopLevelKeys is the most top-level keys one secret may have.
	MaxTopLevelKeys = 1000
)

// Factory builds a KV backend for one mount. env.Options["version"] picks
// the flavour: "2" for versioned KV, "1" or "" for KV version 1; anything
// else is an error.
func Factory(ctx context.Context, env logical.Env) (logical.Backend, error) {
	if env.Storage == nil {
		return nil, errors.New("kv: no storage")
	}
	env = watchValues(env.WithDefaults())
	switch v := env.Options["version"]; v {
	case "", "1":
		return newV1(env)
	case "2":
		return newV2(env)
	default:
		return nil, fmt.Errorf("kv: unsupported version %q: want \"1\" or \"2\"", v)
	}
}

// checkPath refuses a secret path that is empty or not clean. Core cleans
// request paths already; this keeps the engine safe on its own.
func checkPath(p string) error {
	if p == "" {
		return logical.InvalidRequest("missing secret path")
	}
	if strings.ContainsRune(p, 0) {
		return logical.InvalidRequest("secret path must not contain a NUL byte")
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return logical.InvalidRequest("secret path must not have empty, \".\" or \"..\" segments")
		}
	}
	return nil
}

// listPrefix turns a list request's path into a folder prefix.
func listPrefix(p string) (string, error) {
	p = strings.TrimSuffix(p, "/")
	if p == "" {
		return "", nil
	}
	if err := checkPath(p); err != nil {
		return "", err
	}
	return p + "/", nil
}

// compactData validates raw as the data of one secret: a JSON object of at
// most MaxTopLevelKeys keys and MaxDataBytes bytes. It returns the object
// compacted. Errors never quote the data.
func compactData(raw json.RawMessage) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, logical.InvalidRequest("no data provided")
	}
	if raw[0] != '{' {
		return nil, logical.InvalidRequest("secret data must be a JSON object")
	}
	if len(raw) > MaxDataBytes {
		return nil, tooLarge(len(raw))
	}
	var buf bytes.Buffer
	buf.Grow(len(raw))
	if err := json.Compact(&buf, raw); err != nil {
		return nil, &logical.Error{Kind: logical.ErrInvalidRequest, Msg: "secret data is not valid JSON", Err: err}
	}
	out := buf.Bytes()
	if len(out) > MaxDataBytes {
		return nil, tooLarge(len(out))
	}
	if n := topLevelKeys(out); n > MaxTopLevelKeys {
		return nil, logical.InvalidRequest("secret data has %d top-level keys; the limit is %d", n, MaxTopLevelKeys)
	}
	return out, nil
}

func tooLarge(n int) error {
	return &logical.Error{
		Kind: logical.ErrTooLarge,
		Msg:  fmt.Sprintf("secret data is %d bytes of JSON; the limit is %d bytes (1 MiB)", n, MaxDataBytes),
	}
}

// topLevelKeys counts the members of obj, a valid compact JSON object.
func topLevelKeys(obj []byte) int {
	n, depth, inString, escaped := 0, 0, false, false
	for _, c := range obj {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
		case c == ':' && depth == 1:
			n++
		}
	}
	return n
}

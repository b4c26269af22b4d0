package template

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// funcs returns the template functions bound to ctx and f. A nil f (at
// parse time) makes the secret functions fail.
func funcs(ctx context.Context, f Fetcher, getenv func(string) string) template.FuncMap {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	return template.FuncMap{
		"secret": func(path string, args ...string) (*Secret, error) {
			if f == nil {
				return nil, errors.New("no secret source")
			}
			params, err := splitParams(args)
			if err != nil {
				return nil, fmt.Errorf("secret %q: %w", path, err)
			}
			return f.Secret(ctx, strings.TrimLeft(path, "/"), params)
		},
		"pkiCert": func(path string, args ...string) (*PKICert, error) {
			if f == nil {
				return nil, errors.New("no secret source")
			}
			params, err := splitParams(args)
			if err != nil {
				return nil, fmt.Errorf("pkiCert %q: %w", path, err)
			}
			return f.PKICert(ctx, strings.TrimLeft(path, "/"), params)
		},
		"env": getenv,
		"envOrDefault": func(name, def string) string {
			if v := getenv(name); v != "" {
				return v
			}
			return def
		},
		"file": func(path string) (string, error) {
			b, err := os.ReadFile(path)
			if err != nil {
				return "", fmt.Errorf("file: %w", err)
			}
			return string(b), nil
		},
		"toJSON":          toJSON,
		"toJSONPretty":    toJSONPretty,
		"toUnescapedJSON": toUnescapedJSON,
		"parseJSON":       parseJSON,
		"base64Encode":    func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
		"base64Decode":    base64Decode(base64.StdEncoding),
		"base64URLEncode": func(s string) string { return base64.URLEncoding.EncodeToString([]byte(s)) },
		"base64URLDecode": base64Decode(base64.URLEncoding),
		"sha256Hex":       func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) },
		"contains":        contains,
		"containsAny": func(subs []string, s string) bool {
			return slices.ContainsFunc(subs, func(x string) bool { return strings.Contains(s, x) })
		},
		"containsAll": func(subs []string, s string) bool {
			return !slices.ContainsFunc(subs, func(x string) bool { return !strings.Contains(s, x) })
		},
		"in": func(l, v any) (bool, error) { return contains(v, l) },
		"split": func(sep, s string) []string {
			s = strings.TrimSpace(s)
			if s == "" {
				return []string{}
			}
			return strings.Split(s, sep)
		},
		"join":            join,
		"replaceAll":      func(old, new, s string) string { return strings.ReplaceAll(s, old, new) },
		"regexReplaceAll": regexReplaceAll,
		"regexMatch":      regexMatch,
		"toLower":         strings.ToLower,
		"toUpper":         strings.ToUpper,
		"toTitle":         toTitle,
		"trimSpace":       strings.TrimSpace,
		"trim":            func(cut, s string) string { return strings.Trim(s, cut) },
		"trimPrefix":      func(p, s string) string { return strings.TrimPrefix(s, p) },
		"trimSuffix":      func(p, s string) string { return strings.TrimSuffix(s, p) },
		"indent":          indent,
		"timestamp":       timestamp,
		"parseInt":        func(s string) (int64, error) { return strconv.ParseInt(strings.TrimSpace(s), 10, 64) },
		"parseFloat":      func(s string) (float64, error) { return strconv.ParseFloat(strings.TrimSpace(s), 64) },
		"parseBool":       func(s string) (bool, error) { return strconv.ParseBool(strings.TrimSpace(s)) },
		"add":             func(a, b int64) int64 { return b + a },
		"subtract":        func(a, b int64) int64 { return b - a },
		"multiply":        func(a, b int64) int64 { return b * a },
		"divide":          divide,
		"modulo":          modulo,
		"minimum":         func(a, b int64) int64 { return min(a, b) },
		"maximum":         func(a, b int64) int64 { return max(a, b) },
		"loop":            loop,
		"keys":            keys,
	}
}

func toJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("toJSON: %w", err)
	}
	return string(b), nil
}

func toJSONPretty(v any) (string, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return "", fmt.Errorf("toJSONPretty: %w", err)
	}
	return string(b), nil
}

func toUnescapedJSON(v any) (string, error) {
	var sb strings.Builder
	enc := json.NewEncoder(&sb)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", fmt.Errorf("toUnescapedJSON: %w", err)
	}
	return strings.TrimSuffix(sb.String(), "\n"), nil
}

func parseJSON(s string) (any, error) {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		// The JSON error may quote part of the input; keep only the kind.
		return nil, errors.New("parseJSON: input is not valid JSON")
	}
	return v, nil
}

func base64Decode(enc *base64.Encoding) func(string) (string, error) {
	return func(s string) (string, error) {
		b, err := enc.DecodeString(strings.TrimSpace(s))
		if err != nil {
			return "", errors.New("base64 decode: input is not valid base64")
		}
		return string(b), nil
	}
}

// contains reports whether haystack (a string, slice or map keys)
// contains needle: `{{ if .Tags | contains "prod" }}`.
func contains(needle, haystack any) (bool, error) {
	if haystack == nil {
		return false, nil
	}
	if s, ok := haystack.(string); ok {
		n, ok := needle.(string)
		if !ok {
			return false, fmt.Errorf("contains: cannot look for %T in a string", needle)
		}
		return strings.Contains(s, n), nil
	}
	v := reflect.ValueOf(haystack)
	switch v.Kind() {
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if reflect.DeepEqual(v.Index(i).Interface(), needle) {
				return true, nil
			}
		}
		return false, nil
	case reflect.Map:
		k := reflect.ValueOf(needle)
		if !k.IsValid() || !k.Type().AssignableTo(v.Type().Key()) {
			return false, nil
		}
		return v.MapIndex(k).IsValid(), nil
	}
	return false, fmt.Errorf("contains: cannot look inside %T", haystack)
}

// join joins a list of strings or values with sep: `{{ join "," .List }}`.
func join(sep string, list any) (string, error) {
	switch l := list.(type) {
	case []string:
		return strings.Join(l, sep), nil
	case []any:
		parts := make([]string, len(l))
		for i, e := range l {
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, sep), nil
	case nil:
		return "", nil
	}
	return "", fmt.Errorf("join: want a list, got %T", list)
}

func regexReplaceAll(re, repl, s string) (string, error) {
	r, err := regexp.Compile(re)
	if err != nil {
		return "", fmt.Errorf("regexReplaceAll: %w", err)
	}
	return r.ReplaceAllString(s, repl), nil
}

func regexMatch(re, s string) (bool, error) {
	r, err := regexp.Compile(re)
	if err != nil {
		return false, fmt.Errorf("regexMatch: %w", err)
	}
	return r.MatchString(s), nil
}

func toTitle(s string) string {
	words := strings.Fields(s)
	for i, w := range words {
		words[i] = strings.ToUpper(w[:1]) + w[1:]
	}
	return strings.Join(words, " ")
}

// indent puts n spaces before every line of s.
func indent(n int, s string) (string, error) {
	if n < 0 || n > 1024 {
		return "", fmt.Errorf("indent: %d spaces is out of range", n)
	}
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(s, "\n", "\n"+pad), nil
}

// timestamp is the current UTC time in RFC 3339, or in the given layout;
// "unix" gives seconds since the epoch.
func timestamp(layout ...string) (string, error) {
	now := time.Now().UTC()
	switch len(layout) {
	case 0:
		return now.Format(time.RFC3339), nil
	case 1:
		if layout[0] == "unix" {
			return strconv.FormatInt(now.Unix(), 10), nil
		}
		return now.Format(layout[0]), nil
	}
	return "", errors.New("timestamp: at most one layout")
}

func divide(a, b int64) (int64, error) {
	if a == 0 {
		return 0, errors.New("divide: division by zero")
	}
	return b / a, nil
}

func modulo(a, b int64) (int64, error) {
	if a == 0 {
		return 0, errors.New("modulo: division by zero")
	}
	return b % a, nil
}

// loop returns the integers [0, n) or [from, to), capped to keep a
// template from eating memory.
func loop(args ...int) ([]int, error) {
	var from, to int
	switch len(args) {
	case 1:
		to = args[0]
	case 2:
		from, to = args[0], args[1]
	default:
		return nil, errors.New("loop: want one or two integers")
	}
	if to-from > 100000 {
		return nil, errors.New("loop: range too large")
	}
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out, nil
}

// keys returns the sorted keys of a map with string keys.
func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

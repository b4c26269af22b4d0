package azureapi

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// op is one operation of the API.
type op int

const (
	opSet op = iota + 1
	opGet
	opUpdate
	opDelete
	opList
	opListVersions
	opListDeleted
	opGetDeleted
	opRecover
	opPurge
)

// route is a parsed request line: the operation, the secret's name and
// the version id ("" for the latest).
type route struct {
	op      op
	name    string
	version int // 0: the latest
}

// Limits, Azure's where it has them.
const (
	maxNameLen = 127
	// maxVersion is the highest KV version number a version id may name.
	maxVersion = 1 << 31
)

// Served reports whether path is one this package serves (and so should
// be routed to its handler): /secrets and /deletedsecrets and what is
// under them.
func Served(path string) bool {
	for _, p := range [...]string{"/secrets", "/deletedsecrets"} {
		if rest, ok := strings.CutPrefix(path, p); ok && (rest == "" || rest[0] == '/') {
			return true
		}
	}
	return false
}

// parseRoute maps a method and path onto an operation. A path not served
// is a 404, a method the path does not take a 405.
func parseRoute(method, path string) (route, error) {
	if !Served(path) {
		return route{}, fail(http.StatusNotFound, codeUnknownRequest, "no such operation: %s %s", clip(method), clip(path))
	}
	segs := strings.Split(path[1:], "/")
	// The SDK names the latest version with an empty segment
	// (/secrets/NAME/): it means the same as none.
	if len(segs) == 3 && segs[2] == "" {
		segs = segs[:2]
	}
	bad := fail(http.StatusNotFound, codeUnknownRequest, "no such operation: %s %s", clip(method), clip(path))
	if len(segs) == 3 && segs[0] == "secrets" && segs[2] == "backup" || len(segs) == 2 && segs[0] == "secrets" && segs[1] == "restore" && method == http.MethodPost {
		return route{}, badParam("Coffer does not serve secret backup and restore: copy secrets with get and set, or take a Coffer snapshot.")
	}
	var want []string // the methods the path takes, for a 405
	var rt route
	switch {
	case len(segs) == 1 && segs[0] == "secrets":
		want, rt.op = []string{http.MethodGet}, opList
	case len(segs) == 1 && segs[0] == "deletedsecrets":
		want, rt.op = []string{http.MethodGet}, opListDeleted
	case len(segs) == 2 && segs[0] == "secrets":
		want = []string{http.MethodPut, http.MethodGet, http.MethodPatch, http.MethodDelete}
		rt.op = map[string]op{http.MethodPut: opSet, http.MethodGet: opGet, http.MethodPatch: opUpdate, http.MethodDelete: opDelete}[method]
	case len(segs) == 3 && segs[0] == "secrets" && segs[2] == "versions":
		want, rt.op = []string{http.MethodGet}, opListVersions
	case len(segs) == 3 && segs[0] == "secrets":
		want = []string{http.MethodGet, http.MethodPatch}
		rt.op = map[string]op{http.MethodGet: opGet, http.MethodPatch: opUpdate}[method]
		v, err := ParseVersionID(segs[2])
		if err != nil {
			return route{}, err
		}
		rt.version = v
	case len(segs) == 2 && segs[0] == "deletedsecrets":
		want = []string{http.MethodGet, http.MethodDelete}
		rt.op = map[string]op{http.MethodGet: opGetDeleted, http.MethodDelete: opPurge}[method]
	case len(segs) == 3 && segs[0] == "deletedsecrets" && segs[2] == "recover":
		want, rt.op = []string{http.MethodPost}, opRecover
	default:
		return route{}, bad
	}
	if len(segs) >= 2 {
		if err := checkName(segs[1]); err != nil {
			return route{}, err
		}
		rt.name = segs[1]
	}
	ok := false
	for _, m := range want {
		ok = ok || m == method
	}
	if !ok {
		return route{}, fail(http.StatusMethodNotAllowed, codeMethod, "%s is not allowed on %s; it takes %s", clip(method), clip(path), strings.Join(want, ", "))
	}
	return rt, nil
}

// checkName enforces Azure's secret names: 1 to 127 letters, digits and
// dashes.
func checkName(name string) error {
	ok := name != "" && len(name) <= maxNameLen
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-'
	}
	if !ok {
		return badParam("The request URI contains an invalid name: %q. Secret names are 1 to 127 characters: letters, digits and dashes.", clip(name))
	}
	return nil
}

// VersionID is the 32-hex-digit id of KV version n.
func VersionID(n int) string {
	return fmt.Sprintf("%032x", n)
}

// ParseVersionID is the KV version number a version id names: 32
// hexadecimal digits (either case) that [VersionID] made. Anything else
// is a BadParameter error.
func ParseVersionID(s string) (int, error) {
	bad := badParam("The request URI contains an invalid version: %q. A version is 32 hexadecimal digits.", clip(s))
	if len(s) != 32 || strings.Trim(s[:24], "0") != "" {
		return 0, bad
	}
	n, err := strconv.ParseUint(s[24:], 16, 32)
	if err != nil || n == 0 || n > maxVersion {
		return 0, bad
	}
	return int(n), nil
}

// clip shortens untrusted text quoted back in a message.
func clip(s string) string {
	if len(s) > 140 {
		return s[:140] + "..."
	}
	return s
}

// checkAPIVersion accepts the api-versions Azure serves the secrets API
// at: 7.0 and later ("7.4", "7.6-preview.2") and the dated ones that
// followed 7.6 ("2025-07-01", "2026-04-01"), with or without a preview
// suffix. A request without one is refused, as Azure refuses it.
func checkAPIVersion(v string) error {
	if v == "" {
		return badParam("The 'api-version' query parameter is missing. Use api-version 7.0 or later, such as 7.6 or 2025-07-01.")
	}
	bad := badParam("The api-version %q is not supported. Use 7.0 or later, such as 7.6 or 2025-07-01.", clip(v))
	if len(v) > 32 {
		return bad
	}
	if t, err := time.Parse("2006-01-02", v[:min(len(v), 10)]); err == nil {
		rest := v[10:]
		if t.Year() >= 2025 && (rest == "" || strings.HasPrefix(rest, "-preview")) {
			return nil
		}
		return bad
	}
	num, _, _ := strings.Cut(v, "-")
	maj, minor, ok := strings.Cut(num, ".")
	a, err1 := strconv.Atoi(maj)
	b, err2 := strconv.Atoi(minor)
	if !ok || err1 != nil || err2 != nil || a < 7 || a > 99 || b < 0 || b > 99 {
		return bad
	}
	return nil
}

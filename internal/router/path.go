package router

import (
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// MaxPathLength is the longest request path [CleanPath] accepts, in bytes.
const MaxPathLength = 4096

// CleanPath checks a request path (without a leading "/v1/") and returns
// it unchanged. It is the one path rule: the HTTP layer applies it to
// every request and sys/capabilities* to every path it is asked about, so
// that a path a request cannot reach is never reported as reachable.
//
// Empty segments, "." and ".." are refused rather than resolved, so that
// no request can name a path outside the mount it appears to address. A
// segment that still reads "." or ".." once percent-decoded (a client's
// "%2e%2e" sent escaped again) is refused as well. A trailing slash is
// kept: it matters for listing. A path must be valid UTF-8. Errors are [logical.ErrInvalidRequest].
func CleanPath(p string) (string, error) {
	if p == "" {
		return "", logical.InvalidRequest("missing request path")
	}
	if strings.ContainsRune(p, 0) || len(p) > MaxPathLength {
		return "", logical.InvalidRequest("invalid request path")
	}
	if !utf8.ValidString(p) {
		return "", logical.InvalidRequest("invalid request path: not valid UTF-8")
	}
	trimmed := strings.TrimSuffix(p, "/")
	for seg := range strings.SplitSeq(trimmed, "/") {
		if seg == "" {
			return "", logical.InvalidRequest("invalid request path: empty path segment")
		}
		if isDotSegment(seg) {
			return "", logical.InvalidRequest("invalid request path: \".\" and \"..\" segments are not allowed")
		}
	}
	return p, nil
}

// isDotSegment reports whether seg is "." or "..", directly or under any
// number of percent-encodings.
func isDotSegment(seg string) bool {
	for {
		if seg == "." || seg == ".." {
			return true
		}
		if !strings.Contains(seg, "%") {
			return false
		}
		dec, err := url.PathUnescape(seg)
		if err != nil || dec == seg {
			return false
		}
		seg = dec
	}
}

// CleanMountPath turns a user-given mount path ("secret" or "/secret/")
// into the form the mount table uses, "secret/". It refuses a path that is
// empty, has empty, "." or ".." segments, or contains *, +, ?, #, % or
// NUL. Errors are [logical.ErrInvalidRequest].
func CleanMountPath(p string) (string, error) {
	p = strings.Trim(p, "/")
	if p == "" {
		return "", logical.InvalidRequest("mount path must not be empty")
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", logical.InvalidRequest("invalid mount path %q: empty, \".\" or \"..\" segments are not allowed", p)
		}
	}
	if strings.ContainsAny(p, "*+?#%\x00") {
		return "", logical.InvalidRequest("invalid mount path %q: it may not contain *, +, ?, #, %% or NUL", p)
	}
	return p + "/", nil
}

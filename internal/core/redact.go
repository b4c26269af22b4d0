package core

import (
	"errors"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// tokenMountPath is where the token store's API is mounted.
const tokenMountPath = "auth/token/"

// redacted stands for the part of a path that may hold a secret.
const redacted = "[redacted]"

// RedactPath returns path (a request path without "/v1/") fit for logs,
// audit entries and error messages. A path under auth/token/ that the
// token store does not serve may carry a token a client put in the URL
// (auth/token/lookup/<token>, a form Coffer does not serve): everything
// after the endpoint name, or after auth/token/ when the first segment
// names no endpoint, is replaced with "[redacted]". Any other path comes
// back unchanged. It is safe for concurrent use and works on paths that
// failed [router.CleanPath].
func (c *Core) RedactPath(path string) string {
	rel, ok := strings.CutPrefix(path, tokenMountPath)
	if !ok || rel == "" || c.tokenAPI.Serves(rel) {
		return path
	}
	head, _, more := strings.Cut(rel, "/")
	if more && head != "" && (c.tokenAPI.Serves(head) || c.tokenAPI.Serves(head+"/")) {
		return tokenMountPath + head + "/" + redacted
	}
	return tokenMountPath + redacted
}

// redactError rewrites the client message of err for a request to path so
// that it repeats no part [Core.RedactPath] hides. err is returned as is
// when the path needs no redaction or is not a [logical.Error].
func (c *Core) redactError(path string, err error) error {
	if err == nil {
		return nil
	}
	safe := c.RedactPath(path)
	if safe == path {
		return err
	}
	le, ok := errors.AsType[*logical.Error](err)
	if !ok {
		return err
	}
	hidden := path[len(strings.TrimSuffix(safe, redacted)):]
	if hidden == "" || !strings.Contains(le.Msg, hidden) {
		return err
	}
	return &logical.Error{Kind: le.Kind, Msg: strings.ReplaceAll(le.Msg, hidden, redacted), Err: le.Err}
}

package azureapi

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/coffer-secrets/coffer/internal/core"
	"github.com/coffer-secrets/coffer/internal/ha"
	"github.com/coffer-secrets/coffer/internal/logical"
)

// Azure error codes this package answers.
const (
	codeBadParameter   = "BadParameter"
	codeUnauthorized   = "Unauthorized"
	codeForbidden      = "Forbidden"
	codeNotFound       = "SecretNotFound"
	codeConflict       = "Conflict"
	codeDeleted        = "ObjectIsDeletedButRecoverable"
	codeMethod         = "MethodNotAllowed"
	codeTooLarge       = "RequestBodyTooLarge"
	codeInternal       = "InternalServerError"
	codeUnavailable    = "ServiceUnavailable"
	codeThrottled      = "Throttled"
	codeDisabled       = "SecretDisabled"
	codeExpired        = "SecretExpired"
	codeNotYetValid    = "SecretNotYetValid"
	codeUnknownRequest = "NotFound"
)

// apiError is a failure in Azure's words.
type apiError struct {
	status int
	code   string
	msg    string
	inner  string // innererror code, "" for none
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func fail(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

func badParam(format string, args ...any) *apiError {
	return fail(http.StatusBadRequest, codeBadParameter, format, args...)
}

func notFound(name string) *apiError {
	return fail(http.StatusNotFound, codeNotFound, "A secret with (name/id) %s was not found in this key vault.", name)
}

func deletedNotFound(name string) *apiError {
	return fail(http.StatusNotFound, codeNotFound, "Deleted Secret not found: %s", name)
}

func deletedConflict(name string) *apiError {
	return fail(http.StatusConflict, codeConflict, "Secret %s is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.", name).withInner(codeDeleted)
}

func (e *apiError) withInner(code string) *apiError {
	e.inner = code
	return e
}

// toAPI turns an error from the core pipeline (or this package) into an
// Azure error. Known kinds keep their client-safe message; anything else
// is an InternalServerError whose cause the caller logs.
func toAPI(err error) (e *apiError, known bool) {
	if ae, ok := errors.AsType[*apiError](err); ok {
		return ae, true
	}
	switch {
	case errors.Is(err, core.ErrInvalidToken):
		// Not a Coffer token that is live: Key Vault's 401 for a bad
		// bearer token (the handler adds the challenge), not a 403.
		return fail(http.StatusUnauthorized, codeUnauthorized, "AKV10032: The bearer token is not a live Coffer token (unknown, expired or revoked)."), true
	case errors.Is(err, logical.ErrPermissionDenied), errors.Is(err, logical.ErrInvalidCredentials):
		return fail(http.StatusForbidden, codeForbidden, "%s", err.Error()), true
	case errors.Is(err, logical.ErrNotFound), errors.Is(err, logical.ErrUnsupportedPath):
		return fail(http.StatusNotFound, codeNotFound, "%s", err.Error()), true
	case errors.Is(err, logical.ErrConflict):
		return fail(http.StatusConflict, codeConflict, "%s", err.Error()), true
	case errors.Is(err, logical.ErrInvalidRequest), errors.Is(err, logical.ErrUnsupportedOperation):
		return badParam("%s", err.Error()), true
	case errors.Is(err, logical.ErrTooLarge):
		return fail(http.StatusRequestEntityTooLarge, codeTooLarge, "the request body is too large"), true
	case errors.Is(err, core.ErrSealed):
		return fail(http.StatusServiceUnavailable, codeUnavailable, "Coffer is sealed"), true
	case errors.Is(err, ha.ErrStandby), errors.Is(err, ha.ErrNoActive):
		return fail(http.StatusServiceUnavailable, codeUnavailable, "this Coffer node is a standby; send the request to the active node"), true
	}
	return fail(http.StatusInternalServerError, codeInternal, "internal error"), false
}

package awsapi

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/coffer-secrets/coffer/internal/awsauth"
	"github.com/coffer-secrets/coffer/internal/core"
	"github.com/coffer-secrets/coffer/internal/ha"
	"github.com/coffer-secrets/coffer/internal/logical"
)

// AWS error codes (the JSON protocol's __type) this package answers.
const (
	codeAccessDenied       = "AccessDeniedException"
	codeInvalidParameter   = "InvalidParameterException"
	codeInvalidRequest     = "InvalidRequestException"
	codeInvalidNextToken   = "InvalidNextTokenException"
	codeResourceNotFound   = "ResourceNotFoundException"
	codeResourceExists     = "ResourceExistsException"
	codeLimitExceeded      = "LimitExceededException"
	codeSerialization      = "SerializationException"
	codeUnknownOperation   = "UnknownOperationException"
	codeInternalFailure    = "InternalFailure"
	codeServiceUnavailable = "ServiceUnavailable"
	codeTooLarge           = "RequestEntityTooLargeException"
	codeThrottling         = "ThrottlingException"
)

// apiError is a failure in AWS's words.
type apiError struct {
	code   string
	msg    string
	status int
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

// fail returns an error answered with code and a 400, as AWS answers
// every client error of this service.
func fail(code, format string, args ...any) *apiError {
	return &apiError{code: code, msg: fmt.Sprintf(format, args...), status: http.StatusBadRequest}
}

func notFound() *apiError {
	return fail(codeResourceNotFound, "Secrets Manager can't find the specified secret.")
}

func invalidParam(format string, args ...any) *apiError {
	return fail(codeInvalidParameter, format, args...)
}

// toAPI turns an error from the core pipeline (or this package) into an
// AWS error. Known kinds keep their client-safe message; anything else is
// an InternalFailure whose cause the caller logs.
func toAPI(err error) (e *apiError, known bool) {
	if ae, ok := errors.AsType[*apiError](err); ok {
		return ae, true
	}
	if ae, ok := errors.AsType[*awsauth.Error](err); ok {
		return &apiError{code: ae.Code, msg: ae.Message, status: ae.Status}, true
	}
	switch {
	case errors.Is(err, logical.ErrPermissionDenied):
		return fail(codeAccessDenied, "%s", err.Error()), true
	case errors.Is(err, logical.ErrNotFound), errors.Is(err, logical.ErrUnsupportedPath):
		return notFound(), true
	case errors.Is(err, logical.ErrInvalidRequest), errors.Is(err, logical.ErrConflict):
		return fail(codeInvalidRequest, "%s", err.Error()), true
	case errors.Is(err, logical.ErrUnsupportedOperation):
		return fail(codeInvalidRequest, "%s", err.Error()), true
	case errors.Is(err, logical.ErrTooLarge):
		return &apiError{code: codeTooLarge, msg: "the request body is too large", status: http.StatusRequestEntityTooLarge}, true
	case errors.Is(err, core.ErrSealed):
		return &apiError{code: codeServiceUnavailable, msg: "Coffer is sealed", status: http.StatusServiceUnavailable}, true
	case errors.Is(err, ha.ErrStandby), errors.Is(err, ha.ErrNoActive):
		// Reached when the request was not forwarded (forwarding is off,
		// no active node is known, or this node stepped down while
		// serving it): an AWS client retries a 503 on its own.
		return &apiError{code: codeServiceUnavailable, msg: "this Coffer node is a standby and could not pass the request to an active node; retry, or send it to the active node", status: http.StatusServiceUnavailable}, true
	}
	return &apiError{code: codeInternalFailure, msg: "internal error", status: http.StatusInternalServerError}, false
}

package logical

import (
	"errors"
	"fmt"
	"time"
)

// The kinds of request failure. Each decides one HTTP status in httpapi;
// match them with errors.Is.
var (
	ErrInvalidRequest       = errors.New("invalid request")
	ErrPermissionDenied     = errors.New("permission denied")
	ErrNotFound             = errors.New("not found")
	ErrUnsupportedOperation = errors.New("unsupported operation")
	ErrUnsupportedPath      = errors.New("unsupported path")
	ErrUpstream             = errors.New("upstream failure")
	// ErrTooLarge is a request body or value over a size limit.
	ErrTooLarge = errors.New("request too large")
	// ErrConflict is a failed check-and-set or a similar precondition.
	ErrConflict = errors.New("conflict")
	// ErrInvalidCredentials is a refused login: credentials that are
	// wrong, unknown, expired, used up or not accepted by the method's
	// rules. It is not ErrPermissionDenied, which is about a token; core
	// counts it as a failed login for user lockout.
	ErrInvalidCredentials = errors.New("invalid credentials")
	// ErrRateLimited is a request refused because its caller sent too
	// many lately; see [RateLimitError] for when to try again.
	ErrRateLimited = errors.New("rate limited")
	// ErrUnavailable is a request refused because what it needs is not
	// ready yet (the leak index still building); see
	// [UnavailableError] for when to try again.
	ErrUnavailable = errors.New("temporarily unavailable")
)

// Error is a request failure. Msg is sent to the API client as is; Err is
// logged with the request ID and never sent. Kind is one of the Err* kinds.
type Error struct {
	Kind error
	Msg  string
	Err  error
}

func (e *Error) Error() string { return e.Msg }

// Unwrap exposes both the kind and the cause to errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// InvalidRequest returns an [ErrInvalidRequest] error with a client message.
func InvalidRequest(format string, args ...any) error {
	return &Error{Kind: ErrInvalidRequest, Msg: fmt.Sprintf(format, args...)}
}

// InvalidCredentials returns an [ErrInvalidCredentials] error with msg for
// the client and cause (which may be nil) for the server log only. Neither
// may hold the credentials themselves.
func InvalidCredentials(msg string, cause error) error {
	return &Error{Kind: ErrInvalidCredentials, Msg: msg, Err: cause}
}

// NotFound returns an [ErrNotFound] error with a client message.
func NotFound(format string, args ...any) error {
	return &Error{Kind: ErrNotFound, Msg: fmt.Sprintf(format, args...)}
}

// PermissionDenied returns the standard [ErrPermissionDenied] error.
func PermissionDenied() error {
	return &Error{Kind: ErrPermissionDenied, Msg: "permission denied"}
}

// Unsupported returns an [ErrUnsupportedOperation] error for op on path.
func Unsupported(op Operation, path string) error {
	return &Error{Kind: ErrUnsupportedOperation, Msg: fmt.Sprintf("unsupported operation %q on path %q", op, path)}
}

// UnsupportedPath returns an [ErrUnsupportedPath] error for path.
func UnsupportedPath(path string) error {
	return &Error{Kind: ErrUnsupportedPath, Msg: fmt.Sprintf("unsupported path %q", path)}
}

// RateLimitError is an [ErrRateLimited] failure: Msg is sent to the
// client, RetryAfter says when a retry may succeed (the HTTP layer sends
// it as Retry-After, in whole seconds, at least 1).
type RateLimitError struct {
	Msg        string
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string { return e.Msg }

// Unwrap makes errors.Is(e, ErrRateLimited) true.
func (e *RateLimitError) Unwrap() error { return ErrRateLimited }

// UnavailableError is an [ErrUnavailable] failure: Msg is sent to the
// client, RetryAfter says when a retry may succeed (the HTTP layer answers
// 503 and sends it as Retry-After, in whole seconds, at least 1).
type UnavailableError struct {
	Msg        string
	RetryAfter time.Duration
}

func (e *UnavailableError) Error() string { return e.Msg }

// Unwrap makes errors.Is(e, ErrUnavailable) true.
func (e *UnavailableError) Unwrap() error { return ErrUnavailable }

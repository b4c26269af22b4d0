package gcpapi

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/coffer-secrets/coffer/internal/core"
	"github.com/coffer-secrets/coffer/internal/ha"
	"github.com/coffer-secrets/coffer/internal/logical"
)

// invalidArg is an InvalidArgument status.
func invalidArg(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

// secretNotFound answers a secret that is not there, in Google's words.
func secretNotFound(n secretName) error {
	return status.Errorf(codes.NotFound, "Secret [%s] not found.", n)
}

// versionNotFound answers a version that is not there.
func versionNotFound(n versionName) error {
	return status.Errorf(codes.NotFound, "Secret Version [%s] not found.", n)
}

// etagMismatch answers a call whose etag is not the resource's current
// one: FAILED_PRECONDITION, as Google's API answers it.
func etagMismatch(kind, name string) error {
	return status.Errorf(codes.FailedPrecondition, "The etag provided in the request does not match the current etag of %s [%s].", kind, name)
}

// toStatus turns an error from the core pipeline (or this package) into
// a gRPC status, as Google's API uses the codes. known is false for an
// unexpected error, whose cause the caller logs and never sends.
func toStatus(err error) (st *status.Status, known bool) {
	if s, ok := status.FromError(err); ok {
		return s, true
	}
	switch {
	case errors.Is(err, core.ErrSealed):
		return status.New(codes.Unavailable, "Coffer is sealed"), true
	case errors.Is(err, ha.ErrStandby), errors.Is(err, ha.ErrNoActive):
		// A standby serves KV reads itself and forwards the calls that
		// change secrets (forward.go); what is left needs the active
		// node: the client retries there.
		return status.New(codes.Unavailable, "this Coffer node is a standby and cannot serve this call: send it to the gcp_secret_manager listener of the active node (sys/leader names it)"), true
	case errors.Is(err, logical.ErrPermissionDenied):
		return status.New(codes.PermissionDenied, fmt.Sprintf("permission denied by Coffer's ACL policies: %s", err)), true
	case errors.Is(err, logical.ErrNotFound), errors.Is(err, logical.ErrUnsupportedPath):
		return status.New(codes.NotFound, "not found"), true
	case errors.Is(err, logical.ErrConflict):
		return status.New(codes.Aborted, "the secret changed during the call; retry"), true
	case errors.Is(err, logical.ErrInvalidRequest):
		return status.New(codes.InvalidArgument, err.Error()), true
	case errors.Is(err, logical.ErrUnsupportedOperation):
		return status.New(codes.FailedPrecondition, err.Error()), true
	case errors.Is(err, logical.ErrTooLarge):
		return status.New(codes.InvalidArgument, "the request is too large"), true
	}
	return status.New(codes.Internal, "internal error"), false
}

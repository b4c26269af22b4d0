package gcpapi

import (
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/coffer-secrets/coffer/internal/core"
	"github.com/coffer-secrets/coffer/internal/ha"
	"github.com/coffer-secrets/coffer/internal/logical"
)

func TestToStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		err   error
		want  codes.Code
		known bool
	}{
		{"status", invalidArg("x"), codes.InvalidArgument, true},
		{"sealed", fmt.Errorf("read: %w", core.ErrSealed), codes.Unavailable, true},
		{"standby", ha.ErrStandby, codes.Unavailable, true},
		{"denied", logical.ErrPermissionDenied, codes.PermissionDenied, true},
		{"not found", logical.ErrNotFound, codes.NotFound, true},
		{"no mount", logical.ErrUnsupportedPath, codes.NotFound, true},
		{"conflict", &logical.Error{Kind: logical.ErrConflict, Msg: "cas"}, codes.Aborted, true},
		{"invalid", logical.InvalidRequest("bad"), codes.InvalidArgument, true},
		{"unsupported", logical.ErrUnsupportedOperation, codes.FailedPrecondition, true},
		{"too large", logical.ErrTooLarge, codes.InvalidArgument, true},
		{"other", errors.New("disk on fire"), codes.Internal, false},
	}
	for _, tt := range tests {
		st, known := toStatus(tt.err)
		if st.Code() != tt.want || known != tt.known {
			t.Errorf("toStatus(%s) = %v, %v; want %v, %v", tt.name, st.Code(), known, tt.want, tt.known)
		}
		if !tt.known && st.Message() == "disk on fire" {
			t.Errorf("toStatus(%s) sent the internal cause", tt.name)
		}
	}
}

func TestBearer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   []string
		want string
	}{
		{[]string{"Bearer abc"}, "abc"},
		{[]string{"bearer  abc "}, "abc"},
		{nil, ""},
		{[]string{"Basic abc"}, ""},
		{[]string{"Bearer "}, ""},
		{[]string{"Bearer a", "Bearer b"}, ""},
		{[]string{"Bearer " + string(make([]byte, maxTokenLen+1))}, ""},
	}
	for _, tt := range tests {
		got, err := bearer(tt.in)
		if got != tt.want || (err == nil) != (tt.want != "") {
			t.Errorf("bearer(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

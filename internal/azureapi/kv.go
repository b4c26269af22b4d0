package azureapi

import (
	"context"
	"errors"
	"net/url"
	"strconv"

	"github.com/coffer-secrets/coffer/internal/core"
	"github.com/coffer-secrets/coffer/internal/kvpayload"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/token"
)

// session is one Azure request: the caller's token, where the request
// came from, and the vault URL the client used. Its methods make core
// requests on the mount.
type session struct {
	h     *Handler
	ctx   context.Context
	token string
	reqID string
	conn  *logical.Connection
	base  string // "https://HOST", the vault URL ids start with
	query url.Values
}

// do sends one request for path (relative to the mount) through the
// pipeline and decodes its data into out (when out is non-nil). A read
// that finds nothing is logical.ErrNotFound.
func (s *session) do(op logical.Operation, path string, query url.Values, body, out any) error {
	return core.CallJSON(s.ctx, s.h.core, &core.Request{
		Request: &logical.Request{
			ID:         s.reqID,
			Operation:  op,
			Path:       s.h.mount + path,
			Query:      query,
			Connection: s.conn,
		},
		ClientToken: token.ID(s.token),
	}, body, out)
}

// kvMeta is the answer to a metadata/, deleted/ or recover/ request.
type kvMeta struct {
	CurrentVersion     int               `json:"current_version"`
	CustomMetadata     map[string]string `json:"custom_metadata"`
	UpdatedTime        string            `json:"updated_time"`
	Versions           map[int]kvVerInfo `json:"versions"`
	DeletionTime       string            `json:"deletion_time"`
	RecoverableUntil   string            `json:"recoverable_until"`
	RecoveryWindowDays *int              `json:"recovery_window_days"`
	Rotation           *struct {
		PendingVersion int `json:"pending_version"`
	} `json:"rotation"`
}

// kvVerInfo is one version in a metadata read.
type kvVerInfo struct {
	CreatedTime  string `json:"created_time"`
	DeletionTime string `json:"deletion_time"`
	Destroyed    bool   `json:"destroyed"`
}

// usable reports whether version n is retained and readable.
func (m *kvMeta) usable(n int) bool {
	v, ok := m.Versions[n]
	return ok && !v.Destroyed && v.DeletionTime == ""
}

// newest is the highest retained version number, at least the current
// one.
func (m *kvMeta) newest() int {
	n := m.CurrentVersion
	if m.Rotation != nil {
		n = max(n, m.Rotation.PendingVersion)
	}
	for v := range m.Versions {
		n = max(n, v)
	}
	return n
}

// readData reads version n of name (0: the current one).
func (s *session) readData(name string, n int) (*kvpayload.Read, error) {
	var q url.Values
	if n > 0 {
		q = url.Values{"version": {strconv.Itoa(n)}}
	}
	d := new(kvpayload.Read)
	if err := s.do(logical.ReadOperation, "data/"+name, q, nil, d); err != nil {
		return nil, err
	}
	if d.Data == nil || d.Metadata.Destroyed || d.Metadata.DeletionTime != "" {
		return nil, logical.ErrNotFound
	}
	return d, nil
}

// readMeta reads name's metadata (path "metadata/" or "deleted/").
func (s *session) readMeta(path, name string) (*kvMeta, error) {
	m := new(kvMeta)
	if err := s.do(logical.ReadOperation, path+name, nil, nil, m); err != nil {
		return nil, err
	}
	return m, nil
}

// writeResult is the answer to a data/ write.
type writeResult struct {
	Version     int    `json:"version"`
	CreatedTime string `json:"created_time"`
}

// isNotFound reports whether err says the secret is not there.
func isNotFound(err error) bool {
	return errors.Is(err, logical.ErrNotFound) || errors.Is(err, logical.ErrUnsupportedPath)
}

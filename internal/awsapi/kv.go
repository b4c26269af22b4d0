package awsapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"

	"github.com/coffer-secrets/coffer/internal/core"
	"github.com/coffer-secrets/coffer/internal/kvpayload"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/token"
)

// session is one AWS request: the caller's token and where the request
// came from. Its methods make core requests on the mount.
type session struct {
	h      *Handler
	ctx    context.Context
	token  string
	reqID  string
	conn   *logical.Connection
	region string
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

// kvMeta is the answer to a metadata/ (or deleted/) read.
type kvMeta struct {
	CreatedTime      string            `json:"created_time"`
	CurrentVersion   int               `json:"current_version"`
	CustomMetadata   map[string]string `json:"custom_metadata"`
	OldestVersion    int               `json:"oldest_version"`
	UpdatedTime      string            `json:"updated_time"`
	Versions         map[int]kvVerInfo `json:"versions"`
	DeletionTime     string            `json:"deletion_time"`
	RecoverableUntil string            `json:"recoverable_until"`
	LastReadTime     string            `json:"last_read_time"`
	Rotation         *kvRotation       `json:"rotation"`
}

// kvVerInfo is one version in a metadata read.
type kvVerInfo struct {
	CreatedTime  string `json:"created_time"`
	DeletionTime string `json:"deletion_time"`
	Destroyed    bool   `json:"destroyed"`
}

// kvRotation is the rotation summary of a metadata read.
type kvRotation struct {
	Period          json.RawMessage `json:"period"`
	Schedule        string          `json:"schedule"`
	NextRotation    string          `json:"next_rotation"`
	LastRotation    string          `json:"last_rotation"`
	PendingVersion  int             `json:"pending_version"`
	PreviousVersion int             `json:"previous_version"`
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
	return d, nil
}

// readMeta reads name's metadata.
func (s *session) readMeta(name string) (*kvMeta, error) {
	m := new(kvMeta)
	if err := s.do(logical.ReadOperation, "metadata/"+name, nil, nil, m); err != nil {
		return nil, err
	}
	return m, nil
}

// readDeleted reads the metadata of name scheduled for deletion; a
// secret that is not is logical.ErrNotFound.
func (s *session) readDeleted(name string) (*kvMeta, error) {
	m := new(kvMeta)
	if err := s.do(logical.ReadOperation, "deleted/"+name, nil, nil, m); err != nil {
		return nil, err
	}
	return m, nil
}

// writeResult is the answer to a data/ write.
type writeResult struct {
	Version     int    `json:"version"`
	CreatedTime string `json:"created_time"`
}

// versionWrite is one new version of a secret, written with one core
// request (KV's Coffer extensions, docs/aws-secrets-manager.md): KV
// stores the version, the custom_metadata changes and whether it is
// current in one storage transaction, or nothing.
type versionWrite struct {
	data map[string]string
	// cas is the current version the write expects (0: the key must have
	// none); n is the number the new version must get. Either differing
	// is a conflict: the secret changed since it was read.
	cas, n int
	// staged writes the version not current (AWSPENDING and custom
	// labels only): Vault readers keep getting the current version.
	staged bool
	// changes patches custom_metadata: a nil value removes a key.
	changes map[string]*string
}

// writeVersion makes w's request.
func (s *session) writeVersion(name string, w versionWrite) (*writeResult, error) {
	opts := map[string]any{"cas": w.cas, "version": w.n}
	if w.staged {
		opts["current"] = false
	}
	if len(w.changes) > 0 {
		opts["custom_metadata"] = w.changes
	}
	out := new(writeResult)
	if err := s.do(logical.UpdateOperation, "data/"+name, nil, map[string]any{"data": w.data, "options": opts}, out); err != nil {
		return nil, err
	}
	return out, nil
}

// patchCustom merges changes into name's custom_metadata; a nil value
// removes the key.
func (s *session) patchCustom(name string, changes map[string]*string) error {
	if len(changes) == 0 {
		return nil
	}
	return s.do(logical.PatchOperation, "metadata/"+name, nil, map[string]any{"custom_metadata": changes}, nil)
}

// isNotFound reports whether err says the secret is not there.
func isNotFound(err error) bool {
	return errors.Is(err, logical.ErrNotFound) || errors.Is(err, logical.ErrUnsupportedPath)
}

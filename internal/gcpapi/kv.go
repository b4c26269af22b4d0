package gcpapi

import (
	"encoding/json"
	"errors"
	"net/url"
	"time"

	"github.com/coffer-secrets/coffer/internal/core"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/token"
)

// mount answers project's KV mount, e.g. "gcp-my-project/".
func (c *call) mount(project string) string {
	return c.s.prefix + project + "/"
}

// do sends one request for path (relative to project's mount) through
// the pipeline and decodes its data into out (when out is non-nil). A
// read that finds nothing is logical.ErrNotFound.
func (c *call) do(op logical.Operation, project, path string, query url.Values, body, out any) error {
	return core.CallJSON(c.ctx, c.s.core, &core.Request{
		Request: &logical.Request{
			ID:         c.reqID,
			Operation:  op,
			Path:       c.mount(project) + path,
			Query:      query,
			Connection: c.conn,
		},
		ClientToken: token.ID(c.token),
	}, body, out)
}

// expectNone is KV's ?expect_updated_time value for a key that must not
// exist yet.
const expectNone = "none"

// expect is the query of a metadata write, patch or delete that applies
// only if the key's metadata still has updated_time updated (expectNone:
// only if there is no key); otherwise KV answers a conflict and changes
// nothing. It is how a check of what the call read (an etag, "does not
// exist") and the write are one atomic core request (internal/engine/kv,
// stage.go).
func expect(updated string) url.Values {
	return url.Values{"expect_updated_time": {updated}}
}

// kvMeta is the answer to a metadata/ read.
type kvMeta struct {
	CreatedTime    string            `json:"created_time"`
	CurrentVersion int               `json:"current_version"`
	CustomMetadata map[string]string `json:"custom_metadata"`
	UpdatedTime    string            `json:"updated_time"`
	Versions       map[int]kvVerInfo `json:"versions"`
	ExpireAt       string            `json:"expire_at"`
}

// kvVerInfo is one version in a metadata read.
type kvVerInfo struct {
	CreatedTime  string `json:"created_time"`
	DeletionTime string `json:"deletion_time"`
	Destroyed    bool   `json:"destroyed"`
}

// kvData is the answer to a data/ read.
type kvData struct {
	Data     map[string]json.RawMessage `json:"data"`
	Metadata struct {
		Version int `json:"version"`
	} `json:"metadata"`
}

// readMeta reads the secret's metadata; a missing one is its NotFound.
func (c *call) readMeta(n secretName) (*kvMeta, error) {
	m := new(kvMeta)
	if err := c.do(logical.ReadOperation, n.project, "metadata/"+n.secret, nil, nil, m); err != nil {
		if isNotFound(err) {
			return nil, secretNotFound(n)
		}
		return nil, err
	}
	if m.CustomMetadata == nil {
		m.CustomMetadata = map[string]string{}
	}
	return m, nil
}

// isNotFound reports whether err says the secret (or its mount) is not
// there.
func isNotFound(err error) bool {
	return errors.Is(err, logical.ErrNotFound) || errors.Is(err, logical.ErrUnsupportedPath)
}

// latest is the version "latest" names: the highest version number KV
// retains (Google's alias names the newest version whatever its state),
// 0 when the secret has none.
func (m *kvMeta) latest() int {
	n := 0
	for v := range m.Versions {
		n = max(n, v)
	}
	return n
}

// versionState is a version's state in Google's terms.
type versionState int

const (
	stateEnabled versionState = iota
	stateDisabled
	stateDestroyed
)

// state answers the state of version info at now: destroyed, disabled
// (soft-deleted: a deletion time that has passed) or enabled.
func (info kvVerInfo) state(now time.Time) versionState {
	if info.Destroyed {
		return stateDestroyed
	}
	if info.DeletionTime != "" {
		t, err := time.Parse(time.RFC3339Nano, info.DeletionTime)
		if err != nil || !t.After(now) {
			return stateDisabled
		}
	}
	return stateEnabled
}

package kv

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// Storage key prefixes of KV version 2.
const (
	configKey  = "config"
	metaPrefix = "meta/"
	verPrefix  = "ver/"
)

// defaultMaxVersions is how many versions a key keeps when neither the
// mount nor the key sets max_versions, as in Vault.
const defaultMaxVersions = 10

// Limits on custom_metadata, as in Vault.
const (
	maxCustomMetadataKeys       = 64
	maxCustomMetadataKeyBytes   = 128
	maxCustomMetadataValueBytes = 512
)

func metaKey(p string) string { return metaPrefix + p }

// verKey is where version n of p lives. The version number is the last
// segment and never contains "/", so distinct (p, n) give distinct keys.
func verKey(p string, n int) string { return verPrefix + p + "/" + strconv.Itoa(n) }

// mountConfig is the stored configuration of a version 2 mount.
type mountConfig struct {
	MaxVersions        int           `json:"max_versions"`
	CASRequired        bool          `json:"cas_required"`
	DeleteVersionAfter time.Duration `json:"delete_version_after_ns"`
	mountLife
	rotationMountConfig
}

// keyMeta is the stored metadata of one key: its settings and every
// retained version, oldest first. Times are Unix nanoseconds, 0 for unset.
type keyMeta struct {
	Created            int64             `json:"created"`
	Updated            int64             `json:"updated"`
	Current            int               `json:"current"`
	Oldest             int               `json:"oldest"`
	MaxVersions        int               `json:"max_versions,omitempty"`
	CASRequired        bool              `json:"cas_required,omitempty"`
	DeleteVersionAfter time.Duration     `json:"delete_version_after_ns,omitempty"`
	CustomMetadata     map[string]string `json:"custom_metadata,omitempty"`
	Versions           []versionMeta     `json:"versions"`
	keyLife
	// Pending is the version a rotation wrote and has not made current
	// yet (0: none); see rotation.go.
	Pending int `json:"pending,omitempty"`
}

// touch sets the metadata's update time to now, or just after the
// previous one when the clock has not moved past it, so that
// updated_time changes with every write, patch and rotation of the key
// (?expect_updated_time, stage.go, relies on it). The caller holds the
// key's lock.
func (m *keyMeta) touch(now int64) {
	m.Updated = max(now, m.Updated+1)
}

// nextVersion is the number of the next version written: after the
// current one, a pending rotation's and every retained one.
func (m *keyMeta) nextVersion() int {
	n := max(m.Current, m.Pending)
	if k := len(m.Versions); k > 0 {
		n = max(n, m.Versions[k-1].N)
	}
	return n + 1
}

// versionMeta is the state of one version.
type versionMeta struct {
	N         int   `json:"n"`
	Created   int64 `json:"created"`
	Deleted   int64 `json:"deleted,omitempty"` // deletion time, possibly in the future
	Destroyed bool  `json:"destroyed,omitempty"`
	// Accessor and EntityID name the token that wrote the version, for
	// search, the access report and the versions of a metadata read
	// (created_by_accessor, created_by_entity_id: who wrote each version,
	// which the web UI shows), never a data read.
	Accessor string `json:"accessor,omitempty"`
	EntityID string `json:"entity_id,omitempty"`
}

// version returns version n of m, or nil when it is not retained.
func (m *keyMeta) version(n int) *versionMeta {
	for i := range m.Versions {
		if m.Versions[i].N == n {
			return &m.Versions[i]
		}
	}
	return nil
}

// gone reports whether v's data may not be read at now: destroyed, or
// deleted at or before now.
func (v *versionMeta) gone(now int64) bool {
	return v.Destroyed || (v.Deleted != 0 && v.Deleted <= now)
}

// loadMeta returns the metadata of p, or nil when p has none.
func loadMeta(ctx context.Context, s logical.Storage, p string) (*keyMeta, error) {
	m := new(keyMeta)
	ok, err := framework.GetJSON(ctx, s, metaKey(p), m)
	if !ok {
		return nil, err
	}
	return m, nil
}

func loadConfig(ctx context.Context, s logical.Storage) (*mountConfig, error) {
	c := new(mountConfig)
	if _, err := framework.GetJSON(ctx, s, configKey, c); err != nil {
		return nil, err
	}
	return c, nil
}

func putOp(key string, v any) (logical.TxnOp, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return logical.TxnOp{}, fmt.Errorf("encode %s: %w", key, err)
	}
	return logical.TxnOp{Key: key, Value: b}, nil
}

// formatTime renders Unix nanoseconds as Vault does: RFC 3339 with
// nanoseconds in UTC, "" for unset.
func formatTime(ns int64) string {
	if ns == 0 {
		return ""
	}
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}

// versionResponse is the metadata of one version in data, subkeys and
// write responses.
type versionResponse struct {
	CreatedTime    string            `json:"created_time"`
	CustomMetadata map[string]string `json:"custom_metadata"`
	DeletionTime   string            `json:"deletion_time"`
	Destroyed      bool              `json:"destroyed"`
	Version        int               `json:"version"`
}

func newVersionResponse(m *keyMeta, v *versionMeta) versionResponse {
	return versionResponse{
		CreatedTime:    formatTime(v.Created),
		CustomMetadata: m.CustomMetadata,
		DeletionTime:   formatTime(v.Deleted),
		Destroyed:      v.Destroyed,
		Version:        v.N,
	}
}

// versionInfo is one entry of the versions map in a metadata response.
type versionInfo struct {
	CreatedTime  string `json:"created_time"`
	DeletionTime string `json:"deletion_time"`
	Destroyed    bool   `json:"destroyed"`
	// CreatedByAccessor and CreatedByEntityID name the token that wrote
	// the version (Coffer's own fields, left out when unknown, as for
	// versions written before they were kept, and left out for a caller
	// who may not use sys/access/search: see mayKnowWriters).
	// sys/access/search answers the same two for a secret's current
	// version.
	CreatedByAccessor string `json:"created_by_accessor,omitempty"`
	CreatedByEntityID string `json:"created_by_entity_id,omitempty"`
}

// metadataResponse is the data of a metadata read.
type metadataResponse struct {
	CASRequired        bool                `json:"cas_required"`
	CreatedTime        string              `json:"created_time"`
	CurrentVersion     int                 `json:"current_version"`
	CustomMetadata     map[string]string   `json:"custom_metadata"`
	DeleteVersionAfter framework.Duration  `json:"delete_version_after"`
	MaxVersions        int                 `json:"max_versions"`
	OldestVersion      int                 `json:"oldest_version"`
	UpdatedTime        string              `json:"updated_time"`
	Versions           map[int]versionInfo `json:"versions"`
	lifeResponse
	// LastReadTime is when the key's data was last read on the active
	// node (a Coffer extension; absent when never read). Reads are kept
	// in memory and flushed about once a minute, so a crash may lose the
	// latest.
	LastReadTime string `json:"last_read_time,omitempty"`
	// Rotation summarises the key's rotation policy and state; absent
	// when it has none or the caller may not read rotation/<path>.
	Rotation *rotationSummary `json:"rotation,omitempty"`
}

// writersPath is the endpoint whose access a caller needs to see who
// wrote each version: it answers the same (created_by) for every secret.
const writersPath = "sys/access/search"

// mayKnowWriters reports whether the caller of req may see who wrote each
// version: an accessor lets a caller who may look up or revoke tokens by
// accessor act on the writer's token, so only a caller who may read
// sys/access/search (with sudo, as that endpoint needs), which answers
// the same, sees them; the entity ID follows the same rule.
func mayKnowWriters(req *logical.Request) bool {
	if req == nil || req.Access == nil {
		return false
	}
	// AllowedParams asks for sudo where a path needs it, as
	// sys/access/search does.
	return req.Access.AllowedParams(writersPath, logical.ReadOperation, nil)
}

// newMetadataResponse is m as a metadata read answers it; writers says
// whether each version names who wrote it ([mayKnowWriters]).
func newMetadataResponse(m *keyMeta, writers bool) *metadataResponse {
	r := &metadataResponse{
		CASRequired:        m.CASRequired,
		CreatedTime:        formatTime(m.Created),
		CurrentVersion:     m.Current,
		CustomMetadata:     m.CustomMetadata,
		DeleteVersionAfter: framework.Duration(m.DeleteVersionAfter),
		MaxVersions:        m.MaxVersions,
		OldestVersion:      m.Oldest,
		UpdatedTime:        formatTime(m.Updated),
		Versions:           make(map[int]versionInfo, len(m.Versions)),
		lifeResponse:       newLifeResponse(m),
	}
	for _, v := range m.Versions {
		vi := versionInfo{
			CreatedTime:  formatTime(v.Created),
			DeletionTime: formatTime(v.Deleted),
			Destroyed:    v.Destroyed,
		}
		if writers {
			vi.CreatedByAccessor, vi.CreatedByEntityID = v.Accessor, v.EntityID
		}
		r.Versions[v.N] = vi
	}
	return r
}

// configResponse is the data of a config read.
type configResponse struct {
	CASRequired        bool               `json:"cas_required"`
	DeleteVersionAfter framework.Duration `json:"delete_version_after"`
	MaxVersions        int                `json:"max_versions"`
	mountLifeResponse
	rotationConfigResponse
}

// checkCustomMetadata enforces Vault's limits on custom_metadata. Errors
// name the limit but never quote keys or values.
func checkCustomMetadata(cm map[string]string) error {
	if len(cm) > maxCustomMetadataKeys {
		return logical.InvalidRequest("custom_metadata has %d keys; the limit is %d", len(cm), maxCustomMetadataKeys)
	}
	for k, v := range cm {
		if k == "" {
			return logical.InvalidRequest("custom_metadata keys must not be empty")
		}
		if len(k) > maxCustomMetadataKeyBytes {
			return logical.InvalidRequest("a custom_metadata key is %d bytes; the limit is %d", len(k), maxCustomMetadataKeyBytes)
		}
		if len(v) > maxCustomMetadataValueBytes {
			return logical.InvalidRequest("a custom_metadata value is %d bytes; the limit is %d", len(v), maxCustomMetadataValueBytes)
		}
	}
	return nil
}

func durationOf(d framework.Duration) time.Duration { return time.Duration(d) }

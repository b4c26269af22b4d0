// Package token is Coffer's token store: it makes client tokens, keeps them
// by a salted hash of their ID (the ID itself is never stored), tracks the
// parent/child tree, counts limited uses, renews and revokes tokens, and
// sweeps expired ones.
//
// Service tokens live behind the barrier under "sys/token/". Batch tokens
// are not stored at all: their ID is the entry itself, encrypted by the
// barrier. The store keeps a cache of looked-up entries; cached entries are
// never modified (a change stores a new copy). Every method is safe for
// concurrent use. It must not import core, httpapi or any engine.
package token

import (
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"
)

// ID is a client token ID. It prints and logs as a placeholder; convert
// with string(id) only where the raw value is needed.
type ID string

func (ID) String() string { return "[token]" }

// LogValue keeps token IDs out of structured logs.
func (ID) LogValue() slog.Value { return slog.StringValue("[token]") }

// GoString keeps token IDs out of %#v output.
func (ID) GoString() string { return "[token]" }

// Prefixes of the token IDs Coffer makes.
const (
	ServicePrefix = "cfs."
	BatchPrefix   = "cfb."
)

// Token types.
const (
	TypeService = "service"
	TypeBatch   = "batch"
)

// Entry is what the store keeps about one token.
type Entry struct {
	// Accessor identifies the token without granting its access.
	Accessor string `json:"accessor"`
	// Policies are the token's own ACL policy names.
	Policies []string `json:"policies"`
	// Parent is the hashed ID of the parent token, "" for an orphan.
	Parent string `json:"parent,omitempty"`
	// DisplayName is a human name, e.g. "root" or "token-ci".
	DisplayName string `json:"display_name"`
	// Path is the creation path, e.g. "auth/token/create".
	Path string `json:"path"`
	// Meta is free-form metadata.
	Meta map[string]string `json:"meta,omitempty"`
	// CreationTime is when the token was made.
	CreationTime time.Time `json:"creation_time"`
	// LastRenewal is when the token was last renewed; zero if never.
	LastRenewal time.Time `json:"last_renewal,omitzero"`
	// CreationTTL is the TTL the token was created with.
	CreationTTL time.Duration `json:"creation_ttl"`
	// TTL is the lifetime from LastRenewal (or CreationTime); zero means it
	// does not expire.
	TTL time.Duration `json:"ttl"`
	// MaxTTL caps renewals relative to CreationTime; zero means none.
	MaxTTL time.Duration `json:"max_ttl,omitempty"`
	// ExplicitMaxTTL is a hard cap relative to CreationTime.
	ExplicitMaxTTL time.Duration `json:"explicit_max_ttl,omitempty"`
	// Period makes the token periodic: renewals reset TTL to Period.
	Period time.Duration `json:"period,omitempty"`
	// NumUses is the number of uses left; 0 means unlimited and -1 that
	// the last use has been taken and the token is being revoked.
	NumUses int `json:"num_uses,omitempty"`
	// Renewable says whether the token may be renewed.
	Renewable bool `json:"renewable"`
	// Type is TypeService or TypeBatch.
	Type string `json:"type"`
	// EntityID is the identity entity the token belongs to, if any.
	EntityID string `json:"entity_id,omitempty"`
	// BoundCIDRs restricts the addresses the token may be used from.
	BoundCIDRs []string `json:"bound_cidrs,omitempty"`
	// Role is the token role the token was created with, if any.
	Role string `json:"role,omitempty"`
	// MountAccessor is the accessor of the auth mount that issued the token.
	MountAccessor string `json:"mount_accessor,omitempty"`
	// InternalData is kept for the issuing auth method, never returned.
	InternalData map[string]string `json:"internal_data,omitempty"`
}

// UsableFrom reports whether the token may be used from address ip: it
// has no bound CIDRs, or ip is in one of them (an entry without a "/" is
// one address). A nil ip is in none.
func (e *Entry) UsableFrom(ip net.IP) bool {
	if len(e.BoundCIDRs) == 0 {
		return true
	}
	if ip == nil {
		return false
	}
	for _, c := range e.BoundCIDRs {
		if !strings.Contains(c, "/") {
			if other := net.ParseIP(c); other != nil && other.Equal(ip) {
				return true
			}
			continue
		}
		if _, n, err := net.ParseCIDR(c); err == nil && n.Contains(ip) {
			return true
		}
	}
	return false
}

// ExpireTime returns when e expires; the zero time means never.
func (e *Entry) ExpireTime() time.Time {
	if e.TTL <= 0 {
		return time.Time{}
	}
	base := e.CreationTime
	if !e.LastRenewal.IsZero() {
		base = e.LastRenewal
	}
	return base.Add(e.TTL)
}

// Expired reports whether e has outlived its TTL at now.
func (e *Entry) Expired(now time.Time) bool {
	exp := e.ExpireTime()
	return !exp.IsZero() && !now.Before(exp)
}

// IsRoot reports whether e carries the root policy.
func (e *Entry) IsRoot() bool {
	return slices.Contains(e.Policies, "root")
}

// clone returns a copy of e that may be modified.
func (e *Entry) clone() *Entry {
	cp := *e
	cp.Policies = slices.Clone(e.Policies)
	cp.BoundCIDRs = slices.Clone(e.BoundCIDRs)
	if e.Meta != nil {
		cp.Meta = make(map[string]string, len(e.Meta))
		for k, v := range e.Meta {
			cp.Meta[k] = v
		}
	}
	return &cp
}

// idBytes is how many random bytes a service token ID carries.
const idBytes = 24

// NewID returns a fresh service token ID with 192 bits of randomness.
func NewID() ID {
	var b [idBytes]byte
	rand.Read(b[:])
	return ID(ServicePrefix + base64.RawURLEncoding.EncodeToString(b[:]))
}

// newAccessor returns a fresh accessor: 26 characters of crypto/rand's
// base32 text (130 bits). Its alphabet has no '-', so an accessor never
// reads as a flag on a command line (`coffer token lookup -accessor X`);
// base64url accessors began with '-' once in 64.
func newAccessor() string { return rand.Text() }

// IDLength is the length of a service token ID, which a root generation's
// one-time pad must match.
func IDLength() int { return len(ServicePrefix) + base64.RawURLEncoding.EncodedLen(idBytes) }

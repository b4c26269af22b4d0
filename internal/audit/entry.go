package audit

import (
	"encoding/json"
	"time"
)

// Entry is what the broker records for one request or its response.
// Strings that may be secret (tokens, accessors, data leaves, metadata
// values) are given raw; each device HMACs them unless it logs raw. The
// broker never modifies an Entry; callers must not modify one while a Log
// call is running.
type Entry struct {
	// Time is when the request arrived or the response was made; the
	// broker's clock fills it when zero.
	Time time.Time
	// Auth describes the caller's token; nil for unauthenticated requests
	// such as logins.
	Auth *Auth
	// Request is the request, in both request and response entries.
	Request Request
	// Response is the response; only response entries carry one.
	Response *Response
	// Error is the client-safe error message, "" on success. It is written
	// as is, so it must never contain a secret.
	Error string
	// Forward says where a standby sent the request; only forward entries
	// ([Broker.LogForward]) carry one.
	Forward *Forward
}

// Forward is where a standby sent a request it did not serve itself.
type Forward struct {
	// Target is the active node's address the request went to.
	Target string
}

// Auth is the caller's token as the audit log describes it.
type Auth struct {
	ClientToken      string
	Accessor         string
	DisplayName      string
	Policies         []string
	TokenPolicies    []string
	IdentityPolicies []string
	// Metadata values are HMACed; keys are written as they are.
	Metadata  map[string]string
	EntityID  string
	TokenType string
	// TokenTTL is the token's TTL at issue; zero is omitted.
	TokenTTL time.Duration
	// TokenIssueTime is when the token was made; zero is omitted.
	TokenIssueTime time.Time
}

// Request is the request part of an entry.
type Request struct {
	ID                  string
	Operation           string
	MountType           string
	MountPoint          string
	MountAccessor       string
	ClientToken         string
	ClientTokenAccessor string
	// Path is the full request path, e.g. "secret/data/app".
	Path string
	// Data is the request body, a JSON object, or nil. Every string leaf
	// is HMACed except top-level keys listed in NonHMACKeys.
	Data json.RawMessage
	// NonHMACKeys are the mount's audit_non_hmac_request_keys.
	NonHMACKeys   []string
	RemoteAddress string
	// WrapTTL is the requested response-wrapping TTL; zero is omitted.
	WrapTTL time.Duration
}

// Response is the response part of a response entry.
type Response struct {
	MountType  string
	MountPoint string
	// Data is the response's data, a JSON value, or nil. Every string leaf
	// is HMACed except top-level keys listed in NonHMACKeys.
	Data json.RawMessage
	// NonHMACKeys are the mount's audit_non_hmac_response_keys.
	NonHMACKeys []string
	// LeaseID is the lease of a leased response, "" otherwise.
	LeaseID string
	// Auth is the token a login or token creation made, or nil.
	Auth *Auth
	// WrapInfo describes a wrapped response, or nil.
	WrapInfo *WrapInfo
}

// WrapInfo describes a response-wrapping token.
type WrapInfo struct {
	Token           string
	Accessor        string
	TTL             time.Duration
	CreationTime    time.Time
	CreationPath    string
	WrappedAccessor string
}

// The entry types a [Line] can have.
const (
	TypeRequest    = "request"
	TypeResponse   = "response"
	TypeCheckpoint = "checkpoint"
	// TypeTornWrite is the device's own record that a write failed part
	// way and the sink was cut back to its last complete line.
	TypeTornWrite = "torn_write"
	// TypeForward records that a standby sent a request to the active
	// node instead of serving it; the active node's log has the request
	// under the same request ID.
	TypeForward = "forward"
)

// Line is one line of an audit log as written, for readers such as
// package trail. Data fields stay raw JSON.
type Line struct {
	Seq      uint64 `json:"seq"`
	ChainID  string `json:"chain_id"`
	PrevHash string `json:"prev_hash"`
	Type     string `json:"type"`
	Time     string `json:"time"`
	// NodeID names the cluster node whose device wrote the line; empty
	// on a single server.
	NodeID   string        `json:"node_id,omitempty"`
	Auth     *LineAuth     `json:"auth,omitempty"`
	Request  *LineRequest  `json:"request,omitempty"`
	Forward  *LineForward  `json:"forward,omitempty"`
	Response *LineResponse `json:"response,omitempty"`
	Error    string        `json:"error,omitempty"`
	// Hash and Signature are set on checkpoint lines only.
	Hash      string `json:"hash,omitempty"`
	Signature string `json:"signature,omitempty"`
	// Offset, CutBytes and FailedWrites are set on torn_write lines only:
	// where the sink was cut back to, how many bytes of failed writes it
	// removed and how many writes failed. Error then names the first
	// failure.
	Offset       int64 `json:"offset,omitempty"`
	CutBytes     int64 `json:"cut_bytes,omitempty"`
	FailedWrites int64 `json:"failed_writes,omitempty"`
}

// LineAuth is the "auth" object of a line.
type LineAuth struct {
	ClientToken      string            `json:"client_token,omitempty"`
	Accessor         string            `json:"accessor,omitempty"`
	DisplayName      string            `json:"display_name,omitempty"`
	Policies         []string          `json:"policies,omitempty"`
	TokenPolicies    []string          `json:"token_policies,omitempty"`
	IdentityPolicies []string          `json:"identity_policies,omitempty"`
	Metadata         map[string]string `json:"metadata,omitempty"`
	EntityID         string            `json:"entity_id,omitempty"`
	TokenType        string            `json:"token_type,omitempty"`
	TokenTTL         int64             `json:"token_ttl,omitempty"`
	TokenIssueTime   string            `json:"token_issue_time,omitempty"`
}

// LineNamespace is the "namespace" object of a request; Coffer has only
// the root namespace.
type LineNamespace struct {
	ID string `json:"id"`
}

// LineRequest is the "request" object of a line.
type LineRequest struct {
	ID                  string          `json:"id,omitempty"`
	Operation           string          `json:"operation,omitempty"`
	MountType           string          `json:"mount_type,omitempty"`
	MountPoint          string          `json:"mount_point,omitempty"`
	MountAccessor       string          `json:"mount_accessor,omitempty"`
	ClientToken         string          `json:"client_token,omitempty"`
	ClientTokenAccessor string          `json:"client_token_accessor,omitempty"`
	Namespace           LineNamespace   `json:"namespace"`
	Path                string          `json:"path"`
	Data                json.RawMessage `json:"data,omitempty"`
	RemoteAddress       string          `json:"remote_address,omitempty"`
	WrapTTL             int64           `json:"wrap_ttl,omitempty"`
}

// LineResponse is the "response" object of a line.
type LineResponse struct {
	MountType  string          `json:"mount_type,omitempty"`
	MountPoint string          `json:"mount_point,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
	Secret     *LineSecret     `json:"secret,omitempty"`
	Auth       *LineAuth       `json:"auth,omitempty"`
	WrapInfo   *LineWrapInfo   `json:"wrap_info,omitempty"`
}

// LineForward is the "forward" object of a forward line.
type LineForward struct {
	Target string `json:"target"`
}

// LineSecret is the "secret" object of a leased response.
type LineSecret struct {
	LeaseID string `json:"lease_id"`
}

// LineWrapInfo is the "wrap_info" object of a wrapped response.
type LineWrapInfo struct {
	Token           string `json:"token"`
	Accessor        string `json:"accessor"`
	TTL             int64  `json:"ttl"`
	CreationTime    string `json:"creation_time"`
	CreationPath    string `json:"creation_path"`
	WrappedAccessor string `json:"wrapped_accessor,omitempty"`
}

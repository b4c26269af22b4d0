package logical

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"log/slog"
	"net"
	"net/url"
	"time"
)

// Operation is what a request does, as ACL capabilities name it.
type Operation string

// The operations a request can carry. The HTTP layer maps GET to read (or
// list with ?list=true or the LIST verb), POST and PUT to update, PATCH to
// patch and DELETE to delete; core turns update into create when the target
// does not exist yet (see [ExistenceChecker]).
const (
	ReadOperation   Operation = "read"
	ListOperation   Operation = "list"
	CreateOperation Operation = "create"
	UpdateOperation Operation = "update"
	PatchOperation  Operation = "patch"
	DeleteOperation Operation = "delete"
	// HelpOperation names a path-help request in audit entries. Core
	// answers help itself; no backend's HandleRequest receives it.
	HelpOperation Operation = "help"
)

// Request is one call into a backend.
type Request struct {
	// ID is the request ID, for logs.
	ID string
	// Operation is what to do.
	Operation Operation
	// Path is relative to the mount point, without a leading slash; it has
	// been cleaned (no "." or ".." segments, no empty segments).
	Path string
	// MountPoint is where the backend is mounted, e.g. "secret/".
	MountPoint string
	// Body is the raw JSON request body (an object) or nil.
	Body json.RawMessage
	// Query holds URL query parameters other than those the HTTP layer
	// consumes itself (such as "list").
	Query url.Values
	// Connection describes the client connection, when there is one.
	Connection *Connection
	// EntityID is the identity entity of the caller, if known.
	EntityID string
	// DisplayName is the display name of the caller's token, e.g.
	// "token-ci" or "approle" (database user name templates use it).
	DisplayName string
	// CubbyholeID is an opaque, stable ID of the caller's token (never the
	// token itself), for engines that keep per-token data; "" when the
	// request carries no stored token.
	CubbyholeID string
	// Accessor is the accessor of the caller's token ("" when the request
	// carries none). It identifies the token without granting its access,
	// so engines may record it (for example as a secret's creator).
	Accessor string
	// Access answers whether the caller's ACL allows an operation on
	// another path, for engines that filter what they return by it (a
	// recursive list, a search, an event stream). It is nil when the
	// request carries no token; an engine must then treat every path as
	// not allowed.
	Access AccessChecker
}

// AccessChecker answers ACL questions about the caller of a request.
type AccessChecker interface {
	// Allowed reports whether the caller may perform op on path, a full
	// request path with its mount point ("secret/metadata/a/b"), as the
	// caller's ACL decides without request parameters (a rule that
	// constrains parameters counts as allowing).
	Allowed(path string, op Operation) bool
	// AllowedParams reports whether the caller may perform op on path
	// with a request whose body is params, as the caller's ACL decides
	// for a real request with that body: the rule's allowed, denied and
	// required parameters apply (values as JSON decoding gives them). A
	// backend asks it before making a change that a request to path
	// would otherwise have to make.
	AllowedParams(path string, op Operation, params map[string]any) bool
}

// Connection is what a backend may know about the client's connection.
type Connection struct {
	// RemoteAddr is the client's address as "ip:port".
	RemoteAddr string
	// TLS is the connection's TLS state, or nil for plain HTTP. Its
	// PeerCertificates are the verified client certificates, if any.
	TLS *tls.ConnectionState
}

// RemoteIP returns the client's IP address, or nil when unknown.
func (c *Connection) RemoteIP() net.IP {
	if c == nil {
		return nil
	}
	host, _, err := net.SplitHostPort(c.RemoteAddr)
	if err != nil {
		host = c.RemoteAddr
	}
	return net.ParseIP(host)
}

// Response is what a backend returns on success. Data is marshalled to JSON
// as the response's "data" field; nil Data means no data (and with no
// warnings and no auth, the HTTP layer answers 204).
type Response struct {
	Data     any
	Warnings []string
	// Secret, when set, makes the response leased.
	Secret *Secret
	// Auth, when set, is a login result for core to turn into a token.
	Auth *Auth
	// NotFound makes the HTTP layer answer 404 while still sending Data.
	// Vault's KV v2 does this for a deleted or destroyed version, and
	// clients rely on it to read that version's metadata.
	NotFound bool
	// Raw, when set, is sent as the whole HTTP body instead of the JSON
	// envelope (PKI's ca/pem and crl, for example). Data is then ignored.
	Raw *RawResponse
	// TopLevel makes the HTTP layer repeat Data's members at the top level
	// of the envelope, beside "data", as Vault does for its older sys
	// endpoints (sys/mounts, sys/auth, sys/policy, ...) because old
	// clients read them there. Data must encode as a JSON object; a member
	// named like one of the envelope's own is not repeated.
	TopLevel bool
}

// RawResponse is a response body sent as is.
type RawResponse struct {
	// ContentType is the body's media type, e.g. "application/pkix-cert".
	ContentType string
	// Body is the bytes to send.
	Body []byte
}

// Secret is lease information for a response that carries a credential.
// Core stores a lease for it, returns a lease ID to the client, and later
// calls the backend's [Leaser] methods to renew or revoke it.
type Secret struct {
	// TTL is the lease's initial lifetime; zero means the mount's default.
	TTL time.Duration
	// MaxTTL caps renewals (relative to issue time); zero means the
	// mount's maximum.
	MaxTTL time.Duration
	// Renewable says whether the lease may be renewed.
	Renewable bool
	// InternalData is kept with the lease for renewal and revocation (for
	// example the database user name) and never returned to the client.
	InternalData map[string]string
}

// Leaser is implemented by backends whose responses carry a [Secret].
// Core calls it with what it stored for the lease; both methods must be
// idempotent, since core retries a revocation that failed until it works.
type Leaser interface {
	// RenewSecret extends a lease in the target system, if it needs to,
	// and returns the lease's new TTL (at most s.Increment; core caps it
	// further by MaxTTL and the token's expiry).
	RenewSecret(ctx context.Context, s *LeasedSecret) (time.Duration, error)
	// RevokeSecret revokes the credential in the target system. Revoking
	// what is already gone succeeds.
	RevokeSecret(ctx context.Context, s *LeasedSecret) error
}

// LeasedSecret is what core hands back to a [Leaser].
type LeasedSecret struct {
	// LeaseID is the full lease ID, e.g. "database/creds/app/<id>".
	LeaseID string
	// Path is the request path, relative to the mount, that made it.
	Path string
	// InternalData is the Secret's InternalData.
	InternalData map[string]string
	// IssueTime is when the lease was made.
	IssueTime time.Time
	// Increment is the requested renewal, for RenewSecret.
	Increment time.Duration
}

// Auth is the result of a successful login: what the token core creates
// for the caller should carry. Zero values mean "the mount's or server's
// default".
type Auth struct {
	// DisplayName names the token in lookups and audit, e.g. "approle".
	DisplayName string
	// Policies are the token's ACL policies ("default" is added by core
	// unless NoDefaultPolicy is set).
	Policies []string
	// NoDefaultPolicy leaves "default" off the token.
	NoDefaultPolicy bool
	// Metadata is copied to the token's meta and to the identity alias.
	Metadata map[string]string
	// TTL is the token's initial lifetime.
	TTL time.Duration
	// MaxTTL caps renewals (relative to creation).
	MaxTTL time.Duration
	// ExplicitMaxTTL is a hard cap that no renewal or period can pass.
	ExplicitMaxTTL time.Duration
	// Period makes a periodic token: each renewal resets the TTL to Period.
	Period time.Duration
	// NumUses limits the token to that many requests; 0 means unlimited.
	NumUses int
	// Renewable says whether the token may be renewed.
	Renewable bool
	// TokenType is "service" (the default) or "batch".
	TokenType string
	// BoundCIDRs restricts where the token may be used from.
	BoundCIDRs []string
	// Alias is the identity alias the login maps to.
	Alias *Alias
	// EntityID, when set, is the identity entity the token gets instead
	// of the one Alias maps to (an awskeys key bound to an entity): it
	// must exist and not be disabled, or the login is refused.
	EntityID string
	// GroupAliases name the caller's groups in the auth method's terms
	// (such as the values of a JWT groups claim); core puts the entity in
	// the external groups whose group aliases on the mount have these
	// names.
	GroupAliases []string
	// InternalData is kept with the token for the backend and never returned.
	InternalData map[string]string
}

// Alias names the caller within an auth mount, e.g. a user name or a role
// ID; core attaches it to an identity entity (created on first login).
type Alias struct {
	Name     string
	Metadata map[string]string
}

// Help describes what a backend serves at a path, for path-help (a
// request with ?help=1).
type Help struct {
	// Text is the help for people: the matching path's synopsis, its
	// parameters and operations; for a backend's root, every path.
	Text string
	// Paths are the path table rows described, for machine-readable help.
	Paths []HelpPath
}

// HelpPath is one path table row in a [Help].
type HelpPath struct {
	// Pattern is the row's regular expression, relative to the mount.
	Pattern string
	// Synopsis is its one-line description.
	Synopsis string
	// Captures are the parameters the pattern takes from the request path.
	Captures []string
	// Operations are the operations it serves, sorted.
	Operations []Operation
}

// Helper is implemented by backends that describe their paths for
// path-help. Help returns the help for path, relative to the mount; ""
// asks for the backend's root help, which lists every path. A path no
// row matches is an [ErrUnsupportedPath] error.
type Helper interface {
	Help(path string) (*Help, error)
}

// LoginPaths is implemented by backends with paths that need no token:
// auth methods' login paths, and public read-only paths such as PKI's CA
// certificate and CRL. Each entry is an exact path relative to the mount
// ("login") or a prefix ending in "*" ("login/*"). A response from such a
// path that carries Auth is a login: core makes a token for it.
type LoginPaths interface {
	LoginPaths() []string
}

// AliasLookahead is implemented by auth methods that can name the alias a
// login request is for before checking its credentials (for example the
// user name in userpass's login/:username). Core uses it to lock out an
// alias after repeated failed logins.
//
// LookaheadAlias must not check credentials. It returns a zero
// [LookaheadResult] when the request names no alias (another path, a
// missing or malformed name). It must refuse an oversized name with
// [ErrInvalidRequest] before doing any other work, and it must do the same
// work (the same storage reads and hashes) whether or not the alias
// exists, so that its timing does not reveal which names exist. Core
// keeps lockout state only for aliases the result says exist, so that
// logins with invented names cost no memory.
type AliasLookahead interface {
	LookaheadAlias(ctx context.Context, req *Request) (LookaheadResult, error)
}

// LookaheadResult is what an auth method knows about a login request
// before checking its credentials.
type LookaheadResult struct {
	// Name is the alias name the request is for; "" when it names none.
	Name string
	// Exists reports whether the method has an alias (a user, a role)
	// of that name now. It may be stale by the time the login runs.
	Exists bool
}

// Backend is anything mounted in the router: a secrets engine or an auth
// method. It may also implement [ExistenceChecker], [Initializer],
// [Invalidator] and [Cleaner].
//
// Lifecycle: a [Factory] builds the backend when the mount is enabled or
// loaded at unseal; Initialize (if implemented) runs once after that, before
// any request; HandleRequest may then be called concurrently; Cleanup (if
// implemented) runs when the mount is disabled or the server seals, after
// the last request returns.
type Backend interface {
	HandleRequest(ctx context.Context, req *Request) (*Response, error)
}

// ExistenceChecker lets core tell create from update for ACL checks. Exists
// reports whether the object that an update request would write exists
// already; handled reports whether the backend knows the path at all.
type ExistenceChecker interface {
	ExistenceCheck(ctx context.Context, req *Request) (exists, handled bool, err error)
}

// Initializer is implemented by backends with set-up work to do after
// construction, such as writing default configuration.
type Initializer interface {
	Initialize(ctx context.Context) error
}

// Invalidator is implemented by backends that cache what they read from
// storage. Core calls Invalidate with a key of the backend's own storage
// (relative to the mount, as the backend wrote it) when another node of the
// cluster changed or deleted that key; the backend drops whatever it cached
// from it, so its next read sees the change. Invalidate may be called
// concurrently with requests and must not block on storage for long.
type Invalidator interface {
	Invalidate(ctx context.Context, key string)
}

// Periodic is implemented by backends with scheduled work (key rotation,
// tidying). Core calls Periodic about once a minute while unsealed, never
// concurrently with itself for one backend; a returned error is logged.
type Periodic interface {
	Periodic(ctx context.Context) error
}

// Cleaner is implemented by backends holding resources to release.
type Cleaner interface {
	Cleanup(ctx context.Context)
}

// Clock tells the time; tests inject a fake one.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// SystemView is what a backend may ask of the server about its mount.
type SystemView interface {
	// DefaultLeaseTTL is the mount's (or else the server's) default TTL.
	DefaultLeaseTTL() time.Duration
	// MaxLeaseTTL is the mount's (or else the server's) maximum TTL.
	MaxLeaseTTL() time.Duration
	// GeneratePassword makes a password with the named password policy
	// (sys/policies/password/:name), or with the default policy when
	// policy is "". An unknown policy is an ErrInvalidRequest error.
	GeneratePassword(ctx context.Context, policy string) (string, error)
}

// DatabasePasswordSetter is implemented by the [SystemView] core gives a
// mount (not by test views unless they choose to): it lets an engine (KV
// rotation) set the password of an existing database user through a
// connection of another mount, a database engine at mountPath ("database/").
// Errors are ErrInvalidRequest (no such mount, connection or user) or
// ErrUpstream (the database refused); they never quote the password.
type DatabasePasswordSetter interface {
	SetDatabasePassword(ctx context.Context, mountPath, connection, username, password string) error
}

// UserPasswordSetter is implemented by the database engine: it sets the
// password of an existing database user through the named connection,
// with the same errors as [DatabasePasswordSetter].
type UserPasswordSetter interface {
	SetUserPassword(ctx context.Context, connection, username, password string) error
}

// Principal is one way to obtain a token through an auth method: a role,
// a user, a trusted certificate. Auth methods report theirs through
// [PrincipalLister] so that an operator can ask who can reach a path.
type Principal struct {
	// Kind names what the method calls it: "role", "user", "certificate".
	Kind string `json:"kind"`
	// Name is the principal's name within its mount.
	Name string `json:"name"`
	// Policies are the token policies a login as this principal gets
	// (before identity policies are added).
	Policies []string `json:"policies"`
	// Bindings are the conditions a login must meet, by the method's own
	// field names (bound_service_account_names, bound_claims,
	// allowed_common_names, token_bound_cidrs, ...). Only configuration,
	// never a credential (no password hash, no secret ID).
	Bindings map[string]any `json:"bindings,omitempty"`
	// Unbound is true when the principal has no binding that limits who
	// can log in beyond holding its credential (for example a JWT role
	// with no bound claims or audience), for the hygiene report.
	Unbound bool `json:"unbound,omitempty"`
	// Counts are numbers about the principal's credentials that the
	// hygiene report reads, by name; never the credentials themselves.
	// Only a [PrincipalCounter] fills them.
	// AppRole sets "secret_ids" (live secret IDs of the role) and
	// "secret_ids_unlimited" (those with neither a TTL nor a use limit).
	Counts map[string]int `json:"counts,omitempty"`
}

// PrincipalLister is implemented by auth methods that can list their
// principals. It reads the method's configuration only; it never returns
// a credential.
type PrincipalLister interface {
	Principals(ctx context.Context) ([]Principal, error)
}

// PrincipalCounter is implemented by auth methods that can count their
// principals' credentials (AppRole's secret IDs). Counting may read every
// credential's entry, so only the hygiene report asks for it.
// CountPrincipals fills the Counts of principals the method's
// [PrincipalLister] returned; one no longer there keeps nil Counts.
type PrincipalCounter interface {
	CountPrincipals(ctx context.Context, ps []Principal) error
}

// SecretInfo describes one stored secret (a KV v2 key with all its
// versions) for search and the hygiene report. It never holds a value.
type SecretInfo struct {
	// Path is the secret's key relative to the mount, "payments/db".
	Path           string
	CurrentVersion int
	CreatedTime    time.Time
	UpdatedTime    time.Time
	// LastRead is when a version was last read (zero: not read since
	// tracking began); recorded in batches, so it may lag by a minute.
	LastRead time.Time
	// CreatedBy is the accessor and entity of the token that wrote the
	// current version ("" for a version written before this was kept).
	CreatedByAccessor string
	CreatedByEntity   string
	CustomMetadata    map[string]string
	// ExpireTime is when the secret stops being readable (zero: never).
	ExpireTime time.Time
	// NextRotation is when its scheduled rotation is next due (zero: it has
	// no rotation policy, or the node serving the walk does not schedule
	// rotations, as a standby does not).
	NextRotation time.Time
}

// SecretWalker is implemented by engines that store named secrets (KV
// v2). WalkSecrets calls fn for every secret whose path starts with
// prefix, in key order, reading storage as it goes (it never holds them
// all), until fn returns false or an error.
type SecretWalker interface {
	WalkSecrets(ctx context.Context, prefix string, fn func(SecretInfo) (bool, error)) error
}

// EventSender publishes events about what a backend did, such as
// "kv-v2/data-write". Core fills in the mount, the time and an ID.
// Metadata carries paths and versions, never a secret value. Send must
// not block for long; a backend calls it after its change is durable.
type EventSender interface {
	SendEvent(ctx context.Context, eventType string, metadata map[string]string)
}

// Env is everything a backend may use. Storage is already confined to the
// mount. Options are the mount's options (such as "version" for kv).
type Env struct {
	Storage Storage
	Logger  *slog.Logger
	Clock   Clock
	System  SystemView
	Options map[string]string
	// Events publishes the backend's events; nil (events off) is replaced
	// by one that drops them in WithDefaults.
	Events EventSender
	// Standby is true when the backend is built on a standby node of a
	// cluster: it then serves reads only and must start no background
	// work that writes. A node that becomes active builds its backends
	// again (with Standby false) and cleans up the old ones.
	Standby bool
	// Values is told of changed secret values by a backend that is a
	// [ValueSource]; nil is replaced by [DiscardValues] in WithDefaults.
	Values ValueObserver
}

// WithDefaults returns e with a nil Clock replaced by the system clock, a
// nil Logger by one that discards, nil Events by [DiscardEvents] and nil
// Values by [DiscardValues], for a factory that accepts them unset.
func (e Env) WithDefaults() Env {
	if e.Clock == nil {
		e.Clock = SystemClock{}
	}
	if e.Logger == nil {
		e.Logger = slog.New(slog.DiscardHandler)
	}
	if e.Events == nil {
		e.Events = DiscardEvents{}
	}
	if e.Values == nil {
		e.Values = DiscardValues{}
	}
	return e
}

// DiscardEvents is an [EventSender] that drops every event.
type DiscardEvents struct{}

// SendEvent does nothing.
func (DiscardEvents) SendEvent(context.Context, string, map[string]string) {}

// Factory builds a backend for one mount.
type Factory func(ctx context.Context, env Env) (Backend, error)

// StorageEntry is one value in a backend's storage.
type StorageEntry struct {
	Key   string
	Value []byte
}

// TxnOp is one step of [Storage.Txn]: it stores Value at Key, or deletes
// Key when Delete is set.
type TxnOp struct {
	Key    string
	Value  []byte
	Delete bool
}

// Storage is a backend's mount-scoped, encrypted storage. Keys are
// slash-separated relative paths. Get returns (nil, nil) for a missing key;
// List returns the direct children of prefix, folders ending in "/". Txn
// applies all of its operations or none.
type Storage interface {
	Get(ctx context.Context, key string) (*StorageEntry, error)
	Put(ctx context.Context, e *StorageEntry) error
	Delete(ctx context.Context, key string) error
	List(ctx context.Context, prefix string) ([]string, error)
	Txn(ctx context.Context, ops []TxnOp) error
}

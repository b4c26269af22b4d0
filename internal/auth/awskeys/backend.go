package awskeys

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// Storage prefixes: key/NAME holds a key, id/ACCESS_KEY_ID the name of
// the key with that ID.
const (
	keyPrefix = "key/"
	idPrefix  = "id/"
)

// maxNameBytes bounds a key name.
const maxNameBytes = 128

// ticketTTL is how long a login ticket may wait for its login.
const ticketTTL = 30 * time.Second

// maxTickets bounds the login tickets waiting at once.
const maxTickets = 4096

// maxGrace bounds a rotation's grace period.
const maxGrace = 30 * 24 * time.Hour

// Backend is one awskeys mount. Besides its API it offers [Backend.SigningKey]
// and [Backend.LoginTicket] to the server's own SigV4 verifier.
type Backend struct {
	framework.Backend
	storage logical.Storage
	clock   logical.Clock
	keys    framework.Collection[key]
	lock    sync.Mutex // lock serialises writers of keys

	ticketMu sync.Mutex
	tickets  map[string]ticket // guarded by ticketMu; one-use login tickets by value
}

// ticket is a login ticket: the access key it logs in and its expiry.
type ticket struct {
	accessKeyID string
	expires     time.Time
}

// key is one stored access key.
type key struct {
	AccessKeyID string `json:"access_key_id"`
	// Secret is the current secret access key.
	Secret string `json:"secret_access_key"`
	// Previous is the secret replaced by the last rotation, valid until
	// PreviousUntil.
	Previous      string    `json:"previous_secret_access_key,omitempty"`
	PreviousUntil time.Time `json:"previous_valid_until,omitzero"`
	EntityID      string    `json:"entity_id,omitempty"`
	Created       time.Time `json:"created"`
	Rotated       time.Time `json:"rotated,omitzero"`
	// Revision grows with every change, so a cached token made for an
	// older revision (other policies, say) can be told apart.
	Revision int64                 `json:"revision"`
	Token    framework.TokenParams `json:"token"`
}

// Factory builds an awskeys backend for one mount.
func Factory(_ context.Context, env logical.Env) (logical.Backend, error) {
	if env.Storage == nil {
		return nil, errors.New("awskeys: no storage")
	}
	env = env.WithDefaults()
	b := &Backend{storage: env.Storage, clock: env.Clock, tickets: map[string]ticket{}}
	b.keys = framework.Collection[key]{Storage: env.Storage, Prefix: keyPrefix, Lock: func(string) sync.Locker { return &b.lock }}
	paths := b.keys.Paths(framework.CollectionPaths[key]{
		Base: "keys", Capture: "name", Name: keyName, Data: (*key).response,
		Write: framework.Typed(b.writeKey), Noun: "access key",
		Operations: map[logical.Operation]framework.Handler{
			logical.DeleteOperation: b.deleteKey,
		},
	})
	b.Paths = append(paths,
		&framework.Path{
			Pattern: `keys/(?P<name>[^/]+)/rotate`,
			Operations: map[logical.Operation]framework.Handler{
				logical.UpdateOperation: framework.Typed(b.rotateKey),
			},
			Synopsis: "Make a new secret access key, keeping the old one valid for a grace period.",
		},
		&framework.Path{
			Pattern: `login`,
			Operations: map[logical.Operation]framework.Handler{
				logical.UpdateOperation: framework.Typed(b.login),
			},
			Synopsis: "Log in with a ticket the server's SigV4 verifier made (not callable from outside the server).",
		},
	)
	return b, b.Compile()
}

// LoginPaths implements [logical.LoginPaths].
func (b *Backend) LoginPaths() []string { return []string{"login"} }

// keyName returns the validated key name captured from the path.
func keyName(m *framework.Match) (string, error) {
	name := m.Get("name")
	ok := name != "" && len(name) <= maxNameBytes
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
	}
	if !ok {
		return "", logical.InvalidRequest("invalid key name: use letters, digits, \"_\", \"-\" and \".\", at most %d bytes", maxNameBytes)
	}
	return name, nil
}

// keyRead is what a read answers: never a secret.
type keyRead struct {
	framework.TokenParamsResponse
	AccessKeyID   string   `json:"access_key_id"`
	EntityID      string   `json:"entity_id"`
	Created       string   `json:"created"`
	Rotated       string   `json:"rotated,omitempty"`
	PreviousUntil string   `json:"previous_secret_valid_until,omitempty"`
	Policies      []string `json:"policies"`
	TTL           int64    `json:"ttl"`
}

// response is what a read answers: never a secret.
func (k *key) response() any {
	out := keyRead{
		TokenParamsResponse: k.Token.Response(),
		AccessKeyID:         k.AccessKeyID,
		EntityID:            k.EntityID,
		Created:             k.Created.UTC().Format(time.RFC3339),
		Policies:            append([]string{}, k.Token.Policies...),
		TTL:                 framework.Seconds(time.Duration(k.Token.TTL)),
	}
	if !k.Rotated.IsZero() {
		out.Rotated = k.Rotated.UTC().Format(time.RFC3339)
	}
	if !k.PreviousUntil.IsZero() {
		out.PreviousUntil = k.PreviousUntil.UTC().Format(time.RFC3339)
	}
	return out
}

// keyInput is the body of a keys/NAME write.
type keyInput struct {
	framework.TokenParamsUpdate
	// TTL is the tokens' TTL (token_ttl's short name, honored here).
	TTL      *framework.Duration `json:"ttl"`
	EntityID *string             `json:"entity_id"`
}

// writeKey creates a key (answering its secret) or updates its token
// settings (answering nothing secret).
func (b *Backend) writeKey(ctx context.Context, _ *logical.Request, m *framework.Match, in *keyInput) (*logical.Response, error) {
	name, err := keyName(m)
	if err != nil {
		return nil, err
	}
	if in.TTL != nil && in.TokenTTL == nil {
		in.TokenTTL = in.TTL
	}
	b.lock.Lock()
	defer b.lock.Unlock()
	k, err := b.keys.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	created := k == nil
	if created {
		k = &key{Created: b.clock.Now().UTC()}
	}
	if k.Token, err = in.Apply(k.Token); err != nil {
		return nil, err
	}
	if in.EntityID != nil {
		k.EntityID = strings.TrimSpace(*in.EntityID)
	}
	k.Revision++
	if !created {
		return nil, b.keys.Put(ctx, name, k)
	}
	if k.AccessKeyID, err = b.newAccessKeyID(ctx); err != nil {
		return nil, err
	}
	if k.Secret, err = newSecret(); err != nil {
		return nil, err
	}
	put, err := b.keys.PutOp(name, k)
	if err != nil {
		return nil, err
	}
	if err := b.storage.Txn(ctx, []logical.TxnOp{put, {Key: idPrefix + k.AccessKeyID, Value: []byte(name)}}); err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{
		"name":              name,
		"access_key_id":     k.AccessKeyID,
		"secret_access_key": k.Secret,
	}}, nil
}

// deleteKey removes a key and its ID index entry.
func (b *Backend) deleteKey(ctx context.Context, _ *logical.Request, m *framework.Match) (*logical.Response, error) {
	name, err := keyName(m)
	if err != nil {
		return nil, err
	}
	b.lock.Lock()
	defer b.lock.Unlock()
	k, err := b.keys.Get(ctx, name)
	if err != nil || k == nil {
		return nil, err
	}
	return nil, b.storage.Txn(ctx, []logical.TxnOp{
		{Key: b.keys.Key(name), Delete: true},
		{Key: idPrefix + k.AccessKeyID, Delete: true},
	})
}

// rotateInput is the body of keys/NAME/rotate.
type rotateInput struct {
	// Grace is how long the replaced secret stays valid; 0 ends it now.
	Grace framework.Duration `json:"grace"`
}

// rotateKey makes a new secret, keeping the current one valid for the
// grace period (an earlier previous secret ends now).
func (b *Backend) rotateKey(ctx context.Context, _ *logical.Request, m *framework.Match, in *rotateInput) (*logical.Response, error) {
	name, err := keyName(m)
	if err != nil {
		return nil, err
	}
	grace := time.Duration(in.Grace)
	if grace < 0 || grace > maxGrace {
		return nil, logical.InvalidRequest("grace must be between 0 and %s", maxGrace)
	}
	b.lock.Lock()
	defer b.lock.Unlock()
	k, err := b.keys.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	if k == nil {
		return nil, logical.NotFound("no access key named %q", name)
	}
	secret, err := newSecret()
	if err != nil {
		return nil, err
	}
	now := b.clock.Now().UTC()
	k.Previous, k.PreviousUntil = "", time.Time{}
	if grace > 0 {
		k.Previous, k.PreviousUntil = k.Secret, now.Add(grace)
	}
	k.Secret, k.Rotated = secret, now
	k.Revision++
	if err := b.keys.Put(ctx, name, k); err != nil {
		return nil, err
	}
	data := map[string]any{
		"name":              name,
		"access_key_id":     k.AccessKeyID,
		"secret_access_key": k.Secret,
	}
	if grace > 0 {
		data["previous_secret_valid_until"] = k.PreviousUntil.Format(time.RFC3339)
	}
	return &logical.Response{Data: data}, nil
}

// SigningSecrets answers the name, the secret access keys valid now
// (the current one first, then the previous one during its grace period)
// and the revision of the key with accessKeyID; no secrets when there is
// no such key. It is a Go call for the server's own SigV4 verifier; no API
// path answers a secret after creation or rotation.
func (b *Backend) SigningSecrets(ctx context.Context, accessKeyID string) (name string, secrets []string, revision int64, err error) {
	name, k, err := b.byID(ctx, accessKeyID)
	if err != nil || k == nil {
		return "", nil, 0, err
	}
	secrets = []string{k.Secret}
	if k.Previous != "" && b.clock.Now().Before(k.PreviousUntil) {
		secrets = append(secrets, k.Previous)
	}
	return name, secrets, k.Revision, nil
}

// byID reads the key with accessKeyID; a nil key when there is none.
func (b *Backend) byID(ctx context.Context, accessKeyID string) (string, *key, error) {
	if !validAccessKeyID(accessKeyID) {
		return "", nil, nil
	}
	e, err := b.storage.Get(ctx, idPrefix+accessKeyID)
	if err != nil || e == nil {
		return "", nil, err
	}
	name := string(e.Value)
	k, err := b.keys.Get(ctx, name)
	if err != nil || k == nil || k.AccessKeyID != accessKeyID {
		return "", nil, err
	}
	return name, k, nil
}

// LoginTicket answers a one-use ticket, valid for a short while, with
// which the login path makes a token for the key with accessKeyID. Only
// the server's own verifier calls it, after checking a signature.
func (b *Backend) LoginTicket(accessKeyID string) (string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("awskeys: read random ticket: %w", err)
	}
	t := hex.EncodeToString(raw)
	now := b.clock.Now()
	b.ticketMu.Lock()
	defer b.ticketMu.Unlock()
	if len(b.tickets) >= maxTickets {
		for v, tk := range b.tickets {
			if !now.Before(tk.expires) {
				delete(b.tickets, v)
			}
		}
		if len(b.tickets) >= maxTickets {
			return "", errors.New("awskeys: too many logins under way")
		}
	}
	b.tickets[t] = ticket{accessKeyID: accessKeyID, expires: now.Add(ticketTTL)}
	return t, nil
}

// takeTicket consumes ticket t, answering the access key ID it was made
// for; ok is false for an unknown or expired ticket.
func (b *Backend) takeTicket(t string) (string, bool) {
	if len(t) != 64 {
		return "", false
	}
	b.ticketMu.Lock()
	defer b.ticketMu.Unlock()
	tk, ok := b.tickets[t]
	if !ok {
		return "", false
	}
	delete(b.tickets, t)
	return tk.accessKeyID, b.clock.Now().Before(tk.expires)
}

// loginInput is the body of login.
type loginInput struct {
	AccessKeyID string `json:"access_key_id"`
	Ticket      string `json:"ticket"`
}

// login makes a token for the key a ticket names.
func (b *Backend) login(ctx context.Context, req *logical.Request, _ *framework.Match, in *loginInput) (*logical.Response, error) {
	id, ok := b.takeTicket(in.Ticket)
	if !ok || subtle.ConstantTimeCompare([]byte(id), []byte(in.AccessKeyID)) != 1 {
		return nil, logical.InvalidCredentials("invalid login ticket: log in by signing an AWS request with the access key", errors.New("unknown, expired or mismatched ticket"))
	}
	name, k, err := b.byID(ctx, id)
	if err != nil {
		return nil, err
	}
	if k == nil {
		return nil, logical.InvalidCredentials("invalid login ticket: log in by signing an AWS request with the access key", errors.New("the key was deleted"))
	}
	if !framework.CIDRsAllow(k.Token.BoundCIDRs, req.Connection.RemoteIP()) {
		return nil, logical.InvalidCredentials("invalid login ticket: log in by signing an AWS request with the access key", errors.New("client address outside token_bound_cidrs"))
	}
	alias := name
	auth := &logical.Auth{
		DisplayName: name,
		// "role" is the key name where incident containment looks for a
		// login's role: `incident contain -role=auth/awskeys/role/NAME`
		// revokes the key's tokens and blocks its logins.
		Metadata: map[string]string{"key_name": name, "role": name, "access_key_id": k.AccessKeyID},
		Alias:    &logical.Alias{Name: alias, Metadata: map[string]string{"key_name": name}},
		EntityID: k.EntityID,
	}
	k.Token.PopulateAuth(auth)
	return &logical.Response{Auth: auth}, nil
}

// Principals implements [logical.PrincipalLister]: one principal a key,
// with its access key ID among the bindings (an identifier, not a
// credential). The secret is never returned.
func (b *Backend) Principals(ctx context.Context) ([]logical.Principal, error) {
	names, err := b.keys.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]logical.Principal, 0, len(names))
	for _, name := range names {
		k, err := b.keys.Get(ctx, name)
		if err != nil {
			return nil, err
		}
		if k != nil {
			p := k.Token.Principal("key", name)
			p.Bindings["access_key_id"] = k.AccessKeyID
			out = append(out, p)
		}
	}
	return out, nil
}

// idEncoding is the base32 alphabet of access key IDs (upper case, no
// padding), as AWS's look.
var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newAccessKeyID makes an unused access key ID: "CKIA" and 16 base32
// characters (80 random bits).
func (b *Backend) newAccessKeyID(ctx context.Context) (string, error) {
	for range 4 {
		raw := make([]byte, 10)
		if _, err := rand.Read(raw); err != nil {
			return "", fmt.Errorf("awskeys: read random key ID: %w", err)
		}
		id := "CKIA" + idEncoding.EncodeToString(raw)
		e, err := b.storage.Get(ctx, idPrefix+id)
		if err != nil {
			return "", err
		}
		if e == nil {
			return id, nil
		}
	}
	return "", errors.New("awskeys: could not find an unused access key ID")
}

// validAccessKeyID reports whether s looks like an ID this method makes.
func validAccessKeyID(s string) bool {
	if len(s) != 20 || !strings.HasPrefix(s, "CKIA") {
		return false
	}
	for i := 4; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// secretAlphabet is the alphabet of secret access keys, as AWS's.
const secretAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// newSecret makes a 40-character secret access key from crypto/rand
// (240 bits).
func newSecret() (string, error) {
	raw := make([]byte, 40)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("awskeys: read random secret: %w", err)
	}
	for i, c := range raw {
		raw[i] = secretAlphabet[c&63]
	}
	return string(raw), nil
}

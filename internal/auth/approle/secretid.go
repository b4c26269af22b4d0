package approle

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// secretIDEntry is a stored secret ID, kept under the HMAC of its value.
// The value itself is never stored.
type secretIDEntry struct {
	Accessor string `json:"accessor"`
	// NumUses is how many logins are left; 0 is unlimited.
	NumUses         int               `json:"num_uses,omitempty"`
	TTL             time.Duration     `json:"ttl_ns,omitempty"`
	Created         time.Time         `json:"created"`
	Updated         time.Time         `json:"updated"`
	Expires         time.Time         `json:"expires,omitzero"` // zero: never
	Metadata        map[string]string `json:"metadata,omitempty"`
	CIDRList        []string          `json:"cidr_list,omitempty"`
	TokenBoundCIDRs []string          `json:"token_bound_cidrs,omitempty"`
}

// expired reports whether e may no longer be used at now.
func (e *secretIDEntry) expired(now time.Time) bool {
	return !e.Expires.IsZero() && !now.Before(e.Expires)
}

// accessorEntry is the entry at accessor/<role key>/<accessor>.
type accessorEntry struct {
	SecretIDHMAC string `json:"secret_id_hmac"`
}

// secretIDInput is the body of secret-id generation. Metadata is a JSON
// object of strings, given (as Vault documents) as a string holding that
// JSON, or as the object itself.
type secretIDInput struct {
	Metadata        json.RawMessage         `json:"metadata"`
	CIDRList        *framework.CommaStrings `json:"cidr_list"`
	TokenBoundCIDRs *framework.CommaStrings `json:"token_bound_cidrs"`
	NumUses         *framework.Int          `json:"num_uses"`
	TTL             *framework.Duration     `json:"ttl"`
}

// customSecretIDInput is the body of custom-secret-id.
type customSecretIDInput struct {
	SecretID string `json:"secret_id"`
	secretIDInput
}

// secretIDData is the body of secret-id/lookup and secret-id/destroy.
type secretIDData struct {
	SecretID string `json:"secret_id"`
}

// accessorData is the body of secret-id-accessor/lookup and /destroy.
type accessorData struct {
	SecretIDAccessor string `json:"secret_id_accessor"`
}

// secretIDCreated is the data of a secret ID generation.
type secretIDCreated struct {
	SecretID         string `json:"secret_id"`
	SecretIDAccessor string `json:"secret_id_accessor"`
	SecretIDTTL      int64  `json:"secret_id_ttl"`
	SecretIDNumUses  int    `json:"secret_id_num_uses"`
}

// secretIDResponse is the data of a secret ID lookup.
type secretIDResponse struct {
	CIDRList         []string          `json:"cidr_list"`
	CreationTime     time.Time         `json:"creation_time"`
	ExpirationTime   time.Time         `json:"expiration_time"`
	LastUpdatedTime  time.Time         `json:"last_updated_time"`
	Metadata         map[string]string `json:"metadata"`
	SecretIDAccessor string            `json:"secret_id_accessor"`
	SecretIDNumUses  int               `json:"secret_id_num_uses"`
	SecretIDTTL      int64             `json:"secret_id_ttl"`
	TokenBoundCIDRs  []string          `json:"token_bound_cidrs"`
}

func newSecretIDResponse(e *secretIDEntry) *secretIDResponse {
	meta := e.Metadata
	if meta == nil {
		meta = map[string]string{}
	}
	return &secretIDResponse{
		CIDRList:         nonNil(e.CIDRList),
		CreationTime:     e.Created,
		ExpirationTime:   e.Expires,
		LastUpdatedTime:  e.Updated,
		Metadata:         meta,
		SecretIDAccessor: e.Accessor,
		SecretIDNumUses:  e.NumUses,
		SecretIDTTL:      framework.Seconds(e.TTL),
		TokenBoundCIDRs:  nonNil(e.TokenBoundCIDRs),
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// secretIDKey is where the secret ID whose HMAC is sidMAC lives for the
// role with key rk.
func secretIDKey(rk, sidMAC string) string { return secretIDPrefix + rk + "/" + sidMAC }

func accessorKey(rk, accessor string) string { return accessorPrefix + rk + "/" + accessor }

func (b *backend) loadSecretID(ctx context.Context, rk, sidMAC string) (*secretIDEntry, error) {
	var e secretIDEntry
	found, err := framework.GetJSON(ctx, b.storage, secretIDKey(rk, sidMAC), &e)
	if err != nil || !found {
		return nil, err
	}
	return &e, nil
}

func (b *backend) generateSecretID(ctx context.Context, _ *logical.Request, m *framework.Match, in *secretIDInput) (*logical.Response, error) {
	return b.createSecretID(ctx, m, newUUID(), in)
}

func (b *backend) customSecretID(ctx context.Context, _ *logical.Request, m *framework.Match, in *customSecretIDInput) (*logical.Response, error) {
	switch {
	case in.SecretID == "":
		return nil, logical.InvalidRequest("missing secret_id")
	case len(in.SecretID) > maxSecretIDBytes:
		return nil, logical.InvalidRequest("secret_id is longer than %d bytes", maxSecretIDBytes)
	}
	return b.createSecretID(ctx, m, in.SecretID, &in.secretIDInput)
}

// createSecretID stores secret ID sid for the role named in m, within the
// role's limits, and answers with sid and its accessor.
func (b *backend) createSecretID(ctx context.Context, m *framework.Match, sid string, in *secretIDInput) (*logical.Response, error) {
	name, err := roleName(m)
	if err != nil {
		return nil, err
	}
	meta, err := parseMetadata(in.Metadata)
	if err != nil {
		return nil, err
	}
	var cidrs, tokenCIDRs []string
	if in.CIDRList != nil {
		cidrs = trimmed(*in.CIDRList)
		if err := framework.ValidateCIDRs("cidr_list", cidrs); err != nil {
			return nil, err
		}
	}
	if in.TokenBoundCIDRs != nil {
		tokenCIDRs = trimmed(*in.TokenBoundCIDRs)
		if err := framework.ValidateCIDRs("token_bound_cidrs", tokenCIDRs); err != nil {
			return nil, err
		}
	}
	key, err := b.key(ctx)
	if err != nil {
		return nil, err
	}
	rk := roleKey(key, name)
	defer b.lock(rk)()
	r, err := b.roles.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, roleMissing(name)
	}
	numUses, ttl, err := secretIDLimits(r, in)
	if err != nil {
		return nil, err
	}
	if !framework.CIDRsSubset(cidrs, r.SecretIDBoundCIDRs) {
		return nil, logical.InvalidRequest("\"cidr_list\" must lie within the role's \"secret_id_bound_cidrs\"")
	}
	if !framework.CIDRsSubset(tokenCIDRs, r.Token.BoundCIDRs) {
		return nil, logical.InvalidRequest("\"token_bound_cidrs\" must lie within the role's \"token_bound_cidrs\"")
	}

	sidMAC := mac(key, "secret_id", sid)
	existing, err := b.loadSecretID(ctx, rk, sidMAC)
	if err != nil {
		return nil, err
	}
	if existing != nil {
		return nil, &logical.Error{Kind: logical.ErrConflict, Msg: "the role already has this secret ID"}
	}
	now := b.clock.Now().UTC()
	e := &secretIDEntry{
		Accessor: newUUID(), NumUses: numUses, TTL: ttl, Created: now, Updated: now,
		Metadata: meta, CIDRList: cidrs, TokenBoundCIDRs: tokenCIDRs,
	}
	if ttl > 0 {
		e.Expires = now.Add(ttl)
	}
	secretOp, err := framework.PutJSONOp(secretIDKey(rk, sidMAC), e)
	if err != nil {
		return nil, err
	}
	accOp, err := framework.PutJSONOp(accessorKey(rk, e.Accessor), accessorEntry{SecretIDHMAC: sidMAC})
	if err != nil {
		return nil, err
	}
	if err := b.storage.Txn(ctx, []logical.TxnOp{secretOp, accOp}); err != nil {
		return nil, fmt.Errorf("write secret ID: %w", err)
	}
	return &logical.Response{Data: &secretIDCreated{
		SecretID: sid, SecretIDAccessor: e.Accessor, SecretIDTTL: framework.Seconds(ttl), SecretIDNumUses: numUses,
	}}, nil
}

// secretIDLimits returns the use limit and TTL of a new secret ID of r:
// the role's unless the request names its own, which may only be
// stricter than the role's (a role limit of 0 means none).
func secretIDLimits(r *role, in *secretIDInput) (numUses int, ttl time.Duration, err error) {
	numUses, ttl = r.SecretIDNumUses, r.SecretIDTTL
	if in.NumUses != nil {
		n := *in.NumUses
		if n < 0 || n > maxNumUses {
			return 0, 0, logical.InvalidRequest("invalid value for \"num_uses\": want an integer from 0 to %d", maxNumUses)
		}
		if r.SecretIDNumUses > 0 && (n == 0 || int(n) > r.SecretIDNumUses) {
			return 0, 0, logical.InvalidRequest("\"num_uses\" must be between 1 and the role's \"secret_id_num_uses\" (%d)", r.SecretIDNumUses)
		}
		numUses = int(n)
	}
	if in.TTL != nil {
		d := time.Duration(*in.TTL)
		if r.SecretIDTTL > 0 && (d == 0 || d > r.SecretIDTTL) {
			return 0, 0, logical.InvalidRequest("\"ttl\" must be positive and at most the role's \"secret_id_ttl\" (%d seconds)", framework.Seconds(r.SecretIDTTL))
		}
		ttl = d
	}
	return numUses, ttl, nil
}

// parseMetadata decodes secret ID metadata: absent, null or "" for none, a
// JSON object of strings, or a string holding one. Errors never quote the
// value.
func parseMetadata(raw json.RawMessage) (map[string]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	bad := logical.InvalidRequest("invalid value for \"metadata\": want a JSON object of strings, or a string holding one")
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, bad
		}
		raw = bytes.TrimSpace([]byte(s))
		if len(raw) == 0 {
			return nil, nil
		}
	}
	var meta map[string]string
	if err := json.Unmarshal(raw, &meta); err != nil || meta == nil && string(raw) != "null" {
		return nil, bad
	}
	if len(meta) == 0 {
		return nil, nil
	}
	return meta, nil
}

// listSecretIDs lists the accessors of a role's secret IDs; none is (nil,
// nil), which core answers with 404.
func (b *backend) listSecretIDs(ctx context.Context, _ *logical.Request, m *framework.Match) (*logical.Response, error) {
	name, err := roleName(m)
	if err != nil {
		return nil, err
	}
	key, err := b.key(ctx)
	if err != nil {
		return nil, err
	}
	r, err := b.roles.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	if r == nil {
		// Vault answers a list for an unknown role with 400, not 404: a
		// 404 would read as an empty list to clients.
		return nil, logical.InvalidRequest("role %q does not exist", name)
	}
	keys, err := b.storage.List(ctx, accessorPrefix+roleKey(key, name)+"/")
	if err != nil {
		return nil, fmt.Errorf("list secret ID accessors: %w", err)
	}
	return framework.ListResponse(keys)
}

// lookupSecretID answers secret-id/lookup; an unknown secret ID is (nil,
// nil), as in Vault.
func (b *backend) lookupSecretID(ctx context.Context, _ *logical.Request, m *framework.Match, in *secretIDData) (*logical.Response, error) {
	rk, sidMAC, err := b.secretIDRef(ctx, m, in.SecretID)
	if err != nil {
		return nil, err
	}
	e, err := b.loadSecretID(ctx, rk, sidMAC)
	if err != nil || e == nil {
		return nil, err
	}
	return &logical.Response{Data: newSecretIDResponse(e)}, nil
}

// destroySecretID deletes a secret ID and its accessor; an unknown secret
// ID is not an error.
func (b *backend) destroySecretID(ctx context.Context, _ *logical.Request, m *framework.Match, in *secretIDData) (*logical.Response, error) {
	rk, sidMAC, err := b.secretIDRef(ctx, m, in.SecretID)
	if err != nil {
		return nil, err
	}
	defer b.lock(rk)()
	e, err := b.loadSecretID(ctx, rk, sidMAC)
	if err != nil || e == nil {
		return nil, err
	}
	return nil, b.deleteSecretIDLocked(ctx, rk, sidMAC, e.Accessor)
}

// secretIDRef validates a request naming a role and a secret ID and
// returns the role's key and the secret ID's HMAC. A missing role is an
// [logical.ErrNotFound] error.
func (b *backend) secretIDRef(ctx context.Context, m *framework.Match, sid string) (rk, sidMAC string, err error) {
	name, err := roleName(m)
	if err != nil {
		return "", "", err
	}
	if sid == "" {
		return "", "", logical.InvalidRequest("missing secret_id")
	}
	key, err := b.key(ctx)
	if err != nil {
		return "", "", err
	}
	r, err := b.roles.Get(ctx, name)
	if err != nil {
		return "", "", err
	}
	if r == nil {
		return "", "", roleMissing(name)
	}
	return roleKey(key, name), mac(key, "secret_id", sid), nil
}

// lookupAccessor answers secret-id-accessor/lookup.
func (b *backend) lookupAccessor(ctx context.Context, _ *logical.Request, m *framework.Match, in *accessorData) (*logical.Response, error) {
	rk, err := b.accessorRole(ctx, m, in.SecretIDAccessor)
	if err != nil {
		return nil, err
	}
	_, e, err := b.loadByAccessor(ctx, rk, in.SecretIDAccessor)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: newSecretIDResponse(e)}, nil
}

// destroyAccessor deletes the secret ID with the given accessor.
func (b *backend) destroyAccessor(ctx context.Context, _ *logical.Request, m *framework.Match, in *accessorData) (*logical.Response, error) {
	rk, err := b.accessorRole(ctx, m, in.SecretIDAccessor)
	if err != nil {
		return nil, err
	}
	defer b.lock(rk)()
	sidMAC, _, err := b.loadByAccessor(ctx, rk, in.SecretIDAccessor)
	if err != nil {
		return nil, err
	}
	return nil, b.deleteSecretIDLocked(ctx, rk, sidMAC, in.SecretIDAccessor)
}

// accessorRole validates a request naming a role and an accessor and
// returns the role's key.
func (b *backend) accessorRole(ctx context.Context, m *framework.Match, accessor string) (string, error) {
	name, err := roleName(m)
	if err != nil {
		return "", err
	}
	if accessor == "" {
		return "", logical.InvalidRequest("missing secret_id_accessor")
	}
	key, err := b.key(ctx)
	if err != nil {
		return "", err
	}
	r, err := b.roles.Get(ctx, name)
	if err != nil {
		return "", err
	}
	if r == nil {
		return "", roleMissing(name)
	}
	return roleKey(key, name), nil
}

// loadByAccessor returns the HMAC and entry of the role's secret ID with
// the given accessor, or an [logical.ErrNotFound] error.
func (b *backend) loadByAccessor(ctx context.Context, rk, accessor string) (string, *secretIDEntry, error) {
	// Vault's words, which clients match; the accessor is not quoted back
	// in case a secret ID was sent in its place.
	notFound := logical.NotFound("failed to find accessor entry for secret_id_accessor")
	if !isUUIDShape(accessor) {
		return "", nil, notFound
	}
	var acc accessorEntry
	found, err := framework.GetJSON(ctx, b.storage, accessorKey(rk, accessor), &acc)
	if err != nil {
		return "", nil, err
	}
	if !found {
		return "", nil, notFound
	}
	e, err := b.loadSecretID(ctx, rk, acc.SecretIDHMAC)
	if err != nil {
		return "", nil, err
	}
	if e == nil {
		return "", nil, notFound
	}
	return acc.SecretIDHMAC, e, nil
}

// deleteSecretIDLocked deletes a secret ID and its accessor in one
// transaction. The caller holds the role's lock.
func (b *backend) deleteSecretIDLocked(ctx context.Context, rk, sidMAC, accessor string) error {
	ops := []logical.TxnOp{deleteOp(secretIDKey(rk, sidMAC)), deleteOp(accessorKey(rk, accessor))}
	if err := b.storage.Txn(ctx, ops); err != nil {
		return fmt.Errorf("delete secret ID: %w", err)
	}
	return nil
}

// tidy removes expired secret IDs, secret IDs of deleted roles and
// accessor entries whose secret ID is gone. It runs in the request and
// reports what it removed as a warning. Its body must be empty or {}.
func (b *backend) tidy(ctx context.Context, _ *logical.Request, _ *framework.Match, _ *struct{}) (*logical.Response, error) {
	key, err := b.key(ctx)
	if err != nil {
		return nil, err
	}
	// Holding the role mutex throughout keeps the set of roles fixed, so a
	// role created while tidy runs is never mistaken for a deleted one.
	b.rolesMu.Lock()
	defer b.rolesMu.Unlock()
	names, err := b.storage.List(ctx, rolePrefix)
	if err != nil {
		return nil, fmt.Errorf("list roles: %w", err)
	}
	live := make(map[string]bool, len(names))
	for _, n := range names {
		live[roleKey(key, n)] = true
	}
	folders, err := b.storage.List(ctx, secretIDPrefix)
	if err != nil {
		return nil, fmt.Errorf("list secret IDs: %w", err)
	}
	accFolders, err := b.storage.List(ctx, accessorPrefix)
	if err != nil {
		return nil, fmt.Errorf("list secret ID accessors: %w", err)
	}
	seen := make(map[string]bool, len(folders)+len(accFolders))
	var secrets, accessors int
	for _, f := range append(folders, accFolders...) {
		rk, isFolder := strings.CutSuffix(f, "/")
		if !isFolder || rk == "" || seen[rk] {
			continue
		}
		seen[rk] = true
		s, a, err := b.tidyRole(ctx, rk, live[rk])
		if err != nil {
			return nil, err
		}
		secrets += s
		accessors += a
	}
	return &logical.Response{Warnings: []string{
		fmt.Sprintf("tidy removed %d secret IDs and %d dangling accessor entries", secrets, accessors),
	}}, nil
}

// tidyRole tidies the secret IDs of the role with key rk; live says
// whether the role still exists. The caller holds rolesMu.
func (b *backend) tidyRole(ctx context.Context, rk string, live bool) (secrets, accessors int, err error) {
	defer b.lock(rk)()
	now := b.clock.Now()
	sids, err := b.storage.List(ctx, secretIDPrefix+rk+"/")
	if err != nil {
		return 0, 0, fmt.Errorf("list secret IDs: %w", err)
	}
	var ops []logical.TxnOp
	kept := make(map[string]bool, len(sids))    // HMACs of the secret IDs that stay
	deleted := make(map[string]bool, len(sids)) // accessors already being deleted
	for _, sidMAC := range sids {
		e, err := b.loadSecretID(ctx, rk, sidMAC)
		if err != nil {
			return 0, 0, err
		}
		if e == nil {
			continue
		}
		if !live || e.expired(now) {
			ops = append(ops, deleteOp(secretIDKey(rk, sidMAC)), deleteOp(accessorKey(rk, e.Accessor)))
			deleted[e.Accessor] = true
			secrets++
			continue
		}
		kept[sidMAC] = true
	}
	accs, err := b.storage.List(ctx, accessorPrefix+rk+"/")
	if err != nil {
		return 0, 0, fmt.Errorf("list secret ID accessors: %w", err)
	}
	for _, acc := range accs {
		var a accessorEntry
		found, err := framework.GetJSON(ctx, b.storage, accessorKey(rk, acc), &a)
		if err != nil {
			return 0, 0, err
		}
		if found && !kept[a.SecretIDHMAC] && !deleted[acc] {
			ops = append(ops, deleteOp(accessorKey(rk, acc)))
			accessors++
		}
	}
	if len(ops) == 0 {
		return 0, 0, nil
	}
	if err := b.storage.Txn(ctx, ops); err != nil {
		return 0, 0, fmt.Errorf("tidy secret IDs: %w", err)
	}
	return secrets, accessors, nil
}

package transit

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strconv"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// The kinds of export/:type/:name.
const (
	exportEncryption = "encryption-key"
	exportSigning    = "signing-key"
	exportHMAC       = "hmac-key"
	exportPublic     = "public-key"
)

// exportResponse is the data of an export.
type exportResponse struct {
	Name string            `json:"name"`
	Type keyType           `json:"type"`
	Keys map[string]string `json:"keys"`
}

func (b *backend) exportKey(ctx context.Context, _ *logical.Request, m *framework.Match) (*logical.Response, error) {
	kind, name, ver := m.Get("type"), m.Get("name"), m.Get("version")
	switch kind {
	case exportEncryption, exportSigning, exportHMAC, exportPublic:
	default:
		return nil, logical.InvalidRequest("invalid export type: want %q, %q, %q or %q", exportEncryption, exportSigning, exportHMAC, exportPublic)
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	k, err := b.key(ctx, name)
	if err != nil || k == nil {
		// A read of a key that does not exist answers 404, as in Vault.
		return nil, err
	}
	r := k.ring
	if kind != exportPublic && !r.Exportable {
		return nil, logical.InvalidRequest("key is not exportable")
	}
	switch {
	case kind == exportEncryption && !r.Type.encryption():
		return nil, logical.InvalidRequest("encryption export is not supported for key type %q", r.Type)
	case kind == exportSigning && !r.Type.signing():
		return nil, logical.InvalidRequest("signing export is not supported for key type %q", r.Type)
	case kind == exportPublic && (!r.Type.asymmetric() || r.Derived):
		return nil, logical.InvalidRequest("public key export is not supported for this key")
	case kind == exportSigning && r.Derived:
		return nil, logical.InvalidRequest("signing key export is not supported for derived keys")
	}
	versions := make([]int, 0, len(k.materials))
	switch ver {
	case "":
		for n := range k.materials {
			versions = append(versions, n)
		}
	case "latest":
		versions = append(versions, r.LatestVersion)
	default:
		n, err := parseVersion(ver)
		if err != nil || k.materials[n] == nil {
			return nil, logical.InvalidRequest("invalid key version")
		}
		versions = append(versions, n)
	}
	out := &exportResponse{Name: r.Name, Type: r.Type, Keys: make(map[string]string, len(versions))}
	for _, n := range versions {
		s, err := exportOne(kind, r.Type, k.materials[n])
		if err != nil {
			return nil, err
		}
		out.Keys[strconv.Itoa(n)] = s
	}
	return &logical.Response{Data: out}, nil
}

// exportOne formats one version's key of the given kind: raw keys in
// base64, ECDSA private keys as SEC 1 PEM, RSA private keys as PKCS #1 PEM,
// public keys as for a key read.
func exportOne(kind string, t keyType, m *material) (string, error) {
	b64 := base64.StdEncoding.EncodeToString
	switch kind {
	case exportHMAC:
		return b64(m.version.HMACKey), nil
	case exportPublic:
		return publicKey(t, m)
	}
	switch {
	case t.symmetric():
		return b64(m.version.Key), nil
	case t == typeEd25519:
		return b64(m.ed), nil
	case t.ecdsa():
		der, err := x509.MarshalECPrivateKey(m.ec)
		if err != nil {
			return "", fmt.Errorf("marshal ecdsa key: %w", err)
		}
		return string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})), nil
	case t.rsa():
		der := x509.MarshalPKCS1PrivateKey(m.rsa)
		return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: der})), nil
	}
	return "", logical.InvalidRequest("export is not supported for key type %q", t)
}

// backupVersion marks the format of a backup blob.
const backupVersion = 1

// backupBlob is what a backup holds, JSON-encoded and then base64-encoded.
type backupBlob struct {
	Format int   `json:"coffer_transit_backup"`
	Key    *ring `json:"key"`
}

// backupResponse is the data of backup/:name.
type backupResponse struct {
	Backup string `json:"backup"`
}

func (b *backend) backupKey(ctx context.Context, _ *logical.Request, m *framework.Match) (*logical.Response, error) {
	name := m.Get("name")
	k, err := b.mustKey(ctx, name, fmt.Sprintf("key %q not found", name))
	if err != nil {
		return nil, err
	}
	if !k.ring.Exportable || !k.ring.AllowPlaintextBackup {
		return nil, logical.InvalidRequest("plaintext backup requires a key with \"exportable\" and \"allow_plaintext_backup\" set")
	}
	buf, err := json.Marshal(backupBlob{Format: backupVersion, Key: k.ring})
	if err != nil {
		return nil, fmt.Errorf("encode backup: %w", err)
	}
	return &logical.Response{Data: &backupResponse{Backup: base64.StdEncoding.EncodeToString(buf)}}, nil
}

// restoreInput is the body of restore[/:name].
type restoreInput struct {
	Backup string         `json:"backup"`
	Name   string         `json:"name"`
	Force  framework.Bool `json:"force"`
}

// parseBackup decodes and checks a backup blob. Errors are client-safe
// ErrInvalidRequest errors that never quote the blob.
func parseBackup(blob string) (*key, error) {
	raw, err := base64.StdEncoding.DecodeString(blob)
	if err != nil {
		return nil, logical.InvalidRequest("invalid backup: not base64")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	// A backup is key material in Coffer's own format, not an API body:
	// an unknown member means a format (or a key setting) this version does
	// not understand, and restoring a key ring without it could loosen the
	// key's policy, so it stays strict where API bodies ignore unknowns.
	dec.DisallowUnknownFields()
	var bb backupBlob
	if err := dec.Decode(&bb); err != nil || dec.More() {
		return nil, &logical.Error{Kind: logical.ErrInvalidRequest, Msg: "invalid backup: malformed", Err: err}
	}
	if bb.Format != backupVersion || bb.Key == nil {
		return nil, logical.InvalidRequest("invalid backup: unknown format")
	}
	if err := bb.Key.validate(); err != nil {
		return nil, &logical.Error{Kind: logical.ErrInvalidRequest, Msg: "invalid backup: inconsistent key ring", Err: err}
	}
	k, err := newKey(bb.Key, nil)
	if err != nil {
		return nil, &logical.Error{Kind: logical.ErrInvalidRequest, Msg: "invalid backup: bad key material", Err: err}
	}
	return k, nil
}

func (b *backend) restoreKey(ctx context.Context, _ *logical.Request, m *framework.Match, in *restoreInput) (*logical.Response, error) {
	if in.Backup == "" {
		return nil, logical.InvalidRequest("missing \"backup\"")
	}
	parsed, err := parseBackup(in.Backup)
	if err != nil {
		return nil, err
	}
	r := parsed.ring
	name := m.Get("name")
	if name == "" {
		name = in.Name
	}
	if name != "" {
		if err := checkName(name); err != nil {
			return nil, err
		}
		r.Name = name
	}
	unlock := b.lock(r.Name)
	defer unlock()
	old, err := b.keyLocked(ctx, r.Name)
	if err != nil {
		return nil, err
	}
	if old != nil && !in.Force {
		return nil, logical.InvalidRequest("key %q already exists: set \"force\" to overwrite it", r.Name)
	}
	if _, err := b.storeLocked(ctx, r, parsed); err != nil {
		return nil, err
	}
	return nil, nil
}

package transit

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"strconv"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// minAutoRotatePeriod is the shortest auto_rotate_period accepted (0
// turns automatic rotation off), as in Vault.
const minAutoRotatePeriod = time.Hour

// keyResponse is the data of a key read, in Vault's shape.
type keyResponse struct {
	Name                        string         `json:"name"`
	Type                        keyType        `json:"type"`
	Derived                     bool           `json:"derived"`
	KDF                         string         `json:"kdf,omitempty"`
	ConvergentEncryption        *bool          `json:"convergent_encryption,omitempty"`
	ConvergentEncryptionVersion int            `json:"convergent_encryption_version,omitempty"`
	DeletionAllowed             bool           `json:"deletion_allowed"`
	Exportable                  bool           `json:"exportable"`
	AllowPlaintextBackup        bool           `json:"allow_plaintext_backup"`
	Keys                        map[string]any `json:"keys"`
	LatestVersion               int            `json:"latest_version"`
	MinAvailableVersion         int            `json:"min_available_version"`
	MinDecryptionVersion        int            `json:"min_decryption_version"`
	MinEncryptionVersion        int            `json:"min_encryption_version"`
	SupportsEncryption          bool           `json:"supports_encryption"`
	SupportsDecryption          bool           `json:"supports_decryption"`
	SupportsDerivation          bool           `json:"supports_derivation"`
	SupportsSigning             bool           `json:"supports_signing"`
	AutoRotatePeriod            int64          `json:"auto_rotate_period"`
	ImportedKey                 bool           `json:"imported_key"`
	KeySize                     int            `json:"key_size,omitempty"`
}

// publicKeyInfo is one version of an asymmetric key in a key read.
type publicKeyInfo struct {
	Name         string `json:"name"`
	PublicKey    string `json:"public_key"`
	CreationTime string `json:"creation_time"`
}

// describe returns the read shape of k. Symmetric versions map to their
// creation time in Unix seconds, asymmetric ones to their public key.
func describe(k *key) (*keyResponse, error) {
	r := k.ring
	out := &keyResponse{
		Name:                 r.Name,
		Type:                 r.Type,
		Derived:              r.Derived,
		DeletionAllowed:      r.DeletionAllowed,
		Exportable:           r.Exportable,
		AllowPlaintextBackup: r.AllowPlaintextBackup,
		Keys:                 make(map[string]any, len(r.Versions)),
		LatestVersion:        r.LatestVersion,
		MinAvailableVersion:  r.MinAvailableVersion,
		MinDecryptionVersion: r.MinDecryptionVersion,
		MinEncryptionVersion: r.MinEncryptionVersion,
		SupportsEncryption:   r.Type.encryption(),
		SupportsDecryption:   r.Type.encryption(),
		SupportsDerivation:   r.Type.derivation(),
		SupportsSigning:      r.Type.signing(),
		AutoRotatePeriod:     int64(r.AutoRotatePeriod / time.Second),
		KeySize:              r.KeySize,
	}
	if r.Derived {
		out.KDF = "hkdf_sha256"
		conv := r.Convergent
		out.ConvergentEncryption = &conv
		if conv {
			out.ConvergentEncryptionVersion = 3
		}
	}
	for n, m := range k.materials {
		ver := strconv.Itoa(n)
		if !r.Type.asymmetric() || r.Derived {
			out.Keys[ver] = m.version.Created.Unix()
			continue
		}
		pub, err := publicKey(r.Type, m)
		if err != nil {
			return nil, err
		}
		out.Keys[ver] = publicKeyInfo{
			Name:         curveName(r.Type),
			PublicKey:    pub,
			CreationTime: m.version.Created.Format(time.RFC3339Nano),
		}
	}
	return out, nil
}

// curveName is the "name" Vault reports for an asymmetric key version.
func curveName(t keyType) string {
	switch t {
	case typeECDSAP256:
		return "P-256"
	case typeECDSAP384:
		return "P-384"
	case typeEd25519:
		return "ed25519"
	}
	return string(t)
}

// publicKey formats the public key of a non-derived asymmetric version:
// base64 for Ed25519, PEM-encoded PKIX for ECDSA and RSA.
func publicKey(t keyType, m *material) (string, error) {
	var pub any
	switch {
	case t == typeEd25519:
		return base64.StdEncoding.EncodeToString(m.ed.Public().(ed25519.PublicKey)), nil
	case t.ecdsa():
		pub = &m.ec.PublicKey
	case t.rsa():
		pub = &m.rsa.PublicKey
	default:
		return "", logical.InvalidRequest("key type %q has no public key", t)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("marshal public key: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
}

func keyResp(k *key) (*logical.Response, error) {
	d, err := describe(k)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: d}, nil
}

func (b *backend) listKeys(ctx context.Context, _ *logical.Request, _ *framework.Match) (*logical.Response, error) {
	names, err := b.storage.List(ctx, keyPrefix)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return framework.ListResponse(names)
}

func (b *backend) readKey(ctx context.Context, _ *logical.Request, m *framework.Match) (*logical.Response, error) {
	name := m.Get("name")
	if err := checkName(name); err != nil {
		return nil, err
	}
	k, err := b.key(ctx, name)
	if err != nil || k == nil {
		return nil, err
	}
	return keyResp(k)
}

// createInput is the body of a key creation.
type createInput struct {
	Type                 string             `json:"type"`
	Derived              framework.Bool     `json:"derived"`
	ConvergentEncryption framework.Bool     `json:"convergent_encryption"`
	Exportable           framework.Bool     `json:"exportable"`
	AllowPlaintextBackup framework.Bool     `json:"allow_plaintext_backup"`
	AutoRotatePeriod     framework.Duration `json:"auto_rotate_period"`
	KeySize              framework.Int      `json:"key_size"`
}

// newRing validates a creation request and returns the ring it asks for,
// with its first version.
func (b *backend) newRing(name string, in *createInput) (*ring, error) {
	t := keyType(in.Type)
	if in.Type == "" {
		t = typeAES256
	}
	if !t.known() {
		return nil, logical.InvalidRequest("unknown key type %q", in.Type)
	}
	r := &ring{
		Name:                 name,
		Type:                 t,
		Derived:              bool(in.Derived),
		Convergent:           bool(in.ConvergentEncryption),
		Exportable:           bool(in.Exportable),
		AllowPlaintextBackup: bool(in.AllowPlaintextBackup),
		AutoRotatePeriod:     time.Duration(in.AutoRotatePeriod),
		MinDecryptionVersion: 1,
	}
	if r.Derived && !t.derivation() {
		return nil, logical.InvalidRequest("key derivation is not supported for key type %q", t)
	}
	if r.Convergent && !r.Derived {
		return nil, logical.InvalidRequest("convergent encryption requires derivation to be turned on")
	}
	if r.Convergent && !t.symmetric() {
		return nil, logical.InvalidRequest("convergent encryption is not supported for key type %q", t)
	}
	if err := checkRotatePeriod(r.AutoRotatePeriod); err != nil {
		return nil, err
	}
	switch {
	case t == typeHMAC && in.KeySize == 0:
		r.KeySize = defaultHMACKeySize
	case t == typeHMAC:
		if in.KeySize < minHMACKeySize || in.KeySize > maxHMACKeySize {
			return nil, logical.InvalidRequest("invalid \"key_size\": want %d to %d bytes", minHMACKeySize, maxHMACKeySize)
		}
		r.KeySize = int(in.KeySize)
	case in.KeySize != 0:
		return nil, logical.InvalidRequest("\"key_size\" is only valid for hmac keys")
	}
	if err := r.rotate(b.clock.Now()); err != nil {
		return nil, err
	}
	return r, nil
}

func checkRotatePeriod(d time.Duration) error {
	if d != 0 && d < minAutoRotatePeriod {
		return logical.InvalidRequest("\"auto_rotate_period\" must be 0 to disable or at least an hour")
	}
	return nil
}

// createKey creates a key. Like Vault, it leaves an existing key of the
// same name as it is and answers with it.
func (b *backend) createKey(ctx context.Context, _ *logical.Request, m *framework.Match, in *createInput) (*logical.Response, error) {
	k, err := b.create(ctx, m.Get("name"), in)
	if err != nil {
		return nil, err
	}
	return keyResp(k)
}

// create makes the named key as in asks unless it exists, and returns the
// key now stored under the name.
func (b *backend) create(ctx context.Context, name string, in *createInput) (*key, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if old, err := b.key(ctx, name); err != nil || old != nil {
		return old, err
	}
	// Generate outside the lock: RSA keys take a while.
	r, err := b.newRing(name, in)
	if err != nil {
		return nil, err
	}
	unlock := b.lock(name)
	defer unlock()
	old, err := b.keyLocked(ctx, name)
	if err != nil || old != nil {
		return old, err
	}
	return b.storeLocked(ctx, r, nil)
}

func (b *backend) deleteKey(ctx context.Context, _ *logical.Request, m *framework.Match) (*logical.Response, error) {
	name := m.Get("name")
	if err := checkName(name); err != nil {
		return nil, err
	}
	unlock := b.lock(name)
	defer unlock()
	k, err := b.keyLocked(ctx, name)
	if err != nil {
		return nil, err
	}
	if k == nil {
		return nil, logical.InvalidRequest("key %q not found", name)
	}
	if !k.ring.DeletionAllowed {
		return nil, logical.InvalidRequest("deletion is not allowed for this key: set \"deletion_allowed\" in its config first")
	}
	if err := b.storage.Delete(ctx, keyPrefix+name); err != nil {
		b.cache.Delete(name)
		return nil, fmt.Errorf("delete key %q: %w", name, err)
	}
	b.cache.Delete(name)
	return nil, nil
}

// configInput is the body of keys/:name/config; absent fields keep their
// value.
type configInput struct {
	MinDecryptionVersion *framework.Int      `json:"min_decryption_version"`
	MinEncryptionVersion *framework.Int      `json:"min_encryption_version"`
	DeletionAllowed      *framework.Bool     `json:"deletion_allowed"`
	Exportable           *framework.Bool     `json:"exportable"`
	AllowPlaintextBackup *framework.Bool     `json:"allow_plaintext_backup"`
	AutoRotatePeriod     *framework.Duration `json:"auto_rotate_period"`
}

func (b *backend) configKey(ctx context.Context, _ *logical.Request, m *framework.Match, in *configInput) (*logical.Response, error) {
	name := m.Get("name")
	if err := checkName(name); err != nil {
		return nil, err
	}
	k, err := b.update(ctx, name, func(r *ring) error { return applyConfig(r, in, b.clock.Now()) })
	if err != nil {
		return nil, err
	}
	return keyResp(k)
}

// applyConfig changes r as in asks, refusing anything inconsistent.
func applyConfig(r *ring, in *configInput, now time.Time) error {
	if v := in.MinDecryptionVersion; v != nil && *v != 0 {
		switch {
		case *v < 0:
			return logical.InvalidRequest("\"min_decryption_version\" must be positive")
		case int64(*v) > int64(r.LatestVersion):
			return logical.InvalidRequest("cannot set \"min_decryption_version\" to %d: the latest version is %d", *v, r.LatestVersion)
		case int64(*v) < int64(r.MinAvailableVersion):
			return logical.InvalidRequest("cannot set \"min_decryption_version\" below the minimum available version %d", r.MinAvailableVersion)
		}
		r.MinDecryptionVersion = int(*v)
	}
	if v := in.MinEncryptionVersion; v != nil {
		if *v < 0 || int64(*v) > int64(r.LatestVersion) {
			return logical.InvalidRequest("\"min_encryption_version\" must be from 0 to the latest version %d", r.LatestVersion)
		}
		r.MinEncryptionVersion = int(*v)
	}
	if r.MinEncryptionVersion > 0 && r.MinEncryptionVersion < r.MinDecryptionVersion {
		return logical.InvalidRequest("\"min_encryption_version\" must not be less than \"min_decryption_version\"")
	}
	if v := in.DeletionAllowed; v != nil {
		r.DeletionAllowed = bool(*v)
	}
	if v := in.Exportable; v != nil {
		if r.Exportable && !bool(*v) {
			return logical.InvalidRequest("export cannot be disabled on a key that already has it enabled")
		}
		r.Exportable = bool(*v)
	}
	if v := in.AllowPlaintextBackup; v != nil {
		if r.AllowPlaintextBackup && !bool(*v) {
			return logical.InvalidRequest("plaintext backup cannot be disabled on a key that already has it enabled")
		}
		r.AllowPlaintextBackup = bool(*v)
	}
	if v := in.AutoRotatePeriod; v != nil {
		d := time.Duration(*v)
		if err := checkRotatePeriod(d); err != nil {
			return err
		}
		if r.AutoRotatePeriod == 0 && d > 0 && r.LastRotated.IsZero() {
			r.LastRotated = now
		}
		r.AutoRotatePeriod = d
	}
	return nil
}

// rotateInput is the body of keys/:name/rotate; it has no fields.
type rotateInput struct{}

func (b *backend) rotateKey(ctx context.Context, _ *logical.Request, m *framework.Match, _ *rotateInput) (*logical.Response, error) {
	name := m.Get("name")
	if err := checkName(name); err != nil {
		return nil, err
	}
	k, err := b.update(ctx, name, func(r *ring) error {
		if r.LatestVersion >= maxVersion {
			return logical.InvalidRequest("key has reached the maximum number of versions")
		}
		return r.rotate(b.clock.Now())
	})
	if err != nil {
		return nil, err
	}
	return keyResp(k)
}

// trimInput is the body of keys/:name/trim.
type trimInput struct {
	MinAvailableVersion *framework.Int `json:"min_available_version"`
}

func (b *backend) trimKey(ctx context.Context, _ *logical.Request, m *framework.Match, in *trimInput) (*logical.Response, error) {
	name := m.Get("name")
	if err := checkName(name); err != nil {
		return nil, err
	}
	if in.MinAvailableVersion == nil {
		return nil, logical.InvalidRequest("missing \"min_available_version\"")
	}
	want := int64(*in.MinAvailableVersion)
	k, err := b.update(ctx, name, func(r *ring) error {
		switch {
		case want <= 0:
			return logical.InvalidRequest("\"min_available_version\" must be positive")
		case want > int64(r.MinDecryptionVersion):
			return logical.InvalidRequest("\"min_available_version\" must not be greater than \"min_decryption_version\" (%d)", r.MinDecryptionVersion)
		case r.MinEncryptionVersion > 0 && want > int64(r.MinEncryptionVersion):
			return logical.InvalidRequest("\"min_available_version\" must not be greater than \"min_encryption_version\" (%d)", r.MinEncryptionVersion)
		case want < int64(r.MinAvailableVersion):
			return logical.InvalidRequest("\"min_available_version\" must not be less than the current minimum available version (%d)", r.MinAvailableVersion)
		case want == int64(r.MinAvailableVersion):
			return errUnchanged
		}
		for n := range r.Versions {
			if int64(n) < want {
				delete(r.Versions, n)
			}
		}
		r.MinAvailableVersion = int(want)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return keyResp(k)
}

//go:build cgo

package pkcs11

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	p11 "github.com/miekg/pkcs11"

	"github.com/coffer-secrets/coffer/internal/seal"
)

// ckrAEADDecryptFailed is CKR_AEAD_DECRYPT_FAILED of PKCS#11 3.0, which
// github.com/miekg/pkcs11 does not name.
const ckrAEADDecryptFailed = p11.Error(0x35)

// generatedKeyIDLen is the length of the random CKA_ID given to a
// generated key.
const generatedKeyIDLen = 8

// Wrapper is the pkcs11 [seal.Wrapper]. It is safe for concurrent use;
// operations take turns on its one session.
type Wrapper struct {
	lib        *p11.Ctx
	libPath    string
	slot       *uint
	tokenLabel string
	pin        PIN
	label      string // CKA_LABEL of the key Wrap uses
	keyID      []byte // configured CKA_ID; nil to match any
	mechanism  string // FormatMechanism(MechanismAESGCM)
	log        *slog.Logger

	// turn holds one token while an operation uses the session; the
	// fields below are guarded by it.
	turn    chan struct{}
	open    bool
	sess    p11.SessionHandle
	keys    map[keyRef]p11.ObjectHandle // handles found in this session
	wrapKey keyRef                      // the key Wrap uses, with its CKA_ID
	closed  bool
}

// libraries holds the PKCS#11 libraries the process has loaded, one
// context per path, never unloaded.
type libraries struct {
	mu   sync.Mutex
	ctxs map[string]*p11.Ctx // guarded by mu
}

// loaded is the one package-level variable, and it has to be: a PKCS#11
// library's state (C_Initialize, logins, sessions) belongs to the process,
// and C_Initialize is not safe to call from two threads at once, so the
// wrappers of one process share each library and take turns initializing it.
var loaded = &libraries{ctxs: map[string]*p11.Ctx{}}

// load returns the context of the library at path, loading it once.
func (l *libraries) load(path string) (*p11.Ctx, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c, ok := l.ctxs[path]; ok {
		return c, nil
	}
	c := p11.New(path)
	if c == nil {
		return nil, fmt.Errorf("pkcs11 seal: cannot load the PKCS#11 library %q", path)
	}
	l.ctxs[path] = c
	return c, nil
}

// initialize calls C_Initialize, serialized with every other call of the
// process; a library already initialized is fine.
func (l *libraries) initialize(c *p11.Ctx) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := c.Initialize(); err != nil && !errors.Is(err, p11.Error(p11.CKR_CRYPTOKI_ALREADY_INITIALIZED)) {
		return err
	}
	return nil
}

// keyRef names a key object by its label and CKA_ID.
type keyRef struct {
	label string
	id    string // raw CKA_ID bytes
}

var _ seal.Wrapper = (*Wrapper)(nil)

// New connects to the token that opts name, logs in and finds the key
// labeled opts.KeyLabel, generating it when opts.GenerateKey is set and no
// key has the label. Errors of the library's initialization, of finding
// the token and of opening a session wrap [seal.ErrUnreachable]; a wrong
// PIN, a missing key or invalid options do not. No error holds the PIN.
// ctx bounds only the wait; PKCS#11 calls themselves cannot be canceled.
func New(ctx context.Context, opts Options) (seal.Wrapper, error) {
	keyID, err := opts.validate()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	lib, err := loaded.load(opts.Lib)
	if err != nil {
		return nil, err
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	w := &Wrapper{
		lib:        lib,
		libPath:    opts.Lib,
		slot:       opts.Slot,
		tokenLabel: opts.TokenLabel,
		pin:        opts.PIN,
		label:      opts.KeyLabel,
		keyID:      keyID,
		mechanism:  FormatMechanism(MechanismAESGCM),
		log:        logger.With("component", "seal", "seal_type", Type),
		turn:       make(chan struct{}, 1),
	}
	w.turn <- struct{}{}
	defer func() { <-w.turn }()
	if err := w.openLocked(); err != nil {
		return nil, err
	}
	if err := w.resolveWrapKeyLocked(opts.GenerateKey); err != nil {
		w.closeSessionLocked()
		return nil, err
	}
	return w, nil
}

// Type returns "pkcs11".
func (w *Wrapper) Type() string { return Type }

// Wrap encrypts plaintext with the configured key in the HSM.
func (w *Wrapper) Wrap(ctx context.Context, plaintext []byte) (*seal.Blob, error) {
	var blob *seal.Blob
	err := w.do(ctx, "wrap", func() error {
		h, err := w.keyLocked(w.wrapKey)
		if err != nil {
			return err
		}
		id := []byte(w.wrapKey.id)
		iv := make([]byte, gcmIVLen)
		// crypto/rand.Read never fails (it crashes the program instead).
		_, _ = rand.Read(iv)
		params := p11.NewGCMParams(iv, additionalData(id, w.label, w.mechanism), gcmTagLen*8)
		defer params.Free()
		if err := w.lib.EncryptInit(w.sess, []*p11.Mechanism{p11.NewMechanism(MechanismAESGCM, params)}, h); err != nil {
			return err
		}
		sealed, err := w.lib.Encrypt(w.sess, plaintext)
		if err != nil {
			return err
		}
		// An HSM that makes its own IV writes it back into the parameters.
		if used := params.IV(); len(used) > 0 {
			iv = used
		}
		if len(iv) == 0 || len(iv) > 255 {
			return fmt.Errorf("the HSM used a %d-byte IV", len(iv))
		}
		blob = &seal.Blob{
			Ciphertext: header{keyID: id, iv: iv}.encode(sealed),
			KeyID:      w.label,
			Mechanism:  w.mechanism,
		}
		return nil
	})
	return blob, err
}

// Errors of Unwrap that become [seal.ErrUnwrap].
var (
	errNoKey = errors.New("the token holds no key with the blob's label and ID")
	errAuth  = errors.New("message authentication failed")
)

// Unwrap decrypts a blob made by Wrap, with the key the blob names. A blob
// that is malformed, names no key of the token, or fails authentication
// gives an error wrapping [seal.ErrUnwrap].
func (w *Wrapper) Unwrap(ctx context.Context, blob *seal.Blob) ([]byte, error) {
	if blob == nil {
		return nil, fmt.Errorf("pkcs11 seal: unwrap: %w: no blob", seal.ErrUnwrap)
	}
	if m, err := ParseMechanism(blob.Mechanism); err != nil || m != MechanismAESGCM {
		return nil, fmt.Errorf("pkcs11 seal: unwrap: %w: mechanism %q is not CKM_AES_GCM", seal.ErrUnwrap, blob.Mechanism)
	}
	h, sealed, err := decodeCiphertext(blob.Ciphertext)
	if err != nil {
		return nil, fmt.Errorf("pkcs11 seal: unwrap: %w: %w", seal.ErrUnwrap, err)
	}
	if blob.KeyID == "" {
		return nil, fmt.Errorf("pkcs11 seal: unwrap: %w: the blob names no key", seal.ErrUnwrap)
	}
	var plaintext []byte
	err = w.do(ctx, "unwrap", func() error {
		key, err := w.keyLocked(keyRef{label: blob.KeyID, id: string(h.keyID)})
		if err != nil {
			return err
		}
		params := p11.NewGCMParams(bytes.Clone(h.iv), additionalData(h.keyID, blob.KeyID, blob.Mechanism), gcmTagLen*8)
		defer params.Free()
		if err := w.lib.DecryptInit(w.sess, []*p11.Mechanism{p11.NewMechanism(MechanismAESGCM, params)}, key); err != nil {
			if isDecryptError(err) {
				return fmt.Errorf("%w: %w", errAuth, err)
			}
			return err
		}
		plaintext, err = w.lib.Decrypt(w.sess, sealed)
		if isDecryptError(err) || isTagFailure(err) {
			return fmt.Errorf("%w: %w", errAuth, err)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if plaintext == nil {
		plaintext = []byte{}
	}
	return plaintext, nil
}

// Close closes the wrapper's session. It does not finalize or unload the
// library, whose state other wrappers in the process may share.
func (w *Wrapper) Close() error {
	w.turn <- struct{}{}
	defer func() { <-w.turn }()
	if w.closed {
		return nil
	}
	w.closed = true
	if !w.open {
		return nil
	}
	w.open = false
	w.keys = nil
	if err := w.lib.CloseSession(w.sess); err != nil && !isSessionError(err) {
		return fmt.Errorf("pkcs11 seal: close session: %w", err)
	}
	return nil
}

// do runs fn with the session, opening it first if needed. When fn fails
// with a session or device error, do opens a new session and runs fn once
// more. It maps the final error to the wrapper's error kinds.
func (w *Wrapper) do(ctx context.Context, op string, fn func() error) error {
	select {
	case w.turn <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("pkcs11 seal: %s: %w", op, ctx.Err())
	}
	defer func() { <-w.turn }()
	if w.closed {
		return fmt.Errorf("pkcs11 seal: %s: the wrapper is closed", op)
	}
	for attempt := 0; ; attempt++ {
		if !w.open {
			if err := w.openLocked(); err != nil {
				return err
			}
		}
		err := fn()
		switch {
		case err == nil:
			return nil
		case errors.Is(err, errNoKey), errors.Is(err, errAuth):
			return fmt.Errorf("pkcs11 seal: %s: %w: %w", op, seal.ErrUnwrap, err)
		case isSessionError(err) && attempt == 0:
			w.log.Warn("re-opening the PKCS#11 session", "error", err)
			w.closeSessionLocked()
		case isSessionError(err):
			w.closeSessionLocked()
			return fmt.Errorf("pkcs11 seal: %s: %w: %w", op, seal.ErrUnreachable, err)
		default:
			return fmt.Errorf("pkcs11 seal: %s: %w", op, err)
		}
	}
}

// openLocked initializes the library (if no one in the process has),
// finds the token, opens a read-write session and logs in.
func (w *Wrapper) openLocked() error {
	if err := loaded.initialize(w.lib); err != nil {
		return fmt.Errorf("pkcs11 seal: initialize %q: %w: %w", w.libPath, seal.ErrUnreachable, err)
	}
	slot, err := w.findSlot()
	if err != nil {
		return err
	}
	sess, err := w.lib.OpenSession(slot, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION)
	if err != nil {
		return fmt.Errorf("pkcs11 seal: open a session on slot %d: %w: %w", slot, seal.ErrUnreachable, err)
	}
	// The PIN goes to the library only; the error names the return code.
	if err := w.lib.Login(sess, p11.CKU_USER, string(w.pin)); err != nil && !errors.Is(err, p11.Error(p11.CKR_USER_ALREADY_LOGGED_IN)) {
		_ = w.lib.CloseSession(sess)
		if isSessionError(err) {
			return fmt.Errorf("pkcs11 seal: log in to slot %d: %w: %w", slot, seal.ErrUnreachable, err)
		}
		return fmt.Errorf("pkcs11 seal: log in to slot %d with the configured pin: %w", slot, err)
	}
	w.sess, w.open, w.keys = sess, true, map[keyRef]p11.ObjectHandle{}
	return nil
}

// findSlot returns the slot of the configured token.
func (w *Wrapper) findSlot() (uint, error) {
	slots, err := w.lib.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("pkcs11 seal: list slots: %w: %w", seal.ErrUnreachable, err)
	}
	if w.slot != nil {
		if !slices.Contains(slots, *w.slot) {
			return 0, fmt.Errorf("pkcs11 seal: %w: no token in slot %d", seal.ErrUnreachable, *w.slot)
		}
		if w.tokenLabel != "" {
			info, err := w.lib.GetTokenInfo(*w.slot)
			if err != nil {
				return 0, fmt.Errorf("pkcs11 seal: read the token in slot %d: %w: %w", *w.slot, seal.ErrUnreachable, err)
			}
			if info.Label != w.tokenLabel {
				return 0, fmt.Errorf("pkcs11 seal: the token in slot %d is labeled %q, not %q", *w.slot, info.Label, w.tokenLabel)
			}
		}
		return *w.slot, nil
	}
	var found []uint
	for _, s := range slots {
		info, err := w.lib.GetTokenInfo(s)
		if err != nil {
			continue // a token removed meanwhile
		}
		if info.Label == w.tokenLabel {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 0:
		return 0, fmt.Errorf("pkcs11 seal: %w: no token labeled %q", seal.ErrUnreachable, w.tokenLabel)
	case 1:
		return found[0], nil
	default:
		return 0, fmt.Errorf("pkcs11 seal: %d tokens are labeled %q; set slot to choose one", len(found), w.tokenLabel)
	}
}

// resolveWrapKeyLocked finds the key Wrap uses, or generates it, and
// records its CKA_ID.
func (w *Wrapper) resolveWrapKeyLocked(generate bool) error {
	handles, err := w.findKeysLocked(w.label, w.keyID)
	if err != nil {
		return fmt.Errorf("pkcs11 seal: find key %q: %w", w.label, w.kindOf(err))
	}
	switch {
	case len(handles) > 1:
		return fmt.Errorf("pkcs11 seal: %d AES keys are labeled %q; set key_id to choose one", len(handles), w.label)
	case len(handles) == 0 && !generate:
		return fmt.Errorf("pkcs11 seal: no AES key labeled %q in the token (set generate_key to create one)", w.label)
	case len(handles) == 0:
		h, err := w.generateKeyLocked()
		if err != nil {
			return fmt.Errorf("pkcs11 seal: generate key %q: %w", w.label, w.kindOf(err))
		}
		handles = []p11.ObjectHandle{h}
	}
	attrs, err := w.lib.GetAttributeValue(w.sess, handles[0], []*p11.Attribute{p11.NewAttribute(p11.CKA_ID, nil)})
	if err != nil {
		return fmt.Errorf("pkcs11 seal: read the ID of key %q: %w", w.label, w.kindOf(err))
	}
	var id []byte
	if len(attrs) == 1 {
		id = attrs[0].Value
	}
	if len(id) > maxKeyIDLen {
		return fmt.Errorf("pkcs11 seal: key %q has a %d-byte CKA_ID, more than %d", w.label, len(id), maxKeyIDLen)
	}
	w.wrapKey = keyRef{label: w.label, id: string(id)}
	w.keys[w.wrapKey] = handles[0]
	return nil
}

// generateKeyLocked creates the AES-256 key as a token object that is
// private, sensitive and never extractable, allowed only to encrypt and
// decrypt.
func (w *Wrapper) generateKeyLocked() (p11.ObjectHandle, error) {
	id := w.keyID
	if id == nil {
		id = make([]byte, generatedKeyIDLen)
		_, _ = rand.Read(id)
	}
	tmpl := []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_AES),
		p11.NewAttribute(p11.CKA_VALUE_LEN, 32),
		p11.NewAttribute(p11.CKA_LABEL, w.label),
		p11.NewAttribute(p11.CKA_ID, id),
		p11.NewAttribute(p11.CKA_TOKEN, true),
		p11.NewAttribute(p11.CKA_PRIVATE, true),
		p11.NewAttribute(p11.CKA_SENSITIVE, true),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, false),
		p11.NewAttribute(p11.CKA_MODIFIABLE, false),
		p11.NewAttribute(p11.CKA_ENCRYPT, true),
		p11.NewAttribute(p11.CKA_DECRYPT, true),
		p11.NewAttribute(p11.CKA_WRAP, false),
		p11.NewAttribute(p11.CKA_UNWRAP, false),
		p11.NewAttribute(p11.CKA_SIGN, false),
		p11.NewAttribute(p11.CKA_VERIFY, false),
		p11.NewAttribute(p11.CKA_DERIVE, false),
	}
	h, err := w.lib.GenerateKey(w.sess, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_KEY_GEN, nil)}, tmpl)
	if err != nil {
		return 0, err
	}
	w.log.Info("generated the seal key in the HSM", "key_label", w.label, "key_id", fmt.Sprintf("%x", id))
	return h, nil
}

// keyLocked returns the handle of the key ref names, from the session's
// cache or by a search; errNoKey when the token has no such key or several.
func (w *Wrapper) keyLocked(ref keyRef) (p11.ObjectHandle, error) {
	if h, ok := w.keys[ref]; ok {
		return h, nil
	}
	var id []byte
	if ref.id != "" {
		id = []byte(ref.id)
	}
	handles, err := w.findKeysLocked(ref.label, id)
	if err != nil {
		return 0, err
	}
	if len(handles) != 1 {
		return 0, errNoKey
	}
	w.keys[ref] = handles[0]
	return handles[0], nil
}

// findKeysLocked returns up to two AES secret keys with the label and, when
// id is not nil, the CKA_ID.
func (w *Wrapper) findKeysLocked(label string, id []byte) ([]p11.ObjectHandle, error) {
	tmpl := []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_AES),
		p11.NewAttribute(p11.CKA_LABEL, label),
	}
	if id != nil {
		tmpl = append(tmpl, p11.NewAttribute(p11.CKA_ID, id))
	}
	if err := w.lib.FindObjectsInit(w.sess, tmpl); err != nil {
		return nil, err
	}
	handles, _, err := w.lib.FindObjects(w.sess, 2)
	if ferr := w.lib.FindObjectsFinal(w.sess); err == nil {
		err = ferr
	}
	return handles, err
}

// closeSessionLocked forgets the session, closing it if it is still
// there; errors are moot since the session is gone either way.
func (w *Wrapper) closeSessionLocked() {
	if w.open {
		_ = w.lib.CloseSession(w.sess)
	}
	w.open, w.keys = false, nil
}

// kindOf marks session and device errors as unreachable.
func (w *Wrapper) kindOf(err error) error {
	if isSessionError(err) {
		return fmt.Errorf("%w: %w", seal.ErrUnreachable, err)
	}
	return err
}

// isSessionError reports the return codes after which a new session (or
// a new login) may succeed: the session, the token or the device is gone.
func isSessionError(err error) bool {
	var code p11.Error
	if !errors.As(err, &code) {
		return false
	}
	switch code {
	case p11.CKR_SESSION_HANDLE_INVALID, p11.CKR_SESSION_CLOSED,
		p11.CKR_DEVICE_ERROR, p11.CKR_DEVICE_REMOVED, p11.CKR_DEVICE_MEMORY,
		p11.CKR_TOKEN_NOT_PRESENT, p11.CKR_TOKEN_NOT_RECOGNIZED,
		p11.CKR_USER_NOT_LOGGED_IN, p11.CKR_CRYPTOKI_NOT_INITIALIZED,
		p11.CKR_KEY_HANDLE_INVALID, p11.CKR_OBJECT_HANDLE_INVALID,
		p11.CKR_GENERAL_ERROR:
		return true
	}
	return false
}

// isTagFailure reports the return codes with which a library's C_Decrypt
// may say that a GCM tag does not match. SoftHSM2 answers
// CKR_GENERAL_ERROR; since C_Decrypt was reached, the session and the key
// were there an instant before, so this is the ciphertext's fault.
func isTagFailure(err error) bool {
	var code p11.Error
	return errors.As(err, &code) && (code == p11.CKR_GENERAL_ERROR || code == p11.CKR_FUNCTION_FAILED)
}

// isDecryptError reports the return codes of a ciphertext (or IV) the
// key does not open.
func isDecryptError(err error) bool {
	var code p11.Error
	if !errors.As(err, &code) {
		return false
	}
	switch code {
	case p11.CKR_ENCRYPTED_DATA_INVALID, p11.CKR_ENCRYPTED_DATA_LEN_RANGE,
		ckrAEADDecryptFailed, p11.CKR_SIGNATURE_INVALID,
		p11.CKR_DATA_INVALID, p11.CKR_DATA_LEN_RANGE,
		p11.CKR_MECHANISM_PARAM_INVALID:
		return true
	}
	return false
}

package ceremony

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/coffer-secrets/coffer/internal/barrier"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/seal"
	"github.com/coffer-secrets/coffer/internal/storage/inmem"
	"github.com/coffer-secrets/coffer/internal/token"
	"github.com/coffer-secrets/coffer/internal/token/otp"
)

// testCore is a [Core] over a real Shamir seal on in-memory storage.
type testCore struct {
	shamir  *seal.Shamir
	rootKey []byte
	tokens  []string // root tokens created
}

func (tc *testCore) SealConfig(ctx context.Context) (seal.Config, error) {
	cfg, err := tc.shamir.Config(ctx)
	if err != nil || cfg == nil {
		return seal.Config{}, errors.Join(err, errors.New("not initialized"))
	}
	return *cfg, nil
}

func (tc *testCore) VerifyShares(ctx context.Context, shares [][]byte) ([]byte, error) {
	return tc.shamir.VerifyShares(ctx, shares)
}

func (tc *testCore) VerifyRecoveryShares(ctx context.Context, shares [][]byte) error {
	return tc.shamir.VerifyRecoveryShares(ctx, shares)
}

func (tc *testCore) RootKey() ([]byte, error) { return slices.Clone(tc.rootKey), nil }

func (tc *testCore) Rekey(ctx context.Context, cfg seal.Config, newKey, rootKey []byte) error {
	return tc.shamir.Rekey(ctx, cfg, newKey, rootKey)
}

func (tc *testCore) CreateRootToken(context.Context) (string, error) {
	id := string(token.NewID())
	tc.tokens = append(tc.tokens, id)
	return id, nil
}

// newTestCeremonies returns ceremonies over a Shamir seal initialized
// with shares of threshold, and those shares in hex.
func newTestCeremonies(t *testing.T, shares, threshold int) (*Ceremonies, *testCore, []string) {
	t.Helper()
	rootKey, err := barrier.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	tc := &testCore{shamir: seal.NewShamir(inmem.New()), rootKey: rootKey}
	keys, err := tc.shamir.Initialize(t.Context(), seal.Config{SecretShares: shares, SecretThreshold: threshold}, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	var hexKeys []string
	for _, k := range keys {
		hexKeys = append(hexKeys, hex.EncodeToString(k))
	}
	n := 0
	newID := func() string { n++; return fmt.Sprintf("nonce-%d", n) }
	return New(Options{Core: tc, NewID: newID}), tc, hexKeys
}

// call sends one request and decodes the raw answer into out (when not
// nil).
func call(t *testing.T, cs *Ceremonies, op logical.Operation, path string, body any, out any) error {
	t.Helper()
	req := &logical.Request{Operation: op, Path: path, Query: url.Values{}}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		req.Body = b
	}
	resp, err := cs.Handle(t.Context(), req)
	if err != nil {
		return err
	}
	if out != nil {
		if resp == nil || resp.Raw == nil {
			t.Fatalf("%s %s: no answer", op, path)
		}
		if err := json.Unmarshal(resp.Raw.Body, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", op, path, resp.Raw.Body, err)
		}
	}
	return nil
}

func wantInvalid(t *testing.T, err error, contains string) {
	t.Helper()
	if !errors.Is(err, logical.ErrInvalidRequest) || !strings.Contains(err.Error(), contains) {
		t.Fatalf("err = %v, want an invalid request containing %q", err, contains)
	}
}

func TestDecodeShare(t *testing.T) {
	t.Parallel()
	raw := []byte{1, 2, 3, 0xff}
	tests := []struct {
		name, in string
		want     []byte
		wantErr  string
	}{
		{"hex", hex.EncodeToString(raw), raw, ""},
		{"base64", base64.StdEncoding.EncodeToString(raw), raw, ""},
		{"spaces trimmed", " " + hex.EncodeToString(raw) + "\n", raw, ""},
		{"empty", "", nil, "missing required parameter: key"},
		{"neither", "not a key!", nil, "must be hex or base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeShare(tt.in)
			if tt.wantErr != "" {
				wantInvalid(t, err, tt.wantErr)
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("decodeShare(%q) = %x, %v, want %x", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestShareSetAdd(t *testing.T) {
	t.Parallel()
	cfg := seal.Config{SecretShares: 3, SecretThreshold: 2}
	key, shares, err := seal.NewUnsealKey(cfg)
	if err != nil {
		t.Fatal(err)
	}
	clear(key)
	sameIndex := slices.Clone(shares[1])
	sameIndex[0] ^= 1
	sameIndex[len(sameIndex)-1] = shares[0][len(shares[0])-1]
	tests := []struct {
		name    string
		given   [][]byte
		add     []byte
		wantErr string
	}{
		{"first", nil, shares[0], ""},
		{"second", shares[:1], shares[1], ""},
		{"too short", nil, shares[0][:8], "invalid key share: share is 8 bytes"},
		{"duplicate", shares[:1], shares[0], "already been provided"},
		{"same index", shares[:1], sameIndex, "same index"},
		{"beyond threshold", shares[:2], shares[2], "enough key shares"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s shareSet
			for _, g := range tt.given {
				s.shares = append(s.shares, slices.Clone(g))
			}
			err := s.add(cfg, tt.add)
			if tt.wantErr != "" {
				wantInvalid(t, err, tt.wantErr)
				if s.len() != len(tt.given) {
					t.Fatalf("refused share kept: %d shares", s.len())
				}
				return
			}
			if err != nil || s.len() != len(tt.given)+1 {
				t.Fatalf("add = %v with %d shares, want nil with %d", err, s.len(), len(tt.given)+1)
			}
			kept := s.shares[len(s.shares)-1]
			s.zero()
			if s.shares != nil || !slices.Equal(kept, make([]byte, len(kept))) {
				t.Fatal("zero left share bytes behind")
			}
		})
	}
}

func TestCheckNonce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, got, want, wantErr string
	}{
		{"match", "a", "a", ""},
		{"missing", "", "a", "missing required parameter: nonce"},
		{"wrong", "b", "a", `incorrect nonce supplied; nonce for this operation is "a"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkNonce(tt.got, tt.want)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("checkNonce(%q, %q) = %v", tt.got, tt.want, err)
				}
				return
			}
			wantInvalid(t, err, tt.wantErr)
		})
	}
}

func TestIsPathAndUnsupported(t *testing.T) {
	t.Parallel()
	cs, _, _ := newTestCeremonies(t, 1, 1)
	tests := []struct {
		path string
		op   logical.Operation
		is   bool
	}{
		{"sys/rekey/init", logical.ListOperation, true},
		{"sys/rekey/update", logical.ReadOperation, true},
		{"sys/rekey/verify", logical.PatchOperation, true},
		{"sys/generate-root/attempt", logical.ListOperation, true},
		{"sys/generate-root/update", logical.DeleteOperation, true},
		{"sys/rekey", logical.ReadOperation, false},
		{"sys/generate-root/attempt/x", logical.ReadOperation, false},
	}
	for _, tt := range tests {
		t.Run(tt.path+" "+string(tt.op), func(t *testing.T) {
			if got := IsPath(tt.path); got != tt.is {
				t.Fatalf("IsPath(%q) = %v, want %v", tt.path, got, tt.is)
			}
			err := call(t, cs, tt.op, tt.path, nil, nil)
			if !errors.Is(err, logical.ErrUnsupportedOperation) {
				t.Fatalf("%s %s: err = %v, want unsupported operation", tt.op, tt.path, err)
			}
		})
	}
}

func TestRekey(t *testing.T) {
	t.Parallel()
	cs, tc, keys := newTestCeremonies(t, 3, 2)
	var st rekeyStatusOutput
	if err := call(t, cs, logical.UpdateOperation, "sys/rekey/init", map[string]any{"secret_shares": 2, "secret_threshold": 2}, &st); err != nil {
		t.Fatal(err)
	}
	if !st.Started || st.Nonce != "nonce-1" || st.Required != 2 || st.N != 2 || st.T != 2 {
		t.Fatalf("init status = %+v", st)
	}
	err := call(t, cs, logical.UpdateOperation, "sys/rekey/init", map[string]any{"secret_shares": 1, "secret_threshold": 1}, nil)
	wantInvalid(t, err, "rekey already in progress")
	err = call(t, cs, logical.DeleteOperation, "sys/rekey/init", map[string]any{"nonce": "other"}, nil)
	wantInvalid(t, err, "incorrect nonce")

	// A wrong combination resets the progress and keeps the attempt.
	if err := call(t, cs, logical.UpdateOperation, "sys/rekey/update", map[string]any{"key": keys[0], "nonce": st.Nonce}, &st); err != nil || st.Progress != 1 {
		t.Fatalf("first share: status %+v, err %v", st, err)
	}
	wrong, _ := hex.DecodeString(keys[1])
	wrong[0] ^= 0xff
	err = call(t, cs, logical.UpdateOperation, "sys/rekey/update", map[string]any{"key": hex.EncodeToString(wrong), "nonce": st.Nonce}, nil)
	wantInvalid(t, err, "root key verification failed")
	if err := call(t, cs, logical.ReadOperation, "sys/rekey/init", nil, &st); err != nil || !st.Started || st.Progress != 0 {
		t.Fatalf("after a wrong combination: status %+v, err %v", st, err)
	}

	var done rekeyUpdateOutput
	for _, k := range keys[1:] {
		if err := call(t, cs, logical.UpdateOperation, "sys/rekey/update", map[string]any{"key": k, "nonce": st.Nonce}, &done); err != nil {
			t.Fatal(err)
		}
	}
	if !done.Complete || len(done.Keys) != 2 || len(done.KeysBase64) != 2 {
		t.Fatalf("completion = %+v", done)
	}
	var newShares [][]byte
	for _, k := range done.Keys {
		b, _ := hex.DecodeString(k)
		newShares = append(newShares, b)
	}
	got, err := tc.shamir.VerifyShares(t.Context(), newShares)
	if err != nil || !slices.Equal(got, tc.rootKey) {
		t.Fatalf("the new shares do not open the root key: %v", err)
	}
	if err := call(t, cs, logical.ReadOperation, "sys/rekey/init", nil, &st); err != nil || st.Started {
		t.Fatalf("after completion: status %+v, err %v", st, err)
	}
	err = call(t, cs, logical.UpdateOperation, "sys/rekey/update", map[string]any{"key": done.Keys[0], "nonce": done.Nonce}, nil)
	wantInvalid(t, err, "no barrier rekey in progress")
}

func TestRekeyWithVerification(t *testing.T) {
	t.Parallel()
	cs, tc, keys := newTestCeremonies(t, 1, 1)
	var st rekeyStatusOutput
	if err := call(t, cs, logical.UpdateOperation, "sys/rekey/init", map[string]any{"secret_shares": 3, "secret_threshold": 2, "require_verification": true}, &st); err != nil {
		t.Fatal(err)
	}
	var done rekeyUpdateOutput
	if err := call(t, cs, logical.UpdateOperation, "sys/rekey/update", map[string]any{"key": keys[0], "nonce": st.Nonce}, &done); err != nil {
		t.Fatal(err)
	}
	if !done.VerificationRequired || done.VerificationNonce == "" || len(done.Keys) != 3 {
		t.Fatalf("completion = %+v", done)
	}
	// The old key still works until the new shares come back.
	old, _ := hex.DecodeString(keys[0])
	if _, err := tc.shamir.VerifyShares(t.Context(), [][]byte{old}); err != nil {
		t.Fatalf("old key refused before verification: %v", err)
	}
	err := call(t, cs, logical.UpdateOperation, "sys/rekey/update", map[string]any{"key": keys[0], "nonce": st.Nonce}, nil)
	wantInvalid(t, err, "verification must be performed")

	// Cancelling the verification gives it a new nonce.
	var vst rekeyVerifyOutput
	if err := call(t, cs, logical.DeleteOperation, "sys/rekey/verify", map[string]any{"nonce": done.VerificationNonce}, &vst); err != nil {
		t.Fatal(err)
	}
	if vst.Nonce == done.VerificationNonce || !vst.Started || vst.T != 2 || vst.N != 3 {
		t.Fatalf("after verify cancel: %+v", vst)
	}
	for i, k := range done.Keys[:2] {
		if err := call(t, cs, logical.UpdateOperation, "sys/rekey/verify", map[string]any{"key": k, "nonce": vst.Nonce}, &vst); err != nil {
			t.Fatalf("verify share %d: %v", i, err)
		}
	}
	if !vst.Complete {
		t.Fatalf("verification = %+v, want complete", vst)
	}
	if _, err := tc.shamir.VerifyShares(t.Context(), [][]byte{old}); !errors.Is(err, seal.ErrBadKey) {
		t.Fatalf("old key after the rekey: err = %v, want ErrBadKey", err)
	}
	err = call(t, cs, logical.ReadOperation, "sys/rekey/verify", nil, nil)
	wantInvalid(t, err, "no rekey configuration found")
}

func TestGenerateRoot(t *testing.T) {
	t.Parallel()
	cs, tc, keys := newTestCeremonies(t, 3, 2)
	var st genRootStatusOutput
	if err := call(t, cs, logical.UpdateOperation, "sys/generate-root/attempt", map[string]any{}, &st); err != nil {
		t.Fatal(err)
	}
	if !st.Started || len(st.OTP) != otpLength() || st.Required != 2 {
		t.Fatalf("init = %+v", st)
	}
	pad := st.OTP
	var again genRootStatusOutput
	if err := call(t, cs, logical.ReadOperation, "sys/generate-root/attempt", nil, &again); err != nil || again.OTP != "" || again.Nonce != st.Nonce {
		t.Fatalf("status = %+v, %v; want the attempt without its pad", again, err)
	}
	err := call(t, cs, logical.UpdateOperation, "sys/generate-root/attempt", map[string]any{}, nil)
	wantInvalid(t, err, "root generation already in progress")
	for _, k := range keys[:2] {
		if err := call(t, cs, logical.UpdateOperation, "sys/generate-root/update", map[string]any{"key": k, "nonce": st.Nonce}, &st); err != nil {
			t.Fatal(err)
		}
	}
	if !st.Complete || st.EncodedToken == "" || st.EncodedToken != st.EncodedRootToken {
		t.Fatalf("completion = %+v", st)
	}
	id, err := otp.Decode(st.EncodedToken, pad)
	if err != nil || len(tc.tokens) != 1 || id != tc.tokens[0] {
		t.Fatalf("decoded token %q, %v; created %q", id, err, tc.tokens)
	}
}

func TestCancelAndReset(t *testing.T) {
	t.Parallel()
	cs, _, keys := newTestCeremonies(t, 3, 2)
	var st genRootStatusOutput
	if err := call(t, cs, logical.UpdateOperation, "sys/generate-root/attempt", map[string]any{}, &st); err != nil {
		t.Fatal(err)
	}
	if err := call(t, cs, logical.UpdateOperation, "sys/generate-root/update", map[string]any{"key": keys[0], "nonce": st.Nonce}, nil); err != nil {
		t.Fatal(err)
	}
	a := cs.genRootLocked()
	share, pad := a.shares.shares[0], a.otp
	cs.Reset()
	if !slices.Equal(share, make([]byte, len(share))) || !slices.Equal(pad, make([]byte, len(pad))) {
		t.Fatal("Reset left a share or the pad behind")
	}
	if err := call(t, cs, logical.ReadOperation, "sys/generate-root/attempt", nil, &st); err != nil || st.Started {
		t.Fatalf("after Reset: %+v, %v", st, err)
	}

	// A cancel needs the nonce, in the body or the query, and cancelling
	// nothing does nothing.
	var rk rekeyStatusOutput
	if err := call(t, cs, logical.UpdateOperation, "sys/rekey/init", map[string]any{"secret_shares": 1, "secret_threshold": 1}, &rk); err != nil {
		t.Fatal(err)
	}
	err := call(t, cs, logical.DeleteOperation, "sys/rekey/init", nil, nil)
	wantInvalid(t, err, "missing required parameter: nonce")
	req := &logical.Request{Operation: logical.DeleteOperation, Path: "sys/rekey/init", Query: url.Values{"nonce": {rk.Nonce}}}
	if resp, err := cs.Handle(t.Context(), req); err != nil || resp != nil {
		t.Fatalf("cancel by query = %v, %v; want no content", resp, err)
	}
	if err := call(t, cs, logical.DeleteOperation, "sys/rekey/init", nil, nil); err != nil {
		t.Fatalf("cancel with none running: %v", err)
	}
}

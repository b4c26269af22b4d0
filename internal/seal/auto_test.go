package seal_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/coffer-secrets/coffer/internal/barrier"
	"github.com/coffer-secrets/coffer/internal/seal"
	"github.com/coffer-secrets/coffer/internal/seal/static"
	"github.com/coffer-secrets/coffer/internal/storage/inmem"
)

func staticWrapper(t *testing.T) *static.Wrapper {
	t.Helper()
	k := make([]byte, 32)
	rand.Read(k)
	w, err := static.New(static.Options{CurrentKeyID: "k", CurrentKey: k})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestAutoSealLifecycle: init, unwrap, recovery shares, and a round trip
// Shamir -> static -> Shamir that keeps the operators' shares.
func TestAutoSealLifecycle(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	phys := inmem.New()
	s := seal.NewShamir(phys)
	w := staticWrapper(t)
	root, _ := barrier.GenerateKey()

	shares, err := s.Initialize(ctx, seal.Config{SecretShares: 3, SecretThreshold: 2}, root)
	if err != nil {
		t.Fatal(err)
	}
	// Shamir -> static.
	if _, _, _, err := s.SubmitUnsealKey(ctx, shares[0]); err != nil {
		t.Fatal(err)
	}
	unsealKey, gotRoot, _, err := s.SubmitUnsealKey(ctx, shares[2])
	if err != nil || !bytes.Equal(gotRoot, root) {
		t.Fatalf("SubmitUnsealKey = %v; want the root key", err)
	}
	if err := s.MigrateToAuto(ctx, gotRoot, unsealKey, w); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{barrier.RootKeyPath} {
		if e, _ := phys.Get(ctx, key); e != nil {
			t.Errorf("%s still stored after migrating to an auto seal", key)
		}
	}
	for key := range dumpValues(t, phys) {
		if bytes.Contains(dumpValues(t, phys)[key], root) {
			t.Errorf("%s holds the root key in the clear", key)
		}
	}
	if got, err := s.RootKey(ctx, w); err != nil || !bytes.Equal(got, root) {
		t.Fatalf("RootKey after migration = %v; want the root key", err)
	}
	if _, _, err := s.Submit(ctx, shares[0]); !errors.Is(err, seal.ErrWrongSeal) {
		t.Errorf("Submit of an unseal share to an auto seal = %v, want ErrWrongSeal", err)
	}
	// The old unseal shares are now recovery shares.
	if err := s.VerifyRecoveryShares(ctx, [][]byte{shares[1], shares[2]}); err != nil {
		t.Errorf("VerifyRecoveryShares(old unseal shares) = %v, want nil", err)
	}
	other, _ := barrier.GenerateKey()
	if err := s.VerifyRecoveryKey(ctx, other); !errors.Is(err, seal.ErrBadKey) {
		t.Errorf("VerifyRecoveryKey(another key) = %v, want ErrBadKey", err)
	}
	if err := s.VerifyRecoveryShares(ctx, [][]byte{shares[1]}); !errors.Is(err, seal.ErrInvalidShare) {
		t.Errorf("VerifyRecoveryShares(below threshold) = %v, want ErrInvalidShare", err)
	}
	// static -> Shamir with the recovery shares.
	if k, p, err := s.SubmitRecovery(ctx, shares[1]); k != nil || err != nil || p.Progress != 1 || p.Threshold != 2 {
		t.Fatalf("SubmitRecovery(first) = %v, %+v, %v", k, p, err)
	}
	rk, _, err := s.SubmitRecovery(ctx, shares[0])
	if err != nil || rk == nil {
		t.Fatalf("SubmitRecovery(second) = %v", err)
	}
	if err := s.MigrateToShamir(ctx, root, rk); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{barrier.WrappedRootKeyPath, barrier.RecoveryKeyPath} {
		if e, _ := phys.Get(ctx, key); e != nil {
			t.Errorf("%s still stored after migrating to Shamir", key)
		}
	}
	s2 := seal.NewShamir(phys)
	s2.Submit(ctx, shares[2])
	if got, _, err := s2.Submit(ctx, shares[1]); err != nil || !bytes.Equal(got, root) {
		t.Errorf("Submit after migrating back = %v; want the root key", err)
	}
}

func TestInitializeAuto(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	phys := inmem.New()
	s := seal.NewShamir(phys)
	w := staticWrapper(t)
	root, _ := barrier.GenerateKey()
	if _, err := s.InitializeAuto(ctx, seal.Config{Type: "transit", RecoveryShares: 1, RecoveryThreshold: 1}, root, w); !errors.Is(err, seal.ErrWrongSeal) {
		t.Errorf("InitializeAuto with another type = %v, want ErrWrongSeal", err)
	}
	if _, err := s.InitializeAuto(ctx, seal.Config{Type: "static", SecretShares: 1, SecretThreshold: 1, RecoveryShares: 1, RecoveryThreshold: 1}, root, w); !errors.Is(err, seal.ErrInvalidConfig) {
		t.Errorf("InitializeAuto with secret shares = %v, want ErrInvalidConfig", err)
	}
	shares, err := s.InitializeAuto(ctx, seal.Config{Type: "static", RecoveryShares: 5, RecoveryThreshold: 3}, root, w)
	if err != nil || len(shares) != 5 {
		t.Fatalf("InitializeAuto = %d shares, %v", len(shares), err)
	}
	if _, err := s.InitializeAuto(ctx, seal.Config{Type: "static", RecoveryShares: 1, RecoveryThreshold: 1}, root, w); !errors.Is(err, seal.ErrAlreadyInitialized) {
		t.Errorf("second InitializeAuto = %v, want ErrAlreadyInitialized", err)
	}
	if got, err := seal.NewShamir(phys).RootKey(ctx, w); err != nil || !bytes.Equal(got, root) {
		t.Errorf("RootKey = %v; want the root key", err)
	}
	if _, err := seal.NewShamir(phys).RootKey(ctx, staticWrapper(t)); !errors.Is(err, seal.ErrUnwrap) {
		t.Errorf("RootKey with another static key = %v, want ErrUnwrap", err)
	}
	if err := s.VerifyRecoveryShares(ctx, shares[1:4]); err != nil {
		t.Errorf("VerifyRecoveryShares(3 of 5) = %v", err)
	}
	// Auto -> auto keeps the recovery key.
	w2 := staticWrapper(t)
	if err := s.MigrateAuto(ctx, root, w2); err != nil {
		t.Fatal(err)
	}
	if got, err := s.RootKey(ctx, w2); err != nil || !bytes.Equal(got, root) {
		t.Errorf("RootKey after MigrateAuto = %v", err)
	}
	if err := s.VerifyRecoveryShares(ctx, shares[:3]); err != nil {
		t.Errorf("VerifyRecoveryShares after MigrateAuto = %v", err)
	}
}

func dumpValues(t *testing.T, phys *inmem.Storage) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	keys, err := phys.List(t.Context(), "core/")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		e, err := phys.Get(t.Context(), "core/"+k)
		if err == nil && e != nil {
			out["core/"+k] = e.Value
		}
	}
	return out
}

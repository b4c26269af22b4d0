package seal

import (
	"bytes"
	"errors"
	"testing"

	"github.com/coffer-secrets/coffer/internal/barrier"
	"github.com/coffer-secrets/coffer/internal/storage/inmem"
)

func TestRekeyKeepsRootKeyAndReplacesShares(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	tests := []struct {
		name     string
		from, to Config
	}{
		{"5/3 to 3/2", Config{SecretShares: 5, SecretThreshold: 3}, Config{SecretShares: 3, SecretThreshold: 2}},
		{"1/1 to 2/2", Config{SecretShares: 1, SecretThreshold: 1}, Config{SecretShares: 2, SecretThreshold: 2}},
		{"3/2 to 1/1", Config{SecretShares: 3, SecretThreshold: 2}, Config{SecretShares: 1, SecretThreshold: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := NewShamir(inmem.New())
			rootKey, _ := barrier.GenerateKey()
			old, err := s.Initialize(ctx, tt.from, rootKey)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.VerifyShares(ctx, old[:tt.from.SecretThreshold])
			if err != nil || !bytes.Equal(got, rootKey) {
				t.Fatalf("VerifyShares(old) = %v; want the root key", err)
			}
			key, shares, err := NewUnsealKey(tt.to)
			if err != nil {
				t.Fatal(err)
			}
			if !KeyMatches(tt.to, key, shares[:tt.to.SecretThreshold]) {
				t.Fatal("KeyMatches(new shares) = false")
			}
			if err := s.Rekey(ctx, tt.to, key, rootKey); err != nil {
				t.Fatal(err)
			}
			if _, err := s.VerifyShares(ctx, old[:tt.from.SecretThreshold]); !errors.Is(err, ErrBadKey) {
				t.Fatalf("VerifyShares(old shares) after rekey = %v, want ErrBadKey", err)
			}
			got, err = s.VerifyShares(ctx, shares[:tt.to.SecretThreshold])
			if err != nil || !bytes.Equal(got, rootKey) {
				t.Fatalf("VerifyShares(new) = %v; want the same root key", err)
			}
			if cfg, _ := s.Config(ctx); *cfg != tt.to {
				t.Fatalf("Config after rekey = %+v, want %+v", *cfg, tt.to)
			}
		})
	}
}

package seal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/coffer-secrets/coffer/internal/barrier"
	"github.com/coffer-secrets/coffer/internal/storage"
	"github.com/coffer-secrets/coffer/internal/storage/inmem"
	"github.com/google/go-cmp/cmp"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cfg     Config
		wantErr string // substring; empty means valid
	}{
		{Config{SecretShares: 1, SecretThreshold: 1}, ""},
		{Config{SecretShares: 2, SecretThreshold: 2}, ""},
		{Config{SecretShares: 5, SecretThreshold: 3}, ""},
		{Config{SecretShares: 255, SecretThreshold: 255}, ""},
		{Config{SecretShares: 255, SecretThreshold: 2}, ""},
		{Config{SecretShares: 0, SecretThreshold: 0}, "secret_shares must be between 1 and 255"},
		{Config{SecretShares: -1, SecretThreshold: 1}, "secret_shares must be between 1 and 255"},
		{Config{SecretShares: 256, SecretThreshold: 3}, "secret_shares must be between 1 and 255"},
		{Config{SecretShares: 3, SecretThreshold: 0}, "secret_threshold must be between 1 and secret_shares"},
		{Config{SecretShares: 3, SecretThreshold: 4}, "secret_threshold must be between 1 and secret_shares"},
		{Config{SecretShares: 1, SecretThreshold: 2}, "secret_threshold must be between 1 and secret_shares"},
		{Config{SecretShares: 5, SecretThreshold: 1}, "secret_threshold must be greater than 1"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d-of-%d", tt.cfg.SecretThreshold, tt.cfg.SecretShares), func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("Validate(%+v) = %v, want nil", tt.cfg, err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Validate(%+v) = %v, want ErrInvalidConfig containing %q", tt.cfg, err, tt.wantErr)
			}
		})
	}
}

// dump returns every entry of s.
func dump(tb testing.TB, s storage.Storage) map[string][]byte {
	tb.Helper()
	out := make(map[string][]byte)
	var walk func(prefix string)
	walk = func(prefix string) {
		names, err := s.List(tb.Context(), prefix)
		if err != nil {
			tb.Fatal(err)
		}
		for _, n := range names {
			if strings.HasSuffix(n, "/") {
				walk(prefix + n)
				continue
			}
			e, err := s.Get(tb.Context(), prefix+n)
			if err != nil || e == nil {
				tb.Fatalf("Get(%s) = %v, %v", prefix+n, e, err)
			}
			out[prefix+n] = e.Value
		}
	}
	walk("")
	return out
}

func initSeal(tb testing.TB, cfg Config) (*Shamir, *inmem.Storage, []byte, [][]byte) {
	tb.Helper()
	phys := inmem.New()
	s := NewShamir(phys)
	root, err := barrier.GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	shares, err := s.Initialize(tb.Context(), cfg, root)
	if err != nil {
		tb.Fatalf("Initialize(%+v): %v", cfg, err)
	}
	return s, phys, root, shares
}

// combinations calls f with every k-element subset of 0..n-1, ascending.
func combinations(n, k int, f func([]int)) {
	idx := make([]int, 0, k)
	var rec func(start int)
	rec = func(start int) {
		if len(idx) == k {
			f(slices.Clone(idx))
			return
		}
		for i := start; i < n; i++ {
			idx = append(idx, i)
			rec(i + 1)
			idx = idx[:len(idx)-1]
		}
	}
	rec(0)
}

func TestInitializeAndUnsealEverySubset(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{{SecretShares: 1, SecretThreshold: 1}, {SecretShares: 2, SecretThreshold: 2}, {SecretShares: 3, SecretThreshold: 2}, {SecretShares: 5, SecretThreshold: 3}, {SecretShares: 5, SecretThreshold: 5}, {SecretShares: 7, SecretThreshold: 4}} {
		t.Run(fmt.Sprintf("%d-of-%d", cfg.SecretThreshold, cfg.SecretShares), func(t *testing.T) {
			t.Parallel()
			s, phys, root, shares := initSeal(t, cfg)
			ctx := t.Context()
			if len(shares) != cfg.SecretShares {
				t.Fatalf("Initialize returned %d shares, want %d", len(shares), cfg.SecretShares)
			}
			wantLen := barrier.KeySize + 1
			if cfg.SecretShares == 1 {
				wantLen = barrier.KeySize
			}
			for i, sh := range shares {
				if len(sh) != wantLen {
					t.Errorf("share %d is %d bytes, want %d", i, len(sh), wantLen)
				}
			}
			for k, v := range dump(t, phys) {
				if bytes.Contains(v, root) {
					t.Errorf("physical entry %s holds the root key in clear", k)
				}
			}
			before := dump(t, phys)
			combinations(len(shares), cfg.SecretThreshold, func(idx []int) {
				for _, order := range [][]int{idx, reversed(idx)} {
					var nonce string
					for step, i := range order {
						got, p, err := s.Submit(ctx, shares[i])
						if err != nil {
							t.Fatalf("Submit(share %d) of %v: %v", i, order, err)
						}
						last := step == len(order)-1
						if last {
							if !bytes.Equal(got, root) {
								t.Fatalf("shares %v unsealed %x, want the root key", order, got)
							}
							if diff := cmp.Diff(Progress{Threshold: cfg.SecretThreshold}, p); diff != "" {
								t.Errorf("progress after unseal mismatch (-want +got):\n%s", diff)
							}
							continue
						}
						if got != nil {
							t.Fatalf("Submit returned a root key after %d of %d shares", step+1, cfg.SecretThreshold)
						}
						if p.Progress != step+1 || p.Threshold != cfg.SecretThreshold || p.Nonce == "" {
							t.Errorf("progress after %d shares = %+v", step+1, p)
						}
						if nonce == "" {
							nonce = p.Nonce
						} else if p.Nonce != nonce {
							t.Errorf("nonce changed within an attempt: %q then %q", nonce, p.Nonce)
						}
					}
				}
			})
			if diff := cmp.Diff(before, dump(t, phys)); diff != "" {
				t.Errorf("unsealing changed storage (-before +after):\n%s", diff)
			}
		})
	}
}

func reversed(idx []int) []int {
	r := slices.Clone(idx)
	slices.Reverse(r)
	return r
}

func TestInitializeErrors(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	phys := inmem.New()
	s := NewShamir(phys)
	root, _ := barrier.GenerateKey()
	if _, err := s.Initialize(ctx, Config{SecretShares: 3, SecretThreshold: 1}, root); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("Initialize(invalid config) error = %v, want ErrInvalidConfig", err)
	}
	if _, err := s.Initialize(ctx, Config{SecretShares: 3, SecretThreshold: 2}, nil); err == nil {
		t.Error("Initialize(empty root key) succeeded")
	}
	if got := dump(t, phys); len(got) != 0 {
		t.Errorf("failed Initialize wrote %d entries", len(got))
	}
	if _, _, err := s.Submit(ctx, make([]byte, 33)); !errors.Is(err, ErrNotInitialized) {
		t.Errorf("Submit before Initialize: error = %v, want ErrNotInitialized", err)
	}
	if _, err := s.Initialize(ctx, Config{SecretShares: 3, SecretThreshold: 2}, root); err != nil {
		t.Fatal(err)
	}
	before := dump(t, phys)
	if _, err := s.Initialize(ctx, Config{SecretShares: 3, SecretThreshold: 2}, root); !errors.Is(err, ErrAlreadyInitialized) {
		t.Errorf("second Initialize: error = %v, want ErrAlreadyInitialized", err)
	}
	// Another Shamir over the same storage also sees it.
	if _, err := NewShamir(phys).Initialize(ctx, Config{SecretShares: 1, SecretThreshold: 1}, root); !errors.Is(err, ErrAlreadyInitialized) {
		t.Errorf("Initialize through a second seal: error = %v, want ErrAlreadyInitialized", err)
	}
	if diff := cmp.Diff(before, dump(t, phys)); diff != "" {
		t.Errorf("refused Initialize changed storage (-before +after):\n%s", diff)
	}
}

// failingTxn is a storage whose transactions fail.
type failingTxn struct{ storage.Storage }

func (failingTxn) Txn(context.Context, []storage.Op) error { return errors.New("disk full") }

func TestInitializeWritesAtomically(t *testing.T) {
	t.Parallel()
	phys := inmem.New()
	s := NewShamir(failingTxn{phys})
	root, _ := barrier.GenerateKey()
	shares, err := s.Initialize(t.Context(), Config{SecretShares: 3, SecretThreshold: 2}, root)
	if err == nil || shares != nil {
		t.Fatalf("Initialize over failing storage = %d shares, %v; want an error", len(shares), err)
	}
	if got := dump(t, phys); len(got) != 0 {
		t.Errorf("failed Initialize left %d entries", len(got))
	}
}

func TestConfigRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	phys := inmem.New()
	s := NewShamir(phys)
	cfg, err := s.Config(ctx)
	if cfg != nil || err != nil {
		t.Errorf("Config() before Initialize = %+v, %v; want nil, nil", cfg, err)
	}
	if p := s.Progress(); p != (Progress{}) {
		t.Errorf("Progress() before Initialize = %+v, want zero", p)
	}
	root, _ := barrier.GenerateKey()
	want := Config{SecretShares: 5, SecretThreshold: 3}
	if _, err := s.Initialize(ctx, want, root); err != nil {
		t.Fatal(err)
	}
	for name, seal := range map[string]*Shamir{"same": s, "new": NewShamir(phys)} {
		got, err := seal.Config(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(&want, got); diff != "" {
			t.Errorf("%s seal Config() mismatch (-want +got):\n%s", name, diff)
		}
		if p := seal.Progress(); p.Threshold != 3 || p.Progress != 0 {
			t.Errorf("%s seal Progress() = %+v, want threshold 3, progress 0", name, p)
		}
	}
	e, err := phys.Get(ctx, barrier.SealConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(e.Value), `{"secret_shares":5,"secret_threshold":3}`; got != want {
		t.Errorf("stored config = %s, want %s", got, want)
	}

	bad := inmem.New()
	if err := bad.Put(ctx, &storage.Entry{Key: barrier.SealConfigPath, Value: []byte(`{"secret_shares":0}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := NewShamir(bad).Config(ctx); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("Config() of an invalid stored config: error = %v, want ErrInvalidConfig", err)
	}
}

func TestForeignShareRefused(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	cfg := Config{SecretShares: 5, SecretThreshold: 3}
	s, phys, root, shares := initSeal(t, cfg)
	_, _, _, foreign := initSeal(t, cfg)
	before := dump(t, phys)

	for _, sh := range shares[:2] {
		if _, _, err := s.Submit(ctx, sh); err != nil {
			t.Fatal(err)
		}
	}
	// Pick a foreign share whose index is not already in use.
	used := map[byte]bool{shares[0][32]: true, shares[1][32]: true}
	var other []byte
	for _, f := range foreign {
		if !used[f[32]] {
			other = f
			break
		}
	}
	got, p, err := s.Submit(ctx, other)
	if !errors.Is(err, ErrBadKey) || got != nil {
		t.Fatalf("Submit(foreign share) = %x, %v; want nil, ErrBadKey", got, err)
	}
	if err.Error() != ErrBadKey.Error() {
		t.Errorf("ErrBadKey is wrapped with details: %q", err)
	}
	if p.Progress != 0 || p.Nonce != "" {
		t.Errorf("progress after a bad combination = %+v, want reset", p)
	}
	if diff := cmp.Diff(before, dump(t, phys)); diff != "" {
		t.Errorf("bad combination changed storage (-before +after):\n%s", diff)
	}
	// The right shares still unseal afterwards.
	var key []byte
	for _, sh := range shares[2:] {
		if key, _, err = s.Submit(ctx, sh); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(key, root) {
		t.Errorf("unseal after a bad attempt = %x, want the root key", key)
	}
}

func TestSingleShareWrongKey(t *testing.T) {
	t.Parallel()
	s, _, root, shares := initSeal(t, Config{SecretShares: 1, SecretThreshold: 1})
	wrong := slices.Clone(shares[0])
	wrong[0] ^= 1
	if got, _, err := s.Submit(t.Context(), wrong); !errors.Is(err, ErrBadKey) || got != nil {
		t.Errorf("Submit(wrong single key) = %x, %v; want nil, ErrBadKey", got, err)
	}
	if got, _, err := s.Submit(t.Context(), shares[0]); err != nil || !bytes.Equal(got, root) {
		t.Errorf("Submit(right single key) = %x, %v; want the root key", got, err)
	}
}

func TestMalformedAndDuplicateShares(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _, root, shares := initSeal(t, Config{SecretShares: 5, SecretThreshold: 3})
	if _, _, err := s.Submit(ctx, shares[0]); err != nil {
		t.Fatal(err)
	}
	p0 := s.Progress()
	sameIndex := slices.Clone(shares[1])
	sameIndex[32] = shares[0][32]
	zeroIndex := slices.Clone(shares[1])
	zeroIndex[32] = 0
	tests := []struct {
		name  string
		share []byte
		want  error
	}{
		{"empty", nil, ErrInvalidShare},
		{"short", shares[1][:32], ErrInvalidShare},
		{"long", append(slices.Clone(shares[1]), 0), ErrInvalidShare},
		{"zero index", zeroIndex, ErrInvalidShare},
		{"same share twice", shares[0], nil},
		{"same index", sameIndex, ErrDuplicateShare},
	}
	for _, tt := range tests {
		got, p, err := s.Submit(ctx, tt.share)
		if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) || got != nil {
			t.Errorf("Submit(%s) = %x, %v; want nil, %v", tt.name, got, err, tt.want)
		}
		if diff := cmp.Diff(p0, p); diff != "" {
			t.Errorf("Submit(%s) changed the progress (-want +got):\n%s", tt.name, diff)
		}
	}
	var key []byte
	var err error
	for _, sh := range shares[1:3] {
		if key, _, err = s.Submit(ctx, sh); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(key, root) {
		t.Errorf("unseal after refused shares = %x, want the root key", key)
	}
}

func TestReset(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _, root, shares := initSeal(t, Config{SecretShares: 3, SecretThreshold: 2})
	_, p, err := s.Submit(ctx, shares[0])
	if err != nil {
		t.Fatal(err)
	}
	firstNonce := p.Nonce
	s.mu.Lock()
	held := s.shares[0]
	s.mu.Unlock()

	s.Reset()
	if diff := cmp.Diff(Progress{Threshold: 2}, s.Progress()); diff != "" {
		t.Errorf("Progress after Reset mismatch (-want +got):\n%s", diff)
	}
	if !bytes.Equal(held, make([]byte, len(held))) {
		t.Errorf("Reset did not zero the submitted share: %x", held)
	}
	// After a reset the same share counts again, in a new attempt.
	_, p, err = s.Submit(ctx, shares[0])
	if err != nil || p.Progress != 1 {
		t.Fatalf("Submit after Reset = %+v, %v; want progress 1", p, err)
	}
	if p.Nonce == firstNonce {
		t.Errorf("new attempt reused nonce %q", p.Nonce)
	}
	got, _, err := s.Submit(ctx, shares[2])
	if err != nil || !bytes.Equal(got, root) {
		t.Errorf("Submit = %x, %v; want the root key", got, err)
	}
}

func TestSharesZeroedAfterUnseal(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _, _, shares := initSeal(t, Config{SecretShares: 3, SecretThreshold: 2})
	mine := slices.Clone(shares[0])
	if _, _, err := s.Submit(ctx, shares[0]); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	held := s.shares[0]
	s.mu.Unlock()
	if _, _, err := s.Submit(ctx, shares[1]); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(held, make([]byte, len(held))) {
		t.Errorf("submitted share not zeroed after unseal: %x", held)
	}
	if !bytes.Equal(shares[0], mine) {
		t.Errorf("the caller's share was zeroed: Submit must copy it")
	}
}

func TestConcurrentSubmit(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	cfg := Config{SecretShares: 5, SecretThreshold: 3}
	s, _, root, shares := initSeal(t, cfg)
	for round := range 20 {
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			results [][]byte
		)
		for i := range cfg.SecretThreshold {
			wg.Go(func() {
				got, _, err := s.Submit(ctx, shares[(round+i)%len(shares)])
				if err != nil {
					t.Errorf("round %d: Submit: %v", round, err)
					return
				}
				if got != nil {
					mu.Lock()
					results = append(results, got)
					mu.Unlock()
				}
			})
			wg.Go(func() { _ = s.Progress() })
		}
		wg.Wait()
		if len(results) != 1 || !bytes.Equal(results[0], root) {
			t.Fatalf("round %d: %d submitters got a root key, want exactly 1 with the root key", round, len(results))
		}
	}
	// Racing duplicates: the same share from many goroutines counts once.
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if _, _, err := s.Submit(ctx, shares[0]); err != nil {
				t.Errorf("Submit: %v", err)
			}
		})
	}
	wg.Wait()
	if p := s.Progress(); p.Progress != 1 {
		t.Errorf("progress after 10 concurrent submissions of one share = %d, want 1", p.Progress)
	}
}

// FuzzSubmit submits arbitrary bytes after one valid share. Submit must not
// panic, must fail with one of its documented errors, and may return a root
// key only for a genuine share.
func FuzzSubmit(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, 33))
	f.Add(bytes.Repeat([]byte{0xff}, 33))
	f.Add(bytes.Repeat([]byte{1}, 32))
	f.Fuzz(func(t *testing.T, share []byte) {
		s, _, root, shares := initSeal(t, Config{SecretShares: 3, SecretThreshold: 2})
		if _, _, err := s.Submit(t.Context(), shares[0]); err != nil {
			t.Fatal(err)
		}
		got, p, err := s.Submit(t.Context(), share)
		switch {
		case err == nil && got == nil && bytes.Equal(share, shares[0]):
			if p.Progress != 1 {
				t.Fatalf("progress %d after re-sending the first share, want 1", p.Progress)
			}
		case err == nil && got == nil:
			t.Fatalf("second share neither unsealed nor failed: %+v", p)
		case err == nil:
			if !bytes.Equal(got, root) || !slices.ContainsFunc(shares[1:], func(sh []byte) bool { return bytes.Equal(sh, share) }) {
				t.Fatalf("Submit(%x) unsealed with a share that is not genuine", share)
			}
		case errors.Is(err, ErrBadKey):
			if p.Progress != 0 {
				t.Fatalf("progress %d after ErrBadKey, want 0", p.Progress)
			}
		case errors.Is(err, ErrInvalidShare), errors.Is(err, ErrDuplicateShare):
			if p.Progress != 1 {
				t.Fatalf("progress %d after a refused share, want 1", p.Progress)
			}
		default:
			t.Fatalf("Submit(%x): unexpected error %v", share, err)
		}
	})
}

// TestWithBarrier runs the whole start-up sequence: initialize the seal and
// the barrier with one root key, then unseal a fresh barrier over the same
// storage with the root key the shares recover.
func TestWithBarrier(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	phys := inmem.New()
	root, _ := barrier.GenerateKey()
	shares, err := NewShamir(phys).Initialize(ctx, Config{SecretShares: 5, SecretThreshold: 3}, root)
	if err != nil {
		t.Fatal(err)
	}
	b := barrier.New(phys)
	if err := b.Initialize(ctx, root); err != nil {
		t.Fatal(err)
	}
	if err := b.Unseal(ctx, root); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, &storage.Entry{Key: "secret/a", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	clear(root)

	s := NewShamir(phys)
	var recovered []byte
	for _, sh := range [][]byte{shares[4], shares[1], shares[2]} {
		if recovered, _, err = s.Submit(ctx, sh); err != nil {
			t.Fatal(err)
		}
	}
	b2 := barrier.New(phys)
	if err := b2.Unseal(ctx, recovered); err != nil {
		t.Fatalf("Unseal with the recovered root key: %v", err)
	}
	e, err := b2.Get(ctx, "secret/a")
	if err != nil || e == nil || string(e.Value) != "v" {
		t.Errorf("Get(secret/a) = %v, %v; want v", e, err)
	}
	// The seal's entries are not reachable through the barrier.
	if _, err := b2.Get(ctx, barrier.RootKeyPath); !errors.Is(err, barrier.ErrReservedKey) {
		t.Errorf("Get(core/root-key) through the barrier: error = %v, want ErrReservedKey", err)
	}
}

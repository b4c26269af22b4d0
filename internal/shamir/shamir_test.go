package shamir

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// naiveMul is an independent GF(2^8) multiplication: carry-less product,
// then reduction modulo 0x11B bit by bit.
func naiveMul(a, b byte) byte {
	var p uint16
	for i := range 8 {
		if b&(1<<i) != 0 {
			p ^= uint16(a) << i
		}
	}
	for i := 15; i >= 8; i-- {
		if p&(1<<i) != 0 {
			p ^= 0x11b << (i - 8)
		}
	}
	return byte(p)
}

func TestMulExhaustive(t *testing.T) {
	t.Parallel()
	for a := range 256 {
		for b := range 256 {
			if got, want := mul(byte(a), byte(b)), naiveMul(byte(a), byte(b)); got != want {
				t.Fatalf("mul(%#x, %#x) = %#x, want %#x", a, b, got, want)
			}
		}
	}
}

func TestInverseExhaustive(t *testing.T) {
	t.Parallel()
	if got := inverse(0); got != 0 {
		t.Errorf("inverse(0) = %#x, want 0", got)
	}
	for a := 1; a < 256; a++ {
		inv := inverse(byte(a))
		if got := naiveMul(byte(a), inv); got != 1 {
			t.Fatalf("%#x * inverse(%#x) = %#x, want 1 (inverse = %#x)", a, a, got, inv)
		}
	}
}

// subsets calls f with every subset of shares (as indexes, ascending).
func subsets(n int, f func(idx []int)) {
	for mask := 1; mask < 1<<n; mask++ {
		var idx []int
		for i := range n {
			if mask&(1<<i) != 0 {
				idx = append(idx, i)
			}
		}
		f(idx)
	}
}

func pick(shares [][]byte, idx []int) [][]byte {
	out := make([][]byte, len(idx))
	for i, j := range idx {
		out[i] = shares[j]
	}
	return out
}

func TestSplitCombineAllSubsets(t *testing.T) {
	t.Parallel()
	tests := []struct{ parts, threshold int }{
		{2, 2}, {3, 2}, {3, 3}, {5, 3}, {5, 5}, {6, 2}, {7, 4}, {10, 3}, {10, 10},
	}
	secret := []byte("0123456789abcdef0123456789abcdef") // 32 bytes, like an unseal key
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d-of-%d", tt.threshold, tt.parts), func(t *testing.T) {
			t.Parallel()
			shares, err := Split(secret, tt.parts, tt.threshold)
			if err != nil {
				t.Fatalf("Split: %v", err)
			}
			if len(shares) != tt.parts {
				t.Fatalf("Split returned %d shares, want %d", len(shares), tt.parts)
			}
			xs := make(map[byte]bool)
			for i, sh := range shares {
				if len(sh) != len(secret)+1 {
					t.Fatalf("share %d has %d bytes, want %d", i, len(sh), len(secret)+1)
				}
				x := sh[len(sh)-1]
				if x == 0 || xs[x] {
					t.Fatalf("share %d has zero or repeated x-coordinate %d", i, x)
				}
				xs[x] = true
			}
			subsets(tt.parts, func(idx []int) {
				if len(idx) < 2 {
					return // Combine rejects a single share; tested elsewhere
				}
				set := pick(shares, idx)
				got, err := Combine(set)
				if err != nil {
					t.Fatalf("Combine(shares %v): %v", idx, err)
				}
				if len(idx) >= tt.threshold {
					if !bytes.Equal(got, secret) {
						t.Errorf("Combine(shares %v) = %x, want the secret", idx, got)
					}
					// Order must not matter.
					slices.Reverse(set)
					if got, _ := Combine(set); !bytes.Equal(got, secret) {
						t.Errorf("Combine(reversed shares %v) = %x, want the secret", idx, got)
					}
				} else if bytes.Equal(got, secret) {
					// A 32-byte match by chance has probability 2^-256.
					t.Errorf("Combine(shares %v) below threshold %d reconstructed the secret", idx, tt.threshold)
				}
			})
		})
	}
}

func TestSplitMaxParts(t *testing.T) {
	t.Parallel()
	secret := []byte("max parts")
	shares, err := Split(secret, MaxParts, MaxParts)
	if err != nil {
		t.Fatalf("Split(255, 255): %v", err)
	}
	got, err := Combine(shares)
	if err != nil {
		t.Fatalf("Combine: %v", err)
	}
	if !bytes.Equal(got, secret) {
		t.Errorf("Combine = %q, want %q", got, secret)
	}
	if got, _ := Combine(shares[1:]); bytes.Equal(got, secret) {
		t.Errorf("Combine of 254 of 255-threshold shares reconstructed the secret")
	}
}

func TestSplitIsRandomized(t *testing.T) {
	t.Parallel()
	secret := []byte("same secret, different shares")
	a, err := Split(secret, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Split(secret, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if bytes.Equal(a[i][:len(secret)], b[i][:len(secret)]) {
			t.Errorf("share %d has the same y-values in two splits", i)
		}
	}
}

func TestSplitInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name             string
		secret           []byte
		parts, threshold int
	}{
		{"empty secret", nil, 3, 2},
		{"threshold 1", []byte("s"), 3, 1},
		{"threshold 0", []byte("s"), 3, 0},
		{"negative threshold", []byte("s"), 3, -1},
		{"parts 1 threshold 1", []byte("s"), 1, 1},
		{"threshold above parts", []byte("s"), 3, 4},
		{"too many parts", []byte("s"), 256, 2},
		{"negative parts", []byte("s"), -3, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			shares, err := Split(tt.secret, tt.parts, tt.threshold)
			if !errors.Is(err, ErrInvalidParameters) {
				t.Errorf("Split(%q, %d, %d) error = %v, want ErrInvalidParameters", tt.secret, tt.parts, tt.threshold, err)
			}
			if shares != nil {
				t.Errorf("Split(%q, %d, %d) returned shares with an error", tt.secret, tt.parts, tt.threshold)
			}
		})
	}
}

func TestCombineInvalid(t *testing.T) {
	t.Parallel()
	shares, err := Split([]byte("secret"), 4, 2)
	if err != nil {
		t.Fatal(err)
	}
	withX := func(sh []byte, x byte) []byte {
		c := slices.Clone(sh)
		c[len(c)-1] = x
		return c
	}
	many := make([][]byte, MaxParts+1)
	for i := range many {
		many[i] = []byte{1, byte(i%255 + 1)}
	}
	tests := []struct {
		name   string
		shares [][]byte
	}{
		{"none", nil},
		{"one", shares[:1]},
		{"different lengths", [][]byte{shares[0], shares[1][1:]}},
		{"too short", [][]byte{{1}, {2}}},
		{"empty shares", [][]byte{{}, {}}},
		{"zero x", [][]byte{shares[0], withX(shares[1], 0)}},
		{"same share twice", [][]byte{shares[0], shares[1], shares[0]}},
		{"same x different y", [][]byte{shares[0], withX(shares[1], shares[0][len(shares[0])-1])}},
		{"more than 255", many},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Combine(tt.shares)
			if !errors.Is(err, ErrInvalidShares) {
				t.Errorf("Combine() error = %v, want ErrInvalidShares", err)
			}
			if got != nil {
				t.Errorf("Combine() = %x with an error, want nil", got)
			}
		})
	}
}

type vector struct {
	Name      string   `json:"name"`
	Secret    string   `json:"secret"`
	Threshold int      `json:"threshold"`
	Shares    []string `json:"shares"`
}

func loadVectors(tb testing.TB) []vector {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "vectors.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(data, &vs); err != nil {
		tb.Fatal(err)
	}
	if len(vs) == 0 {
		tb.Fatal("no vectors in testdata/vectors.json")
	}
	return vs
}

func decodeHex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestKnownAnswers combines shares produced by testdata/gen_vectors.py, an
// independent implementation, and pins the field and the share format.
func TestKnownAnswers(t *testing.T) {
	t.Parallel()
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			secret := decodeHex(t, v.Secret)
			shares := make([][]byte, len(v.Shares))
			for i, s := range v.Shares {
				shares[i] = decodeHex(t, s)
			}
			checked := 0
			subsets(len(shares), func(idx []int) {
				if len(idx) < v.Threshold {
					return
				}
				got, err := Combine(pick(shares, idx))
				if err != nil {
					t.Fatalf("Combine(shares %v): %v", idx, err)
				}
				if !bytes.Equal(got, secret) {
					t.Errorf("Combine(shares %v) = %x, want %x", idx, got, secret)
				}
				checked++
			})
			if checked == 0 {
				t.Fatal("vector has fewer shares than its threshold")
			}
		})
	}
}

func FuzzCombine(f *testing.F) {
	for _, v := range loadVectors(f) {
		var all []byte
		for _, s := range v.Shares {
			all = append(all, decodeHex(f, s)...)
		}
		f.Add(all, uint8(len(v.Shares)))
	}
	f.Add([]byte{}, uint8(0))
	f.Add([]byte{1, 0, 2, 0}, uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, n uint8) {
		// Cut data into n shares of roughly equal (possibly unequal) length.
		var shares [][]byte
		if n > 0 {
			size := len(data) / int(n)
			for i := range int(n) {
				end := (i + 1) * size
				if i == int(n)-1 {
					end = len(data)
				}
				shares = append(shares, data[i*size:end])
			}
		}
		before := slices.Clone(data)
		got, err := Combine(shares)
		if !bytes.Equal(data, before) {
			t.Fatal("Combine modified its input")
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidShares) {
				t.Fatalf("Combine error %v does not wrap ErrInvalidShares", err)
			}
			return
		}
		if len(got) != len(shares[0])-1 {
			t.Fatalf("Combine returned %d bytes from shares of %d", len(got), len(shares[0]))
		}
	})
}

func FuzzSplitCombine(f *testing.F) {
	f.Add([]byte("secret"), uint8(3), uint8(2))
	f.Add([]byte{0}, uint8(2), uint8(2))
	f.Add(bytes.Repeat([]byte{0xff}, 64), uint8(255), uint8(200))
	f.Fuzz(func(t *testing.T, secret []byte, parts, threshold uint8) {
		// Split costs len(secret)*parts*threshold multiplications; a short
		// secret keeps the fuzzer fast without losing coverage.
		secret = secret[:min(len(secret), 48)]
		shares, err := Split(secret, int(parts), int(threshold))
		valid := len(secret) > 0 && threshold >= 2 && threshold <= parts
		if !valid {
			if err == nil {
				t.Fatalf("Split(%x, %d, %d) succeeded, want an error", secret, parts, threshold)
			}
			return
		}
		if err != nil {
			t.Fatalf("Split(%x, %d, %d): %v", secret, parts, threshold, err)
		}
		for _, set := range [][][]byte{shares[:threshold], shares[len(shares)-int(threshold):], shares} {
			got, err := Combine(set)
			if err != nil {
				t.Fatalf("Combine: %v", err)
			}
			if !bytes.Equal(got, secret) {
				t.Fatalf("Combine = %x, want %x", got, secret)
			}
		}
	})
}

func BenchmarkSplit(b *testing.B) {
	secret := make([]byte, 32)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Split(secret, 5, 3); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCombine(b *testing.B) {
	shares, err := Split(make([]byte, 32), 5, 3)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Combine(shares[:3]); err != nil {
			b.Fatal(err)
		}
	}
}

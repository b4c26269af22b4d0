// Package shamir implements Shamir's secret sharing over GF(2^8).
//
// A secret of n bytes is split byte by byte: for each byte a random
// polynomial of degree threshold-1 is drawn whose constant term is that
// byte, and each share holds the polynomial values at one non-zero
// x-coordinate. Any threshold shares recover the secret by Lagrange
// interpolation at zero; fewer reveal nothing about it.
//
// # Share format
//
// A share is len(secret)+1 bytes: the y-values, one per secret byte, followed
// by the x-coordinate (1..255). Shares from one [Split] have distinct random
// x-coordinates.
//
// # Field and timing
//
// The field is GF(2^8) with the reduction polynomial x^8+x^4+x^3+x+1 (0x11B,
// the AES field). Multiplication and inversion are computed with shifts and
// masks instead of log/exp tables, so no memory access and no branch depends
// on a secret byte. The x-coordinates are not secret and are checked with
// ordinary comparisons.
//
// The package has no state and imports only the standard library; its
// functions are safe for concurrent use.
package shamir

import (
	"crypto/rand"
	"errors"
	"fmt"
)

// MaxParts is the largest number of shares: one per non-zero element of
// GF(2^8).
const MaxParts = 255

// Errors returned by [Split] and [Combine]. They are wrapped with details;
// match them with errors.Is.
var (
	// ErrInvalidParameters reports a bad secret, part count or threshold.
	ErrInvalidParameters = errors.New("shamir: invalid parameters")
	// ErrInvalidShares reports a share set that cannot be combined: too
	// few, different lengths, too short, a zero or duplicate x-coordinate.
	ErrInvalidShares = errors.New("shamir: invalid shares")
)

// Split divides secret into parts shares, any threshold of which
// reconstruct it with [Combine]. It requires 2 <= threshold <= parts <= 255
// and a non-empty secret. The secret is not modified or retained; the
// returned shares are freshly allocated and owned by the caller. Randomness
// comes from crypto/rand.
func Split(secret []byte, parts, threshold int) ([][]byte, error) {
	switch {
	case len(secret) == 0:
		return nil, fmt.Errorf("%w: empty secret", ErrInvalidParameters)
	case threshold < 2:
		return nil, fmt.Errorf("%w: threshold %d is below 2", ErrInvalidParameters, threshold)
	case parts > MaxParts:
		return nil, fmt.Errorf("%w: %d parts exceed the maximum of %d", ErrInvalidParameters, parts, MaxParts)
	case threshold > parts:
		return nil, fmt.Errorf("%w: threshold %d exceeds parts %d", ErrInvalidParameters, threshold, parts)
	}

	xs, err := randomXs(parts)
	if err != nil {
		return nil, err
	}

	shares := make([][]byte, parts)
	for i := range shares {
		shares[i] = make([]byte, len(secret)+1)
		shares[i][len(secret)] = xs[i]
	}

	// coeffs[0] is the secret byte; coeffs[1:] are random. A zero leading
	// coefficient is allowed: uniformly random coefficients are what make
	// threshold-1 shares independent of the secret.
	coeffs := make([]byte, threshold)
	defer clear(coeffs)
	for i, s := range secret {
		if _, err := rand.Read(coeffs[1:]); err != nil {
			return nil, fmt.Errorf("shamir: read random coefficients: %w", err)
		}
		coeffs[0] = s
		for _, sh := range shares {
			sh[i] = evaluate(coeffs, sh[len(secret)])
		}
	}
	return shares, nil
}

// Combine reconstructs the secret from at least two shares produced by one
// [Split]. Shares may be given in any order. It returns an error wrapping
// [ErrInvalidShares] for fewer than two shares, shares of different lengths,
// shares shorter than two bytes, a zero x-coordinate or a repeated
// x-coordinate. Combine cannot tell a wrong share from a right one: shares
// from different splits, or fewer than the threshold, yield a wrong secret
// without an error, so callers must authenticate the result. The shares are
// not modified or retained.
func Combine(shares [][]byte) ([]byte, error) {
	if len(shares) < 2 {
		return nil, fmt.Errorf("%w: need at least 2 shares, got %d", ErrInvalidShares, len(shares))
	}
	if len(shares) > MaxParts {
		return nil, fmt.Errorf("%w: %d shares exceed the maximum of %d", ErrInvalidShares, len(shares), MaxParts)
	}
	n := len(shares[0])
	if n < 2 {
		return nil, fmt.Errorf("%w: share of %d bytes is too short", ErrInvalidShares, n)
	}
	var seen [256]bool
	xs := make([]byte, len(shares))
	for i, sh := range shares {
		if len(sh) != n {
			return nil, fmt.Errorf("%w: shares have different lengths (%d and %d bytes)", ErrInvalidShares, n, len(sh))
		}
		x := sh[n-1]
		if x == 0 {
			return nil, fmt.Errorf("%w: share %d has x-coordinate 0", ErrInvalidShares, i+1)
		}
		if seen[x] {
			return nil, fmt.Errorf("%w: duplicate x-coordinate %d", ErrInvalidShares, x)
		}
		seen[x] = true
		xs[i] = x
	}

	// The Lagrange basis polynomials evaluated at zero depend only on the
	// x-coordinates: l_j(0) = prod_{m != j} x_m / (x_m - x_j), where
	// subtraction in GF(2^8) is XOR.
	basis := make([]byte, len(xs))
	for j, xj := range xs {
		num, den := byte(1), byte(1)
		for m, xm := range xs {
			if m == j {
				continue
			}
			num = mul(num, xm)
			den = mul(den, xm^xj)
		}
		basis[j] = mul(num, inverse(den))
	}

	secret := make([]byte, n-1)
	for i := range secret {
		var acc byte
		for j, sh := range shares {
			acc ^= mul(sh[i], basis[j])
		}
		secret[i] = acc
	}
	return secret, nil
}

// randomXs returns parts distinct x-coordinates drawn uniformly from 1..255:
// the first parts entries of a Fisher-Yates shuffle driven by crypto/rand.
func randomXs(parts int) ([]byte, error) {
	var all [MaxParts]byte
	for i := range all {
		all[i] = byte(i + 1)
	}
	for i := len(all) - 1; i > 0; i-- {
		j, err := uniform(i + 1)
		if err != nil {
			return nil, err
		}
		all[i], all[j] = all[j], all[i]
	}
	return all[:parts:parts], nil
}

// uniform returns a uniformly random integer in [0, n) for 1 <= n <= 256,
// rejecting bytes past the largest multiple of n to avoid modulo bias.
func uniform(n int) (int, error) {
	limit := 256 - 256%n
	var b [1]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return 0, fmt.Errorf("shamir: read random x-coordinate: %w", err)
		}
		if int(b[0]) < limit {
			return int(b[0]) % n, nil
		}
	}
}

// evaluate returns the polynomial with the given coefficients (lowest degree
// first) at x, by Horner's rule.
func evaluate(coeffs []byte, x byte) byte {
	var y byte
	for i := len(coeffs) - 1; i >= 0; i-- {
		y = mul(y, x) ^ coeffs[i]
	}
	return y
}

// mul multiplies a and b in GF(2^8) modulo 0x11B without branches or table
// lookups on its operands.
func mul(a, b byte) byte {
	var p byte
	for range 8 {
		p ^= -(b & 1) & a // add a when the low bit of b is set
		carry := -(a >> 7)
		a = a<<1 ^ carry&0x1b // multiply a by x, reducing by 0x11B
		b >>= 1
	}
	return p
}

// inverse returns the multiplicative inverse of a in GF(2^8), computed as
// a^254 with a fixed sequence of operations; inverse(0) is 0.
func inverse(a byte) byte {
	// a^254 = a^2 * a^4 * a^8 * ... * a^128.
	sq := mul(a, a)
	r := sq
	for range 6 {
		sq = mul(sq, sq)
		r = mul(r, sq)
	}
	return r
}

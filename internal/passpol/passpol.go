package passpol

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Limits on a policy.
const (
	// MinLength and MaxLength bound a policy's length.
	MinLength = 4
	MaxLength = 100
	// MaxSourceBytes is the largest policy document Parse accepts.
	MaxSourceBytes = 64 << 10
	// MaxAttempts is how many candidate passwords Generate draws before it
	// gives up on meeting every rule's min-chars.
	MaxAttempts = 1000
)

// maxRejects bounds consecutive rejected draws in one intn call.
const maxRejects = 128

var errBrokenSource = errors.New("randomness source repeats values it must reject")

// ErrUnsatisfiable is returned by [Policy.Generate] when MaxAttempts
// candidates all failed some rule's min-chars; the policy asks for
// something too unlikely to draw by chance.
var ErrUnsatisfiable = errors.New("password policy: no password met every rule within the attempt limit")

// Policy is a parsed password policy. Its fields are read-only after Parse
// or Default; build one only through those functions.
type Policy struct {
	// Length is the number of characters (Unicode code points) in every
	// password, between MinLength and MaxLength.
	Length int
	// Rules are the charset rules in document order; there is at least one.
	Rules []Rule

	union []rune // the distinct characters of all rules, in first-seen order
}

// Rule is one `rule "charset"` block.
type Rule struct {
	// Charset is the characters the rule names, as written.
	Charset string
	// MinChars is how many characters of the password, at least, must come
	// from Charset.
	MinChars int

	set map[rune]bool
}

// Error is a problem in a policy document at a line (1-based; 0 when the
// problem has no position, such as an empty document).
type Error struct {
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return "password policy: " + e.Msg
	}
	return fmt.Sprintf("password policy: line %d: %s", e.Line, e.Msg)
}

// Default returns the policy used when none is named: 20 characters with at
// least one lowercase letter, one uppercase letter, one digit and one dash.
func Default() *Policy {
	p := &Policy{Length: 20, Rules: []Rule{
		{Charset: "abcdefghijklmnopqrstuvwxyz", MinChars: 1},
		{Charset: "ABCDEFGHIJKLMNOPQRSTUVWXYZ", MinChars: 1},
		{Charset: "0123456789", MinChars: 1},
		{Charset: "-", MinChars: 1},
	}}
	p.prepare()
	return p
}

// Parse parses and checks a password policy document. On failure it
// returns nil and every problem found, joined with errors.Join, each an
// [*Error] naming its line, in line order. Parse never panics.
func Parse(src string) (*Policy, error) {
	if len(src) > MaxSourceBytes {
		return nil, &Error{Msg: fmt.Sprintf("document is %d bytes; the limit is %d", len(src), MaxSourceBytes)}
	}
	file, diags := hclsyntax.ParseConfig([]byte(src), "policy.hcl", hcl.InitialPos)
	var errs errorList
	if diags.HasErrors() {
		for _, d := range diags {
			if d.Severity != hcl.DiagError {
				continue
			}
			line := 0
			if d.Subject != nil {
				line = d.Subject.Start.Line
			}
			errs.add(line, "%s", strings.TrimSuffix(d.Summary+detail(d.Detail), "."))
		}
		return nil, errs.join()
	}
	body, ok := file.Body.(*hclsyntax.Body)
	if !ok {
		// hclsyntax always returns its own body type.
		return nil, &Error{Msg: "unexpected document structure"}
	}
	p := &Policy{}
	lengthLine := 0
	for name, a := range body.Attributes {
		line := a.NameRange.Start.Line
		if name != "length" {
			errs.add(line, "unknown key %q; a policy has only length and rule blocks", name)
			continue
		}
		lengthLine = line
		n, ok := intValue(a.Expr)
		if !ok {
			errs.add(line, "length must be a whole number")
			continue
		}
		if n < MinLength || n > MaxLength {
			errs.add(line, "length must be between %d and %d, not %d", MinLength, MaxLength, n)
			continue
		}
		p.Length = n
	}
	if lengthLine == 0 {
		errs.add(0, "missing length")
	}
	minSum, lastRule := 0, 0
	for _, b := range body.Blocks {
		line := b.TypeRange.Start.Line
		if b.Type != "rule" {
			errs.add(line, "unknown block %q; a policy has only length and rule blocks", b.Type)
			continue
		}
		if len(b.Labels) != 1 || b.Labels[0] != "charset" {
			errs.add(line, `unknown rule; write rule "charset" { charset = "..." min-chars = N }`)
			continue
		}
		lastRule = line
		r, ok := parseRule(b, &errs)
		if ok {
			p.Rules = append(p.Rules, r)
			minSum += r.MinChars
		}
	}
	if lastRule == 0 {
		errs.add(0, `no rule "charset" block; a policy needs at least one`)
	}
	if p.Length != 0 && minSum > p.Length {
		errs.add(lengthLine, "the rules' min-chars add up to %d, more than the length %d", minSum, p.Length)
	}
	if err := errs.join(); err != nil {
		return nil, err
	}
	p.prepare()
	return p, nil
}

func detail(d string) string {
	if d == "" {
		return ""
	}
	return ": " + d
}

// parseRule decodes the body of one rule "charset" block.
func parseRule(b *hclsyntax.Block, errs *errorList) (Rule, bool) {
	var r Rule
	ok, sawCharset := true, false
	for name, a := range b.Body.Attributes {
		line := a.NameRange.Start.Line
		switch name {
		case "charset":
			sawCharset = true
			v, diags := a.Expr.Value(nil)
			if diags.HasErrors() || v.IsNull() || !v.IsKnown() || v.Type() != cty.String {
				errs.add(line, "charset must be a string")
				ok = false
				continue
			}
			s := v.AsString()
			if s == "" {
				errs.add(line, "charset must not be empty")
				ok = false
				continue
			}
			if !utf8.ValidString(s) {
				errs.add(line, "charset must be valid UTF-8")
				ok = false
				continue
			}
			r.Charset = s
		case "min-chars":
			n, good := intValue(a.Expr)
			if !good || n < 0 || n > MaxLength {
				errs.add(line, "min-chars must be a whole number between 0 and %d", MaxLength)
				ok = false
				continue
			}
			r.MinChars = n
		default:
			errs.add(line, "unknown key %q in rule \"charset\"; want charset or min-chars", name)
			ok = false
		}
	}
	for _, inner := range b.Body.Blocks {
		errs.add(inner.TypeRange.Start.Line, "unknown block %q in rule \"charset\"", inner.Type)
		ok = false
	}
	if !sawCharset {
		errs.add(b.TypeRange.Start.Line, `rule "charset" needs a charset`)
		ok = false
	}
	return r, ok
}

// intValue evaluates a literal expression as a whole number.
func intValue(e hclsyntax.Expression) (int, bool) {
	v, diags := e.Value(nil)
	if diags.HasErrors() || v.IsNull() || !v.IsKnown() || v.Type() != cty.Number {
		return 0, false
	}
	bf := v.AsBigFloat()
	if !bf.IsInt() {
		return 0, false
	}
	n, acc := bf.Int64()
	if acc != 0 || n < -1<<31 || n > 1<<31 {
		return 0, false
	}
	return int(n), true
}

// prepare builds the lookup sets and the union of charsets.
func (p *Policy) prepare() {
	seen := make(map[rune]bool)
	for i := range p.Rules {
		r := &p.Rules[i]
		r.set = make(map[rune]bool)
		for _, c := range r.Charset {
			r.set[c] = true
			if !seen[c] {
				seen[c] = true
				p.union = append(p.union, c)
			}
		}
	}
}

// Charset returns the distinct characters a password of p is drawn from,
// in the order they first appear in the rules.
func (p *Policy) Charset() string {
	return string(p.union)
}

// Generate returns a new password of p.Length characters, each drawn
// uniformly and independently from the union of the rules' charsets using
// randomness read from r (pass crypto/rand.Reader). A candidate that fails
// some rule's min-chars is thrown away and a new one drawn, up to
// MaxAttempts times; then Generate returns [ErrUnsatisfiable]. A read error
// from r is returned wrapped. The password is never logged or put in an
// error.
func (p *Policy) Generate(r io.Reader) (string, error) {
	if p == nil || len(p.union) == 0 || p.Length <= 0 {
		return "", errors.New("password policy: empty policy")
	}
	src := &uniform{r: r}
	buf := make([]rune, p.Length)
	for range MaxAttempts {
		for i := range buf {
			n, err := src.intn(len(p.union))
			if err != nil {
				return "", fmt.Errorf("password policy: read randomness: %w", err)
			}
			buf[i] = p.union[n]
		}
		if p.meets(buf) {
			return string(buf), nil
		}
	}
	return "", ErrUnsatisfiable
}

// meets reports whether pw has at least MinChars characters of each rule.
func (p *Policy) meets(pw []rune) bool {
	for _, rule := range p.Rules {
		if rule.MinChars == 0 {
			continue
		}
		n := 0
		for _, c := range pw {
			if rule.set[c] {
				n++
			}
		}
		if n < rule.MinChars {
			return false
		}
	}
	return true
}

// uniform draws unbiased integers from a byte stream, reading in blocks.
type uniform struct {
	r   io.Reader
	buf [256]byte
	pos int
	end int
}

func (u *uniform) byte() (byte, error) {
	if u.pos == u.end {
		if _, err := io.ReadFull(u.r, u.buf[:]); err != nil {
			return 0, err
		}
		u.pos, u.end = 0, len(u.buf)
	}
	b := u.buf[u.pos]
	u.pos++
	return b, nil
}

// intn returns a uniform integer in [0, n), 0 < n <= 1<<31. It draws the
// fewest whole bytes that cover n and rejects values at or above the
// largest multiple of n, so every result is equally likely.
func (u *uniform) intn(n int) (int, error) {
	if n == 1 {
		return 0, nil
	}
	nbytes, space := 1, uint64(256)
	for space < uint64(n) {
		nbytes++
		space <<= 8
	}
	limit := space - space%uint64(n)
	// Each draw is rejected with probability below 1/2, so maxRejects in a
	// row means a broken source (one stuck at 0xff, say), not bad luck.
	for range maxRejects {
		var v uint64
		for range nbytes {
			b, err := u.byte()
			if err != nil {
				return 0, err
			}
			v = v<<8 | uint64(b)
		}
		if v < limit {
			return int(v % uint64(n)), nil
		}
	}
	return 0, errBrokenSource
}

// errorList gathers problems and returns them in line order.
type errorList []*Error

func (l *errorList) add(line int, format string, args ...any) {
	*l = append(*l, &Error{Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (l errorList) join() error {
	if len(l) == 0 {
		return nil
	}
	slices.SortStableFunc(l, func(a, b *Error) int { return a.Line - b.Line })
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errors.Join(errs...)
}

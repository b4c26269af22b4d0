// Package hclvalue decodes constant HCL values into typed Go fields, taking
// the loose forms Vault's configuration files use (booleans as 1 or "true",
// numbers as strings, durations as seconds or "5m"). It is the one set of
// value setters for the server's configuration (internal/config) and the
// agent's (internal/agent/config).
//
// A [Setter] stores a value or returns why it cannot, without naming the
// key: the caller's decoder adds the key and the position. Setters never put
// the value of a string into an error when it may be a secret ([String]
// quotes nothing); those that quote a value quote a non-secret one.
//
// It imports nothing of Coffer's but internal/duration.
package hclvalue

import (
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/coffer-secrets/coffer/internal/duration"
)

// Setter stores a decoded value or says, without the key, why it cannot.
// The decoder calls it only with a known, non-null value.
type Setter func(v cty.Value) error

// String decodes a string into any string type (a secret type too: the
// value never appears in an error).
func String[T ~string](p *T) Setter {
	return func(v cty.Value) error {
		if v.Type() != cty.String {
			return fmt.Errorf("want a string, got %s", v.Type().FriendlyName())
		}
		*p = T(v.AsString())
		return nil
	}
}

// Strings decodes a list of strings.
func Strings(p *[]string) Setter {
	return func(v cty.Value) error {
		if !v.Type().IsListType() && !v.Type().IsTupleType() {
			return fmt.Errorf("want a list of strings, got %s", v.Type().FriendlyName())
		}
		var out []string
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			if e.IsNull() || e.Type() != cty.String {
				return errors.New("want a list of strings")
			}
			out = append(out, e.AsString())
		}
		*p = out
		return nil
	}
}

// CommaList decodes a list of strings or one comma-separated string (as
// Vault writes tls_cipher_suites), trimming spaces and dropping empty
// items.
func CommaList(p *[]string) Setter {
	return func(v cty.Value) error {
		if v.Type() == cty.String {
			var out []string
			for item := range strings.SplitSeq(v.AsString(), ",") {
				if item = strings.TrimSpace(item); item != "" {
					out = append(out, item)
				}
			}
			*p = out
			return nil
		}
		if err := Strings(p)(v); err != nil {
			return errors.New("want a comma-separated string or a list of strings")
		}
		return nil
	}
}

// Bool decodes true or false, the numbers 1 and 0, or a string
// [strconv.ParseBool] accepts ("true", "1", "false", "0", ...): Vault's
// configuration files use all of these.
func Bool(p *bool) Setter {
	return func(v cty.Value) error {
		switch v.Type() {
		case cty.Bool:
			*p = v.True()
			return nil
		case cty.Number:
			switch {
			case v.Equals(cty.NumberIntVal(1)).True():
				*p = true
				return nil
			case v.Equals(cty.NumberIntVal(0)).True():
				*p = false
				return nil
			}
			return errors.New("want true, false, 1 or 0")
		case cty.String:
			b, err := strconv.ParseBool(v.AsString())
			if err != nil {
				return fmt.Errorf("want true, false, 1 or 0, got %q", v.AsString())
			}
			*p = b
			return nil
		}
		return fmt.Errorf("want true or false, got %s", v.Type().FriendlyName())
	}
}

// Int64 decodes a whole number, or a string holding one.
func Int64(p *int64) Setter {
	return func(v cty.Value) error {
		n, err := WholeNumber(v)
		if err != nil {
			return err
		}
		*p = n
		return nil
	}
}

// Int decodes a whole number, or a string holding one, between lo and hi
// inclusive.
func Int(p *int, lo, hi int64) Setter {
	return func(v cty.Value) error {
		n, err := WholeNumber(v)
		if err != nil {
			return err
		}
		if n < lo || n > hi {
			return fmt.Errorf("%d is out of range (%d to %d)", n, lo, hi)
		}
		*p = int(n)
		return nil
	}
}

// Float decodes a number.
func Float(p *float64) Setter {
	return func(v cty.Value) error {
		if v.Type() != cty.Number {
			return fmt.Errorf("want a number, got %s", v.Type().FriendlyName())
		}
		f, _ := v.AsBigFloat().Float64()
		*p = f
		return nil
	}
}

// Duration decodes a duration with [duration.Parse] from a string, or
// whole seconds ([duration.Seconds]) from a number.
func Duration(p *time.Duration) Setter {
	return func(v cty.Value) error {
		var d time.Duration
		var err error
		switch v.Type() {
		case cty.Number:
			var n int64
			if n, err = WholeNumber(v); err != nil {
				return fmt.Errorf("want whole seconds or a duration such as \"30s\": %w", err)
			}
			d, err = duration.Seconds(n)
		case cty.String:
			d, err = duration.Parse(v.AsString())
		default:
			err = fmt.Errorf("want %s, got %s", duration.Forms, v.Type().FriendlyName())
		}
		if err != nil {
			return err
		}
		*p = d
		return nil
	}
}

// OneOf decodes a string that must be one of allowed, exactly.
func OneOf(p *string, allowed ...string) Setter {
	return func(v cty.Value) error {
		if v.Type() != cty.String {
			return fmt.Errorf("want a string, got %s", v.Type().FriendlyName())
		}
		s := v.AsString()
		for _, a := range allowed {
			if s == a {
				*p = s
				return nil
			}
		}
		return fmt.Errorf("want one of %s, got %q", strings.Join(allowed, ", "), s)
	}
}

// WholeNumber returns v as an int64: a number without a fraction, or a
// string holding decimal digits (with an optional sign and surrounding
// spaces).
func WholeNumber(v cty.Value) (int64, error) {
	switch v.Type() {
	case cty.Number:
		f := v.AsBigFloat()
		if !f.IsInt() {
			return 0, fmt.Errorf("want a whole number, got %s", f.Text('g', 10))
		}
		n, acc := f.Int64()
		if acc != big.Exact {
			return 0, fmt.Errorf("%s is out of range", f.Text('g', 10))
		}
		return n, nil
	case cty.String:
		n, err := strconv.ParseInt(strings.TrimSpace(v.AsString()), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("want a whole number, got %q", v.AsString())
		}
		return n, nil
	}
	return 0, fmt.Errorf("want a whole number, got %s", v.Type().FriendlyName())
}

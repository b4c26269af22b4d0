package config

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"

	durationpkg "github.com/coffer-secrets/coffer/internal/duration"
)

// str decodes a string.
func str(p *string) setter {
	return func(v cty.Value) error {
		if v.Type() != cty.String {
			return fmt.Errorf("want a string, got %s", v.Type().FriendlyName())
		}
		*p = v.AsString()
		return nil
	}
}

// stringList decodes a list of strings.
func stringList(p *[]string) setter {
	return func(v cty.Value) error {
		if !v.Type().IsListType() && !v.Type().IsTupleType() {
			return fmt.Errorf("want a list of strings, got %s", v.Type().FriendlyName())
		}
		var out []string
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			if e.Type() != cty.String || e.IsNull() {
				return errors.New("want a list of strings")
			}
			out = append(out, e.AsString())
		}
		*p = out
		return nil
	}
}

// secret decodes a string that must never appear in a message.
func secret(p *Secret) setter {
	return func(v cty.Value) error {
		if v.Type() != cty.String {
			return fmt.Errorf("want a string, got %s", v.Type().FriendlyName())
		}
		*p = Secret(v.AsString())
		return nil
	}
}

// boolean decodes true or false, the numbers 1 and 0, or a string
// strconv.ParseBool accepts ("true", "1", "false", "0", ...): Vault's
// configuration files use all of these.
func boolean(p *bool) setter {
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

// integer decodes a whole number or a string holding one.
func integer(p *int64) setter {
	return func(v cty.Value) error {
		n, err := toInt64(v)
		if err != nil {
			return err
		}
		*p = n
		return nil
	}
}

// smallInt decodes a whole number that fits an int32.
func smallInt(p *int) setter {
	return func(v cty.Value) error {
		n, err := toInt64(v)
		if err != nil {
			return err
		}
		if n < math.MinInt32 || n > math.MaxInt32 {
			return fmt.Errorf("%d is out of range", n)
		}
		*p = int(n)
		return nil
	}
}

func toInt64(v cty.Value) (int64, error) {
	switch v.Type() {
	case cty.Number:
		return bigInt64(v.AsBigFloat())
	case cty.String:
		n, err := strconv.ParseInt(strings.TrimSpace(v.AsString()), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("want a whole number, got %q", v.AsString())
		}
		return n, nil
	}
	return 0, fmt.Errorf("want a whole number, got %s", v.Type().FriendlyName())
}

func bigInt64(f *big.Float) (int64, error) {
	if !f.IsInt() {
		return 0, fmt.Errorf("want a whole number, got %s", f.Text('g', 10))
	}
	n, acc := f.Int64()
	if acc != big.Exact {
		return 0, fmt.Errorf("%s is out of range", f.Text('g', 10))
	}
	return n, nil
}

// duration decodes a duration with [duration.Parse] from a string, or
// whole seconds from a number.
func duration(p *time.Duration) setter {
	return func(v cty.Value) error {
		d, err := toDuration(v)
		if err != nil {
			return err
		}
		*p = d
		return nil
	}
}

func toDuration(v cty.Value) (time.Duration, error) {
	switch v.Type() {
	case cty.Number:
		n, err := bigInt64(v.AsBigFloat())
		if err != nil {
			return 0, fmt.Errorf("want whole seconds or a duration such as \"30s\": %w", err)
		}
		return durationpkg.Seconds(n)
	case cty.String:
		return durationpkg.Parse(v.AsString())
	}
	return 0, fmt.Errorf("want %s, got %s", durationpkg.Forms, v.Type().FriendlyName())
}

// logLevel decodes a log level, normalising case and Vault's spellings;
// validation checks the result.
func logLevel(p *LogLevel) setter {
	return func(v cty.Value) error {
		var s string
		if err := str(&s)(v); err != nil {
			return err
		}
		*p = normalLogLevel(s)
		return nil
	}
}

func normalLogLevel(s string) LogLevel {
	s = strings.ToLower(strings.TrimSpace(s))
	switch s {
	case "trace":
		return LogDebug
	case "warning":
		return LogWarn
	case "err":
		return LogError
	}
	return LogLevel(s)
}

// logFormat decodes a log format; validation checks it.
func logFormat(p *LogFormat) setter {
	return func(v cty.Value) error {
		var s string
		if err := str(&s)(v); err != nil {
			return err
		}
		*p = LogFormat(strings.ToLower(strings.TrimSpace(s)))
		return nil
	}
}

// tlsVersion decodes a TLS version name; validation checks it.
func tlsVersion(p *TLSVersion) setter {
	return func(v cty.Value) error {
		var s string
		if err := str(&s)(v); err != nil {
			return err
		}
		*p = TLSVersion(strings.ToLower(strings.TrimSpace(s)))
		return nil
	}
}

// commaList decodes a list of strings or one comma-separated string (as
// Vault writes tls_cipher_suites), trimming spaces and dropping empty
// items.
func commaList(p *[]string) setter {
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
		if err := stringList(p)(v); err != nil {
			return errors.New("want a comma-separated string or a list of strings")
		}
		return nil
	}
}

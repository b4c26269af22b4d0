package config

import (
	"errors"
	"fmt"
	"math/big"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/zclconf/go-cty/cty"

	durationpkg "github.com/coffer-secrets/coffer/internal/duration"
)

func str(p *string) setter {
	return func(v cty.Value) error {
		if v.Type() != cty.String {
			return fmt.Errorf("want a string, got %s", v.Type().FriendlyName())
		}
		*p = v.AsString()
		return nil
	}
}

// emptyOnly accepts only an empty string: a Vault Agent key whose feature
// Coffer lacks, explained by why.
func emptyOnly(why string) setter {
	return func(v cty.Value) error {
		if v.Type() == cty.String && v.AsString() == "" {
			return nil
		}
		return errors.New(why)
	}
}

// misnamed refuses a key that another method spells differently, naming
// the key method takes instead.
func misnamed(method, want string) setter {
	return func(cty.Value) error {
		return fmt.Errorf("the %s method names its token file %q", method, want)
	}
}

func boolean(p *bool) setter {
	return func(v cty.Value) error {
		switch v.Type() {
		case cty.Bool:
			*p = v.True()
			return nil
		case cty.String:
			b, err := strconv.ParseBool(v.AsString())
			if err != nil {
				return fmt.Errorf("want true or false, got %q", v.AsString())
			}
			*p = b
			return nil
		}
		return fmt.Errorf("want true or false, got %s", v.Type().FriendlyName())
	}
}

// autoAuthToken takes true, false or "force" (which Coffer treats as
// true: proxied requests get the agent's token when they carry none).
func autoAuthToken(p *bool) setter {
	return func(v cty.Value) error {
		if v.Type() == cty.String && strings.EqualFold(v.AsString(), "force") {
			*p = true
			return nil
		}
		return boolean(p)(v)
	}
}

func toInt(v cty.Value) (int64, error) {
	switch v.Type() {
	case cty.Number:
		bf := v.AsBigFloat()
		if !bf.IsInt() {
			return 0, errors.New("want a whole number")
		}
		n, acc := bf.Int64()
		if acc != big.Exact {
			return 0, errors.New("number out of range")
		}
		return n, nil
	case cty.String:
		n, err := strconv.ParseInt(strings.TrimSpace(v.AsString()), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("want a whole number, got %q", v.AsString())
		}
		return n, nil
	}
	return 0, fmt.Errorf("want a number, got %s", v.Type().FriendlyName())
}

func integer(p *int) setter {
	return func(v cty.Value) error {
		n, err := toInt(v)
		if err != nil {
			return err
		}
		if n < -1 || n > 1<<20 {
			return fmt.Errorf("%d is out of range", n)
		}
		*p = int(n)
		return nil
	}
}

func float(p *float64) setter {
	return func(v cty.Value) error {
		if v.Type() != cty.Number {
			return fmt.Errorf("want a number, got %s", v.Type().FriendlyName())
		}
		f, _ := v.AsBigFloat().Float64()
		*p = f
		return nil
	}
}

// duration takes a duration with [duration.Parse] from a string, or
// whole seconds from a number.
func duration(p *time.Duration) setter {
	return func(v cty.Value) error {
		var d time.Duration
		var err error
		switch v.Type() {
		case cty.Number:
			var n int64
			if n, err = toInt(v); err == nil {
				d, err = durationpkg.Seconds(n)
			}
		case cty.String:
			d, err = durationpkg.Parse(v.AsString())
		default:
			err = fmt.Errorf("want %s, got %s", durationpkg.Forms, v.Type().FriendlyName())
		}
		if err != nil {
			return err
		}
		*p = d
		return nil
	}
}

// mode takes permission bits as an octal string ("0640") or as a number
// whose digits are read as octal (0640 or 640), as people write them.
func mode(p *os.FileMode) setter {
	return func(v cty.Value) error {
		var s string
		switch v.Type() {
		case cty.String:
			s = strings.TrimSpace(v.AsString())
		case cty.Number:
			n, err := toInt(v)
			if err != nil {
				return err
			}
			s = strconv.FormatInt(n, 10)
		default:
			return fmt.Errorf("want an octal mode such as \"0640\", got %s", v.Type().FriendlyName())
		}
		n, err := strconv.ParseUint(s, 8, 32)
		if err != nil || n > 0o777 {
			return fmt.Errorf("want an octal mode between 0000 and 0777, got %q", s)
		}
		*p = os.FileMode(n)
		return nil
	}
}

func stringList(p *[]string) setter {
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

// command takes a string (run with /bin/sh -c) or a list of strings (the
// program and its arguments).
func command(p *[]string) setter {
	return func(v cty.Value) error {
		if v.Type() == cty.String {
			if strings.TrimSpace(v.AsString()) == "" {
				*p = nil
				return nil
			}
			*p = []string{v.AsString()}
			return nil
		}
		return stringList(p)(v)
	}
}

func oneOf(p *string, allowed ...string) setter {
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

// signals are the names restart_stop_signal accepts.
func signals() map[string]syscall.Signal {
	return map[string]syscall.Signal{
		"SIGHUP": syscall.SIGHUP, "SIGINT": syscall.SIGINT, "SIGQUIT": syscall.SIGQUIT,
		"SIGKILL": syscall.SIGKILL, "SIGTERM": syscall.SIGTERM, "SIGUSR1": syscall.SIGUSR1,
		"SIGUSR2": syscall.SIGUSR2,
	}
}

func signal(p *syscall.Signal) setter {
	return func(v cty.Value) error {
		if v.Type() != cty.String {
			return fmt.Errorf("want a signal name such as \"SIGTERM\", got %s", v.Type().FriendlyName())
		}
		name := strings.ToUpper(strings.TrimSpace(v.AsString()))
		if !strings.HasPrefix(name, "SIG") {
			name = "SIG" + name
		}
		s, ok := signals()[name]
		if !ok {
			return fmt.Errorf("unknown signal %q", v.AsString())
		}
		*p = s
		return nil
	}
}

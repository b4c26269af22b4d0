package config

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/coffer-secrets/coffer/internal/hclvalue"
)

// The common setters are the shared set in [hclvalue], under short names
// that keep the schema tables readable; the ones below them are the
// agent's own.

func str(p *string) setter                      { return hclvalue.String(p) }
func stringList(p *[]string) setter             { return hclvalue.Strings(p) }
func boolean(p *bool) setter                    { return hclvalue.Bool(p) }
func integer(p *int) setter                     { return hclvalue.Int(p, -1, 1<<20) }
func float(p *float64) setter                   { return hclvalue.Float(p) }
func duration(p *time.Duration) setter          { return hclvalue.Duration(p) }
func oneOf(p *string, allowed ...string) setter { return hclvalue.OneOf(p, allowed...) }

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

// mode takes permission bits as an octal string ("0640") or as a number
// whose digits are read as octal (0640 or 640), as people write them.
func mode(p *os.FileMode) setter {
	return func(v cty.Value) error {
		var s string
		switch v.Type() {
		case cty.String:
			s = strings.TrimSpace(v.AsString())
		case cty.Number:
			n, err := hclvalue.WholeNumber(v)
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

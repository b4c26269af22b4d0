package config

import (
	"math"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/coffer-secrets/coffer/internal/hclvalue"
)

// The setters the schemas use are the shared set in [hclvalue], under short
// names that keep the schema tables readable; the ones below them are this
// package's own types.

func str(p *string) setter             { return hclvalue.String(p) }
func secret(p *Secret) setter          { return hclvalue.String(p) }
func stringList(p *[]string) setter    { return hclvalue.Strings(p) }
func commaList(p *[]string) setter     { return hclvalue.CommaList(p) }
func boolean(p *bool) setter           { return hclvalue.Bool(p) }
func integer(p *int64) setter          { return hclvalue.Int64(p) }
func smallInt(p *int) setter           { return hclvalue.Int(p, math.MinInt32, math.MaxInt32) }
func duration(p *time.Duration) setter { return hclvalue.Duration(p) }

// logLevel decodes a log level, normalising case and Vault's spellings;
// validation checks the result.
func logLevel(p *LogLevel) setter {
	return func(v cty.Value) error {
		var s string
		if err := hclvalue.String(&s)(v); err != nil {
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
		if err := hclvalue.String(&s)(v); err != nil {
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
		if err := hclvalue.String(&s)(v); err != nil {
			return err
		}
		*p = TLSVersion(strings.ToLower(strings.TrimSpace(s)))
		return nil
	}
}

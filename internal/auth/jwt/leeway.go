package jwt

import (
	"encoding/json"
	"reflect"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// Default leeways, as Vault documents them for JWT roles.
const (
	defaultClockSkewLeeway  = 60 * time.Second
	defaultExpirationLeeway = 150 * time.Second
	defaultNotBeforeLeeway  = 150 * time.Second
)

// leewayDisabled is how a disabled leeway is stored.
const leewayDisabled = -time.Second

// leeway is a role's leeway as written: a duration in the forms
// [framework.Duration] takes (10, "10", "2m", "7d"), or a negative one (-1,
// "-1", "-2m") meaning no leeway at all. Zero means the default.
type leeway time.Duration

// UnmarshalJSON implements [json.Unmarshaler]. null leaves l unchanged.
func (l *leeway) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	bad := &json.UnmarshalTypeError{Value: "value", Type: reflect.TypeFor[leeway]()}
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return bad
		}
		s = strings.TrimSpace(s)
	} else if strings.ContainsAny(s, ".eE") {
		return bad // JSON numbers are whole seconds
	}
	abs, negative := strings.CutPrefix(s, "-")
	if negative && (abs == "" || abs != strings.TrimSpace(abs)) {
		return bad
	}
	d, ok := framework.ParseDuration(abs)
	if !ok {
		return bad
	}
	if negative {
		d = -d
	}
	*l = leeway(d)
	return nil
}

// normalize returns the leeway to store: def for zero, leewayDisabled for
// any negative value.
func (l leeway) normalize(def time.Duration) time.Duration {
	switch {
	case l == 0:
		return def
	case l < 0:
		return leewayDisabled
	}
	return time.Duration(l)
}

// effective returns a stored leeway as a non-negative duration.
func effective(stored time.Duration) time.Duration {
	return max(stored, 0)
}

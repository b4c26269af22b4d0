package jwt

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Default leeways, as Vault documents them for JWT roles.
const (
	defaultClockSkewLeeway  = 60 * time.Second
	defaultExpirationLeeway = 150 * time.Second
	defaultNotBeforeLeeway  = 150 * time.Second
)

// leewayDisabled is how a disabled leeway is stored.
const leewayDisabled = -time.Second

// leeway is a role's leeway as written: integer seconds (10, "10"), a Go
// duration string ("2m"), or a negative value (-1, "-1") meaning no
// leeway at all. Zero means the default.
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
	}
	if s == "" {
		*l = 0
		return nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > 1<<32 || n < -(1<<32) {
			return bad
		}
		*l = leeway(time.Duration(n) * time.Second)
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || b[0] != '"' {
		return bad
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

package awsapi

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/kvpayload"
	"github.com/coffer-secrets/coffer/internal/logical"
)

// RotateSecret and CancelRotateSecret map onto KV rotation (rotation/ and
// rotate/ on the mount; docs/rotation.md): Coffer's generators make the
// new value instead of a Lambda function.
//
//   - RotationRules.AutomaticallyAfterDays is the policy's period (days);
//     ScheduleExpression rate(N days|hours) is a period too, and
//     cron(min hour dom month dow year) is the policy's five-field
//     schedule (the year must be * and ? reads as *); Duration is the
//     policy's window.
//   - A secret without a policy yet gets one generator: a password (the
//     default password policy) for a SecretString written through this
//     API, 32 random bytes in base64 for a SecretBinary. Other KV data
//     needs a policy written with the Vault API first (which keys to
//     generate); RotateSecret then only changes its schedule.
//   - RotateImmediately (the default) runs the rotation now through
//     rotate/; RotationLambdaARN is ignored.
//   - CancelRotateSecret deletes the policy.

type rotateInput struct {
	SecretID           string         `json:"SecretId"`
	ClientRequestToken string         `json:"ClientRequestToken"`
	RotationLambdaARN  string         `json:"RotationLambdaARN"`
	RotationRules      *rotationRules `json:"RotationRules"`
	RotateImmediately  *bool          `json:"RotateImmediately"`
}

type rotateOutput struct {
	ARN       string  `json:"ARN"`
	Name      string  `json:"Name"`
	VersionID *string `json:"VersionId,omitempty"`
}

// kvPolicy is a rotation policy as rotation/ reads and writes it.
type kvPolicy struct {
	Period   any                        `json:"period,omitempty"`
	Schedule string                     `json:"schedule,omitempty"`
	Window   any                        `json:"window,omitempty"`
	Keys     map[string]json.RawMessage `json:"keys"`
	Rotator  json.RawMessage            `json:"rotator,omitempty"`
}

func rotateSecret(s *session, body []byte) (any, error) {
	var in rotateInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	ref, err := resolve(in.SecretID)
	if err != nil {
		return nil, err
	}
	tok := ""
	if in.ClientRequestToken != "" {
		if tok, err = checkToken(in.ClientRequestToken); err != nil {
			return nil, err
		}
	}
	v, err := s.load(ref)
	if err != nil {
		return nil, err
	}
	var existing kvPolicy
	err = s.do(logical.ReadOperation, "rotation/"+v.name, nil, nil, &existing)
	has := err == nil
	if err != nil && !isNotFound(err) {
		return nil, err
	}
	if in.RotationRules != nil {
		pol := map[string]any{}
		if err := applyRules(in.RotationRules, pol); err != nil {
			return nil, err
		}
		if has && len(existing.Keys) > 0 {
			pol["keys"] = existing.Keys
			if len(existing.Rotator) > 0 && string(existing.Rotator) != "null" {
				// The stored rotator's secrets are not answered; keep
				// it by leaving the policy's keys and rotator alone.
				return nil, fail(codeInvalidRequest, "this secret's rotation has a rotator; change its schedule with the Vault API (rotation/%s)", v.name)
			}
		} else {
			keys, err := s.defaultKeys(v)
			if err != nil {
				return nil, err
			}
			pol["keys"] = keys
		}
		if err := s.do(logical.UpdateOperation, "rotation/"+v.name, nil, pol, nil); err != nil {
			return nil, err
		}
		has = true
	}
	if !has {
		return nil, fail(codeInvalidRequest, "No rotation is configured for this secret: give RotationRules")
	}
	out := &rotateOutput{ARN: s.arn(v), Name: v.name}
	if in.RotateImmediately == nil || *in.RotateImmediately {
		// The ClientRequestToken becomes the new version's VersionId in
		// the rotation's own transaction (rotate/'s Coffer extension),
		// unless a rotation is already pending: that one is completed,
		// and its version keeps the id it has.
		var body map[string]any
		if tok != "" && v.pending == 0 {
			n := v.next()
			body = map[string]any{"version": n, "custom_metadata": map[string]*string{mkVersionPrefix + itoa(n): ptr(tok)}}
		}
		var res struct {
			Version int `json:"version"`
		}
		if err := s.do(logical.UpdateOperation, "rotate/"+v.name, nil, body, &res); err != nil {
			if errors.Is(err, logical.ErrConflict) && body != nil {
				return nil, fail(codeInvalidRequest, "the secret changed during the request; retry")
			}
			return nil, err
		}
		if res.Version > 0 {
			if body != nil && res.Version == body["version"] {
				v.custom[mkVersionPrefix+itoa(res.Version)] = tok
			}
			out.VersionID = ptr(v.versionID(res.Version))
		}
	}
	return out, nil
}

// defaultKeys answers the generators of a secret written through this API.
func (s *session) defaultKeys(v *view) (map[string]any, error) {
	cur := v.current()
	if cur == 0 {
		return nil, fail(codeInvalidRequest, "the secret has no value to rotate")
	}
	d, err := s.readData(v.name, cur)
	if err != nil {
		return nil, err
	}
	if len(d.Data) == 1 {
		if _, ok := d.Data[kvpayload.StringKey]; ok {
			return map[string]any{kvpayload.StringKey: map[string]any{"generator": "password"}}, nil
		}
		if _, ok := d.Data[kvpayload.BinaryKey]; ok {
			return map[string]any{kvpayload.BinaryKey: map[string]any{"generator": "random", "length": 32, "encoding": "base64"}}, nil
		}
	}
	return nil, fail(codeInvalidRequest, "this secret's KV data has several keys: say which to generate with the Vault API (rotation/%s) first", v.name)
}

// applyRules turns AWS rotation rules into a KV rotation policy's period,
// schedule and window.
func applyRules(r *rotationRules, pol map[string]any) error {
	n := 0
	if d := r.AutomaticallyAfterDays; d != nil {
		if *d < 1 || *d > 1000 {
			return invalidParam("AutomaticallyAfterDays must be between 1 and 1000")
		}
		pol["period"] = strconv.FormatInt(*d*24, 10) + "h"
		n++
	}
	if e := r.ScheduleExpression; e != nil {
		n++
		expr := strings.TrimSpace(*e)
		switch {
		case strings.HasPrefix(expr, "rate(") && strings.HasSuffix(expr, ")"):
			f := strings.Fields(expr[5 : len(expr)-1])
			if len(f) != 2 {
				return invalidParam("invalid ScheduleExpression: want rate(N days) or rate(N hours)")
			}
			k, err := strconv.Atoi(f[0])
			if err != nil || k < 1 {
				return invalidParam("invalid ScheduleExpression: want rate(N days) or rate(N hours)")
			}
			switch strings.TrimSuffix(f[1], "s") {
			case "day":
				pol["period"] = strconv.Itoa(k*24) + "h"
			case "hour":
				pol["period"] = strconv.Itoa(k) + "h"
			default:
				return invalidParam("invalid ScheduleExpression: want rate(N days) or rate(N hours)")
			}
		case strings.HasPrefix(expr, "cron(") && strings.HasSuffix(expr, ")"):
			f := strings.Fields(expr[5 : len(expr)-1])
			if len(f) != 6 || f[5] != "*" {
				return invalidParam("invalid ScheduleExpression: want cron(minute hour day-of-month month day-of-week *)")
			}
			for i := range f[:5] {
				if f[i] == "?" {
					f[i] = "*"
				}
			}
			pol["schedule"] = strings.Join(f[:5], " ")
		default:
			return invalidParam("invalid ScheduleExpression: want rate(...) or cron(...)")
		}
	}
	if n != 1 {
		return invalidParam("RotationRules needs exactly one of AutomaticallyAfterDays and ScheduleExpression")
	}
	if d := r.Duration; d != nil {
		w, err := time.ParseDuration(strings.ToLower(*d))
		if err != nil || w < time.Hour || w > 24*time.Hour {
			return invalidParam("invalid Duration: want 1h to 24h, such as 3h")
		}
		pol["window"] = w.String()
	}
	return nil
}

// rulesOf answers the AWS rules of a KV rotation summary.
func rulesOf(r *kvRotation) *rotationRules {
	out := &rotationRules{}
	if r.Schedule != "" {
		out.ScheduleExpression = ptr("cron(" + r.Schedule + " *)")
		return out
	}
	var secs int64
	if json.Unmarshal(r.Period, &secs) != nil {
		var s string
		if json.Unmarshal(r.Period, &s) == nil {
			if d, err := time.ParseDuration(s); err == nil {
				secs = int64(d / time.Second)
			}
		}
	}
	if secs > 0 {
		days := secs / 86400
		if days*86400 == secs {
			out.AutomaticallyAfterDays = &days
		} else {
			out.ScheduleExpression = ptr("rate(" + strconv.FormatInt(secs/3600, 10) + " hours)")
		}
	}
	return out
}

func cancelRotateSecret(s *session, body []byte) (any, error) {
	var in describeInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	ref, err := resolve(in.SecretID)
	if err != nil {
		return nil, err
	}
	v, err := s.load(ref)
	if err != nil {
		return nil, err
	}
	if err := s.do(logical.DeleteOperation, "rotation/"+v.name, nil, nil, nil); err != nil {
		return nil, err
	}
	return &rotateOutput{ARN: s.arn(v), Name: v.name}, nil
}

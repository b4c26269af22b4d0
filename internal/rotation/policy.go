package rotation

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// Limits of a policy.
const (
	// MinPeriod is the shortest rotation period.
	MinPeriod = time.Second
	// MaxKeys is the most keys one policy may generate.
	MaxKeys = 100
	// MaxKeyNameBytes is the longest key name.
	MaxKeyNameBytes = 256
	// MaxRandomLength is the most random bytes a random generator draws.
	MaxRandomLength = 1024
	// DefaultRandomLength is the random generator's default length.
	DefaultRandomLength = 32
)

// Generator names.
const (
	GenPassword = "password"
	GenRandom   = "random"
	GenEd25519  = "ed25519"
	GenECP256   = "ec-p256"
	GenRSA3072  = "rsa-3072"
	GenKeep     = "keep"
)

// Encodings of the random generator.
const (
	EncBase62 = "base62"
	EncHex    = "hex"
	EncBase64 = "base64"
)

// Rotator types.
const (
	RotatorWebhook  = "webhook"
	RotatorDatabase = "database"
)

// Policy is the validated rotation policy of one secret, as stored. Build
// it with [PolicyInput.Policy]. Exactly one of Period and Schedule is set.
type Policy struct {
	Period      time.Duration        `json:"period_ns,omitempty"`
	Schedule    string               `json:"schedule,omitempty"`
	Window      time.Duration        `json:"window_ns,omitempty"`
	GracePeriod time.Duration        `json:"grace_period_ns,omitempty"`
	Keys        map[string]Generator `json:"keys"`
	Rotator     *RotatorConfig       `json:"rotator,omitempty"`
}

// Generator says how one key of the secret gets its new value.
type Generator struct {
	Generator string `json:"generator"`
	// Policy names a sys/policies/password policy ("": the default).
	Policy string `json:"policy,omitempty"`
	// Length is the random generator's number of random bytes.
	Length int `json:"length,omitempty"`
	// Encoding is the random generator's encoding.
	Encoding string `json:"encoding,omitempty"`
}

// RotatorConfig configures the rotator that puts a new value where it is
// used before it becomes current. HMACKey and ClientKey are secrets: they
// are stored but never answered ([Policy.Public]).
type RotatorConfig struct {
	Type string `json:"type"`

	// Webhook.
	URL         string        `json:"url,omitempty"`
	HMACKey     string        `json:"hmac_key,omitempty"`
	SendValues  bool          `json:"send_values,omitempty"`
	Timeout     time.Duration `json:"timeout_ns,omitempty"`
	MaxAttempts int           `json:"max_attempts,omitempty"`
	CACert      string        `json:"ca_cert,omitempty"`
	ClientCert  string        `json:"client_cert,omitempty"`
	ClientKey   string        `json:"client_key,omitempty"`

	// Database.
	Mount       string `json:"mount,omitempty"`
	Connection  string `json:"connection,omitempty"`
	Username    string `json:"username,omitempty"`
	PasswordKey string `json:"password_key,omitempty"`
}

// PolicyInput is the body of a policy write (secret/rotation/PATH).
// Durations take Vault's forms (seconds or "30s").
type PolicyInput struct {
	Period      *framework.Duration  `json:"period"`
	Schedule    string               `json:"schedule"`
	Window      *framework.Duration  `json:"window"`
	GracePeriod *framework.Duration  `json:"grace_period"`
	Keys        map[string]Generator `json:"keys"`
	Rotator     *RotatorInput        `json:"rotator"`
}

// RotatorInput is the rotator member of a policy write.
type RotatorInput struct {
	Type        string              `json:"type"`
	URL         string              `json:"url"`
	HMACKey     string              `json:"hmac_key"`
	SendValues  framework.Bool      `json:"send_values"`
	Timeout     *framework.Duration `json:"timeout"`
	MaxAttempts framework.Int       `json:"max_attempts"`
	CACert      string              `json:"ca_cert"`
	ClientCert  string              `json:"client_cert"`
	ClientKey   string              `json:"client_key"`
	Mount       string              `json:"mount"`
	Connection  string              `json:"connection"`
	Username    string              `json:"username"`
	PasswordKey string              `json:"password_key"`
}

// Policy validates in and returns the policy it describes. Errors are
// [logical.ErrInvalidRequest] errors saying what to fix; they never quote
// a key.
func (in *PolicyInput) Policy() (*Policy, error) {
	p := &Policy{Schedule: strings.TrimSpace(in.Schedule)}
	if in.Period != nil {
		p.Period = time.Duration(*in.Period)
	}
	switch {
	case p.Period != 0 && p.Schedule != "":
		return nil, logical.InvalidRequest("set either \"period\" or \"schedule\", not both")
	case p.Period == 0 && p.Schedule == "":
		return nil, logical.InvalidRequest("missing \"period\" or \"schedule\": say how often to rotate")
	case p.Period != 0 && p.Period < MinPeriod:
		return nil, logical.InvalidRequest("\"period\" must be at least %s", MinPeriod)
	}
	if p.Schedule != "" {
		if _, err := ParseSchedule(p.Schedule); err != nil {
			return nil, err
		}
	}
	if in.Window != nil {
		p.Window = time.Duration(*in.Window)
	}
	if p.Window < 0 || (p.Period != 0 && p.Window >= p.Period) {
		return nil, logical.InvalidRequest("\"window\" must be non-negative and shorter than \"period\"")
	}
	if in.GracePeriod != nil {
		p.GracePeriod = time.Duration(*in.GracePeriod)
	}
	if p.GracePeriod < 0 {
		return nil, logical.InvalidRequest("\"grace_period\" must not be negative")
	}
	keys, err := checkKeys(in.Keys)
	if err != nil {
		return nil, err
	}
	p.Keys = keys
	if in.Rotator != nil {
		r, err := in.Rotator.config(keys)
		if err != nil {
			return nil, err
		}
		p.Rotator = r
	}
	return p, nil
}

// checkKeys validates the generators and fills their defaults.
func checkKeys(in map[string]Generator) (map[string]Generator, error) {
	if len(in) == 0 {
		return nil, logical.InvalidRequest("missing \"keys\": map each key of the secret to a generator, such as {\"password\": {\"generator\": \"random\"}}")
	}
	if len(in) > MaxKeys {
		return nil, logical.InvalidRequest("\"keys\" has %d keys; the limit is %d", len(in), MaxKeys)
	}
	out := make(map[string]Generator, len(in))
	generates := false
	for name, g := range in {
		if name == "" || len(name) > MaxKeyNameBytes {
			return nil, logical.InvalidRequest("a key name in \"keys\" is empty or longer than %d bytes", MaxKeyNameBytes)
		}
		switch g.Generator {
		case GenPassword:
			g.Length, g.Encoding = 0, ""
		case GenRandom:
			if g.Length == 0 {
				g.Length = DefaultRandomLength
			}
			if g.Length < 1 || g.Length > MaxRandomLength {
				return nil, logical.InvalidRequest("random generator of key %q: \"length\" must be between 1 and %d", name, MaxRandomLength)
			}
			if g.Encoding == "" {
				g.Encoding = EncBase62
			}
			if !slices.Contains([]string{EncBase62, EncHex, EncBase64}, g.Encoding) {
				return nil, logical.InvalidRequest("random generator of key %q: \"encoding\" must be base62, hex or base64", name)
			}
			g.Policy = ""
		case GenEd25519, GenECP256, GenRSA3072, GenKeep:
			g = Generator{Generator: g.Generator}
		case "":
			return nil, logical.InvalidRequest("key %q has no \"generator\"", name)
		default:
			return nil, logical.InvalidRequest("key %q: unknown generator %q; use password, random, ed25519, ec-p256, rsa-3072 or keep", name, g.Generator)
		}
		generates = generates || g.Generator != GenKeep
		out[name] = g
	}
	if !generates {
		return nil, logical.InvalidRequest("every key is \"keep\": at least one key must get a new value")
	}
	return out, nil
}

// config validates a rotator.
func (in *RotatorInput) config(keys map[string]Generator) (*RotatorConfig, error) {
	switch in.Type {
	case RotatorWebhook:
		r := &RotatorConfig{
			Type: in.Type, URL: in.URL, HMACKey: in.HMACKey, SendValues: bool(in.SendValues),
			MaxAttempts: int(in.MaxAttempts), CACert: in.CACert, ClientCert: in.ClientCert, ClientKey: in.ClientKey,
		}
		if in.Timeout != nil {
			r.Timeout = time.Duration(*in.Timeout)
		}
		if err := r.checkWebhook(); err != nil {
			return nil, err
		}
		return r, nil
	case RotatorDatabase:
		r := &RotatorConfig{Type: in.Type, Mount: in.Mount, Connection: in.Connection, Username: in.Username, PasswordKey: in.PasswordKey}
		if r.Mount == "" || r.Connection == "" || r.Username == "" {
			return nil, logical.InvalidRequest("the database rotator needs \"mount\", \"connection\" and \"username\"")
		}
		if r.PasswordKey == "" && len(keys) == 1 {
			for k := range keys {
				r.PasswordKey = k
			}
		}
		g, ok := keys[r.PasswordKey]
		if !ok || (g.Generator != GenPassword && g.Generator != GenRandom) {
			return nil, logical.InvalidRequest("the database rotator's \"password_key\" must name a key of \"keys\" with the password or random generator")
		}
		return r, nil
	case "":
		return nil, logical.InvalidRequest("the rotator has no \"type\"; use webhook or database")
	default:
		return nil, logical.InvalidRequest("unknown rotator type %q; use webhook or database", in.Type)
	}
}

// Next returns when the rotation after one finished at last is due: the
// period after last (or the schedule's next time after last) plus the
// secret's offset within the window. A schedule with no next time (it
// can never match) gives the zero time.
func (p *Policy) Next(path string, last time.Time) time.Time {
	var base time.Time
	if p.Period > 0 {
		base = last.Add(p.Period)
	} else {
		s, err := ParseSchedule(p.Schedule)
		if err != nil {
			return time.Time{}
		}
		if base = s.Next(last); base.IsZero() {
			return base
		}
	}
	return base.Add(p.Offset(path))
}

// Offset is path's fixed place within the window: secrets that share a
// schedule spread over it instead of all rotating at the same second, and
// the same secret always gets the same offset.
func (p *Policy) Offset(path string) time.Duration {
	if p.Window <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(path))
	return time.Duration(h.Sum64() % uint64(p.Window))
}

// PublicPolicy is a policy as answered: durations in Vault's form and no
// webhook key.
type PublicPolicy struct {
	Period      framework.Duration   `json:"period"`
	Schedule    string               `json:"schedule"`
	Window      framework.Duration   `json:"window"`
	GracePeriod framework.Duration   `json:"grace_period"`
	Keys        map[string]Generator `json:"keys"`
	Rotator     map[string]any       `json:"rotator,omitempty"`
}

// Public returns p as it may be answered, without the webhook's HMAC and
// client keys (only whether they are set).
func (p *Policy) Public() *PublicPolicy {
	out := &PublicPolicy{
		Period: framework.Duration(p.Period), Schedule: p.Schedule, Window: framework.Duration(p.Window),
		GracePeriod: framework.Duration(p.GracePeriod), Keys: p.Keys,
	}
	if r := p.Rotator; r != nil {
		switch r.Type {
		case RotatorWebhook:
			out.Rotator = map[string]any{
				"type": r.Type, "url": r.URL, "hmac_key_set": r.HMACKey != "", "send_values": r.SendValues,
				"timeout": framework.Duration(r.webhookTimeout()), "max_attempts": r.attempts(),
				"ca_cert": r.CACert, "client_cert": r.ClientCert, "client_key_set": r.ClientKey != "",
			}
		case RotatorDatabase:
			out.Rotator = map[string]any{"type": r.Type, "mount": r.Mount, "connection": r.Connection, "username": r.Username, "password_key": r.PasswordKey}
		}
	}
	return out
}

// Decode reads a stored policy.
func Decode(b []byte) (*Policy, error) {
	p := new(Policy)
	if err := json.Unmarshal(b, p); err != nil {
		return nil, fmt.Errorf("decode rotation policy: %w", err)
	}
	return p, nil
}

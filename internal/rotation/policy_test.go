package rotation

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

func decodePolicy(t *testing.T, body string) (*Policy, error) {
	t.Helper()
	var in PolicyInput
	if err := framework.DecodeBody(json.RawMessage(body), &in); err != nil {
		return nil, err
	}
	return in.Policy()
}

func TestPolicyValidation(t *testing.T) {
	t.Parallel()
	hook := `"rotator":{"type":"webhook","url":"https://hooks.example/rotate","hmac_key":"0123456789abcdef"}`
	tests := []struct {
		name    string
		body    string
		wantErr string // substring of the message; "" for success
	}{
		{name: "period", body: `{"period":"1h","keys":{"k":{"generator":"random"}}}`},
		{name: "seconds", body: `{"period":2,"keys":{"k":{"generator":"password"}}}`},
		{name: "schedule", body: `{"schedule":"0 3 * * 1","window":"1h","keys":{"k":{"generator":"ed25519"}}}`},
		{name: "descriptor", body: `{"schedule":"@daily","keys":{"k":{"generator":"rsa-3072"},"u":{"generator":"keep"}}}`},
		{name: "webhook", body: `{"period":"1h","keys":{"k":{"generator":"ec-p256"}},` + hook + `}`},
		{name: "database", body: `{"period":"1h","keys":{"pw":{"generator":"random","encoding":"hex"}},"rotator":{"type":"database","mount":"database","connection":"db","username":"app"}}`},
		{name: "neither", body: `{"keys":{"k":{"generator":"random"}}}`, wantErr: `missing "period" or "schedule"`},
		{name: "both", body: `{"period":"1h","schedule":"@daily","keys":{"k":{"generator":"random"}}}`, wantErr: "not both"},
		{name: "short period", body: `{"period":"500ms","keys":{"k":{"generator":"random"}}}`, wantErr: "at least 1s"},
		{name: "window too long", body: `{"period":"1h","window":"2h","keys":{"k":{"generator":"random"}}}`, wantErr: `"window"`},
		{name: "negative grace", body: `{"period":"1h","grace_period":"-1s","keys":{"k":{"generator":"random"}}}`, wantErr: `"grace_period"`},
		{name: "no keys", body: `{"period":"1h"}`, wantErr: `missing "keys"`},
		{name: "all keep", body: `{"period":"1h","keys":{"k":{"generator":"keep"}}}`, wantErr: "at least one key"},
		{name: "unknown generator", body: `{"period":"1h","keys":{"k":{"generator":"dice"}}}`, wantErr: "unknown generator"},
		{name: "no generator", body: `{"period":"1h","keys":{"k":{}}}`, wantErr: `has no "generator"`},
		{name: "random too long", body: `{"period":"1h","keys":{"k":{"generator":"random","length":5000}}}`, wantErr: `"length"`},
		{name: "bad encoding", body: `{"period":"1h","keys":{"k":{"generator":"random","encoding":"base32"}}}`, wantErr: `"encoding"`},
		{name: "bad schedule", body: `{"schedule":"61 * * * *","keys":{"k":{"generator":"random"}}}`, wantErr: `invalid "schedule"`},
		{name: "six fields", body: `{"schedule":"0 0 3 * * 1","keys":{"k":{"generator":"random"}}}`, wantErr: "five fields"},
		{name: "every", body: `{"schedule":"@every 1m","keys":{"k":{"generator":"random"}}}`, wantErr: "@every"},
		{name: "time zone", body: `{"schedule":"TZ=Europe/Paris 0 3 * * *","keys":{"k":{"generator":"random"}}}`, wantErr: "UTC"},
		{name: "never", body: `{"schedule":"0 0 30 2 *","keys":{"k":{"generator":"random"}}}`, wantErr: "never matches"},
		{name: "http webhook", body: `{"period":"1h","keys":{"k":{"generator":"random"}},"rotator":{"type":"webhook","url":"http://x","hmac_key":"0123456789abcdef"}}`, wantErr: "https://"},
		{name: "short hmac key", body: `{"period":"1h","keys":{"k":{"generator":"random"}},"rotator":{"type":"webhook","url":"https://x","hmac_key":"short"}}`, wantErr: "hmac_key"},
		{name: "credentials in url", body: `{"period":"1h","keys":{"k":{"generator":"random"}},"rotator":{"type":"webhook","url":"https://u:p@x","hmac_key":"0123456789abcdef"}}`, wantErr: "credentials"},
		{name: "bad ca", body: `{"period":"1h","keys":{"k":{"generator":"random"}},"rotator":{"type":"webhook","url":"https://x","hmac_key":"0123456789abcdef","ca_cert":"nope"}}`, wantErr: "ca_cert"},
		{name: "cert without key", body: `{"period":"1h","keys":{"k":{"generator":"random"}},"rotator":{"type":"webhook","url":"https://x","hmac_key":"0123456789abcdef","client_cert":"x"}}`, wantErr: "client_key"},
		{name: "long timeout", body: `{"period":"1h","keys":{"k":{"generator":"random"}},"rotator":{"type":"webhook","url":"https://x","hmac_key":"0123456789abcdef","timeout":"2h"}}`, wantErr: "timeout"},
		{name: "database without user", body: `{"period":"1h","keys":{"k":{"generator":"random"}},"rotator":{"type":"database","mount":"database","connection":"db"}}`, wantErr: "username"},
		{name: "database key not generated", body: `{"period":"1h","keys":{"k":{"generator":"random"},"u":{"generator":"keep"}},"rotator":{"type":"database","mount":"database","connection":"db","username":"app","password_key":"u"}}`, wantErr: "password_key"},
		{name: "unknown rotator", body: `{"period":"1h","keys":{"k":{"generator":"random"}},"rotator":{"type":"carrier-pigeon"}}`, wantErr: "unknown rotator"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := decodePolicy(t, tt.body)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Policy(%s) = %v", tt.body, err)
				}
				if p == nil || len(p.Keys) == 0 {
					t.Fatalf("Policy(%s) = %+v", tt.body, p)
				}
				return
			}
			if !errors.Is(err, logical.ErrInvalidRequest) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Policy(%s) error = %v, want an invalid request containing %q", tt.body, err, tt.wantErr)
			}
		})
	}
}

func TestPolicyDefaultsAndPublic(t *testing.T) {
	t.Parallel()
	p, err := decodePolicy(t, `{"period":"1h","keys":{"k":{"generator":"random"},"pw":{"generator":"password","length":9}},
		"rotator":{"type":"webhook","url":"https://h.example/x","hmac_key":"0123456789abcdef-SECRET"}}`)
	if err != nil {
		t.Fatal(err)
	}
	if g := p.Keys["k"]; g.Length != DefaultRandomLength || g.Encoding != EncBase62 {
		t.Errorf("random defaults = %+v", g)
	}
	if g := p.Keys["pw"]; g.Length != 0 {
		t.Errorf("password generator kept a length: %+v", g)
	}
	out, err := json.Marshal(p.Public())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "SECRET") || !strings.Contains(string(out), `"hmac_key_set":true`) {
		t.Errorf("Public() = %s: it must say the key is set and never show it", out)
	}
	// The stored form round-trips.
	stored, _ := json.Marshal(p)
	back, err := Decode(stored)
	if err != nil || back.Rotator.HMACKey != p.Rotator.HMACKey || back.Period != time.Hour {
		t.Errorf("Decode(stored) = %+v, %v", back, err)
	}
}

func TestNext(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 4, 10, 30, 0, 0, time.UTC)
	tests := []struct {
		name string
		p    Policy
		want time.Time
	}{
		{name: "period", p: Policy{Period: 2 * time.Second}, want: at.Add(2 * time.Second)},
		{name: "weekly", p: Policy{Schedule: "0 3 * * 1"}, want: time.Date(2026, 3, 9, 3, 0, 0, 0, time.UTC)},
		{name: "hourly", p: Policy{Schedule: "@hourly"}, want: time.Date(2026, 3, 4, 11, 0, 0, 0, time.UTC)},
		{name: "bad schedule", p: Policy{Schedule: "nope"}, want: time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.p.Next("a/b", at); !got.Equal(tt.want) {
				t.Errorf("Next = %v, want %v", got, tt.want)
			}
		})
	}
	// A window spreads secrets over it, the same way every time.
	p := Policy{Period: time.Hour, Window: 10 * time.Minute}
	seen := map[time.Duration]bool{}
	for _, path := range []string{"a", "b", "c", "d", "e", "f"} {
		off := p.Offset(path)
		if off < 0 || off >= p.Window || off != p.Offset(path) {
			t.Fatalf("Offset(%q) = %v, want a fixed value in [0, %v)", path, off, p.Window)
		}
		if got := p.Next(path, at); !got.Equal(at.Add(time.Hour + off)) {
			t.Errorf("Next(%q) = %v, want %v", path, got, at.Add(time.Hour+off))
		}
		seen[off] = true
	}
	if len(seen) < 2 {
		t.Errorf("six paths got one offset: %v", seen)
	}
}

func FuzzParseSchedule(f *testing.F) {
	for _, s := range []string{"0 3 * * 1", "*/5 * * * *", "@daily", "0 0 30 2 *", "1-5,7 */2 1 JAN-MAR MON-FRI", "@every 1s", "", "0 0 29 2 *"} {
		f.Add(s)
	}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, expr string) {
		s, err := ParseSchedule(expr)
		if err != nil {
			if !errors.Is(err, logical.ErrInvalidRequest) {
				t.Fatalf("ParseSchedule(%q) error %v is not an invalid request", expr, err)
			}
			return
		}
		// An accepted schedule always has a next time, after the given one.
		if n := s.Next(at); !n.After(at) {
			t.Fatalf("ParseSchedule(%q).Next(%v) = %v", expr, at, n)
		}
	})
}

func FuzzPolicyInput(f *testing.F) {
	for _, s := range []string{
		`{"period":"1h","keys":{"k":{"generator":"random"}}}`,
		`{"schedule":"@daily","window":"1h","grace_period":60,"keys":{"k":{"generator":"random","length":5,"encoding":"hex"}}}`,
		`{"period":"1h","keys":{"k":{"generator":"random"}},"rotator":{"type":"webhook","url":"https://x/y","hmac_key":"0123456789abcdef"}}`,
		`{"period":"1h","keys":{"pw":{"generator":"password"}},"rotator":{"type":"database","mount":"d","connection":"c","username":"u"}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var in PolicyInput
		if framework.DecodeBody(json.RawMessage(body), &in) != nil {
			return
		}
		p, err := in.Policy()
		if err != nil {
			if !errors.Is(err, logical.ErrInvalidRequest) {
				t.Fatalf("Policy(%s) error %v is not an invalid request", body, err)
			}
			return
		}
		if (p.Period == 0) == (p.Schedule == "") || len(p.Keys) == 0 || len(p.Keys) > MaxKeys {
			t.Fatalf("Policy(%s) accepted %+v", body, p)
		}
		stored, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decode(stored); err != nil {
			t.Fatalf("stored policy does not decode: %v", err)
		}
	})
}

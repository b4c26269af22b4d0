package mount

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/storage/inmem"
)

func TestPath(t *testing.T) {
	tests := []struct {
		name    string
		auth    bool
		in      string
		want    string
		wantErr string
	}{
		{name: "engine", in: "secret", want: "secret/"},
		{name: "engine with slashes", in: "/team/kv/", want: "team/kv/"},
		{name: "auth", auth: true, in: "approle", want: "auth/approle/"},
		{name: "auth token reserved", auth: true, in: "token", wantErr: "reserved for the token store"},
		{name: "sys reserved", in: "sys", wantErr: `"sys/" is reserved`},
		{name: "under a reserved path", in: "cubbyhole/x", wantErr: `"cubbyhole/" is reserved`},
		{name: "above a reserved path", in: "au", want: "au/"},
		{name: "empty", in: "/", wantErr: "must not be empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Path(tt.auth, tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Path(%v, %q) = %q, %v; want error with %q", tt.auth, tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Path(%v, %q) = %q, %v; want %q", tt.auth, tt.in, got, err, tt.want)
			}
		})
	}
}

func TestCheckProtected(t *testing.T) {
	tests := []struct {
		path    string
		wantErr string
	}{
		{path: "auth/token/", wantErr: "token credential backend cannot be disabled"},
		{path: "sys/", wantErr: `cannot unmount "sys/"`},
		{path: "cubbyhole/", wantErr: `cannot unmount "cubbyhole/"`},
		{path: "identity/", wantErr: `cannot unmount "identity/"`},
		{path: "secret/"},
		{path: "auth/approle/"},
	}
	for _, tt := range tests {
		err := CheckProtected(tt.path)
		if tt.wantErr == "" && err != nil {
			t.Errorf("CheckProtected(%q) = %v, want nil", tt.path, err)
		}
		if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("CheckProtected(%q) = %v, want %q", tt.path, err, tt.wantErr)
		}
	}
}

func TestCheckTTLs(t *testing.T) {
	const serverMax = 10 * time.Hour
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{name: "zero", cfg: Config{}},
		{name: "default under server max", cfg: Config{DefaultLeaseTTL: time.Hour}},
		{name: "default over server max", cfg: Config{DefaultLeaseTTL: 11 * time.Hour}, wantErr: "given default lease TTL of 39600 greater than system max lease TTL of 36000"},
		{name: "own max above server max", cfg: Config{DefaultLeaseTTL: 20 * time.Hour, MaxLeaseTTL: 87600 * time.Hour}},
		{name: "default over own max", cfg: Config{DefaultLeaseTTL: 2 * time.Hour, MaxLeaseTTL: time.Hour}, wantErr: "backend max lease TTL of 3600 would be less than backend default lease TTL of 7200"},
		{name: "negative", cfg: Config{MaxLeaseTTL: -time.Second}, wantErr: "must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckTTLs(tt.cfg, serverMax)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("CheckTTLs = %v, want nil", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("CheckTTLs = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestLockout(t *testing.T) {
	tests := []struct {
		name       string
		base, over Lockout
		want       Lockout
	}{
		{name: "defaults", want: Lockout{Threshold: 5, Duration: 15 * time.Minute, CounterReset: 15 * time.Minute}},
		{name: "base kept", base: Lockout{Threshold: 3}, want: Lockout{Threshold: 3, Duration: 15 * time.Minute, CounterReset: 15 * time.Minute}},
		{name: "field by field", base: Lockout{Threshold: 3, Duration: time.Hour}, over: Lockout{Duration: time.Minute, CounterReset: time.Second}, want: Lockout{Threshold: 3, Duration: time.Minute, CounterReset: time.Second}},
		{name: "disable", over: Lockout{Disable: true}, want: Lockout{Threshold: 5, Duration: 15 * time.Minute, CounterReset: 15 * time.Minute, Disable: true}},
	}
	for _, tt := range tests {
		if got := tt.base.Over(tt.over).WithDefaults(); got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestTableRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := inmem.New()
	empty, err := Load(ctx, s)
	if err != nil || len(empty.Entries) != 0 {
		t.Fatalf("Load of nothing = %+v, %v; want an empty table", empty, err)
	}
	n := 0
	newID := func() string { n++; return "id-" + string(rune('0'+n)) }
	if !EnsureBuiltins(empty, newID) {
		t.Fatal("EnsureBuiltins on an empty table added nothing")
	}
	if EnsureBuiltins(empty, newID) {
		t.Fatal("EnsureBuiltins added built-ins twice")
	}
	tok := empty.Find("auth/token/")
	if tok == nil || !tok.Builtin || !tok.IsAuth() || !strings.HasPrefix(tok.Accessor, "auth_token_") || tok.StoragePrefix() != "auth/"+tok.UUID+"/" {
		t.Fatalf("token mount = %+v", tok)
	}
	cub := empty.Find("cubbyhole/")
	if cub == nil || cub.IsAuth() || !strings.HasPrefix(cub.Accessor, "cubbyhole_") || cub.StoragePrefix() != "logical/"+cub.UUID+"/" {
		t.Fatalf("cubbyhole mount = %+v", cub)
	}
	kv := &Entry{Path: "secret/", Type: "kv", UUID: "u", Accessor: Accessor(false, "kv"), Options: map[string]string{"version": "2"}, Config: Config{MaxLeaseTTL: time.Hour, Lockout: Lockout{Threshold: 2}, AuditNonHMACRequestKeys: []string{"plaintext"}, AuditNonHMACResponseKeys: []string{"ciphertext", "key_version"}}}
	empty.Entries = append(empty.Entries, kv)
	if err := Persist(ctx, s, empty); err != nil {
		t.Fatal(err)
	}
	got, err := Load(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Entries) != 4 {
		t.Fatalf("loaded %d entries, want 4", len(got.Entries))
	}
	g := got.Find("secret/")
	if g == nil || g.Options["version"] != "2" || !reflect.DeepEqual(g.Config, kv.Config) || g.Accessor != kv.Accessor {
		t.Fatalf("loaded secret/ = %+v, want %+v", g, kv)
	}
	cp := got.Clone()
	cp.Find("secret/").Options["version"] = "1"
	cp.Find("secret/").Path = "moved/"
	if g.Options["version"] != "2" || g.Path != "secret/" {
		t.Fatalf("changing a clone changed the original: %+v", g)
	}
}

func TestSystemView(t *testing.T) {
	gen := func(_ context.Context, policy string) (string, error) { return "pw-" + policy, nil }
	tests := []struct {
		name             string
		cfg              Config
		wantDef, wantMax time.Duration
	}{
		{name: "server's", wantDef: time.Hour, wantMax: 2 * time.Hour},
		{name: "mount's", cfg: Config{DefaultLeaseTTL: time.Minute, MaxLeaseTTL: 10 * time.Hour}, wantDef: time.Minute, wantMax: 10 * time.Hour},
		{name: "mixed", cfg: Config{MaxLeaseTTL: 3 * time.Hour}, wantDef: time.Hour, wantMax: 3 * time.Hour},
	}
	for _, tt := range tests {
		v := SystemView{Config: tt.cfg, ServerDefaultTTL: time.Hour, ServerMaxTTL: 2 * time.Hour, Passwords: gen}
		if got := v.DefaultLeaseTTL(); got != tt.wantDef {
			t.Errorf("%s: DefaultLeaseTTL = %v, want %v", tt.name, got, tt.wantDef)
		}
		if got := v.MaxLeaseTTL(); got != tt.wantMax {
			t.Errorf("%s: MaxLeaseTTL = %v, want %v", tt.name, got, tt.wantMax)
		}
		if got, err := v.GeneratePassword(context.Background(), "p"); err != nil || got != "pw-p" {
			t.Errorf("%s: GeneratePassword = %q, %v", tt.name, got, err)
		}
	}
}

func TestSystemViewDatabasePasswords(t *testing.T) {
	var v logical.DatabasePasswordSetter = SystemView{}
	if err := v.SetDatabasePassword(context.Background(), "database", "db", "app", "pw"); !errors.Is(err, logical.ErrInvalidRequest) {
		t.Errorf("without a setter: %v, want an invalid request", err)
	}
	var got string
	v = SystemView{DatabasePasswords: func(_ context.Context, m, c, u, p string) error { got = m + " " + c + " " + u + " " + p; return nil }}
	if err := v.SetDatabasePassword(context.Background(), "database", "db", "app", "pw"); err != nil || got != "database db app pw" {
		t.Errorf("SetDatabasePassword = %v, called with %q", err, got)
	}
}

func TestAuditKeys(t *testing.T) {
	long := strings.Repeat("k", MaxAuditKeyLen+1)
	many := make([]string, MaxAuditKeys+1)
	for i := range many {
		many[i] = "k" + strings.Repeat("x", i)
	}
	tests := []struct {
		name    string
		in      []string
		want    []string
		wantErr string
	}{
		{name: "nil clears", in: nil, want: nil},
		{name: "empty clears", in: []string{}, want: nil},
		{name: "vault's clear form", in: []string{""}, want: nil},
		{name: "kept in order", in: []string{"ciphertext", "key_version"}, want: []string{"ciphertext", "key_version"}},
		{name: "duplicates dropped", in: []string{"a", "b", "a"}, want: []string{"a", "b"}},
		{name: "empty key among others", in: []string{"a", ""}, wantErr: "audit_non_hmac_request_keys: keys must not be empty"},
		{name: "key too long", in: []string{long}, wantErr: "at most 256 are allowed"},
		{name: "too many keys", in: many, wantErr: "at most 64 keys may be given, not 65"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AuditKeys("audit_non_hmac_request_keys", tt.in)
			if tt.wantErr != "" {
				var le *logical.Error
				if !errors.As(err, &le) || le.Kind != logical.ErrInvalidRequest || !strings.Contains(le.Msg, tt.wantErr) {
					t.Fatalf("AuditKeys(%q) error = %v, want invalid request containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("AuditKeys(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

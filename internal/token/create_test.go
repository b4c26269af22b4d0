package token

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Parents for the rule tests.
var (
	rootParent  = &Entry{Policies: []string{"root"}, Type: TypeService}
	plainParent = &Entry{Policies: []string{"default", "dev", "ops"}, Type: TypeService}
	batchParent = &Entry{Policies: []string{"default", "dev"}, Type: TypeBatch}
)

func ptr[T any](v T) *T { return &v }

// wantRefusal checks that err is a refusal with message msg, or nil when
// msg is empty.
func wantRefusal(t *testing.T, call string, err error, msg string) {
	t.Helper()
	switch {
	case msg == "" && err != nil:
		t.Fatalf("%s: unexpected error %v", call, err)
	case msg == "":
	case err == nil:
		t.Fatalf("%s: no error, want %q", call, msg)
	case !errors.Is(err, ErrInvalidRequest):
		t.Fatalf("%s: error %v is not ErrInvalidRequest", call, err)
	case err.Error() != msg:
		t.Fatalf("%s: error %q, want %q", call, err.Error(), msg)
	}
}

func TestCheckCaller(t *testing.T) {
	t.Parallel()
	role := &Role{Name: "r"}
	tests := []struct {
		name   string
		req    CreateRequest
		parent Parent
		role   *Role
		orphan bool
		want   string
	}{
		{name: "plain child", req: CreateRequest{}, parent: Parent{Entry: plainParent}},
		{name: "batch parent child", parent: Parent{Entry: batchParent}, want: "batch tokens cannot create child tokens"},
		{name: "batch parent orphan", parent: Parent{Entry: batchParent}, orphan: true},
		{name: "id without sudo", req: CreateRequest{ID: "x"}, parent: Parent{Entry: plainParent}, want: "root or sudo privileges required to specify token id"},
		{name: "id with sudo", req: CreateRequest{ID: "x"}, parent: Parent{Entry: plainParent, Sudo: true}},
		{name: "id as root", req: CreateRequest{ID: "x"}, parent: Parent{Entry: rootParent}},
		{name: "no_parent without sudo", req: CreateRequest{NoParent: true}, parent: Parent{Entry: plainParent}, orphan: true, want: "root or sudo privileges required to create orphan token"},
		{name: "no_parent with sudo", req: CreateRequest{NoParent: true}, parent: Parent{Entry: plainParent, Sudo: true}, orphan: true},
		{name: "no_parent as root", req: CreateRequest{NoParent: true}, parent: Parent{Entry: rootParent}, orphan: true},
		{name: "create-orphan without sudo", req: CreateRequest{Orphan: true}, parent: Parent{Entry: plainParent}, orphan: true},
		{name: "no_parent on create-orphan still needs sudo", req: CreateRequest{Orphan: true, NoParent: true}, parent: Parent{Entry: plainParent}, orphan: true, want: "root or sudo privileges required to create orphan token"},
		{name: "no_parent with a role is ignored", req: CreateRequest{NoParent: true}, parent: Parent{Entry: plainParent}, role: role},
		{name: "batch check comes first", req: CreateRequest{ID: "x"}, parent: Parent{Entry: batchParent}, want: "batch tokens cannot create child tokens"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := checkCaller(tt.req, tt.parent, tt.role, tt.orphan)
			wantRefusal(t, "checkCaller", err, tt.want)
		})
	}
}

func TestRequestedPolicies(t *testing.T) {
	t.Parallel()
	exists := func(p string) bool { return p == "dev" || p == "ops" || p == "default" }
	tests := []struct {
		name    string
		in      []string
		want    []string
		wantErr string
	}{
		{name: "none", in: nil, want: nil},
		{name: "trimmed and lowercased", in: []string{" Dev ", "OPS"}, want: []string{"dev", "ops"}},
		{name: "empty name", in: []string{"dev", " "}, wantErr: "empty policy name"},
		{name: "unknown policy", in: []string{"dev", "Nope"}, wantErr: `policy "nope" does not exist`},
		{name: "empty name before later unknown", in: []string{"", "nope"}, wantErr: "empty policy name"},
		{name: "unknown before later empty", in: []string{"nope", ""}, wantErr: `policy "nope" does not exist`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := slices.Clone(tt.in)
			got, err := requestedPolicies(in, exists)
			wantRefusal(t, "requestedPolicies", err, tt.wantErr)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("requestedPolicies(%q) (-want +got):\n%s", tt.in, diff)
			}
			if !slices.Equal(in, tt.in) {
				t.Errorf("requestedPolicies modified its input: %q, was %q", in, tt.in)
			}
		})
	}
}

func TestBaseEntry(t *testing.T) {
	t.Parallel()
	base := Entry{DisplayName: "token", Path: "auth/token/create", Renewable: true}
	with := func(f func(e *Entry)) *Entry {
		e := base
		f(&e)
		return &e
	}
	tests := []struct {
		name    string
		req     CreateRequest
		want    *Entry
		wantErr string
	}{
		{name: "empty", want: with(func(*Entry) {})},
		{name: "fields copied", req: CreateRequest{
			Meta: map[string]string{"a": "b"}, DisplayName: "CI", TTL: time.Hour, ExplicitMaxTTL: 2 * time.Hour,
			Period: time.Minute, NumUses: 3, Type: "Batch",
		}, want: with(func(e *Entry) {
			e.Meta = map[string]string{"a": "b"}
			e.DisplayName = "token-ci"
			e.TTL, e.ExplicitMaxTTL, e.Period = time.Hour, 2*time.Hour, time.Minute
			e.NumUses = 3
			e.Type = "batch"
		})},
		{name: "lease when no ttl", req: CreateRequest{Lease: time.Minute}, want: with(func(e *Entry) { e.TTL = time.Minute })},
		{name: "ttl beats lease", req: CreateRequest{TTL: time.Hour, Lease: time.Minute}, want: with(func(e *Entry) { e.TTL = time.Hour })},
		{name: "not renewable", req: CreateRequest{Renewable: ptr(false)}, want: with(func(e *Entry) { e.Renewable = false })},
		{name: "renewable asked", req: CreateRequest{Renewable: ptr(true)}, want: with(func(*Entry) {})},
		{name: "negative uses", req: CreateRequest{NumUses: -1}, wantErr: "num_uses must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := baseEntry(tt.req)
			wantRefusal(t, "baseEntry", err, tt.wantErr)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("baseEntry(%+v) (-want +got):\n%s", tt.req, diff)
			}
		})
	}
}

func TestApplyRole(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		entry        Entry
		policies     []string
		role         Role
		want         Entry
		wantPolicies []string
		wantErr      string
	}{
		{
			name:  "path, role name, renewable kept",
			entry: Entry{Renewable: true},
			role:  Role{Name: "ci", Renewable: true},
			want:  Entry{Path: "auth/token/create/ci", Role: "ci", Renewable: true},
		},
		{
			name:  "path suffix",
			entry: Entry{Renewable: true},
			role:  Role{Name: "ci", PathSuffix: "v2", Renewable: true},
			want:  Entry{Path: "auth/token/create/ci/v2", Role: "ci", Renewable: true},
		},
		{
			name:  "role not renewable wins",
			entry: Entry{Renewable: true},
			role:  Role{Name: "ci"},
			want:  Entry{Path: "auth/token/create/ci", Role: "ci"},
		},
		{
			name: "role renewable does not make a token renewable",
			role: Role{Name: "ci", Renewable: true},
			want: Entry{Path: "auth/token/create/ci", Role: "ci"},
		},
		{
			name:         "allowed policies when none asked",
			role:         Role{Name: "ci", AllowedPolicies: []string{"dev", "ops"}},
			want:         Entry{Path: "auth/token/create/ci", Role: "ci"},
			wantPolicies: []string{"dev", "ops"},
		},
		{
			name:         "asked policy among allowed",
			policies:     []string{"ops", "default"},
			role:         Role{Name: "ci", AllowedPolicies: []string{"dev", "ops"}},
			want:         Entry{Path: "auth/token/create/ci", Role: "ci"},
			wantPolicies: []string{"ops", "default"},
		},
		{
			name:     "asked policy not allowed",
			policies: []string{"dev", "admin"},
			role:     Role{Name: "ci", AllowedPolicies: []string{"dev", "ops"}},
			wantErr:  `policy "admin" is not allowed by the role`,
		},
		{
			name:         "any policy when the role allows all",
			policies:     []string{"admin"},
			role:         Role{Name: "ci"},
			want:         Entry{Path: "auth/token/create/ci", Role: "ci"},
			wantPolicies: []string{"admin"},
		},
		{
			name:     "disallowed policy",
			policies: []string{"admin"},
			role:     Role{Name: "ci", DisallowedPolicies: []string{"admin"}},
			wantErr:  `policy "admin" is disallowed by the role`,
		},
		{
			name:     "disallowed beats allowed",
			policies: []string{"dev"},
			role:     Role{Name: "ci", AllowedPolicies: []string{"dev"}, DisallowedPolicies: []string{"dev"}},
			wantErr:  `policy "dev" is disallowed by the role`,
		},
		{
			name:    "disallowed among the allowed defaults",
			role:    Role{Name: "ci", AllowedPolicies: []string{"dev", "ops"}, DisallowedPolicies: []string{"ops"}},
			wantErr: `policy "ops" is disallowed by the role`,
		},
		{
			name:  "period replaces, ttl defaults, max ttl and cidrs and type apply",
			entry: Entry{Period: time.Hour},
			role: Role{Name: "ci", Period: time.Minute, TTL: 5 * time.Minute, MaxTTL: time.Hour,
				BoundCIDRs: []string{"10.0.0.0/8"}, Type: "batch"},
			want: Entry{Path: "auth/token/create/ci", Role: "ci", Period: time.Minute, TTL: 5 * time.Minute,
				MaxTTL: time.Hour, BoundCIDRs: []string{"10.0.0.0/8"}, Type: "batch"},
		},
		{
			name:  "request ttl and type beat the role's",
			entry: Entry{TTL: time.Minute, Type: "service"},
			role:  Role{Name: "ci", TTL: time.Hour, Type: "batch"},
			want:  Entry{Path: "auth/token/create/ci", Role: "ci", TTL: time.Minute, Type: "service"},
		},
		{
			name:  "role explicit max caps a longer one",
			entry: Entry{ExplicitMaxTTL: 2 * time.Hour},
			role:  Role{Name: "ci", ExplicitMaxTTL: time.Hour},
			want:  Entry{Path: "auth/token/create/ci", Role: "ci", ExplicitMaxTTL: time.Hour},
		},
		{
			name:  "role explicit max keeps a shorter one",
			entry: Entry{ExplicitMaxTTL: time.Minute},
			role:  Role{Name: "ci", ExplicitMaxTTL: time.Hour},
			want:  Entry{Path: "auth/token/create/ci", Role: "ci", ExplicitMaxTTL: time.Minute},
		},
		{
			name: "role explicit max when none asked",
			role: Role{Name: "ci", ExplicitMaxTTL: time.Hour},
			want: Entry{Path: "auth/token/create/ci", Role: "ci", ExplicitMaxTTL: time.Hour},
		},
		{
			name:  "role uses cap more uses",
			entry: Entry{NumUses: 10},
			role:  Role{Name: "ci", NumUses: 3},
			want:  Entry{Path: "auth/token/create/ci", Role: "ci", NumUses: 3},
		},
		{
			name:  "role uses keep fewer uses",
			entry: Entry{NumUses: 2},
			role:  Role{Name: "ci", NumUses: 3},
			want:  Entry{Path: "auth/token/create/ci", Role: "ci", NumUses: 2},
		},
		{
			name: "role uses limit an unlimited request",
			role: Role{Name: "ci", NumUses: 3},
			want: Entry{Path: "auth/token/create/ci", Role: "ci", NumUses: 3},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := tt.entry
			got, err := applyRole(&e, slices.Clone(tt.policies), &tt.role)
			wantRefusal(t, "applyRole", err, tt.wantErr)
			if err != nil {
				return
			}
			if diff := cmp.Diff(tt.want, e); diff != "" {
				t.Errorf("applyRole entry (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantPolicies, got); diff != "" {
				t.Errorf("applyRole policies (-want +got):\n%s", diff)
			}
		})
	}
}

func TestChildPolicies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		policies []string
		parent   *Entry
		want     []string
		wantErr  string
	}{
		{name: "root passes root on", parent: rootParent, want: []string{"root"}},
		{name: "root grants anything", policies: []string{"admin"}, parent: rootParent, want: []string{"admin"}},
		{name: "parent's policies without default", parent: plainParent, want: []string{"dev", "ops"}},
		{name: "subset", policies: []string{"ops"}, parent: plainParent, want: []string{"ops"}},
		{name: "default is always allowed", policies: []string{"default"}, parent: &Entry{Policies: []string{"dev"}}, want: []string{"default"}},
		{name: "not held", policies: []string{"dev", "admin"}, parent: plainParent, wantErr: `child policies must be subset of parent: "admin" is not held by the calling token`},
		{name: "root not held", policies: []string{"root"}, parent: plainParent, wantErr: `child policies must be subset of parent: "root" is not held by the calling token`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := childPolicies(slices.Clone(tt.policies), tt.parent)
			wantRefusal(t, "childPolicies", err, tt.wantErr)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("childPolicies(%q) (-want +got):\n%s", tt.policies, diff)
			}
		})
	}
	if !slices.Equal(plainParent.Policies, []string{"default", "dev", "ops"}) {
		t.Errorf("childPolicies modified the parent's policies: %q", plainParent.Policies)
	}
}

func TestPolicies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		in        []string
		noDefault bool
		want      []string
	}{
		{name: "default added", in: nil, want: []string{"default"}},
		{name: "no default", in: nil, noDefault: true, want: nil},
		{name: "sorted and deduplicated", in: []string{"ops", "dev", "ops", "default"}, want: []string{"default", "dev", "ops"}},
		{name: "no default keeps an asked default", in: []string{"default", "dev"}, noDefault: true, want: []string{"default", "dev"}},
		{name: "root alone", in: []string{"dev", "root"}, want: []string{"root"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := slices.Clone(tt.in)
			got := Policies(in, tt.noDefault)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Policies(%q, %v) (-want +got):\n%s", tt.in, tt.noDefault, diff)
			}
			if !slices.Equal(in, tt.in) {
				t.Errorf("Policies modified its input: %q, was %q", in, tt.in)
			}
		})
	}
}

func TestApplyTTLs(t *testing.T) {
	t.Parallel()
	const def, maxTTL = time.Hour, 24 * time.Hour
	tests := []struct {
		name    string
		in      Entry
		want    Entry
		wantErr string
	}{
		{name: "empty type is service, default TTL", in: Entry{Renewable: true},
			want: Entry{Type: TypeService, TTL: def, MaxTTL: maxTTL, Renewable: true}},
		{name: "default is service", in: Entry{Type: "default"}, want: Entry{Type: TypeService, TTL: def, MaxTTL: maxTTL}},
		{name: "default-service", in: Entry{Type: "default-service"}, want: Entry{Type: TypeService, TTL: def, MaxTTL: maxTTL}},
		{name: "default-batch", in: Entry{Type: "default-batch", Renewable: true}, want: Entry{Type: TypeBatch, TTL: def, MaxTTL: maxTTL}},
		{name: "batch is never renewable", in: Entry{Type: TypeBatch, Renewable: true}, want: Entry{Type: TypeBatch, TTL: def, MaxTTL: maxTTL}},
		{name: "unknown type", in: Entry{Type: "weird"}, wantErr: `invalid token type "weird": want service or batch`},
		{name: "periodic batch", in: Entry{Type: TypeBatch, Period: time.Minute}, wantErr: "batch tokens cannot be periodic or have limited uses"},
		{name: "limited batch", in: Entry{Type: TypeBatch, NumUses: 1}, wantErr: "batch tokens cannot be periodic or have limited uses"},
		{name: "asked TTL", in: Entry{Type: TypeService, TTL: time.Minute}, want: Entry{Type: TypeService, TTL: time.Minute, MaxTTL: maxTTL}},
		{name: "TTL capped by the mount", in: Entry{Type: TypeService, TTL: 48 * time.Hour}, want: Entry{Type: TypeService, TTL: maxTTL, MaxTTL: maxTTL}},
		{name: "TTL capped by own max", in: Entry{Type: TypeService, TTL: 2 * time.Hour, MaxTTL: time.Minute}, want: Entry{Type: TypeService, TTL: time.Minute, MaxTTL: time.Minute}},
		{name: "own max capped by the mount", in: Entry{Type: TypeService, MaxTTL: 48 * time.Hour}, want: Entry{Type: TypeService, TTL: def, MaxTTL: maxTTL}},
		{name: "periodic lives for its period past the mount max", in: Entry{Type: TypeService, TTL: time.Minute, MaxTTL: time.Hour, Period: 48 * time.Hour},
			want: Entry{Type: TypeService, TTL: 48 * time.Hour, Period: 48 * time.Hour}},
		{name: "explicit max caps", in: Entry{Type: TypeService, TTL: 2 * time.Hour, ExplicitMaxTTL: time.Minute},
			want: Entry{Type: TypeService, TTL: time.Minute, MaxTTL: maxTTL, ExplicitMaxTTL: time.Minute}},
		{name: "explicit max caps a period", in: Entry{Type: TypeService, Period: time.Hour, ExplicitMaxTTL: time.Minute},
			want: Entry{Type: TypeService, TTL: time.Minute, Period: time.Hour, ExplicitMaxTTL: time.Minute}},
		{name: "longer explicit max leaves the TTL", in: Entry{Type: TypeService, ExplicitMaxTTL: 48 * time.Hour},
			want: Entry{Type: TypeService, TTL: def, MaxTTL: maxTTL, ExplicitMaxTTL: 48 * time.Hour}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := tt.in
			err := ApplyTTLs(&got, def, maxTTL)
			wantRefusal(t, "ApplyTTLs", err, tt.wantErr)
			if err != nil {
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ApplyTTLs(%+v) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestCapToParent(t *testing.T) {
	t.Parallel()
	now := t0.Add(time.Hour)
	// The parent was made at t0 with two hours: one hour is left at now.
	parent := &Entry{Policies: []string{"dev"}, CreationTime: t0, TTL: 2 * time.Hour}
	tests := []struct {
		name   string
		child  Entry
		parent *Entry
		want   time.Duration
	}{
		{name: "capped at the parent's expiry", child: Entry{TTL: 3 * time.Hour}, parent: parent, want: time.Hour},
		{name: "shorter child untouched", child: Entry{TTL: time.Minute}, parent: parent, want: time.Minute},
		{name: "renewed parent counts from its renewal", child: Entry{TTL: 3 * time.Hour},
			parent: &Entry{CreationTime: t0, LastRenewal: now, TTL: 2 * time.Hour}, want: 2 * time.Hour},
		{name: "periodic child untouched", child: Entry{TTL: 3 * time.Hour, Period: 3 * time.Hour}, parent: parent, want: 3 * time.Hour},
		{name: "root parent", child: Entry{TTL: 3 * time.Hour}, parent: &Entry{Policies: []string{"root"}, CreationTime: t0, TTL: time.Minute}, want: 3 * time.Hour},
		{name: "parent without expiry", child: Entry{TTL: 3 * time.Hour}, parent: &Entry{CreationTime: t0}, want: 3 * time.Hour},
		{name: "parent already past expiry", child: Entry{TTL: 3 * time.Hour}, parent: &Entry{CreationTime: t0, TTL: time.Minute}, want: 3 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := tt.child
			capToParent(&e, tt.parent, now)
			if e.TTL != tt.want {
				t.Errorf("capToParent TTL = %v, want %v", e.TTL, tt.want)
			}
		})
	}
}

func TestDisplayName(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", "token"},
		{"  ", "token"},
		{"CI", "token-ci"},
		{" deploy ", "token-deploy"},
		{"token", "token"},
		{"Token-CI", "token-ci"},
		{"tokenizer", "token-tokenizer"},
	}
	for _, tt := range tests {
		if got := DisplayName(tt.in); got != tt.want {
			t.Errorf("DisplayName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPlan(t *testing.T) {
	t.Parallel()
	now := t0.Add(time.Hour)
	lim := Limits{
		DefaultTTL: time.Hour,
		MaxTTL:     24 * time.Hour,
		Now:        now,
		PolicyExists: func(p string) bool {
			return slices.Contains([]string{"default", "dev", "ops", "admin", "root"}, p)
		},
	}
	parent := Parent{Entry: &Entry{Policies: []string{"default", "dev", "ops"}, Type: TypeService, CreationTime: t0, TTL: 3 * time.Hour}, Hash: "parenthash"}
	root := Parent{Entry: &Entry{Policies: []string{"root"}, Type: TypeService, CreationTime: t0}, Hash: "roothash"}
	tests := []struct {
		name    string
		req     CreateRequest
		parent  Parent
		role    *Role
		want    *Entry
		wantErr string
	}{
		{
			name:   "child of a plain token",
			req:    CreateRequest{Policies: []string{"DEV"}, DisplayName: "ci", Meta: map[string]string{"k": "v"}},
			parent: parent,
			want: &Entry{Policies: []string{"default", "dev"}, Parent: "parenthash", DisplayName: "token-ci", Path: "auth/token/create",
				Meta: map[string]string{"k": "v"}, TTL: time.Hour, MaxTTL: 24 * time.Hour, Renewable: true, Type: TypeService},
		},
		{
			name:   "child capped at the parent's expiry",
			req:    CreateRequest{TTL: 10 * time.Hour},
			parent: parent,
			want: &Entry{Policies: []string{"default", "dev", "ops"}, Parent: "parenthash", DisplayName: "token", Path: "auth/token/create",
				TTL: 2 * time.Hour, MaxTTL: 24 * time.Hour, Renewable: true, Type: TypeService},
		},
		{
			name:   "orphan from create-orphan",
			req:    CreateRequest{Orphan: true, NoDefaultPolicy: true},
			parent: parent,
			want: &Entry{Policies: []string{"dev", "ops"}, DisplayName: "token", Path: "auth/token/create",
				TTL: time.Hour, MaxTTL: 24 * time.Hour, Renewable: true, Type: TypeService},
		},
		{
			name:   "root makes a root child",
			req:    CreateRequest{ID: "custom", Period: 48 * time.Hour},
			parent: root,
			want: &Entry{Policies: []string{"root"}, Parent: "roothash", DisplayName: "token", Path: "auth/token/create",
				TTL: 48 * time.Hour, Period: 48 * time.Hour, Renewable: true, Type: TypeService},
		},
		{
			name:    "root policy needs a root parent",
			req:     CreateRequest{Policies: []string{"root"}},
			parent:  parent,
			role:    &Role{Name: "any", Renewable: true},
			wantErr: "root tokens may not be created without parent token being root",
		},
		{
			name:   "role makes an orphan with its policies",
			req:    CreateRequest{NumUses: 5},
			parent: parent,
			role: &Role{Name: "ci", AllowedPolicies: []string{"admin"}, Orphan: true, Renewable: true, PathSuffix: "x",
				NumUses: 2, TTL: 10 * time.Minute, BoundCIDRs: []string{"127.0.0.1"}, NoDefaultPolicy: true},
			want: &Entry{Policies: []string{"admin"}, DisplayName: "token", Path: "auth/token/create/ci/x", Role: "ci",
				TTL: 10 * time.Minute, MaxTTL: 24 * time.Hour, NumUses: 2, Renewable: true, Type: TypeService, BoundCIDRs: []string{"127.0.0.1"}},
		},
		{
			name:   "batch token from a role",
			req:    CreateRequest{},
			parent: parent,
			role:   &Role{Name: "b", Renewable: true, Type: "batch"},
			want: &Entry{Policies: []string{"default"}, Parent: "parenthash", DisplayName: "token", Path: "auth/token/create/b", Role: "b",
				TTL: time.Hour, MaxTTL: 24 * time.Hour, Type: TypeBatch},
		},
		{
			name:    "policy existence is checked before the role",
			req:     CreateRequest{Policies: []string{"missing"}},
			parent:  parent,
			role:    &Role{Name: "r", AllowedPolicies: []string{"dev"}},
			wantErr: `policy "missing" does not exist`,
		},
		{
			name:    "caller checks come before policies",
			req:     CreateRequest{ID: "x", Policies: []string{"missing"}},
			parent:  parent,
			wantErr: "root or sudo privileges required to specify token id",
		},
		{
			name:    "subset rule",
			req:     CreateRequest{Policies: []string{"admin"}},
			parent:  parent,
			wantErr: `child policies must be subset of parent: "admin" is not held by the calling token`,
		},
		{
			name:    "entity alias",
			req:     CreateRequest{EntityAlias: "bob"},
			parent:  parent,
			wantErr: "entity_alias is not supported yet",
		},
		{
			name:    "type checked by the TTL rules",
			req:     CreateRequest{Type: "batch", Period: time.Minute},
			parent:  parent,
			wantErr: "batch tokens cannot be periodic or have limited uses",
		},
		{
			name:    "negative uses",
			req:     CreateRequest{NumUses: -2},
			parent:  parent,
			wantErr: "num_uses must not be negative",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := tt.req
			req.Policies = slices.Clone(tt.req.Policies)
			got, err := Plan(req, tt.parent, tt.role, lim)
			wantRefusal(t, "Plan", err, tt.wantErr)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Plan(%+v) (-want +got):\n%s", tt.req, diff)
			}
			if !slices.Equal(req.Policies, tt.req.Policies) {
				t.Errorf("Plan modified the request's policies: %q, was %q", req.Policies, tt.req.Policies)
			}
		})
	}
}

package incident

import (
	"net"
	"slices"
	"testing"
	"time"
)

func TestNormalize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      Criteria
		want    Criteria
		wantErr bool
	}{
		{name: "nothing", in: Criteria{}, wantErr: true},
		{name: "since alone", in: Criteria{Since: time.Unix(1, 0)}, wantErr: true},
		{name: "serial forms", in: Criteria{CertSerials: []string{"0x1f", "31", "00:1f"}}, want: Criteria{CertSerials: []string{"31"}}},
		{name: "cidr forms", in: Criteria{SourceCIDRs: []string{"10.1.2.3/24", "10.9.9.9", "::ffff:10.9.9.9"}}, want: Criteria{SourceCIDRs: []string{"10.1.2.0/24", "10.9.9.9/32"}}},
		{name: "role", in: Criteria{Roles: []string{"/auth/approle/role/pay/"}}, want: Criteria{Roles: []string{"auth/approle/role/pay"}}},
		{name: "bad role", in: Criteria{Roles: []string{"approle/pay"}}, wantErr: true},
		{name: "bad serial", in: Criteria{CertSerials: []string{"xyz"}}, wantErr: true},
		{name: "bad cidr", in: Criteria{SourceCIDRs: []string{"10.0.0.0/99"}}, wantErr: true},
		{name: "duplicates and blanks", in: Criteria{Accessors: []string{"b", "a", "b", " "}}, want: Criteria{Accessors: []string{"a", "b"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := tt.in
			err := c.Normalize()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Normalize(%+v) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			for _, p := range [][2][]string{{c.Accessors, tt.want.Accessors}, {c.Roles, tt.want.Roles}, {c.CertSerials, tt.want.CertSerials}, {c.SourceCIDRs, tt.want.SourceCIDRs}} {
				if !slices.Equal(p[0], p[1]) && len(p[0])+len(p[1]) > 0 {
					t.Errorf("Normalize(%+v) = %+v, want %+v", tt.in, c, tt.want)
				}
			}
		})
	}
}

func TestMatches(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	approle := Token{Accessor: "acc1", EntityID: "ent1", Path: "auth/approle/login", Meta: map[string]string{"role_name": "pay"}, InternalData: map[string]string{"secret_id_accessor": "sid1", "role_name": "pay"}, CreationTime: t0}
	k8s := Token{Accessor: "acc2", Path: "auth/kubernetes/login", Meta: map[string]string{"role": "web"}, CreationTime: t0}
	cert := Token{Accessor: "acc3", Path: "auth/cert/login", Meta: map[string]string{"serial_number": "31"}, CreationTime: t0}
	tests := []struct {
		name string
		c    Criteria
		tok  Token
		want bool
	}{
		{"accessor", Criteria{Accessors: []string{"acc1"}}, approle, true},
		{"other accessor", Criteria{Accessors: []string{"acc9"}}, approle, false},
		{"entity", Criteria{EntityIDs: []string{"ent1"}}, approle, true},
		{"empty entity never matches", Criteria{EntityIDs: []string{""}}, k8s, false},
		{"approle role", Criteria{Roles: []string{"auth/approle/role/pay"}}, approle, true},
		{"role on another mount", Criteria{Roles: []string{"auth/approle2/role/pay"}}, approle, false},
		{"kubernetes role", Criteria{Roles: []string{"auth/kubernetes/role/web"}}, k8s, true},
		{"secret ID", Criteria{SecretIDAccessors: []string{"sid1"}}, approle, true},
		{"cert serial", Criteria{CertSerials: []string{"31"}}, cert, true},
		{"since excludes older", Criteria{Accessors: []string{"acc1"}, Since: t0.Add(time.Hour)}, approle, false},
		{"since includes newer", Criteria{Accessors: []string{"acc1"}, Since: t0.Add(-time.Hour)}, approle, true},
		{"cidr matches no token", Criteria{SourceCIDRs: []string{"0.0.0.0/0"}}, approle, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.c.Matches(&tt.tok); got != tt.want {
				t.Errorf("Matches(%+v, %+v) = %v, want %v", tt.c, tt.tok, got, tt.want)
			}
		})
	}
}

func TestGuard(t *testing.T) {
	t.Parallel()
	g := NewGuard([]Blocks{{Roles: []string{"auth/approle/role/pay"}, CertSerials: []string{"31"}, CIDRs: []string{"10.0.0.0/8"}}},
		[]Lockdown{{Prefix: "secret/data/pay", Mode: ModeReadOnly}, {Prefix: "kv/", Mode: ModeDeny}})
	tests := []struct {
		name string
		got  bool
		want bool
	}{
		{"banned address", g.BannedAddr(net.ParseIP("10.1.2.3")), true},
		{"banned v4-in-v6", g.BannedAddr(net.ParseIP("::ffff:10.1.2.3")), true},
		{"free address", g.BannedAddr(net.ParseIP("192.168.0.1")), false},
		{"nil address", g.BannedAddr(nil), false},
		{"blocked role", g.LoginBlocked("auth/approle/", map[string]string{"role_name": "pay"}, nil), true},
		{"role on another mount", g.LoginBlocked("auth/other/", map[string]string{"role_name": "pay"}, nil), false},
		{"blocked serial", g.LoginBlocked("auth/cert/", map[string]string{"serial_number": "31"}, nil), true},
		{"free login", g.LoginBlocked("auth/approle/", map[string]string{"role_name": "ship"}, nil), false},
		{"blocked role in internal data", g.LoginBlocked("auth/approle/", nil, map[string]string{"role_name": "pay"}), true},
		{"caller metadata cannot stand in for the internal role", g.LoginBlocked("auth/approle/", map[string]string{"role_name": "pay"}, map[string]string{"role_name": "ship"}), false},
		{"nor hide it", g.LoginBlocked("auth/approle/", map[string]string{"role_name": "ship"}, map[string]string{"role_name": "pay"}), true},
		{"read-only read", g.LockedDown("secret/data/pay/db", true), false},
		{"read-only write", g.LockedDown("secret/data/pay/db", false), true},
		{"read-only the prefix itself", g.LockedDown("secret/data/pay", false), true},
		{"segment boundary", g.LockedDown("secret/data/payroll", false), false},
		{"deny read", g.LockedDown("kv/x", true), true},
		{"outside", g.LockedDown("secret/data/ship", false), false},
		{"nil guard", (*Guard)(nil).LockedDown("kv/x", false) || (*Guard)(nil).BannedAddr(net.ParseIP("10.0.0.1")), false},
		{"empty guard", NewGuard(nil, nil).Empty(), true},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"31", "0x1f", "00:1f", "10.0.0.0/8", "::1", "auth/approle/role/pay", "auth//role/", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d, err := NormalizeSerial(s); err == nil {
			if again, err := NormalizeSerial(d); err != nil || again != d {
				t.Errorf("NormalizeSerial(%q) = %q, which normalizes to %q, %v", s, d, again, err)
			}
		}
		if p, err := ParseCIDR(s); err == nil {
			if q, err := ParseCIDR(p.String()); err != nil || q != p {
				t.Errorf("ParseCIDR(%q) = %v, which parses to %v, %v", s, p, q, err)
			}
		}
		if m, r, err := ParseRole(s); err == nil {
			if m2, r2, err := ParseRole(m + "role/" + r); err != nil || m2 != m || r2 != r {
				t.Errorf("ParseRole(%q) = %q %q; round trip %q %q %v", s, m, r, m2, r2, err)
			}
		}
	})
}

package gcpapi

import (
	"testing"
	"time"
)

func TestParseVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in       string
		latestOK bool
		want     string // "" for an error
	}{
		{"projects/p/secrets/s/versions/1", false, "projects/p/secrets/s/versions/1"},
		{"projects/my-proj-1/secrets/A_b-c/versions/42", true, "projects/my-proj-1/secrets/A_b-c/versions/42"},
		{"projects/p/secrets/s/versions/latest", true, "projects/p/secrets/s/versions/0"},
		{"projects/p/secrets/s/versions/latest", false, ""},
		{"projects/p/secrets/s/versions/0", true, ""},
		{"projects/p/secrets/s/versions/01", true, ""},
		{"projects/p/secrets/s/versions/-1", true, ""},
		{"projects/p/secrets/s/versions/", true, ""},
		{"projects/P/secrets/s/versions/1", true, ""},
		{"projects/p/secrets/a.b/versions/1", true, ""},
		{"projects/p/secrets/s/x/versions/1", true, ""},
		{"projects//secrets/s/versions/1", true, ""},
		{"projects/-p/secrets/s/versions/1", true, ""},
		{"projects/p/secrets/s/versions/99999999999", true, ""},
	}
	for _, tt := range tests {
		got, err := parseVersion(tt.in, tt.latestOK)
		if (err == nil) != (tt.want != "") || err == nil && got.String() != tt.want {
			t.Errorf("parseVersion(%q, %v) = %v, %v; want %q", tt.in, tt.latestOK, got, err, tt.want)
		}
	}
}

func FuzzParseNames(f *testing.F) {
	for _, s := range []string{
		"projects/p/secrets/s", "projects/p/secrets/s/versions/1", "projects/p/secrets/s/versions/latest",
		"projects/p", "projects/p/locations/eu", "projects/p/secrets/s/versions/01", "projects//secrets//versions/",
		"projects/p/secrets/s/versions/versions/1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if v, err := parseVersion(s, true); err == nil {
			if !validProject(v.project) || !validSecretID(v.secret) || v.version < 0 {
				t.Fatalf("parseVersion(%q) = %+v: invalid parts", s, v)
			}
			if v.version > 0 {
				if v.String() != s {
					t.Fatalf("parseVersion(%q).String() = %q", s, v.String())
				}
				if w, err := parseVersion(v.String(), false); err != nil || w != v {
					t.Fatalf("round trip of %q: %+v, %v", s, w, err)
				}
			}
		}
		if n, err := parseSecret(s); err == nil && n.String() != s {
			t.Fatalf("parseSecret(%q).String() = %q", s, n.String())
		}
		if p, err := parseParent(s); err == nil && !validProject(p) {
			t.Fatalf("parseParent(%q) = %q", s, p)
		}
	})
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{
		"", "name:prod", "labels.env=prod AND name:x", `create_time<"2026-01-02T15:04:05Z"`, "labels.a:*",
		"state:ENABLED", "create_time>=2026-01-02T15:04:05Z", `name:"a b\"c"`, "(x)", "-name:a", "NOT a", `"unterminated`,
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, versions bool) {
		flt, err := parseFilter(s, versions)
		if err != nil {
			return
		}
		if len(s) > maxFilterLen {
			t.Fatalf("parseFilter accepted %d characters", len(s))
		}
		flt.match(item{name: "s", labels: map[string]string{"env": "prod"}, state: "ENABLED", created: time.Unix(0, 0)})
	})
}

package cli

import (
	"os/exec"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseSecretRefs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      []string
		want    []secretRef
		wantErr bool
	}{
		{[]string{"DB=secret/app#password"}, []secretRef{{name: "DB", path: "secret/app", key: "password"}}, false},
		{[]string{"db_2=/kv/x#a#b"}, []secretRef{{name: "db_2", path: "kv/x", key: "a#b"}}, false},
		{[]string{"DB=secret/app"}, nil, true},
		{[]string{"=secret/app#k"}, nil, true},
		{[]string{"1DB=secret/app#k"}, nil, true},
		{[]string{"D-B=secret/app#k"}, nil, true},
		{[]string{"DB=#k"}, nil, true},
	}
	for _, tt := range tests {
		got, err := parseSecretRefs(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseSecretRefs(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(secretRef{})); diff != "" {
			t.Errorf("parseSecretRefs(%q) mismatch (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestEnvName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"password": "PASSWORD", "api-key": "API_KEY", "1x": "_1X", "a.b c": "A_B_C", "": "_"} {
		if got := envName(in); got != want {
			t.Errorf("envName(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzShellQuote checks that a POSIX shell reads back exactly the value.
func FuzzShellQuote(f *testing.F) {
	for _, s := range []string{"", "plain", "it's", `"$HOME" $(id) ` + "`id`", "a\nb", `\'\\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for i := 0; i < len(s); i++ {
			if s[i] == 0 {
				return // environment values cannot hold NUL
			}
		}
		out, err := exec.Command("/bin/sh", "-c", "printf %s "+shellQuote(s)).Output()
		if err != nil {
			t.Fatalf("sh: %v", err)
		}
		if string(out) != s {
			t.Fatalf("shell read back %q, want %q", out, s)
		}
	})
}

func TestDotenvQuote(t *testing.T) {
	t.Parallel()
	tests := map[string]string{"a": `"a"`, `x"y`: `"x\"y"`, "$V": `"\$V"`, "l1\nl2": `"l1\nl2"`, `b\s`: `"b\\s"`}
	for in, want := range tests {
		if got := dotenvQuote(in); got != want {
			t.Errorf("dotenvQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

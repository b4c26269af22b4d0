package cli

import (
	"encoding/json"
	"flag"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/vault/api"
)

func TestParseLoginArgs(t *testing.T) {
	t.Parallel()
	files := map[string]string{"pw": "secret\n", "sid": "abc-123\n"}
	readFile := func(name string) ([]byte, error) {
		if s, ok := files[name]; ok {
			return []byte(s), nil
		}
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	tests := []struct {
		name    string
		method  string
		allowed []string
		args    []string
		stdin   string
		want    map[string]string
		wantErr string
	}{
		{name: "token positional", method: "token", allowed: []string{"token"}, args: []string{"s.abc"}, want: map[string]string{"token": "s.abc"}},
		{name: "token dash", method: "token", allowed: []string{"token"}, args: []string{"-"}, want: map[string]string{"token": "-"}},
		{name: "token dash then more", method: "token", allowed: []string{"token"}, args: []string{"-", "token=x"}, wantErr: "alone"},
		{name: "token key", method: "token", allowed: []string{"token"}, args: []string{"token=s.abc"}, want: map[string]string{"token": "s.abc"}},
		{name: "token twice", method: "token", allowed: []string{"token"}, args: []string{"s.abc", "token=s.def"}, wantErr: "more than once"},
		{name: "no args", method: "token", allowed: []string{"token"}, want: map[string]string{}},
		{name: "userpass file", method: "userpass", allowed: []string{"username", "password"}, args: []string{"username=alice", "password=@pw"}, want: map[string]string{"username": "alice", "password": "secret\n"}},
		{name: "userpass stdin", method: "userpass", allowed: []string{"username", "password"}, args: []string{"username=alice", "password=-"}, stdin: "from-stdin", want: map[string]string{"username": "alice", "password": "from-stdin"}},
		{name: "userpass positional", method: "userpass", allowed: []string{"username", "password"}, args: []string{"alice"}, wantErr: "key=value"},
		{name: "unknown key", method: "userpass", allowed: []string{"username", "password"}, args: []string{"usrname=alice"}, wantErr: `unknown key "usrname"`},
		{name: "repeated key", method: "approle", allowed: []string{"role_id", "secret_id"}, args: []string{"role_id=a", "role_id=b"}, wantErr: "more than once"},
		{name: "missing file", method: "approle", allowed: []string{"role_id", "secret_id"}, args: []string{"secret_id=@nope"}, wantErr: "nope"},
		{name: "approle", method: "approle", allowed: []string{"role_id", "secret_id"}, args: []string{"role_id=r", "secret_id=@sid"}, want: map[string]string{"role_id": "r", "secret_id": "abc-123\n"}},
		{name: "json object", method: "approle", allowed: []string{"role_id", "secret_id"}, args: []string{"-"}, stdin: `{"role_id":"r","secret_id":7}`, want: map[string]string{"role_id": "r", "secret_id": "7"}},
		{name: "json nested", method: "approle", allowed: []string{"role_id", "secret_id"}, args: []string{"-"}, stdin: `{"role_id":{"a":1}}`, wantErr: "must be a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := &dataParser{stdin: strings.NewReader(tt.stdin), readFile: readFile}
			got, err := parseLoginArgs(tt.method, tt.allowed, tt.args, p)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseLoginArgs(%q) error = %v, want one containing %q", tt.args, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseLoginArgs(%q) error = %v", tt.args, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseLoginArgs(%q) mismatch (-want +got):\n%s", tt.args, diff)
			}
		})
	}
}

func TestParseLoginArgsNeverEchoesValues(t *testing.T) {
	t.Parallel()
	p := &dataParser{stdin: strings.NewReader(""), readFile: os.ReadFile}
	_, err := parseLoginArgs("userpass", []string{"username", "password"}, []string{"username=a", "hunter2-no-equals"}, p)
	if err == nil {
		t.Fatal("parseLoginArgs accepted an argument without =")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %q echoes the argument", err)
	}
}

func TestStringListFlag(t *testing.T) {
	t.Parallel()
	tests := []struct {
		sets []string
		want stringListFlag
	}{
		{[]string{"a"}, stringListFlag{"a"}},
		{[]string{"a,b", "c"}, stringListFlag{"a", "b", "c"}},
		{[]string{" a , ,b "}, stringListFlag{"a", "b"}},
		{[]string{""}, nil},
	}
	for _, tt := range tests {
		var l stringListFlag
		for _, s := range tt.sets {
			if err := l.Set(s); err != nil {
				t.Fatalf("Set(%q) = %v", s, err)
			}
		}
		if !cmp.Equal(l, tt.want) {
			t.Errorf("after Set(%q): %q, want %q", tt.sets, l, tt.want)
		}
		if got, want := l.String(), strings.Join(tt.want, ","); got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	}
}

func TestTokenRevokeCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		o    tokenRevokeOptions
		n    int
		want string // substring of the problem; "" for none
	}{
		{name: "token", n: 1},
		{name: "self", o: tokenRevokeOptions{self: true}},
		{name: "accessor", o: tokenRevokeOptions{accessor: true}, n: 1},
		{name: "orphan", o: tokenRevokeOptions{mode: "orphan"}, n: 1},
		{name: "path", o: tokenRevokeOptions{mode: "path"}, n: 1},
		{name: "nothing", n: 0, want: "Not enough arguments"},
		{name: "two", n: 2, want: "Too many arguments"},
		{name: "self with arg", o: tokenRevokeOptions{self: true}, n: 1, want: "with -self"},
		{name: "self accessor", o: tokenRevokeOptions{self: true, accessor: true}, want: "-self and -accessor"},
		{name: "self mode", o: tokenRevokeOptions{self: true, mode: "orphan"}, want: "-self and -mode"},
		{name: "accessor mode", o: tokenRevokeOptions{accessor: true, mode: "path"}, n: 1, want: "-accessor and -mode"},
		{name: "bad mode", o: tokenRevokeOptions{mode: "tree"}, n: 1, want: "Invalid -mode"},
	}
	for _, tt := range tests {
		got := tt.o.check(tt.n)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("%s: check(%d) = %q, want %q", tt.name, tt.n, got, tt.want)
		}
	}
}

func TestTokenCreateRequest(t *testing.T) {
	t.Parallel()
	yes, no := true, false
	tests := []struct {
		name string
		args []string
		want *api.TokenCreateRequest
	}{
		{name: "defaults", want: &api.TokenCreateRequest{}},
		{
			name: "everything",
			args: []string{"-policy=a,b", "-policy=c", "-ttl=1h", "-explicit-max-ttl=2h", "-period=30m",
				"-display-name=ci", "-metadata=k=v", "-metadata=x=y=z", "-orphan", "-no-default-policy",
				"-use-limit=3", "-type=batch", "-renewable", "-id=custom", "-entity-alias=e"},
			want: &api.TokenCreateRequest{
				ID: "custom", Policies: []string{"a", "b", "c"}, TTL: "3600s", ExplicitMaxTTL: "7200s",
				Period: "1800s", DisplayName: "ci", Metadata: map[string]string{"k": "v", "x": "y=z"},
				NoParent: true, NoDefaultPolicy: true, NumUses: 3, Type: "batch", Renewable: &yes, EntityAlias: "e",
			},
		},
		{name: "not renewable", args: []string{"-renewable=false"}, want: &api.TokenCreateRequest{Renewable: &no}},
		{name: "num-uses alias", args: []string{"-num-uses=5"}, want: &api.TokenCreateRequest{NumUses: 5}},
		{name: "days", args: []string{"-ttl=2d"}, want: &api.TokenCreateRequest{TTL: "172800s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var o tokenCreateOptions
			o.metadata = mapFlag{}
			set, err := parseFlags("token create", func(fs *flag.FlagSet) { registerTokenCreateFlags(fs, &o) }, tt.args)
			if err != nil {
				t.Fatalf("parse %q: %v", tt.args, err)
			}
			o.set = set
			if diff := cmp.Diff(tt.want, o.request()); diff != "" {
				t.Errorf("request() for %q mismatch (-want +got):\n%s", tt.args, diff)
			}
		})
	}
}

func TestAuthTuneBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string // JSON of the body
	}{
		{name: "nothing", want: `{}`},
		{name: "ttls", args: []string{"-default-lease-ttl=1h", "-max-lease-ttl=0"}, want: `{"default_lease_ttl":"3600s","max_lease_ttl":"0s"}`},
		{name: "description cleared", args: []string{"-description="}, want: `{"description":""}`},
		{
			name: "lockout",
			args: []string{"-user-lockout-threshold=5", "-user-lockout-duration=10m", "-user-lockout-counter-reset-duration=90"},
			want: `{"user_lockout_config":{"lockout_counter_reset_duration":"90s","lockout_duration":"600s","lockout_threshold":"5"}}`,
		},
		{name: "lockout disable", args: []string{"-user-lockout-disable"}, want: `{"user_lockout_config":{"lockout_disable":true}}`},
		{name: "lockout enable", args: []string{"-user-lockout-disable=false"}, want: `{"user_lockout_config":{"lockout_disable":false}}`},
		{name: "options and type", args: []string{"-options=a=b", "-token-type=batch", "-listing-visibility=unauth"}, want: `{"listing_visibility":"unauth","options":{"a":"b"},"token_type":"batch"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var o authTuneOptions
			o.options = mapFlag{}
			set, err := parseFlags("auth tune", func(fs *flag.FlagSet) { registerAuthTuneFlags(fs, &o) }, tt.args)
			if err != nil {
				t.Fatalf("parse %q: %v", tt.args, err)
			}
			o.set = set
			b, err := json.Marshal(o.body())
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("body() for %q = %s, want %s", tt.args, b, tt.want)
			}
		})
	}
}

// parseFlags parses args on a new flag set named name with the flags
// register adds, and returns the names of the flags they set.
func parseFlags(name string, register func(*flag.FlagSet), args []string) (map[string]bool, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	register(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return setFlags(fs), nil
}

func TestAuthTuneFlagErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"-user-lockout-threshold=-1"},
		{"-user-lockout-threshold=x"},
		{"-user-lockout-duration=soon"},
		{"-user-lockout-disable=maybe"},
	} {
		var o authTuneOptions
		o.options = mapFlag{}
		if _, err := parseFlags("auth tune", func(fs *flag.FlagSet) { registerAuthTuneFlags(fs, &o) }, args); err == nil {
			t.Errorf("parse %q succeeded, want an error", args)
		}
	}
}

func TestFormatPolicy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr string
	}{
		{name: "spacing", in: "path \"a\" {\ncapabilities=[\"read\",\"list\"]\n}\n", want: "path \"a\" {\n  capabilities = [\"read\", \"list\"]\n}\n"},
		{name: "aligned", in: "path \"a\" {\n  x = 1\n  longer = 2\n}\n", want: "path \"a\" {\n  x      = 1\n  longer = 2\n}\n"},
		{name: "already formatted", in: "path \"a\" {\n  capabilities = [\"read\"]\n}\n", want: "path \"a\" {\n  capabilities = [\"read\"]\n}\n"},
		{name: "empty", in: "", want: ""},
		{name: "comments kept", in: "# top\npath \"a\" { # why\n}\n", want: "# top\npath \"a\" { # why\n}\n"},
		{name: "unclosed block", in: "path \"a\" {\n  capabilities = [\"read\"]\n", wantErr: "p.hcl:"},
		{name: "bad attribute", in: "path \"a\" {\n  = 1\n}\n", wantErr: "p.hcl:2,"},
		{name: "json", in: `{"path": {"a": {"capabilities": ["read"]}}}`, wantErr: "p.hcl:1,"},
	}
	for _, tt := range tests {
		got, err := formatPolicy("p.hcl", []byte(tt.in))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: formatPolicy(%q) error = %v, want one containing %q", tt.name, tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: formatPolicy(%q) error = %v", tt.name, tt.in, err)
			continue
		}
		if string(got) != tt.want {
			t.Errorf("%s: formatPolicy(%q) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
}

// FuzzFormatPolicy checks that policy fmt never panics on a file, that what
// it writes still parses, and that formatting is idempotent.
func FuzzFormatPolicy(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "policies", "*.hcl"))
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("path \"secret/*\" {\ncapabilities=[\"read\"]\n}\n"))
	f.Add([]byte("path \"a\" {\n  = 1\n}\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		out, err := formatPolicy("fuzz.hcl", src)
		if err != nil {
			return
		}
		again, err := formatPolicy("fuzz.hcl", out)
		if err != nil {
			t.Fatalf("formatted output does not parse: %v\ninput: %q\noutput: %q", err, src, out)
		}
		if string(again) != string(out) {
			t.Fatalf("formatting is not idempotent:\ninput:  %q\nonce:   %q\ntwice:  %q", src, out, again)
		}
	})
}

func TestPolicyFmtFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "p.hcl")
	if err := os.WriteFile(path, []byte("path \"a\" {\ncapabilities=[\"read\"]\n}\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, nil, "", "policy", "fmt", path)
	if code != 0 {
		t.Fatalf("policy fmt = %d; stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "Success! Formatted policy: "+path) {
		t.Errorf("stdout = %q", stdout)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := "path \"a\" {\n  capabilities = [\"read\"]\n}\n"; string(b) != want {
		t.Errorf("file after fmt = %q, want %q", b, want)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o640 {
		t.Errorf("mode after fmt = %v, want 0640", st.Mode().Perm())
	}
}

func TestTTLCellValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   any
		want string
	}{
		{json.Number("0"), "0s"},
		{json.Number("2764800"), "768h"},
		{json.Number("5400"), "1h30m"},
		{json.Number("1.5"), "1.5"},
		{json.Number("-3"), "-3"},
		{"1h", "1h"},
		{"90", "1m30s"},
		{"not a ttl", "not a ttl"},
		{float64(60), "1m"},
		{nil, "<nil>"},
		{true, "true"},
	}
	for _, tt := range tests {
		if got := ttlCellValue(tt.in); got != tt.want {
			t.Errorf("ttlCellValue(%#v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDataPairsTTLKeys(t *testing.T) {
	t.Parallel()
	got := dataPairs(map[string]any{
		"ttl": json.Number("3600"), "creation_ttl": json.Number("60"), "period": json.Number("0"),
		"token_period": json.Number("120"), "num_uses": json.Number("3600"), "ttlx": json.Number("5"),
	})
	want := [][2]string{
		{"creation_ttl", "1m"}, {"num_uses", "3600"}, {"period", "0s"},
		{"token_period", "2m"}, {"ttl", "1h"}, {"ttlx", "5"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("dataPairs mismatch (-want +got):\n%s", diff)
	}
}

func TestAuthPairs(t *testing.T) {
	t.Parallel()
	got := authPairs(&api.SecretAuth{
		ClientToken: "t", Accessor: "a", LeaseDuration: 3600, Renewable: true,
		TokenPolicies: []string{"default", "app"}, Policies: []string{"app", "default", "ops"},
		IdentityPolicies: []string{"ops"}, Metadata: map[string]string{"username": "alice", "role": "x"},
	})
	want := [][2]string{
		{"token", "t"}, {"token_accessor", "a"}, {"token_duration", "1h"}, {"token_renewable", "true"},
		{"token_policies", `["default" "app"]`}, {"identity_policies", `["ops"]`},
		{"policies", `["app" "default" "ops"]`}, {"token_meta_role", "x"}, {"token_meta_username", "alice"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("authPairs mismatch (-want +got):\n%s", diff)
	}
}

func TestLookupAuth(t *testing.T) {
	t.Parallel()
	var lookup api.Secret
	body := `{"data":{"accessor":"acc","ttl":600,"renewable":true,"policies":["default","app"],
		"identity_policies":["ops","app"],"meta":{"username":"alice"},"entity_id":"e1","orphan":true}}`
	if err := json.Unmarshal([]byte(body), &lookup); err != nil {
		t.Fatal(err)
	}
	got := lookupAuth("tok", &lookup)
	want := &api.SecretAuth{
		ClientToken: "tok", Accessor: "acc", LeaseDuration: 600, Renewable: true,
		TokenPolicies: []string{"default", "app"}, IdentityPolicies: []string{"ops", "app"},
		Policies: []string{"app", "default", "ops"}, Metadata: map[string]string{"username": "alice"},
		EntityID: "e1", Orphan: true,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lookupAuth mismatch (-want +got):\n%s", diff)
	}
}

func TestStoreToken(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	path := filepath.Join(home, tokenFile)
	// An existing, too-open file is narrowed to the user.
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := &call{env: Env{Stderr: io.Discard, Getenv: func(k string) string { return map[string]string{"HOME": home}[k] }}}
	if code := c.storeToken("new-token"); code != exitOK {
		t.Fatalf("storeToken = %d", code)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "new-token" {
		t.Errorf("token file = %q, want new-token", b)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("token file mode = %v, want 0600", st.Mode().Perm())
	}

	c.env.Getenv = func(string) string { return "" }
	if code := c.storeToken("x"); code != exitUsage {
		t.Errorf("storeToken without HOME = %d, want %d", code, exitUsage)
	}
}

func TestMergePolicies(t *testing.T) {
	t.Parallel()
	got := mergePolicies([]string{"b", "a"}, nil, []string{"a", "c"})
	if want := []string{"a", "b", "c"}; !cmp.Equal(got, want) {
		t.Errorf("mergePolicies = %q, want %q", got, want)
	}
	if got := mergePolicies(); len(got) != 0 {
		t.Errorf("mergePolicies() = %q, want empty", got)
	}
}

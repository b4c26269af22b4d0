package database

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/coffer-secrets/coffer/internal/logical"
)

func TestSplitStatements(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
	}{
		{in: "", want: nil},
		{in: " ; ;", want: nil},
		{in: "A; B;", want: []string{"A", "B"}},
		{in: "SELECT 'a;b'; SELECT \"x;y\"", want: []string{"SELECT 'a;b'", `SELECT "x;y"`}},
		{in: "SELECT 'it''s; ok'; X", want: []string{"SELECT 'it''s; ok'", "X"}},
		{in: "SELECT `a;b`; Y", want: []string{"SELECT `a;b`", "Y"}},
		{in: "DO $$BEGIN PERFORM 1; PERFORM 2; END$$; Z", want: []string{"DO $$BEGIN PERFORM 1; PERFORM 2; END$$", "Z"}},
		{in: "DO $body$ x; $$ y; $body$; W", want: []string{"DO $body$ x; $$ y; $body$", "W"}},
		{in: "SELECT $1; V", want: []string{"SELECT $1", "V"}},
		{in: "A -- comment; still comment\n; B", want: []string{"A -- comment; still comment", "B"}},
		{in: "SELECT 'unterminated; X", want: []string{"SELECT 'unterminated; X"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, splitStatements(tt.in)); diff != "" {
			t.Errorf("splitStatements(%q) mismatch (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestRender(t *testing.T) {
	t.Parallel()
	vars := map[string]string{phName: "v-u", phPassword: "pw", phExpiration: "2030-01-01 00:00:00+0000"}
	tests := []struct {
		in, want, wantErr string
	}{
		{in: `CREATE ROLE "{{name}}" PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'`, want: `CREATE ROLE "v-u" PASSWORD 'pw' VALID UNTIL '2030-01-01 00:00:00+0000'`},
		{in: `{{ name }}{{name}}`, want: `v-uv-u`},
		{in: `no placeholders {`, want: `no placeholders {`},
		{in: `x {{username}}`, wantErr: "unknown placeholder {{username}}"},
		{in: `x {{name`, wantErr: "unterminated"},
		{in: `{{}}`, wantErr: "unknown placeholder {{}}"},
	}
	for _, tt := range tests {
		got, err := render(tt.in, vars)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("render(%q) = %q, %v, want error %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("render(%q) = %q, %v, want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestCheckStatements(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      []string
		wantErr string
	}{
		{in: nil},
		{in: []string{"{{name}} {{password}} {{expiration}}", "{{ name }}"}},
		{in: []string{"{{name}}", "{{user}} {{pass}} {{user}}"}, wantErr: "unknown placeholder {{user}}, {{pass}};"},
		{in: []string{"{{name"}, wantErr: "unterminated"},
	}
	for _, tt := range tests {
		err := checkStatements(tt.in)
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("checkStatements(%q) = %v, want %q", tt.in, err, tt.wantErr)
		}
	}
}

func TestStatementsJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Statements
		bad  bool
	}{
		{in: `"A, B; C"`, want: Statements{"A, B; C"}},
		{in: `["A", " ", "B"]`, want: Statements{"A", "B"}},
		{in: `""`, want: Statements{}},
		{in: `5`, bad: true},
		{in: `[1]`, bad: true},
	}
	for _, tt := range tests {
		var s Statements
		err := json.Unmarshal([]byte(tt.in), &s)
		if tt.bad {
			var te *json.UnmarshalTypeError
			if !errors.As(err, &te) {
				t.Errorf("Unmarshal(%s) error = %v, want a type error", tt.in, err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, s); diff != "" {
			t.Errorf("Unmarshal(%s) mismatch (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestUsernameTemplates(t *testing.T) {
	t.Parallel()
	now := func() time.Time { return time.Unix(1700000000, 0) }
	tests := []struct {
		name, tmpl, role string
		max              int
		want             string // a regular expression
		wantErr          bool
	}{
		{name: "postgres default", tmpl: defaultPostgresUsernameTemplate, role: "application", max: 63, want: `^v-token-applicat-[A-Za-z0-9]{20}-1700000000$`},
		{name: "mysql default", tmpl: defaultMySQLUsernameTemplate, role: "application", max: 32, want: `^v-token-applicatio-[A-Za-z0-9]{13}$`},
		{name: "legacy default", tmpl: defaultMySQLLegacyTemplate, role: "application", max: 16, want: `^v-appl-[A-Za-z0-9]{9}$`},
		{name: "functions", tmpl: `{{ .RoleName | uppercase | replace "-" "_" }}_{{ unix_time_millis }}`, role: "a-b", max: 63, want: `^A_B_1700000000000$`},
		{name: "lowercase and uuid", tmpl: `{{ "ABC" | lowercase }}-{{ uuid }}`, role: "x", max: 63, want: `^abc-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`},
		{name: "truncate_sha256", tmpl: `{{ .RoleName | truncate_sha256 12 }}`, role: "averyveryverylongrolename", max: 63, want: `^aver[0-9a-f]{8}$`},
		{name: "too long", tmpl: `{{ random 40 }}`, role: "x", max: 32, wantErr: true},
		{name: "bad char", tmpl: `a b`, role: "x", max: 32, wantErr: true},
		{name: "empty", tmpl: ``, role: "x", max: 32, wantErr: true},
		{name: "random too big", tmpl: `{{ random 100000 }}`, role: "x", max: 32, wantErr: true},
		{name: "missing key", tmpl: `{{ .Nope }}`, role: "x", max: 32, wantErr: true},
		{name: "define", tmpl: `{{ define "x" }}a{{ end }}b`, role: "x", max: 32, wantErr: true},
	}
	for _, tt := range tests {
		tm, err := parseUsernameTemplate(tt.tmpl, now)
		var got string
		if err == nil {
			got, err = tm.generate("", tt.role, tt.max)
		}
		if tt.wantErr {
			if err == nil {
				t.Errorf("%s: template %q = %q, want error", tt.name, tt.tmpl, got)
			}
			continue
		}
		if err != nil || !regexp.MustCompile(tt.want).MatchString(got) {
			t.Errorf("%s: template %q = %q, %v, want match %s", tt.name, tt.tmpl, got, err, tt.want)
		}
	}
}

func TestGlobAndAllowedRoles(t *testing.T) {
	t.Parallel()
	c := &connConfig{AllowedRoles: []string{"app-*", "exact", "*-ro", "a*b*c"}}
	for role, want := range map[string]bool{
		"app-1": true, "app-": true, "exact": true, "exactly": false, "db-ro": true, "abc": true,
		"axxbyyc": true, "acb": false, "other": false, "": false,
	} {
		if got := c.allows(role); got != want {
			t.Errorf("allows(%q) = %v, want %v", role, got, want)
		}
	}
	if !(&connConfig{AllowedRoles: []string{"*"}}).allows("anything") {
		t.Error(`"*" does not allow every role`)
	}
	if (&connConfig{}).allows("x") {
		t.Error("empty allowed_roles allows a role")
	}
}

func TestMaskURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		d    dialect
		in   string
		want string
	}{
		{postgres{}, "postgres://{{username}}:{{password}}@h:5432/db", "postgres://{{username}}:{{password}}@h:5432/db"},
		{postgres{}, "postgres://u:secret@h:5432/db?sslmode=disable", "postgres://u:*****@h:5432/db?sslmode=disable"},
		{postgres{}, "postgres://u@h/db", "postgres://u@h/db"},
		{postgres{}, "host=h user=u password=secret dbname=d", "host=h user=u password=***** dbname=d"},
		{mysqlDialect{}, "{{username}}:{{password}}@tcp(h:3306)/", "{{username}}:{{password}}@tcp(h:3306)/"},
		{mysqlDialect{}, "root:sec@ret@tcp(h:3306)/db", "root:*****@tcp(h:3306)/db"},
		{mysqlDialect{}, "root@tcp(h:3306)/db", "root@tcp(h:3306)/db"},
	}
	for _, tt := range tests {
		if got := tt.d.maskURL(tt.in); got != tt.want {
			t.Errorf("maskURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	err := upstream("create user", errors.New(`syntax error at or near "'s3cret'"`), "s3cret", "")
	var le *logical.Error
	if !errors.As(err, &le) || !errors.Is(err, logical.ErrUpstream) {
		t.Fatalf("upstream() = %v, want an ErrUpstream *logical.Error", err)
	}
	if strings.Contains(le.Msg, "s3cret") || strings.Contains(le.Err.Error(), "s3cret") {
		t.Errorf("upstream error leaks the secret: msg %q, cause %q", le.Msg, le.Err)
	}
	if !strings.Contains(le.Msg, "[redacted]") {
		t.Errorf("upstream message %q: want the secret replaced", le.Msg)
	}
}

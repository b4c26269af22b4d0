package cli

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/coffer-secrets/coffer/internal/testserver"
)

func TestParseDotenv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    map[string]any
		wantErr string
	}{
		{"forms", "# comment\nexport A=plain value # note\nB='single # kept'\nC=\"dq\\n\\\"x\\\"\"\n\nD=\n", map[string]any{"A": "plain value", "B": "single # kept", "C": "dq\n\"x\"", "D": ""}, ""},
		{"crlf", "A=1\r\nB=2\r\n", map[string]any{"A": "1", "B": "2"}, ""},
		{"no equals", "A=1\njust-a-line-with-a-secret\n", nil, "line 2: want KEY=value"},
		{"bad key", "1A=x\n", nil, "line 1"},
		{"unterminated", "A=\"abc\n", nil, "line 1: unterminated double quote"},
		{"duplicate", "A=1\nA=2\n", nil, "line 2: key A given twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseDotenv([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseDotenv: err = %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "secret") && tt.name == "no equals" {
					t.Errorf("error holds the line's text: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseDotenv (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseDotenv(f *testing.F) {
	for _, s := range []string{"A=1\n", "export B='x'\n", "C=\"a\\\"b\"", "# c\n\nD=e # f", "=", "A=\"", "A='"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseDotenv(data)
		if err == nil {
			for k := range m {
				if !validDotenvKey(k) {
					t.Fatalf("invalid key %q accepted", k)
				}
			}
		}
	})
}

// TestImportParseK8sSecret: aliases and merge keys are resolved, and a key
// whose value cannot be decoded fails the import with an error naming the
// key (never the value) instead of being dropped.
func TestImportParseK8sSecret(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    map[string]any
		wantErr []string
	}{
		{"aliases and merge", "x: &pw c2VjcmV0LXZhbHVl\nx-base: &base {user: YWRtaW4=}\nkind: Secret\nmetadata: {name: a}\ndata:\n  <<: *base\n  password: *pw\n",
			map[string]any{"user": "admin", "password": "secret-value"}, nil},
		{"not base64", "kind: Secret\nmetadata: {name: a}\ndata:\n  good: YWRtaW4=\n  broken: not*base64!\n",
			nil, []string{"key broken of Secret a", "line 5", "not valid base64"}},
		{"not a string", "kind: Secret\nmetadata: {name: a}\nstringData:\n  nested: {x: y}\n",
			nil, []string{"key nested of Secret a", "not a string"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseK8sSecret([]byte(tt.in), "")
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("no error; got %v", got)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				if strings.Contains(err.Error(), "not*base64") {
					t.Errorf("error %q holds the value", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseK8sSecret (-want +got):\n%s", diff)
			}
		})
	}
}

// TestImport writes dotenv, JSON and Kubernetes Secret files into KV v2,
// refuses to overwrite without -force, records custom metadata, prints key
// names and never values, and the imported values are then live secrets
// that coffer scan finds in the file.
func TestImport(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	vars := map[string]string{"COFFER_ADDR": s.Addr, "COFFER_TOKEN": s.RootToken}
	dir := t.TempDir()
	pw, key := randomValue(t), randomValue(t)
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	envFile := write("app.env", "DB_PASSWORD="+pw+"\nexport api-key='"+key+"'\n")
	jsonFile := write("app.json", `{"token": "`+key+`", "port": 5432}`)
	k8sFile := write("secret.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: web}\ndata:\n  password: "+base64.StdEncoding.EncodeToString([]byte(pw))+"\n---\nkind: Secret\nmetadata: {name: other}\nstringData: {x: yyyyyyyy}\n")

	// Dry run: key names only, nothing written.
	code, out, errOut := runCLI(t, vars, "", "import", "dotenv", envFile, "-to", "secret/imp/env", "-dry-run")
	if code != exitOK || !strings.Contains(out, "DB_PASSWORD") || !strings.Contains(out, "Nothing was written") {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errOut)
	}
	if got, _ := s.Client.KVv2("secret").Get(t.Context(), "imp/env"); got != nil {
		t.Fatal("dry run wrote the secret")
	}

	code, out, errOut = runCLI(t, vars, "", "import", "dotenv", envFile, "-to", "secret/imp/env", "-yes")
	if code != exitOK {
		t.Fatalf("import dotenv: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"Wrote version 1 of secret/imp/env", "-secret DB_PASSWORD=secret/imp/env#DB_PASSWORD", "-secret API_KEY=secret/imp/env#api-key",
		`{{ with secret "secret/data/imp/env" -}}`, `API_KEY={{ index .Data.data "api-key" }}`, "name: coffer-agent"} {
		if !strings.Contains(out, want) {
			t.Errorf("import output lacks %q:\n%s", want, out)
		}
	}
	for _, v := range []string{pw, key} {
		if strings.Contains(out+errOut, v) {
			t.Fatalf("import printed a value:\n%s", out)
		}
	}
	sec, err := s.Client.KVv2("secret").Get(t.Context(), "imp/env")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]any{"DB_PASSWORD": pw, "api-key": key}, sec.Data); diff != "" {
		t.Errorf("imported data (-want +got):\n%s", diff)
	}
	cm := sec.CustomMetadata
	if cm["imported_from"] != "app.env" || cm["import_kind"] != "dotenv" || cm["imported_at"] == nil {
		t.Errorf("custom_metadata = %v", cm)
	}

	// An existing secret is not overwritten without -force.
	code, _, errOut = runCLI(t, vars, "", "import", "json", jsonFile, "-to", "secret/imp/env", "-yes")
	if code != exitServer || !strings.Contains(errOut, "already exists") {
		t.Errorf("import over an existing secret: exit %d, %s", code, errOut)
	}
	code, out, errOut = runCLI(t, vars, "", "import", "json", "-force", "-yes", jsonFile, "-to", "secret/imp/env")
	if code != exitOK || !strings.Contains(out, "Wrote version 2") {
		t.Fatalf("import -force: exit %d\n%s%s", code, out, errOut)
	}
	sec, err = s.Client.KVv2("secret").Get(t.Context(), "imp/env")
	if err != nil {
		t.Fatal(err)
	}
	if sec.Data["token"] != key || sec.CustomMetadata["import_kind"] != "json" {
		t.Errorf("after -force: data keys %v, custom_metadata %v", len(sec.Data), sec.CustomMetadata)
	}

	// Kubernetes Secret: several in the file need -name.
	if code, _, errOut := runCLI(t, vars, "", "import", "k8s-secret", k8sFile, "-to", "secret/imp/k8s", "-yes"); code != exitUsage || !strings.Contains(errOut, "-name") {
		t.Errorf("k8s-secret with two Secrets: exit %d, %s", code, errOut)
	}
	code, out, errOut = runCLI(t, vars, "", "import", "k8s-secret", "-name", "web", k8sFile, "-to", "secret/imp/k8s", "-yes")
	if code != exitOK {
		t.Fatalf("import k8s-secret: exit %d\n%s%s", code, out, errOut)
	}
	sec, err = s.Client.KVv2("secret").Get(t.Context(), "imp/k8s")
	if err != nil {
		t.Fatal(err)
	}
	if sec.Data["password"] != pw || len(sec.Data) != 1 {
		t.Errorf("k8s import: %d keys", len(sec.Data))
	}

	// Bad input changes nothing.
	bad := write("bad.env", "DB_PASSWORD\n")
	if code, _, _ := runCLI(t, vars, "", "import", "dotenv", bad, "-to", "secret/imp/bad", "-yes"); code != exitUsage {
		t.Errorf("bad dotenv: exit %d", code)
	}
	badK8s := write("bad.yaml", "kind: Secret\nmetadata: {name: web}\ndata:\n  password: "+base64.StdEncoding.EncodeToString([]byte(pw))+"\n  cert: '%%% not base64'\n")
	if code, _, errOut := runCLI(t, vars, "", "import", "k8s-secret", badK8s, "-to", "secret/imp/bad", "-yes"); code != exitUsage || !strings.Contains(errOut, "key cert of Secret web") {
		t.Errorf("k8s-secret with an undecodable key: exit %d, %s", code, errOut)
	}
	if got, _ := s.Client.KVv2("secret").Get(t.Context(), "imp/bad"); got != nil {
		t.Error("bad input wrote a secret")
	}

	// The imported values are now live: scanning the file finds them.
	code, fs, scanOut := scanJSON(t, vars, "", "-offline=false", envFile)
	if code != scanFindings || len(findLive(fs, filepath.ToSlash(envFile))) < 2 {
		t.Errorf("scan after import: exit %d, findings %+v\n%s", code, fs, scanOut)
	}
}

package httpapi_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/coffer-secrets/coffer/internal/testserver"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// volatile matches values that change from run to run: UUIDs, timestamps,
// accessors and key shares.
var volatile = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`), "UUID"},
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`), "TIME"},
	{regexp.MustCompile(`"(kv|system)_[0-9a-f]{8}"`), `"${1}_ACCESSOR"`},
	{regexp.MustCompile(`"created_by_accessor": ?"[A-Z0-9]+"`), `"created_by_accessor": "ACCESSOR"`},
	{regexp.MustCompile(`"server_time_utc": ?\d+`), `"server_time_utc": 0`},
	// The barrier reports encryptions as reserved in batches, an upper bound
	// that depends on what ran before.
	{regexp.MustCompile(`"encryptions": ?\d+`), `"encryptions": 0`},
}

// TestGoldenResponses pins the JSON shapes of the main API answers, so
// that a change in what clients receive shows up in review.
func TestGoldenResponses(t *testing.T) {
	t.Parallel()
	s := testserver.StartWith(t, testserver.Options{RootToken: "golden-root"})
	steps := []struct {
		name, method, path, body string
	}{
		{"seal_status", "GET", "/v1/sys/seal-status", ""},
		{"health", "GET", "/v1/sys/health", ""},
		{"kv2_write", "POST", "/v1/secret/data/app", `{"data":{"user":"svc","port":5432}}`},
		{"kv2_read", "GET", "/v1/secret/data/app", ""},
		{"kv2_metadata", "GET", "/v1/secret/metadata/app", ""},
		{"kv2_list", "LIST", "/v1/secret/metadata/", ""},
		{"kv2_rotation_write", "POST", "/v1/secret/rotation/app", `{"schedule":"0 3 * * 1","window":"1h","grace_period":"24h","keys":{"user":{"generator":"keep"},"port":{"generator":"random","encoding":"hex","length":8}}}`},
		{"kv2_rotate", "POST", "/v1/secret/rotate/app", ""},
		{"kv2_rotation_read", "GET", "/v1/secret/rotation/app", ""},
		{"kv2_read_missing", "GET", "/v1/secret/data/none", ""},
		{"mount_read", "GET", "/v1/sys/mounts/secret", ""},
		{"key_status", "GET", "/v1/sys/key-status", ""},
		{"kv2_write_unknown_field", "POST", "/v1/secret/data/other", `{"data":{"a":"b"},"max_versionz":3}`},
		{"error_bad_value", "POST", "/v1/secret/config", `{"max_versions":"many"}`},
		{"error_permission", "GET", "/v1/secret/data/app?token=none", ""},
	}
	for _, st := range steps {
		tok := s.RootToken
		if st.name == "error_permission" {
			tok = "wrong"
		}
		code, body := rawRequest(t, st.method, s.Addr+st.path, tok, st.body, nil)
		var pretty bytes.Buffer
		if body != "" {
			if err := json.Indent(&pretty, []byte(body), "", "  "); err != nil {
				t.Fatalf("%s: body is not JSON: %q", st.name, body)
			}
		}
		got := []byte(st.method + " " + st.path + "\n" + statusLine(code) + "\n" + pretty.String())
		for _, v := range volatile {
			got = v.re.ReplaceAll(got, []byte(v.with))
		}
		file := filepath.Join("testdata", st.name+".golden")
		if *update {
			if err := os.WriteFile(file, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("%v (run go test -update to create it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s:\n--- got\n%s\n--- want\n%s", st.name, file, got, want)
		}
	}
}

func statusLine(code int) string {
	b, _ := json.Marshal(code)
	return "status " + string(b)
}

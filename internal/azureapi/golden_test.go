package azureapi_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// volatile matches what changes from run to run in an answer.
var volatile = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`https://127\.0\.0\.1:\d+`), "https://VAULT"},
	{regexp.MustCompile(`"(created|updated|deletedDate|scheduledPurgeDate)": \d+`), `"$1": 0`},
	{regexp.MustCompile(`\$skiptoken=[A-Za-z0-9_-]+`), `$$skiptoken=TOKEN`},
}

// TestGoldenResponses pins the wire shapes of the API's answers and
// errors, so that a change shows up in review.
func TestGoldenResponses(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if _, err := e.ts.Client.Logical().WriteWithContext(t.Context(), "secret/config", map[string]any{"recovery_window_days": 7}); err != nil {
		t.Fatal(err)
	}
	steps := []struct{ name, method, path, body string }{
		{"set", "PUT", "/secrets/app-db", `{"value":"s3cret","contentType":"text/plain","tags":{"team":"pay"},"attributes":{"enabled":true,"nbf":1700000000,"exp":1900000000}}`},
		{"set_plain", "PUT", "/secrets/app-db", `{"value":"second"}`},
		{"get", "GET", "/secrets/app-db/00000000000000000000000000000001", ""},
		{"update", "PATCH", "/secrets/app-db/00000000000000000000000000000001", `{"attributes":{"enabled":false}}`},
		{"versions", "GET", "/secrets/app-db/versions?maxresults=1", ""},
		{"list", "GET", "/secrets", ""},
		{"delete", "DELETE", "/secrets/app-db", ""},
		{"deleted_list", "GET", "/deletedsecrets", ""},
		{"error_conflict", "PUT", "/secrets/app-db", `{"value":"v"}`},
		{"recover", "POST", "/deletedsecrets/app-db/recover", ""},
		{"error_disabled", "GET", "/secrets/app-db/00000000000000000000000000000001", ""},
		{"error_not_found", "GET", "/secrets/none", ""},
		{"error_bad_json", "PUT", "/secrets/app-db", `{"value":`},
	}
	for _, st := range steps {
		path := st.path
		if strings.Contains(path, "?") {
			path += "&api-version=7.6"
		} else {
			path += "?api-version=7.6"
		}
		resp := e.do(t, st.method, path, e.ts.RootToken, st.body)
		raw, _ := io.ReadAll(resp.Body)
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, raw, "", "  "); err != nil {
			t.Fatalf("%s: answer is not JSON: %q", st.name, raw)
		}
		got := fmt.Sprintf("%d %s %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("X-Ms-Keyvault-Error-Code"), pretty.String())
		for _, v := range volatile {
			got = v.re.ReplaceAllString(got, v.with)
		}
		file := filepath.Join("testdata", st.name+".golden")
		if *update {
			if err := os.MkdirAll("testdata", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("%s: %v (run with -update to create it)", st.name, err)
		}
		if got != string(want) {
			t.Errorf("%s: answer changed:\n got: %s\nwant: %s", st.name, got, want)
		}
	}
}

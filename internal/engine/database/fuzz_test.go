package database

import (
	"slices"
	"strings"
	"testing"
)

// FuzzRender checks the statement template renderer: it never panics;
// a statement that checkStatements accepts renders without error and
// leaves no "{{" of a placeholder behind; one it refuses does not render
// either, and the error names the unknown placeholder without quoting a
// value.
func FuzzRender(f *testing.F) {
	for _, s := range []string{
		`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`,
		`{{ name }}{{password}}`, `{{username}}`, `{{`, `}}{{`, `{{{{name}}}}`, `DO $$ {{name}}; $$;`, "",
	} {
		f.Add(s)
	}
	const secret = "S3CRET-VALUE"
	vars := map[string]string{phName: "v-x", phPassword: secret, phExpiration: "2030"}
	f.Fuzz(func(t *testing.T, stmt string) {
		checkErr := checkStatements([]string{stmt})
		out, err := renderAll([]string{stmt}, vars)
		if checkErr != nil {
			if err == nil {
				t.Fatalf("checkStatements(%q) = %v but renderAll succeeded", stmt, checkErr)
			}
			if strings.Contains(checkErr.Error(), secret) {
				t.Fatalf("error quotes a value: %v", checkErr)
			}
			return
		}
		if err != nil {
			t.Fatalf("checkStatements(%q) accepted it but renderAll = %v", stmt, err)
		}
		names, _ := placeholders(stmt)
		for _, n := range names {
			if !slices.Contains(knownPlaceholders, n) {
				t.Fatalf("checkStatements(%q) accepted unknown placeholder %q", stmt, n)
			}
		}
		for _, s := range out {
			if strings.TrimSpace(s) == "" {
				t.Fatalf("renderAll(%q) produced an empty statement", stmt)
			}
		}
	})
}

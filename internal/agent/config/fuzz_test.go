package config

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// FuzzParseAgentConfig checks that Parse never panics, that it returns
// either a config or errors that are all *Error with a position, and that
// a parsed config is consistent with the validation rules.
func FuzzParseAgentConfig(f *testing.F) {
	if b, err := os.ReadFile("testdata/full.hcl"); err == nil {
		f.Add(b)
	}
	for _, s := range []string{
		"",
		"vault { address = \"x\" }",
		"auto_auth {\n method \"approle\" {\n config = { role_id_file_path = \"/r\" }\n }\n}\n",
		"template {\n contents = \"{{ x }}\"\n destination = \"/d\"\n perms = 0600\n}\n",
		"exec {\n command = [\"a\"]\n}\nenv_template \"X\" {\n contents = \"y\"\n}\n",
		"listener \"unix\" {\n address = \"/s\"\n}\n",
		"auto_auth { method { type = 1 } }",
		"auto_auth {\n method \"jwt\" {\n config = { role = \"r\", path = \"/j\", remove_jwt_after_reading = true }\n }\n}\n",
		"auto_auth {\n method \"kubernetes\" {\n config = { role = \"r\", token_path = \"/t\" }\n }\n}\n",
		"auto_auth {\n method \"kubernetes\" {\n config { role = \"r\" }\n }\n}\n",
		"template_config { static_secret_render_interval = 1e30 }",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		c, err := Parse(src, "fuzz.hcl")
		if err != nil {
			if c != nil {
				t.Fatalf("Parse returned a config and an error")
			}
			var joined interface{ Unwrap() []error }
			if !errors.As(err, &joined) {
				t.Fatalf("error %T is not a joined error", err)
			}
			for _, e := range joined.Unwrap() {
				pe, ok := e.(*Error)
				if !ok || !strings.HasPrefix(pe.Pos, "fuzz.hcl") || pe.Msg == "" {
					t.Fatalf("problem %#v is not an *Error with a position", e)
				}
			}
			return
		}
		if c.TemplateConfig.StaticSecretRenderInterval <= 0 {
			t.Fatalf("render interval %v", c.TemplateConfig.StaticSecretRenderInterval)
		}
		for _, tp := range c.Templates {
			if tp.Destination == "" || (tp.Source == "") == (tp.Contents == "") || tp.Perms > 0o777 {
				t.Fatalf("invalid template accepted: %+v", tp)
			}
		}
		if c.AutoAuth != nil {
			m := c.AutoAuth.Method
			n := 0
			for _, set := range []bool{m.AppRole != nil, m.TokenFile != nil, m.JWT != nil, m.Kubernetes != nil} {
				if set {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("method without exactly one config: %+v", m)
			}
			if j := m.JWT; j != nil && (j.Role == "" || j.Path == "") {
				t.Fatalf("jwt method accepted without a role or path: %+v", j)
			}
			if k := m.Kubernetes; k != nil && (k.Role == "" || k.TokenPath == "") {
				t.Fatalf("kubernetes method accepted without a role or token path: %+v", k)
			}
		}
		if len(c.EnvTemplates) > 0 && c.Exec == nil {
			t.Fatal("env_template accepted without exec")
		}
	})
}

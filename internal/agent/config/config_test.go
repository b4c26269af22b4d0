package config

import (
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseFull(t *testing.T) {
	t.Parallel()
	c, err := Load("testdata/full.hcl")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := &Config{
		PidFile: "/run/agent.pid",
		Vault:   Vault{Address: "http://127.0.0.1:8200", NumRetries: 5},
		AutoAuth: &AutoAuth{
			Method: Method{Type: "approle", MountPath: "auth/approle", AppRole: &AppRole{
				RoleIDFile: "/etc/agent/role_id", SecretIDFile: "/etc/agent/secret_id",
			}},
			Sinks: []Sink{
				{Path: "/tmp/token", Mode: 0o600},
				{Path: "/tmp/wrapped", Mode: 0o640, WrapTTL: 5 * time.Minute},
			},
		},
		TemplateConfig: TemplateConfig{StaticSecretRenderInterval: 10 * time.Second, ExitOnRetryFailure: true, UseEvents: true},
		Templates: []Template{
			{Source: "/etc/agent/db.tmpl", Destination: "/etc/app/db.env", CreateDestDirs: true, Perms: 0o640, Command: []string{"systemctl reload app"}, ErrorOnMissingKey: true, Line: 40},
			{Contents: `[[ with secret "secret/data/app" ]][[ .Data.data.x ]][[ end ]]`, Destination: "/etc/app/x", CreateDestDirs: true, Perms: 0o644,
				LeftDelim: "[[", RightDelim: "]]", Command: []string{"/usr/bin/touch", "/tmp/marker"}, Line: 48},
		},
		Listeners:    []Listener{{Type: "tcp", Address: "127.0.0.1:8100", TLSDisable: true}},
		APIProxy:     APIProxy{UseAutoAuthToken: true},
		Exec:         &Exec{Command: []string{"/usr/bin/app", "--serve"}, RestartOnSecretChanges: "always", RestartStopSignal: syscall.SIGINT},
		EnvTemplates: []EnvTemplate{{Name: "DB_PASSWORD", Contents: `{{ with secret "secret/data/db" }}{{ .Data.data.password }}{{ end }}`, ErrorOnMissingKey: true}},
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("Load(full.hcl) mismatch (-want +got):\n%s", diff)
	}
}

func TestParseValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		src   string
		check func(t *testing.T, c *Config)
	}{
		{
			name: "empty file gets defaults",
			src:  ``,
			check: func(t *testing.T, c *Config) {
				if c.TemplateConfig.StaticSecretRenderInterval != 5*time.Minute || c.Vault.NumRetries != 12 || c.AutoAuth != nil || !c.TemplateConfig.UseEvents {
					t.Errorf("defaults = %+v", c)
				}
			},
		},
		{
			name: "token_file method with config block form and default mount",
			src:  "auto_auth {\n method \"token_file\" {\n  config {\n   token_file_path = \"/t\"\n  }\n }\n}\n",
			check: func(t *testing.T, c *Config) {
				m := c.AutoAuth.Method
				if m.TokenFile == nil || m.TokenFile.Path != "/t" || m.MountPath != "auth/token_file" {
					t.Errorf("method = %+v", m)
				}
			},
		},
		{
			name: "method with type attribute",
			src:  "auto_auth {\n method {\n  type = \"approle\"\n  config = { role_id_file_path = \"/r\" }\n }\n}\n",
			check: func(t *testing.T, c *Config) {
				if c.AutoAuth.Method.AppRole == nil || c.AutoAuth.Method.AppRole.RoleIDFile != "/r" || c.AutoAuth.Method.MountPath != "auth/approle" {
					t.Errorf("method = %+v", c.AutoAuth.Method)
				}
			},
		},
		{
			name: "kubernetes default token path",
			src:  "auto_auth {\n method \"kubernetes\" {\n  config = { role = \"web\" }\n }\n}\n",
			check: func(t *testing.T, c *Config) {
				want := Method{Type: "kubernetes", MountPath: "auth/kubernetes", Kubernetes: &Kubernetes{Role: "web", TokenPath: "/var/run/secrets/kubernetes.io/serviceaccount/token"}}
				if diff := cmp.Diff(want, c.AutoAuth.Method); diff != "" {
					t.Errorf("method mismatch (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "kubernetes with token_path and mount_path",
			src:  "auto_auth {\n method \"kubernetes\" {\n  mount_path = \"auth/k8s-prod\"\n  config = {\n   role = \"web\"\n   token_path = \"/var/run/secrets/coffer/token\"\n  }\n }\n}\n",
			check: func(t *testing.T, c *Config) {
				want := Method{Type: "kubernetes", MountPath: "auth/k8s-prod", Kubernetes: &Kubernetes{Role: "web", TokenPath: "/var/run/secrets/coffer/token"}}
				if diff := cmp.Diff(want, c.AutoAuth.Method); diff != "" {
					t.Errorf("method mismatch (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "jwt with path, defaults remove the file but not a link's target",
			src:  "auto_auth {\n method \"jwt\" {\n  config = {\n   role = \"ci\"\n   path = \"/etc/coffer/jwt\"\n  }\n }\n}\n",
			check: func(t *testing.T, c *Config) {
				want := Method{Type: "jwt", MountPath: "auth/jwt", JWT: &JWT{Role: "ci", Path: "/etc/coffer/jwt", RemoveJWTAfterReading: true}}
				if diff := cmp.Diff(want, c.AutoAuth.Method); diff != "" {
					t.Errorf("method mismatch (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "jwt keeping its file",
			src:  "auto_auth {\n method \"jwt\" {\n  config = {\n   role = \"ci\"\n   path = \"/etc/coffer/jwt\"\n   remove_jwt_after_reading = false\n  }\n }\n}\n",
			check: func(t *testing.T, c *Config) {
				want := Method{Type: "jwt", MountPath: "auth/jwt", JWT: &JWT{Role: "ci", Path: "/etc/coffer/jwt"}}
				if diff := cmp.Diff(want, c.AutoAuth.Method); diff != "" {
					t.Errorf("method mismatch (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "jwt with Vault Agent's removal and read period keys",
			src:  "auto_auth {\n method {\n  type = \"jwt\"\n  config = {\n   role = \"ci\"\n   path = \"/etc/coffer/jwt\"\n   remove_jwt_after_reading = true\n   remove_jwt_follows_symlinks = \"true\"\n   jwt_read_period = \"2s\"\n  }\n }\n}\n",
			check: func(t *testing.T, c *Config) {
				want := Method{Type: "jwt", MountPath: "auth/jwt", JWT: &JWT{Role: "ci", Path: "/etc/coffer/jwt", RemoveJWTAfterReading: true, RemoveJWTFollowsSymlinks: true}}
				if diff := cmp.Diff(want, c.AutoAuth.Method); diff != "" {
					t.Errorf("method mismatch (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "create_dest_dirs defaults to true",
			src:  "template {\n contents = \"x\"\n destination = \"/d/e\"\n}\ntemplate {\n contents = \"y\"\n destination = \"/f/g\"\n create_dest_dirs = false\n}\n",
			check: func(t *testing.T, c *Config) {
				if !c.Templates[0].CreateDestDirs || c.Templates[1].CreateDestDirs {
					t.Errorf("create_dest_dirs = %v, %v; want true (default), false", c.Templates[0].CreateDestDirs, c.Templates[1].CreateDestDirs)
				}
			},
		},
		{
			name: "durations as seconds and perms as number",
			src:  "template_config {\n static_secret_render_interval = 30\n}\ntemplate {\n contents = \"x\"\n destination = \"/d\"\n perms = 600\n}\n",
			check: func(t *testing.T, c *Config) {
				if c.TemplateConfig.StaticSecretRenderInterval != 30*time.Second || c.Templates[0].Perms != 0o600 {
					t.Errorf("got %v %v", c.TemplateConfig.StaticSecretRenderInterval, c.Templates[0].Perms)
				}
			},
		},
		{
			name: "use_events turned off",
			src:  "template_config {\n use_events = false\n}\n",
			check: func(t *testing.T, c *Config) {
				if c.TemplateConfig.UseEvents {
					t.Error("use_events = false left UseEvents on")
				}
			},
		},
		{
			name: "duration in days",
			src:  "template_config {\n static_secret_render_interval = \"7d\"\n}\n",
			check: func(t *testing.T, c *Config) {
				if got := c.TemplateConfig.StaticSecretRenderInterval; got != 7*24*time.Hour {
					t.Errorf("static_secret_render_interval = %v, want 168h0m0s", got)
				}
			},
		},
		{
			name: "exec defaults",
			src:  "exec {\n command = [\"/bin/true\"]\n}\n",
			check: func(t *testing.T, c *Config) {
				if c.Exec.RestartOnSecretChanges != RestartAlways || c.Exec.RestartStopSignal != syscall.SIGTERM {
					t.Errorf("exec = %+v", c.Exec)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Parse([]byte(tt.src), "agent.hcl")
			if err != nil {
				t.Fatalf("Parse(%q) error = %v", tt.src, err)
			}
			tt.check(t, c)
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		want []string // each must appear in the error, in order
	}{
		{"syntax", "vault {\n address = \n}\n", []string{"agent.hcl:2,"}},
		{"unknown top key", "pid_file = \"x\"\nbogus = 1\n", []string{`agent.hcl:2,1-6: unknown key "bogus"`}},
		{"unknown block", "\n\nnope {}\n", []string{`agent.hcl:3,1-5: unknown block "nope"`}},
		{"unknown vault key", "vault {\n adress = \"x\"\n}\n", []string{`agent.hcl:2,2-8: unknown key "adress" in vault`}},
		{"unknown key in approle config", "auto_auth {\n method \"approle\" {\n  config = {\n   role_id_file_path = \"/r\"\n   role_id = \"literal\"\n  }\n }\n}\n",
			[]string{`agent.hcl:5,4-11: unknown key "role_id" in config in method "approle"`}},
		{"unknown method", "auto_auth {\n method \"ldap\" {}\n}\n", []string{`agent.hcl:2,9-15: unknown auto_auth method "ldap"`}},
		{"approle without role id file", "auto_auth {\n method \"approle\" {\n  config = {}\n }\n}\n", []string{`agent.hcl:2,`, "role_id_file_path"}},
		{"jwt without role", "auto_auth {\n method \"jwt\" {\n  config = { path = \"/j\" }\n }\n}\n",
			[]string{`agent.hcl:2,2-14: method "jwt" needs config = { role = ... }`}},
		{"jwt without path", "auto_auth {\n method \"jwt\" {\n  config = { role = \"ci\" }\n }\n}\n",
			[]string{`agent.hcl:2,2-14: method "jwt" needs config = { path = ... }`}},
		{"jwt without config", "\nauto_auth {\n method \"jwt\" {}\n}\n",
			[]string{`agent.hcl:3,2-14: method "jwt" needs config = { role = ... }`, `agent.hcl:3,2-14: method "jwt" needs config = { path = ... }`}},
		{"jwt with kubernetes key", "auto_auth {\n method \"jwt\" {\n  config = {\n   role = \"ci\"\n   token_path = \"/j\"\n  }\n }\n}\n",
			[]string{`agent.hcl:2,2-14: method "jwt" needs config = { path = ... }`, `agent.hcl:5,17-21: token_path in config in method "jwt": the jwt method names its token file "path"`}},
		{"jwt bad removal flag", "auto_auth {\n method \"jwt\" {\n  config = {\n   role = \"ci\"\n   path = \"/j\"\n   remove_jwt_after_reading = \"sometimes\"\n  }\n }\n}\n",
			[]string{"agent.hcl:6,", "remove_jwt_after_reading", `want true, false, 1 or 0, got "sometimes"`}},
		{"kubernetes without role", "auto_auth {\n method \"kubernetes\" {\n  config = { token_path = \"/t\" }\n }\n}\n",
			[]string{`agent.hcl:2,2-21: method "kubernetes" needs config = { role = ... }`}},
		{"kubernetes with empty token_path", "auto_auth {\n method \"kubernetes\" {\n  config = {\n   role = \"web\"\n   token_path = \"\"\n  }\n }\n}\n",
			[]string{`agent.hcl:2,2-21: method "kubernetes": token_path must not be empty`}},
		{"kubernetes with jwt key", "auto_auth {\n method \"kubernetes\" {\n  config = {\n   role = \"web\"\n   path = \"/t\"\n  }\n }\n}\n",
			[]string{`agent.hcl:5,11-15: path in config in method "kubernetes": the kubernetes method names its token file "token_path"`}},
		{"kubernetes removal is jwt only", "auto_auth {\n method \"kubernetes\" {\n  config = {\n   role = \"web\"\n   remove_jwt_after_reading = true\n  }\n }\n}\n",
			[]string{`agent.hcl:5,4-28: unknown key "remove_jwt_after_reading" in config in method "kubernetes"`}},
		{"auto_auth without method", "auto_auth {\n}\n", []string{"agent.hcl:1,", "needs a method"}},
		{"two methods", "auto_auth {\n method \"token_file\" { config = { token_file_path = \"/a\" } }\n method \"token_file\" { config = { token_file_path = \"/b\" } }\n}\n", []string{"agent.hcl:3,", "second method"}},
		{"bad sink type", "auto_auth {\n method \"token_file\" { config = { token_file_path = \"/a\" } }\n sink \"socket\" {}\n}\n", []string{`agent.hcl:3,7-15: unknown sink type "socket"`}},
		{"bad sink mode", "auto_auth {\n method \"token_file\" { config = { token_file_path = \"/a\" } }\n sink \"file\" { config = { path = \"/p\", mode = \"0999\" } }\n}\n", []string{"agent.hcl:3,", "octal mode"}},
		{"template without destination", "template {\n contents = \"x\"\n}\n", []string{"agent.hcl:1,", "needs a destination"}},
		{"template source and contents", "template {\n source = \"a\"\n contents = \"x\"\n destination = \"d\"\n}\n", []string{"not both"}},
		{"template bad key", "template {\n contents = \"x\"\n destination = \"d\"\n wait = 3\n}\n", []string{`agent.hcl:4,2-6: unknown key "wait" in template`}},
		{"bad duration", "template_config {\n static_secret_render_interval = \"soon\"\n}\n", []string{"agent.hcl:2,", `invalid duration "soon"`}},
		{"negative duration", "template_config {\n static_secret_render_interval = -5\n}\n", []string{"agent.hcl:2,", "must not be negative"}},
		{"bad listener", "listener \"udp\" {\n address = \"x\"\n}\n", []string{`agent.hcl:1,10-15: unknown listener type "udp"`}},
		{"tls listener", "listener \"tcp\" {\n address = \"127.0.0.1:0\"\n}\n", []string{"TLS listeners are not supported"}},
		{"bad restart", "exec {\n command = [\"x\"]\n restart_on_secret_changes = \"sometimes\"\n}\n", []string{"agent.hcl:3,", "want one of always, never"}},
		{"bad signal", "exec {\n command = [\"x\"]\n restart_stop_signal = \"SIGNOPE\"\n}\n", []string{"agent.hcl:3,", "unknown signal"}},
		{"exec without command", "exec {\n}\n", []string{"agent.hcl:1,", "needs a command"}},
		{"env_template without exec", "env_template \"A\" {\n contents = \"x\"\n}\n", []string{"agent.hcl: env_template needs an exec block"}},
		{"env_template bad name", "exec {\n command = [\"x\"]\n}\nenv_template \"1A-B\" {\n contents = \"x\"\n}\n", []string{"agent.hcl:4,", "not a valid environment variable name"}},
		{"block as key", "vault = {}\n", []string{"agent.hcl:1,1-6: vault is a block, not a key"}},
		{"key as block", "pid_file {}\n", []string{"agent.hcl:1,1-9: pid_file is a key, not a block"}},
		{"variables are refused", "pid_file = var.x\n", []string{"agent.hcl:1,"}},
		{"use_auto_auth_token without auto_auth", "api_proxy {\n use_auto_auth_token = true\n}\n", []string{"needs an auto_auth block"}},
		{"several problems in file order", "bogus = 1\nvault {\n nope = 2\n}\n", []string{"agent.hcl:1,", `unknown key "bogus"`, "agent.hcl:3,", `unknown key "nope" in vault`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Parse([]byte(tt.src), "agent.hcl")
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want an error", tt.src, c)
			}
			if c != nil {
				t.Errorf("Parse(%q) returned a config with its error", tt.src)
			}
			msg := err.Error()
			rest := msg
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("Parse(%q) error = %q, want it to contain %q (in order)", tt.src, msg, w)
				}
				rest = rest[i+len(w):]
			}
			if _, ok := errors.AsType[*Error](err); !ok {
				t.Errorf("Parse(%q) error %T holds no *Error", tt.src, err)
			}
		})
	}
}

func TestParseSecretValueNotEchoed(t *testing.T) {
	t.Parallel()
	// A literal secret put where a file path belongs must not be echoed
	// when the key is unknown.
	src := "auto_auth {\n method \"approle\" {\n  config = {\n   role_id_file_path = \"/r\"\n   secret_id = \"s3cr3t-value\"\n  }\n }\n}\n"
	_, err := Parse([]byte(src), "agent.hcl")
	if err == nil || strings.Contains(err.Error(), "s3cr3t-value") {
		t.Errorf("Parse error = %v, want an error without the value", err)
	}
}

func TestLoadMissing(t *testing.T) {
	t.Parallel()
	if _, err := Load(t.TempDir() + "/none.hcl"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) error = %v, want ErrNotExist", err)
	}
}

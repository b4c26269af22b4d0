package cli

import (
	"net/http/httptest"
	"strings"
	"testing"
)

const whoAnswer = `{"data":{"path":"secret/data/payments/db","capability":"read",
"grants":[{"policy":"payments","rule":{"path":"secret/data/payments/*","capabilities":["list","read"]},"conditional":false}],
"denies":[],"shadows":[],"root_policies":["root"],"templated_policies":["per-entity"],
"principals":[{"mount":"auth/approle/","type":"approle","kind":"role","name":"payments-api","policies":["payments"],"access":"yes"}],
"entities":[],"groups":[],
"tokens":[{"accessor":"acc-1","display_name":"approle","entity_id":"","path":"auth/approle/login","ttl":3600,"access":"yes"}],
"token_count":2,"tokens_truncated":true}}`

const reportAnswer = `{"data":{"generated_at":"2026-12-07T12:00:00Z","parameters":{"unread_days":30,"unrotated_days":30,"max_principals":10},
"unread_secrets":[{"mount":"secret/","path":"old","last_read":null,"updated_time":"2025-01-01T00:00:00Z"}],
"unrotated_secrets":[],"widely_readable_secrets":[{"mount":"secret/","path":"shared","last_read":"2026-12-01T00:00:00Z","updated_time":"2026-12-01T00:00:00Z","principals":12}],
"tokens_without_expiry":[{"accessor":"acc-root","display_name":"root","path":"auth/token/root","policies":["root"]}],
"root_tokens":[{"accessor":"acc-root","display_name":"root","path":"auth/token/root","policies":["root"]}],
"unused_policies":["orphan"],"broad_policies":[{"policy":"admin","path":"*","reason":"wildcard"}],
"unlimited_secret_id_roles":[],"unbound_roles":[{"mount":"auth/jwt/","type":"jwt","kind":"role","name":"ci"}]}}`

func TestAccessCommands(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		response string
		args     []string
		code     int
		request  string
		want     []string // substrings of stdout (or stderr when code != 0)
	}{
		{
			name: "who table", response: whoAnswer, args: []string{"access", "who", "secret/data/payments/db"},
			request: "GET /v1/sys/access/who?capability=read&path=secret%2Fdata%2Fpayments%2Fdb",
			want: []string{"Who can read secret/data/payments/db", "== Granting policies (1)", "secret/data/payments/*",
				"auth/approle/", "payments-api", "acc-1", "1h", "2 tokens in all", "per-entity"},
		},
		{
			name: "who capability and limit", response: whoAnswer, args: []string{"access", "who", "-capability=update", "-token-limit=5", "x"},
			request: "GET /v1/sys/access/who?capability=update&path=x&token_limit=5", want: []string{"Who can"},
		},
		{
			name: "what by role", response: `{"data":{"subject":{"kind":"role","name":"x","policies":["p"]},"root":false,"depends_on_entity":false,
"acl":[{"path":"secret/data/x/*","capabilities":["read"]}],"mounts":[{"path":"secret/","type":"kv","enumerated":true,"truncated":false,
"paths":[{"path":"secret/data/x/db","kind":"secret","capabilities":["read"]}]}]}}`,
			args:    []string{"access", "what", "-role=auth/approle/role/x"},
			request: "GET /v1/sys/access/what?role=auth%2Fapprole%2Frole%2Fx",
			want:    []string{"What role x can reach", "== Resultant ACL (1)", "secret/data/x/db"},
		},
		{
			name: "report csv", response: reportAnswer, args: []string{"access", "report", "-days=30", "-format=csv"},
			request: "GET /v1/sys/access/report?unread_days=30&unrotated_days=30",
			want: []string{"finding,subject,detail\n", "unread_secrets,secret/old,never read since tracking began\n",
				"widely_readable_secrets,secret/shared,12 principals can read it\n", "root_tokens,acc-root,",
				"unused_policies,orphan,", "broad_policies,admin,wildcard on *\n", "unbound_roles,auth/jwt/role/ci,jwt\n"},
		},
		{
			name: "report table", response: reportAnswer, args: []string{"access", "report", "-unread-days=7"},
			request: "GET /v1/sys/access/report?unread_days=7", want: []string{"Finding", "unbound_roles"},
		},
		{name: "what needs one selector", args: []string{"access", "what"}, code: exitUsage, want: []string{"exactly one"}},
		{name: "who needs a path", args: []string{"access", "who"}, code: exitUsage, want: []string{"expected 1"}},
		{name: "csv only for the report", args: []string{"access", "who", "-format=csv", "x"}, code: exitUsage, want: []string{"invalid output format"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{response: tt.response}
			srv := httptest.NewServer(rec)
			t.Cleanup(srv.Close)
			code, stdout, stderr := runCLI(t, map[string]string{"COFFER_ADDR": srv.URL, "COFFER_TOKEN": "t"}, "", tt.args...)
			if code != tt.code {
				t.Fatalf("%v = %d, want %d; stderr:\n%s", tt.args, code, tt.code, stderr)
			}
			out := stdout
			if tt.code != 0 {
				out = stderr
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("%v output lacks %q:\n%s", tt.args, w, out)
				}
			}
			if tt.request != "" {
				if _, got := rec.last(); got != tt.request {
					t.Errorf("request = %q, want %q", got, tt.request)
				}
			}
		})
	}
}

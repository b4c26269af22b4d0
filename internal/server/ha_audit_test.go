package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/audit"
	"github.com/coffer-secrets/coffer/internal/audit/trail"
	"github.com/coffer-secrets/coffer/internal/testserver"
	"github.com/hashicorp/vault/api"
)

// auditCluster starts n nodes with a cluster listener each and a file
// audit device from the configuration file at dir/cfg-{{node_id}}.log.
func auditCluster(t *testing.T, n int, dir string) *cluster {
	t.Helper()
	cfg := fmt.Sprintf("audit \"file\" \"cfg\" {\n file_path = %q\n}\naudit_allowed_dirs = [%q]\n", filepath.Join(dir, "cfg-{{node_id}}.log"), dir)
	return newCluster(t, n, func(_ int, o *testserver.Options) {
		o.ClusterAddr = "127.0.0.1:0"
		o.ExtraConfig = cfg
	})
}

// auditLines reads the lines of the audit file at path.
func auditLines(t *testing.T, path string) []audit.Line {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Line
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l audit.Line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("%s: line %q: %v", path, sc.Text(), err)
		}
		out = append(out, l)
	}
	return out
}

// linesOf returns the lines of the given type for request id.
func linesOf(lines []audit.Line, id, typ string) []audit.Line {
	var out []audit.Line
	for _, l := range lines {
		if l.Type == typ && l.Request != nil && l.Request.ID == id {
			out = append(out, l)
		}
	}
	return out
}

// requestID does a request with the root token on node i and returns the
// response's request_id, failing unless the status is want.
func (c *cluster) requestID(t *testing.T, i int, method, path, token, body string, want int) string {
	t.Helper()
	st, b, _ := rawDo(t, method, c.nodes[i].Addr+"/v1/"+path, token, body)
	if st != want {
		t.Fatalf("%s %s on node%d = %d %s, want %d", method, path, i, st, b, want)
	}
	var out struct {
		RequestID string `json:"request_id"`
	}
	json.Unmarshal([]byte(b), &out)
	return out.RequestID
}

// TestClusterNodeAudit: every node writes its own audit devices (one from
// the configuration file, one enabled through the API, both with
// {{node_id}} in the path). A standby serves KV reads, transit and token
// lookups itself and records them in its own files only; a write sent to a
// standby is recorded there as a forward entry and on the active node
// under the same request ID; every file verifies as its own chain, and the
// merged search puts both nodes' lines in time order.
func TestClusterNodeAudit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := auditCluster(t, 2, dir)
	root := c.nodes[0].RootToken
	admin := c.client(t, 0, root)
	if err := admin.Sys().EnableAuditWithOptions("api", &api.EnableAuditOptions{Type: "file", Options: map[string]string{"file_path": filepath.Join(dir, "api-{{node_id}}.log")}}); err != nil {
		t.Fatal(err)
	}
	if err := admin.Sys().Mount("transit", &api.MountInput{Type: "transit"}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Logical().Write("transit/keys/k", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Logical().Write("secret/data/app", map[string]any{"data": map[string]any{"pw": "s3cret"}}); err != nil {
		t.Fatal(err)
	}
	limited, err := admin.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"default"}, NumUses: 5})
	if err != nil {
		t.Fatal(err)
	}
	file := func(kind string, node int) string {
		return filepath.Join(dir, fmt.Sprintf("%s-node%d.log", kind, node))
	}
	// The standby opens the API-enabled device after the change notice.
	eventually(t, 15*time.Second, "the standby opens the API-enabled device", func() error {
		if _, err := os.Stat(file("api", 1)); err != nil {
			return err
		}
		return nil
	})
	eventually(t, 15*time.Second, "the standby sees the transit key", func() error {
		st, b, _ := rawDo(t, http.MethodPost, c.nodes[1].Addr+"/v1/transit/encrypt/k", root, `{"plaintext":"aGk="}`)
		if st != http.StatusOK {
			return fmt.Errorf("%d %s", st, b)
		}
		return nil
	})

	served := map[string]string{ // what the standby answers itself -> request ID
		"kv read":        c.requestID(t, 1, http.MethodGet, "secret/data/app", root, "", http.StatusOK),
		"transit":        c.requestID(t, 1, http.MethodPost, "transit/encrypt/k", root, `{"plaintext":"aGk="}`, http.StatusOK),
		"lookup-self":    c.requestID(t, 1, http.MethodGet, "auth/token/lookup-self", root, "", http.StatusOK),
		"capabilities":   c.requestID(t, 1, http.MethodPost, "sys/capabilities-self", root, `{"paths":["secret/data/app"]}`, http.StatusOK),
		"policy read":    c.requestID(t, 1, http.MethodGet, "sys/policy/default", root, "", http.StatusOK),
		"lookup by body": c.requestID(t, 1, http.MethodPost, "auth/token/lookup", root, fmt.Sprintf(`{"token":%q}`, limited.Auth.ClientToken), http.StatusOK),
	}
	forwarded := map[string]string{ // what the standby forwards -> request ID
		"kv write":           c.requestID(t, 1, http.MethodPost, "secret/data/app2", root, `{"data":{"a":"b"}}`, http.StatusOK),
		"limited-use lookup": c.requestID(t, 1, http.MethodGet, "auth/token/lookup-self", limited.Auth.ClientToken, "", http.StatusOK),
	}
	for _, kind := range []string{"cfg", "api"} {
		active, standby := auditLines(t, file(kind, 0)), auditLines(t, file(kind, 1))
		for _, l := range active {
			if l.NodeID != "node0" {
				t.Errorf("%s: a line of type %s has node_id %q, want node0", file(kind, 0), l.Type, l.NodeID)
			}
		}
		for _, l := range standby {
			if l.NodeID != "node1" {
				t.Errorf("%s: a line of type %s has node_id %q, want node1", file(kind, 1), l.Type, l.NodeID)
			}
		}
		if active[0].ChainID == standby[0].ChainID {
			t.Errorf("%s: both nodes write chain %s, want one chain each", kind, active[0].ChainID)
		}
		for what, id := range served {
			if len(linesOf(standby, id, audit.TypeResponse)) != 1 || len(linesOf(standby, id, audit.TypeForward)) != 0 {
				t.Errorf("%s (%s): the standby's %s file has no response entry for it, or forwarded it", what, id, kind)
			}
			if n := len(linesOf(active, id, audit.TypeRequest)); n != 0 {
				t.Errorf("%s (%s): the active node's %s file has %d request entries for it, want none", what, id, kind, n)
			}
		}
		for what, id := range forwarded {
			fwd := linesOf(standby, id, audit.TypeForward)
			if len(fwd) != 1 {
				t.Errorf("%s (%s): the standby's %s file has %d forward entries, want 1", what, id, kind, len(fwd))
			} else {
				if fwd[0].Forward == nil || fwd[0].Forward.Target == "" || !strings.HasPrefix(fwd[0].Request.ClientToken, audit.HMACPrefix) {
					t.Errorf("%s: forward entry %+v, want the target and the HMACed client token", what, fwd[0])
				}
			}
			if len(linesOf(standby, id, audit.TypeResponse)) != 0 {
				t.Errorf("%s (%s): the standby's %s file has a response entry for a request it forwarded", what, id, kind)
			}
			if len(linesOf(active, id, audit.TypeRequest)) != 1 || len(linesOf(active, id, audit.TypeResponse)) != 1 {
				t.Errorf("%s (%s): the active node's %s file lacks the request or its response under the standby's request ID", what, id, kind)
			}
		}
		for node := range 2 {
			f, err := os.Open(file(kind, node))
			if err != nil {
				t.Fatal(err)
			}
			rep, err := trail.Verify(f, nil)
			f.Close()
			if err != nil || rep.ProblemCount != 0 {
				t.Errorf("verify %s: %v, problems %v", file(kind, node), err, rep.Problems)
			}
		}
	}
	// The merged search shows the forward entry and the active node's
	// request entry with the same ID, in time order.
	id := forwarded["kv write"]
	f0, _ := os.Open(file("cfg", 0))
	defer f0.Close()
	f1, _ := os.Open(file("cfg", 1))
	defer f1.Close()
	var got []string
	var last time.Time
	for m, err := range trail.SearchMerged(t.Context(), []io.Reader{f0, f1}, trail.Filter{}) {
		if err != nil {
			t.Fatal(err)
		}
		tm, _ := time.Parse(time.RFC3339Nano, m.Entry.Time)
		if tm.Before(last) {
			t.Errorf("merged search: %s at %s after %s", m.Entry.Type, tm, last)
		}
		last = tm
		if m.Entry.Request != nil && m.Entry.Request.ID == id {
			got = append(got, m.Entry.NodeID+" "+m.Entry.Type)
		}
	}
	// A client cannot choose the request ID: the header counts only from
	// a cluster node on the cluster listener.
	const spoofed = "11111111-2222-3333-4444-555555555555"
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, c.nodes[0].Addr+"/v1/secret/data/app", nil)
	req.Header.Set("X-Vault-Token", root)
	req.Header.Set("X-Coffer-Request-Id", spoofed)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.Contains(string(body), spoofed) {
		t.Errorf("a client's own X-Coffer-Request-Id: %d %s, want 200 with a request ID of the server's", resp.StatusCode, body)
	}
	want := "node1 forward,node0 request,node0 response"
	if strings.Join(got, ",") != want {
		t.Errorf("merged search for the forwarded write = %q, want %q", strings.Join(got, ","), want)
	}
}

// TestClusterStandbyAuditFailsClosed: a standby that cannot open an audit
// device (its own file's directory is missing) answers 500 for what it
// would serve and for what it would forward, while the active node serves;
// once the directory exists, the standby opens the device and serves.
func TestClusterStandbyAuditFailsClosed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := newCluster(t, 2, func(_ int, o *testserver.Options) {
		o.ClusterAddr = "127.0.0.1:0"
		o.ExtraConfig = fmt.Sprintf("audit_allowed_dirs = [%q]\n", dir)
	})
	root := c.nodes[0].RootToken
	if err := os.Mkdir(filepath.Join(dir, "node0"), 0o700); err != nil {
		t.Fatal(err)
	}
	admin := c.client(t, 0, root)
	if err := admin.Sys().EnableAuditWithOptions("api", &api.EnableAuditOptions{Type: "file", Options: map[string]string{"file_path": filepath.Join(dir, "{{node_id}}", "audit.log")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Logical().Write("secret/data/app", map[string]any{"data": map[string]any{"a": "b"}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, method, path, body string }{
		{"a read it serves", http.MethodGet, "secret/data/app", ""},
		{"a write it forwards", http.MethodPost, "secret/data/other", `{"data":{"a":"b"}}`},
	}
	for _, tt := range tests {
		eventually(t, 15*time.Second, "the standby refuses "+tt.name, func() error {
			st, b, _ := rawDo(t, tt.method, c.nodes[1].Addr+"/v1/"+tt.path, root, tt.body)
			if st != http.StatusInternalServerError {
				return fmt.Errorf("%d %s", st, b)
			}
			if strings.Contains(b, dir) {
				t.Errorf("the 500 answer names the audit file: %s", b)
			}
			return nil
		})
	}
	if st, b, _ := rawGet(t, c.nodes[0].Addr+"/v1/secret/data/app", root); st != http.StatusOK {
		t.Fatalf("the active node: %d %s", st, b)
	}
	if err := os.Mkdir(filepath.Join(dir, "node1"), 0o700); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if st, _, _ := rawGet(t, c.nodes[1].Addr+"/v1/secret/data/app", root); st == http.StatusOK {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	id := c.requestID(t, 1, http.MethodGet, "secret/data/app", root, "", http.StatusOK)
	if got := linesOf(auditLines(t, filepath.Join(dir, "node1", "audit.log")), id, audit.TypeResponse); len(got) != 1 {
		t.Errorf("the standby's own file has %d response entries for its read, want 1", len(got))
	}
}

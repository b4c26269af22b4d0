package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/coffer-secrets/coffer/internal/testserver"
)

// TestEventSubscriberProcess runs `coffer events subscribe` as a process
// with a token that reads only secret/data/team-a/*, while another client
// writes, patches and deletes secrets of two teams: the process prints
// exactly team A's changes, in order, one JSON line each, with no value.
func TestEventSubscriberProcess(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	ctx := t.Context()
	if err := s.Client.Sys().PutPolicy("team-a-events", `
path "sys/events/subscribe/kv-v2/*" { capabilities = ["read"] }
path "secret/data/team-a/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	sec, err := s.Client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"team-a-events"}})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, cofferBin, "events", "subscribe", "-timeout=60s", "kv-v2/data-*")
	cmd.Env = append(os.Environ(), "COFFER_ADDR="+s.Addr, "VAULT_ADDR="+s.Addr, "COFFER_TOKEN="+sec.Auth.ClientToken, "VAULT_TOKEN="+sec.Auth.ClientToken, "HOME="+t.TempDir())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for s.Core().Events().Len() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the subscriber never connected; stderr: %s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	kv := s.Client.KVv2("secret")
	for _, step := range []struct{ op, path string }{
		{"put", "team-a/db"}, {"put", "team-b/db"}, {"patch", "team-a/db"},
		{"put", "team-b/api"}, {"delete", "team-b/db"}, {"delete", "team-a/db"}, {"put", "team-a/zz-end"},
	} {
		var err error
		switch step.op {
		case "put":
			_, err = kv.Put(ctx, step.path, map[string]any{"password": "s3cret-value"})
		case "patch":
			_, err = kv.Patch(ctx, step.path, map[string]any{"user": "s3cret-user"})
		case "delete":
			err = kv.Delete(ctx, step.path)
		}
		if err != nil {
			t.Fatalf("%s %s: %v", step.op, step.path, err)
		}
	}
	want := []string{
		"kv-v2/data-write secret/data/team-a/db",
		"kv-v2/data-patch secret/data/team-a/db",
		"kv-v2/data-delete secret/data/team-a/db",
	}
	var got []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, "s3cret") {
			t.Errorf("an event holds a value: %s", line)
		}
		var e struct {
			Data struct {
				EventType string `json:"event_type"`
				Event     struct {
					Metadata map[string]string `json:"metadata"`
				} `json:"event"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		p := e.Data.Event.Metadata["data_path"]
		if p == "secret/data/team-a/zz-end" {
			break
		}
		got = append(got, e.Data.EventType+" "+p)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the subscriber printed:\n%s\nwant:\n%s\nstderr: %s", strings.Join(got, "\n"), strings.Join(want, "\n"), stderr.String())
	}
}

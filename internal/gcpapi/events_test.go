package gcpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"github.com/coder/websocket"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/coffer-secrets/coffer/internal/events"
)

// subscribe dials sys/events/subscribe/gcp/* with token.
func subscribe(t *testing.T, e *env, token string) *websocket.Conn {
	t.Helper()
	u := "ws" + strings.TrimPrefix(e.ts.Addr, "http") + "/v1/sys/events/subscribe/gcp/*?json=true"
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: http.Header{"X-Vault-Token": {token}}})
	if err != nil {
		t.Fatalf("dial %s: %v", u, err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	return conn
}

// readEvent reads one event, failing after a few seconds.
func readEvent(t *testing.T, conn *websocket.Conn) *events.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, b, err := conn.Read(ctx)
	if err != nil {
		t.Fatalf("read event: %v", err)
	}
	var ev events.Event
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("event %s: %v", b, err)
	}
	return &ev
}

// TestTopicEvents: changes of a secret with topics reach subscribers of
// gcp/* as Coffer events named after Google's event types, with the
// topics and resource names and never the payload; a secret without
// topics sends none.
func TestTopicEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(t, e.ts.RootToken)
	conn := subscribe(t, e, e.ts.RootToken)
	ctx := t.Context()
	const topic = "projects/proj/topics/rotations"
	name := parent + "/secrets/with-topics"

	// A secret without topics: its changes send nothing (the first event
	// read below must be the other secret's).
	if _, err := c.CreateSecret(ctx, &secretmanagerpb.CreateSecretRequest{Parent: parent, SecretId: "quiet", Secret: &secretmanagerpb.Secret{Replication: automatic()}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddSecretVersion(ctx, &secretmanagerpb.AddSecretVersionRequest{Parent: parent + "/secrets/quiet", Payload: &secretmanagerpb.SecretPayload{Data: []byte("quiet value")}}); err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		name    string
		do      func() error
		typ     string
		google  string
		version string
	}{
		{"create", func() error {
			_, err := c.CreateSecret(ctx, &secretmanagerpb.CreateSecretRequest{Parent: parent, SecretId: "with-topics", Secret: &secretmanagerpb.Secret{Replication: automatic(), Topics: []*secretmanagerpb.Topic{{Name: topic}}}})
			return err
		}, "gcp/secret-create", "SECRET_CREATE", ""},
		{"add version", func() error {
			_, err := c.AddSecretVersion(ctx, &secretmanagerpb.AddSecretVersionRequest{Parent: name, Payload: &secretmanagerpb.SecretPayload{Data: []byte("s3cret-payload")}})
			return err
		}, "gcp/secret-version-add", "SECRET_VERSION_ADD", name + "/versions/1"},
		{"disable", func() error {
			_, err := c.DisableSecretVersion(ctx, &secretmanagerpb.DisableSecretVersionRequest{Name: name + "/versions/1"})
			return err
		}, "gcp/secret-version-disable", "SECRET_VERSION_DISABLE", name + "/versions/1"},
		{"enable", func() error {
			_, err := c.EnableSecretVersion(ctx, &secretmanagerpb.EnableSecretVersionRequest{Name: name + "/versions/1"})
			return err
		}, "gcp/secret-version-enable", "SECRET_VERSION_ENABLE", name + "/versions/1"},
		{"update", func() error {
			_, err := c.UpdateSecret(ctx, &secretmanagerpb.UpdateSecretRequest{Secret: &secretmanagerpb.Secret{Name: name, Labels: map[string]string{"a": "b"}}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"labels"}}})
			return err
		}, "gcp/secret-update", "SECRET_UPDATE", ""},
		{"destroy", func() error {
			_, err := c.DestroySecretVersion(ctx, &secretmanagerpb.DestroySecretVersionRequest{Name: name + "/versions/1"})
			return err
		}, "gcp/secret-version-destroy", "SECRET_VERSION_DESTROY", name + "/versions/1"},
		{"delete", func() error {
			return c.DeleteSecret(ctx, &secretmanagerpb.DeleteSecretRequest{Name: name})
		}, "gcp/secret-delete", "SECRET_DELETE", ""},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		ev := readEvent(t, conn)
		md := ev.Metadata
		if ev.Type != st.typ || md["event_type"] != st.google || md["secret"] != name || md["topics"] != topic ||
			md["version"] != st.version || md["data_path"] != "gcp-proj/data/with-topics" || ev.Plugin.MountPath != "gcp-proj/" {
			t.Errorf("%s: event %s %v (mount %s), want %s %s for %s", st.name, ev.Type, md, ev.Plugin.MountPath, st.typ, st.google, name)
		}
		for k, v := range md {
			if strings.Contains(v, "s3cret") {
				t.Errorf("%s: event metadata %s holds the payload", st.name, k)
			}
		}
	}
}

// fieldMask is an update mask of paths.
func fieldMask(paths ...string) *fieldmaskpb.FieldMask {
	return &fieldmaskpb.FieldMask{Paths: paths}
}

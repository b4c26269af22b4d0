package server_test

import (
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// TestClusterRotationFailover: the active node stops while a scheduled
// KV rotation is calling its webhook; the standby, once active, completes
// that same rotation (same version, same value). While standby it never
// rotated anything itself.
func TestClusterRotationFailover(t *testing.T) {
	t.Parallel()
	type delivery struct {
		Version int               `json:"version"`
		Values  map[string]string `json:"values"`
	}
	var mu sync.Mutex
	var got []delivery
	started := make(chan struct{})
	hook := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var d delivery
		body, _ := io.ReadAll(r.Body)
		json.Unmarshal(body, &d)
		mu.Lock()
		got = append(got, d)
		n := len(got)
		mu.Unlock()
		if n == 1 {
			close(started)
			<-r.Context().Done() // hang until the active node gives up
			return
		}
	}))
	hook.Config.ErrorLog = log.New(io.Discard, "", 0)
	hook.StartTLS()
	t.Cleanup(hook.Close)
	deliveries := func() []delivery {
		mu.Lock()
		defer mu.Unlock()
		return append([]delivery(nil), got...)
	}

	c := newCluster(t, 2, nil)
	root := c.nodes[0].RootToken
	cl := c.client(t, 0, root)
	if _, err := cl.KVv2("secret").Put(t.Context(), "ha/key", map[string]any{"k": "old"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Logical().Write("secret/rotation/ha/key", map[string]any{
		"period": "2s", "keys": map[string]any{"k": map[string]any{"generator": "random"}},
		"rotator": map[string]any{
			"type": "webhook", "url": hook.URL, "hmac_key": "cluster-rotation-key", "send_values": true, "max_attempts": 1, "timeout": "60s",
			"ca_cert": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hook.Certificate().Raw})),
		},
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		t.Fatal("the scheduled rotation did not call the hook")
	}
	if err := c.nodes[0].Close(); err != nil {
		t.Fatal(err)
	}
	c.nodes[0] = nil
	c.waitActive(t, 0, 30*time.Second)
	eventually(t, 20*time.Second, "the new active node completes the rotation", func() error {
		if len(deliveries()) < 2 {
			return errorString("no second delivery yet")
		}
		m, err := c.client(t, 1, root).KVv2("secret").GetMetadata(t.Context(), "ha/key")
		if err != nil {
			return err
		}
		if m.CurrentVersion < 2 {
			return errorString("version 2 not current yet")
		}
		return nil
	})
	d := deliveries()
	if d[0].Version != 2 || d[1].Version != 2 || d[0].Values["k"] != d[1].Values["k"] {
		t.Fatalf("deliveries %+v then %+v: want the same pending version 2 and value", d[0], d[1])
	}
	v2, err := c.client(t, 1, root).KVv2("secret").GetVersion(t.Context(), "ha/key", 2)
	if err != nil || v2.Data["k"] != d[0].Values["k"] {
		t.Fatalf("version 2 = %v, %v; want the value delivered before the failover", v2, err)
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }

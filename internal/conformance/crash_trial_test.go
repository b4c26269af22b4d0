package conformance

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/testdb"
	"github.com/hashicorp/vault/api"
)

// The crash-under-load trial of the adversarial suite (issue 19): it is
// long, so it runs only with COFFER_ADVERSARIAL=1 (scripts/adversarial
// sets it); COFFER_CRASH_ROUNDS sets the rounds per storage (default 5).

// crashWriters is how many clients write at once while the server dies.
const crashWriters = 8

// crashRounds returns the rounds to run, from COFFER_CRASH_ROUNDS.
func crashRounds(t *testing.T) int {
	t.Helper()
	v := os.Getenv("COFFER_CRASH_ROUNDS")
	if v == "" {
		return 5
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("COFFER_CRASH_ROUNDS=%q: want a positive number of rounds", v)
	}
	return n
}

// TestCrashUnderLoadTrial kills a real `coffer server` with SIGKILL while
// 8 clients write KV secrets, restarts and unseals it, and reads back
// every write the server acknowledged in this round and every round
// before: none may be lost, and a key the metadata lists must have its
// data. It runs the rounds over bolt and over PostgreSQL, and logs a
// "CRASH storage=... rounds=... acknowledged=... lost=..." line for each.
func TestCrashUnderLoadTrial(t *testing.T) {
	if os.Getenv("COFFER_ADVERSARIAL") != "1" {
		t.Skip("the crash-under-load trial runs with COFFER_ADVERSARIAL=1 (scripts/adversarial)")
	}
	rounds := crashRounds(t)
	storages := []struct {
		name    string
		storage func(t *testing.T, dir string) string // the HCL storage block
	}{
		{"bolt", func(t *testing.T, dir string) string {
			return fmt.Sprintf("storage \"bolt\" {\n  path = %q\n}\n", filepath.Join(dir, "coffer.db"))
		}},
		{"postgresql", func(t *testing.T, dir string) string {
			db := testdb.New(t, testdb.Postgres)
			return fmt.Sprintf("storage \"postgresql\" {\n  connection_url = \"postgres://postgres@127.0.0.1:5432/%s?sslmode=disable\"\n}\n", db.Name)
		}},
	}
	for _, st := range storages {
		t.Run(st.name, func(t *testing.T) {
			dir := t.TempDir()
			addr := freeAddr(t)
			cfg := writeConfig(t, st.storage(t, dir)+fmt.Sprintf("listener \"tcp\" {\n  address = %q\n  tls_disable = true\n}\n", addr))
			trial := &crashTrial{cfg: cfg, addr: addr, acked: map[string]string{}}
			trial.initialize(t)
			for r := 1; r <= rounds; r++ {
				trial.round(t, r)
			}
			t.Logf("CRASH storage=%s rounds=%d writers=%d acknowledged=%d lost=%d unacknowledged_found=%d", st.name, rounds, crashWriters, len(trial.acked), trial.lost, trial.extra)
			if trial.lost != 0 {
				t.Errorf("%d acknowledged writes lost over %d rounds", trial.lost, rounds)
			}
		})
	}
}

// crashTrial is one storage's run of the trial.
type crashTrial struct {
	cfg, addr string
	keys      []string // unseal keys; two of three unseal
	root      string
	srv       *server
	acked     map[string]string // every acknowledged write: key -> value
	lost      int               // acknowledged writes missing or wrong after a restart
	extra     int               // writes not acknowledged that were found (cut off after the commit)
}

// start starts the server and unseals it when it is initialized.
func (c *crashTrial) start(t *testing.T) *api.Client {
	t.Helper()
	c.srv = startProcess(t, []string{"server", "-config=" + c.cfg}, nil, "http://"+c.addr)
	cl := c.srv.Client
	cl.SetMaxRetries(0)
	if c.keys != nil {
		for _, k := range c.keys[:2] {
			if _, err := cl.Sys().Unseal(k); err != nil {
				t.Fatalf("unseal after restart: %v", err)
			}
		}
		cl.SetToken(c.root)
	}
	return cl
}

// initialize starts, initializes and unseals the server and mounts a KV
// version 2 engine at secret/.
func (c *crashTrial) initialize(t *testing.T) {
	t.Helper()
	cl := c.start(t)
	res, err := cl.Sys().Init(&api.InitRequest{SecretShares: 3, SecretThreshold: 2})
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	c.keys, c.root = res.Keys, res.RootToken
	for _, k := range c.keys[:2] {
		if _, err := cl.Sys().Unseal(k); err != nil {
			t.Fatalf("unseal: %v", err)
		}
	}
	cl.SetToken(c.root)
	if err := cl.Sys().Mount("secret", &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatalf("mount kv: %v", err)
	}
}

// round runs the writers against the running server, kills it once a
// random number of writes (200 to 1000) is acknowledged, restarts it and
// checks every acknowledged write so far.
func (c *crashTrial) round(t *testing.T, r int) {
	t.Helper()
	cl := c.srv.Client
	var mu sync.Mutex
	acked := map[string]string{}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var wg sync.WaitGroup
	for w := range crashWriters {
		wg.Go(func() {
			wcl, err := cl.Clone()
			if err != nil {
				return
			}
			wcl.SetToken(c.root)
			kv := wcl.KVv2("secret")
			for i := 0; ctx.Err() == nil; i++ {
				key := fmt.Sprintf("r%d/w%d/k%d", r, w, i)
				val := fmt.Sprintf("value-%d-%d-%d", r, w, i)
				if _, err := kv.Put(ctx, key, map[string]any{"v": val}); err != nil {
					return // the server died mid-request: not acknowledged
				}
				mu.Lock()
				acked[key] = val
				mu.Unlock()
			}
		})
	}
	// Kill the server while the writers are busy, after a number of
	// acknowledged writes that differs from round to round.
	target := 200 + rand.IntN(800)
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= target || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond) // polling the writers' progress
	}
	if err := c.srv.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-c.srv.done
	cancel()
	wg.Wait()
	if len(acked) < 10 {
		t.Fatalf("round %d: only %d writes acknowledged before the kill; the trial proves little", r, len(acked))
	}
	for k, v := range acked {
		c.acked[k] = v
	}

	cl = c.start(t)
	kv := cl.KVv2("secret")
	for key, val := range c.acked {
		got, err := kv.Get(t.Context(), key)
		if err != nil || got.Data["v"] != val || got.VersionMetadata.Version != 1 {
			c.lost++
			if c.lost <= 10 {
				t.Errorf("round %d: acknowledged write %s lost or wrong after SIGKILL: %v", r, key, err)
			}
		}
	}
	// A write cut off by the kill is whole or absent: every key the
	// metadata lists has its data.
	for w := range crashWriters {
		list, err := cl.Logical().List(fmt.Sprintf("secret/metadata/r%d/w%d/", r, w))
		if err != nil {
			t.Fatalf("round %d: list w%d: %v", r, w, err)
		}
		if list == nil {
			continue
		}
		keys, _ := list.Data["keys"].([]any)
		for _, k := range keys {
			key := fmt.Sprintf("r%d/w%d/%s", r, w, k)
			got, err := kv.Get(t.Context(), key)
			if err != nil || got.Data["v"] == nil {
				t.Errorf("round %d: %s is listed but its data is missing: %v", r, key, err)
			}
			if _, ok := acked[key]; !ok {
				c.extra++
			}
		}
	}
	t.Logf("round %d: %d writes acknowledged before SIGKILL (%d in all); %d lost so far", r, len(acked), len(c.acked), c.lost)
}

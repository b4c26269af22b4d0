package conformance

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Failed logins must not grow memory (issue 19): only aliases that exist
// are tracked for lockout, so a flood of logins with invented names leaves
// the lockout table empty, sys/locked-users lists no invented name, and
// oversized names are refused with 400 before any work.

// rssKiB returns the resident set size of process pid, from
// /proc/PID/status. It does not fail the test, so goroutines may call it.
func rssKiB(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// mustRSS is rssKiB for the test goroutine.
func mustRSS(t testing.TB, pid int) int {
	t.Helper()
	n, err := rssKiB(pid)
	if err != nil {
		t.Fatalf("read RSS: %v", err)
	}
	return n
}

// lockoutEntries reads the coffer_lockout_entries gauge from sys/metrics.
func lockoutEntries(t testing.TB, s *server) int {
	t.Helper()
	r := s.raw(t, "GET", "/v1/sys/metrics?format=prometheus", rootToken, "")
	if r.Status != 200 {
		t.Fatalf("sys/metrics: %d %s", r.Status, r.Body)
	}
	for line := range strings.SplitSeq(r.Body, "\n") {
		if v, ok := strings.CutPrefix(line, "coffer_lockout_entries "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("coffer_lockout_entries %q: %v", v, err)
			}
			return int(n)
		}
	}
	t.Fatal("sys/metrics has no coffer_lockout_entries")
	return 0
}

// TestDoSLockoutInventedNames floods AppRole login with 20,000 random
// 4 KiB role_ids (Vault's largest) from 8 connections on loopback, while a
// legitimate client keeps logging in. Before the fix every failure stored
// its role_id: 20,000 × 4 KiB is at least 78 MiB of live heap, never
// freed. Now the lockout table stays empty and RSS grows by less than
// 48 MiB: requests in flight hold a few bodies each, and Go's collector
// lets the heap reach about twice the live data before it runs.
func TestDoSLockoutInventedNames(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	loginEnable(t, s.Client, "approle", "approle")
	loginWrite(t, s.Client, "auth/approle/role/app", map[string]any{"role_id": "app-role-id"})
	loginWrite(t, s.Client, "auth/approle/role/app/custom-secret-id", map[string]any{"secret_id": "app-secret-id"})
	anon := loginClient(t, s)
	legit := func() error {
		_, err := anon.Logical().Write("auth/approle/login", map[string]any{"role_id": "app-role-id", "secret_id": "app-secret-id"})
		return err
	}
	if err := legit(); err != nil {
		t.Fatalf("legitimate login before the attack: %v", err)
	}
	pid := s.cmd.Process.Pid
	base := mustRSS(t, pid)

	const attempts, workers = 20_000, 8
	var next, refused, other atomic.Int64
	var peak atomic.Int64
	peak.Store(int64(base))
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			buf := make([]byte, 2048)
			for next.Add(1) <= attempts {
				rand.Read(buf)
				body := `{"role_id":"` + hex.EncodeToString(buf) + `","secret_id":"x"}`
				resp, err := hc.Post(s.Addr+"/v1/auth/approle/login", "application/json", strings.NewReader(body))
				if err != nil {
					other.Add(1)
					continue
				}
				resp.Body.Close()
				if resp.StatusCode == 400 {
					refused.Add(1)
				} else {
					other.Add(1)
				}
			}
		})
	}
	var served, failed atomic.Int64
	var legitWG sync.WaitGroup
	legitWG.Go(func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if err := legit(); err != nil {
				t.Errorf("legitimate login during the attack: %v", err)
				failed.Add(1)
			} else {
				served.Add(1)
			}
			if r, err := rssKiB(pid); err == nil && int64(r) > peak.Load() {
				peak.Store(int64(r))
			}
		}
	})
	wg.Wait()
	close(stop)
	legitWG.Wait()
	if r := int64(mustRSS(t, pid)); r > peak.Load() {
		peak.Store(r)
	}

	if refused.Load() != attempts || other.Load() != 0 {
		t.Errorf("attack: %d refused with 400, %d other answers, want %d and 0", refused.Load(), other.Load(), attempts)
	}
	if got := lockoutEntries(t, s); got != 0 {
		t.Errorf("coffer_lockout_entries after %d logins with invented role_ids = %d, want 0", attempts, got)
	}
	locked, err := s.Client.Logical().Read("sys/locked-users")
	if err != nil {
		t.Fatalf("sys/locked-users: %v", err)
	}
	if total := fmt.Sprint(locked.Data["total"]); total != "0" {
		t.Errorf("sys/locked-users total = %s after the attack, want 0: %v", total, locked.Data)
	}
	if served.Load() == 0 || failed.Load() != 0 {
		t.Errorf("legitimate logins during the attack: %d served, %d failed; want some and none", served.Load(), failed.Load())
	}
	const boundKiB = 48 * 1024
	t.Logf("RSS: %d KiB before, %d KiB peak; %d legitimate logins served", base, peak.Load(), served.Load())
	logFigure(t, "lockout-invented-names", peak.Load(), served.Load(), kv("attack_requests", attempts), kv("rss_before_mb", base>>10), kv("legit_failed", failed.Load()))
	if grew := int(peak.Load()) - base; grew > boundKiB {
		t.Errorf("RSS grew by %d KiB under the attack (from %d KiB), want at most %d KiB", grew, base, boundKiB)
	}
}

// TestDoSLockoutExistingOnly checks that failures of an existing user are
// still counted and listed, that an invented name is neither counted nor
// listed, and that names over Vault's limits are refused with 400.
func TestDoSLockoutExistingOnly(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	loginEnable(t, s.Client, "userpass", "userpass")
	loginEnable(t, s.Client, "approle", "approle")
	loginWrite(t, s.Client, "auth/userpass/users/carol", map[string]any{"password": "right"})
	anon := loginClient(t, s)
	for i := range 5 {
		_, err := anon.Logical().Write("auth/userpass/login/carol", map[string]any{"password": "wrong"})
		wantError(t, fmt.Sprintf("wrong password %d", i), err, 400, "invalid username or password")
		_, err = anon.Logical().Write("auth/userpass/login/invented", map[string]any{"password": "wrong"})
		wantError(t, fmt.Sprintf("invented user %d", i), err, 400, "invalid username or password")
	}
	_, err := anon.Logical().Write("auth/userpass/login/carol", map[string]any{"password": "right"})
	wantError(t, "right password while locked out", err, 403, "permission denied")
	if got := lockoutEntries(t, s); got != 1 {
		t.Errorf("coffer_lockout_entries = %d, want 1 (carol)", got)
	}
	locked, err := s.Client.Logical().Read("sys/locked-users")
	if err != nil {
		t.Fatalf("sys/locked-users: %v", err)
	}
	if got := fmt.Sprint(locked.Data); !strings.Contains(got, "carol") || strings.Contains(got, "invented") {
		t.Errorf("sys/locked-users = %s; want carol and no invented name", got)
	}

	long := strings.Repeat("a", 4097)
	_, err = anon.Logical().Write("auth/approle/login", map[string]any{"role_id": long})
	wantError(t, "4097-byte role_id", err, 400, "role_id is longer than 4096 bytes")
	_, err = anon.Logical().Write("auth/approle/login", map[string]any{"role_id": "x", "secret_id": long})
	wantError(t, "4097-byte secret_id", err, 400, "secret_id is longer than 4096 bytes")
	_, err = anon.Logical().Write("auth/userpass/login/"+long[:513], map[string]any{"password": "x"})
	wantError(t, "513-byte username", err, 400, "invalid username")
}

package bolt_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/coffer-secrets/coffer/internal/storage"
	"github.com/coffer-secrets/coffer/internal/storage/bolt"
)

// The crash child reads its database path and round from these variables.
const (
	crashPathEnv  = "COFFER_BOLT_CRASH_PATH"
	crashRoundEnv = "COFFER_BOLT_CRASH_ROUND"
)

// crashTxnKeys returns the keys each transaction group in the crash test
// writes under its folder; a group on disk must hold all of them or none.
func crashTxnKeys() []string { return []string{"0", "1", "2"} }

// crashValue is the value the crash child writes at key: a few hundred
// bytes to a few KiB, so groups span several pages.
func crashValue(key string) []byte {
	h := fnv.New32a()
	h.Write([]byte(key))
	return bytes.Repeat([]byte(key+";"), 8+int(h.Sum32()%256))
}

// TestCrashChild is the writer that TestCrash kills. It writes until it is
// killed and prints one "ack" line per write only after the write returned
// nil. It does nothing unless TestCrash started it.
func TestCrashChild(t *testing.T) {
	path, round := os.Getenv(crashPathEnv), os.Getenv(crashRoundEnv)
	if path == "" {
		t.Skip("run by TestCrash")
	}
	s, err := bolt.Open(bolt.Options{Path: path, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	var mu sync.Mutex // serialises ack lines on stdout
	ack := func(kind, name string) {
		mu.Lock()
		defer mu.Unlock()
		// One small write per line, so a kill never leaves half a line.
		fmt.Fprintf(os.Stdout, "ack %s %s .\n", kind, name)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				if i%4 == 3 {
					id := fmt.Sprintf("%s-%d-%d", round, g, i)
					ops := make([]storage.Op, 0, len(crashTxnKeys()))
					for _, k := range crashTxnKeys() {
						key := "txn/" + id + "/" + k
						ops = append(ops, storage.Op{Kind: storage.OpPut, Entry: storage.Entry{Key: key, Value: crashValue(key)}})
					}
					if err := s.Txn(t.Context(), ops); err != nil {
						t.Errorf("Txn(%s) = %v", id, err)
						return
					}
					ack("txn", id)
					continue
				}
				key := fmt.Sprintf("put/%s-%d/%d", round, g, i)
				if err := s.Put(t.Context(), &storage.Entry{Key: key, Value: crashValue(key)}); err != nil {
					t.Errorf("Put(%s) = %v", key, err)
					return
				}
				ack("put", key)
			}
		})
	}
	wg.Wait()
}

// TestCrash kills a writing process with SIGKILL at a random moment, several
// times over one database, and checks after each kill that every write the
// child acknowledged is on disk and every transaction group is whole.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills child processes; run without -short")
	}
	path := filepath.Join(t.TempDir(), "coffer.db")
	puts, txns := map[string]bool{}, map[string]bool{}
	for round := range 3 {
		p, x := runCrashChild(t, path, round)
		t.Logf("round %d: child acknowledged %d puts and %d transactions before SIGKILL", round, len(p), len(x))
		for _, k := range p {
			puts[k] = true
		}
		for _, id := range x {
			txns[id] = true
		}
		checkCrashDB(t, path, puts, txns)
	}
}

// runCrashChild runs TestCrashChild against path, kills it once it has
// acknowledged some writes and a random while has passed, and returns the
// acknowledged put keys and transaction ids.
func runCrashChild(t *testing.T, path string, round int) (puts, txns []string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashPathEnv+"="+path, fmt.Sprintf("%s=r%d", crashRoundEnv, round))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start crash child: %v", err)
	}

	var mu sync.Mutex // guards puts and txns until done is closed
	first := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 4 || f[0] != "ack" || f[3] != "." {
				continue
			}
			mu.Lock()
			switch f[1] {
			case "put":
				puts = append(puts, f[2])
			case "txn":
				txns = append(txns, f[2])
			}
			if len(puts)+len(txns) == 1 {
				close(first)
			}
			mu.Unlock()
		}
	}()

	select {
	case <-first:
	case <-done:
		cmd.Wait()
		t.Fatalf("crash child exited before acknowledging a write; stderr:\n%s", stderr.String())
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("crash child acknowledged nothing in 30s; stderr:\n%s", stderr.String())
	}
	time.Sleep(200*time.Millisecond + rand.N(500*time.Millisecond))
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no deferred code runs
		t.Fatalf("kill crash child: %v", err)
	}
	<-done
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Exited() {
		t.Fatalf("crash child ended with %v, want killed by a signal; stderr:\n%s", err, stderr.String())
	}
	if len(puts) == 0 || len(txns) == 0 {
		t.Fatalf("crash child acknowledged %d puts and %d transactions, want some of each", len(puts), len(txns))
	}
	return puts, txns
}

// checkCrashDB reopens the database after a kill and checks it against what
// was acknowledged.
func checkCrashDB(t *testing.T, path string, puts, txns map[string]bool) {
	t.Helper()
	checkBoltIntegrity(t, path)
	s, err := bolt.Open(bolt.Options{Path: path})
	if err != nil {
		t.Fatalf("reopen after kill = %v", err)
	}
	defer s.Close()
	ctx := t.Context()
	for k := range puts {
		e, err := s.Get(ctx, k)
		if err != nil || e == nil {
			t.Errorf("acknowledged Put(%q) lost after kill: Get = %v, %v", k, e, err)
			continue
		}
		if !bytes.Equal(e.Value, crashValue(k)) {
			t.Errorf("acknowledged Put(%q) has a wrong value after kill (%d bytes)", k, len(e.Value))
		}
	}
	groups, err := s.List(ctx, "txn/")
	if err != nil {
		t.Fatalf("List(txn/) = %v", err)
	}
	onDisk := map[string]bool{}
	for _, g := range groups {
		id := strings.TrimSuffix(g, "/")
		onDisk[id] = true
		names, err := s.List(ctx, "txn/"+g)
		if err != nil {
			t.Fatalf("List(txn/%s) = %v", g, err)
		}
		if !slices.Equal(names, crashTxnKeys()) {
			t.Errorf("transaction group %s is partial after kill: keys %q, want %q", id, names, crashTxnKeys())
			continue
		}
		for _, k := range crashTxnKeys() {
			key := "txn/" + g + k
			if e, err := s.Get(ctx, key); err != nil || e == nil || !bytes.Equal(e.Value, crashValue(key)) {
				t.Errorf("transaction group %s has a wrong value at %q after kill", id, key)
			}
		}
	}
	for id := range txns {
		if !onDisk[id] {
			t.Errorf("acknowledged transaction group %s lost after kill", id)
		}
	}
}

// checkBoltIntegrity runs bbolt's own consistency check over the file.
func checkBoltIntegrity(t *testing.T, path string) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 10 * time.Second, ReadOnly: true})
	if err != nil {
		t.Fatalf("open for check: %v", err)
	}
	defer db.Close()
	err = db.View(func(tx *bbolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
	if err != nil {
		t.Errorf("bbolt consistency check after kill: %v", err)
	}
}

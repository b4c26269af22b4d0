package conformance

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/testdb"
	"github.com/hashicorp/vault/api"
)

// sealEnv keeps the test runner's Vault variables away from the server,
// whose transit seal would take them over its configuration.
var sealEnv = []string{"VAULT_ADDR=", "VAULT_TOKEN=", "VAULT_NAMESPACE=", "VAULT_CACERT=", "VAULT_SKIP_VERIFY=",
	"VAULT_TRANSIT_SEAL_KEY_NAME=", "VAULT_TRANSIT_SEAL_MOUNT_PATH="}

// sealServer is a bolt-backed server whose configuration a test rewrites
// between restarts.
type sealServer struct {
	dir, addr string
}

func newSealServer(t testing.TB) *sealServer {
	return &sealServer{dir: t.TempDir(), addr: freeAddr(t)}
}

// start writes the configuration with sealBlocks and starts the server.
func (ss *sealServer) start(t testing.TB, sealBlocks string) *server {
	t.Helper()
	cfg := fmt.Sprintf("storage \"bolt\" {\n  path = %q\n}\nlistener \"tcp\" {\n  address = %q\n  tls_disable = true\n}\n%s",
		filepath.Join(ss.dir, "coffer.db"), ss.addr, sealBlocks)
	path := filepath.Join(ss.dir, "coffer.hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return startProcess(t, []string{"server", "-config", path}, sealEnv, "http://"+ss.addr)
}

// waitUnsealed waits until s reports itself unsealed.
func waitUnsealed(t testing.TB, s *server, limit time.Duration) *api.SealStatusResponse {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		st, err := s.Client.Sys().SealStatus()
		if err == nil && !st.Sealed {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("not unsealed after %v (status %+v, %v)\nstderr:\n%s", limit, st, err, s.Stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitLog waits until s's log holds words.
func waitLog(t *testing.T, s *server, words string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !strings.Contains(s.Stderr.String(), words) {
		if time.Now().After(deadline) {
			t.Fatalf("the log does not say %q after %v:\n%s", words, limit, s.Stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func writeKeyFile(t testing.TB, dir, name string) string {
	t.Helper()
	k := make([]byte, 32)
	rand.Read(k)
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, k, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func staticBlock(keyFile string, disabled bool) string {
	d := ""
	if disabled {
		d = "  disabled = \"true\"\n"
	}
	return fmt.Sprintf("seal \"static\" {\n%s  current_key_id = \"k1\"\n  current_key = \"file://%s\"\n}\n", d, keyFile)
}

func TestStaticSeal(t *testing.T) {
	t.Parallel()
	ss := newSealServer(t)
	keyFile := writeKeyFile(t, ss.dir, "unseal.key")
	s := ss.start(t, staticBlock(keyFile, false))
	st, err := s.Client.Sys().SealStatus()
	if err != nil {
		t.Fatal(err)
	}
	if st.Initialized || st.Type != "static" || !st.RecoverySeal {
		t.Fatalf("seal-status before init = %+v, want uninitialized, type static, recovery_seal", st)
	}
	_, err = s.Client.Sys().Init(&api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	wantError(t, "init without recovery_shares", err, 400, "recovery_shares must be between 1 and 255")
	_, err = s.Client.Sys().Init(&api.InitRequest{RecoveryShares: 3, RecoveryThreshold: 4})
	wantError(t, "init with a recovery threshold above the shares", err, 400, "recovery_threshold must be between 1 and recovery_shares")

	res, err := s.Client.Sys().Init(&api.InitRequest{RecoveryShares: 3, RecoveryThreshold: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.RecoveryKeys) != 3 || len(res.RecoveryKeysB64) != 3 || len(res.Keys) != 0 || len(res.KeysB64) != 0 || res.RootToken == "" {
		t.Fatalf("init = %+v, want 3 recovery keys, no unseal keys, a root token", res)
	}
	st = waitUnsealed(t, s, 5*time.Second)
	if st.Type != "static" || !st.RecoverySeal || st.RecoverySealType != "shamir" || st.T != 2 || st.N != 3 || st.Migration {
		t.Errorf("seal-status after init = %+v, want type static, recovery seal shamir 2 of 3, no migration", st)
	}
	s.Client.SetToken(res.RootToken)
	if err := s.Client.Sys().Mount("kv", &api.MountInput{Type: "kv"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.Logical().Write("kv/a", map[string]any{"v": "1"}); err != nil {
		t.Fatal(err)
	}

	// Sealed by hand, the server takes recovery keys to unseal again.
	if err := s.Client.Sys().Seal(); err != nil {
		t.Fatal(err)
	}
	_, err = s.Client.Sys().UnsealWithOptions(&api.UnsealOpts{Key: res.RecoveryKeysB64[0], Migrate: true})
	wantError(t, "unseal -migrate with no migration", err, 400, "seal migration is not in progress")
	if st, err := s.Client.Sys().Unseal(res.RecoveryKeysB64[0]); err != nil || !st.Sealed || st.Progress != 1 {
		t.Fatalf("unseal with one recovery key = %+v, %v; want sealed, progress 1", st, err)
	}
	if st, err := s.Client.Sys().Unseal(res.RecoveryKeys[2]); err != nil || st.Sealed {
		t.Fatalf("unseal with two recovery keys = %+v, %v; want unsealed", st, err)
	}

	// A restart unseals by itself.
	s.stop()
	s = ss.start(t, staticBlock(keyFile, false))
	waitUnsealed(t, s, 10*time.Second)
	s.Client.SetToken(res.RootToken)
	if sec, err := s.Client.Logical().Read("kv/a"); err != nil || sec == nil || sec.Data["v"] != "1" {
		t.Fatalf("read kv/a after restart = %v, %v", sec, err)
	}

	// Another key does not unwrap the root key: the server stays sealed and
	// says why, without the key.
	s.stop()
	other := writeKeyFile(t, ss.dir, "other.key")
	s = ss.start(t, staticBlock(other, false))
	waitLog(t, s, "cannot unwrap the stored root key", 10*time.Second)
	if st, err := s.Client.Sys().SealStatus(); err != nil || !st.Sealed {
		t.Errorf("seal-status with another key = %+v, %v; want sealed", st, err)
	}
}

func TestShamirRefusesRecoveryKeys(t *testing.T) {
	t.Parallel()
	ss := newSealServer(t)
	s := ss.start(t, "")
	_, err := s.Client.Sys().Init(&api.InitRequest{SecretShares: 1, SecretThreshold: 1, RecoveryShares: 3, RecoveryThreshold: 2})
	wantError(t, "init of a Shamir server with recovery shares", err, 400, "parameters recovery_shares,recovery_threshold not applicable to seal type shamir")
	st, err := s.Client.Sys().SealStatus()
	if err != nil || st.Type != "shamir" || st.RecoverySeal {
		t.Errorf("seal-status = %+v, %v; want type shamir, no recovery seal", st, err)
	}
}

// startTransitDev starts a dev server with a transit key "seal" and
// returns it with its unseal key.
func startTransitDev(t testing.TB) (*server, string) {
	t.Helper()
	a := startDev(t)
	if err := a.Client.Sys().Mount("transit", &api.MountInput{Type: "transit"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Client.Logical().Write("transit/keys/seal", nil); err != nil {
		t.Fatal(err)
	}
	return a, a.devUnsealKey(t)
}

func TestTransitSealRestarts(t *testing.T) {
	t.Parallel()
	a, aKey := startTransitDev(t)
	block := fmt.Sprintf("seal \"transit\" {\n  address = %q\n  token = %q\n  key_name = \"seal\"\n  mount_path = \"transit/\"\n}\n", a.Addr, rootToken)
	ss := newSealServer(t)
	b := ss.start(t, block)
	res, err := b.Client.Sys().Init(&api.InitRequest{RecoveryShares: 1, RecoveryThreshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	if st := waitUnsealed(t, b, 5*time.Second); st.Type != "transit" || !st.RecoverySeal {
		t.Errorf("seal-status = %+v, want type transit, recovery seal", st)
	}
	b.Client.SetToken(res.RootToken)
	if err := b.Client.Sys().Mount("kv", &api.MountInput{Type: "kv"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Client.Logical().Write("kv/a", map[string]any{"v": "1"}); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		b.stop()
		b = ss.start(t, block)
		waitUnsealed(t, b, 10*time.Second)
		b.Client.SetToken(res.RootToken)
		if sec, err := b.Client.Logical().Read("kv/a"); err != nil || sec == nil || sec.Data["v"] != "1" {
			t.Fatalf("restart %d: read kv/a = %v, %v", i+1, sec, err)
		}
	}

	// The transit server is sealed while B starts: B retries with backoff,
	// says so, and unseals once the transit server is back.
	b.stop()
	if err := a.Client.Sys().Seal(); err != nil {
		t.Fatal(err)
	}
	b = ss.start(t, block)
	waitLog(t, b, "cannot reach the transit seal, retrying in", 10*time.Second)
	if st, err := b.Client.Sys().SealStatus(); err != nil || !st.Sealed {
		t.Fatalf("seal-status with the transit server sealed = %+v, %v; want sealed", st, err)
	}
	if _, err := a.Client.Sys().Unseal(aKey); err != nil {
		t.Fatal(err)
	}
	waitUnsealed(t, b, 20*time.Second)
	if strings.Contains(b.Stderr.String(), rootToken) {
		t.Error("the log holds the transit token")
	}
}

// initJSONOut is what `coffer operator init -format=json` prints.
type initJSONOut struct {
	UnsealKeysB64   []string `json:"unseal_keys_b64"`
	RecoveryKeysB64 []string `json:"recovery_keys_b64"`
	RootToken       string   `json:"root_token"`
}

func TestSealMigrationThroughCLI(t *testing.T) {
	t.Parallel()
	ss := newSealServer(t)
	keyFile := writeKeyFile(t, ss.dir, "unseal.key")
	env := append([]string{"COFFER_ADDR=http://" + ss.addr, "COFFER_MAX_RETRIES=0"}, sealEnv...)
	coffer := func(args ...string) (int, string, string) {
		t.Helper()
		return runCoffer(t, "", env, args...)
	}

	s := ss.start(t, "")
	code, out, errOut := coffer("operator", "init", "-key-shares=3", "-key-threshold=2", "-format=json")
	if code != 0 {
		t.Fatalf("operator init: exit %d\n%s%s", code, out, errOut)
	}
	var ini initJSONOut
	if err := json.Unmarshal([]byte(out), &ini); err != nil || len(ini.UnsealKeysB64) != 3 {
		t.Fatalf("operator init output %q: %v", out, err)
	}
	keys := ini.UnsealKeysB64
	unseal := func(migrate bool, ks ...string) {
		t.Helper()
		for _, k := range ks {
			args := []string{"operator", "unseal"}
			if migrate {
				args = append(args, "-migrate")
			}
			if code, out, errOut := coffer(append(args, k)...); code != 0 {
				t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
			}
		}
	}
	unseal(false, keys[0], keys[1])
	s.Client.SetToken(ini.RootToken)
	if err := s.Client.Sys().Mount("kv", &api.MountInput{Type: "kv"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.Logical().Write("kv/a", map[string]any{"v": "1"}); err != nil {
		t.Fatal(err)
	}
	readBack := func(s *server, when string) {
		t.Helper()
		s.Client.SetToken(ini.RootToken)
		if sec, err := s.Client.Logical().Read("kv/a"); err != nil || sec == nil || sec.Data["v"] != "1" {
			t.Fatalf("%s: read kv/a = %v, %v", when, sec, err)
		}
	}

	// Shamir -> static: the unseal keys become recovery keys.
	s.stop()
	s = ss.start(t, staticBlock(keyFile, false)+"seal \"shamir\" {\n  disabled = \"true\"\n}\n")
	waitLog(t, s, "seal migration is pending", 10*time.Second)
	st, err := s.Client.Sys().SealStatus()
	if err != nil || !st.Sealed || !st.Migration || st.Type != "shamir" {
		t.Fatalf("seal-status before migration = %+v, %v; want sealed, migration, type shamir", st, err)
	}
	_, err = s.Client.Sys().Unseal(keys[0])
	wantError(t, "unseal without -migrate during a migration", err, 400, "migrate option not provided and seal migration is pending")
	code, _, errOut = coffer("operator", "unseal", keys[0])
	if code == 0 || !strings.Contains(errOut, "migrate option not provided") {
		t.Errorf("operator unseal without -migrate: exit %d, stderr %q; want a failure naming the migrate option", code, errOut)
	}
	unseal(true, keys[2], keys[0])
	st = waitUnsealed(t, s, 5*time.Second)
	if st.Type != "static" || !st.RecoverySeal || st.Migration || st.T != 2 || st.N != 3 {
		t.Fatalf("seal-status after migration to static = %+v", st)
	}
	readBack(s, "after migrating to static")

	// Restarted with the static seal alone, it unseals by itself.
	s.stop()
	s = ss.start(t, staticBlock(keyFile, false))
	waitUnsealed(t, s, 10*time.Second)
	readBack(s, "static restart")

	// static -> Shamir: the recovery keys (the old unseal keys) become the
	// unseal keys again.
	s.stop()
	s = ss.start(t, staticBlock(keyFile, true))
	waitLog(t, s, "seal migration is pending", 10*time.Second)
	if st, err := s.Client.Sys().SealStatus(); err != nil || !st.Migration || st.Type != "static" || !st.Sealed {
		t.Fatalf("seal-status before migration back = %+v, %v", st, err)
	}
	unseal(true, keys[1], keys[2])
	st = waitUnsealed(t, s, 5*time.Second)
	if st.Type != "shamir" || st.RecoverySeal || st.T != 2 || st.N != 3 {
		t.Fatalf("seal-status after migration to shamir = %+v", st)
	}
	readBack(s, "after migrating back to shamir")

	s.stop()
	s = ss.start(t, "")
	if st, err := s.Client.Sys().SealStatus(); err != nil || !st.Sealed || st.Migration {
		t.Fatalf("seal-status of the Shamir restart = %+v, %v; want sealed, no migration", st, err)
	}
	unseal(false, keys[0], keys[2])
	readBack(s, "Shamir restart")
}

// softHSMToken makes a SoftHSM2 token in a directory of its own and
// returns the library path and the environment that points SoftHSM2 at
// it. Without SoftHSM2 the test is skipped, or fails with CI=true.
func softHSMToken(t *testing.T, label, pin string) (lib string, env []string) {
	t.Helper()
	lib = "/usr/lib/softhsm/libsofthsm2.so"
	if _, err := os.Stat(lib); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("SoftHSM2 is missing (%v); scripts/test installs it (apt-get install softhsm2)", err)
		}
		t.Skipf("SoftHSM2 is missing (%v); apt-get install softhsm2 to run this test", err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "softhsm2.conf")
	if err := os.MkdirAll(filepath.Join(dir, "tokens"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, fmt.Appendf(nil, "directories.tokendir = %s\nobjectstore.backend = file\n", filepath.Join(dir, "tokens")), 0o600); err != nil {
		t.Fatal(err)
	}
	env = []string{"SOFTHSM2_CONF=" + conf}
	cmd := exec.Command("softhsm2-util", "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", "so-"+pin)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	return lib, env
}

// TestPKCS11Seal: a server sealed by a key in a SoftHSM2 token
// initializes with recovery keys, comes back unsealed after restarts, and
// never logs the PIN, which it takes from VAULT_HSM_PIN.
func TestPKCS11Seal(t *testing.T) {
	t.Parallel()
	const pin = "pin-31415926"
	lib, env := softHSMToken(t, "coffer", pin)
	ss := newSealServer(t)
	block := fmt.Sprintf("seal \"pkcs11\" {\n  lib = %q\n  token_label = \"coffer\"\n  key_label = \"coffer-root\"\n  generate_key = \"true\"\n}\n", lib)
	start := func() *server {
		cfg := fmt.Sprintf("storage \"bolt\" {\n  path = %q\n}\nlistener \"tcp\" {\n  address = %q\n  tls_disable = true\n}\n%s",
			filepath.Join(ss.dir, "coffer.db"), ss.addr, block)
		path := filepath.Join(ss.dir, "coffer.hcl")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return startProcess(t, []string{"server", "-config", path}, append(slices.Clone(sealEnv), append(env, "VAULT_HSM_PIN="+pin)...), "http://"+ss.addr)
	}
	s := start()
	res, err := s.Client.Sys().Init(&api.InitRequest{RecoveryShares: 1, RecoveryThreshold: 1})
	if err != nil {
		t.Fatalf("init: %v\n%s", err, s.Stderr)
	}
	st := waitUnsealed(t, s, 10*time.Second)
	if st.Type != "pkcs11" || !st.RecoverySeal {
		t.Fatalf("seal-status = %+v, want type pkcs11 with a recovery seal", st)
	}
	s.Client.SetToken(res.RootToken)
	if _, err := s.Client.KVv2("secret").Put(t.Context(), "x", map[string]any{"v": "1"}); err == nil {
		t.Fatal("a non-dev server has no secret/ mount, yet the write worked")
	}
	if err := s.Client.Sys().Mount("kv", &api.MountInput{Type: "kv"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.Logical().Write("kv/a", map[string]any{"v": "1"}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		s.stop()
		if strings.Contains(s.Stderr.String()+s.Stdout.String(), pin) {
			t.Fatalf("the server printed the PIN")
		}
		s = start()
		waitUnsealed(t, s, 10*time.Second)
		s.Client.SetToken(res.RootToken)
		if sec, err := s.Client.Logical().Read("kv/a"); err != nil || sec == nil || sec.Data["v"] != "1" {
			t.Fatalf("restart %d: read = %v, %v", i+1, sec, err)
		}
	}
}

// TestAutoUnsealHAFailover: two nodes on one PostgreSQL database with a
// static seal. The second node unseals itself once the first has
// initialized the storage, no human involved; when the active node stops,
// the standby, already unsealed, takes over and serves writes, and the
// first node, restarted, unseals itself again and stands by.
func TestAutoUnsealHAFailover(t *testing.T) {
	t.Parallel()
	db := testdb.New(t, testdb.Postgres)
	dir := t.TempDir()
	keyFile := writeKeyFile(t, dir, "unseal.key")
	type node struct{ addr, cluster, cfg string }
	nodes := make([]node, 2)
	for i := range nodes {
		n := node{addr: freeAddr(t), cluster: freeAddr(t)}
		n.cfg = writeConfig(t, fmt.Sprintf(`
api_addr     = "http://%s"
cluster_addr = "https://%s"
storage "postgresql" {
  connection_url = "postgres://postgres@127.0.0.1:5432/%s?sslmode=disable"
  ha_enabled     = "true"
}
listener "tcp" {
  address         = %q
  cluster_address = %q
  tls_disable     = true
}
%s`, n.addr, n.cluster, db.Name, n.addr, n.cluster, staticBlock(keyFile, false)))
		nodes[i] = n
	}
	env := append(slices.Clone(sealEnv), "COFFER_CLUSTER_ADDR=", "VAULT_CLUSTER_ADDR=", "COFFER_NODE_ID=")
	start := func(i int) *server {
		return startProcess(t, []string{"server", "-config", nodes[i].cfg}, append(slices.Clone(env), fmt.Sprintf("COFFER_NODE_ID=node-%d", i)), "http://"+nodes[i].addr)
	}
	waitActive := func(s *server) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			l, err := s.Client.Sys().Leader()
			if err == nil && l.IsSelf {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never became active: %+v, %v\n%s", s.Addr, l, err, s.Stderr)
			}
			time.Sleep(50 * time.Millisecond) // polling the election
		}
	}

	a, b := start(0), start(1)
	res, err := a.Client.Sys().Init(&api.InitRequest{RecoveryShares: 1, RecoveryThreshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	waitUnsealed(t, a, 10*time.Second)
	waitActive(a)
	waitUnsealed(t, b, 20*time.Second) // the standby unsealed itself
	a.Client.SetToken(res.RootToken)
	if err := a.Client.Sys().Mount("kv", &api.MountInput{Type: "kv"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Client.Logical().Write("kv/before", map[string]any{"v": "1"}); err != nil {
		t.Fatal(err)
	}

	a.stop()
	waitActive(b)
	b.Client.SetToken(res.RootToken)
	if _, err := b.Client.Logical().Write("kv/after", map[string]any{"v": "2"}); err != nil {
		t.Fatalf("write on the new active node: %v", err)
	}
	if sec, err := b.Client.Logical().Read("kv/before"); err != nil || sec == nil || sec.Data["v"] != "1" {
		t.Fatalf("read on the new active node = %v, %v", sec, err)
	}

	a = start(0)
	st := waitUnsealed(t, a, 20*time.Second)
	if st.Type != "static" {
		t.Errorf("restarted node's seal-status = %+v", st)
	}
	if l, err := a.Client.Sys().Leader(); err != nil || l.IsSelf {
		t.Errorf("the restarted node took over from a healthy active node: %+v, %v", l, err)
	}
}

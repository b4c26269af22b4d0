package conformance

import (
	"encoding/json"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/coffer-secrets/coffer/internal/migrate"
	"github.com/coffer-secrets/coffer/internal/storage"
	"github.com/coffer-secrets/coffer/internal/storage/bolt"
	"github.com/coffer-secrets/coffer/internal/storage/postgres"
	"github.com/coffer-secrets/coffer/internal/testdb"
)

// fillerKeys is how many keys the migration test adds beside a real
// server's own, so that batching and listing are exercised at scale.
const fillerKeys = 100_000

// storageServer starts `coffer server` on the storage block src and a
// plain-HTTP listener.
func storageServer(t *testing.T, storageBlock string) *server {
	t.Helper()
	addr := freeAddr(t)
	path := writeConfig(t, fmt.Sprintf("%s\nlistener \"tcp\" {\n  address = %q\n  tls_disable = true\n}\n", storageBlock, addr))
	return startProcess(t, []string{"server", "-config", path}, nil, "http://"+addr)
}

// unsealAndReadApp unseals s with keys and reads secret/app through it.
func unsealAndReadApp(t *testing.T, s *server, keys []string, rootToken string) {
	t.Helper()
	for _, k := range keys {
		if _, err := s.Client.Sys().Unseal(k); err != nil {
			t.Fatalf("unseal: %v", err)
		}
	}
	if st, err := s.Client.Sys().SealStatus(); err != nil || st.Sealed {
		t.Fatalf("seal status after the original keys: %+v, %v", st, err)
	}
	s.Client.SetToken(rootToken)
	sec, err := s.Client.KVv2("secret").Get(t.Context(), "app")
	if err != nil || sec.Data["password"] != "hunter2" {
		t.Fatalf("read secret/app on the migrated storage: %+v, %v", sec, err)
	}
}

// sameKeys checks, key by key, that a and b hold the same keys and values,
// and returns how many keys they hold.
func sameKeys(t *testing.T, a, b storage.Storage) int {
	t.Helper()
	ctx := t.Context()
	bk, stop := iter.Pull2(migrate.Keys(ctx, b, ""))
	defer stop()
	n := 0
	var batch []string
	check := func() {
		av, bv := values(t, a, batch), values(t, b, batch)
		for i, k := range batch {
			if av[i] == nil || bv[i] == nil || string(av[i].Value) != string(bv[i].Value) {
				t.Fatalf("value of %q differs", k)
			}
		}
		batch = batch[:0]
	}
	for ak, err := range migrate.Keys(ctx, a, "") {
		if err != nil {
			t.Fatal(err)
		}
		k, err, ok := bk()
		if err != nil || !ok || k != ak {
			t.Fatalf("key %d: source has %q, destination has %q (%v)", n, ak, k, err)
		}
		if batch = append(batch, ak); len(batch) == 1000 {
			check()
		}
		n++
	}
	check()
	if k, _, ok := bk(); ok {
		t.Fatalf("the destination has %q beyond the source's keys", k)
	}
	return n
}

// values reads keys from s, in one query where s can.
func values(t *testing.T, s storage.Storage, keys []string) []*storage.Entry {
	t.Helper()
	if pg, ok := s.(*postgres.Storage); ok {
		out, err := pg.GetMany(t.Context(), keys)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	out := make([]*storage.Entry, len(keys))
	for i, k := range keys {
		e, err := s.Get(t.Context(), k)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = e
	}
	return out
}

// TestMigrateBoltPostgresAndBack copies a real server's bolt file with
// 100k extra keys to PostgreSQL, checks every key, unseals a server there
// with the original key shares, and copies it back to a new bolt file.
// Both migrations are refused while a server holds their source.
func TestMigrateBoltPostgresAndBack(t *testing.T) {
	t.Parallel()
	db := testdb.New(t, testdb.Postgres)
	dir := t.TempDir()
	boltPath := filepath.Join(dir, "coffer.db")
	boltBlock := fmt.Sprintf("storage \"bolt\" {\n  path = %q\n}\n", boltPath)
	pgURL := fmt.Sprintf("postgres://postgres@127.0.0.1:5432/%s?sslmode=disable", db.Name)
	pgBlock := fmt.Sprintf("storage \"postgresql\" {\n  connection_url = %q\n}\n", pgURL)

	// A real server on bolt, initialized with 3 shares, holding a secret.
	s := storageServer(t, boltBlock)
	res, err := s.Client.Sys().Init(&api.InitRequest{SecretShares: 3, SecretThreshold: 2})
	if err != nil {
		t.Fatal(err)
	}
	keys := res.KeysB64[:2]
	for _, k := range keys {
		if _, err := s.Client.Sys().Unseal(k); err != nil {
			t.Fatal(err)
		}
	}
	s.Client.SetToken(res.RootToken)
	if err := s.Client.Sys().Mount("secret", &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.KVv2("secret").Put(t.Context(), "app", map[string]any{"password": "hunter2"}); err != nil {
		t.Fatal(err)
	}

	toPG := writeConfig(t, strings.Replace(boltBlock, "storage", "storage_source", 1)+strings.Replace(pgBlock, "storage", "storage_destination", 1))
	code, _, stderr := runCoffer(t, "", nil, "operator", "migrate", "-config", toPG)
	if code != 2 || !strings.Contains(stderr, "locked") {
		t.Fatalf("migrate while the server runs: exit %d, stderr %q; want 2 and \"locked\"", code, stderr)
	}
	s.stop()

	// 100k filler keys written straight into the file.
	b, err := bolt.Open(bolt.Options{Path: boltPath, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < fillerKeys; i += 1000 {
		ops := make([]storage.Op, 0, 1000)
		for j := i; j < i+1000; j++ {
			ops = append(ops, storage.Op{Kind: storage.OpPut, Entry: storage.Entry{Key: fmt.Sprintf("filler/%02d/%06d", j%97, j), Value: fmt.Appendf(nil, "value %d \x00\xff", j)}})
		}
		if err := b.Txn(t.Context(), ops); err != nil {
			t.Fatal(err)
		}
	}
	b.Close()

	code, stdout, stderr := runCoffer(t, "", nil, "operator", "migrate", "-config", toPG)
	if code != 0 || !strings.Contains(stdout, "Success! Copied 100") {
		t.Fatalf("migrate bolt to postgresql: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if strings.Contains(stdout, "\r") {
		t.Errorf("progress line written to a pipe: %q", stdout)
	}
	if strings.Contains(stdout+stderr, "postgres://") {
		t.Errorf("the connection URL was printed: %s %s", stdout, stderr)
	}
	compare := func(boltFile string) {
		t.Helper()
		b, err := bolt.Open(bolt.Options{Path: boltFile})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		pg, err := postgres.Open(t.Context(), postgres.Options{ConnURL: pgURL, Table: "coffer_kv_store"})
		if err != nil {
			t.Fatal(err)
		}
		defer pg.Close()
		if n := sameKeys(t, b, pg); n < fillerKeys+10 {
			t.Fatalf("compared %d keys, want at least %d", n, fillerKeys+10)
		}
	}
	compare(boltPath)

	// A server on PostgreSQL unseals with the original shares; meanwhile
	// no migration may read its storage.
	s = storageServer(t, pgBlock)
	back := filepath.Join(dir, "back", "coffer.db")
	backBlock := fmt.Sprintf("storage \"bolt\" {\n  path = %q\n}\n", back)
	toBolt := writeConfig(t, strings.Replace(pgBlock, "storage", "storage_source", 1)+strings.Replace(backBlock, "storage", "storage_destination", 1))
	code, _, stderr = runCoffer(t, "", nil, "operator", "migrate", "-config", toBolt)
	if code != 2 || !strings.Contains(stderr, "in use by another process") {
		t.Fatalf("migrate from postgresql while a server runs: exit %d, stderr %q; want 2 and \"in use\"", code, stderr)
	}
	unsealAndReadApp(t, s, keys, res.RootToken)
	s.stop()

	// Back to bolt, twice: a second run overwrites and changes nothing.
	for range 2 {
		code, stdout, stderr = runCoffer(t, "", nil, "operator", "migrate", "-config", toBolt)
		if code != 0 || !strings.Contains(stdout, "Success! Copied 100") {
			t.Fatalf("migrate postgresql to bolt: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
		}
	}
	compare(back)
	s = storageServer(t, backBlock)
	unsealAndReadApp(t, s, keys, res.RootToken)
}

// TestMigrateRefusals covers what operator migrate refuses before copying.
func TestMigrateRefusals(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// Two separately initialized bolt files.
	var files []string
	for i := range 2 {
		p := filepath.Join(dir, fmt.Sprintf("s%d", i), "coffer.db")
		s := storageServer(t, fmt.Sprintf("storage \"bolt\" {\n  path = %q\n}\n", p))
		initUnseal(t, s)
		s.stop()
		files = append(files, p)
	}
	cfg := func(src, dst string) string {
		return writeConfig(t, fmt.Sprintf("storage_source \"bolt\" {\n  path = %q\n}\nstorage_destination \"bolt\" {\n  path = %q\n}\n", src, dst))
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		output string
	}{
		{"no config", nil, 1, "-config is required"},
		{"bad config", []string{"-config", writeConfig(t, `storage_source "bolt" {}`)}, 1, "missing storage_destination block"},
		{"missing source", []string{"-config", cfg(filepath.Join(dir, "none.db"), filepath.Join(dir, "x.db"))}, 2, "no such file"},
		{"another coffer", []string{"-config", cfg(files[0], files[1])}, 2, "already initialized by another Coffer"},
		{"another coffer replaced", []string{"-delete-extra", "-config", cfg(files[0], files[1])}, 0, "Deleted"},
		{"reset", []string{"-reset"}, 0, "Nothing to reset"},
	}
	for _, tt := range tests {
		code, stdout, stderr := runCoffer(t, "", nil, append([]string{"operator", "migrate"}, tt.args...)...)
		if code != tt.code || !strings.Contains(stdout+stderr, tt.output) {
			t.Errorf("%s: exit %d, want %d with %q\nstdout: %s\nstderr: %s", tt.name, code, tt.code, tt.output, stdout, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "none.db")); err == nil {
		t.Error("a missing source file was created")
	}
}

// TestOperatorUtilityEndpoints covers sys/tools, transit's random and
// hash, sys/config/state/sanitized, sys/in-flight-req and
// sys/version-history: shapes, status codes and the ACL (sudo or not).
func TestOperatorUtilityEndpoints(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	if err := s.Client.Sys().Mount("transit", &api.MountInput{Type: "transit"}); err != nil {
		t.Fatal(err)
	}
	abc := "YWJj" // "abc"
	for _, prefix := range []string{"sys/tools/", "transit/"} {
		tests := []struct {
			path string
			body map[string]any
			key  string
			want func(string) bool
		}{
			{prefix + "random", nil, "random_bytes", func(v string) bool { return len(v) == 44 }},
			{prefix + "random/16", map[string]any{"format": "hex"}, "random_bytes", func(v string) bool { return len(v) == 32 }},
			{prefix + "random/platform/8", map[string]any{"format": "hex"}, "random_bytes", func(v string) bool { return len(v) == 16 }},
			{prefix + "hash", map[string]any{"input": abc}, "sum", func(v string) bool {
				return v == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
			}},
			{prefix + "hash/sha3-256", map[string]any{"input": abc}, "sum", func(v string) bool {
				return v == "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532"
			}},
			{prefix + "hash", map[string]any{"input": abc, "algorithm": "sha2-224", "format": "base64"}, "sum", func(v string) bool {
				return v == "Iwl9IjQF2CKGQqR3vaJVsyqtvOS9oLP342ydpw=="
			}},
		}
		for _, tt := range tests {
			sec, err := s.Client.Logical().Write(tt.path, tt.body)
			if err != nil {
				t.Fatalf("write %s: %v", tt.path, err)
			}
			if v, _ := sec.Data[tt.key].(string); !tt.want(v) {
				t.Errorf("%s: %s = %q", tt.path, tt.key, v)
			}
		}
		_, err := s.Client.Logical().Write(prefix+"hash/md5", map[string]any{"input": abc})
		wantError(t, prefix+"hash/md5", err, 400, "unsupported hash algorithm")
		_, err = s.Client.Logical().Write(prefix+"random/0", nil)
		wantError(t, prefix+"random/0", err, 400, "invalid byte count")
		_, err = s.Client.Logical().Write(prefix+"random", map[string]any{"format": "raw"})
		wantError(t, prefix+"random format raw", err, 400, `invalid "format"`)
	}

	// A token with the default policy may hash (Vault's default policy
	// allows it) but not draw random bytes; a token allowed to read every
	// sys path still needs sudo for the configuration and requests.
	if err := s.Client.Sys().PutPolicy("reader", `path "sys/*" { capabilities = ["read", "list"] }`); err != nil {
		t.Fatal(err)
	}
	tok, err := s.Client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"reader"}})
	if err != nil {
		t.Fatal(err)
	}
	user, err := s.Client.Clone()
	if err != nil {
		t.Fatal(err)
	}
	user.SetToken(tok.Auth.ClientToken)
	if _, err := user.Logical().Write("sys/tools/hash/sha2-512", map[string]any{"input": abc}); err != nil {
		t.Errorf("hash with the default policy: %v", err)
	}
	_, err = user.Logical().Write("sys/tools/random", nil)
	wantError(t, "random without a grant", err, 403, "permission denied")
	_, err = user.Logical().Read("sys/config/state/sanitized")
	wantError(t, "sanitized config without sudo", err, 403, "permission denied")
	_, err = user.Logical().Read("sys/in-flight-req")
	wantError(t, "in-flight-req without sudo", err, 403, "permission denied")
	if _, err := user.Logical().List("sys/version-history"); err != nil {
		t.Errorf("version-history with list: %v", err)
	}

	// The sanitized configuration, in Vault's shape.
	sec, err := s.Client.Logical().Read("sys/config/state/sanitized")
	if err != nil {
		t.Fatal(err)
	}
	storage, _ := sec.Data["storage"].(map[string]any)
	listeners, _ := sec.Data["listeners"].([]any)
	if storage["type"] != "inmem" || len(listeners) != 1 || sec.Data["max_lease_ttl"] != json.Number("2764800") {
		t.Errorf("sanitized config = %v", sec.Data)
	}
	if l, _ := listeners[0].(map[string]any); l["type"] != "tcp" {
		t.Errorf("listener = %v", listeners[0])
	}

	// In-flight requests: a bare object keyed by request ID, holding
	// this very request.
	r := s.raw(t, "GET", "/v1/sys/in-flight-req", rootToken, "")
	var inflight map[string]struct {
		StartTime     time.Time `json:"start_time"`
		RemoteAddress string    `json:"client_remote_address"`
		Path          string    `json:"request_path"`
		Method        string    `json:"request_method"`
		ClientID      *string   `json:"client_id"`
	}
	if err := json.Unmarshal([]byte(r.Body), &inflight); r.Status != 200 || err != nil {
		t.Fatalf("sys/in-flight-req: %d %s (%v)", r.Status, r.Body, err)
	}
	found := false
	for _, e := range inflight {
		if e.Path == "/v1/sys/in-flight-req" && e.Method == "GET" && strings.HasPrefix(e.RemoteAddress, "127.0.0.1:") && e.ClientID != nil && !e.StartTime.IsZero() {
			found = true
		}
	}
	if !found {
		t.Errorf("sys/in-flight-req does not list itself: %s", r.Body)
	}

	// Version history: this version, installed at the first unseal.
	sec, err = s.Client.Logical().List("sys/version-history")
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := sec.Data["keys"].([]any)
	info, _ := sec.Data["key_info"].(map[string]any)
	if len(keys) != 1 {
		t.Fatalf("version-history = %v", sec.Data)
	}
	v, _ := info[keys[0].(string)].(map[string]any)
	if _, err := time.Parse(time.RFC3339, fmt.Sprint(v["timestamp_installed"])); err != nil || v["previous_version"] != nil {
		t.Errorf("version-history entry = %v", v)
	}
}

// TestOperatorDiagnose runs `coffer operator diagnose` on configurations
// that pass, warn and fail.
func TestOperatorDiagnose(t *testing.T) {
	t.Parallel()
	db := testdb.New(t, testdb.Postgres)
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	boltPath := filepath.Join(dir, "data", "coffer.db")
	addr := freeAddr(t)
	good := writeConfig(t, fmt.Sprintf(`
storage "bolt" {
  path = %q
}
listener "tcp" {
  address       = %q
  tls_cert_file = %q
  tls_key_file  = %q
}
`, boltPath, addr, cert, key))
	pg := writeConfig(t, fmt.Sprintf(`
storage "postgresql" {
  connection_url = "postgres://postgres:pw-not-shown@127.0.0.1:5432/%s?sslmode=disable"
}
listener "tcp" {
  address     = "127.0.0.1:0"
  tls_disable = true
}
`, db.Name))
	mismatch := writeConfig(t, fmt.Sprintf(`
storage "bolt" {
  path = %q
}
listener "tcp" {
  address       = "127.0.0.1:0"
  tls_cert_file = %q
  tls_key_file  = %q
}
`, boltPath, cert, filepath.Join(dir, "missing.key")))

	sealCfg := func(block string) string {
		return writeConfig(t, fmt.Sprintf("storage \"bolt\" {\n  path = %q\n}\nlistener \"tcp\" {\n  address = \"127.0.0.1:0\"\n  tls_disable = true\n}\n%s",
			filepath.Join(dir, "seal", "coffer.db"), block))
	}
	staticOK := sealCfg(staticBlock(writeKeyFile(t, dir, "seal.key"), false))
	transitDown := sealCfg(fmt.Sprintf("seal \"transit\" {\n  address = \"http://%s\"\n  token = \"tok-not-shown\"\n  key_name = \"k\"\n}\n", freeAddr(t)))

	tests := []struct {
		name    string
		args    []string
		code    int
		want    []string
		notWant []string
	}{
		{"static seal", []string{"-config", staticOK}, 0, []string{"[ ok ] seal: static: the key source wrapped and unwrapped a probe value"}, []string{"[fail]"}},
		{"transit seal down", []string{"-config", transitDown}, 2, []string{"[fail] seal: transit:"}, []string{"tok-not-shown"}},
		// selfSigned's certificate lives an hour: it passes, with a warning.
		{"good", []string{"-config", good}, 0, []string{"[ ok ] configuration", "[ ok ] storage: bolt file", "does not exist yet", "[ ok ] listener", "[warn] listener", "expires in 0 days", "No check failed"}, []string{"[fail]"}},
		{"postgresql", []string{"-config", pg}, 0, []string{"[ ok ] storage: postgresql table coffer_kv_store is reachable; it is not initialized", "[warn] listener"}, []string{"pw-not-shown", "postgres://"}},
		{"missing key file", []string{"-config", mismatch}, 2, []string{"[fail] listener", "missing.key", "Some checks failed"}, nil},
		{"bad config", []string{"-config", writeConfig(t, `storage "bolt" {}`)}, 2, []string{"[fail] configuration:", "needs a path"}, nil},
		{"no config", nil, 1, []string{"-config is required"}, nil},
	}
	for _, tt := range tests {
		code, stdout, stderr := runCoffer(t, "", sealEnv, append([]string{"operator", "diagnose"}, tt.args...)...)
		if code != tt.code {
			t.Errorf("%s: exit %d, want %d\nstdout: %s\nstderr: %s", tt.name, code, tt.code, stdout, stderr)
		}
		for _, w := range tt.want {
			if !strings.Contains(stdout+stderr, w) {
				t.Errorf("%s: output lacks %q\nstdout: %s\nstderr: %s", tt.name, w, stdout, stderr)
			}
		}
		for _, w := range tt.notWant {
			if strings.Contains(stdout+stderr, w) {
				t.Errorf("%s: output has %q\nstdout: %s", tt.name, w, stdout)
			}
		}
	}

	// With the server running on the good configuration, its file and
	// address are taken: warnings, not failures.
	startProcess(t, []string{"server", "-config", good}, nil, "https://"+addr)
	code, stdout, _ := runCoffer(t, "", nil, "operator", "diagnose", "-config", good)
	if code != 0 || !strings.Contains(stdout, "[warn] storage: bolt file") || !strings.Contains(stdout, "is locked") || !strings.Contains(stdout, "cannot listen") {
		t.Errorf("diagnose beside a running server: exit %d\n%s", code, stdout)
	}
}

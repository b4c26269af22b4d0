package conformance

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/coffer-secrets/coffer/internal/testdb"
	"github.com/hashicorp/vault/api"
)

// clientWith returns a client for s with tok.
func (s *server) clientWith(t testing.TB, tok string) *api.Client {
	t.Helper()
	c, err := s.Client.Clone()
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(tok)
	return c
}

// tokenWithPolicy writes policy name with body and returns a new token
// holding it (and default).
func (s *server) tokenWithPolicy(t testing.TB, name, body string) string {
	t.Helper()
	if err := s.Client.Sys().PutPolicy(name, body); err != nil {
		t.Fatal(err)
	}
	sec, err := s.Client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{name}})
	if err != nil {
		t.Fatal(err)
	}
	return sec.Auth.ClientToken
}

// TestTokenStoreSemantics compares the token store's answers with Vault's:
// looking up a token that does not exist is 403 "bad token"; revoking one
// is idempotent (204); renewing one is 400 "token not found"; no_parent
// without sudo is refused with Vault's words, while create-orphan is
// governed by the ACL on its own path.
func TestTokenStoreSemantics(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	tokens := s.Client.Auth().Token()

	_, err := tokens.Lookup("cfs.doesnotexist")
	wantError(t, "lookup of an unknown token", err, http.StatusForbidden, "bad token")
	_, err = s.Client.Logical().Write("auth/token/lookup", map[string]any{})
	wantError(t, "lookup without a token", err, http.StatusBadRequest, "missing token ID")

	if err := tokens.RevokeTree("cfs.doesnotexist"); err != nil {
		t.Errorf("revoke of an unknown token: %v, want 204", err)
	}
	child, err := tokens.Create(&api.TokenCreateRequest{Policies: []string{"default"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := tokens.RevokeTree(child.Auth.ClientToken); err != nil {
			t.Errorf("revoke #%d of a token: %v, want 204", i+1, err)
		}
	}
	_, err = tokens.Renew("cfs.doesnotexist", 0)
	wantError(t, "renew of an unknown token", err, http.StatusBadRequest, "token not found")
	err = tokens.RevokeOrphan("cfs.doesnotexist")
	wantError(t, "revoke-orphan of an unknown token", err, http.StatusBadRequest, "token to revoke not found")

	creator := s.clientWith(t, s.tokenWithPolicy(t, "creator", `
path "auth/token/create" { capabilities = ["update"] }
path "auth/token/create-orphan" { capabilities = ["update"] }`)).Auth().Token()
	_, err = creator.Create(&api.TokenCreateRequest{NoParent: true})
	wantError(t, "no_parent without sudo", err, http.StatusBadRequest, "root or sudo privileges required to create orphan token")
	_, err = creator.Create(&api.TokenCreateRequest{ID: "chosen-id"})
	wantError(t, "choosing an ID without sudo", err, http.StatusBadRequest, "root or sudo privileges required to specify token id")
	orphan, err := creator.CreateOrphan(&api.TokenCreateRequest{})
	if err != nil || orphan.Auth == nil || !orphan.Auth.Orphan {
		t.Errorf("create-orphan allowed by its ACL = %+v, %v; want an orphan token", orphan, err)
	}
	_, err = creator.Create(&api.TokenCreateRequest{Policies: []string{"root"}})
	wantError(t, "a root child of a non-root token", err, http.StatusBadRequest, "child policies must be subset of parent")
}

// tuneLegacy tunes path with the client's older TuneMount, which sends ""
// for every TTL it does not set (as many tools still do).
func tuneLegacy(sys *api.Sys, path string, in api.MountConfigInput) error {
	//lint:ignore SA1019 the deprecated call sends "" for an unset TTL, the case under test
	return sys.TuneMount(path, in)
}

// TestTuneTTLs checks that a tune refuses a default lease TTL above the
// mount's max lease TTL with 400, for secrets engines and auth methods,
// that the official client's tune of one TTL leaves the other as it is
// (the client sends "" for it), and that "system" resets a TTL.
func TestTuneTTLs(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	sys := s.Client.Sys()
	if err := sys.Mount("kvt", &api.MountInput{Type: "kv"}); err != nil {
		t.Fatal(err)
	}
	if err := sys.EnableAuthWithOptions("upt", &api.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatal(err)
	}
	for _, mount := range []string{"kvt", "auth/upt"} {
		if err := tuneLegacy(sys, mount, api.MountConfigInput{MaxLeaseTTL: "1h"}); err != nil {
			t.Fatalf("tune %s max 1h: %v", mount, err)
		}
		err := tuneLegacy(sys, mount, api.MountConfigInput{DefaultLeaseTTL: "2h"})
		wantError(t, "tune "+mount+" default above max", err, http.StatusBadRequest, "would be less than backend default lease TTL")
		if err := tuneLegacy(sys, mount, api.MountConfigInput{DefaultLeaseTTL: "30m"}); err != nil {
			t.Fatalf("tune %s default 30m: %v", mount, err)
		}
		cfg, err := sys.MountConfig(mount)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.DefaultLeaseTTL != 1800 || cfg.MaxLeaseTTL != 3600 {
			t.Errorf("%s after tunes: default %d max %d, want 1800 3600", mount, cfg.DefaultLeaseTTL, cfg.MaxLeaseTTL)
		}
		if err := tuneLegacy(sys, mount, api.MountConfigInput{DefaultLeaseTTL: "system"}); err != nil {
			t.Fatalf("tune %s default system: %v", mount, err)
		}
		if cfg, err := sys.MountConfig(mount); err != nil || cfg.MaxLeaseTTL != 3600 || cfg.DefaultLeaseTTL == 1800 {
			t.Errorf("%s after default=system: %+v, %v; want the server's default and max 3600", mount, cfg, err)
		}
	}
}

// TestDisableBuiltinMounts checks that disabling a mount Coffer serves
// itself is refused with 400 and Vault's words, and that disabling a path
// with nothing mounted still answers 204.
func TestDisableBuiltinMounts(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	for _, tt := range []struct {
		path, words string
	}{
		{"/v1/sys/mounts/sys", `cannot unmount \"sys/\"`},
		{"/v1/sys/mounts/cubbyhole", `cannot unmount \"cubbyhole/\"`},
		{"/v1/sys/mounts/identity", `cannot unmount \"identity/\"`},
		{"/v1/sys/auth/token", "token credential backend cannot be disabled"},
	} {
		r := s.raw(t, http.MethodDelete, tt.path, rootToken, "")
		if r.Status != http.StatusBadRequest || !strings.Contains(r.Body, tt.words) {
			t.Errorf("DELETE %s = %d %s, want 400 with %s", tt.path, r.Status, r.Body, tt.words)
		}
	}
	_, err := s.Client.Logical().Write("sys/remount", map[string]any{"from": "cubbyhole", "to": "c2"})
	wantError(t, "move cubbyhole/", err, http.StatusBadRequest, `cannot remount "cubbyhole/"`)
	if err := s.Client.Sys().Unmount("nothing-here"); err != nil {
		t.Errorf("disable a path with nothing mounted: %v, want 204", err)
	}
	if _, err := s.Client.Logical().Write("cubbyhole/still", map[string]any{"a": "b"}); err != nil {
		t.Errorf("cubbyhole after the refused disable: %v", err)
	}
}

// TestLeaseRenewAndRevoke checks sys/leases against Vault with a real
// leased secret (database credentials on the local PostgreSQL): a renewal
// answers the TTL granted (increment=120 gives 120, not 119); a renewal
// without an increment renews to the lease's original TTL from now, every
// time (it does not grow); revocation is idempotent (204 for a lease
// already revoked, also by prefix and by force); and the errors carry
// Vault's words.
func TestLeaseRenewAndRevoke(t *testing.T) {
	t.Parallel()
	d := testdb.New(t, testdb.Postgres)
	s := startDev(t)
	cl := s.Client
	if err := cl.Sys().Mount("database", &api.MountInput{Type: "database"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Logical().Write("database/config/db", map[string]any{
		"plugin_name": d.Plugin, "connection_url": d.URL, "username": d.User, "password": d.Password, "allowed_roles": "*",
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Logical().Write("database/roles/app", map[string]any{
		"db_name": "db", "creation_statements": d.Creation(), "default_ttl": "20m", "max_ttl": "2h",
	}); err != nil {
		t.Fatal(err)
	}
	sec, err := cl.Logical().Read("database/creds/app")
	if err != nil {
		t.Fatal(err)
	}
	if sec.LeaseDuration != 1200 {
		t.Fatalf("lease_duration = %d, want 1200", sec.LeaseDuration)
	}
	rn, err := cl.Sys().Renew(sec.LeaseID, 120)
	if err != nil || rn.LeaseDuration != 120 {
		t.Fatalf("renew increment=120 = %+v, %v; want lease_duration 120", rn, err)
	}
	for i := range 3 {
		rn, err := cl.Sys().Renew(sec.LeaseID, 0)
		if err != nil || rn.LeaseDuration != 1200 {
			t.Fatalf("renew #%d without an increment = %+v, %v; want lease_duration 1200", i+1, rn, err)
		}
	}
	lk, err := cl.Logical().Write("sys/leases/lookup", map[string]any{"lease_id": sec.LeaseID})
	if err != nil {
		t.Fatal(err)
	}
	if ttl, _ := lk.Data["ttl"].(json.Number).Int64(); ttl > 1200 || ttl < 1190 {
		t.Errorf("lookup after renewals: ttl %d, want about 1200", ttl)
	}

	for i := range 2 {
		if err := cl.Sys().Revoke(sec.LeaseID); err != nil {
			t.Errorf("revoke #%d: %v, want 204", i+1, err)
		}
	}
	if err := cl.Sys().RevokePrefix("database/creds/app"); err != nil {
		t.Errorf("revoke-prefix with nothing left: %v, want 204", err)
	}
	if err := cl.Sys().RevokeForce("database/creds/nothing"); err != nil {
		t.Errorf("revoke-force with nothing there: %v, want 204", err)
	}
	_, err = cl.Sys().Renew(sec.LeaseID, 60)
	wantError(t, "renew of a revoked lease", err, http.StatusBadRequest, "lease not found")
	_, err = cl.Logical().Write("sys/leases/lookup", map[string]any{"lease_id": sec.LeaseID})
	wantError(t, "lookup of a revoked lease", err, http.StatusBadRequest, "invalid lease")
	_, err = cl.Logical().Write("sys/leases/revoke", map[string]any{})
	wantError(t, "revoke without a lease ID", err, http.StatusBadRequest, "lease_id must be specified")
	_, err = cl.Logical().Write("sys/leases/renew", map[string]any{})
	wantError(t, "renew without a lease ID", err, http.StatusBadRequest, "lease_id must be specified")
}

// TestLogComponentOnce checks that no server log line names its component
// twice (a logger scoped both by core and by the package it is handed to
// printed component=identity component=identity).
func TestLogComponentOnce(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	s := startProcess(t, []string{"server", "--dev", "--dev-root-token=" + rootToken, "--listen=" + addr}, []string{"COFFER_LOG_LEVEL=debug"}, "http://"+addr)
	s.Client.SetToken(rootToken)
	if _, err := s.Client.Auth().Token().LookupSelf(); err != nil {
		t.Fatal(err)
	}
	s.stop()
	logs := s.Stdout.String() + s.Stderr.String()
	if !strings.Contains(logs, "component=identity") {
		t.Fatalf("no identity log line at debug level; logs:\n%s", logs)
	}
	for line := range strings.SplitSeq(logs, "\n") {
		if strings.Count(line, "component=") > 1 {
			t.Errorf("log line names its component more than once: %s", line)
		}
	}
}

// TestPluginCatalog checks sys/plugins/catalog in Vault's shapes: the
// built-in engines, auth methods and database plugins, listed all at once
// and by type, each readable as a built-in plugin with a "+builtin"
// version; registering or removing a plugin is refused with 400.
func TestPluginCatalog(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	sys := s.Client.Sys()
	all, err := sys.ListPlugins(&api.ListPluginsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for typ, want := range map[api.PluginType]string{api.PluginTypeSecrets: "kv", api.PluginTypeCredential: "approle", api.PluginTypeDatabase: "postgresql-database-plugin"} {
		if !slices.Contains(all.PluginsByType[typ], want) {
			t.Errorf("catalog %s = %v, want %s among them", typ, all.PluginsByType[typ], want)
		}
	}
	if slices.Contains(all.PluginsByType[api.PluginTypeSecrets], "cubbyhole") {
		t.Errorf("catalog lists cubbyhole, which cannot be enabled")
	}
	if len(all.Details) == 0 || !all.Details[0].Builtin || !strings.HasSuffix(all.Details[0].Version, "+builtin") || !strings.HasPrefix(all.Details[0].Version, "v") {
		t.Errorf("catalog details = %+v, want built-in plugins with a v...+builtin version", all.Details)
	}
	auth, err := sys.ListPlugins(&api.ListPluginsInput{Type: api.PluginTypeCredential})
	if err != nil || !slices.Contains(auth.PluginsByType[api.PluginTypeCredential], "userpass") {
		t.Errorf("auth plugins = %+v, %v", auth, err)
	}
	list, err := s.Client.Logical().List("sys/plugins/catalog/secret")
	if err != nil || list == nil || !slices.Contains(list.Data["keys"].([]any), any("transit")) {
		t.Errorf("LIST sys/plugins/catalog/secret = %v, %v", list, err)
	}
	p, err := sys.GetPlugin(&api.GetPluginInput{Type: api.PluginTypeSecrets, Name: "kv"})
	if err != nil || p.Name != "kv" || !p.Builtin || !strings.HasSuffix(p.Version, "+builtin") {
		t.Errorf("get plugin kv = %+v, %v", p, err)
	}
	_, err = sys.GetPlugin(&api.GetPluginInput{Type: api.PluginTypeSecrets, Name: "nope"})
	if statusCode(err) != http.StatusNotFound {
		t.Errorf("get an unknown plugin: %v, want 404", err)
	}
	err = sys.RegisterPlugin(&api.RegisterPluginInput{Type: api.PluginTypeSecrets, Name: "mine", Command: "mine", SHA256: strings.Repeat("ab", 32)})
	wantError(t, "register a plugin", err, http.StatusBadRequest, "no external plugins")
	err = sys.DeregisterPlugin(&api.DeregisterPluginInput{Type: api.PluginTypeSecrets, Name: "kv"})
	wantError(t, "deregister a built-in plugin", err, http.StatusBadRequest, "no external plugins")
	// The catalog's entries need sudo, as in Vault; the listing does not.
	reader := s.clientWith(t, s.tokenWithPolicy(t, "plugin-reader", `path "sys/plugins/catalog*" { capabilities = ["read", "list"] }`))
	if _, err := reader.Sys().ListPlugins(&api.ListPluginsInput{}); err != nil {
		t.Errorf("catalog listing without sudo: %v", err)
	}
	_, err = reader.Sys().GetPlugin(&api.GetPluginInput{Type: api.PluginTypeSecrets, Name: "kv"})
	wantError(t, "read a plugin without sudo", err, http.StatusForbidden, "permission denied")
}

// TestHostInfo checks sys/host-info in Vault's shape (cpu, cpu_times,
// disk, host, memory, timestamp), and that it needs sudo.
func TestHostInfo(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	sec, err := s.Client.Logical().Read("sys/host-info")
	if err != nil || sec == nil {
		t.Fatalf("sys/host-info = %v, %v", sec, err)
	}
	for _, k := range []string{"cpu", "cpu_times", "disk", "host", "memory", "timestamp"} {
		if _, ok := sec.Data[k]; !ok {
			t.Errorf("sys/host-info has no %q: %v", k, sec.Data)
		}
	}
	host, _ := sec.Data["host"].(map[string]any)
	if host["hostname"] == "" || host["os"] == "" {
		t.Errorf("host = %v, want a hostname and an os", host)
	}
	if cpus, _ := sec.Data["cpu"].([]any); len(cpus) == 0 {
		t.Errorf("cpu = %v, want at least one", sec.Data["cpu"])
	}
	reader := s.clientWith(t, s.tokenWithPolicy(t, "host-reader", `path "sys/host-info" { capabilities = ["read"] }`))
	_, err = reader.Logical().Read("sys/host-info")
	wantError(t, "sys/host-info without sudo", err, http.StatusForbidden, "permission denied")
}

package conformance

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// thresholdServer starts a non-dev server on bolt storage in a temp dir,
// initializes it with shares/threshold, unseals it and returns it with its
// base64 unseal keys and the root token set on its client.
func thresholdServer(t *testing.T, shares, threshold int, listenerExtra string) (*server, []string) {
	t.Helper()
	addr := freeAddr(t)
	dir := t.TempDir()
	src := fmt.Sprintf("storage \"bolt\" {\n  path = %q\n}\nlistener \"tcp\" {\n  address = %q\n  tls_disable = true\n%s}\n", filepath.Join(dir, "data"), addr, listenerExtra)
	s := startProcess(t, []string{"server", "-config=" + writeConfig(t, src)}, nil, "http://"+addr)
	init, err := s.Client.Sys().Init(&api.InitRequest{SecretShares: shares, SecretThreshold: threshold})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range init.KeysB64[:threshold] {
		if _, err := s.Client.Sys().Unseal(k); err != nil {
			t.Fatal(err)
		}
	}
	s.Client.SetToken(init.RootToken)
	return s, init.KeysB64
}

// cliEnvToken points the coffer CLI at s with token.
func cliEnvToken(s *server, token string) []string {
	return []string{"COFFER_ADDR=" + s.Addr, "COFFER_TOKEN=" + token, "VAULT_ADDR=", "VAULT_TOKEN=", "COFFER_MAX_RETRIES=0"}
}

// coffer runs the CLI against s and fails the test on a non-zero exit.
func coffer(t *testing.T, s *server, stdin string, args ...string) string {
	t.Helper()
	code, stdout, stderr := runCoffer(t, stdin, cliEnvToken(s, s.Client.Token()), args...)
	if code != 0 {
		t.Fatalf("coffer %s: exit %d: %s", strings.Join(args, " "), code, stderr)
	}
	return stdout
}

// reseal seals s and unseals it with keys.
func reseal(t *testing.T, s *server, keys []string) {
	t.Helper()
	if err := s.Client.Sys().Seal(); err != nil {
		t.Fatal(err)
	}
	unsealWith(t, s, keys)
}

// unsealWith unseals s with keys; it fails the test if the server is
// still sealed afterwards.
func unsealWith(t *testing.T, s *server, keys []string) {
	t.Helper()
	var st *api.SealStatusResponse
	var err error
	for _, k := range keys {
		if st, err = s.Client.Sys().Unseal(k); err != nil {
			t.Fatalf("unseal: %v", err)
		}
	}
	if st == nil || st.Sealed {
		t.Fatalf("still sealed after %d keys: %+v", len(keys), st)
	}
}

// badShare is a well-formed share (32 bytes and an index) of no key.
func badShare(index byte) string {
	b := make([]byte, 33)
	for i := range b {
		b[i] = byte(i*7 + 1)
	}
	b[32] = index
	return base64.StdEncoding.EncodeToString(b)
}

func TestRekeyThresholdThroughCLI(t *testing.T) {
	t.Parallel()
	s, keys := thresholdServer(t, 5, 3, "")
	sys := s.Client.Sys()

	// Errors before any attempt.
	_, err := sys.RekeyUpdate(keys[0], "x")
	wantError(t, "update without a rekey", err, 400, "no barrier rekey in progress")
	_, err = sys.RekeyInit(&api.RekeyInitRequest{SecretShares: 3, SecretThreshold: 4})
	wantError(t, "threshold above shares", err, 400, "threshold greater than the total shares")
	_, err = sys.RekeyInit(&api.RekeyInitRequest{SecretShares: 3, SecretThreshold: 2, PGPKeys: []string{"x", "y", "z"}})
	wantError(t, "pgp_keys", err, 400, "PGP")

	var st api.RekeyStatusResponse
	if err := json.Unmarshal([]byte(coffer(t, s, "", "operator", "rekey", "-init", "-key-shares=3", "-key-threshold=2", "-format=json")), &st); err != nil {
		t.Fatal(err)
	}
	if !st.Started || st.N != 3 || st.T != 2 || st.Required != 3 || st.Nonce == "" {
		t.Fatalf("rekey -init = %+v", st)
	}
	_, err = sys.RekeyInit(&api.RekeyInitRequest{SecretShares: 3, SecretThreshold: 2})
	wantError(t, "second init", err, 400, "rekey already in progress")
	_, err = sys.RekeyUpdate(keys[0], "wrong-nonce")
	wantError(t, "wrong nonce", err, 400, "incorrect nonce")
	wantError(t, "cancel without nonce", sys.RekeyCancel(), 400, "nonce")
	wantError(t, "cancel with a wrong nonce", sys.RekeyCancelWithNonce("wrong"), 400, "incorrect nonce")

	// A wrong share at the threshold: refused, progress reset, attempt kept.
	coffer(t, s, keys[0]+"\n", "operator", "rekey", "-nonce="+st.Nonce, "-")
	_, err = sys.RekeyUpdate(keys[0], st.Nonce)
	wantError(t, "duplicate key", err, 400, "already been provided")
	coffer(t, s, "", "operator", "rekey", "-nonce="+st.Nonce, keys[1])
	_, err = sys.RekeyUpdate(badShare(200), st.Nonce)
	wantError(t, "bad key", err, 400, "verification failed")
	if got, _ := sys.RekeyStatus(); !got.Started || got.Progress != 0 || got.Nonce != st.Nonce {
		t.Fatalf("status after a bad key = %+v, want the attempt kept with no progress", got)
	}

	// Three good keys through the CLI (stdin, argument, stdin).
	coffer(t, s, keys[2]+"\n", "operator", "rekey", "-nonce="+st.Nonce)
	coffer(t, s, "", "operator", "rekey", "-nonce="+st.Nonce, keys[3])
	var done api.RekeyUpdateResponse
	if err := json.Unmarshal([]byte(coffer(t, s, keys[4]+"\n", "operator", "rekey", "-format=json", "-nonce="+st.Nonce, "-")), &done); err != nil {
		t.Fatal(err)
	}
	if !done.Complete || len(done.KeysB64) != 3 || len(done.Keys) != 3 {
		t.Fatalf("completing rekey = %+v", done)
	}
	if got, _ := sys.SealStatus(); got.N != 3 || got.T != 2 {
		t.Fatalf("seal-status after rekey: n=%d t=%d, want 3 and 2", got.N, got.T)
	}
	// The old keys no longer unseal; two new ones do.
	if err := sys.Seal(); err != nil {
		t.Fatal(err)
	}
	if _, err := sys.Unseal(keys[0]); err != nil {
		t.Fatal(err)
	}
	_, err = sys.Unseal(keys[1]) // the new threshold is 2
	wantError(t, "unseal with old keys", err, 400, "unseal failed")
	unsealWith(t, s, done.KeysB64[1:])
}

func TestRekeyWithVerification(t *testing.T) {
	t.Parallel()
	s, keys := thresholdServer(t, 1, 1, "")
	sys := s.Client.Sys()
	st, err := sys.RekeyInit(&api.RekeyInitRequest{SecretShares: 2, SecretThreshold: 2, RequireVerification: true})
	if err != nil || !st.VerificationRequired {
		t.Fatalf("rekey init = %+v, %v", st, err)
	}
	res, err := sys.RekeyUpdate(keys[0], st.Nonce)
	if err != nil || !res.Complete || !res.VerificationRequired || res.VerificationNonce == "" || len(res.KeysB64) != 2 {
		t.Fatalf("rekey update = %+v, %v", res, err)
	}
	_, err = sys.RekeyUpdate(keys[0], st.Nonce)
	wantError(t, "update while verifying", err, 400, "verification must be performed")
	// Still the old key until verified.
	if got, _ := sys.SealStatus(); got.N != 1 {
		t.Fatalf("shares before verification = %d, want 1", got.N)
	}
	vs, err := sys.RekeyVerificationStatus()
	if err != nil || vs.Nonce != res.VerificationNonce || vs.N != 2 || vs.T != 2 {
		t.Fatalf("verify status = %+v, %v", vs, err)
	}
	_, err = sys.RekeyVerificationUpdate(res.KeysB64[0], "wrong")
	wantError(t, "verify with a wrong nonce", err, 400, "incorrect nonce")
	if _, err := sys.RekeyVerificationUpdate(res.KeysB64[0], res.VerificationNonce); err != nil {
		t.Fatal(err)
	}
	_, err = sys.RekeyVerificationUpdate(badShare(77), res.VerificationNonce)
	wantError(t, "verify with a wrong key", err, 400, "rekey verification failed")
	out := coffer(t, s, res.KeysB64[0]+"\n", "operator", "rekey", "-verify", "-nonce="+res.VerificationNonce)
	if !strings.Contains(out, "Verification Progress") {
		t.Fatalf("rekey -verify output:\n%s", out)
	}
	out = coffer(t, s, "", "operator", "rekey", "-verify", "-nonce="+res.VerificationNonce, res.KeysB64[1])
	if !strings.Contains(out, "complete") {
		t.Fatalf("rekey -verify output:\n%s", out)
	}
	if got, _ := sys.SealStatus(); got.N != 2 || got.T != 2 {
		t.Fatalf("seal-status after verification: n=%d t=%d", got.N, got.T)
	}
	reseal(t, s, res.KeysB64)
}

func TestGenerateRootThroughCLI(t *testing.T) {
	t.Parallel()
	s, keys := thresholdServer(t, 5, 3, "")
	sys := s.Client.Sys()
	// Put a secret to read with the new token later, then revoke the
	// original root token.
	if err := sys.Mount("kv", &api.MountInput{Type: "kv"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.Logical().Write("kv/x", map[string]any{"v": "1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Client.Auth().Token().RevokeSelf(""); err != nil {
		t.Fatal(err)
	}

	_, err := sys.GenerateRootUpdate(keys[0], "x")
	wantError(t, "update without an attempt", err, 400, "no root generation in progress")
	_, err = sys.GenerateRootInit("short", "")
	wantError(t, "otp of a wrong length", err, 400, "OTP string has incorrect length")

	var st api.GenerateRootStatusResponse
	if err := json.Unmarshal([]byte(coffer(t, s, "", "operator", "generate-root", "-init", "-format=json")), &st); err != nil {
		t.Fatal(err)
	}
	if !st.Started || st.OTP == "" || len(st.OTP) != st.OTPLength || st.Required != 3 {
		t.Fatalf("generate-root -init = %+v", st)
	}
	_, err = sys.GenerateRootInit("", "")
	wantError(t, "second init", err, 400, "already in progress")
	if got, _ := sys.GenerateRootStatus(); got.OTP != "" || got.Nonce != st.Nonce {
		t.Fatalf("status shows %+v; want the nonce and never the OTP", got)
	}
	_, err = sys.GenerateRootUpdate(keys[0], "wrong")
	wantError(t, "wrong nonce", err, 400, "incorrect nonce")
	wantError(t, "cancel without nonce", sys.GenerateRootCancel(), 400, "nonce")

	coffer(t, s, keys[0]+"\n", "operator", "generate-root", "-nonce="+st.Nonce, "-")
	_, err = sys.GenerateRootUpdate(keys[0], st.Nonce)
	wantError(t, "duplicate key", err, 400, "already been provided")
	coffer(t, s, "", "operator", "generate-root", "-nonce="+st.Nonce, keys[1])
	_, err = sys.GenerateRootUpdate(badShare(99), st.Nonce)
	wantError(t, "bad key", err, 400, "root generation aborted")

	coffer(t, s, "", "operator", "generate-root", "-nonce="+st.Nonce, keys[2])
	coffer(t, s, keys[3]+"\n", "operator", "generate-root", "-nonce="+st.Nonce)
	var done api.GenerateRootStatusResponse
	if err := json.Unmarshal([]byte(coffer(t, s, "", "operator", "generate-root", "-format=json", "-nonce="+st.Nonce, keys[4])), &done); err != nil {
		t.Fatal(err)
	}
	if !done.Complete || done.EncodedToken == "" || done.EncodedRootToken != done.EncodedToken {
		t.Fatalf("completing generate-root = %+v", done)
	}
	tok := strings.TrimSpace(coffer(t, s, "", "operator", "generate-root", "-decode="+done.EncodedToken, "-otp="+st.OTP))
	s.Client.SetToken(tok)
	sec, err := s.Client.Auth().Token().LookupSelf()
	if err != nil {
		t.Fatalf("the generated token does not work: %v", err)
	}
	if pols, _ := sec.TokenPolicies(); len(pols) != 1 || pols[0] != "root" {
		t.Fatalf("generated token policies = %v, want [root]", pols)
	}
	if sec, err := s.Client.Logical().Read("kv/x"); err != nil || sec == nil || sec.Data["v"] != "1" {
		t.Fatalf("read with the generated root token = %v, %v", sec, err)
	}

	// -generate-otp and -otp: a caller-chosen pad, then cancel with nonce.
	otp := strings.TrimSpace(coffer(t, s, "", "operator", "generate-root", "-generate-otp"))
	if len(otp) != st.OTPLength {
		t.Fatalf("-generate-otp printed %q, want %d characters", otp, st.OTPLength)
	}
	st2, err := sys.GenerateRootInit(otp, "")
	if err != nil || st2.OTP != "" {
		t.Fatalf("init with an OTP = %+v, %v", st2, err)
	}
	coffer(t, s, "", "operator", "generate-root", "-cancel", "-nonce="+st2.Nonce)
	if got, _ := sys.GenerateRootStatus(); got.Started {
		t.Fatalf("status after cancel = %+v", got)
	}
}

func TestCeremoniesDisabledOnListener(t *testing.T) {
	t.Parallel()
	s, _ := thresholdServer(t, 1, 1, "  disable_unauthed_rekey_endpoints = true\n  disable_unauthed_generate_root_endpoints = true\n")
	for _, p := range []string{"/v1/sys/rekey/init", "/v1/sys/rekey/update", "/v1/sys/generate-root/attempt"} {
		for _, tok := range []string{"", s.Client.Token()} {
			if r := s.raw(t, http.MethodGet, p, tok, ""); r.Status != http.StatusMethodNotAllowed {
				t.Errorf("GET %s (token %v) = %d %s, want 405", p, tok != "", r.Status, r.Body)
			}
		}
	}
	_, err := s.Client.Sys().RekeyInit(&api.RekeyInitRequest{SecretShares: 1, SecretThreshold: 1})
	wantError(t, "rekey init on a disabled listener", err, 405, "disabled")
}

func TestCeremoniesAuditedWithoutSecrets(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	unseal := s.devUnsealKey(t)
	logPath := filepath.Join(t.TempDir(), "audit.log")
	if err := s.Client.Sys().EnableAuditWithOptions("file", &api.EnableAuditOptions{Type: "file", Options: map[string]string{"file_path": logPath}}); err != nil {
		t.Fatal(err)
	}
	st, err := s.Client.Sys().GenerateRootInit("", "")
	if err != nil {
		t.Fatal(err)
	}
	done, err := s.Client.Sys().GenerateRootUpdate(unseal, st.Nonce)
	if err != nil || !done.Complete {
		t.Fatalf("generate-root = %+v, %v", done, err)
	}
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	log := string(b)
	if !strings.Contains(log, "sys/generate-root/update") || !strings.Contains(log, "sys/generate-root/attempt") {
		t.Fatalf("the ceremony was not audited:\n%s", log)
	}
	for name, secret := range map[string]string{"key share": unseal, "OTP": st.OTP, "encoded token": done.EncodedToken} {
		if strings.Contains(log, secret) {
			t.Errorf("the audit log holds the %s in clear", name)
		}
	}
}

func TestRotateConfigRotatesAutomatically(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	l := s.Client.Logical()
	sec, err := l.Read("sys/rotate/config")
	if err != nil || sec == nil || sec.Data["enabled"] != true {
		t.Fatalf("default rotate config = %v, %v", sec, err)
	}
	_, err = l.Write("sys/rotate/config", map[string]any{"max_operations": 5})
	wantError(t, "max_operations below the minimum", err, 400, "max_operations")
	ks, err := s.Client.Sys().KeyStatus()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Write("sys/rotate/config", map[string]any{"interval": "1s", "max_operations": 2000000}); err != nil {
		t.Fatal(err)
	}
	sec, err = l.Read("sys/rotate/config")
	if err != nil || fmt.Sprint(sec.Data["interval"]) != "1" || fmt.Sprint(sec.Data["max_operations"]) != "2000000" {
		t.Fatalf("rotate config after write = %v, %v", sec.Data, err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		now, err := s.Client.Sys().KeyStatus()
		if err != nil {
			t.Fatal(err)
		}
		if now.Term > ks.Term {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("key term still %d after 15s with interval 1s", now.Term)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := l.Write("sys/rotate/config", map[string]any{"enabled": false}); err != nil {
		t.Fatal(err)
	}
	if sec, _ := l.Read("sys/rotate/config"); sec.Data["enabled"] != false || fmt.Sprint(sec.Data["interval"]) != "1" {
		t.Fatalf("rotate config after disabling = %v", sec.Data)
	}
}

// TestGenerateRootWithRecoveryKeys: on an auto-sealed server generate-root
// takes the recovery keys (their threshold), as Vault's does, and a
// barrier rekey is refused with a clear 400.
func TestGenerateRootWithRecoveryKeys(t *testing.T) {
	t.Parallel()
	ss := newSealServer(t)
	s := ss.start(t, staticBlock(writeKeyFile(t, ss.dir, "unseal.key"), false))
	res, err := s.Client.Sys().Init(&api.InitRequest{RecoveryShares: 3, RecoveryThreshold: 2})
	if err != nil {
		t.Fatal(err)
	}
	waitUnsealed(t, s, 5*time.Second)
	s.Client.SetToken(res.RootToken)
	_, err = s.Client.Sys().RekeyInit(&api.RekeyInitRequest{SecretShares: 3, SecretThreshold: 2})
	wantError(t, "barrier rekey with an auto seal", err, 400, "not supported with the static seal")
	if err := s.Client.Auth().Token().RevokeSelf(""); err != nil {
		t.Fatal(err)
	}

	var st api.GenerateRootStatusResponse
	if err := json.Unmarshal([]byte(coffer(t, s, "", "operator", "generate-root", "-init", "-format=json")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Required != 2 {
		t.Fatalf("generate-root -init = %+v, want the recovery threshold 2", st)
	}
	_, err = s.Client.Sys().GenerateRootUpdate(badShare(7), st.Nonce)
	if err != nil {
		t.Fatalf("first (bad) share: %v", err)
	}
	_, err = s.Client.Sys().GenerateRootUpdate(res.RecoveryKeysB64[0], st.Nonce)
	wantError(t, "a bad recovery share in the threshold", err, 400, "root generation aborted")
	coffer(t, s, "", "operator", "generate-root", "-nonce="+st.Nonce, res.RecoveryKeysB64[1])
	var done api.GenerateRootStatusResponse
	if err := json.Unmarshal([]byte(coffer(t, s, "", "operator", "generate-root", "-format=json", "-nonce="+st.Nonce, res.RecoveryKeysB64[2])), &done); err != nil {
		t.Fatal(err)
	}
	if !done.Complete || done.EncodedToken == "" {
		t.Fatalf("completing generate-root with recovery keys = %+v", done)
	}
	tok := strings.TrimSpace(coffer(t, s, "", "operator", "generate-root", "-decode="+done.EncodedToken, "-otp="+st.OTP))
	s.Client.SetToken(tok)
	if sec, err := s.Client.Auth().Token().LookupSelf(); err != nil || sec == nil {
		t.Fatalf("the token made with recovery keys does not work: %v", err)
	}
}

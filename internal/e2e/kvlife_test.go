package e2e

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
	"github.com/coffer-secrets/coffer/internal/testserver"
	"github.com/hashicorp/vault/api"
)

// readError reads path through cl and returns the API error, so a test
// can see the message of a 404 that the client's Read hides.
func readError(t *testing.T, cl *api.Client, path string) *api.ResponseError {
	t.Helper()
	resp, err := cl.Logical().ReadRawWithContext(t.Context(), path)
	if resp != nil {
		resp.Body.Close()
	}
	re, ok := errors.AsType[*api.ResponseError](err)
	if !ok {
		t.Fatalf("read %s: error %v, want an API error", path, err)
	}
	return re
}

// listKeys lists path, nil when there is nothing (404).
func listKeys(t *testing.T, cl *api.Client, path string) []string {
	t.Helper()
	sec, err := cl.Logical().List(path)
	if err != nil {
		t.Fatalf("list %s: %v", path, err)
	}
	if sec == nil {
		return nil
	}
	var out []string
	for _, k := range sec.Data["keys"].([]any) {
		out = append(out, k.(string))
	}
	return out
}

// TestKVExpiryThroughTheClient sets a 2 s ttl on a secret and drives the
// server's clock past it: the secret answers 404 with a message that says
// it expired, a new version is refused, and a later expire_at makes it
// readable again.
func TestKVExpiryThroughTheClient(t *testing.T) {
	t.Parallel()
	clock := logicaltest.NewClock(time.Now())
	s := testserver.StartWith(t, testserver.Options{Clock: clock})
	cl := s.Client
	ctx := t.Context()
	kv := cl.KVv2("secret")
	if _, err := kv.Put(ctx, "payments/api", map[string]any{"key": "sk_live_1"}); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, cl, "secret/metadata/payments/api", map[string]any{"ttl": "2s"})
	meta, err := cl.Logical().Read("secret/metadata/payments/api")
	if err != nil {
		t.Fatal(err)
	}
	at, err := time.Parse(time.RFC3339Nano, meta.Data["expire_at"].(string))
	if err != nil || !at.Equal(clock.Now().Add(2*time.Second)) {
		t.Fatalf("expire_at = %v (%v), want now + 2s", meta.Data["expire_at"], err)
	}
	if _, err := kv.Get(ctx, "payments/api"); err != nil {
		t.Fatalf("read before expiry: %v", err)
	}

	clock.Advance(2 * time.Second)
	if _, err := kv.Get(ctx, "payments/api"); !errors.Is(err, api.ErrSecretNotFound) {
		t.Fatalf("read after expiry: %v, want not found", err)
	}
	re := readError(t, cl, "secret/data/payments/api")
	if re.StatusCode != 404 || len(re.Errors) != 1 || !strings.Contains(re.Errors[0], "expired at") {
		t.Errorf("read after expiry = %d %q, want 404 saying it expired", re.StatusCode, re.Errors)
	}
	if strings.Contains(strings.Join(re.Errors, " "), "sk_live") {
		t.Error("the error carries the value")
	}
	if _, err := kv.Put(ctx, "payments/api", map[string]any{"key": "sk_live_2"}); statusCode(err) != 400 || !strings.Contains(err.Error(), "expire_at") {
		t.Errorf("write after expiry: %v, want 400 naming expire_at", err)
	}
	if _, err := kv.Patch(ctx, "payments/api", map[string]any{"key": "sk_live_2"}); statusCode(err) != 400 {
		t.Errorf("patch after expiry: %v, want 400", err)
	}

	later := clock.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if _, err := cl.Logical().JSONMergePatch(ctx, "secret/metadata/payments/api", map[string]any{"expire_at": later}); err != nil {
		t.Fatal(err)
	}
	got, err := kv.Get(ctx, "payments/api")
	if err != nil || got.Data["key"] != "sk_live_1" || got.VersionMetadata.Version != 1 {
		t.Fatalf("read after a later expire_at = %+v, %v", got, err)
	}
}

// TestKVRecoveryWindowThroughTheClient deletes a secret on a mount with a
// 7-day recovery window: it answers 404 and leaves LIST, shows in
// deleted/, refuses writes, comes back with every version through
// recover/, and after the window (the server's clock driven past it)
// cannot be recovered and the path starts afresh. A key with window 0 is
// destroyed at once.
func TestKVRecoveryWindowThroughTheClient(t *testing.T) {
	t.Parallel()
	clock := logicaltest.NewClock(time.Now())
	s := testserver.StartWith(t, testserver.Options{Clock: clock})
	cl := s.Client
	ctx := t.Context()
	kv := cl.KVv2("secret")
	mustWrite(t, cl, "secret/config", map[string]any{"recovery_window_days": 7})
	for _, v := range []string{"one", "two", "three"} {
		if _, err := kv.Put(ctx, "team/db", map[string]any{"password": v}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := kv.Put(ctx, "team/cache", map[string]any{"password": "c"}); err != nil {
		t.Fatal(err)
	}
	if err := kv.DeleteMetadata(ctx, "team/db"); err != nil {
		t.Fatal(err)
	}

	if _, err := kv.Get(ctx, "team/db"); !errors.Is(err, api.ErrSecretNotFound) {
		t.Errorf("read after delete: %v, want not found", err)
	}
	if got := listKeys(t, cl, "secret/metadata/team"); !slices.Equal(got, []string{"cache"}) {
		t.Errorf("LIST metadata/team = %v, want [cache]", got)
	}
	if got := listKeys(t, cl, "secret/deleted/team"); !slices.Equal(got, []string{"db"}) {
		t.Errorf("LIST deleted/team = %v, want [db]", got)
	}
	if _, err := kv.Put(ctx, "team/db", map[string]any{"password": "new"}); statusCode(err) != 400 || !strings.Contains(err.Error(), "recover") {
		t.Errorf("write while recoverable: %v, want 400 naming recover", err)
	}

	mustWrite(t, cl, "secret/recover/team/db", nil)
	for n, want := range map[int]string{1: "one", 2: "two", 3: "three"} {
		got, err := kv.GetVersion(ctx, "team/db", n)
		if err != nil || got.Data["password"] != want {
			t.Errorf("version %d after recover = %+v, %v; want %q", n, got, err, want)
		}
	}
	if got := listKeys(t, cl, "secret/deleted/"); got != nil {
		t.Errorf("LIST deleted/ after recover = %v, want none", got)
	}

	// The window passes.
	if err := kv.DeleteMetadata(ctx, "team/db"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(7*24*time.Hour + time.Second)
	if _, err := cl.Logical().Write("secret/recover/team/db", nil); statusCode(err) != 404 {
		t.Errorf("recover after the window: %v, want 404", err)
	}
	if got := listKeys(t, cl, "secret/deleted/"); got != nil {
		t.Errorf("LIST deleted/ after the window = %v, want none", got)
	}
	fresh, err := kv.Put(ctx, "team/db", map[string]any{"password": "fresh"})
	if err != nil || fresh.VersionMetadata.Version != 1 {
		t.Fatalf("write after the window = %+v, %v; want version 1", fresh, err)
	}
	if _, err := kv.GetVersion(ctx, "team/db", 2); !errors.Is(err, api.ErrSecretNotFound) {
		t.Errorf("old version 2 after the window: %v, want not found", err)
	}

	// Window 0 on the key: destroyed at once, as without a window.
	mustWrite(t, cl, "secret/metadata/team/cache", map[string]any{"recovery_window_days": 0})
	if err := kv.DeleteMetadata(ctx, "team/cache"); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Logical().Write("secret/recover/team/cache", nil); statusCode(err) != 404 {
		t.Errorf("recover with window 0: %v, want 404", err)
	}
	if _, err := kv.Put(context.Background(), "team/cache", map[string]any{"password": "d"}); err != nil {
		t.Errorf("write after a delete with window 0: %v", err)
	}
}

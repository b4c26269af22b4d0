package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/coffer-secrets/coffer/internal/testserver"
	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/vault/api"
)

// TestKVv2OfficialClient drives the KV v2 engine at secret/ through the
// official client's KVv2 helper, end to end over HTTP.
func TestKVv2OfficialClient(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	ctx := t.Context()
	kv := s.Client.KVv2("secret")

	v1, err := kv.Put(ctx, "app/db", map[string]any{"user": "svc", "password": "one"})
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	if v1.VersionMetadata.Version != 1 {
		t.Errorf("first Put version = %d, want 1", v1.VersionMetadata.Version)
	}
	if _, err := kv.Put(ctx, "app/db", map[string]any{"user": "svc", "password": "two"}); err != nil {
		t.Fatal(err)
	}
	got, err := kv.Get(ctx, "app/db")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if diff := cmp.Diff(map[string]any{"user": "svc", "password": "two"}, got.Data); diff != "" {
		t.Errorf("Get data (-want +got):\n%s", diff)
	}
	if got.VersionMetadata.Version != 2 {
		t.Errorf("Get version = %d, want 2", got.VersionMetadata.Version)
	}
	old, err := kv.GetVersion(ctx, "app/db", 1)
	if err != nil || old.Data["password"] != "one" {
		t.Fatalf("GetVersion(1) = %+v, %v", old, err)
	}

	// Check-and-set.
	if _, err := kv.Put(ctx, "app/db", map[string]any{"x": 1}, api.WithCheckAndSet(1)); err == nil {
		t.Error("Put with stale cas succeeded")
	} else if statusCode(err) != 400 {
		t.Errorf("stale cas error = %v, want 400", err)
	}
	if _, err := kv.Put(ctx, "app/db", map[string]any{"user": "svc", "password": "three"}, api.WithCheckAndSet(2)); err != nil {
		t.Errorf("Put with current cas: %v", err)
	}

	// JSON merge patch.
	if _, err := kv.Patch(ctx, "app/db", map[string]any{"password": "four", "user": nil, "port": 5432}); err != nil {
		t.Fatalf("Patch: %v", err)
	}
	got, err = kv.Get(ctx, "app/db")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]any{"password": "four", "port": "5432"}, stringify(got.Data)); diff != "" {
		t.Errorf("after Patch (-want +got):\n%s", diff)
	}

	// Soft delete, undelete, destroy.
	if err := kv.DeleteVersions(ctx, "app/db", []int{1}); err != nil {
		t.Fatal(err)
	}
	// A deleted version answers 404 with its metadata and no data; the
	// client turns that into a secret with nil Data.
	if v, err := kv.GetVersion(ctx, "app/db", 1); err != nil || v.Data != nil || v.VersionMetadata.DeletionTime.IsZero() {
		t.Errorf("GetVersion of deleted version = %+v, %v; want nil data with a deletion time", v, err)
	}
	if err := kv.Undelete(ctx, "app/db", []int{1}); err != nil {
		t.Fatal(err)
	}
	if v, err := kv.GetVersion(ctx, "app/db", 1); err != nil || v.Data["password"] != "one" {
		t.Errorf("after Undelete GetVersion(1) = %+v, %v", v, err)
	}
	if err := kv.Destroy(ctx, "app/db", []int{1}); err != nil {
		t.Fatal(err)
	}
	if err := kv.Undelete(ctx, "app/db", []int{1}); err != nil {
		t.Fatal(err)
	}
	if v, err := kv.GetVersion(ctx, "app/db", 1); err != nil || v.Data != nil || !v.VersionMetadata.Destroyed {
		t.Errorf("destroyed version after undelete = %+v, %v; want nil data, destroyed", v, err)
	}

	// Metadata.
	err = kv.PutMetadata(ctx, "app/db", api.KVMetadataPutInput{MaxVersions: 3, CASRequired: false, CustomMetadata: map[string]any{"owner": "team-a"}})
	if err != nil {
		t.Fatalf("PutMetadata: %v", err)
	}
	md, err := kv.GetMetadata(ctx, "app/db")
	if err != nil {
		t.Fatalf("GetMetadata: %v", err)
	}
	if md.MaxVersions != 3 || md.CurrentVersion != 4 || md.CustomMetadata["owner"] != "team-a" {
		t.Errorf("GetMetadata() = max %d current %d custom %v", md.MaxVersions, md.CurrentVersion, md.CustomMetadata)
	}
	if !md.Versions["1"].Destroyed {
		t.Errorf("version 1 not reported destroyed: %+v", md.Versions["1"])
	}
	for i := range 3 {
		if _, err := kv.Put(ctx, "app/db", map[string]any{"n": i}); err != nil {
			t.Fatal(err)
		}
	}
	md, err = kv.GetMetadata(ctx, "app/db")
	if err != nil {
		t.Fatal(err)
	}
	if md.CurrentVersion != 7 || md.OldestVersion != 5 || len(md.Versions) != 3 {
		t.Errorf("after trimming: current %d oldest %d versions %d, want 7 5 3", md.CurrentVersion, md.OldestVersion, len(md.Versions))
	}
	rb, err := kv.Rollback(ctx, "app/db", 5)
	if err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if got, err := kv.Get(ctx, "app/db"); err != nil || fmt.Sprint(got.Data["n"]) != "0" || got.VersionMetadata.Version != 8 || rb.VersionMetadata.Version != 8 {
		t.Errorf("after Rollback to 5: %+v, %v; want n=0 at version 8", got, err)
	}

	// Listing.
	if _, err := kv.Put(ctx, "app/cache", map[string]any{"a": "b"}); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "top", map[string]any{"a": "b"}); err != nil {
		t.Fatal(err)
	}
	list, err := s.Client.Logical().List("secret/metadata/")
	if err != nil || list == nil {
		t.Fatalf("List(secret/metadata/) = %v, %v", list, err)
	}
	if diff := cmp.Diff([]any{"app/", "top"}, list.Data["keys"]); diff != "" {
		t.Errorf("list keys (-want +got):\n%s", diff)
	}
	list, err = s.Client.Logical().List("secret/metadata/app")
	if err != nil || list == nil {
		t.Fatalf("List(secret/metadata/app) = %v, %v", list, err)
	}
	if diff := cmp.Diff([]any{"cache", "db"}, list.Data["keys"]); diff != "" {
		t.Errorf("list app keys (-want +got):\n%s", diff)
	}

	// Delete all metadata.
	if err := kv.DeleteMetadata(ctx, "app/db"); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(ctx, "app/db"); !errors.Is(err, api.ErrSecretNotFound) {
		t.Errorf("Get after DeleteMetadata error = %v, want not found", err)
	}
}

// stringify turns json.Number values into strings for comparison.
func stringify(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = fmt.Sprint(v)
	}
	return out
}

func TestKVv1AndMounts(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	sys := s.Client.Sys()
	if err := sys.Mount("kv1", &api.MountInput{Type: "kv", Description: "v1 store", Options: map[string]string{"version": "1"}}); err != nil {
		t.Fatalf("Mount kv1: %v", err)
	}
	if err := sys.Mount("kv1", &api.MountInput{Type: "kv"}); statusCode(err) != 400 {
		t.Errorf("second Mount at kv1 error = %v, want 400", err)
	}
	for _, tc := range []struct {
		path string
		in   api.MountInput
	}{
		{"sys", api.MountInput{Type: "kv"}},
		{"auth/x", api.MountInput{Type: "kv"}},
		{"kv1/nested", api.MountInput{Type: "kv"}},
		{"other", api.MountInput{Type: "nosuchengine"}},
	} {
		if err := sys.Mount(tc.path, &tc.in); err == nil || statusCode(err) >= 500 {
			t.Errorf("Mount(%q, %q) error = %v, want a 4xx", tc.path, tc.in.Type, err)
		}
	}
	mounts, err := sys.ListMounts()
	if err != nil {
		t.Fatal(err)
	}
	if m := mounts["kv1/"]; m == nil || m.Type != "kv" || m.Description != "v1 store" || m.Options["version"] != "1" {
		t.Errorf("ListMounts()[kv1/] = %+v", m)
	}
	if m := mounts["secret/"]; m == nil || m.Options["version"] != "2" {
		t.Errorf("ListMounts()[secret/] = %+v", m)
	}

	kv := s.Client.KVv1("kv1")
	ctx := t.Context()
	if err := kv.Put(ctx, "svc/a", map[string]any{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	got, err := kv.Get(ctx, "svc/a")
	if err != nil || got.Data["k"] != "v" {
		t.Fatalf("KVv1 Get = %+v, %v", got, err)
	}
	list, err := s.Client.Logical().List("kv1/svc")
	if err != nil || list == nil || fmt.Sprint(list.Data["keys"]) != "[a]" {
		t.Fatalf("List kv1/svc = %v, %v", list, err)
	}

	// Tune.
	if err := sys.TuneMountAllowNil("kv1", api.TuneMountConfigInput{DefaultLeaseTTL: ptr("1h"), MaxLeaseTTL: ptr("2h")}); err != nil {
		t.Fatalf("TuneMount: %v", err)
	}
	cfg, err := sys.MountConfig("kv1")
	if err != nil || cfg.DefaultLeaseTTL != 3600 || cfg.MaxLeaseTTL != 7200 {
		t.Fatalf("MountConfig = %+v, %v", cfg, err)
	}
	if err := sys.TuneMountAllowNil("kv1", api.TuneMountConfigInput{DefaultLeaseTTL: ptr("3h")}); statusCode(err) != 400 {
		t.Errorf("tune default above max error = %v, want 400", err)
	}

	// Move the mount; data moves with it.
	if err := sys.Remount("kv1", "kv-moved"); err != nil {
		t.Fatalf("Remount: %v", err)
	}
	if got, err := s.Client.KVv1("kv-moved").Get(ctx, "svc/a"); err != nil || got.Data["k"] != "v" {
		t.Errorf("after Remount Get = %+v, %v", got, err)
	}
	if code, body := rawRequest(t, "GET", s.Addr+"/v1/kv1/svc/a", s.RootToken, "", nil); code != 404 || !strings.Contains(body, "no handler") {
		t.Errorf("old path after Remount = %d %s; want 404 no handler", code, body)
	}

	// Disable deletes the data: a new mount at the same path is empty.
	if err := sys.Unmount("kv-moved"); err != nil {
		t.Fatal(err)
	}
	if err := sys.Mount("kv-moved", &api.MountInput{Type: "kv"}); err != nil {
		t.Fatal(err)
	}
	if sec, err := s.Client.Logical().Read("kv-moved/svc/a"); err != nil || sec != nil {
		t.Errorf("data survived disable: %v, %v", sec, err)
	}

	// LIST verb and ?list=true are the same.
	code1, body1 := rawRequest(t, "LIST", s.Addr+"/v1/secret/metadata/", s.RootToken, "", nil)
	code2, _ := rawRequest(t, "GET", s.Addr+"/v1/secret/metadata?list=true", s.RootToken, "", nil)
	if code1 != code2 {
		t.Errorf("LIST = %d (%s), GET ?list=true = %d", code1, body1, code2)
	}
	// PUT and POST are the same.
	if code, _ := rawRequest(t, "PUT", s.Addr+"/v1/kv-moved/p", s.RootToken, `{"a":"1"}`, nil); code != 204 {
		t.Errorf("PUT = %d, want 204", code)
	}
	if code, _ := rawRequest(t, "POST", s.Addr+"/v1/kv-moved/p", s.RootToken, `{"a":"2"}`, nil); code != 204 {
		t.Errorf("POST = %d, want 204", code)
	}

	// Key status and rotation.
	ks, err := sys.KeyStatus()
	if err != nil || ks.Term != 1 {
		t.Fatalf("KeyStatus = %+v, %v", ks, err)
	}
	if err := sys.Rotate(); err != nil {
		t.Fatal(err)
	}
	if ks, err := sys.KeyStatus(); err != nil || ks.Term != 2 {
		t.Fatalf("KeyStatus after Rotate = %+v, %v", ks, err)
	}
	if sec, err := s.Client.Logical().Read("kv-moved/p"); err != nil || sec.Data["a"] != "2" {
		t.Errorf("read after rotate = %v, %v", sec, err)
	}
}

// TestKVv2ConcurrentWriters checks that concurrent writers through the
// whole stack each get a distinct version.
func TestKVv2ConcurrentWriters(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	kv := s.Client.KVv2("secret")
	const writers = 16
	var wg sync.WaitGroup
	versions := make(chan int, writers)
	for i := range writers {
		wg.Go(func() {
			sec, err := kv.Put(context.Background(), "shared", map[string]any{"writer": i})
			if err != nil {
				t.Error(err)
				return
			}
			versions <- sec.VersionMetadata.Version
		})
	}
	wg.Wait()
	close(versions)
	seen := map[int]bool{}
	for v := range versions {
		if seen[v] {
			t.Errorf("version %d given to two writers", v)
		}
		seen[v] = true
	}
	if len(seen) != writers {
		t.Errorf("%d distinct versions, want %d", len(seen), writers)
	}
}

func ptr[T any](v T) *T { return &v }

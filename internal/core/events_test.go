package core

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/coffer-secrets/coffer/internal/events"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/storage/inmem"
	"github.com/coffer-secrets/coffer/internal/token"
)

// noisyBackend sends an event for every write, with mount-relative paths,
// as engines do.
type noisyBackend struct{ env logical.Env }

func (b noisyBackend) HandleRequest(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	if req.Operation == logical.UpdateOperation || req.Operation == logical.CreateOperation {
		b.env.Events.SendEvent(ctx, "test/write", map[string]string{"path": "data/" + req.Path, "data_path": "data/" + req.Path, "version": "1"})
	}
	if req.Operation == logical.ReadOperation && req.Path == "creds" {
		return &logical.Response{Data: map[string]string{"user": "u"}, Secret: &logical.Secret{TTL: time.Hour}}, nil
	}
	return nil, nil
}

func (noisyBackend) RenewSecret(context.Context, *logical.LeasedSecret) (time.Duration, error) {
	return time.Hour, nil
}

func (noisyBackend) RevokeSecret(context.Context, *logical.LeasedSecret) error { return nil }

func noisyFactory(_ context.Context, env logical.Env) (logical.Backend, error) {
	return noisyBackend{env.WithDefaults()}, nil
}

// TestMountEvents: a backend's events carry its mount (followed across a
// remount) and full paths; a stream sees only what its token may read,
// and ends when the token is revoked.
func TestMountEvents(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, err := New(Options{Physical: inmem.New(), Engines: map[string]logical.Factory{"cubbyhole": noisyFactory, "noisy": noisyFactory}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Initialize(ctx, InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	if c.Sealed() {
		if _, err := c.Unseal(ctx, res.Shares[0]); err != nil {
			t.Fatal(err)
		}
	}
	call := func(tok token.ID, op logical.Operation, path string, body any) (*Response, error) {
		t.Helper()
		var buf []byte
		if body != nil {
			buf, _ = json.Marshal(body)
		}
		return c.HandleRequest(ctx, &Request{Request: &logical.Request{Operation: op, Path: path, Body: buf}, ClientToken: tok})
	}
	must := func(r *Response, err error) *Response {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	root := res.RootToken
	must(call(root, logical.UpdateOperation, "sys/mounts/n1", map[string]any{"type": "noisy"}))
	must(call(root, logical.UpdateOperation, "sys/policies/acl/reader", map[string]any{"policy": `
path "sys/events/subscribe/*" { capabilities = ["read"] }
path "n2/data/ok*" { capabilities = ["read"] }`}))
	tr := must(call(root, logical.UpdateOperation, "auth/token/create", map[string]any{"policies": []string{"reader"}}))
	reader := token.ID(tr.Auth.ClientToken)

	bus, err := c.Events().Subscribe(events.Filter{Type: "test/*"})
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	stream, err := c.SubscribeEvents(ctx, &Request{Request: &logical.Request{Operation: logical.ReadOperation, Path: SubscribePrefix + "test/*"}, ClientToken: reader}, events.Filter{Type: "test/*"})
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	if _, err := c.SubscribeEvents(ctx, &Request{Request: &logical.Request{Operation: logical.ReadOperation, Path: SubscribePrefix + "test/*"}, ClientToken: "nope"}, events.Filter{Type: "test/*"}); !errors.Is(err, logical.ErrPermissionDenied) {
		t.Errorf("SubscribeEvents with a bad token = %v, want permission denied", err)
	}

	must(call(root, logical.UpdateOperation, "n1/a", map[string]any{"k": "v"}))
	must(call(root, logical.UpdateOperation, "sys/remount", map[string]any{"from": "n1", "to": "n2"}))
	must(call(root, logical.UpdateOperation, "n2/no", map[string]any{"k": "v"}))
	must(call(root, logical.UpdateOperation, "n2/ok", map[string]any{"k": "v"}))

	var got []string
	for range 3 {
		e := <-bus.C()
		if e.Plugin.Plugin != "noisy" || e.Plugin.MountClass != "secret" || e.Plugin.MountAccessor == "" || e.ID == "" || e.Time.IsZero() {
			t.Errorf("event %+v: want the noisy mount's info, an ID and a time", e)
		}
		got = append(got, e.Plugin.MountPath+" "+e.Metadata["path"]+" "+e.Metadata["data_path"]+" "+e.Metadata["version"])
	}
	want := []string{"n1/ n1/data/a n1/data/a 1", "n2/ n2/data/no n2/data/no 1", "n2/ n2/data/ok n2/data/ok 1"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("events (-want +got):\n%s", d)
	}

	nctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	e, err := stream.Next(nctx)
	if err != nil || e.Metadata["path"] != "n2/data/ok" {
		t.Fatalf("stream.Next = %+v, %v; want only n2/data/ok", e, err)
	}
	must(call(root, logical.UpdateOperation, "auth/token/revoke", map[string]any{"token": string(reader)}))
	must(call(root, logical.UpdateOperation, "n2/ok2", map[string]any{"k": "v"}))
	if e, err := stream.Next(nctx); !errors.Is(err, ErrStreamEnded) {
		t.Errorf("after revoke: Next = %+v, %v; want ErrStreamEnded", e, err)
	}

	// A revoked lease is announced by path, without its ID.
	leases, err := c.Events().Subscribe(events.Filter{Type: "lease/*"})
	if err != nil {
		t.Fatal(err)
	}
	defer leases.Close()
	lr := must(call(root, logical.ReadOperation, "n2/creds", nil))
	must(call(root, logical.UpdateOperation, "sys/leases/revoke", map[string]any{"lease_id": lr.LeaseID}))
	select {
	case e := <-leases.C():
		want := map[string]string{"path": "n2/creds", "mount_path": "n2/", "operation": "revoke"}
		if d := cmp.Diff(want, e.Metadata); d != "" || e.Type != "lease/revoked" || e.Plugin.MountClass != "system" {
			t.Errorf("lease event %s %+v (-want +got metadata):\n%s", e.Type, e.Plugin, d)
		}
	case <-nctx.Done():
		t.Fatal("no lease/revoked event")
	}
}

package gcpapi_test

import (
	"sync"
	"testing"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

// TestConcurrentCreate: of concurrent CreateSecret calls for one name
// exactly one wins; the others answer ALREADY_EXISTS.
func TestConcurrentCreate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(t, e.ts.RootToken)
	const n = 8
	codesSeen := make([]codes.Code, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, err := c.CreateSecret(t.Context(), &secretmanagerpb.CreateSecretRequest{Parent: parent, SecretId: "race", Secret: &secretmanagerpb.Secret{Replication: automatic()}})
			codesSeen[i] = code(err)
		})
	}
	wg.Wait()
	won := 0
	for _, got := range codesSeen {
		switch got {
		case codes.OK:
			won++
		case codes.AlreadyExists:
		default:
			t.Errorf("CreateSecret: %v, want OK or AlreadyExists", got)
		}
	}
	if won != 1 {
		t.Errorf("%d creates won, want exactly 1 (codes %v)", won, codesSeen)
	}
}

// TestConcurrentEtagUpdate: concurrent UpdateSecret calls with the same
// etag: one wins, the others answer FAILED_PRECONDITION, as Google does
// for an etag that is no longer current; and a stale etag never passes
// a DeleteSecret.
func TestConcurrentEtagUpdate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(t, e.ts.RootToken)
	ctx := t.Context()
	name := parent + "/secrets/etag-race"
	sec, err := c.CreateSecret(ctx, &secretmanagerpb.CreateSecretRequest{Parent: parent, SecretId: "etag-race", Secret: &secretmanagerpb.Secret{Replication: automatic()}})
	if err != nil {
		t.Fatal(err)
	}
	const n = 6
	got := make([]codes.Code, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, err := c.UpdateSecret(ctx, &secretmanagerpb.UpdateSecretRequest{
				Secret:     &secretmanagerpb.Secret{Name: name, Etag: sec.GetEtag(), Labels: map[string]string{"writer": string(rune('a' + i))}},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"labels"}},
			})
			got[i] = code(err)
		})
	}
	wg.Wait()
	won := 0
	for _, g := range got {
		switch g {
		case codes.OK:
			won++
		case codes.FailedPrecondition:
		default:
			t.Errorf("UpdateSecret: %v, want OK or FailedPrecondition", g)
		}
	}
	if won != 1 {
		t.Errorf("%d etag updates won, want exactly 1 (codes %v)", won, got)
	}
	if err := c.DeleteSecret(ctx, &secretmanagerpb.DeleteSecretRequest{Name: name, Etag: sec.GetEtag()}); code(err) != codes.FailedPrecondition {
		t.Fatalf("DeleteSecret with the etag before the update: %v, want FailedPrecondition", err)
	}
	cur, err := c.GetSecret(ctx, &secretmanagerpb.GetSecretRequest{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteSecret(ctx, &secretmanagerpb.DeleteSecretRequest{Name: name, Etag: cur.GetEtag()}); err != nil {
		t.Fatalf("DeleteSecret with the current etag: %v", err)
	}
}

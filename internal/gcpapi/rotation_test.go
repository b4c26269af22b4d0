package gcpapi_test

import (
	"testing"
	"time"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/coffer-secrets/coffer/internal/gcpapi"
)

// TestRotationSweep: once next_rotation_time has passed, a sweep sends
// SECRET_ROTATE as a gcp/secret-rotate event and moves the time on by
// rotation_period past now; a secret without a period has its time
// cleared; one not yet due is left alone. The sweep's clock is injected.
func TestRotationSweep(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(t, e.ts.RootToken)
	conn := subscribe(t, e, e.ts.RootToken)
	ctx := t.Context()
	const topic = "projects/proj/topics/rotate"
	start := time.Now().UTC().Truncate(time.Second)
	next := start.Add(2 * time.Hour)
	tests := []struct {
		id     string
		next   time.Time
		period time.Duration
	}{
		{"periodic", next, 24 * time.Hour},
		{"once", next, 0},
		{"later", next.Add(72 * time.Hour), 24 * time.Hour},
	}
	for _, tt := range tests {
		rot := &secretmanagerpb.Rotation{NextRotationTime: timestamppb.New(tt.next)}
		if tt.period > 0 {
			rot.RotationPeriod = durationpb.New(tt.period)
		}
		if _, err := c.CreateSecret(ctx, &secretmanagerpb.CreateSecretRequest{Parent: parent, SecretId: tt.id, Secret: &secretmanagerpb.Secret{
			Replication: automatic(), Topics: []*secretmanagerpb.Topic{{Name: topic}}, Rotation: rot,
		}}); err != nil {
			t.Fatalf("CreateSecret(%s): %v", tt.id, err)
		}
		if ev := readEvent(t, conn); ev.Type != "gcp/secret-create" {
			t.Fatalf("event %s, want the create", ev.Type)
		}
	}
	// Two days and an hour after next: "periodic" is due (its time moves
	// to next + 3 days), "once" too (cleared), "later" not.
	sweepAt := next.Add(49 * time.Hour)
	r := gcpapi.NewRotator(gcpapi.RotatorOptions{Host: e.ts.Core(), Now: func() time.Time { return sweepAt }})
	if err := r.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	rotated := map[string]bool{}
	for range 2 {
		ev := readEvent(t, conn)
		if ev.Type != "gcp/secret-rotate" || ev.Metadata["event_type"] != "SECRET_ROTATE" || ev.Metadata["topics"] != topic {
			t.Fatalf("event %s %v, want gcp/secret-rotate", ev.Type, ev.Metadata)
		}
		rotated[ev.Metadata["secret"]] = true
	}
	if !rotated[parent+"/secrets/periodic"] || !rotated[parent+"/secrets/once"] {
		t.Errorf("rotated %v, want periodic and once", rotated)
	}
	want := map[string]time.Time{"periodic": next.Add(72 * time.Hour), "once": {}, "later": next.Add(72 * time.Hour)}
	for id, w := range want {
		sec, err := c.GetSecret(ctx, &secretmanagerpb.GetSecretRequest{Name: parent + "/secrets/" + id})
		if err != nil {
			t.Fatal(err)
		}
		got := time.Time{}
		if ts := sec.GetRotation().GetNextRotationTime(); ts != nil {
			got = ts.AsTime()
		}
		if !got.Equal(w) {
			t.Errorf("%s: next_rotation_time %v, want %v", id, got, w)
		}
	}
	// A second sweep at the same time finds nothing due.
	if err := r.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateSecret(ctx, &secretmanagerpb.UpdateSecretRequest{Secret: &secretmanagerpb.Secret{Name: parent + "/secrets/later", Labels: map[string]string{"x": "y"}}, UpdateMask: fieldMask("labels")}); err != nil {
		t.Fatal(err)
	}
	if ev := readEvent(t, conn); ev.Type != "gcp/secret-update" {
		t.Errorf("after a second sweep the next event is %s, want the update (no second rotation)", ev.Type)
	}
}

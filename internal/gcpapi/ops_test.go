package gcpapi_test

import (
	"hash/crc32"
	"slices"
	"testing"
	"time"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const parent = "projects/" + project

func automatic() *secretmanagerpb.Replication {
	return &secretmanagerpb.Replication{Replication: &secretmanagerpb.Replication_Automatic_{Automatic: &secretmanagerpb.Replication_Automatic{}}}
}

func crc(b []byte) *int64 {
	c := int64(crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
	return &c
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(t, e.ts.RootToken)
	ctx := t.Context()

	sec, err := c.CreateSecret(ctx, &secretmanagerpb.CreateSecretRequest{
		Parent:   parent,
		SecretId: "db-password",
		Secret: &secretmanagerpb.Secret{
			Replication: automatic(),
			Labels:      map[string]string{"team": "payments", "env": "prod"},
			Annotations: map[string]string{"owner.example.com/contact": "ops@example.com"},
		},
	})
	if err != nil {
		t.Fatalf("CreateSecret: %v", err)
	}
	name := parent + "/secrets/db-password"
	if sec.GetName() != name || sec.GetLabels()["team"] != "payments" || sec.GetAnnotations()["owner.example.com/contact"] != "ops@example.com" || sec.GetCreateTime() == nil || sec.GetEtag() == "" || sec.GetReplication().GetAutomatic() == nil {
		t.Fatalf("CreateSecret = %v", sec)
	}
	if _, err := c.CreateSecret(ctx, &secretmanagerpb.CreateSecretRequest{Parent: parent, SecretId: "db-password", Secret: &secretmanagerpb.Secret{Replication: automatic()}}); code(err) != codes.AlreadyExists {
		t.Fatalf("CreateSecret again: %v, want AlreadyExists", err)
	}

	// Versions: text, then binary, each with its checksum.
	for i, data := range [][]byte{[]byte("hunter2"), {0xff, 0x00, 0xfe}} {
		v, err := c.AddSecretVersion(ctx, &secretmanagerpb.AddSecretVersionRequest{Parent: name, Payload: &secretmanagerpb.SecretPayload{Data: data, DataCrc32C: crc(data)}})
		if err != nil {
			t.Fatalf("AddSecretVersion %d: %v", i+1, err)
		}
		if want := name + "/versions/" + string(rune('1'+i)); v.GetName() != want || v.GetState() != secretmanagerpb.SecretVersion_ENABLED || !v.GetClientSpecifiedPayloadChecksum() {
			t.Fatalf("AddSecretVersion = %v, want %s enabled", v, want)
		}
	}
	for _, tt := range []struct {
		version string
		want    string
		data    []byte
	}{
		{"latest", "2", []byte{0xff, 0x00, 0xfe}},
		{"1", "1", []byte("hunter2")},
		{"2", "2", []byte{0xff, 0x00, 0xfe}},
	} {
		got, err := c.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: name + "/versions/" + tt.version})
		if err != nil {
			t.Fatalf("AccessSecretVersion(%s): %v", tt.version, err)
		}
		if got.GetName() != name+"/versions/"+tt.want || string(got.GetPayload().GetData()) != string(tt.data) || got.GetPayload().GetDataCrc32C() != *crc(tt.data) {
			t.Fatalf("AccessSecretVersion(%s) = %v", tt.version, got)
		}
	}

	// Disable: Access is FailedPrecondition; Enable brings it back.
	v1 := name + "/versions/1"
	dv, err := c.DisableSecretVersion(ctx, &secretmanagerpb.DisableSecretVersionRequest{Name: v1})
	if err != nil || dv.GetState() != secretmanagerpb.SecretVersion_DISABLED {
		t.Fatalf("DisableSecretVersion = %v, %v", dv, err)
	}
	if _, err := c.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: v1}); code(err) != codes.FailedPrecondition {
		t.Fatalf("Access disabled: %v, want FailedPrecondition", err)
	}
	if _, err := c.EnableSecretVersion(ctx, &secretmanagerpb.EnableSecretVersionRequest{Name: v1, Etag: `"stale"`}); code(err) != codes.FailedPrecondition {
		t.Fatalf("EnableSecretVersion stale etag: %v, want FailedPrecondition", err)
	}
	ev, err := c.EnableSecretVersion(ctx, &secretmanagerpb.EnableSecretVersionRequest{Name: v1, Etag: dv.GetEtag()})
	if err != nil || ev.GetState() != secretmanagerpb.SecretVersion_ENABLED {
		t.Fatalf("EnableSecretVersion = %v, %v", ev, err)
	}
	if got, err := c.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: v1}); err != nil || string(got.GetPayload().GetData()) != "hunter2" {
		t.Fatalf("Access enabled = %v, %v", got, err)
	}

	// Destroy version 1.
	xv, err := c.DestroySecretVersion(ctx, &secretmanagerpb.DestroySecretVersionRequest{Name: v1})
	if err != nil || xv.GetState() != secretmanagerpb.SecretVersion_DESTROYED {
		t.Fatalf("DestroySecretVersion = %v, %v", xv, err)
	}
	if _, err := c.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: v1}); code(err) != codes.FailedPrecondition {
		t.Fatalf("Access destroyed: %v, want FailedPrecondition", err)
	}
	if _, err := c.EnableSecretVersion(ctx, &secretmanagerpb.EnableSecretVersionRequest{Name: v1}); code(err) != codes.FailedPrecondition {
		t.Fatalf("Enable destroyed: %v, want FailedPrecondition", err)
	}

	gv, err := c.GetSecretVersion(ctx, &secretmanagerpb.GetSecretVersionRequest{Name: name + "/versions/latest"})
	if err != nil || gv.GetName() != name+"/versions/2" || gv.GetState() != secretmanagerpb.SecretVersion_ENABLED {
		t.Fatalf("GetSecretVersion(latest) = %v, %v", gv, err)
	}
	var states []string
	it := c.ListSecretVersions(ctx, &secretmanagerpb.ListSecretVersionsRequest{Parent: name})
	for {
		v, err := it.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		states = append(states, v.GetName()[len(name):]+"="+v.GetState().String())
	}
	if want := []string{"/versions/2=ENABLED", "/versions/1=DESTROYED"}; !slices.Equal(states, want) {
		t.Fatalf("ListSecretVersions = %v, want %v", states, want)
	}
	it = c.ListSecretVersions(ctx, &secretmanagerpb.ListSecretVersionsRequest{Parent: name, Filter: "state:DESTROYED"})
	if v, err := it.Next(); err != nil || v.GetName() != v1 {
		t.Fatalf("ListSecretVersions(state:DESTROYED) = %v, %v", v, err)
	}

	// UpdateSecret: labels replaced, expiry, rotation, topics.
	next := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	expire := time.Now().Add(30 * 24 * time.Hour).UTC().Truncate(time.Second)
	up, err := c.UpdateSecret(ctx, &secretmanagerpb.UpdateSecretRequest{
		Secret: &secretmanagerpb.Secret{
			Name:       name,
			Labels:     map[string]string{"team": "billing"},
			Expiration: &secretmanagerpb.Secret_ExpireTime{ExpireTime: timestamppb.New(expire)},
			Rotation:   &secretmanagerpb.Rotation{NextRotationTime: timestamppb.New(next), RotationPeriod: durationpb.New(720 * time.Hour)},
			Topics:     []*secretmanagerpb.Topic{{Name: "projects/proj/topics/rotations"}},
		},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"labels", "expire_time", "rotation", "topics"}},
	})
	if err != nil {
		t.Fatalf("UpdateSecret: %v", err)
	}
	if len(up.GetLabels()) != 1 || up.GetLabels()["team"] != "billing" || !up.GetExpireTime().AsTime().Equal(expire) ||
		!up.GetRotation().GetNextRotationTime().AsTime().Equal(next) || up.GetRotation().GetRotationPeriod().AsDuration() != 720*time.Hour ||
		len(up.GetTopics()) != 1 || up.GetEtag() == sec.GetEtag() || up.GetAnnotations()["owner.example.com/contact"] == "" {
		t.Fatalf("UpdateSecret = %v", up)
	}
	got, err := c.GetSecret(ctx, &secretmanagerpb.GetSecretRequest{Name: name})
	if err != nil || got.GetEtag() != up.GetEtag() || got.GetLabels()["team"] != "billing" {
		t.Fatalf("GetSecret = %v, %v", got, err)
	}
	// A ttl becomes an expiry time; an empty expiration removes it.
	up2, err := c.UpdateSecret(ctx, &secretmanagerpb.UpdateSecretRequest{
		Secret:     &secretmanagerpb.Secret{Name: name, Expiration: &secretmanagerpb.Secret_Ttl{Ttl: durationpb.New(time.Hour)}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"ttl"}},
	})
	if err != nil || up2.GetExpireTime() == nil || up2.GetExpireTime().AsTime().After(time.Now().Add(time.Hour+time.Minute)) {
		t.Fatalf("UpdateSecret(ttl) = %v, %v", up2, err)
	}
	up3, err := c.UpdateSecret(ctx, &secretmanagerpb.UpdateSecretRequest{Secret: &secretmanagerpb.Secret{Name: name}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"expire_time"}}})
	if err != nil || up3.GetExpireTime() != nil {
		t.Fatalf("UpdateSecret(no expiry) = %v, %v", up3, err)
	}
	if _, err := c.UpdateSecret(ctx, &secretmanagerpb.UpdateSecretRequest{
		Secret:     &secretmanagerpb.Secret{Name: name, Expiration: &secretmanagerpb.Secret_ExpireTime{ExpireTime: timestamppb.New(expire)}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"expire_time"}},
	}); err != nil {
		t.Fatal(err)
	}
	if up, err = c.GetSecret(ctx, &secretmanagerpb.GetSecretRequest{Name: name}); err != nil {
		t.Fatal(err)
	}
	// The KV metadata shows the expiry Coffer keeps.
	meta, err := e.ts.Client.Logical().Read("gcp-proj/metadata/db-password")
	if err != nil || meta.Data["expire_at"] == nil {
		t.Fatalf("KV metadata = %v, %v", meta, err)
	}

	// DeleteSecret with a stale etag, then the right one.
	if err := c.DeleteSecret(ctx, &secretmanagerpb.DeleteSecretRequest{Name: "nope"}); code(err) != codes.InvalidArgument {
		t.Fatalf("DeleteSecret(nope): %v, want InvalidArgument", err)
	}
	if err := c.DeleteSecret(ctx, &secretmanagerpb.DeleteSecretRequest{Name: name, Etag: sec.GetEtag()}); code(err) != codes.FailedPrecondition {
		t.Fatalf("DeleteSecret stale etag: %v, want FailedPrecondition", err)
	}
	if err := c.DeleteSecret(ctx, &secretmanagerpb.DeleteSecretRequest{Name: name, Etag: up.GetEtag()}); err != nil {
		t.Fatalf("DeleteSecret: %v", err)
	}
	if _, err := c.GetSecret(ctx, &secretmanagerpb.GetSecretRequest{Name: name}); code(err) != codes.NotFound {
		t.Fatalf("GetSecret deleted: %v, want NotFound", err)
	}
}

package azureapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/coffer-secrets/coffer/internal/azureapi"
)

func stringsReader(s string) io.Reader {
	if s == "" {
		return nil
	}
	return strings.NewReader(s)
}

// TestSDKSecrets drives set, get, update, the lists (with paging) and
// the version ids through the official client.
func TestSDKSecrets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(t, e.ts.RootToken)
	ctx := t.Context()

	exp := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	set, err := c.SetSecret(ctx, "db-password", azsecrets.SetSecretParameters{
		Value:            to.Ptr("hunter2"),
		ContentType:      to.Ptr("text/plain"),
		Tags:             map[string]*string{"team": to.Ptr("payments")},
		SecretAttributes: &azsecrets.SecretAttributes{Expires: &exp},
	}, nil)
	if err != nil {
		t.Fatalf("SetSecret: %v", err)
	}
	v1 := set.ID.Version()
	if want := azureapi.VersionID(1); v1 != want || set.ID.Name() != "db-password" {
		t.Fatalf("SetSecret id = %s, want version %s", *set.ID, want)
	}
	if !strings.HasPrefix(string(*set.ID), e.url+"/secrets/db-password/") {
		t.Errorf("SetSecret id = %s, want it under the vault URL %s", *set.ID, e.url)
	}
	set2, err := c.SetSecret(ctx, "db-password", azsecrets.SetSecretParameters{Value: to.Ptr("correct horse")}, nil)
	if err != nil {
		t.Fatalf("SetSecret (2): %v", err)
	}
	v2 := set2.ID.Version()

	// Latest, then each version by id.
	tests := []struct {
		name, version, value, contentType string
		tags                              int
		exp                               bool
	}{
		{name: "latest", version: "", value: "correct horse"},
		{name: "v1", version: v1, value: "hunter2", contentType: "text/plain", tags: 1, exp: true},
		{name: "v2", version: v2, value: "correct horse"},
	}
	for _, tt := range tests {
		got, err := c.GetSecret(ctx, "db-password", tt.version, nil)
		if err != nil {
			t.Fatalf("GetSecret(%s): %v", tt.name, err)
		}
		if *got.Value != tt.value || deref(got.ContentType) != tt.contentType || len(got.Tags) != tt.tags {
			t.Errorf("GetSecret(%s) = %q %q %v, want %q %q %d tags", tt.name, *got.Value, deref(got.ContentType), got.Tags, tt.value, tt.contentType, tt.tags)
		}
		if tt.exp && (got.Attributes.Expires == nil || !got.Attributes.Expires.Equal(exp)) {
			t.Errorf("GetSecret(%s) expires = %v, want %v", tt.name, got.Attributes.Expires, exp)
		}
		if !*got.Attributes.Enabled || got.Attributes.Created == nil {
			t.Errorf("GetSecret(%s) attributes = %+v, want enabled with a created time", tt.name, got.Attributes)
		}
	}

	// Update: disable v1, retag it; a disabled version is not readable.
	up, err := c.UpdateSecretProperties(ctx, "db-password", v1, azsecrets.UpdateSecretPropertiesParameters{
		SecretAttributes: &azsecrets.SecretAttributes{Enabled: to.Ptr(false)},
		Tags:             map[string]*string{"team": to.Ptr("core"), "tier": to.Ptr("1")},
	}, nil)
	if err != nil {
		t.Fatalf("UpdateSecretProperties: %v", err)
	}
	if *up.Attributes.Enabled || len(up.Tags) != 2 || deref(up.ContentType) != "text/plain" || up.Value != nil {
		t.Errorf("UpdateSecretProperties = %+v tags %v, want disabled, 2 tags, content type kept, no value", up.Attributes, up.Tags)
	}
	_, err = c.GetSecret(ctx, "db-password", v1, nil)
	if code, status := respErr(err); code != "Forbidden" || status != http.StatusForbidden {
		t.Errorf("GetSecret(disabled) = %v, want 403 Forbidden", err)
	}
	// Update the latest with an empty version.
	if _, err := c.UpdateSecretProperties(ctx, "db-password", "", azsecrets.UpdateSecretPropertiesParameters{ContentType: to.Ptr("application/x-pem")}, nil); err != nil {
		t.Fatalf("UpdateSecretProperties(latest): %v", err)
	}
	got, err := c.GetSecret(ctx, "db-password", "", nil)
	if err != nil || deref(got.ContentType) != "application/x-pem" {
		t.Fatalf("GetSecret after update = %v, %v; want content type application/x-pem", got.ContentType, err)
	}

	// Versions, oldest first.
	var ids []string
	pv := c.NewListSecretPropertiesVersionsPager("db-password", nil)
	for pv.More() {
		p, err := pv.NextPage(ctx)
		if err != nil {
			t.Fatalf("versions page: %v", err)
		}
		for _, it := range p.Value {
			ids = append(ids, it.ID.Version())
		}
	}
	if len(ids) != 2 || ids[0] != v1 || ids[1] != v2 {
		t.Errorf("versions = %v, want [%s %s]", ids, v1, v2)
	}

	// More secrets than one page: the pager follows nextLink.
	for i := range 27 {
		name := "page-" + string(rune('a'+i%26)) + strings.Repeat("x", i/26)
		if _, err := c.SetSecret(ctx, name, azsecrets.SetSecretParameters{Value: to.Ptr("v")}, nil); err != nil {
			t.Fatalf("SetSecret(%s): %v", name, err)
		}
	}
	// A secret written with the Vault API under a folder is not listed:
	// Azure names have no slashes.
	if _, err := e.ts.Client.KVv2("secret").Put(ctx, "folder/inner", map[string]any{"a": "b"}); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	pages := 0
	pl := c.NewListSecretPropertiesPager(nil)
	for pl.More() {
		p, err := pl.NextPage(ctx)
		if err != nil {
			t.Fatalf("list page: %v", err)
		}
		pages++
		for _, it := range p.Value {
			names[it.ID.Name()] = true
			if it.ID.Version() != "" {
				t.Errorf("list item id %s has a version", *it.ID)
			}
		}
	}
	if len(names) != 28 || !names["db-password"] || pages != 2 {
		t.Errorf("listed %d secrets in %d pages, want 28 (with db-password) in 2", len(names), pages)
	}
}

// TestSDKDeleteRecoverPurge drives soft delete with the recovery
// window, the deleted secrets, recover and purge.
func TestSDKDeleteRecoverPurge(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(t, e.ts.RootToken)
	ctx := t.Context()

	// Without a recovery window a delete destroys at once.
	if _, err := c.SetSecret(ctx, "gone", azsecrets.SetSecretParameters{Value: to.Ptr("x")}, nil); err != nil {
		t.Fatal(err)
	}
	del, err := c.DeleteSecret(ctx, "gone", nil)
	if err != nil {
		t.Fatalf("DeleteSecret: %v", err)
	}
	if deref(del.Attributes.RecoveryLevel) != "Purgeable" || del.RecoveryID != nil {
		t.Errorf("DeleteSecret without a window = level %q recovery id %v, want Purgeable and none", deref(del.Attributes.RecoveryLevel), del.RecoveryID)
	}
	if _, err := c.GetSecret(ctx, "gone", "", nil); !isCode(err, "SecretNotFound", 404) {
		t.Errorf("GetSecret(destroyed) = %v, want 404 SecretNotFound", err)
	}

	// With the mount's window (7 days) it is kept recoverable.
	if _, err := e.ts.Client.Logical().WriteWithContext(ctx, "secret/config", map[string]any{"recovery_window_days": 7}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetSecret(ctx, "kept", azsecrets.SetSecretParameters{Value: to.Ptr("v1"), Tags: map[string]*string{"a": to.Ptr("b")}}, nil); err != nil {
		t.Fatal(err)
	}
	del, err = c.DeleteSecret(ctx, "kept", nil)
	if err != nil {
		t.Fatalf("DeleteSecret: %v", err)
	}
	if deref(del.Attributes.RecoveryLevel) != "CustomizedRecoverable+Purgeable" || deref(del.Attributes.RecoverableDays) != 7 ||
		deref(del.RecoveryID) != e.url+"/deletedsecrets/kept" || del.DeletedDate == nil || del.ScheduledPurgeDate == nil ||
		del.ScheduledPurgeDate.Sub(*del.DeletedDate) != 7*24*time.Hour || len(del.Tags) != 1 {
		t.Errorf("DeleteSecret = %+v attributes %+v", del.DeletedSecret, del.Attributes)
	}
	if _, err := c.GetSecret(ctx, "kept", "", nil); !isCode(err, "SecretNotFound", 404) {
		t.Errorf("GetSecret(deleted) = %v, want 404", err)
	}
	// Its name cannot be reused while it is recoverable.
	if _, err := c.SetSecret(ctx, "kept", azsecrets.SetSecretParameters{Value: to.Ptr("v2")}, nil); !isCode(err, "Conflict", 409) {
		t.Errorf("SetSecret(deleted) = %v, want 409 Conflict", err)
	}
	gd, err := c.GetDeletedSecret(ctx, "kept", nil)
	if err != nil || deref(gd.RecoveryID) != e.url+"/deletedsecrets/kept" || gd.Value != nil {
		t.Errorf("GetDeletedSecret = %+v, %v", gd.DeletedSecret, err)
	}
	var deleted []string
	pd := c.NewListDeletedSecretPropertiesPager(nil)
	for pd.More() {
		p, err := pd.NextPage(ctx)
		if err != nil {
			t.Fatalf("deleted page: %v", err)
		}
		for _, it := range p.Value {
			deleted = append(deleted, it.ID.Name())
		}
	}
	if len(deleted) != 1 || deleted[0] != "kept" {
		t.Errorf("deleted secrets = %v, want [kept]", deleted)
	}
	rec, err := c.RecoverDeletedSecret(ctx, "kept", nil)
	if err != nil || rec.ID.Name() != "kept" {
		t.Fatalf("RecoverDeletedSecret = %v, %v", rec.ID, err)
	}
	got, err := c.GetSecret(ctx, "kept", "", nil)
	if err != nil || *got.Value != "v1" || len(got.Tags) != 1 {
		t.Fatalf("GetSecret(recovered) = %v, %v", got.Value, err)
	}
	if _, err := c.RecoverDeletedSecret(ctx, "kept", nil); !isCode(err, "SecretNotFound", 404) {
		t.Errorf("RecoverDeletedSecret(live) = %v, want 404", err)
	}
	// Delete again, then purge: the name is free.
	if _, err := c.DeleteSecret(ctx, "kept", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PurgeDeletedSecret(ctx, "kept", nil); err != nil {
		t.Fatalf("PurgeDeletedSecret: %v", err)
	}
	if _, err := c.GetDeletedSecret(ctx, "kept", nil); !isCode(err, "SecretNotFound", 404) {
		t.Errorf("GetDeletedSecret(purged) = %v, want 404", err)
	}
	if _, err := c.PurgeDeletedSecret(ctx, "kept", nil); !isCode(err, "SecretNotFound", 404) {
		t.Errorf("PurgeDeletedSecret(purged) = %v, want 404", err)
	}
	set, err := c.SetSecret(ctx, "kept", azsecrets.SetSecretParameters{Value: to.Ptr("fresh")}, nil)
	if err != nil || set.ID.Version() != azureapi.VersionID(1) {
		t.Errorf("SetSecret(after purge) = %v, %v; want version 1", set.ID, err)
	}
	if _, err := c.DeleteSecret(ctx, "never-was", nil); !isCode(err, "SecretNotFound", 404) {
		t.Errorf("DeleteSecret(missing) = %v, want 404", err)
	}
}

func isCode(err error, code string, status int) bool {
	c, s := respErr(err)
	return c == code && s == status
}

// errorCode decodes an Azure error body.
func errorCode(t testing.TB, resp *http.Response) string {
	t.Helper()
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("decode error body: %v", err)
	}
	if body.Error.Message == "" {
		t.Errorf("error %s has no message", body.Error.Code)
	}
	return body.Error.Code
}

// deref is *p, or the zero value for nil.
func deref[T any](p *T) T {
	var z T
	if p == nil {
		return z
	}
	return *p
}

// TestRecoveryLevelOfSecret: a secret with its own recovery window shows
// it in the properties that come from its metadata.
func TestRecoveryLevelOfSecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(t, e.ts.RootToken)
	ctx := t.Context()
	if _, err := c.SetSecret(ctx, "own-window", azsecrets.SetSecretParameters{Value: to.Ptr("v")}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ts.Client.Logical().JSONMergePatch(ctx, "secret/metadata/own-window", map[string]any{"recovery_window_days": 90}); err != nil {
		t.Fatal(err)
	}
	p, err := c.NewListSecretPropertiesPager(nil).NextPage(ctx)
	if err != nil || len(p.Value) != 1 {
		t.Fatalf("list = %v, %v", p.Value, err)
	}
	if a := p.Value[0].Attributes; deref(a.RecoveryLevel) != "Recoverable+Purgeable" || deref(a.RecoverableDays) != 90 {
		t.Errorf("attributes = level %q days %d, want Recoverable+Purgeable, 90", deref(a.RecoveryLevel), deref(a.RecoverableDays))
	}
	del, err := c.DeleteSecret(ctx, "own-window", nil)
	if err != nil || deref(del.Attributes.RecoverableDays) != 90 || del.RecoveryID == nil {
		t.Errorf("DeleteSecret = %+v, %v; want 90 recoverable days", del.Attributes, err)
	}
}

package approle

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
	"github.com/coffer-secrets/coffer/internal/uuid"
)

func TestGenerateSecretID(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.role("limited", `{"secret_id_ttl":"1h","secret_id_num_uses":5,"secret_id_bound_cidrs":"10.0.0.0/8","token_bound_cidrs":"10.1.0.0/16"}`)
	h.role("open", `{}`)
	tests := []struct {
		name     string
		role     string
		body     string
		wantTTL  int64
		wantUses int
		wantErr  error
		wantWarn []string
	}{
		{name: "role defaults", role: "limited", body: `{}`, wantTTL: 3600, wantUses: 5},
		{name: "stricter limits", role: "limited", body: `{"ttl":"10m","num_uses":2}`, wantTTL: 600, wantUses: 2},
		{name: "equal limits", role: "limited", body: `{"ttl":3600,"num_uses":"5"}`, wantTTL: 3600, wantUses: 5},
		{name: "too many uses", role: "limited", body: `{"num_uses":6}`, wantErr: logical.ErrInvalidRequest},
		{name: "unlimited uses on a limited role", role: "limited", body: `{"num_uses":0}`, wantErr: logical.ErrInvalidRequest},
		{name: "negative uses", role: "open", body: `{"num_uses":-1}`, wantErr: logical.ErrInvalidRequest},
		{name: "ttl too long", role: "limited", body: `{"ttl":"2h"}`, wantErr: logical.ErrInvalidRequest},
		{name: "no ttl on a limited role", role: "limited", body: `{"ttl":0}`, wantErr: logical.ErrInvalidRequest},
		{name: "cidr_list within role", role: "limited", body: `{"cidr_list":"10.2.0.0/16,10.3.4.5"}`, wantTTL: 3600, wantUses: 5},
		{name: "cidr_list outside role", role: "limited", body: `{"cidr_list":"192.0.2.0/24"}`, wantErr: logical.ErrInvalidRequest},
		{name: "cidr_list wider than role", role: "limited", body: `{"cidr_list":"0.0.0.0/0"}`, wantErr: logical.ErrInvalidRequest},
		{name: "bad cidr_list", role: "open", body: `{"cidr_list":"nope"}`, wantErr: logical.ErrInvalidRequest},
		{name: "token cidrs within role", role: "limited", body: `{"token_bound_cidrs":["10.1.2.0/24"]}`, wantTTL: 3600, wantUses: 5},
		{name: "token cidrs outside role", role: "limited", body: `{"token_bound_cidrs":["10.2.0.0/24"]}`, wantErr: logical.ErrInvalidRequest},
		{name: "any limits on an open role", role: "open", body: `{"ttl":"100h","num_uses":1000,"cidr_list":"0.0.0.0/0"}`, wantTTL: 360000, wantUses: 1000},
		{name: "metadata as a string", role: "open", body: `{"metadata":"{\"tag\":\"prod\"}"}`},
		{name: "metadata as an object", role: "open", body: `{"metadata":{"tag":"prod"}}`},
		{name: "empty metadata string", role: "open", body: `{"metadata":""}`},
		{name: "metadata not an object", role: "open", body: `{"metadata":"[1]"}`, wantErr: logical.ErrInvalidRequest},
		{name: "metadata with a number", role: "open", body: `{"metadata":{"n":1}}`, wantErr: logical.ErrInvalidRequest},
		{name: "metadata bad JSON", role: "open", body: `{"metadata":"{"}`, wantErr: logical.ErrInvalidRequest},
		{name: "unknown field ignored", role: "open", body: `{"secret_id":"x"}`, wantWarn: []string{"Endpoint ignored these unrecognized parameters: [secret_id]"}},
		{name: "missing role", role: "nope", body: `{}`, wantErr: logical.ErrNotFound},
	}
	for _, tt := range tests {
		before := h.Storage.Snapshot()
		resp, err := h.DoReq(req{Op: opUpdate, Path: "role/" + tt.role + "/secret-id", Body: tt.body})
		if tt.wantErr != nil {
			logicaltest.WantKind(t, tt.name, err, tt.wantErr)
			h.Unchanged(tt.name, before)
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if diff := cmp.Diff(tt.wantWarn, resp.Warnings); diff != "" {
			t.Errorf("%s: warnings (-want +got):\n%s", tt.name, diff)
		}
		c := resp.Data.(*secretIDCreated)
		if !uuid.Valid(c.SecretID) || !uuid.Valid(c.SecretIDAccessor) || c.SecretID == c.SecretIDAccessor {
			t.Errorf("%s: secret ID %q, accessor %q: want two distinct UUIDs", tt.name, c.SecretID, c.SecretIDAccessor)
		}
		if c.SecretIDTTL != tt.wantTTL || c.SecretIDNumUses != tt.wantUses {
			t.Errorf("%s: ttl, num_uses = %d, %d, want %d, %d", tt.name, c.SecretIDTTL, c.SecretIDNumUses, tt.wantTTL, tt.wantUses)
		}
		if got := len(h.Storage.Snapshot()) - len(before); got != 2 {
			t.Errorf("%s: %d new storage entries, want 2 (secret ID and accessor)", tt.name, got)
		}
	}
}

func TestSecretIDLifecycle(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	created := h.Clock.Now().UTC().Format(time.RFC3339Nano)
	h.role("r", `{}`)
	h.role("other", `{}`)
	sid, acc := h.secretID("r", `{"metadata":"{\"tag\":\"prod\"}","ttl":"90s","num_uses":4,"cidr_list":"10.0.0.0/8","token_bound_cidrs":"10.1.0.0/16"}`)
	h.Clock.Advance(time.Second)
	custom := h.MustReq(req{Op: opUpdate, Path: "role/r/custom-secret-id", Body: `{"secret_id":"my-own-secret"}`})
	logicaltest.DiffJSON(t, "custom-secret-id", `{"secret_id":"my-own-secret","secret_id_accessor":"`+custom.Data.(*secretIDCreated).SecretIDAccessor+
		`","secret_id_ttl":0,"secret_id_num_uses":0}`, custom)
	customAcc := custom.Data.(*secretIDCreated).SecretIDAccessor

	wantLookup := `{"cidr_list":["10.0.0.0/8"],"creation_time":"` + created + `","expiration_time":"` +
		h.Clock.Now().Add(89*time.Second).UTC().Format(time.RFC3339Nano) + `","last_updated_time":"` + created +
		`","metadata":{"tag":"prod"},"secret_id_accessor":"` + acc + `","secret_id_num_uses":4,"secret_id_ttl":90,"token_bound_cidrs":["10.1.0.0/16"]}`
	logicaltest.DiffJSON(t, "lookup", wantLookup, h.MustReq(req{Op: opUpdate, Path: "role/r/secret-id/lookup", Body: `{"secret_id":"` + sid + `"}`}))
	logicaltest.DiffJSON(t, "accessor lookup", wantLookup, h.MustReq(req{Op: opUpdate, Path: "role/r/secret-id-accessor/lookup", Body: `{"secret_id_accessor":"` + acc + `"}`}))

	list := h.MustReq(req{Op: opList, Path: "role/r/secret-id"})
	want := []string{acc, customAcc}
	slices.Sort(want)
	logicaltest.DiffJSON(t, "list", `{"keys":["`+want[0]+`","`+want[1]+`"]}`, list)

	steps := []struct {
		name     string
		r        req
		wantErr  error
		wantNone bool
	}{
		{name: "custom duplicate", r: req{Op: opUpdate, Path: "role/r/custom-secret-id", Body: `{"secret_id":"my-own-secret"}`}, wantErr: logical.ErrConflict},
		{name: "custom empty", r: req{Op: opUpdate, Path: "role/r/custom-secret-id", Body: `{"secret_id":""}`}, wantErr: logical.ErrInvalidRequest},
		{name: "custom on missing role", r: req{Op: opUpdate, Path: "role/zz/custom-secret-id", Body: `{"secret_id":"x"}`}, wantErr: logical.ErrNotFound},
		{name: "same custom on another role", r: req{Op: opUpdate, Path: "role/other/custom-secret-id", Body: `{"secret_id":"my-own-secret"}`}},
		{name: "lookup unknown", r: req{Op: opUpdate, Path: "role/r/secret-id/lookup", Body: `{"secret_id":"nope"}`}, wantNone: true},
		{name: "lookup under another role", r: req{Op: opUpdate, Path: "role/other/secret-id/lookup", Body: `{"secret_id":"` + sid + `"}`}, wantNone: true},
		{name: "lookup missing secret_id", r: req{Op: opUpdate, Path: "role/r/secret-id/lookup", Body: `{}`}, wantErr: logical.ErrInvalidRequest},
		{name: "lookup on missing role", r: req{Op: opUpdate, Path: "role/zz/secret-id/lookup", Body: `{"secret_id":"x"}`}, wantErr: logical.ErrNotFound},
		{name: "accessor under another role", r: req{Op: opUpdate, Path: "role/other/secret-id-accessor/lookup", Body: `{"secret_id_accessor":"` + acc + `"}`}, wantErr: logical.ErrNotFound},
		{name: "accessor unknown", r: req{Op: opUpdate, Path: "role/r/secret-id-accessor/lookup", Body: `{"secret_id_accessor":"00000000-0000-4000-8000-000000000000"}`}, wantErr: logical.ErrNotFound},
		{name: "accessor odd", r: req{Op: opUpdate, Path: "role/r/secret-id-accessor/lookup", Body: `{"secret_id_accessor":"../../salt"}`}, wantErr: logical.ErrNotFound},
		{name: "accessor missing", r: req{Op: opUpdate, Path: "role/r/secret-id-accessor/lookup", Body: `{}`}, wantErr: logical.ErrInvalidRequest},
		{name: "list missing role", r: req{Op: opList, Path: "role/zz/secret-id/"}, wantErr: logical.ErrInvalidRequest},
		{name: "destroy by secret ID", r: req{Op: opUpdate, Path: "role/r/secret-id/destroy", Body: `{"secret_id":"` + sid + `"}`}, wantNone: true},
		{name: "lookup destroyed", r: req{Op: opUpdate, Path: "role/r/secret-id/lookup", Body: `{"secret_id":"` + sid + `"}`}, wantNone: true},
		{name: "accessor of destroyed", r: req{Op: opUpdate, Path: "role/r/secret-id-accessor/lookup", Body: `{"secret_id_accessor":"` + acc + `"}`}, wantErr: logical.ErrNotFound},
		{name: "destroy again is fine", r: req{Op: opDelete, Path: "role/r/secret-id/destroy", Body: `{"secret_id":"` + sid + `"}`}, wantNone: true},
		{name: "destroy by accessor", r: req{Op: opDelete, Path: "role/r/secret-id-accessor/destroy", Body: `{"secret_id_accessor":"` + customAcc + `"}`}, wantNone: true},
		{name: "destroy by accessor again", r: req{Op: opUpdate, Path: "role/r/secret-id-accessor/destroy", Body: `{"secret_id_accessor":"` + customAcc + `"}`}, wantErr: logical.ErrNotFound},
		{name: "list empty", r: req{Op: opList, Path: "role/r/secret-id/"}, wantNone: true},
	}
	for _, s := range steps {
		resp, err := h.DoReq(s.r)
		if s.wantErr != nil {
			logicaltest.WantKind(t, s.name, err, s.wantErr)
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if s.wantNone && resp != nil {
			t.Errorf("%s: response = %+v, want none", s.name, resp)
		}
	}
	id := h.role("r", `{}`)
	for _, s := range []string{sid, "my-own-secret"} {
		_, err := h.login(id, s, "10.0.0.1:1")
		wantInvalid(t, "login with destroyed secret ID", err)
	}
	if got := len(h.storedKeys(secretIDPrefix)); got != 1 {
		t.Errorf("%d secret IDs stored, want 1 (the other role's)", got)
	}
}

func TestSecretIDExpiry(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.role("r", `{"secret_id_ttl":"60s"}`)
	sid, _ := h.secretID("r", `{}`)
	sameTTL, _ := h.secretID("r", `{"ttl":"60s"}`)
	h.Clock.Advance(59 * time.Second)
	if _, err := h.login(id, sid, ""); err != nil {
		t.Fatalf("login one second before expiry: %v", err)
	}
	// A secret ID made now outlives the first two.
	fresh, _ := h.secretID("r", `{}`)
	h.Clock.Advance(time.Second)
	_, err := h.login(id, sid, "")
	wantInvalid(t, "login at expiry", err)
	_, err = h.login(id, sameTTL, "")
	wantInvalid(t, "login at expiry", err)
	if resp := h.MustReq(req{Op: opUpdate, Path: "role/r/secret-id/lookup", Body: `{"secret_id":"` + sid + `"}`}); resp == nil {
		t.Fatal("expired secret ID gone before tidy")
	}
	resp := h.MustReq(req{Op: opUpdate, Path: "tidy/secret-id"})
	if diff := cmp.Diff([]string{"tidy removed 2 secret IDs and 0 dangling accessor entries"}, resp.Warnings); diff != "" {
		t.Errorf("tidy warnings mismatch (-want +got):\n%s", diff)
	}
	if resp := h.MustReq(req{Op: opUpdate, Path: "role/r/secret-id/lookup", Body: `{"secret_id":"` + sid + `"}`}); resp != nil {
		t.Errorf("expired secret ID still there after tidy: %+v", resp.Data)
	}
	if got := len(h.storedKeys(accessorPrefix)); got != 1 {
		t.Errorf("%d accessors after tidy, want 1", got)
	}
	if _, err := h.login(id, fresh, ""); err != nil {
		t.Errorf("login with an unexpired secret ID after tidy: %v", err)
	}
}

func TestTidyDanglingEntries(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.role("r", `{}`)
	sid, _ := h.secretID("r", `{}`)
	ctx := t.Context()
	key, err := h.Backend.(*backend).key(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// An accessor whose secret ID is gone, and secret IDs of a role that no
	// longer exists, as a crash in an older version might leave.
	rk := roleKey(key, "r")
	orphanRK := roleKey(key, "deleted")
	for _, e := range []logical.StorageEntry{
		{Key: accessorKey(rk, "11111111-1111-4111-8111-111111111111"), Value: []byte(`{"secret_id_hmac":"gone"}`)},
		{Key: secretIDKey(orphanRK, "abc"), Value: []byte(`{"accessor":"22222222-2222-4222-8222-222222222222"}`)},
		{Key: accessorKey(orphanRK, "22222222-2222-4222-8222-222222222222"), Value: []byte(`{"secret_id_hmac":"abc"}`)},
	} {
		if err := h.Storage.Put(ctx, &e); err != nil {
			t.Fatal(err)
		}
	}
	resp := h.MustReq(req{Op: opUpdate, Path: "tidy/secret-id", Body: `{}`})
	if diff := cmp.Diff([]string{"tidy removed 1 secret IDs and 1 dangling accessor entries"}, resp.Warnings); diff != "" {
		t.Errorf("tidy warnings mismatch (-want +got):\n%s", diff)
	}
	if got, want := len(h.storedKeys(secretIDPrefix)), 1; got != want {
		t.Errorf("%d secret IDs after tidy, want %d", got, want)
	}
	if got, want := len(h.storedKeys(accessorPrefix)), 1; got != want {
		t.Errorf("%d accessors after tidy, want %d", got, want)
	}
	if _, err := h.login(id, sid, ""); err != nil {
		t.Errorf("login after tidy: %v", err)
	}
	resp, err = h.DoReq(req{Op: opUpdate, Path: "tidy/secret-id", Body: `{"safety_buffer":1}`})
	if err != nil || !slices.Contains(resp.Warnings, "Endpoint ignored these unrecognized parameters: [safety_buffer]") {
		t.Errorf("tidy with an unknown field = %v, %v; want the ignored-parameters warning", resp, err)
	}
}

// TestSecretIDsNeverStored scans every stored key and value for the raw
// secret IDs, also base64- and hex-encoded.
func TestSecretIDsNeverStored(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.role("r", `{"secret_id_num_uses":3}`)
	var secrets []string
	for range 3 {
		sid, _ := h.secretID("r", `{}`)
		secrets = append(secrets, sid)
	}
	h.MustReq(req{Op: opUpdate, Path: "role/r/custom-secret-id", Body: `{"secret_id":"Custom-Secret-Value-42","num_uses":2}`})
	secrets = append(secrets, "Custom-Secret-Value-42")
	for _, s := range secrets {
		if _, err := h.login(id, s, ""); err != nil {
			t.Fatalf("login: %v", err)
		}
		_, _ = h.login(id, s+"x", "")
	}
	snap := h.Storage.Snapshot()
	for _, s := range secrets {
		forms := [][]byte{[]byte(s), []byte(base64.StdEncoding.EncodeToString([]byte(s))), []byte(hex.EncodeToString([]byte(s)))}
		for k, v := range snap {
			for _, f := range forms {
				if bytes.Contains(v, f) || bytes.Contains([]byte(k), f) {
					t.Errorf("storage entry %q holds secret ID %q", k, s)
				}
			}
		}
	}
	if len(h.storedKeys(secretIDPrefix)) != 4 {
		t.Errorf("want 4 stored secret IDs, have %d", len(h.storedKeys(secretIDPrefix)))
	}
}

func TestParseMetadata(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw     string
		want    map[string]string
		wantErr bool
	}{
		{raw: ``},
		{raw: `null`},
		{raw: `""`},
		{raw: `"  "`},
		{raw: `"null"`},
		{raw: `{}`},
		{raw: `"{}"`},
		{raw: `{"a":"b"}`, want: map[string]string{"a": "b"}},
		{raw: `"{\"a\":\"b\",\"c\":\"\"}"`, want: map[string]string{"a": "b", "c": ""}},
		{raw: `"[]"`, wantErr: true},
		{raw: `[]`, wantErr: true},
		{raw: `1`, wantErr: true},
		{raw: `"1"`, wantErr: true},
		{raw: `{"a":null}`, want: map[string]string{"a": ""}},
		{raw: `{"a":{}}`, wantErr: true},
		{raw: `"{\"a\":1}"`, wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseMetadata(json.RawMessage(tt.raw))
		if tt.wantErr {
			logicaltest.WantKind(t, "parseMetadata("+tt.raw+")", err, logical.ErrInvalidRequest)
			continue
		}
		if err != nil {
			t.Errorf("parseMetadata(%s) error = %v", tt.raw, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("parseMetadata(%s) mismatch (-want +got):\n%s", tt.raw, diff)
		}
	}
}

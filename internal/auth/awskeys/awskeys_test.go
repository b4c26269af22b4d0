package awskeys

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

const (
	opRead   = logical.ReadOperation
	opList   = logical.ListOperation
	opCreate = logical.CreateOperation
	opUpdate = logical.UpdateOperation
	opDelete = logical.DeleteOperation
)

func newHarness(t *testing.T) (*logicaltest.Harness, *Backend) {
	t.Helper()
	h := logicaltest.NewHarness(t, Factory, logical.Env{})
	return h, h.Backend.(*Backend)
}

// data answers resp's data as a JSON object.
func data(t *testing.T, resp *logical.Response) map[string]any {
	t.Helper()
	m, _ := logicaltest.Data(t, resp).(map[string]any)
	return m
}

func TestConformance(t *testing.T) {
	t.Parallel()
	logicaltest.Run(t, Factory, logicaltest.Options{
		Writes: []*logical.Request{
			{Operation: opCreate, Path: "keys/app", Body: json.RawMessage(`{"policies":"a,b","ttl":"1h"}`)},
			{Operation: opUpdate, Path: "keys/app", Body: json.RawMessage(`{"token_policies":["c"]}`)},
			{Operation: opUpdate, Path: "keys/app/rotate", Body: json.RawMessage(`{"grace":"1m"}`)},
		},
		Reads: []*logical.Request{
			{Operation: opRead, Path: "keys/app"},
			{Operation: opList, Path: "keys/"},
		},
	})
}

func TestKeys(t *testing.T) {
	t.Parallel()
	h, b := newHarness(t)
	ctx := context.Background()
	created := h.Must(opCreate, "keys/app", `{"policies":"Payments","ttl":"1h","entity_id":"e-1"}`)
	id, _ := data(t, created)["access_key_id"].(string)
	secret, _ := data(t, created)["secret_access_key"].(string)
	if !validAccessKeyID(id) || len(secret) != 40 || strings.Trim(secret, secretAlphabet) != "" {
		t.Fatalf("created %q, secret %q", id, secret)
	}
	read := h.Must(opRead, "keys/app", nil)
	got, _ := json.Marshal(data(t, read))
	if strings.Contains(string(got), secret) || strings.Contains(string(got), "secret_access_key") {
		t.Fatalf("read answers the secret: %s", got)
	}
	for _, want := range []string{`"access_key_id":"` + id + `"`, `"token_policies":["payments"]`, `"ttl":3600`, `"token_ttl":3600`, `"entity_id":"e-1"`} {
		if !strings.Contains(string(got), want) {
			t.Errorf("read %s lacks %s", got, want)
		}
	}
	// An update changes settings only: no secret answered, none changed.
	upd := h.Must(opUpdate, "keys/app", `{"token_policies":"other"}`)
	if upd != nil && upd.Data != nil && data(t, upd)["secret_access_key"] != nil {
		t.Fatal("update answered a secret")
	}
	name, secrets, rev, err := b.SigningSecrets(ctx, id)
	if err != nil || name != "app" || !slices.Equal(secrets, []string{secret}) || rev != 2 {
		t.Fatalf("SigningSecrets = %q %d secrets rev %d %v", name, len(secrets), rev, err)
	}
	list := h.Must(opList, "keys/", nil)
	if fmt.Sprint(data(t, list)["keys"]) != "[app]" {
		t.Fatalf("list %v", list.Data)
	}
	// Refused writes change nothing.
	for _, bad := range []struct{ path, body string }{
		{"keys/bad%name", `{}`},
		{"keys/" + strings.Repeat("a", maxNameBytes+1), `{}`},
		{"keys/app", `{"token_type":"nope"}`},
		{"keys/app", `{"policies":"root"}`},
		{"keys/app/rotate", `{"grace":"-1s"}`},
		{"keys/app/rotate", `{"grace":"800h"}`},
	} {
		before := h.Storage.Snapshot()
		_, err := h.Do(opUpdate, bad.path, bad.body)
		logicaltest.WantKind(t, bad.path+" "+bad.body, err, logical.ErrInvalidRequest)
		h.Unchanged(bad.path, before)
	}
	_, err = h.Do(opUpdate, "keys/none/rotate", `{}`)
	logicaltest.WantKind(t, "rotate unknown", err, logical.ErrNotFound)

	// Delete drops the key and its ID.
	h.Must(opDelete, "keys/app", nil)
	if _, secrets, _, err := b.SigningSecrets(ctx, id); err != nil || secrets != nil {
		t.Fatalf("after delete: %v %v", secrets, err)
	}
	if keys := h.Storage.Snapshot(); len(keys) != 0 {
		t.Fatalf("storage after delete: %v", keys)
	}
}

func TestRotateGrace(t *testing.T) {
	t.Parallel()
	h, b := newHarness(t)
	ctx := context.Background()
	created := h.Must(opCreate, "keys/app", `{}`)
	id, first := data(t, created)["access_key_id"].(string), data(t, created)["secret_access_key"].(string)

	rot := h.Must(opUpdate, "keys/app/rotate", `{"grace":"1h"}`)
	second, _ := data(t, rot)["secret_access_key"].(string)
	if len(second) != 40 || second == first || data(t, rot)["access_key_id"] != id || data(t, rot)["previous_secret_valid_until"] == nil {
		t.Fatalf("rotate answered %v", rot.Data)
	}
	if _, s, _, _ := b.SigningSecrets(ctx, id); !slices.Equal(s, []string{second, first}) {
		t.Fatalf("during grace: %d secrets", len(s))
	}
	h.Clock.Advance(time.Hour)
	if _, s, _, _ := b.SigningSecrets(ctx, id); !slices.Equal(s, []string{second}) {
		t.Fatalf("after grace: %d secrets", len(s))
	}
	// A rotation without grace ends the old secret at once.
	rot = h.Must(opUpdate, "keys/app/rotate", `{}`)
	third := data(t, rot)["secret_access_key"].(string)
	if _, s, _, _ := b.SigningSecrets(ctx, id); !slices.Equal(s, []string{third}) {
		t.Fatalf("after rotation without grace: %d secrets", len(s))
	}
	// A second rotation ends an earlier grace.
	h.Must(opUpdate, "keys/app/rotate", `{"grace":"1h"}`)
	rot = h.Must(opUpdate, "keys/app/rotate", `{"grace":"1h"}`)
	fifth := data(t, rot)["secret_access_key"].(string)
	if _, s, _, _ := b.SigningSecrets(ctx, id); len(s) != 2 || s[0] != fifth || slices.Contains(s, third) {
		t.Fatalf("after two rotations: %d secrets", len(s))
	}
}

func TestLogin(t *testing.T) {
	t.Parallel()
	h, b := newHarness(t)
	created := h.Must(opCreate, "keys/app", `{"policies":"payments","ttl":"10m","entity_id":"ent-1"}`)
	id := data(t, created)["access_key_id"].(string)
	other := data(t, h.Must(opCreate, "keys/other", `{}`))["access_key_id"].(string)

	login := func(id, ticket string) (*logical.Response, error) {
		return h.Do(opUpdate, "login", map[string]string{"access_key_id": id, "ticket": ticket})
	}
	ticket, err := b.LoginTicket(id)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := login(id, ticket)
	if err != nil {
		t.Fatal(err)
	}
	a := resp.Auth
	if a == nil || !slices.Equal(a.Policies, []string{"payments"}) || a.TTL != 10*time.Minute || a.Alias == nil || a.Alias.Name != "app" || a.EntityID != "ent-1" || a.Metadata["access_key_id"] != id {
		t.Fatalf("auth %+v", a)
	}
	// A ticket works once.
	_, err = login(id, ticket)
	logicaltest.WantKind(t, "ticket reused", err, logical.ErrInvalidCredentials)

	tests := []struct {
		name   string
		ticket func() string
		id     string
	}{
		{"no ticket", func() string { return "" }, id},
		{"made-up ticket", func() string { return strings.Repeat("a", 64) }, id},
		{"ticket of another key", func() string { tk, _ := b.LoginTicket(other); return tk }, id},
		{"expired ticket", func() string { tk, _ := b.LoginTicket(id); h.Clock.Advance(ticketTTL); return tk }, id},
	}
	for _, tt := range tests {
		_, err := login(tt.id, tt.ticket())
		logicaltest.WantKind(t, tt.name, err, logical.ErrInvalidCredentials)
	}
	// token_bound_cidrs limits where the login may come from.
	h.Must(opUpdate, "keys/other", `{"token_bound_cidrs":"10.0.0.0/8"}`)
	tk, _ := b.LoginTicket(other)
	_, err = login(other, tk)
	logicaltest.WantKind(t, "outside token_bound_cidrs", err, logical.ErrInvalidCredentials)
	tk, _ = b.LoginTicket(other)
	if _, err := h.DoFrom("10.1.2.3:4000", opUpdate, "login", map[string]string{"access_key_id": other, "ticket": tk}); err != nil {
		t.Fatalf("inside token_bound_cidrs: %v", err)
	}
	// A ticket for a key deleted meanwhile is refused.
	tk, _ = b.LoginTicket(id)
	h.Must(opDelete, "keys/app", nil)
	_, err = login(id, tk)
	logicaltest.WantKind(t, "deleted key", err, logical.ErrInvalidCredentials)
	if !slices.Equal(b.LoginPaths(), []string{"login"}) {
		t.Fatalf("login paths %v", b.LoginPaths())
	}
}

func TestTicketsBounded(t *testing.T) {
	t.Parallel()
	h, b := newHarness(t)
	for range maxTickets {
		if _, err := b.LoginTicket("CKIAAAAAAAAAAAAAAAAA"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.LoginTicket("CKIAAAAAAAAAAAAAAAAA"); err == nil {
		t.Fatal("tickets grew past the bound")
	}
	h.Clock.Advance(ticketTTL)
	if _, err := b.LoginTicket("CKIAAAAAAAAAAAAAAAAA"); err != nil {
		t.Fatalf("expired tickets were not dropped: %v", err)
	}
	if n := len(b.tickets); n != 1 {
		t.Fatalf("%d tickets kept", n)
	}
}

func TestPrincipals(t *testing.T) {
	t.Parallel()
	h, b := newHarness(t)
	created := h.Must(opCreate, "keys/app", `{"policies":"payments","token_bound_cidrs":"10.0.0.0/8"}`)
	ps, err := b.Principals(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 || ps[0].Kind != "key" || ps[0].Name != "app" || !slices.Equal(ps[0].Policies, []string{"default", "payments"}) ||
		ps[0].Bindings["access_key_id"] != data(t, created)["access_key_id"] || ps[0].Bindings["token_bound_cidrs"] == nil {
		t.Fatalf("principals %+v", ps)
	}
	if strings.Contains(fmt.Sprint(ps), data(t, created)["secret_access_key"].(string)) {
		t.Fatal("a principal carries the secret")
	}
}

func TestAccessKeyIDs(t *testing.T) {
	t.Parallel()
	h, _ := newHarness(t)
	seen := map[string]bool{}
	for i := range 50 {
		id := data(t, h.Must(opCreate, fmt.Sprintf("keys/k%d", i), `{}`))["access_key_id"].(string)
		if !validAccessKeyID(id) || seen[id] {
			t.Fatalf("id %q invalid or repeated", id)
		}
		seen[id] = true
	}
	for _, bad := range []string{"", "AKIAAAAAAAAAAAAAAAAA", "CKIAaaaaaaaaaaaaaaaa", "CKIAAAAAAAAAAAAAAAA", "CKIAAAAAAAAAAAAAAAA1"} {
		if validAccessKeyID(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
}

package audit_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/audit"
)

// benchAuth is the caller of a typical request: a service token.
func benchAuth() *audit.Auth {
	return &audit.Auth{
		ClientToken:    "hvs.CAESIJxq0bYbBnA3gM1lT2c3kY8Jq5m4a9q1P4o0F6w8",
		Accessor:       "2mQf1vD1nX3dYwWq8XbJ0q6L",
		DisplayName:    "approle",
		Policies:       []string{"app", "default"},
		TokenPolicies:  []string{"app", "default"},
		Metadata:       map[string]string{"role_name": "app"},
		TokenType:      "service",
		TokenTTL:       time.Hour,
		TokenIssueTime: testTime,
	}
}

// benchEntries are typical entries as the core builds them, by scenario.
func benchEntries() []struct {
	name string
	typ  string
	e    *audit.Entry
} {
	a := benchAuth()
	kvReq := audit.Request{
		ID: "5b1b4d3e-3c0a-4e1f-9d7a-5d0f6f4e2a11", Operation: "update", MountType: "kv", MountPoint: "secret/",
		MountAccessor: "kv_1a2b3c4d", ClientToken: a.ClientToken, ClientTokenAccessor: a.Accessor,
		Path: "secret/data/app/db-0042", RemoteAddress: "127.0.0.1",
		Data: json.RawMessage(`{"data":{"password":"` + string(make200()) + `","username":"app"},"options":{"cas":3}}`),
	}
	kvWrite := &audit.Entry{Time: testTime, Auth: a, Request: kvReq, Response: &audit.Response{
		MountType: "kv", MountPoint: "secret/",
		Data: json.RawMessage(`{"created_time":"2025-06-05T16:10:22.292517Z","custom_metadata":null,"deletion_time":"","destroyed":false,"version":4}`),
	}}
	readReq := kvReq
	readReq.Operation, readReq.Data = "read", nil
	kvRead := &audit.Entry{Time: testTime, Auth: a, Request: readReq, Response: &audit.Response{
		MountType: "kv", MountPoint: "secret/",
		Data: json.RawMessage(`{"data":{"password":"` + string(make200()) + `","username":"app"},"metadata":{"created_time":"2025-06-05T16:10:22.292517Z","custom_metadata":null,"deletion_time":"","destroyed":false,"version":4}}`),
	}}
	login := &audit.Entry{Time: testTime, Request: audit.Request{
		ID: "7c2d1e0f-aaaa-4bbb-8ccc-0d1e2f3a4b5c", Operation: "update", MountType: "approle", MountPoint: "auth/approle/",
		MountAccessor: "auth_approle_5e6f7a8b", Path: "auth/approle/login", RemoteAddress: "127.0.0.1",
		Data: json.RawMessage(`{"role_id":"0b4c1f2e-1d2c-4b3a-9f8e-7d6c5b4a3f2e","secret_id":"9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"}`),
	}, Response: &audit.Response{MountType: "approle", MountPoint: "auth/approle/", Auth: a}}
	return []struct {
		name string
		typ  string
		e    *audit.Entry
	}{
		{"kv-write/request", audit.TypeRequest, kvWrite},
		{"kv-write/response", audit.TypeResponse, kvWrite},
		{"kv-read/request", audit.TypeRequest, kvRead},
		{"kv-read/response", audit.TypeResponse, kvRead},
		{"approle-login/request", audit.TypeRequest, login},
		{"approle-login/response", audit.TypeResponse, login},
	}
}

// make200 is a 200-byte secret value.
func make200() []byte {
	b := make([]byte, 200)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return b
}

// BenchmarkDeviceLog formats, chains and writes typical entries through
// one device: to nowhere ("discard": formatting and the chain) and to a
// file (plus the write system call).
func BenchmarkDeviceLog(b *testing.B) {
	for _, sink := range []string{"discard", "file"} {
		for _, c := range benchEntries() {
			b.Run(sink+"/"+c.name, func(b *testing.B) {
				var d *audit.Device
				if sink == "file" {
					d, _ = newFileDevice(b, audit.DeviceOptions{})
				} else {
					f, err := audit.OpenFile(audit.FileOptions{Path: "discard"})
					if err != nil {
						b.Fatal(err)
					}
					d, err = audit.NewDevice(audit.DeviceOptions{Path: "file/", Sink: f, Keys: testKeys(b)})
					if err != nil {
						b.Fatal(err)
					}
				}
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					if err := d.Log(ctx, c.typ, c.e); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

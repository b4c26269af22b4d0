package kms

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestParseKeyID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id      string
		key     string
		version int
		ok      bool
	}{
		{"k8s-etcd:v1", "k8s-etcd", 1, true},
		{"k8s-etcd:v2147483647", "k8s-etcd", 2147483647, true},
		{"a:v1:v3", "a:v1", 3, true},
		{"k8s-etcd:v0", "", 0, false},
		{"k8s-etcd:v01", "", 0, false},
		{"k8s-etcd:v2147483648", "", 0, false},
		{"k8s-etcd:v-1", "", 0, false},
		{"k8s-etcd:v+1", "", 0, false},
		{"k8s-etcd:v", "", 0, false},
		{"k8s-etcd", "", 0, false},
		{":v1", "", 0, false},
		{"", "", 0, false},
		{"k8s-etcd:v1 ", "", 0, false},
	}
	for _, tt := range tests {
		key, version, err := parseKeyID(tt.id)
		if (err == nil) != tt.ok || key != tt.key || version != tt.version {
			t.Errorf("parseKeyID(%q) = %q, %d, %v; want %q, %d, ok %v", tt.id, key, version, err, tt.key, tt.version, tt.ok)
		}
	}
}

func TestParseCiphertext(t *testing.T) {
	t.Parallel()
	body := base64.StdEncoding.EncodeToString([]byte("twelve bytes and a tag"))
	tests := []struct {
		ct      string
		version int
		ok      bool
	}{
		{"vault:v1:" + body, 1, true},
		{"vault:v42:" + body, 42, true},
		{"vault:v1:", 0, false},
		{"vault:v0:" + body, 0, false},
		{"vault:v01:" + body, 0, false},
		{"vault:v1" + body, 0, false},
		{"vault:1:" + body, 0, false},
		{"coffer:v1:" + body, 0, false},
		{"vault:v1:" + body + "\n", 0, false},
		{"vault:v1:" + strings.TrimRight(body, "="), 0, false},
		{"vault:v1:not base64!", 0, false},
		{"vault:v1:" + strings.Repeat("A", 1024), 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		version, err := parseCiphertext([]byte(tt.ct))
		if (err == nil) != tt.ok || version != tt.version {
			t.Errorf("parseCiphertext(%q) = %d, %v; want %d, ok %v", tt.ct, version, err, tt.version, tt.ok)
		}
	}
}

func FuzzParseKeyID(f *testing.F) {
	for _, s := range []string{"k8s-etcd:v1", "a:v1:v3", "x:v0", ":v1", "k:v2147483648", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		key, version, err := parseKeyID(id)
		if err != nil {
			// Errors are fixed sentences: they cannot quote the input.
			if err != errKeyIDShape {
				t.Fatalf("parseKeyID(%q) error = %v, want errKeyIDShape", id, err)
			}
			return
		}
		if key == "" || version < 1 || version > maxVersion {
			t.Fatalf("parseKeyID(%q) = %q, %d: out of range", id, key, version)
		}
		if got := formatKeyID(key, version); got != id {
			t.Fatalf("formatKeyID(parseKeyID(%q)) = %q", id, got)
		}
	})
}

func FuzzParseCiphertext(f *testing.F) {
	for _, s := range []string{"vault:v1:AAAA", "vault:v12:aGVsbG8=", "vault:v1:", "vault:v0:AAAA", "vault:v1:AA=A", "garbage"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, ct []byte) {
		version, err := parseCiphertext(ct)
		if err != nil {
			// Errors are fixed sentences: they cannot quote the input.
			if err != errCiphertextShape && err != errCiphertextSize {
				t.Fatalf("parseCiphertext(%q) error = %v, want a fixed error", ct, err)
			}
			return
		}
		if version < 1 || version > maxVersion || len(ct) > MaxCiphertext {
			t.Fatalf("parseCiphertext(%q) = %d: out of range", ct, version)
		}
		// A valid ciphertext is exactly prefix, version, colon, canonical
		// base64 of its body.
		rest := strings.TrimPrefix(string(ct), ciphertextPrefix)
		num, body, _ := strings.Cut(rest, ":")
		raw, err := base64.StdEncoding.DecodeString(body)
		if err != nil || base64.StdEncoding.EncodeToString(raw) != body || formatKeyID("k", version) != "k:v"+num {
			t.Fatalf("parseCiphertext(%q) accepted a non-canonical ciphertext", ct)
		}
	})
}

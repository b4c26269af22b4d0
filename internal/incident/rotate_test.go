package incident

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// mountLine is a response line by entity e1 of an audit log, with the
// mount the request went to.
func mountLine(op, mountType, mount, path, data, lease string) string {
	resp := map[string]any{}
	if data != "" {
		resp["data"] = json.RawMessage(data)
	}
	if lease != "" {
		resp["secret"] = map[string]any{"lease_id": lease}
	}
	b, _ := json.Marshal(map[string]any{"type": "response", "time": "2026-05-01T10:00:00Z",
		"auth":     map[string]any{"entity_id": "e1"},
		"request":  map[string]any{"operation": op, "mount_type": mountType, "mount_point": mount, "path": path},
		"response": resp})
	return string(b)
}

func TestPlan(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		lines []string
		want  []string // "action target versions"
	}{
		{"nothing", nil, nil},
		{"KV v2 reads, versions merged", []string{
			mountLine("read", "kv", "secret/", "secret/data/pay/db", `{"metadata":{"version":2}}`, ""),
			mountLine("read", "kv", "secret/", "secret/data/pay/db", `{"metadata":{"version":1}}`, ""),
			mountLine("read", "kv", "secret/", "secret/data/pay/db", `{"metadata":{"version":2}}`, ""),
		}, []string{"rotate-kv secret/data/pay/db [1 2]"}},
		{"KV v1 and other engines need a human", []string{
			mountLine("read", "kv", "kv1/", "kv1/pay", `{"k":"hmac-sha256:x"}`, ""),
			mountLine("read", "cubbyhole", "cubbyhole/", "cubbyhole/x", `{}`, ""),
			mountLine("read", "kv", "secret/", "secret/data/", `{}`, ""),
		}, []string{"change-by-hand cubbyhole/x []", "change-by-hand kv1/pay []", "change-by-hand secret/data/ []"}},
		{"database static role and credentials", []string{
			mountLine("read", "database", "db/", "db/static-creds/report", `{"password":"hmac-sha256:x"}`, ""),
			mountLine("read", "database", "db/", "db/creds/app", `{"username":"hmac-sha256:u"}`, "db/creds/app/L1"),
			mountLine("read", "database", "db/", "db/creds/app", `{"username":"hmac-sha256:u"}`, "db/creds/app/L2"),
		}, []string{"rotate-static-role db/static-creds/report []", "revoke-lease db/creds/app/L1 []", "revoke-lease db/creds/app/L2 []"}},
		{"transit encryptions, decryptions left out", []string{
			mountLine("update", "transit", "transit/", "transit/encrypt/pay", `{"ciphertext":"hmac-sha256:c","key_version":1}`, ""),
			mountLine("update", "transit", "transit/", "transit/encrypt/pay", `{"ciphertext":"hmac-sha256:c","key_version":3}`, ""),
			mountLine("update", "transit", "transit/", "transit/decrypt/pay", `{"plaintext":"hmac-sha256:p"}`, ""),
			mountLine("update", "transit", "transit/", "transit/datakey/plaintext/pay", `{"ciphertext":"hmac-sha256:c","key_version":4}`, ""),
			mountLine("update", "transit", "transit/", "transit/datakey/wrapped/other", `{"ciphertext":"hmac-sha256:c","key_version":1}`, ""),
			mountLine("update", "transit", "transit/", "transit/encrypt/", `{}`, ""),
		}, []string{"rotate-transit-key transit/keys/other [1]", "rotate-transit-key transit/keys/pay [1 3 4]"}},
		{"transit batch encryptions", []string{
			mountLine("update", "transit", "transit/", "transit/encrypt/pay", `{"batch_results":[{"ciphertext":"hmac-sha256:c","key_version":2},{"key_version":5},{"error":"x"}]}`, ""),
		}, []string{"rotate-transit-key transit/keys/pay [2 5]"}},
		{"certificates issued and signed", []string{
			mountLine("update", "pki", "pki/", "pki/issue/web", `{"serial_number":"hmac-sha256:s1"}`, ""),
			mountLine("update", "pki", "pki/", "pki/sign/web", `{"serial_number":"aa:bb"}`, ""),
			mountLine("update", "pki", "pki/", "pki/roles/web", `{}`, ""),
		}, []string{"revoke-cert aa:bb []", "revoke-cert hmac-sha256:s1 []"}},
		{"reads of what holds no secret plan nothing", []string{
			mountLine("read", "kv", "secret/", "secret/metadata/pay/db", `{"versions":{}}`, ""),
			mountLine("read", "kv", "secret/", "secret/subkeys/pay/db", `{}`, ""),
			mountLine("read", "kv", "secret/", "secret/config", `{}`, ""),
			mountLine("read", "kv", "secret/", "secret/rotation/pay/db", `{}`, ""),
			mountLine("read", "database", "db/", "db/config/main", `{}`, ""),
			mountLine("read", "database", "db/", "db/roles/app", `{}`, ""),
			mountLine("read", "transit", "transit/", "transit/keys/pay", `{}`, ""),
			mountLine("read", "pki", "pki/", "pki/cert/01", `{}`, ""),
		}, nil},
		{"transit keys exported or backed up", []string{
			mountLine("read", "transit", "transit/", "transit/export/encryption-key/pay", `{}`, ""),
			mountLine("read", "transit", "transit/", "transit/export/signing-key/sig/2", `{}`, ""),
			mountLine("read", "transit", "transit/", "transit/backup/bk", `{}`, ""),
			mountLine("read", "transit", "transit/", "transit/export/encryption-key", `{}`, ""),
		}, []string{"rotate-transit-key transit/keys/bk []", "rotate-transit-key transit/keys/pay []", "rotate-transit-key transit/keys/sig []", "change-by-hand transit/export/encryption-key []"}},
		{"writes are not rotated", []string{
			mountLine("update", "kv", "secret/", "secret/data/pay/db", `{"version":3}`, ""),
		}, nil},
		{"order: KV, database, transit, certificates, by hand", []string{
			mountLine("read", "cubbyhole", "cubbyhole/", "cubbyhole/x", `{}`, ""),
			mountLine("update", "pki", "pki/", "pki/issue/web", `{"serial_number":"01"}`, ""),
			mountLine("update", "transit", "transit/", "transit/encrypt/k", `{"key_version":1}`, ""),
			mountLine("read", "database", "db/", "db/static-creds/r", `{}`, ""),
			mountLine("read", "kv", "secret/", "secret/data/a", `{"metadata":{"version":1}}`, ""),
		}, []string{"rotate-kv secret/data/a [1]", "rotate-static-role db/static-creds/r []", "rotate-transit-key transit/keys/k [1]", "revoke-cert 01 []", "change-by-hand cubbyhole/x []"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rep, err := Build(strings.NewReader(strings.Join(tt.lines, "\n")), Targets{EntityIDs: []string{"e1"}})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range Plan(rep) {
				got = append(got, fmt.Sprintf("%s %s %v", a.Kind, a.Target, a.Versions))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("plan =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestPlanNames(t *testing.T) {
	t.Parallel()
	rep := &Report{Reads: []Read{
		{Path: "kv2/data/a/b/c", Mount: "kv2/", MountType: "kv"},
		{Path: "db/static-creds/r", Mount: "db/", MountType: "database"},
	}}
	got := Plan(rep)
	if len(got) != 2 || got[0].Name != "a/b/c" || got[0].Mount != "kv2/" || got[1].Name != "r" {
		t.Errorf("plan = %+v", got)
	}
}

// FuzzPlan: whatever the audit log holds, the plan has one action per
// (action, target), each with a target and sorted, distinct versions.
func FuzzPlan(f *testing.F) {
	f.Add(mountLine("read", "kv", "secret/", "secret/data/x", `{"metadata":{"version":2}}`, ""))
	f.Add(mountLine("update", "transit", "transit/", "transit/encrypt/k", `{"key_version":"x"}`, ""))
	f.Add(mountLine("update", "pki", "pki/", "pki/issue/r", `{"serial_number":7}`, ""))
	f.Add(mountLine("read", "database", "db/", "db/static-creds/", `{}`, "db/creds/x/1"))
	f.Fuzz(func(t *testing.T, s string) {
		rep, err := Build(strings.NewReader(s), Targets{EntityIDs: []string{"e1"}})
		if err != nil {
			return
		}
		seen := map[[2]string]bool{}
		for _, a := range Plan(rep) {
			k := [2]string{a.Kind, a.Target}
			if a.Target == "" || seen[k] {
				t.Errorf("action %+v: empty or repeated", a)
			}
			seen[k] = true
			if !slices.IsSorted(a.Versions) || len(slices.Compact(slices.Clone(a.Versions))) != len(a.Versions) {
				t.Errorf("action %+v: versions not sorted and distinct", a)
			}
		}
	})
}

func TestPlanCiphertexts(t *testing.T) {
	t.Parallel()
	lines := []string{
		mountLine("update", "transit", "transit/", "transit/encrypt/pay", `{"ciphertext":"vault:v1:AAA","key_version":1}`, ""),
		mountLine("update", "transit", "transit/", "transit/encrypt/pay", `{"batch_results":[{"ciphertext":"vault:v2:BBB","key_version":2},{"ciphertext":"hmac-sha256:c","key_version":2}]}`, ""),
	}
	rep, err := Build(strings.NewReader(strings.Join(lines, "\n")), Targets{EntityIDs: []string{"e1"}})
	if err != nil {
		t.Fatal(err)
	}
	p := Plan(rep)
	if len(p) != 1 || !slices.Equal(p[0].Ciphertexts, []string{"vault:v1:AAA", "vault:v2:BBB"}) || !slices.Equal(p[0].Versions, []int64{1, 2}) {
		t.Errorf("plan = %+v; want the two clear ciphertexts and versions 1, 2", p)
	}
}

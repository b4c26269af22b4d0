package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseMigrate(t *testing.T) {
	t.Parallel()
	m, err := ParseMigrate([]byte(`
storage_source "file" {
  path = "/var/lib/vault"
}
storage_destination "postgresql" {
  connection_url = "postgres://coffer@db/coffer"
  ha_enabled     = "true"
}
cluster_addr = "https://10.0.0.5:8201"
`), "migrate.hcl")
	if err != nil {
		t.Fatalf("ParseMigrate = %v", err)
	}
	want := &Migrate{
		Source:      &Storage{Type: StorageBolt, Bolt: &BoltStorage{Path: "/var/lib/vault/coffer.db"}},
		Destination: &Storage{Type: StoragePostgres, Postgres: &PostgresStorage{ConnectionURL: "postgres://coffer@db/coffer", Table: DefaultPostgresTable, HAEnabled: true, MaxParallel: DefaultPostgresMaxParallel, HALeaseTTL: DefaultHALeaseTTL}},
		ClusterAddr: "https://10.0.0.5:8201",
	}
	if d := cmp.Diff(want, m, cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Warnings" }, cmp.Ignore())); d != "" {
		t.Errorf("ParseMigrate (-want +got):\n%s", d)
	}
	if len(m.Warnings) != 1 || m.Warnings[0].Key != "cluster_addr" {
		t.Errorf("Warnings = %+v, want one for cluster_addr", m.Warnings)
	}
}

func TestParseMigrateErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, src string
		want      []string
	}{
		{"missing both", `cluster_addr = "10.0.0.1:8201"`, []string{"missing storage_source block", "missing storage_destination block"}},
		{"bad key", "storage_source \"bolt\" {\n  pathh = \"x\"\n}\nstorage_destination \"bolt\" { path = \"y\" }", []string{`migrate.hcl:2,3-8: unknown key "pathh" in storage_source "bolt"; did you mean "path"?`, `storage_source "bolt" needs a path`}},
		{"second source", "storage_source \"bolt\" { path = \"a\" }\nstorage_source \"bolt\" { path = \"b\" }\nstorage_destination \"bolt\" { path = \"c\" }", []string{"second storage_source block"}},
		{"inmem", "storage_source \"inmem\" {}\nstorage_destination \"bolt\" { path = \"c\" }", []string{"in-memory storage"}},
		{"unknown type", "storage_source \"raft\" {}\nstorage_destination \"bolt\" { path = \"c\" }", []string{`storage type "raft" is not supported`}},
		{"server block", "storage \"bolt\" { path = \"a\" }\nstorage_source \"bolt\" { path = \"a\" }\nstorage_destination \"bolt\" { path = \"c\" }", []string{`unknown block "storage"`}},
		{"postgres url", "storage_source \"bolt\" { path = \"a\" }\nstorage_destination \"postgresql\" {}", []string{`storage_destination "postgresql" needs a connection_url`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseMigrate([]byte(tt.src), "migrate.hcl")
			if err == nil {
				t.Fatalf("ParseMigrate(%q) = nil error, want %q", tt.src, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("ParseMigrate(%q) = %v, want it to contain %q", tt.src, err, w)
				}
			}
		})
	}
}

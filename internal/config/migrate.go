package config

import (
	"fmt"
	"os"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Migrate is the file of `coffer operator migrate -config FILE`, in the
// form of Vault's migration file:
//
//	storage_source "bolt" {
//	  path = "/var/lib/coffer/coffer.db"
//	}
//
//	storage_destination "postgresql" {
//	  connection_url = "postgres://coffer@db.example.com/coffer"
//	}
//
// Each block takes exactly the keys of the storage block of the same type
// (see [Storage]); Vault's storage "file" is accepted as the bolt alias
// here too.
type Migrate struct {
	// Source (storage_source, required) is the storage copied from.
	Source *Storage
	// Destination (storage_destination, required) is the storage copied
	// to.
	Destination *Storage
	// ClusterAddr (cluster_addr) is accepted because Vault's migration
	// files carry it for an integrated-storage destination; Coffer has no
	// such storage and does not use it.
	ClusterAddr string
	// Warnings name the keys accepted and ignored, as [Config.Warnings].
	Warnings []Warning
}

// LoadMigrate reads the migration file at path and parses it with
// [ParseMigrate].
func LoadMigrate(path string) (*Migrate, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read migration config: %w", err)
	}
	return ParseMigrate(src, path)
}

// ParseMigrate decodes and validates a migration file, reporting every
// problem as [Parse] does (an [*Error] each, joined). Both storage blocks
// are decoded and checked by the code that reads the server's storage
// block. filename is used only in messages.
func ParseMigrate(src []byte, filename string) (*Migrate, error) {
	file, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	if diags.HasErrors() {
		var ps problems
		ps.diags(diags)
		return nil, ps.join()
	}
	body, ok := file.Body.(*hclsyntax.Body)
	if !ok {
		panic(fmt.Sprintf("config: unexpected HCL body type %T", file.Body))
	}
	newDecoder := func() *decoder {
		return &decoder{src: &sources{filename: filename, at: make(map[string]origin), broken: make(map[string]bool)}}
	}
	m := &Migrate{}
	top := newDecoder()
	top.body(body, schema{
		fields: map[string]setter{"cluster_addr": str(&m.ClusterAddr)},
		blocks: []string{"storage_source", "storage_destination"},
	})
	ps := top.ps
	ws := top.ws
	if m.ClusterAddr != "" {
		if err := checkClusterAddr(m.ClusterAddr); err != nil {
			ps.add(top.src.at["cluster_addr"].rng, "cluster_addr %q: %v", m.ClusterAddr, err)
		}
		ws.add(top.src.at["cluster_addr"].rng, "", "", "cluster_addr", "Coffer has no integrated (Raft) storage to join; a migration needs no cluster address")
	}
	seen := map[string]*hclsyntax.Block{}
	for _, b := range body.Blocks {
		if first := seen[b.Type]; first != nil {
			ps.add(b.DefRange(), "second %s block; exactly one is allowed (the first is at line %d)", b.Type, first.TypeRange.Start.Line)
			continue
		}
		seen[b.Type] = b
		d := newDecoder()
		d.src.storageBlock = b.Type
		c := &Config{Storage: d.storage(b), src: d.src}
		c.applyDefaults()
		v := validator{c: c, ws: &d.ws}
		if c.Storage != nil {
			v.storage()
		}
		ps = append(ps, d.ps...)
		ps = append(ps, v.ps...)
		ws.list = append(ws.list, d.ws.list...)
		if c.Storage != nil && c.Storage.Type == StorageInmem {
			ps.add(b.LabelRanges[0], "%s \"inmem\": in-memory storage lives only inside a server process; migrate from or to bolt or postgresql", b.Type)
		}
		switch b.Type {
		case "storage_source":
			m.Source = c.Storage
		case "storage_destination":
			m.Destination = c.Storage
		}
	}
	for _, kind := range []string{"storage_source", "storage_destination"} {
		if seen[kind] == nil {
			ps.addAt(filename, `missing %s block; add one such as %s "bolt" { path = "/var/lib/coffer/coffer.db" }`, kind, kind)
		}
	}
	if err := ps.join(); err != nil {
		return nil, err
	}
	m.Warnings = ws.sorted()
	return m, nil
}

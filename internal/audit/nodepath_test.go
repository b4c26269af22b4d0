package audit_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coffer-secrets/coffer/internal/audit"
)

func TestExpandPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, path, node, want, wantErr string
	}{
		{name: "no placeholder", path: "/var/log/a.log", node: "n1", want: "/var/log/a.log"},
		{name: "node id", path: "/var/log/audit-{{node_id}}.log", node: "node-1", want: "/var/log/audit-node-1.log"},
		{name: "twice", path: "/l/{{node_id}}/{{node_id}}.log", node: "n.2", want: "/l/n.2/n.2.log"},
		{name: "single server", path: "/l/a-{{node_id}}.log", node: "", want: "/l/a-standalone.log"},
		{name: "unknown placeholder", path: "/l/{{host}}.log", node: "n1", wantErr: "unknown placeholder"},
		{name: "stray braces", path: "/l/{{node_id.log", node: "n1", wantErr: "unknown placeholder"},
		{name: "closing braces", path: "/l/x}}.log", node: "n1", wantErr: "unknown placeholder"},
		{name: "node id with a slash", path: "/l/{{node_id}}.log", node: "a/b", wantErr: "file name"},
		{name: "node id dot-dot", path: "/l/{{node_id}}", node: "..", wantErr: "file name"},
		{name: "unsafe node id unused", path: "/l/a.log", node: "a/b", want: "/l/a.log"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := audit.ExpandPath(tt.path, tt.node)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ExpandPath(%q, %q) = %q, %v; want error with %q", tt.path, tt.node, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ExpandPath(%q, %q) = %q, %v; want %q", tt.path, tt.node, got, err, tt.want)
			}
		})
	}
}

func TestParseConfigPlaceholders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path string
		ok   bool
	}{
		{"/l/audit-{{node_id}}.log", true},
		{"/l/audit-{{ node_id }}.log", false},
		{"/l/audit-{{NODE_ID}}.log", false},
		{"/l/audit-{{hostname}}.log", false},
	}
	for _, tt := range tests {
		_, err := audit.ParseConfig("file", map[string]string{"file_path": tt.path})
		if (err == nil) != tt.ok {
			t.Errorf("ParseConfig(file_path=%q) = %v, want ok %t", tt.path, err, tt.ok)
		}
	}
}

// TestOpenPerNodeFiles: two nodes open one device whose path has the
// placeholder: each writes its own file, its own chain, with its node ID
// in every line.
func TestOpenPerNodeFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c, err := audit.ParseConfig("file", map[string]string{"file_path": filepath.Join(dir, "audit-{{node_id}}.log")})
	if err != nil {
		t.Fatal(err)
	}
	c.File.AllowedDirs = []string{dir}
	keys := testKeys(t)
	chains := map[string]string{}
	for _, node := range []string{"node0", "node1"} {
		d, err := audit.Open(c, audit.OpenParams{Path: "file/", Keys: keys, NodeID: node})
		if err != nil {
			t.Fatalf("Open as %s: %v", node, err)
		}
		if err := d.Log(t.Context(), audit.TypeRequest, sampleEntry()); err != nil {
			t.Fatal(err)
		}
		if err := d.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		_, lines := readLines(t, filepath.Join(dir, "audit-"+node+".log"))
		for _, l := range lines {
			if l.NodeID != node {
				t.Errorf("%s's file: line %d of type %s has node_id %q", node, l.Seq, l.Type, l.NodeID)
			}
		}
		chains[node] = lines[0].ChainID
	}
	if chains["node0"] == chains["node1"] {
		t.Errorf("both nodes' files have chain %s, want one chain each", chains["node0"])
	}
}

// TestFileInUse: a file open in one audit device (of this process or
// another) is refused to a second one, which would interleave its chain
// with the first's; once the first closes it, it opens. A reload of the
// same, unrotated file keeps it.
func TestFileInUse(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "shared.log")
	first, err := audit.OpenFile(audit.FileOptions{Path: path, AllowAnyDir: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := audit.OpenFile(audit.FileOptions{Path: path, AllowAnyDir: true}); !errors.Is(err, audit.ErrFileInUse) {
		t.Fatalf("second OpenFile = %v, want ErrFileInUse", err)
	}
	if err := first.Reload(); err != nil {
		t.Fatalf("Reload of the same file = %v", err)
	}
	if err := first.Write(t.Context(), []byte("{}\n")); err != nil {
		t.Fatalf("Write after Reload = %v", err)
	}
	// A rotated file: the reload opens (and locks) the new one.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := first.Reload(); err != nil {
		t.Fatalf("Reload after rotation = %v", err)
	}
	if _, err := audit.OpenFile(audit.FileOptions{Path: path, AllowAnyDir: true}); !errors.Is(err, audit.ErrFileInUse) {
		t.Fatalf("OpenFile of the new file = %v, want ErrFileInUse", err)
	}
	old, err := audit.OpenFile(audit.FileOptions{Path: path + ".1", AllowAnyDir: true})
	if err != nil {
		t.Fatalf("OpenFile of the rotated file, released = %v", err)
	}
	old.Close()
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := audit.OpenFile(audit.FileOptions{Path: path, AllowAnyDir: true})
	if err != nil {
		t.Fatalf("OpenFile after Close = %v", err)
	}
	again.Close()
}

// FuzzExpandPath: any path and node ID either expand or are refused,
// never panic; an expansion holds no placeholder and no path separator
// that the path itself did not have.
func FuzzExpandPath(f *testing.F) {
	f.Add("/var/log/audit-{{node_id}}.log", "node-1")
	f.Add("/l/{{node_id}}/{{node_id}}", "..")
	f.Add("{{{{node_id}}}}", "a")
	f.Add("/l/{{node_id", "a/b")
	f.Fuzz(func(t *testing.T, path, node string) {
		got, err := audit.ExpandPath(path, node)
		if err != nil {
			return
		}
		if strings.Contains(got, "{{") && !strings.Contains(path, "{{") {
			t.Errorf("ExpandPath(%q, %q) = %q: a placeholder appeared", path, node, got)
		}
		if strings.Count(got, "/") != strings.Count(path, "/") {
			t.Errorf("ExpandPath(%q, %q) = %q: the node ID added a path separator", path, node, got)
		}
		if !strings.Contains(path, audit.NodeIDPlaceholder) && got != path {
			t.Errorf("ExpandPath(%q, %q) = %q, want the path unchanged", path, node, got)
		}
	})
}

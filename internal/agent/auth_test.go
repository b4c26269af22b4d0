package agent

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coffer-secrets/coffer/internal/agent/config"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestNewMethodJWTAndKubernetes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   config.Method
		want Method
	}{
		{
			name: "kubernetes",
			in:   config.Method{Type: "kubernetes", MountPath: "/auth/k8s/", Kubernetes: &config.Kubernetes{Role: "web", TokenPath: "/run/sa/token"}},
			want: &Kubernetes{MountPath: "auth/k8s", Role: "web", TokenPath: "/run/sa/token"},
		},
		{
			name: "jwt",
			in:   config.Method{Type: "jwt", MountPath: "auth/jwt", JWT: &config.JWT{Role: "ci", Path: "/run/jwt", RemoveJWTAfterReading: true, RemoveJWTFollowsSymlinks: true}},
			want: &JWT{MountPath: "auth/jwt", Role: "ci", Path: "/run/jwt", RemoveAfterReading: true, FollowSymlinks: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := NewMethod(tt.in)
			if err != nil {
				t.Fatalf("NewMethod(%+v) error = %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreUnexported(JWT{})); diff != "" {
				t.Errorf("NewMethod(%+v) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestReadJWTFile(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", maxJWTFileBytes+1)
	tests := []struct {
		name    string
		content *string // nil: no file
		want    string
		wantErr string
	}{
		{name: "trimmed", content: new("\n  eyJhbGciOiJFUzI1NiJ9.e30.sig \n"), want: "eyJhbGciOiJFUzI1NiJ9.e30.sig"},
		{name: "exactly the limit", content: new(big[:maxJWTFileBytes]), want: big[:maxJWTFileBytes]},
		{name: "empty", content: new(" \n\t\n"), wantErr: "is empty"},
		{name: "too large", content: &big, wantErr: "is larger than 65536 bytes"},
		{name: "missing", wantErr: "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "token")
			if tt.content != nil {
				writeFile(t, path, *tt.content)
			}
			got, err := readJWTFile(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path) {
					t.Fatalf("readJWTFile() = %d bytes, %v; want an error naming %s with %q", len(got), err, path, tt.wantErr)
				}
				if len(err.Error()) > 500 {
					t.Errorf("readJWTFile() error is %d bytes long: it must not hold the file", len(err.Error()))
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("readJWTFile() = %d bytes, %v; want %d bytes", len(got), err, len(tt.want))
			}
		})
	}
}

// TestJWTTokenRemoval checks what each read of the JWT method returns and
// what it leaves on disk, step by step.
func TestJWTTokenRemoval(t *testing.T) {
	t.Parallel()
	type step struct {
		write    string // when set, written to the file (or link target) first
		want     string // token returned; "" means an error
		fileLeft bool   // whether the file at Path still exists afterwards
	}
	tests := []struct {
		name    string
		remove  bool
		follow  bool
		symlink bool // Path is a link to a file beside it
		steps   []step
	}{
		{
			name: "kept file is read each time",
			steps: []step{
				{write: "jwt-1", want: "jwt-1", fileLeft: true},
				{want: "jwt-1", fileLeft: true},
				{write: "jwt-2", want: "jwt-2", fileLeft: true},
			},
		},
		{
			name:   "removed file, then the kept token, then a new file",
			remove: true,
			steps: []step{
				{write: "jwt-1", want: "jwt-1"},
				{want: "jwt-1"},
				{write: "jwt-2", want: "jwt-2"},
				{want: "jwt-2"},
			},
		},
		{
			name:   "no file and nothing kept",
			remove: true,
			steps:  []step{{want: ""}},
		},
		{
			name:    "symlink removed, its target kept",
			remove:  true,
			symlink: true,
			steps:   []step{{write: "jwt-1", want: "jwt-1"}, {want: "jwt-1"}},
		},
		{
			name:    "symlink followed: the target is removed",
			remove:  true,
			follow:  true,
			symlink: true,
			steps:   []step{{write: "jwt-1", want: "jwt-1"}, {want: "jwt-1"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path, target := filepath.Join(dir, "jwt"), filepath.Join(dir, "jwt")
			if tt.symlink {
				target = filepath.Join(dir, "data", "jwt")
				if err := os.Mkdir(filepath.Dir(target), 0o700); err != nil {
					t.Fatal(err)
				}
			}
			j := &JWT{MountPath: "auth/jwt", Role: "ci", Path: path, RemoveAfterReading: tt.remove, FollowSymlinks: tt.follow}
			for i, st := range tt.steps {
				if st.write != "" {
					writeFile(t, target, st.write+"\n")
					if tt.symlink {
						os.Remove(path)
						if err := os.Symlink(target, path); err != nil {
							t.Fatal(err)
						}
					}
				}
				got, err := j.token()
				switch {
				case st.want == "" && err == nil:
					t.Fatalf("step %d: token() = %q, want an error", i, got)
				case st.want != "" && (err != nil || got != st.want):
					t.Fatalf("step %d: token() = %q, %v; want %q", i, got, err, st.want)
				}
				if _, err := os.Stat(path); (err == nil) != st.fileLeft {
					t.Errorf("step %d: file at path exists = %v, want %v", i, err == nil, st.fileLeft)
				}
			}
			if tt.symlink {
				_, linkErr := os.Lstat(path)
				_, targetErr := os.Stat(target)
				if tt.follow && (linkErr != nil || !errors.Is(targetErr, os.ErrNotExist)) {
					t.Errorf("following the link: link err %v, target err %v; want the link kept and the target removed", linkErr, targetErr)
				}
				if !tt.follow && (!errors.Is(linkErr, os.ErrNotExist) || targetErr != nil) {
					t.Errorf("not following the link: link err %v, target err %v; want the link removed and the target kept", linkErr, targetErr)
				}
			}
		})
	}
}

package testbin

import (
	"os/exec"
	"strings"
	"testing"
)

func TestBuild(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		pkg     string
		wantErr string // in the error; "" for success
	}{
		{name: "main package", pkg: "./testdata/hello"},
		{name: "missing package", pkg: "./testdata/nothing-here", wantErr: "go build ./testdata/nothing-here"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bin, err := build(t.TempDir(), tt.pkg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("build(%q) error = %v, want one containing %q", tt.pkg, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("build(%q): %v", tt.pkg, err)
			}
			out, err := exec.Command(bin).Output()
			if err != nil || string(out) != "hello from testbin\n" {
				t.Fatalf("running the built binary = %q, %v", out, err)
			}
		})
	}
}

package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/coffer-secrets/coffer/internal/atomicfile"
	"github.com/coffer-secrets/coffer/internal/snapshot"
)

// snapshotCommands are `operator snapshot save` and `restore`.
func snapshotCommands() map[string]*command {
	return map[string]*command{
		"operator snapshot": {synopsis: "Saves and restores snapshots of the server's storage"},
		"operator snapshot save": {
			synopsis: "Saves a snapshot of the server's storage into a file",
			usage:    "[options] FILE",
			help: `Saves a consistent, point-in-time snapshot of the whole storage into
FILE (sys/storage/snapshot). The values stay encrypted by the barrier; the
snapshot can only be used with the unseal keys of the server it comes
from. The file is written under a temporary name, checked (framing and
SHA-256) and renamed: FILE is either complete or left as it was. Needs a
token with sudo on sys/storage/snapshot.`,
			server: true,
			setup:  func(*flag.FlagSet) runFunc { return runSnapshotSave },
		},
		"operator snapshot restore": {
			synopsis: "Installs a snapshot, returning the server to its state",
			usage:    "[options] FILE",
			help: `Checks FILE in full (framing and SHA-256), then sends it to the server
(sys/storage/snapshot), which checks it again and replaces its whole
storage with it in one transaction, then reloads. A snapshot taken with
other keys (another cluster) is refused unless -force is given
(sys/storage/snapshot-force); the server is then sealed and must be
unsealed with the snapshot's unseal keys. Needs a token with sudo.`,
			server: true,
			setup: func(fs *flag.FlagSet) runFunc {
				force := fs.Bool("force", false, "Install a snapshot taken with other keys; the server seals and needs the snapshot's unseal keys.")
				return func(ctx context.Context, c *call, args []string) int {
					return runSnapshotRestore(ctx, c, args, *force)
				}
			},
		},
	}
}

func runSnapshotSave(ctx context.Context, c *call, args []string) int {
	if len(args) != 1 {
		return c.usageError("Expected exactly one argument, the file to write (got %d)", len(args))
	}
	cl, ok := c.newClient()
	if !ok {
		return exitServer
	}
	resp, err := cl.Logical().ReadRawWithContext(ctx, "sys/storage/snapshot")
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		return c.serverError("saving snapshot from", "sys/storage/snapshot", err)
	}
	defer resp.Body.Close()
	var hdr snapshot.Header
	err = atomicfile.Write(args[0], 0o600, func(w io.Writer) error {
		var err error
		hdr, err = verify(io.TeeReader(resp.Body, w))
		return err
	})
	if err != nil {
		fmt.Fprintf(c.env.Stderr, "Error saving snapshot: %v\n", err)
		return exitServer
	}
	if c.format == "json" {
		return c.printJSONOrFail(hdr)
	}
	return exitOK
}

func runSnapshotRestore(ctx context.Context, c *call, args []string, force bool) int {
	if len(args) != 1 {
		return c.usageError("Expected exactly one argument, the snapshot file (got %d)", len(args))
	}
	f, err := os.Open(args[0])
	if err != nil {
		fmt.Fprintf(c.env.Stderr, "Error opening snapshot file: %v\n", err)
		return exitUsage
	}
	defer f.Close()
	// Refuse a damaged file here, before sending anything.
	if _, err := verify(f); err != nil {
		fmt.Fprintf(c.env.Stderr, "Error reading snapshot file %s: %v\n", args[0], err)
		return exitUsage
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		fmt.Fprintf(c.env.Stderr, "Error reading snapshot file %s: %v\n", args[0], err)
		return exitUsage
	}
	cl, ok := c.newClient()
	if !ok {
		return exitServer
	}
	path := "sys/storage/snapshot"
	if force {
		path = "sys/storage/snapshot-force"
	}
	req := cl.NewRequest(http.MethodPost, "/v1/"+path)
	req.Body = f
	//lint:ignore SA1019 the body is streamed from the file; the Logical helpers would hold it all in memory
	resp, err := cl.RawRequestWithContext(ctx, req)
	if resp != nil {
		resp.Body.Close()
	}
	if err != nil {
		return c.serverError("restoring snapshot with", path, err)
	}
	return exitOK
}

// verify reads a whole snapshot, checking it, and returns its header.
func verify(r io.Reader) (snapshot.Header, error) {
	sr, err := snapshot.NewReader(r)
	if err != nil {
		return snapshot.Header{}, err
	}
	for {
		_, _, err := sr.Next()
		if errors.Is(err, io.EOF) {
			return sr.Header(), nil
		}
		if err != nil {
			return snapshot.Header{}, err
		}
	}
}

package cli

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/hashicorp/vault/api"
)

// kvTarget is a KV secret path resolved against its mount.
type kvTarget struct {
	// mount is the mount point with a trailing slash ("secret/"), or "" when
	// the server did not say (the path is then used as given, as KV v1).
	mount string
	// rel is the path inside the mount, without leading slash.
	rel string
	// v2 is true for a KV version 2 mount.
	v2 bool
}

// apiPath is the request path for the v2 endpoint prefix ("data",
// "metadata", "delete", "undelete", "destroy"), or the plain path for v1.
func (t kvTarget) apiPath(prefix string) string {
	if !t.v2 {
		return t.mount + t.rel
	}
	return t.mount + prefix + "/" + t.rel
}

// resolveKV finds the mount of a KV path and its version, asking the server
// with GET sys/internal/ui/mounts/<path>. With -mount the path argument is
// relative to that mount; without it, the path starts with the mount.
func resolveKV(ctx context.Context, cl *api.Client, mountFlag, arg string) (kvTarget, error) {
	arg = sanitizePath(arg)
	full := arg
	probe := arg
	if mountFlag != "" {
		m := strings.Trim(sanitizePath(mountFlag), "/")
		probe = m
		if arg == "" {
			full = m + "/"
		} else {
			full = path.Join(m, arg)
			if strings.HasSuffix(arg, "/") {
				full += "/"
			}
		}
	}
	mount, version, err := kvPreflight(ctx, cl, probe)
	if err != nil {
		return kvTarget{}, err
	}
	if mount == "" && mountFlag != "" {
		mount = ensureTrailingSlash(strings.Trim(sanitizePath(mountFlag), "/"))
	}
	t := kvTarget{mount: mount, v2: version == 2}
	switch {
	case mount == "":
		t.rel = full
	case strings.HasPrefix(full, mount):
		t.rel = full[len(mount):]
	case full+"/" == mount:
		t.rel = ""
	default:
		return kvTarget{}, fmt.Errorf("path %q is not under mount %q", full, mount)
	}
	return t, nil
}

// kvPreflight asks the server which mount holds p and which KV version it
// runs. A server that knows no such endpoint (404 with no body) is taken to
// be serving KV v1 at an unknown mount.
func kvPreflight(ctx context.Context, cl *api.Client, p string) (mount string, version int, err error) {
	secret, err := cl.Logical().ReadWithContext(ctx, "sys/internal/ui/mounts/"+p)
	if err != nil {
		return "", 0, fmt.Errorf("determine the KV version of %q: %w", p, err)
	}
	if secret == nil || secret.Data == nil {
		return "", 1, nil
	}
	mount, _ = secret.Data["path"].(string)
	version = 1
	if opts, ok := secret.Data["options"].(map[string]any); ok {
		if v, ok := opts["version"]; ok && formatValue(v) == "2" {
			version = 2
		}
	}
	return ensureTrailingSlash(mount), version, nil
}

package kv

import (
	"context"
	"strconv"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// Event types a version 2 mount sends through [logical.Env.Events]. The
// kv-v2/ ones are Vault's names; the secret/ ones are Coffer's.
const (
	eventDataWrite      = "kv-v2/data-write"
	eventDataPatch      = "kv-v2/data-patch"
	eventDataDelete     = "kv-v2/data-delete" // DELETE data/<path>
	eventDelete         = "kv-v2/delete"      // delete/<path> with versions
	eventUndelete       = "kv-v2/undelete"
	eventDestroy        = "kv-v2/destroy"
	eventMetadataWrite  = "kv-v2/metadata-write"
	eventMetadataPatch  = "kv-v2/metadata-patch"
	eventMetadataDelete = "kv-v2/metadata-delete"
	eventConfigWrite    = "kv-v2/config-write"
	eventExpiring       = "secret/expiring"
	eventExpired        = "secret/expired"
	eventRecovered      = "secret/recovered"
	eventPurged         = "secret/purged"
)

// Event types a version 1 mount sends, Vault's names.
const (
	eventV1Write  = "kv-v1/write"
	eventV1Delete = "kv-v1/delete"
)

// send publishes an event of type typ after a durable change. rel is the
// request path relative to the mount ("data/app/db"); p, when not "", is
// the secret's path, whose data path ("data/app/db") goes in data_path.
// extra adds event-specific keys (versions, times). Metadata never holds
// a value: only paths, version numbers and times.
func (b *backendV2) send(ctx context.Context, typ, rel, p string, extra map[string]string) {
	dataPath := ""
	if p != "" {
		dataPath = "data/" + p
	}
	sendEvent(ctx, b.events, typ, rel, dataPath, extra)
}

// sendEvent sends typ through events with Vault's common metadata keys:
// path, data_path (when not ""), modified and operation (the part of
// typ after "/"), and extra's.
func sendEvent(ctx context.Context, events logical.EventSender, typ, rel, dataPath string, extra map[string]string) {
	md := make(map[string]string, len(extra)+4)
	for k, v := range extra {
		md[k] = v
	}
	md["path"] = rel
	md["modified"] = "true"
	md["operation"] = typ[strings.IndexByte(typ, '/')+1:]
	if dataPath != "" {
		md["data_path"] = dataPath
	}
	events.SendEvent(ctx, typ, md)
}

// versionsMetadata is the metadata of events about a version change.
func versionsMetadata(m *keyMeta) map[string]string {
	return map[string]string{
		"current_version": itoa(m.Current),
		"oldest_version":  itoa(m.Oldest),
	}
}

// joinVersions renders version numbers as "1,2,3".
func joinVersions(ns []int) string {
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ",")
}

func itoa(n int) string { return strconv.Itoa(n) }

// sendVersionWritten sends typ for a new version of p: meta is the
// metadata the write started from (nil for a new key; the write updated
// it in place) and resp the write's answer. A staged version (not
// current) is named in the event's version, not as current_version.
func (b *backendV2) sendVersionWritten(ctx context.Context, typ, p string, meta *keyMeta, resp *logical.Response, staged bool) {
	md := map[string]string{"oldest_version": "0", "current_version": "0"}
	if meta != nil {
		md = versionsMetadata(meta)
	}
	if r, ok := resp.Data.(*versionResponse); ok {
		if staged {
			md["version"] = itoa(r.Version)
		} else {
			md["current_version"] = itoa(r.Version)
		}
	}
	b.send(ctx, typ, "data/"+p, p, md)
}

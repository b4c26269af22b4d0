package gcpapi

import (
	"context"
	"strconv"
	"strings"
)

// EventSender publishes an event of a mount; *core.Core is one. metadata's
// "path" and "data_path" are relative to the mount.
type EventSender interface {
	SendMountEvent(ctx context.Context, mountPath, typ string, metadata map[string]string) bool
}

// Coffer event types for the changes Google announces on a secret's
// Pub/Sub topics. Each event's metadata has "event_type" (Google's name,
// e.g. SECRET_VERSION_ADD), "secret" (the resource name), "topics" (the
// topics' names, comma-separated), "path" (metadata/S) and "data_path"
// (data/S) on the project's mount, and "version" (the version's resource
// name) for version events; never a value.
const (
	eventSecretCreate   = "gcp/secret-create"
	eventSecretUpdate   = "gcp/secret-update"
	eventSecretDelete   = "gcp/secret-delete"
	eventVersionAdd     = "gcp/secret-version-add"
	eventVersionEnable  = "gcp/secret-version-enable"
	eventVersionDisable = "gcp/secret-version-disable"
	eventVersionDestroy = "gcp/secret-version-destroy"
	eventSecretRotate   = "gcp/secret-rotate"
	eventTypePrefix     = "gcp/"
)

// googleType is Google's name of a Coffer gcp/ event type:
// gcp/secret-version-add is SECRET_VERSION_ADD.
func googleType(typ string) string {
	return strings.ToUpper(strings.ReplaceAll(strings.TrimPrefix(typ, eventTypePrefix), "-", "_"))
}

// notify publishes typ for secret n when the secret has topics (those
// of after, else of before: a delete or an update that removed them
// still tells the topics it had). version > 0 names the version. It
// runs after the change is stored and never fails the call.
func (s *Service) notify(c *call, n secretName, before, after *kvMeta, typ string, version int) {
	topics := ""
	if after != nil {
		topics = after.CustomMetadata[mkTopics]
	}
	if topics == "" && before != nil {
		topics = before.CustomMetadata[mkTopics]
	}
	if topics == "" || s.events == nil {
		return
	}
	publish(c.ctx, s.events, s.prefix, n, topics, typ, version)
}

// publish sends one gcp/ event about secret n through events, on the
// project's mount (prefix + project + "/").
func publish(ctx context.Context, events EventSender, prefix string, n secretName, topics, typ string, version int) {
	md := map[string]string{
		"event_type": googleType(typ),
		"secret":     n.String(),
		"topics":     topics,
		"path":       "metadata/" + n.secret,
		"data_path":  "data/" + n.secret,
	}
	if version > 0 {
		md["version"] = versionName{secretName: n, version: version}.String()
		md["version_id"] = strconv.Itoa(version)
	}
	events.SendMountEvent(ctx, prefix+n.project+"/", typ, md)
}

package gcpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/coffer-secrets/coffer/internal/kvpayload"
)

// custom_metadata keys that hold what Google has and KV version 2 has
// not. Every one starts with "gcp:"; the Vault API shows and may change
// them like any custom metadata.
const (
	mkLabelPrefix      = "gcp:label:"
	mkAnnotationPrefix = "gcp:annotation:"
	// mkReplication is "automatic" or "user-managed:LOC,LOC".
	mkReplication = "gcp:replication"
	// mkTopics is the topics' names, comma-separated.
	mkTopics = "gcp:topics"
	// mkRotationNext is the next rotation time (RFC 3339).
	mkRotationNext = "gcp:rotation-next"
	// mkRotationPeriod is the rotation period in seconds.
	mkRotationPeriod = "gcp:rotation-period"
)

// KV limits (internal/engine/kv) the mapping has to respect.
const (
	maxMetaKeys     = 64
	maxMetaKeyLen   = 128
	maxMetaValueLen = 512
	// reservedKeys are the custom_metadata keys kept for the gcp: keys
	// other than labels and annotations.
	reservedKeys = 8
)

// toKV is the KV data for a payload: text when it is valid UTF-8, bytes
// otherwise (kvpayload's convention, shared with the AWS and Azure APIs).
func toKV(b []byte) map[string]string {
	if utf8.Valid(b) {
		return kvpayload.String(string(b))
	}
	return kvpayload.Bytes(b)
}

// fromKV reads a payload from KV data; data written with the Vault API is
// its JSON object.
func fromKV(data map[string]json.RawMessage) ([]byte, error) {
	v, err := kvpayload.Decode(data)
	return v.Data, err
}

// prefixed answers the custom_metadata entries under prefix, the prefix
// cut off.
func prefixed(cm map[string]string, prefix string) map[string]string {
	var out map[string]string
	for k, v := range cm {
		if rest, ok := strings.CutPrefix(k, prefix); ok {
			if out == nil {
				out = map[string]string{}
			}
			out[rest] = v
		}
	}
	return out
}

// parseTime parses an RFC 3339 time from KV; nil for "" or garbage.
func parseTime(s string) *timestamppb.Timestamp {
	if s == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil
	}
	return timestamppb.New(t)
}

// etag derives a secret's etag from its metadata. KV moves updated_time
// forward with every write, patch and rotation of the key (never to a
// time it had before), so the etag changes with every change of the
// secret and with each version added, and KV can check it atomically
// (?expect_updated_time, see [call.write]); a version's state changes
// leave it alone, as Google's do.
func (m *kvMeta) etag() string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%s\x00", m.CreatedTime, m.UpdatedTime, m.CurrentVersion, m.ExpireAt)
	for _, k := range slices.Sorted(maps.Keys(m.CustomMetadata)) {
		fmt.Fprintf(h, "%q=%q\x00", k, m.CustomMetadata[k])
	}
	return `"` + hex.EncodeToString(h.Sum(nil)[:8]) + `"`
}

// versionETag derives a version's etag from its KV state.
func versionETag(n int, info kvVerInfo) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%d\x00%s\x00%s\x00%t", n, info.CreatedTime, info.DeletionTime, info.Destroyed))
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}

// toSecret answers the Secret a metadata read describes.
func toSecret(n secretName, m *kvMeta) *secretmanagerpb.Secret {
	sec := &secretmanagerpb.Secret{
		Name:        n.String(),
		CreateTime:  parseTime(m.CreatedTime),
		Labels:      prefixed(m.CustomMetadata, mkLabelPrefix),
		Annotations: prefixed(m.CustomMetadata, mkAnnotationPrefix),
		Etag:        m.etag(),
		Replication: replicationOf(m.CustomMetadata[mkReplication]),
	}
	if t := parseTime(m.ExpireAt); t != nil {
		sec.Expiration = &secretmanagerpb.Secret_ExpireTime{ExpireTime: t}
	}
	if ts := m.CustomMetadata[mkTopics]; ts != "" {
		for t := range strings.SplitSeq(ts, ",") {
			sec.Topics = append(sec.Topics, &secretmanagerpb.Topic{Name: t})
		}
	}
	next, period := parseTime(m.CustomMetadata[mkRotationNext]), m.CustomMetadata[mkRotationPeriod]
	if next != nil || period != "" {
		r := &secretmanagerpb.Rotation{NextRotationTime: next}
		if s, err := strconv.ParseInt(period, 10, 64); err == nil && s > 0 {
			r.RotationPeriod = durationpb.New(time.Duration(s) * time.Second)
		}
		sec.Rotation = r
	}
	return sec
}

// replicationOf answers the replication policy recorded as s: automatic
// unless user-managed locations were given.
func replicationOf(s string) *secretmanagerpb.Replication {
	if locs, ok := strings.CutPrefix(s, "user-managed:"); ok && locs != "" {
		um := &secretmanagerpb.Replication_UserManaged{}
		for l := range strings.SplitSeq(locs, ",") {
			um.Replicas = append(um.Replicas, &secretmanagerpb.Replication_UserManaged_Replica{Location: l})
		}
		return &secretmanagerpb.Replication{Replication: &secretmanagerpb.Replication_UserManaged_{UserManaged: um}}
	}
	return &secretmanagerpb.Replication{Replication: &secretmanagerpb.Replication_Automatic_{Automatic: &secretmanagerpb.Replication_Automatic{}}}
}

// replicationKey checks a replication policy and answers how it is
// recorded.
func replicationKey(r *secretmanagerpb.Replication) (string, error) {
	switch x := r.GetReplication().(type) {
	case *secretmanagerpb.Replication_Automatic_:
		return "automatic", nil
	case *secretmanagerpb.Replication_UserManaged_:
		var locs []string
		for _, rep := range x.UserManaged.GetReplicas() {
			l := rep.GetLocation()
			if l == "" || strings.Contains(l, ",") {
				return "", invalidArg("replication.user_managed.replicas: each replica needs a location")
			}
			locs = append(locs, l)
		}
		if len(locs) == 0 {
			return "", invalidArg("replication.user_managed.replicas must name at least one location")
		}
		v := "user-managed:" + strings.Join(locs, ",")
		if len(v) > maxMetaValueLen {
			return "", invalidArg("replication.user_managed names more locations than Coffer keeps")
		}
		return v, nil
	}
	return "", invalidArg("replication is required: automatic or user_managed")
}

// toVersion answers version v of secret n as a SecretVersion.
func toVersion(n secretName, m *kvMeta, v int, now time.Time) *secretmanagerpb.SecretVersion {
	info := m.Versions[v]
	sv := &secretmanagerpb.SecretVersion{
		Name:       versionName{secretName: n, version: v}.String(),
		CreateTime: parseTime(info.CreatedTime),
		Etag:       versionETag(v, info),
	}
	switch info.state(now) {
	case stateEnabled:
		sv.State = secretmanagerpb.SecretVersion_ENABLED
	case stateDisabled:
		sv.State = secretmanagerpb.SecretVersion_DISABLED
	case stateDestroyed:
		sv.State = secretmanagerpb.SecretVersion_DESTROYED
		sv.DestroyTime = parseTime(info.DeletionTime)
	}
	return sv
}

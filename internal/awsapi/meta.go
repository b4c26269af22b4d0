package awsapi

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/kvpayload"
)

// custom_metadata keys that hold what AWS has and KV version 2 has not.
// Every one starts with "aws:"; the Vault API shows and may change them
// like any custom metadata.
const (
	// mkSuffix is the six characters that end the secret's ARN.
	mkSuffix = "aws:arn-suffix"
	// mkDescription is the secret's description.
	mkDescription = "aws:description"
	// mkKMSKey is the KmsKeyId the client gave (kept, not used: the
	// barrier encrypts everything).
	mkKMSKey = "aws:kms-key-id"
	// mkLegacyCurrent was "N:L" (AWSCURRENT on version N while the
	// latest was L) before KV could keep a version staged, not current;
	// AWSCURRENT is now KV's current version and writes remove this key.
	mkLegacyCurrent = "aws:current"
	// mkVersionPrefix + N is version N's VersionId.
	mkVersionPrefix = "aws:version:"
	// mkStagePrefix + LABEL is the version the staging label is on.
	mkStagePrefix = "aws:stage:"
	// mkTagPrefix + KEY is a tag's value.
	mkTagPrefix = "aws:tag:"
)

// Staging labels with a meaning.
const (
	stageCurrent  = "AWSCURRENT"
	stagePrevious = "AWSPREVIOUS"
	stagePending  = "AWSPENDING"
)

// Limits, from the KV custom_metadata rules and AWS's.
const (
	maxNameLen        = 512
	maxDescriptionLen = 512 // a custom_metadata value's limit (AWS: 2048)
	maxMetaKeyLen     = 128 // a custom_metadata key's limit
	maxTagKeyLen      = maxMetaKeyLen - len(mkTagPrefix)
	maxTagValueLen    = 256
	maxLabelLen       = maxMetaKeyLen - len(mkStagePrefix)
	maxSecretBytes    = 65536
)

// derivedIDPrefix starts the VersionId of a version that has none
// recorded (written with the Vault API): the version number follows.
const derivedIDPrefix = "00000000-0000-0000-0000-"

// view is what this package knows of one secret: its custom metadata,
// its current KV version (AWSCURRENT) and, when the metadata could be
// read, which versions are retained.
type view struct {
	name    string
	custom  map[string]string
	cur     int               // KV's current version, 0 for none
	newest  int               // the highest retained version (at least cur)
	retain  map[int]kvVerInfo // nil when unknown (data read only)
	pending int               // a KV rotation's pending version, 0: none
}

// newView builds a view from a metadata read.
func newView(name string, m *kvMeta) *view {
	v := &view{name: name, custom: m.CustomMetadata, cur: m.CurrentVersion, newest: m.CurrentVersion, retain: m.Versions}
	for n := range m.Versions {
		v.newest = max(v.newest, n)
	}
	if m.Rotation != nil {
		v.pending = m.Rotation.PendingVersion
	}
	if v.custom == nil {
		v.custom = map[string]string{}
	}
	return v
}

// next is the number KV gives the secret's next version: after every
// retained one (KV never trims the newest) and a pending rotation's.
func (v *view) next() int {
	return max(v.newest, v.cur, v.pending) + 1
}

// usable reports whether version n exists and its data may be read (as
// far as the view knows: without the metadata, any number may be).
func (v *view) usable(n int) bool {
	if n < 1 {
		return false
	}
	if v.retain == nil {
		return true
	}
	info, ok := v.retain[n]
	return ok && !info.Destroyed && info.DeletionTime == ""
}

// current is the version AWSCURRENT is on: KV's current version, 0 when
// the secret has none (or it is deleted).
func (v *view) current() int {
	if v.cur > 0 && v.usable(v.cur) {
		return v.cur
	}
	return 0
}

func parsePair(s string) (n, l int, ok bool) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return 0, 0, false
	}
	n, err1 := strconv.Atoi(a)
	l, err2 := strconv.Atoi(b)
	return n, l, err1 == nil && err2 == nil
}

// labels answers every staging label and the version it is on.
func (v *view) labels() map[string]int {
	out := map[string]int{}
	for k, s := range v.custom {
		label, ok := strings.CutPrefix(k, mkStagePrefix)
		if !ok || label == stageCurrent {
			continue
		}
		if label == stagePrevious {
			// "N:C": valid while the current version is C.
			if n, c, ok := parsePair(s); ok && c == v.cur && v.usable(n) {
				out[label] = n
			} else if ok && c == v.cur {
				out[label] = 0 // removed on purpose
			}
			continue
		}
		if n, err := strconv.Atoi(s); err == nil && v.usable(n) {
			out[label] = n
		}
	}
	cur := v.current()
	if cur > 0 {
		out[stageCurrent] = cur
	}
	if _, ok := out[stagePrevious]; !ok && cur > 0 {
		// Written with the Vault API: the newest version before the
		// current one.
		for n := cur - 1; n >= 1 && n >= cur-100; n-- {
			if v.usable(n) {
				out[stagePrevious] = n
				break
			}
		}
	}
	if p, ok := out[stagePrevious]; ok && (p == cur || p == 0) {
		delete(out, stagePrevious)
	}
	if _, ok := out[stagePending]; !ok && v.pending > 0 {
		out[stagePending] = v.pending
	}
	return out
}

// stagesOf answers the labels on version n, sorted.
func (v *view) stagesOf(n int) []string {
	var out []string
	for label, m := range v.labels() {
		if m == n {
			out = append(out, label)
		}
	}
	sort.Strings(out)
	return out
}

// versionID answers version n's VersionId.
func (v *view) versionID(n int) string {
	if id, ok := v.custom[mkVersionPrefix+strconv.Itoa(n)]; ok && id != "" {
		return id
	}
	return fmt.Sprintf("%s%012d", derivedIDPrefix, n)
}

// versionOf answers the version whose VersionId is id, 0 when none is.
func (v *view) versionOf(id string) int {
	for k, s := range v.custom {
		if rest, ok := strings.CutPrefix(k, mkVersionPrefix); ok && s == id {
			if n, err := strconv.Atoi(rest); err == nil {
				return n
			}
		}
	}
	if rest, ok := strings.CutPrefix(id, derivedIDPrefix); ok && len(rest) == 12 {
		n, err := strconv.Atoi(rest)
		if err == nil && n > 0 {
			if _, taken := v.custom[mkVersionPrefix+strconv.Itoa(n)]; !taken {
				return n
			}
		}
	}
	return 0
}

// tags answers the secret's tags, sorted by key.
func (v *view) tags() []tag {
	var out []tag
	for k, s := range v.custom {
		if key, ok := strings.CutPrefix(k, mkTagPrefix); ok {
			out = append(out, tag{Key: key, Value: s})
		}
	}
	slices.SortFunc(out, func(a, b tag) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// arn answers the secret's ARN in the request's region.
func (s *session) arn(v *view) string {
	return "arn:aws:secretsmanager:" + s.region + ":" + s.h.account + ":secret:" + v.name + "-" + suffixOf(v)
}

// suffixOf answers the six characters ending the ARN: the recorded ones,
// or for a secret written with the Vault API six derived from its name.
func suffixOf(v *view) string {
	if s := v.custom[mkSuffix]; len(s) == 6 {
		return s
	}
	sum := sha256.Sum256([]byte(v.name))
	return encodeSuffix(sum[:6])
}

const suffixAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func encodeSuffix(b []byte) string {
	out := make([]byte, 6)
	for i := range out {
		out[i] = suffixAlphabet[int(b[i])%len(suffixAlphabet)]
	}
	return string(out)
}

func newSuffix() string {
	b := make([]byte, 6)
	rand.Read(b)
	return encodeSuffix(b)
}

// tag is one AWS tag.
type tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// secretValue is a version's value in AWS's terms: exactly one of the
// two is set.
type secretValue struct {
	str    *string
	binary []byte
}

// toKV is the KV data for a value.
func (sv secretValue) toKV() map[string]string {
	if sv.str != nil {
		return kvpayload.String(*sv.str)
	}
	return kvpayload.Bytes(sv.binary)
}

// fromKV reads a value from KV data (kvpayload's convention): data
// written with the Vault API is a SecretString holding its JSON object.
func fromKV(data map[string]json.RawMessage) (secretValue, error) {
	v, err := kvpayload.Decode(data)
	if err != nil {
		return secretValue{}, err
	}
	if v.Binary {
		return secretValue{binary: v.Data}, nil
	}
	s := string(v.Data)
	return secretValue{str: &s}, nil
}

// equal reports whether two values are the same (for idempotent retries).
func (sv secretValue) equal(o secretValue) bool {
	if (sv.str == nil) != (o.str == nil) {
		return false
	}
	if sv.str != nil {
		return *sv.str == *o.str
	}
	return string(sv.binary) == string(o.binary)
}

// awsTime renders an RFC 3339 time from KV as AWS's JSON protocol sends
// timestamps: seconds since the epoch, with a fraction.
// awsDay is awsTime truncated to the start of its UTC day, as AWS answers
// LastAccessedDate.
func awsDay(s string) *float64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if s == "" || err != nil {
		return nil
	}
	f := float64(t.UTC().Truncate(24 * time.Hour).Unix())
	return &f
}

func awsTime(s string) *float64 {
	if s == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil
	}
	f := float64(t.UnixMilli()) / 1000
	return &f
}

package azureapi

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/kvpayload"
)

// The custom_metadata key that holds version N's Azure metadata is
// metaPrefix + N.
const metaPrefix = "azure:v:"

// maxMetaBytes is a custom_metadata value's limit in KV.
const maxMetaBytes = 512

// Limits on tags, Azure's.
const maxTags = 15

// versionMeta is what Azure keeps per version and KV does not: stored as
// compact JSON in custom_metadata (metaPrefix + N), absent when all
// fields are zero.
type versionMeta struct {
	ContentType string            `json:"ct,omitempty"`
	Tags        map[string]string `json:"t,omitempty"`
	Disabled    bool              `json:"d,omitempty"`
	NotBefore   *int64            `json:"nbf,omitempty"`
	Expires     *int64            `json:"exp,omitempty"`
	// Updated is when an update last changed the version (Unix
	// seconds); 0 means never, the version's creation.
	Updated int64 `json:"u,omitempty"`
}

// metaOf is version n's metadata from custom; a missing or unreadable
// key (someone changed it with the Vault API) is the zero value.
func metaOf(custom map[string]string, n int) versionMeta {
	var vm versionMeta
	if s, ok := custom[metaPrefix+strconv.Itoa(n)]; ok {
		if json.Unmarshal([]byte(s), &vm) != nil {
			return versionMeta{}
		}
	}
	return vm
}

// checkValid refuses a get of the value outside the version's validity
// window at now (Unix seconds): on or after exp, or before nbf. Azure's
// documentation says such a value should not be retrieved and gives the
// answer for an expired secret (403 Forbidden, inner SecretExpired);
// Coffer enforces both. Only this API's get is refused: the version's
// attributes are still listed and shown, and the Vault API reads the
// data as before (exp and nbf are this API's, kept in custom_metadata).
func (vm versionMeta) checkValid(now int64) error {
	if vm.Expires != nil && now >= *vm.Expires {
		return fail(http.StatusForbidden, codeForbidden, "Operation get is not allowed on an expired secret.").withInner(codeExpired)
	}
	if vm.NotBefore != nil && now < *vm.NotBefore {
		return fail(http.StatusForbidden, codeForbidden, "Operation get is not allowed on a secret that is not yet valid (nbf).").withInner(codeNotYetValid)
	}
	return nil
}

// encode is vm as a custom_metadata value; nil when vm is all defaults
// (the key is then removed). Metadata too large for one value is a
// BadParameter error.
func (vm versionMeta) encode() (*string, error) {
	if vm.ContentType == "" && len(vm.Tags) == 0 && !vm.Disabled && vm.NotBefore == nil && vm.Expires == nil && vm.Updated == 0 {
		return nil, nil
	}
	b, err := json.Marshal(vm)
	if err != nil {
		return nil, badParam("The contentType or tags could not be encoded.")
	}
	if len(b) > maxMetaBytes {
		return nil, badParam("The contentType, tags and attributes of a version take %d bytes here; Coffer keeps at most %d.", len(b), maxMetaBytes)
	}
	s := string(b)
	return &s, nil
}

// attributes is Azure's SecretAttributes.
type attributes struct {
	Enabled         *bool  `json:"enabled,omitempty"`
	NotBefore       *int64 `json:"nbf,omitempty"`
	Expires         *int64 `json:"exp,omitempty"`
	Created         *int64 `json:"created,omitempty"`
	Updated         *int64 `json:"updated,omitempty"`
	RecoveryLevel   string `json:"recoveryLevel,omitempty"`
	RecoverableDays *int   `json:"recoverableDays,omitempty"`
}

// bundle is Azure's SecretBundle, DeletedSecretBundle, SecretItem and
// DeletedSecretItem (the items leave out value).
type bundle struct {
	Value              *string           `json:"value,omitempty"`
	ID                 string            `json:"id"`
	ContentType        string            `json:"contentType,omitempty"`
	Attributes         attributes        `json:"attributes"`
	Tags               map[string]string `json:"tags,omitempty"`
	RecoveryID         string            `json:"recoveryId,omitempty"`
	ScheduledPurgeDate *int64            `json:"scheduledPurgeDate,omitempty"`
	DeletedDate        *int64            `json:"deletedDate,omitempty"`
}

// page is one page of a list.
type page struct {
	Value    []bundle `json:"value"`
	NextLink *string  `json:"nextLink"`
}

// attrs builds the attributes of a version made at created (RFC 3339).
func (vm versionMeta) attrs(created string) attributes {
	enabled := !vm.Disabled
	a := attributes{Enabled: &enabled, NotBefore: vm.NotBefore, Expires: vm.Expires}
	if c, ok := unix(created); ok {
		a.Created = &c
		u := max(c, vm.Updated)
		a.Updated = &u
	}
	return a
}

// unix is an RFC 3339 time in Unix seconds.
func unix(s string) (int64, bool) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, false
	}
	return t.Unix(), true
}

// valueOf is the value Azure answers for a version's KV data (kvpayload's
// convention, shared with the AWS and Google APIs): a SecretString as it
// is (even beside other keys, where the other APIs answer the whole
// object), a SecretBinary as its base64 text (Azure values are strings),
// a lone "value" string as it is, and other data (written through the
// Vault API) as its JSON object.
func valueOf(data map[string]json.RawMessage) string {
	for _, k := range []string{kvpayload.StringKey, "value"} {
		if raw, ok := data[k]; ok && (k == kvpayload.StringKey || len(data) == 1) {
			var s string
			if json.Unmarshal(raw, &s) == nil {
				return s
			}
		}
	}
	v, err := kvpayload.Decode(data)
	if err != nil {
		return ""
	}
	if v.Binary {
		return base64.StdEncoding.EncodeToString(v.Data)
	}
	return string(v.Data)
}

// recoveryLevel is the recovery level of a secret kept days days after
// deletion.
func recoveryLevel(days int) (string, *int) {
	switch {
	case days <= 0:
		return "Purgeable", nil
	case days == 90:
		return "Recoverable+Purgeable", &days
	default:
		return "CustomizedRecoverable+Purgeable", &days
	}
}

// secretURL is the id of a secret, or of one of its versions when n > 0.
func (s *session) secretURL(name string, n int) string {
	u := s.base + "/secrets/" + name
	if n > 0 {
		u += "/" + VersionID(n)
	}
	return u
}

// splitTags checks tags against Azure's limits.
func checkTags(tags map[string]string) error {
	if len(tags) > maxTags {
		return badParam("A secret has at most %d tags; the request has %d.", maxTags, len(tags))
	}
	for k, v := range tags {
		if k == "" || len(k) > 512 || len(v) > 256 || strings.ContainsRune(k, 0) {
			return badParam("A tag name is 1 to 512 characters and its value at most 256.")
		}
	}
	return nil
}

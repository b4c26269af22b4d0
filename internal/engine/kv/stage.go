package kv

import (
	"maps"
	"strconv"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// Coffer extensions of KV version 2 (docs/aws-secrets-manager.md, "The
// KV extensions behind it"), which let a client that speaks another API
// (the AWS Secrets Manager API of internal/awsapi) make each of its
// changes one request, applied in one storage transaction:
//
//   - options.custom_metadata on a data/ write or patch: a patch of the
//     key's custom_metadata (a string sets a key, null removes it) stored
//     with the new version;
//   - options.current false on a data/ write or patch: the new version is
//     staged, not current: reads of data/<path> and subkeys/<path> without
//     ?version keep answering the current version, and current_version in
//     the metadata does not move;
//   - options.version on a data/ write or patch: the number the new version
//     must get (a conflict otherwise), so that the client can name the
//     version in custom_metadata in the same request;
//   - current_version on a metadata/ patch: makes a retained, readable
//     version the current one (for example a staged version);
//   - ?recovery_window_days=N on a metadata/ delete: the key's recovery
//     window, set and used by the same request;
//   - version and custom_metadata in the body of rotate/<path>: as on a
//     data/ write, for the rotation's new version (rotation.go);
//   - ?expect_updated_time=T on a metadata/ write, patch or delete: the
//     request applies only if the key's metadata still has updated_time
//     T (which moves with every write, patch and rotation of the key,
//     never backwards), and with T "none" only if the key does not exist
//     (a write that creates it); a conflict otherwise. It lets a client
//     check what it read (the Google API's etags, its CreateSecret) in
//     the request that writes, under the key's lock.
//
// A client that sends none of them sees Vault's behaviour. Those that
// change metadata need, beyond the request's own capability, patch or
// update on metadata/<path>; current_version needs update on data/<path>
// (it changes what readers of the data get). Each is checked with the
// body of the metadata request it stands for
// ([logical.AccessChecker.AllowedParams]), so that a rule's parameter
// limits bind it as they would bind that request. A caller without them
// is refused and nothing changes. cas 0 on a data/ write needs a key
// with no versions at all, staged ones included.

// dataOptions are the options of a data/ write or patch.
type dataOptions struct {
	CAS *framework.Int `json:"cas"`
	// Coffer extensions (see above).
	Version        *framework.Int     `json:"version"`
	Current        *framework.Bool    `json:"current"`
	CustomMetadata map[string]*string `json:"custom_metadata"`
}

// extended reports whether o uses a Coffer extension that changes
// metadata.
func (o *dataOptions) extended() bool {
	return o.CustomMetadata != nil || o.Current != nil
}

// staged reports whether the new version is to be written not current.
func (o *dataOptions) staged() bool {
	return o.Current != nil && !bool(*o.Current)
}

// checkExtensions refuses extensions the caller may not use on p: they
// change p's metadata, so they need patch or update on metadata/<p>.
func (o *dataOptions) checkExtensions(req *logical.Request, p string) error {
	if o.Version != nil && (*o.Version < 1 || *o.Version > 1<<31) {
		return logical.InvalidRequest("invalid value for \"options.version\": want a version number from 1")
	}
	if !o.extended() {
		return nil
	}
	if len(o.CustomMetadata) > 2*maxCustomMetadataKeys {
		return logical.InvalidRequest("options.custom_metadata changes %d keys; a key holds at most %d", len(o.CustomMetadata), maxCustomMetadataKeys)
	}
	return mayChangeMetadata(req, p, "options.custom_metadata and options.current", o.metadataParams())
}

// metadataParams is the metadata patch body that stands for o's
// extensions in the permission check: the caller's ACL must allow a
// patch or update of metadata/<path> with this body, parameter
// constraints included. custom_metadata is sent as is (a removed key as
// null); options.current false, which keeps current_version where it is
// rather than moving it to the new version, is current_version null (no
// version made current), so a rule must allow the current_version
// parameter, with any value, for a caller to stage versions.
func (o *dataOptions) metadataParams() map[string]any {
	params := make(map[string]any, 2)
	if o.CustomMetadata != nil {
		cm := make(map[string]any, len(o.CustomMetadata))
		for k, v := range o.CustomMetadata {
			if v == nil {
				cm[k] = nil
			} else {
				cm[k] = *v
			}
		}
		params["custom_metadata"] = cm
	}
	if o.staged() {
		// options.current true is a plain write: it still needs the
		// metadata permission, as before, but changes no parameter.
		params["current_version"] = nil
	}
	return params
}

// checkVersion enforces options.version against meta (nil for a new
// key). The caller holds p's lock.
func (o *dataOptions) checkVersion(meta *keyMeta) error {
	if o.Version == nil {
		return nil
	}
	next := 1
	if meta != nil {
		next = meta.nextVersion()
	}
	if int64(*o.Version) != int64(next) {
		return &logical.Error{Kind: logical.ErrConflict, Msg: "options.version did not match the next version (" + strconv.Itoa(next) + ")"}
	}
	return nil
}

// mayChangeMetadata refuses what needs patch or update on the metadata
// of p, when the caller may do neither with a request of body params
// (the ACL's parameter constraints apply); what names the parameters
// asking.
func mayChangeMetadata(req *logical.Request, p, what string, params map[string]any) error {
	target := req.MountPoint + "metadata/" + p
	if req.Access != nil && (req.Access.AllowedParams(target, logical.PatchOperation, params) || req.Access.AllowedParams(target, logical.UpdateOperation, params)) {
		return nil
	}
	return &logical.Error{Kind: logical.ErrPermissionDenied, Msg: what + " need patch or update permission on " + target + ", with these parameters"}
}

// patchCustomMetadata merges patch into meta's custom_metadata (a nil
// value removes a key) and checks the result against the limits; on
// error meta is unchanged.
func patchCustomMetadata(meta *keyMeta, patch map[string]*string) error {
	if len(patch) == 0 {
		return nil
	}
	cm := make(map[string]string, len(meta.CustomMetadata)+len(patch))
	maps.Copy(cm, meta.CustomMetadata)
	for k, v := range patch {
		if v == nil {
			delete(cm, k)
		} else {
			cm[k] = *v
		}
	}
	if err := checkCustomMetadata(cm); err != nil {
		return err
	}
	meta.CustomMetadata = cm
	return nil
}

// setCurrentLocked makes version n of p current, as a metadata patch's
// current_version asks: n must be retained and readable, and no rotation
// may be pending (its commit decides the current version). It reports
// whether the current version changed. The caller holds p's lock and has
// checked the caller's permissions.
func setCurrentLocked(meta *keyMeta, n int, now int64) (bool, error) {
	v := meta.version(n)
	if v == nil || v.gone(now) {
		return false, logical.InvalidRequest("current_version %d is not a retained, readable version of the key", n)
	}
	if meta.Pending != 0 {
		return false, logical.InvalidRequest("current_version cannot be set while a rotation is pending (version %d); wait for it or delete the rotation policy", meta.Pending)
	}
	if meta.Current == n {
		return false, nil
	}
	meta.Current = n
	return true, nil
}

// recoveryWindowQuery is the ?recovery_window_days=N of a metadata delete,
// nil when absent. An empty or non-integer value is refused rather than
// read as 0, which would destroy the key at once. It needs patch or
// update on the metadata with {"recovery_window_days": N}, as setting
// the window with a patch first would.
func recoveryWindowQuery(req *logical.Request, p string) (*int, error) {
	if req.Query == nil || !req.Query.Has("recovery_window_days") {
		return nil, nil
	}
	raw := strings.TrimSpace(req.Query.Get("recovery_window_days"))
	d, err := strconv.Atoi(raw)
	if err != nil || d < 0 || d > maxRecoveryWindowDays {
		return nil, logical.InvalidRequest("invalid value for \"recovery_window_days\": want a whole number of days from 0 (destroy at once) to %d", maxRecoveryWindowDays)
	}
	if err := mayChangeMetadata(req, p, "recovery_window_days", map[string]any{"recovery_window_days": d}); err != nil {
		return nil, err
	}
	return &d, nil
}

// expectNone is the ?expect_updated_time value that asks for a key that
// does not exist.
const expectNone = "none"

// expectation is the ?expect_updated_time of a metadata write, patch or
// delete; the zero value expects nothing.
type expectation struct {
	set     bool
	updated string // expectNone: no key
}

// expectQuery reads ?expect_updated_time. It needs no permission beyond
// the request's own: it can only make the request fail.
func expectQuery(req *logical.Request) (expectation, error) {
	if req.Query == nil || !req.Query.Has("expect_updated_time") {
		return expectation{}, nil
	}
	v := req.Query.Get("expect_updated_time")
	if v == "" || len(v) > 64 {
		return expectation{}, logical.InvalidRequest("invalid value for \"expect_updated_time\": want the updated_time of a metadata read, or %q", expectNone)
	}
	return expectation{set: true, updated: v}, nil
}

// check enforces e against meta (nil: no key). The caller holds the
// key's lock.
func (e expectation) check(meta *keyMeta) error {
	if !e.set {
		return nil
	}
	switch {
	case e.updated == expectNone && meta == nil:
		return nil
	case e.updated == expectNone:
		return &logical.Error{Kind: logical.ErrConflict, Msg: "the key already exists (expect_updated_time is \"none\")"}
	case meta == nil:
		return &logical.Error{Kind: logical.ErrConflict, Msg: "the key does not exist (expect_updated_time names a time)"}
	case formatTime(meta.Updated) != e.updated:
		return &logical.Error{Kind: logical.ErrConflict, Msg: "the key's metadata changed since expect_updated_time"}
	}
	return nil
}

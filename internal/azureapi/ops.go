package azureapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/kvpayload"
	"github.com/coffer-secrets/coffer/internal/logical"
)

// Paging: Azure's default and largest page.
const maxResults = 25

// writeAttempts bounds the retries of a set that raced another writer.
const writeAttempts = 4

// attrInput is the attributes member of a set or update.
type attrInput struct {
	Enabled   *bool  `json:"enabled"`
	NotBefore *int64 `json:"nbf"`
	Expires   *int64 `json:"exp"`
}

// setInput is the body of a set (PUT) or update (PATCH); an update
// ignores value.
type setInput struct {
	Value       *string           `json:"value"`
	ContentType *string           `json:"contentType"`
	Tags        map[string]string `json:"tags"`
	Attributes  *attrInput        `json:"attributes"`
}

// decodeInput reads a set or update body: one JSON object; unknown
// members are ignored (a newer SDK may send them), wrong types are a
// BadParameter error.
func decodeInput(body []byte) (*setInput, error) {
	b := bytes.TrimSpace(body)
	if len(b) == 0 || b[0] != '{' {
		return nil, badParam("The request body must be one JSON object.")
	}
	in := new(setInput)
	if err := json.Unmarshal(b, in); err != nil {
		if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			return nil, badParam("Wrong type for the property %q: want %s.", clip(te.Field), te.Type)
		}
		return nil, badParam("The request body is not well-formed JSON.")
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	if in.ContentType != nil && len(*in.ContentType) > 255 {
		return nil, badParam("The contentType is at most 255 characters.")
	}
	return in, nil
}

// apply changes vm as in says.
func (in *setInput) apply(vm *versionMeta) {
	if in.ContentType != nil {
		vm.ContentType = *in.ContentType
	}
	if in.Tags != nil {
		vm.Tags = in.Tags
	}
	if a := in.Attributes; a != nil {
		if a.Enabled != nil {
			vm.Disabled = !*a.Enabled
		}
		if a.NotBefore != nil {
			vm.NotBefore = a.NotBefore
		}
		if a.Expires != nil {
			vm.Expires = a.Expires
		}
	}
}

// serve runs one operation; out nil answers status with no body.
func (s *session) serve(rt route, body []byte) (status int, out any, err error) {
	switch rt.op {
	case opSet:
		out, err = s.set(rt.name, body)
	case opGet:
		out, err = s.get(rt.name, rt.version)
	case opUpdate:
		out, err = s.update(rt.name, rt.version, body)
	case opDelete:
		out, err = s.delete(rt.name)
	case opList:
		out, err = s.list()
	case opListVersions:
		out, err = s.listVersions(rt.name)
	case opListDeleted:
		out, err = s.listDeleted()
	case opGetDeleted:
		out, err = s.getDeleted(rt.name)
	case opRecover:
		out, err = s.recover(rt.name)
	case opPurge:
		return http.StatusNoContent, nil, s.purge(rt.name)
	default:
		return 0, nil, fail(http.StatusNotFound, codeUnknownRequest, "no such operation")
	}
	return http.StatusOK, out, err
}

// set writes a new version (PUT /secrets/NAME): one core request, two
// when the version has a content type, tags or attributes (the metadata
// read that finds its number).
func (s *session) set(name string, body []byte) (any, error) {
	in, err := decodeInput(body)
	if err != nil {
		return nil, err
	}
	if in.Value == nil {
		return nil, badParam("The request body must have the secret's value.")
	}
	if len(*in.Value) > maxValueBytes {
		return nil, badParam("The secret value is %d bytes; the limit is %d.", len(*in.Value), maxValueBytes)
	}
	var vm versionMeta
	in.apply(&vm)
	enc, err := vm.encode()
	if err != nil {
		return nil, err
	}
	data := kvpayload.String(*in.Value)
	var res writeResult
	if enc == nil {
		err = s.do(logical.UpdateOperation, "data/"+name, nil, map[string]any{"data": data}, &res)
	} else {
		for attempt := 1; ; attempt++ {
			err = s.writeWithMeta(name, data, enc, &res)
			if !errors.Is(err, logical.ErrConflict) || attempt == writeAttempts {
				break
			}
		}
	}
	if err != nil {
		return nil, s.writeFailed(name, err)
	}
	return bundle{Value: in.Value, ID: s.secretURL(name, res.Version), ContentType: vm.ContentType, Attributes: vm.attrs(res.CreatedTime), Tags: vm.Tags}, nil
}

// writeWithMeta writes data as name's next version with its metadata
// enc in the same request (KV's options.version and
// options.custom_metadata), removing the metadata of versions KV no
// longer keeps.
func (s *session) writeWithMeta(name string, data map[string]string, enc *string, res *writeResult) error {
	next := 1
	changes := map[string]*string{}
	m, err := s.readMeta("metadata/", name)
	switch {
	case err == nil:
		next = m.newest() + 1
		for k := range m.CustomMetadata {
			if ns, ok := strings.CutPrefix(k, metaPrefix); ok {
				n, err := strconv.Atoi(ns)
				if _, kept := m.Versions[n]; err != nil || !kept {
					changes[k] = nil
				}
			}
		}
	case !isNotFound(err):
		return err
	}
	changes[metaPrefix+strconv.Itoa(next)] = enc
	opts := map[string]any{"version": next, "custom_metadata": changes}
	return s.do(logical.UpdateOperation, "data/"+name, nil, map[string]any{"data": data, "options": opts}, res)
}

// writeFailed answers a failed write: a secret in its recovery window
// is Azure's 409 (KV refuses the write as a bad request).
func (s *session) writeFailed(name string, err error) error {
	if errors.Is(err, logical.ErrInvalidRequest) {
		if _, derr := s.readMeta("deleted/", name); derr == nil {
			return deletedConflict(name)
		}
	}
	return err
}

// get reads version n (0: the latest) of name with its value.
func (s *session) get(name string, n int) (any, error) {
	d, err := s.readData(name, n)
	if isNotFound(err) {
		return nil, notFound(name)
	}
	if err != nil {
		return nil, err
	}
	vm := metaOf(d.Metadata.CustomMetadata, d.Metadata.Version)
	if vm.Disabled {
		return nil, fail(http.StatusForbidden, codeForbidden, "Operation get is not allowed on a disabled secret.").withInner(codeDisabled)
	}
	if err := vm.checkValid(time.Now().Unix()); err != nil {
		return nil, err
	}
	v := valueOf(d.Data)
	return bundle{Value: &v, ID: s.secretURL(name, d.Metadata.Version), ContentType: vm.ContentType, Attributes: vm.attrs(d.Metadata.CreatedTime), Tags: vm.Tags}, nil
}

// update changes version n's (0: the latest) content type, tags or
// attributes: one metadata patch.
func (s *session) update(name string, n int, body []byte) (any, error) {
	in, err := decodeInput(body)
	if err != nil {
		return nil, err
	}
	m, err := s.readMeta("metadata/", name)
	if isNotFound(err) {
		return nil, notFound(name)
	}
	if err != nil {
		return nil, err
	}
	if n == 0 {
		n = m.CurrentVersion
	}
	if !m.usable(n) {
		return nil, notFound(name)
	}
	vm := metaOf(m.CustomMetadata, n)
	in.apply(&vm)
	vm.Updated = time.Now().Unix()
	enc, err := vm.encode()
	if err != nil {
		return nil, err
	}
	if err := s.do(logical.PatchOperation, "metadata/"+name, nil, map[string]any{"custom_metadata": map[string]*string{metaPrefix + strconv.Itoa(n): enc}}, nil); err != nil {
		return nil, err
	}
	return bundle{ID: s.secretURL(name, n), ContentType: vm.ContentType, Attributes: vm.attrs(m.Versions[n].CreatedTime), Tags: vm.Tags}, nil
}

// item describes name's latest version from its metadata; versioned
// puts the version in the id (bundles) or not (list items).
func (s *session) item(name string, m *kvMeta, versioned bool) bundle {
	n := m.CurrentVersion
	vm := metaOf(m.CustomMetadata, n)
	id := s.secretURL(name, 0)
	if versioned && n > 0 {
		id = s.secretURL(name, n)
	}
	b := bundle{ID: id, ContentType: vm.ContentType, Attributes: vm.attrs(m.Versions[n].CreatedTime), Tags: vm.Tags}
	if d := m.RecoveryWindowDays; d != nil && *d >= 0 {
		// The secret's own window; the mount's is not known here.
		b.Attributes.RecoveryLevel, b.Attributes.RecoverableDays = recoveryLevel(*d)
	}
	return b
}

// withDeleted adds a deleted secret's recovery fields to b.
func (s *session) withDeleted(b *bundle, name string, dm *kvMeta) {
	b.RecoveryID = s.base + "/deletedsecrets/" + name
	del, ok1 := unix(dm.DeletionTime)
	until, ok2 := unix(dm.RecoverableUntil)
	if ok1 {
		b.DeletedDate = &del
	}
	if ok2 {
		b.ScheduledPurgeDate = &until
	}
	if ok1 && ok2 {
		days := int((until - del + 43200) / 86400)
		b.Attributes.RecoveryLevel, b.Attributes.RecoverableDays = recoveryLevel(days)
	}
}

// delete deletes name: kept recoverable when the secret or its mount
// has a recovery window, destroyed at once otherwise (recovery level
// Purgeable).
func (s *session) delete(name string) (any, error) {
	m, err := s.readMeta("metadata/", name)
	if isNotFound(err) {
		return nil, notFound(name)
	}
	if err != nil {
		return nil, err
	}
	if err := s.do(logical.DeleteOperation, "metadata/"+name, nil, nil, nil); err != nil {
		return nil, err
	}
	b := s.item(name, m, true)
	if dm, err := s.readMeta("deleted/", name); err == nil {
		s.withDeleted(&b, name, dm)
	} else {
		// Destroyed at once (no recovery window), or the caller may not
		// read deleted/: the deletion is done either way.
		b.Attributes.RecoveryLevel = "Purgeable"
	}
	return b, nil
}

// getDeleted describes a deleted secret (never its value).
func (s *session) getDeleted(name string) (any, error) {
	dm, err := s.readMeta("deleted/", name)
	if isNotFound(err) {
		return nil, deletedNotFound(name)
	}
	if err != nil {
		return nil, err
	}
	b := s.item(name, dm, true)
	s.withDeleted(&b, name, dm)
	return b, nil
}

// recover brings a deleted secret back with all its versions.
func (s *session) recover(name string) (any, error) {
	m := new(kvMeta)
	err := s.do(logical.UpdateOperation, "recover/"+name, nil, nil, m)
	if isNotFound(err) {
		return nil, deletedNotFound(name)
	}
	if err != nil {
		return nil, err
	}
	if m.Versions == nil {
		// An answer without the metadata: read it.
		if m, err = s.readMeta("metadata/", name); err != nil {
			return nil, err
		}
	}
	return s.item(name, m, true), nil
}

// purge destroys a deleted secret now.
func (s *session) purge(name string) error {
	if _, err := s.readMeta("deleted/", name); isNotFound(err) {
		return deletedNotFound(name)
	} else if err != nil {
		return err
	}
	return s.do(logical.DeleteOperation, "deleted/"+name, nil, nil, nil)
}

// pageArgs are a list's maxresults and where it resumes ("" from the
// start).
func (s *session) pageArgs(kind string) (limit int, after string, err error) {
	limit = maxResults
	if v := s.query.Get("maxresults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxResults {
			return 0, "", badParam("maxresults must be a number from 1 to %d.", maxResults)
		}
		limit = n
	}
	if t := s.query.Get("$skiptoken"); t != "" {
		b, err := base64.RawURLEncoding.DecodeString(t)
		after, ok := strings.CutPrefix(string(b), kind+":")
		if err != nil || !ok || after == "" || len(t) > 512 {
			return 0, "", badParam("The $skiptoken is not one this list gave.")
		}
		return limit, after, nil
	}
	return limit, "", nil
}

// nextLink is the URL of the page after the one ending at last.
func (s *session) nextLink(path, kind, last string, limit int) *string {
	// As Azure writes it: $skiptoken unescaped (the token is base64url).
	u := s.base + path + "?api-version=" + url.QueryEscape(s.query.Get("api-version")) +
		"&$skiptoken=" + base64.RawURLEncoding.EncodeToString([]byte(kind+":"+last)) +
		"&maxresults=" + strconv.Itoa(limit)
	return &u
}

// names lists the secret names at path ("metadata/" or "deleted/") after
// after, sorted; KV's folders and names Azure cannot have are left out.
func (s *session) names(path, after string) ([]string, error) {
	var keys struct {
		Keys []string `json:"keys"`
	}
	if err := s.do(logical.ListOperation, path, nil, nil, &keys); err != nil && !isNotFound(err) {
		return nil, err
	}
	out := keys.Keys[:0]
	for _, k := range keys.Keys {
		if k > after && checkName(k) == nil {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out, nil
}

// list lists the secrets (their latest versions' properties).
func (s *session) list() (any, error) {
	return s.listNames("/secrets", "metadata/", func(name string, m *kvMeta) bundle {
		return s.item(name, m, false)
	})
}

// listDeleted lists the deleted secrets still recoverable.
func (s *session) listDeleted() (any, error) {
	return s.listNames("/deletedsecrets", "deleted/", func(name string, m *kvMeta) bundle {
		b := s.item(name, m, false)
		s.withDeleted(&b, name, m)
		return b
	})
}

// listNames pages over the names at kvPath, describing each with one
// metadata read. A secret the caller may list but not read is listed
// by its id alone.
func (s *session) listNames(path, kvPath string, describe func(string, *kvMeta) bundle) (any, error) {
	limit, after, err := s.pageArgs("n")
	if err != nil {
		return nil, err
	}
	if after != "" && checkName(after) != nil {
		return nil, badParam("The $skiptoken is not one this list gave.")
	}
	names, err := s.names(kvPath, after)
	if err != nil {
		return nil, err
	}
	out := page{Value: []bundle{}}
	for i, name := range names {
		if i == limit {
			out.NextLink = s.nextLink(path, "n", names[i-1], limit)
			break
		}
		m, err := s.readMeta(kvPath, name)
		switch {
		case err == nil:
			out.Value = append(out.Value, describe(name, m))
		case isNotFound(err):
			// Deleted since the listing.
		case errors.Is(err, logical.ErrPermissionDenied):
			out.Value = append(out.Value, bundle{ID: s.secretURL(name, 0)})
		default:
			return nil, err
		}
	}
	return out, nil
}

// listVersions lists name's versions, oldest first.
func (s *session) listVersions(name string) (any, error) {
	limit, after, err := s.pageArgs("v")
	if err != nil {
		return nil, err
	}
	from := 0
	if after != "" {
		if from, err = strconv.Atoi(after); err != nil || from < 1 {
			return nil, badParam("The $skiptoken is not one this list gave.")
		}
	}
	m, err := s.readMeta("metadata/", name)
	if isNotFound(err) {
		return nil, notFound(name)
	}
	if err != nil {
		return nil, err
	}
	var nums []int
	for n, v := range m.Versions {
		if n > from && !v.Destroyed {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	out := page{Value: []bundle{}}
	for i, n := range nums {
		if i == limit {
			out.NextLink = s.nextLink("/secrets/"+name+"/versions", "v", strconv.Itoa(nums[i-1]), limit)
			break
		}
		vm := metaOf(m.CustomMetadata, n)
		out.Value = append(out.Value, bundle{ID: s.secretURL(name, n), ContentType: vm.ContentType, Attributes: vm.attrs(m.Versions[n].CreatedTime), Tags: vm.Tags})
	}
	return out, nil
}

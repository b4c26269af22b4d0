package gcpapi

import (
	"context"
	"encoding/base64"
	"errors"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// Page sizes of the List methods.
const (
	defaultPageSize = 100
	maxPageSize     = 250
)

// metaChange is a metadata write or patch: custom_metadata changes (nil
// removes a key) and, when setExpiry, the expiry ("" for none).
type metaChange struct {
	custom    map[string]*string
	setExpiry bool
	expireAt  string
}

// body is the KV request body for the change.
func (mc metaChange) body() map[string]any {
	b := map[string]any{}
	if len(mc.custom) > 0 {
		b["custom_metadata"] = mc.custom
	}
	if mc.setExpiry {
		b["expire_at"] = mc.expireAt
	}
	return b
}

// checkLabels checks labels as Google does (keys: lowercase letter
// first, then lowercase letters, digits, _ and -; at most 63 characters
// each).
func checkLabels(labels map[string]string) error {
	for k, v := range labels {
		if !labelWord(k, true) {
			return invalidArg("invalid label key %q: 1 to 63 lowercase letters, digits, _ and -, starting with a letter", clip(k))
		}
		if !labelWord(v, false) {
			return invalidArg("invalid value for label %q: at most 63 lowercase letters, digits, _ and -", clip(k))
		}
	}
	return nil
}

func labelWord(s string, key bool) bool {
	if len(s) > 63 || key && (s == "" || s[0] < 'a' || s[0] > 'z') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// checkAnnotations checks annotations: keys of 1 to 63 letters, digits,
// ".", "_", "-" and "/"; values within what KV custom_metadata holds.
func checkAnnotations(ann map[string]string) error {
	for k, v := range ann {
		ok := k != "" && len(k) <= 63
		for i := 0; ok && i < len(k); i++ {
			c := k[i]
			ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._-/", c) >= 0
		}
		if !ok {
			return invalidArg("invalid annotation key %q: 1 to 63 letters, digits, ., _, - and /", clip(k))
		}
		if len(v) > maxMetaValueLen {
			return invalidArg("annotation %q is longer than %d bytes, the most Coffer keeps", clip(k), maxMetaValueLen)
		}
	}
	return nil
}

// setGroup replaces the custom_metadata entries under prefix in ch with
// vals (removing those of cur not in vals).
func setGroup(ch map[string]*string, cur map[string]string, prefix string, vals map[string]string) {
	for k := range cur {
		if strings.HasPrefix(k, prefix) {
			ch[k] = nil
		}
	}
	for k, v := range vals {
		ch[prefix+k] = &v
	}
}

// topicsValue checks topics and answers how they are recorded.
func topicsValue(ts []*secretmanagerpb.Topic) (string, error) {
	var names []string
	for _, t := range ts {
		n := t.GetName()
		if !strings.HasPrefix(n, "projects/") || !strings.Contains(n, "/topics/") || strings.Contains(n, ",") {
			return "", invalidArg("invalid topic %q: want projects/PROJECT/topics/TOPIC", clip(n))
		}
		names = append(names, n)
	}
	v := strings.Join(names, ",")
	if len(v) > maxMetaValueLen {
		return "", invalidArg("topics: more than Coffer keeps (%d bytes of names)", maxMetaValueLen)
	}
	return v, nil
}

// rotationChange sets the rotation fields the mask names ("rotation"
// for both) into ch.
func rotationChange(ch map[string]*string, r *secretmanagerpb.Rotation, next, period bool, now time.Time) error {
	if next {
		if t := r.GetNextRotationTime(); t != nil {
			if err := t.CheckValid(); err != nil || !t.AsTime().After(now) {
				return invalidArg("rotation.next_rotation_time must be a time in the future")
			}
			s := t.AsTime().UTC().Format(time.RFC3339Nano)
			ch[mkRotationNext] = &s
		} else {
			ch[mkRotationNext] = nil
		}
	}
	if period {
		if d := r.GetRotationPeriod(); d != nil {
			if err := d.CheckValid(); err != nil || d.AsDuration() < time.Hour || d.AsDuration() > 100*365*24*time.Hour {
				return invalidArg("rotation.rotation_period must be from 1 hour to 100 years")
			}
			s := strconv.FormatInt(int64(d.AsDuration()/time.Second), 10)
			ch[mkRotationPeriod] = &s
		} else {
			ch[mkRotationPeriod] = nil
		}
	}
	return nil
}

// expiryOf answers the KV expire_at for a secret's expiration.
func expiryOf(sec *secretmanagerpb.Secret, now time.Time) (string, error) {
	switch x := sec.GetExpiration().(type) {
	case *secretmanagerpb.Secret_ExpireTime:
		if err := x.ExpireTime.CheckValid(); err != nil || !x.ExpireTime.AsTime().After(now) {
			return "", invalidArg("expire_time must be a time in the future")
		}
		return x.ExpireTime.AsTime().UTC().Format(time.RFC3339Nano), nil
	case *secretmanagerpb.Secret_Ttl:
		if err := x.Ttl.CheckValid(); err != nil || x.Ttl.AsDuration() <= 0 {
			return "", invalidArg("ttl must be a positive duration")
		}
		return now.Add(x.Ttl.AsDuration()).UTC().Format(time.RFC3339Nano), nil
	}
	return "", nil
}

// countGroups checks that labels and annotations fit KV's custom_metadata
// once ch is applied to cur.
func countGroups(cur map[string]string, ch map[string]*string) error {
	merged := maps.Clone(cur)
	if merged == nil {
		merged = map[string]string{}
	}
	for k, v := range ch {
		if v == nil {
			delete(merged, k)
		} else {
			merged[k] = *v
		}
	}
	if len(merged) > maxMetaKeys {
		return invalidArg("labels and annotations: at most %d in all on one secret in Coffer", maxMetaKeys-reservedKeys)
	}
	return nil
}

// CreateSecret makes a secret with no versions: a KV metadata write.
func (s *Service) CreateSecret(ctx context.Context, req *secretmanagerpb.CreateSecretRequest) (*secretmanagerpb.Secret, error) {
	c, err := callOf(ctx)
	if err != nil {
		return nil, err
	}
	project, err := parseParent(req.GetParent())
	if err != nil {
		return nil, err
	}
	if !validSecretID(req.GetSecretId()) {
		return nil, invalidArg("invalid secret_id %q: 1 to 255 letters, digits, _ and -", clip(req.GetSecretId()))
	}
	n := secretName{project: project, secret: req.GetSecretId()}
	sec := req.GetSecret()
	if sec == nil {
		return nil, invalidArg("secret is required")
	}
	repl, err := replicationKey(sec.GetReplication())
	if err != nil {
		return nil, err
	}
	if len(sec.GetVersionAliases()) > 0 || sec.GetVersionDestroyTtl() != nil || sec.GetCustomerManagedEncryption() != nil {
		return nil, invalidArg("version_aliases, version_destroy_ttl and customer_managed_encryption are not supported by Coffer")
	}
	if len(sec.GetLabels())+len(sec.GetAnnotations()) > maxMetaKeys-reservedKeys {
		return nil, invalidArg("labels and annotations: at most %d in all on one secret in Coffer", maxMetaKeys-reservedKeys)
	}
	if err := checkLabels(sec.GetLabels()); err != nil {
		return nil, err
	}
	if err := checkAnnotations(sec.GetAnnotations()); err != nil {
		return nil, err
	}
	now := s.now()
	ch := map[string]*string{mkReplication: &repl}
	setGroup(ch, nil, mkLabelPrefix, sec.GetLabels())
	setGroup(ch, nil, mkAnnotationPrefix, sec.GetAnnotations())
	if len(sec.GetTopics()) > 0 {
		v, err := topicsValue(sec.GetTopics())
		if err != nil {
			return nil, err
		}
		ch[mkTopics] = &v
	}
	if sec.GetRotation() != nil {
		if err := rotationChange(ch, sec.GetRotation(), true, true, now); err != nil {
			return nil, err
		}
	}
	exp, err := expiryOf(sec, now)
	if err != nil {
		return nil, err
	}
	custom := map[string]string{}
	for k, v := range ch {
		if v != nil {
			custom[k] = *v
		}
	}
	body := map[string]any{"custom_metadata": custom}
	if exp != "" {
		body["expire_at"] = exp
	}
	// One request: KV writes the metadata only if the key does not exist,
	// so of concurrent creates exactly one wins.
	if err := c.do(logical.UpdateOperation, project, "metadata/"+n.secret, expect(expectNone), body, nil); err != nil {
		switch {
		case isNotFound(err):
			return nil, c.projectNotFound(project)
		case errors.Is(err, logical.ErrConflict):
			return nil, status.Errorf(codes.AlreadyExists, "Secret [%s] already exists.", n)
		}
		return nil, err
	}
	m, err := c.readMeta(n)
	if err != nil {
		return nil, err
	}
	s.notify(c, n, nil, m, eventSecretCreate, 0)
	return toSecret(n, m), nil
}

// projectNotFound answers a project without its KV mount.
func (c *call) projectNotFound(project string) error {
	return status.Errorf(codes.NotFound, "Project [%s] not found: Coffer serves it from the KV version 2 mount %q, which is not enabled", project, c.mount(project))
}

// GetSecret answers a secret's metadata: one KV metadata read.
func (s *Service) GetSecret(ctx context.Context, req *secretmanagerpb.GetSecretRequest) (*secretmanagerpb.Secret, error) {
	c, err := callOf(ctx)
	if err != nil {
		return nil, err
	}
	n, err := parseSecret(req.GetName())
	if err != nil {
		return nil, err
	}
	m, err := c.readMeta(n)
	if err != nil {
		return nil, err
	}
	return toSecret(n, m), nil
}

// UpdateSecret changes the fields update_mask names: a metadata read,
// then one KV metadata patch that applies only to the metadata read
// (?expect_updated_time), so a stale etag never passes and no
// concurrent change is lost. Without an etag a patch that lost the race
// is tried again.
func (s *Service) UpdateSecret(ctx context.Context, req *secretmanagerpb.UpdateSecretRequest) (*secretmanagerpb.Secret, error) {
	c, err := callOf(ctx)
	if err != nil {
		return nil, err
	}
	sec := req.GetSecret()
	n, err := parseSecret(sec.GetName())
	if err != nil {
		return nil, err
	}
	paths := req.GetUpdateMask().GetPaths()
	if len(paths) == 0 {
		return nil, invalidArg("update_mask is required: name the fields to change")
	}
	for range addAttempts {
		m, err := c.readMeta(n)
		if err != nil {
			return nil, err
		}
		if sec.GetEtag() != "" && !sameETag(sec.GetEtag(), m.etag()) {
			return nil, etagMismatch("Secret", n.String())
		}
		mc, err := s.secretChange(sec, paths, m)
		if err != nil {
			return nil, err
		}
		err = c.do(logical.PatchOperation, n.project, "metadata/"+n.secret, expect(m.UpdatedTime), mc.body(), nil)
		switch {
		case errors.Is(err, logical.ErrConflict) && sec.GetEtag() != "":
			return nil, etagMismatch("Secret", n.String())
		case errors.Is(err, logical.ErrConflict):
			continue
		case isNotFound(err):
			return nil, secretNotFound(n)
		case err != nil:
			return nil, err
		}
		after, err := c.readMeta(n)
		if err != nil {
			return nil, err
		}
		s.notify(c, n, m, after, eventSecretUpdate, 0)
		return toSecret(n, after), nil
	}
	return nil, status.Errorf(codes.Aborted, "Secret [%s] changed during the call; retry", n)
}

// secretChange is the metadata patch for the fields paths names of sec,
// against the current metadata m.
func (s *Service) secretChange(sec *secretmanagerpb.Secret, paths []string, m *kvMeta) (metaChange, error) {
	now := s.now()
	mc := metaChange{custom: map[string]*string{}}
	for _, p := range paths {
		switch p {
		case "labels":
			if err := checkLabels(sec.GetLabels()); err != nil {
				return mc, err
			}
			setGroup(mc.custom, m.CustomMetadata, mkLabelPrefix, sec.GetLabels())
		case "annotations":
			if err := checkAnnotations(sec.GetAnnotations()); err != nil {
				return mc, err
			}
			setGroup(mc.custom, m.CustomMetadata, mkAnnotationPrefix, sec.GetAnnotations())
		case "topics":
			v, err := topicsValue(sec.GetTopics())
			if err != nil {
				return mc, err
			}
			if v == "" {
				mc.custom[mkTopics] = nil
			} else {
				mc.custom[mkTopics] = &v
			}
		case "expire_time", "ttl":
			exp, err := expiryOf(sec, now)
			if err != nil {
				return mc, err
			}
			mc.setExpiry, mc.expireAt = true, exp
		case "rotation", "rotation.next_rotation_time", "rotation.rotation_period":
			if err := rotationChange(mc.custom, sec.GetRotation(), p != "rotation.rotation_period", p != "rotation.next_rotation_time", now); err != nil {
				return mc, err
			}
		case "replication":
			return mc, invalidArg("replication cannot be changed after a secret is created")
		default:
			return mc, invalidArg("update_mask: %q cannot be changed in Coffer (labels, annotations, topics, expire_time, ttl, rotation can)", clip(p))
		}
	}
	return mc, countGroups(m.CustomMetadata, mc.custom)
}

// DeleteSecret deletes a secret and all its versions (KV's metadata
// delete, with the mount's recovery window if it has one).
func (s *Service) DeleteSecret(ctx context.Context, req *secretmanagerpb.DeleteSecretRequest) (*emptypb.Empty, error) {
	c, err := callOf(ctx)
	if err != nil {
		return nil, err
	}
	n, err := parseSecret(req.GetName())
	if err != nil {
		return nil, err
	}
	m, err := c.readMeta(n)
	if err != nil {
		return nil, err
	}
	var q url.Values
	if req.GetEtag() != "" {
		if !sameETag(req.GetEtag(), m.etag()) {
			return nil, etagMismatch("Secret", n.String())
		}
		// The delete applies only to the metadata whose etag was checked.
		q = expect(m.UpdatedTime)
	}
	if err := c.do(logical.DeleteOperation, n.project, "metadata/"+n.secret, q, nil, nil); err != nil {
		if errors.Is(err, logical.ErrConflict) {
			return nil, etagMismatch("Secret", n.String())
		}
		return nil, err
	}
	s.notify(c, n, m, nil, eventSecretDelete, 0)
	return &emptypb.Empty{}, nil
}

// listData is the answer to a KV list.
type listData struct {
	Keys []string `json:"keys"`
}

// pageToken encodes where a page ended.
func pageToken(last string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(last))
}

// parsePage checks page_size and decodes page_token.
func parsePage(size int32, tok string) (int, string, error) {
	if size < 0 {
		return 0, "", invalidArg("page_size must not be negative")
	}
	n := int(size)
	if n == 0 {
		n = defaultPageSize
	}
	n = min(n, maxPageSize)
	if tok == "" {
		return n, "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) > maxSecretIDLen {
		return 0, "", invalidArg("invalid page_token")
	}
	return n, string(b), nil
}

// ListSecrets lists a project's secrets: a KV list, then a metadata read
// per secret on the page (and per secret a filter skips).
func (s *Service) ListSecrets(ctx context.Context, req *secretmanagerpb.ListSecretsRequest) (*secretmanagerpb.ListSecretsResponse, error) {
	c, err := callOf(ctx)
	if err != nil {
		return nil, err
	}
	project, err := parseParent(req.GetParent())
	if err != nil {
		return nil, err
	}
	size, after, err := parsePage(req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	f, err := parseFilter(req.GetFilter(), false)
	if err != nil {
		return nil, err
	}
	var l listData
	if err := c.do(logical.ListOperation, project, "metadata/", nil, nil, &l); err != nil {
		if isNotFound(err) {
			return &secretmanagerpb.ListSecretsResponse{}, nil
		}
		return nil, err
	}
	keys := slices.DeleteFunc(l.Keys, func(k string) bool { return !validSecretID(k) })
	total := len(keys)
	keys = slices.DeleteFunc(keys, func(k string) bool { return k <= after })
	slices.Sort(keys)
	out := &secretmanagerpb.ListSecretsResponse{}
	for i, k := range keys {
		if len(out.Secrets) == size {
			out.NextPageToken = pageToken(keys[i-1])
			break
		}
		n := secretName{project: project, secret: k}
		m, err := c.readMeta(n)
		if status.Code(err) == codes.NotFound {
			continue // deleted since the list
		}
		if err != nil {
			return nil, err
		}
		if len(f) > 0 {
			created, _ := time.Parse(time.RFC3339Nano, m.CreatedTime)
			if !f.match(item{name: k, labels: prefixed(m.CustomMetadata, mkLabelPrefix), created: created}) {
				continue
			}
		}
		out.Secrets = append(out.Secrets, toSecret(n, m))
	}
	if len(f) == 0 {
		out.TotalSize = int32(total)
	}
	return out, nil
}

package awsapi

import (
	"errors"
	"strconv"
	"strings"

	"github.com/coffer-secrets/coffer/internal/kvpayload"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/uuid"
)

// opFunc runs one operation on a decoded session; body is the request's
// JSON.
type opFunc func(s *session, body []byte) (any, error)

// operation answers the function serving the named operation, nil for an
// unknown one.
func operation(name string) opFunc {
	switch name {
	case "CreateSecret":
		return createSecret
	case "GetSecretValue":
		return getSecretValue
	case "BatchGetSecretValue":
		return batchGetSecretValue
	case "PutSecretValue":
		return putSecretValue
	case "UpdateSecret":
		return updateSecret
	case "UpdateSecretVersionStage":
		return updateSecretVersionStage
	case "DescribeSecret":
		return describeSecret
	case "ListSecrets":
		return listSecrets
	case "ListSecretVersionIds":
		return listSecretVersionIDs
	case "DeleteSecret":
		return deleteSecret
	case "RestoreSecret":
		return restoreSecret
	case "TagResource":
		return tagResource
	case "UntagResource":
		return untagResource
	case "GetRandomPassword":
		return getRandomPassword
	case "RotateSecret":
		return rotateSecret
	case "CancelRotateSecret":
		return cancelRotateSecret
	}
	return nil
}

// checkName enforces AWS's secret name rules and KV's path rules: 1 to 512
// of the characters letters, digits and /_+=.@-, no empty path segment,
// no "." or ".." segment.
func checkName(name string) error {
	if name == "" || len(name) > maxNameLen {
		return invalidParam("invalid name: want 1 to %d characters", maxNameLen)
	}
	for _, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("/_+=.@-", c)
		if !ok {
			return invalidParam("invalid name: use only letters, digits and /_+=.@-")
		}
	}
	for seg := range strings.SplitSeq(name, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return invalidParam("invalid name: Coffer keeps secrets at KV paths, so a name may not start or end with \"/\", hold \"//\", or have a \".\" or \"..\" segment")
		}
	}
	return nil
}

// secretRef is a SecretId resolved to a name; suffix is set when the id
// was an ARN.
type secretRef struct {
	id     string
	name   string
	suffix string
}

// resolve turns a SecretId (a name or a Coffer ARN) into a name.
func resolve(id string) (secretRef, error) {
	if id == "" {
		return secretRef{}, invalidParam("SecretId is required")
	}
	if len(id) > 2048 {
		return secretRef{}, invalidParam("SecretId is longer than 2048 characters")
	}
	ref := secretRef{id: id, name: id}
	if strings.HasPrefix(id, "arn:") {
		parts := strings.SplitN(id, ":", 7)
		if len(parts) != 7 || parts[2] != "secretsmanager" || parts[5] != "secret" {
			return secretRef{}, invalidParam("invalid ARN: want arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-XXXXXX")
		}
		res := parts[6]
		i := strings.LastIndexByte(res, '-')
		if i < 1 || len(res)-i-1 != 6 {
			return secretRef{}, notFound()
		}
		ref.name, ref.suffix = res[:i], res[i+1:]
	}
	if err := checkName(ref.name); err != nil {
		return secretRef{}, err
	}
	return ref, nil
}

// matches reports whether an ARN's suffix names the secret v (a name
// always does).
func (r secretRef) matches(v *view) bool {
	return r.suffix == "" || r.suffix == suffixOf(v)
}

// errDeleted answers an operation on a secret scheduled for deletion.
func errDeleted() error {
	return fail(codeInvalidRequest, "You can't perform this operation on the secret because it was marked for deletion.")
}

// load reads the secret's metadata. A secret scheduled for deletion is
// errDeleted; a missing one (or an ARN of another) ResourceNotFound.
func (s *session) load(ref secretRef) (*view, error) {
	m, err := s.readMeta(ref.name)
	if isNotFound(err) {
		if _, derr := s.readDeleted(ref.name); derr == nil {
			return nil, errDeleted()
		}
		return nil, notFound()
	}
	if err != nil {
		return nil, err
	}
	v := newView(ref.name, m)
	if !ref.matches(v) {
		return nil, notFound()
	}
	return v, nil
}

// checkToken checks a ClientRequestToken, or makes one when empty.
func checkToken(tok string) (string, error) {
	if tok == "" {
		return uuid.New(), nil
	}
	if len(tok) < 32 || len(tok) > 64 {
		return "", invalidParam("ClientRequestToken must be 32 to 64 characters")
	}
	return tok, nil
}

// valueOf checks that at most one of a value's forms is given and that it
// fits; ok is false when neither is.
func valueOf(str *string, bin []byte) (sv secretValue, ok bool, err error) {
	switch {
	case str != nil && bin != nil:
		return sv, false, invalidParam("You can't specify both a binary secret value and a string secret value in the same secret.")
	case str != nil:
		if len(*str) > maxSecretBytes {
			return sv, false, invalidParam("SecretString is longer than %d bytes", maxSecretBytes)
		}
		return secretValue{str: str}, true, nil
	case bin != nil:
		if len(bin) > maxSecretBytes {
			return sv, false, invalidParam("SecretBinary is longer than %d bytes", maxSecretBytes)
		}
		return secretValue{binary: bin}, true, nil
	}
	return sv, false, nil
}

// checkTags checks tags against AWS's rules and what custom_metadata can
// hold.
func checkTags(tags []tag) error {
	for _, t := range tags {
		if t.Key == "" || len(t.Key) > maxTagKeyLen {
			return invalidParam("a tag key must be 1 to %d characters", maxTagKeyLen)
		}
		if len(t.Value) > maxTagValueLen {
			return invalidParam("a tag value must be at most %d characters", maxTagValueLen)
		}
		if strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return invalidParam("tag keys starting with aws: are reserved")
		}
	}
	return nil
}

// ptr returns a pointer to s (for custom_metadata patches).
func ptr(s string) *string { return &s }

// itoa is strconv.Itoa.
func itoa(n int) string { return strconv.Itoa(n) }

// readValue reads version n's value.
func (s *session) readValue(name string, n int) (secretValue, *kvpayload.Read, error) {
	d, err := s.readData(name, n)
	if err != nil {
		if isNotFound(err) {
			return secretValue{}, nil, fail(codeResourceNotFound, "Secrets Manager can't find the specified secret value for VersionId: %s", itoa(n))
		}
		return secretValue{}, nil, err
	}
	sv, err := fromKV(d.Data)
	return sv, d, err
}

// putVersion writes value as a new version of the secret v with the
// ClientRequestToken tok and moves the staging labels stages to it, as
// PutSecretValue does, together with the custom_metadata changes extra
// (UpdateSecret's description): one core request, so the version, its
// VersionId and its labels are stored together or not at all. A version
// without AWSCURRENT (when the secret has a current one) is written
// staged: not current for Vault readers either. It answers the new
// version (or, for a retry with the same token and value, the existing
// one, and then applies extra alone).
func (s *session) putVersion(v *view, tok string, value secretValue, stages []string, extra map[string]*string) (int, error) {
	if n := v.versionOf(tok); n > 0 && v.custom[mkVersionPrefix+itoa(n)] == tok {
		old, _, err := s.readValue(v.name, n)
		if err != nil {
			return 0, err
		}
		if !old.equal(value) {
			return 0, fail(codeResourceExists, "You can't modify an existing version, you can only create a new version.")
		}
		return n, s.patchCustom(v.name, extra)
	}
	if len(stages) == 0 {
		stages = []string{stageCurrent}
	}
	if len(stages) > 20 {
		return 0, invalidParam("at most 20 staging labels may be attached to a version")
	}
	for _, st := range stages {
		if st == "" || len(st) > maxLabelLen {
			return 0, invalidParam("a staging label must be 1 to %d characters", maxLabelLen)
		}
	}
	oldCur := v.current()
	n := v.next()
	changes := map[string]*string{mkVersionPrefix + itoa(n): ptr(tok)}
	for k, val := range extra {
		changes[k] = val
	}
	if _, ok := v.custom[mkLegacyCurrent]; ok {
		changes[mkLegacyCurrent] = nil
	}
	makeCurrent := oldCur == 0
	for _, st := range stages {
		switch st {
		case stageCurrent:
			makeCurrent = true
		default:
			changes[mkStagePrefix+st] = ptr(itoa(n))
		}
	}
	if makeCurrent && oldCur > 0 {
		changes[mkStagePrefix+stagePrevious] = ptr(itoa(oldCur) + ":" + itoa(n))
	}
	// Forget the VersionIds of versions KV no longer keeps.
	for k := range v.custom {
		if rest, ok := strings.CutPrefix(k, mkVersionPrefix); ok {
			if m, err := strconv.Atoi(rest); err == nil && m != n && v.retain != nil {
				if _, kept := v.retain[m]; !kept {
					changes[k] = nil
				}
			}
		}
	}
	_, err := s.writeVersion(v.name, versionWrite{data: value.toKV(), cas: v.cur, n: n, staged: !makeCurrent, changes: changes})
	if err != nil {
		if errors.Is(err, logical.ErrConflict) {
			return 0, fail(codeInvalidRequest, "the secret changed during the request; retry")
		}
		return 0, err
	}
	return n, nil
}

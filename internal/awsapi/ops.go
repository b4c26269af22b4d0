package awsapi

import (
	"encoding/base64"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
)

type createInput struct {
	Name               string  `json:"Name"`
	ClientRequestToken string  `json:"ClientRequestToken"`
	Description        *string `json:"Description"`
	KmsKeyID           *string `json:"KmsKeyId"`
	SecretString       *string `json:"SecretString"`
	SecretBinary       []byte  `json:"SecretBinary"`
	Tags               []tag   `json:"Tags"`
	AddReplicaRegions  []any   `json:"AddReplicaRegions"`
	ForceOverwrite     *bool   `json:"ForceOverwriteReplicaSecret"`
}

type createOutput struct {
	ARN       string  `json:"ARN"`
	Name      string  `json:"Name"`
	VersionID *string `json:"VersionId,omitempty"`
}

func createSecret(s *session, body []byte) (any, error) {
	var in createInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := checkName(in.Name); err != nil {
		return nil, err
	}
	if len(in.AddReplicaRegions) > 0 {
		return nil, invalidParam("replication to other regions is not served by Coffer")
	}
	tok, err := checkToken(in.ClientRequestToken)
	if err != nil {
		return nil, err
	}
	value, hasValue, err := valueOf(in.SecretString, in.SecretBinary)
	if err != nil {
		return nil, err
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	if in.Description != nil && len(*in.Description) > maxDescriptionLen {
		return nil, invalidParam("Description is longer than %d characters", maxDescriptionLen)
	}
	m, err := s.readMeta(in.Name)
	switch {
	case err == nil:
		// A retry of the same request (same token, same value) answers
		// as the first did.
		v := newView(in.Name, m)
		if hasValue && v.custom[mkVersionPrefix+"1"] == tok {
			if old, _, err := s.readValue(in.Name, 1); err == nil && old.equal(value) {
				return &createOutput{ARN: s.arn(v), Name: in.Name, VersionID: ptr(tok)}, nil
			}
		}
		return nil, fail(codeResourceExists, "The operation failed because the secret %s already exists.", in.Name)
	case !isNotFound(err):
		return nil, err
	}
	if _, derr := s.readDeleted(in.Name); derr == nil {
		return nil, fail(codeInvalidRequest, "You can't create this secret because a secret with this name is already scheduled for deletion.")
	}
	custom := map[string]string{mkSuffix: newSuffix()}
	if in.Description != nil && *in.Description != "" {
		custom[mkDescription] = *in.Description
	}
	if in.KmsKeyID != nil && *in.KmsKeyID != "" {
		if len(*in.KmsKeyID) > 512 {
			return nil, invalidParam("KmsKeyId is too long")
		}
		custom[mkKMSKey] = *in.KmsKeyID
	}
	for _, t := range in.Tags {
		custom[mkTagPrefix+t.Key] = t.Value
	}
	if hasValue {
		custom[mkVersionPrefix+"1"] = tok
	}
	if len(custom) > 64 {
		return nil, invalidParam("too many tags: Coffer keeps tags in the key's custom_metadata, which holds at most 64 entries")
	}
	v := &view{name: in.Name, custom: custom}
	out := &createOutput{ARN: s.arn(v), Name: in.Name}
	if !hasValue {
		// One request: a key with metadata and no version.
		if err := s.do(logical.UpdateOperation, "metadata/"+in.Name, nil, map[string]any{"custom_metadata": custom}, nil); err != nil {
			return nil, err
		}
		return out, nil
	}
	// One request: the data write (check-and-set 0: the key must be new)
	// creates the secret with its custom metadata, atomically.
	changes := make(map[string]*string, len(custom))
	for k, val := range custom {
		changes[k] = ptr(val)
	}
	if _, err := s.writeVersion(in.Name, versionWrite{data: value.toKV(), cas: 0, n: 1, changes: changes}); err != nil {
		if errors.Is(err, logical.ErrConflict) {
			return nil, fail(codeResourceExists, "The operation failed because the secret %s already exists.", in.Name)
		}
		return nil, err
	}
	out.VersionID = ptr(tok)
	return out, nil
}

type getInput struct {
	SecretID     string `json:"SecretId"`
	VersionID    string `json:"VersionId"`
	VersionStage string `json:"VersionStage"`
}

type getOutput struct {
	ARN           string   `json:"ARN"`
	Name          string   `json:"Name"`
	VersionID     string   `json:"VersionId"`
	SecretString  *string  `json:"SecretString,omitempty"`
	SecretBinary  []byte   `json:"SecretBinary,omitempty"`
	VersionStages []string `json:"VersionStages"`
	CreatedDate   *float64 `json:"CreatedDate,omitempty"`
}

func getSecretValue(s *session, body []byte) (any, error) {
	var in getInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	return s.get(in)
}

// get reads one secret value. It needs only read on the mount's data/
// path of the secret: labels and VersionIds come from the version's
// custom_metadata.
func (s *session) get(in getInput) (*getOutput, error) {
	ref, err := resolve(in.SecretID)
	if err != nil {
		return nil, err
	}
	d, err := s.readData(ref.name, 0)
	if isNotFound(err) {
		if _, derr := s.readDeleted(ref.name); derr == nil {
			return nil, errDeleted()
		}
		return nil, fail(codeResourceNotFound, "Secrets Manager can't find the specified secret.")
	}
	if err != nil {
		return nil, err
	}
	v := &view{name: ref.name, custom: d.Metadata.CustomMetadata, cur: d.Metadata.Version, newest: d.Metadata.Version}
	if v.custom == nil {
		v.custom = map[string]string{}
	}
	if !ref.matches(v) {
		return nil, notFound()
	}
	var n int
	if in.VersionID != "" {
		n = v.versionOf(in.VersionID)
		if n == 0 {
			return nil, fail(codeResourceNotFound, "Secrets Manager can't find the specified secret value for VersionId: %s", in.VersionID)
		}
	}
	if in.VersionID == "" || in.VersionStage != "" {
		stage := in.VersionStage
		if stage == "" {
			stage = stageCurrent
		}
		labels := v.labels()
		if stage == stagePending {
			if _, ok := labels[stage]; !ok {
				// A rotation's pending version shows only in the metadata
				// (read it if the caller may).
				if m, err := s.readMeta(ref.name); err == nil {
					labels = newView(ref.name, m).labels()
				}
			}
		}
		on, ok := labels[stage]
		if !ok {
			return nil, fail(codeResourceNotFound, "Secrets Manager can't find the specified secret value for staging label: %s", stage)
		}
		if n != 0 && on != n {
			return nil, invalidParam("You provided a VersionStage that is not associated to the provided VersionId.")
		}
		n = on
	}
	value, dd := secretValue{}, d
	if n != d.Metadata.Version {
		value, dd, err = s.readValue(ref.name, n)
		if err != nil {
			return nil, err
		}
	} else if value, err = fromKV(d.Data); err != nil {
		return nil, err
	}
	return &getOutput{
		ARN:           s.arn(v),
		Name:          ref.name,
		VersionID:     v.versionID(n),
		SecretString:  value.str,
		SecretBinary:  value.binary,
		VersionStages: nonNil(v.stagesOf(n)),
		CreatedDate:   awsTime(dd.Metadata.CreatedTime),
	}, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

type batchInput struct {
	SecretIDList []string `json:"SecretIdList"`
	Filters      []filter `json:"Filters"`
	MaxResults   *int     `json:"MaxResults"`
	NextToken    string   `json:"NextToken"`
}

type batchError struct {
	SecretID  string `json:"SecretId"`
	ErrorCode string `json:"ErrorCode"`
	Message   string `json:"Message"`
}

type batchOutput struct {
	SecretValues []*getOutput `json:"SecretValues"`
	Errors       []batchError `json:"Errors"`
	NextToken    *string      `json:"NextToken,omitempty"`
}

func batchGetSecretValue(s *session, body []byte) (any, error) {
	var in batchInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if (len(in.SecretIDList) > 0) == (len(in.Filters) > 0) {
		return nil, invalidParam("give either SecretIdList or Filters")
	}
	ids := in.SecretIDList
	out := &batchOutput{SecretValues: []*getOutput{}, Errors: []batchError{}}
	if len(in.Filters) > 0 {
		page, err := s.list(listInput{Filters: in.Filters, MaxResults: in.MaxResults, NextToken: in.NextToken}, 20)
		if err != nil {
			return nil, err
		}
		ids = ids[:0]
		for _, e := range page.SecretList {
			ids = append(ids, e.Name)
		}
		out.NextToken = page.NextToken
	} else if len(ids) > 20 {
		return nil, invalidParam("SecretIdList holds at most 20 secrets")
	}
	for _, id := range ids {
		v, err := s.get(getInput{SecretID: id})
		if err != nil {
			ae, known := toAPI(err)
			if !known {
				return nil, err
			}
			out.Errors = append(out.Errors, batchError{SecretID: id, ErrorCode: ae.code, Message: ae.msg})
			continue
		}
		out.SecretValues = append(out.SecretValues, v)
	}
	return out, nil
}

type putInput struct {
	SecretID           string   `json:"SecretId"`
	ClientRequestToken string   `json:"ClientRequestToken"`
	SecretString       *string  `json:"SecretString"`
	SecretBinary       []byte   `json:"SecretBinary"`
	VersionStages      []string `json:"VersionStages"`
}

type putOutput struct {
	ARN           string   `json:"ARN"`
	Name          string   `json:"Name"`
	VersionID     string   `json:"VersionId"`
	VersionStages []string `json:"VersionStages"`
}

func putSecretValue(s *session, body []byte) (any, error) {
	var in putInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	ref, err := resolve(in.SecretID)
	if err != nil {
		return nil, err
	}
	tok, err := checkToken(in.ClientRequestToken)
	if err != nil {
		return nil, err
	}
	value, ok, err := valueOf(in.SecretString, in.SecretBinary)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, invalidParam("give SecretString or SecretBinary")
	}
	v, err := s.load(ref)
	if err != nil {
		return nil, err
	}
	n, err := s.putVersion(v, tok, value, in.VersionStages, nil)
	if err != nil {
		return nil, err
	}
	v, err = s.load(ref)
	if err != nil {
		return nil, err
	}
	return &putOutput{ARN: s.arn(v), Name: v.name, VersionID: v.versionID(n), VersionStages: nonNil(v.stagesOf(n))}, nil
}

type updateInput struct {
	SecretID           string  `json:"SecretId"`
	ClientRequestToken string  `json:"ClientRequestToken"`
	Description        *string `json:"Description"`
	KmsKeyID           *string `json:"KmsKeyId"`
	SecretString       *string `json:"SecretString"`
	SecretBinary       []byte  `json:"SecretBinary"`
}

func updateSecret(s *session, body []byte) (any, error) {
	var in updateInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	ref, err := resolve(in.SecretID)
	if err != nil {
		return nil, err
	}
	tok, err := checkToken(in.ClientRequestToken)
	if err != nil {
		return nil, err
	}
	value, hasValue, err := valueOf(in.SecretString, in.SecretBinary)
	if err != nil {
		return nil, err
	}
	if in.Description != nil && len(*in.Description) > maxDescriptionLen {
		return nil, invalidParam("Description is longer than %d characters", maxDescriptionLen)
	}
	v, err := s.load(ref)
	if err != nil {
		return nil, err
	}
	changes := map[string]*string{}
	if in.Description != nil {
		changes[mkDescription] = in.Description
	}
	if in.KmsKeyID != nil {
		changes[mkKMSKey] = in.KmsKeyID
	}
	out := &createOutput{ARN: s.arn(v), Name: v.name}
	if !hasValue {
		if err := s.patchCustom(v.name, changes); err != nil {
			return nil, err
		}
		return out, nil
	}
	// One request: the new version with the description's change.
	n, err := s.putVersion(v, tok, value, nil, changes)
	if err != nil {
		return nil, err
	}
	out.VersionID = ptr(tok)
	if id := v.custom[mkVersionPrefix+itoa(n)]; id != "" {
		out.VersionID = ptr(id)
	}
	return out, nil
}

type stageInput struct {
	SecretID            string `json:"SecretId"`
	VersionStage        string `json:"VersionStage"`
	RemoveFromVersionID string `json:"RemoveFromVersionId"`
	MoveToVersionID     string `json:"MoveToVersionId"`
}

type nameOutput struct {
	ARN  string `json:"ARN"`
	Name string `json:"Name"`
}

func updateSecretVersionStage(s *session, body []byte) (any, error) {
	var in stageInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	ref, err := resolve(in.SecretID)
	if err != nil {
		return nil, err
	}
	if in.VersionStage == "" || len(in.VersionStage) > maxLabelLen {
		return nil, invalidParam("VersionStage must be 1 to %d characters", maxLabelLen)
	}
	v, err := s.load(ref)
	if err != nil {
		return nil, err
	}
	labels := v.labels()
	on, attached := labels[in.VersionStage]
	if in.RemoveFromVersionID != "" {
		if !attached || v.versionOf(in.RemoveFromVersionID) != on {
			return nil, invalidParam("The staging label %s is not attached to version %s", in.VersionStage, in.RemoveFromVersionID)
		}
	}
	// One request: a metadata patch of the labels and, for AWSCURRENT,
	// of KV's current version.
	changes := map[string]*string{}
	if _, ok := v.custom[mkLegacyCurrent]; ok {
		changes[mkLegacyCurrent] = nil
	}
	if in.MoveToVersionID == "" {
		if in.RemoveFromVersionID == "" {
			return nil, invalidParam("give MoveToVersionId, RemoveFromVersionId or both")
		}
		switch in.VersionStage {
		case stageCurrent:
			return nil, invalidParam("You can't remove the staging label AWSCURRENT; move it to another version instead.")
		case stagePrevious:
			changes[mkStagePrefix+stagePrevious] = ptr("0:" + itoa(v.cur))
		default:
			changes[mkStagePrefix+in.VersionStage] = nil
		}
		return s.stageDone(v, changes, 0)
	}
	to := v.versionOf(in.MoveToVersionID)
	if to == 0 || !v.usable(to) {
		return nil, fail(codeResourceNotFound, "Secrets Manager can't find the specified secret value for VersionId: %s", in.MoveToVersionID)
	}
	if attached && on != to && in.RemoveFromVersionID == "" {
		return nil, invalidParam("The staging label %s is currently attached to version %s. You must specify RemoveFromVersionId to remove it.", in.VersionStage, v.versionID(on))
	}
	makeCurrent := 0
	switch in.VersionStage {
	case stageCurrent:
		if to != v.cur {
			makeCurrent = to
		}
		if attached && on != to {
			changes[mkStagePrefix+stagePrevious] = ptr(itoa(on) + ":" + itoa(to))
		}
	case stagePrevious:
		changes[mkStagePrefix+stagePrevious] = ptr(itoa(to) + ":" + itoa(v.cur))
	default:
		changes[mkStagePrefix+in.VersionStage] = ptr(itoa(to))
	}
	return s.stageDone(v, changes, makeCurrent)
}

// stageDone patches the secret's labels and, when current is not 0,
// makes version current KV's current version: one metadata patch, which
// KV applies in one transaction.
func (s *session) stageDone(v *view, changes map[string]*string, current int) (any, error) {
	body := map[string]any{}
	if len(changes) > 0 {
		body["custom_metadata"] = changes
	}
	if current > 0 {
		body["current_version"] = current
	}
	if len(body) > 0 {
		if err := s.do(logical.PatchOperation, "metadata/"+v.name, nil, body, nil); err != nil {
			return nil, err
		}
	}
	return &nameOutput{ARN: s.arn(v), Name: v.name}, nil
}

type describeInput struct {
	SecretID string `json:"SecretId"`
}

type rotationRules struct {
	AutomaticallyAfterDays *int64  `json:"AutomaticallyAfterDays,omitempty"`
	Duration               *string `json:"Duration,omitempty"`
	ScheduleExpression     *string `json:"ScheduleExpression,omitempty"`
}

type describeOutput struct {
	ARN                string              `json:"ARN"`
	Name               string              `json:"Name"`
	Description        *string             `json:"Description,omitempty"`
	KmsKeyID           *string             `json:"KmsKeyId,omitempty"`
	CreatedDate        *float64            `json:"CreatedDate,omitempty"`
	LastChangedDate    *float64            `json:"LastChangedDate,omitempty"`
	LastAccessedDate   *float64            `json:"LastAccessedDate,omitempty"`
	DeletedDate        *float64            `json:"DeletedDate,omitempty"`
	Tags               []tag               `json:"Tags,omitempty"`
	VersionIDsToStages map[string][]string `json:"VersionIdsToStages,omitempty"`
	RotationEnabled    *bool               `json:"RotationEnabled,omitempty"`
	RotationRules      *rotationRules      `json:"RotationRules,omitempty"`
	NextRotationDate   *float64            `json:"NextRotationDate,omitempty"`
	LastRotatedDate    *float64            `json:"LastRotatedDate,omitempty"`
	PrimaryRegion      string              `json:"PrimaryRegion,omitempty"`
}

func describeSecret(s *session, body []byte) (any, error) {
	var in describeInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	ref, err := resolve(in.SecretID)
	if err != nil {
		return nil, err
	}
	m, err := s.readMeta(ref.name)
	deleted := false
	if isNotFound(err) {
		m, err = s.readDeleted(ref.name)
		if isNotFound(err) {
			return nil, notFound()
		}
		deleted = true
	}
	if err != nil {
		return nil, err
	}
	v := newView(ref.name, m)
	if !ref.matches(v) {
		return nil, notFound()
	}
	out := s.describe(v, m)
	if deleted {
		out.DeletedDate = awsTime(m.DeletionTime)
	}
	return out, nil
}

// describe answers what DescribeSecret and ListSecrets say of a secret.
func (s *session) describe(v *view, m *kvMeta) *describeOutput {
	out := &describeOutput{
		ARN:             s.arn(v),
		Name:            v.name,
		CreatedDate:     awsTime(m.CreatedTime),
		LastChangedDate: awsTime(m.UpdatedTime),
		// AWS gives the day of the last access, not the time.
		LastAccessedDate: awsDay(m.LastReadTime),
		Tags:             v.tags(),
		PrimaryRegion:    s.region,
	}
	if d, ok := v.custom[mkDescription]; ok {
		out.Description = ptr(d)
	}
	if k, ok := v.custom[mkKMSKey]; ok {
		out.KmsKeyID = ptr(k)
	}
	stages := map[string][]string{}
	for label, n := range v.labels() {
		id := v.versionID(n)
		stages[id] = append(stages[id], label)
	}
	for _, l := range stages {
		slices.Sort(l)
	}
	if len(stages) > 0 {
		out.VersionIDsToStages = stages
	}
	if r := m.Rotation; r != nil {
		on := true
		out.RotationEnabled = &on
		out.RotationRules = rulesOf(r)
		out.NextRotationDate = awsTime(r.NextRotation)
		out.LastRotatedDate = awsTime(r.LastRotation)
	}
	return out
}

type listVersionsInput struct {
	SecretID          string `json:"SecretId"`
	MaxResults        *int   `json:"MaxResults"`
	NextToken         string `json:"NextToken"`
	IncludeDeprecated bool   `json:"IncludeDeprecated"`
}

type versionEntry struct {
	VersionID     string   `json:"VersionId"`
	VersionStages []string `json:"VersionStages"`
	CreatedDate   *float64 `json:"CreatedDate,omitempty"`
}

type listVersionsOutput struct {
	ARN       string         `json:"ARN"`
	Name      string         `json:"Name"`
	Versions  []versionEntry `json:"Versions"`
	NextToken *string        `json:"NextToken,omitempty"`
}

func listSecretVersionIDs(s *session, body []byte) (any, error) {
	var in listVersionsInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	ref, err := resolve(in.SecretID)
	if err != nil {
		return nil, err
	}
	limit, err := maxResults(in.MaxResults)
	if err != nil {
		return nil, err
	}
	start, err := decodeNextToken(in.NextToken)
	if err != nil {
		return nil, err
	}
	v, err := s.load(ref)
	if err != nil {
		return nil, err
	}
	var all []versionEntry
	for n := max(v.newest, v.pending); n >= 1; n-- {
		info, ok := v.retain[n]
		if !ok || info.Destroyed {
			continue
		}
		stages := v.stagesOf(n)
		if len(stages) == 0 && !in.IncludeDeprecated {
			continue
		}
		all = append(all, versionEntry{VersionID: v.versionID(n), VersionStages: nonNil(stages), CreatedDate: awsTime(info.CreatedTime)})
	}
	out := &listVersionsOutput{ARN: s.arn(v), Name: v.name, Versions: []versionEntry{}}
	if start < len(all) {
		end := min(start+limit, len(all))
		out.Versions = all[start:end]
		if end < len(all) {
			out.NextToken = ptr(encodeNextToken(end))
		}
	}
	return out, nil
}

type deleteInput struct {
	SecretID                   string `json:"SecretId"`
	RecoveryWindowInDays       *int64 `json:"RecoveryWindowInDays"`
	ForceDeleteWithoutRecovery *bool  `json:"ForceDeleteWithoutRecovery"`
}

type deleteOutput struct {
	ARN          string   `json:"ARN"`
	Name         string   `json:"Name"`
	DeletionDate *float64 `json:"DeletionDate,omitempty"`
}

func deleteSecret(s *session, body []byte) (any, error) {
	var in deleteInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	ref, err := resolve(in.SecretID)
	if err != nil {
		return nil, err
	}
	force := in.ForceDeleteWithoutRecovery != nil && *in.ForceDeleteWithoutRecovery
	if force && in.RecoveryWindowInDays != nil {
		return nil, invalidParam("You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.")
	}
	days := int64(30)
	if in.RecoveryWindowInDays != nil {
		days = *in.RecoveryWindowInDays
		if days < 7 || days > 30 {
			return nil, invalidParam("The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).")
		}
	}
	if force {
		days = 0
	}
	m, err := s.readMeta(ref.name)
	if isNotFound(err) {
		dm, derr := s.readDeleted(ref.name)
		if derr != nil {
			return nil, notFound()
		}
		v := newView(ref.name, dm)
		if !ref.matches(v) {
			return nil, notFound()
		}
		if !force {
			return nil, errDeleted()
		}
		if err := s.do(logical.DeleteOperation, "deleted/"+ref.name, nil, nil, nil); err != nil {
			return nil, err
		}
		return &deleteOutput{ARN: s.arn(v), Name: v.name, DeletionDate: awsTime(dm.DeletionTime)}, nil
	}
	if err != nil {
		return nil, err
	}
	v := newView(ref.name, m)
	if !ref.matches(v) {
		return nil, notFound()
	}
	// One request: KV sets the key's recovery window and deletes with it
	// in one transaction (a KV extension, docs/aws-secrets-manager.md).
	q := url.Values{"recovery_window_days": {strconv.FormatInt(days, 10)}}
	if err := s.do(logical.DeleteOperation, "metadata/"+ref.name, q, nil, nil); err != nil {
		return nil, err
	}
	out := &deleteOutput{ARN: s.arn(v), Name: v.name}
	if dm, err := s.readDeleted(ref.name); err == nil {
		out.DeletionDate = awsTime(dm.RecoverableUntil)
	} else if force {
		out.DeletionDate = awsTime(nowRFC3339())
	}
	return out, nil
}

func restoreSecret(s *session, body []byte) (any, error) {
	var in describeInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	ref, err := resolve(in.SecretID)
	if err != nil {
		return nil, err
	}
	if _, err := s.readMeta(ref.name); err == nil {
		m, _ := s.readMeta(ref.name)
		v := newView(ref.name, m)
		if !ref.matches(v) {
			return nil, notFound()
		}
		return &nameOutput{ARN: s.arn(v), Name: v.name}, nil
	}
	dm, err := s.readDeleted(ref.name)
	if err != nil {
		if isNotFound(err) {
			return nil, notFound()
		}
		return nil, err
	}
	if !ref.matches(newView(ref.name, dm)) {
		return nil, notFound()
	}
	if err := s.do(logical.UpdateOperation, "recover/"+ref.name, nil, nil, nil); err != nil {
		return nil, err
	}
	v, err := s.load(ref)
	if err != nil {
		return nil, err
	}
	return &nameOutput{ARN: s.arn(v), Name: v.name}, nil
}

type tagInput struct {
	SecretID string   `json:"SecretId"`
	Tags     []tag    `json:"Tags"`
	TagKeys  []string `json:"TagKeys"`
}

func tagResource(s *session, body []byte) (any, error) {
	var in tagInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	ref, err := resolve(in.SecretID)
	if err != nil {
		return nil, err
	}
	if len(in.Tags) == 0 {
		return nil, invalidParam("Tags is required")
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	v, err := s.load(ref)
	if err != nil {
		return nil, err
	}
	changes := map[string]*string{}
	for _, t := range in.Tags {
		changes[mkTagPrefix+t.Key] = ptr(t.Value)
	}
	if err := s.patchCustom(v.name, changes); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func untagResource(s *session, body []byte) (any, error) {
	var in tagInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	ref, err := resolve(in.SecretID)
	if err != nil {
		return nil, err
	}
	if len(in.TagKeys) == 0 {
		return nil, invalidParam("TagKeys is required")
	}
	v, err := s.load(ref)
	if err != nil {
		return nil, err
	}
	changes := map[string]*string{}
	for _, k := range in.TagKeys {
		if k == "" || strings.HasPrefix(strings.ToLower(k), "aws:") {
			continue
		}
		if _, ok := v.custom[mkTagPrefix+k]; ok {
			changes[mkTagPrefix+k] = nil
		}
	}
	if err := s.patchCustom(v.name, changes); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

// encodeNextToken and decodeNextToken make an opaque NextToken of a
// position in a listing.
func encodeNextToken(pos int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("p:" + itoa(pos)))
}

func decodeNextToken(tok string) (int, error) {
	if tok == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err == nil {
		if rest, ok := strings.CutPrefix(string(b), "p:"); ok {
			if n, err := parseNonNeg(rest); err == nil {
				return n, nil
			}
		}
	}
	return 0, fail(codeInvalidNextToken, "The NextToken value is invalid.")
}

// maxResults checks MaxResults (1 to 100; default 100).
func maxResults(p *int) (int, error) {
	if p == nil {
		return 100, nil
	}
	if *p < 1 || *p > 100 {
		return 0, invalidParam("MaxResults must be between 1 and 100")
	}
	return *p, nil
}

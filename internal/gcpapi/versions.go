package gcpapi

import (
	"context"
	"errors"
	"hash/crc32"
	"slices"
	"strconv"
	"time"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// crc32c is the checksum Google's API uses (CRC32C, Castagnoli).
func crc32c(b []byte) int64 {
	return int64(crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
}

// addAttempts bounds AddSecretVersion's retries when another writer
// takes the version number it read.
const addAttempts = 3

// writeResult is the answer to a data/ write.
type writeResult struct {
	Version     int    `json:"version"`
	CreatedTime string `json:"created_time"`
}

// AddSecretVersion stores a payload as the secret's next version: a
// metadata read, then one KV data write naming the version number it
// must get (retried when another writer took it).
func (s *Service) AddSecretVersion(ctx context.Context, req *secretmanagerpb.AddSecretVersionRequest) (*secretmanagerpb.SecretVersion, error) {
	c, err := callOf(ctx)
	if err != nil {
		return nil, err
	}
	n, err := parseSecret(req.GetParent())
	if err != nil {
		return nil, err
	}
	p := req.GetPayload()
	if p == nil {
		return nil, invalidArg("payload is required")
	}
	if len(p.GetData()) > MaxPayloadBytes {
		return nil, invalidArg("payload.data is larger than %d bytes", MaxPayloadBytes)
	}
	if p.DataCrc32C != nil && crc32c(p.GetData()) != p.GetDataCrc32C() {
		return nil, invalidArg("Checksum mismatch: payload.data_crc32c does not match the CRC32C of payload.data")
	}
	for range addAttempts {
		m, err := c.readMeta(n)
		if err != nil {
			return nil, err
		}
		next := max(m.latest(), m.CurrentVersion) + 1
		body := map[string]any{"data": toKV(p.GetData()), "options": map[string]any{"version": next}}
		var w writeResult
		err = c.do(logical.UpdateOperation, n.project, "data/"+n.secret, nil, body, &w)
		if errors.Is(err, logical.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, err
		}
		s.notify(c, n, nil, m, eventVersionAdd, w.Version)
		info := kvVerInfo{CreatedTime: w.CreatedTime}
		sv := toVersion(n, &kvMeta{Versions: map[int]kvVerInfo{w.Version: info}}, w.Version, s.now())
		sv.ClientSpecifiedPayloadChecksum = p.DataCrc32C != nil
		return sv, nil
	}
	return nil, status.Errorf(codes.Aborted, "Secret [%s] changed during the call; retry", n)
}

// stateError answers a call on a version that is not enabled.
func stateError(v versionName, st versionState) error {
	name := "DISABLED"
	if st == stateDestroyed {
		name = "DESTROYED"
	}
	return status.Errorf(codes.FailedPrecondition, "Secret Version [%s] is in %s state.", v, name)
}

// AccessSecretVersion answers a version's payload. A numbered version
// is one KV data read, and so is "latest" (KV's current version); only
// when that finds nothing does a metadata read say why (no secret, no
// such version, disabled or destroyed).
func (s *Service) AccessSecretVersion(ctx context.Context, req *secretmanagerpb.AccessSecretVersionRequest) (*secretmanagerpb.AccessSecretVersionResponse, error) {
	c, err := callOf(ctx)
	if err != nil {
		return nil, err
	}
	v, err := parseVersion(req.GetName(), true)
	if err != nil {
		return nil, err
	}
	d := new(kvData)
	var q map[string][]string
	if v.version > 0 {
		q = map[string][]string{"version": {strconv.Itoa(v.version)}}
	}
	err = c.do(logical.ReadOperation, v.project, "data/"+v.secret, q, nil, d)
	if isNotFound(err) {
		return nil, c.whyMissing(v)
	}
	if err != nil {
		return nil, err
	}
	data, err := fromKV(d.Data)
	if err != nil {
		return nil, err
	}
	crc := crc32c(data)
	v.version = d.Metadata.Version
	return &secretmanagerpb.AccessSecretVersionResponse{
		Name:    v.String(),
		Payload: &secretmanagerpb.SecretPayload{Data: data, DataCrc32C: &crc},
	}, nil
}

// whyMissing answers why version v could not be read.
func (c *call) whyMissing(v versionName) error {
	m, err := c.readMeta(v.secretName)
	if err != nil {
		return err
	}
	n := v.version
	if n == 0 {
		n = m.currentOrLatest()
		v.version = n
	}
	info, ok := m.Versions[n]
	if !ok {
		return versionNotFound(v)
	}
	if st := info.state(c.s.now()); st != stateEnabled {
		return stateError(v, st)
	}
	// Enabled in the metadata but unreadable: the secret expired.
	return status.Errorf(codes.NotFound, "Secret Version [%s] not found: the secret has expired.", v)
}

// currentOrLatest is the version "latest" names in Coffer: KV's current
// version (what Vault readers get), else the newest one.
func (m *kvMeta) currentOrLatest() int {
	if m.CurrentVersion > 0 {
		return m.CurrentVersion
	}
	return m.latest()
}

// version reads the metadata and resolves v's number ("latest" too);
// a version KV does not retain is NotFound.
func (c *call) version(v *versionName) (*kvMeta, error) {
	m, err := c.readMeta(v.secretName)
	if err != nil {
		return nil, err
	}
	if v.version == 0 {
		v.version = m.currentOrLatest()
	}
	if _, ok := m.Versions[v.version]; !ok {
		return nil, versionNotFound(*v)
	}
	return m, nil
}

// GetSecretVersion answers a version's metadata: one KV metadata read.
func (s *Service) GetSecretVersion(ctx context.Context, req *secretmanagerpb.GetSecretVersionRequest) (*secretmanagerpb.SecretVersion, error) {
	c, err := callOf(ctx)
	if err != nil {
		return nil, err
	}
	v, err := parseVersion(req.GetName(), true)
	if err != nil {
		return nil, err
	}
	m, err := c.version(&v)
	if err != nil {
		return nil, err
	}
	return toVersion(v.secretName, m, v.version, s.now()), nil
}

// ListSecretVersions lists a secret's versions, newest first: one KV
// metadata read.
func (s *Service) ListSecretVersions(ctx context.Context, req *secretmanagerpb.ListSecretVersionsRequest) (*secretmanagerpb.ListSecretVersionsResponse, error) {
	c, err := callOf(ctx)
	if err != nil {
		return nil, err
	}
	n, err := parseSecret(req.GetParent())
	if err != nil {
		return nil, err
	}
	size, after, err := parsePage(req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	before := 0
	if after != "" {
		if before, err = strconv.Atoi(after); err != nil || before < 1 {
			return nil, invalidArg("invalid page_token")
		}
	}
	f, err := parseFilter(req.GetFilter(), true)
	if err != nil {
		return nil, err
	}
	m, err := c.readMeta(n)
	if err != nil {
		return nil, err
	}
	nums := make([]int, 0, len(m.Versions))
	for v := range m.Versions {
		nums = append(nums, v)
	}
	slices.Sort(nums)
	slices.Reverse(nums)
	now := s.now()
	out := &secretmanagerpb.ListSecretVersionsResponse{TotalSize: int32(len(nums))}
	for i, v := range nums {
		if before > 0 && v >= before {
			continue
		}
		if len(out.Versions) == size {
			out.NextPageToken = pageToken(strconv.Itoa(nums[i-1]))
			break
		}
		sv := toVersion(n, m, v, now)
		if len(f) > 0 {
			created, _ := time.Parse(time.RFC3339Nano, m.Versions[v].CreatedTime)
			if !f.match(item{state: sv.GetState().String(), created: created}) {
				continue
			}
		}
		out.Versions = append(out.Versions, sv)
	}
	if len(f) > 0 {
		out.TotalSize = 0
	}
	return out, nil
}

// versionOp is a state change of one version: KV's delete/ (disable),
// undelete/ (enable) or destroy/.
func (s *Service) versionOp(ctx context.Context, name, etag, path, event string) (*secretmanagerpb.SecretVersion, error) {
	c, err := callOf(ctx)
	if err != nil {
		return nil, err
	}
	v, err := parseVersion(name, false)
	if err != nil {
		return nil, err
	}
	m, err := c.version(&v)
	if err != nil {
		return nil, err
	}
	info := m.Versions[v.version]
	if etag != "" && !sameETag(etag, versionETag(v.version, info)) {
		return nil, etagMismatch("Secret Version", v.String())
	}
	st := info.state(s.now())
	if st == stateDestroyed && path != "destroy/" {
		return nil, stateError(v, st)
	}
	if err := c.do(logical.UpdateOperation, v.project, path+v.secret, nil, map[string]any{"versions": []int{v.version}}, nil); err != nil {
		return nil, err
	}
	s.notify(c, v.secretName, nil, m, event, v.version)
	if m, err = c.version(&v); err != nil {
		return nil, err
	}
	return toVersion(v.secretName, m, v.version, s.now()), nil
}

// DisableSecretVersion soft-deletes the KV version: unreadable, through
// this API (FailedPrecondition) and the Vault API alike, until enabled.
func (s *Service) DisableSecretVersion(ctx context.Context, req *secretmanagerpb.DisableSecretVersionRequest) (*secretmanagerpb.SecretVersion, error) {
	return s.versionOp(ctx, req.GetName(), req.GetEtag(), "delete/", eventVersionDisable)
}

// EnableSecretVersion undeletes the KV version.
func (s *Service) EnableSecretVersion(ctx context.Context, req *secretmanagerpb.EnableSecretVersionRequest) (*secretmanagerpb.SecretVersion, error) {
	return s.versionOp(ctx, req.GetName(), req.GetEtag(), "undelete/", eventVersionEnable)
}

// DestroySecretVersion destroys the KV version's data for good.
func (s *Service) DestroySecretVersion(ctx context.Context, req *secretmanagerpb.DestroySecretVersionRequest) (*secretmanagerpb.SecretVersion, error) {
	return s.versionOp(ctx, req.GetName(), req.GetEtag(), "destroy/", eventVersionDestroy)
}

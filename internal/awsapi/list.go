package awsapi

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// maxListed bounds the keys one ListSecrets considers: it reads the
// metadata of each (sorting by creation date needs them all).
const maxListed = 10000

// filter is one ListSecrets filter.
type filter struct {
	Key    string   `json:"Key"`
	Values []string `json:"Values"`
}

type listInput struct {
	Filters                []filter `json:"Filters"`
	MaxResults             *int     `json:"MaxResults"`
	NextToken              string   `json:"NextToken"`
	SortOrder              string   `json:"SortOrder"`
	SortBy                 string   `json:"SortBy"`
	IncludePlannedDeletion bool     `json:"IncludePlannedDeletion"`
}

type listEntry struct {
	ARN                    string              `json:"ARN"`
	Name                   string              `json:"Name"`
	Description            *string             `json:"Description,omitempty"`
	KmsKeyID               *string             `json:"KmsKeyId,omitempty"`
	CreatedDate            *float64            `json:"CreatedDate,omitempty"`
	LastChangedDate        *float64            `json:"LastChangedDate,omitempty"`
	LastAccessedDate       *float64            `json:"LastAccessedDate,omitempty"`
	Tags                   []tag               `json:"Tags,omitempty"`
	SecretVersionsToStages map[string][]string `json:"SecretVersionsToStages,omitempty"`
	RotationEnabled        *bool               `json:"RotationEnabled,omitempty"`
	RotationRules          *rotationRules      `json:"RotationRules,omitempty"`
	NextRotationDate       *float64            `json:"NextRotationDate,omitempty"`
	LastRotatedDate        *float64            `json:"LastRotatedDate,omitempty"`
	PrimaryRegion          string              `json:"PrimaryRegion,omitempty"`
	DeletedDate            *float64            `json:"DeletedDate,omitempty"`
}

type listOutput struct {
	SecretList []listEntry `json:"SecretList"`
	NextToken  *string     `json:"NextToken,omitempty"`
}

func listSecrets(s *session, body []byte) (any, error) {
	var in listInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	return s.list(in, 100)
}

// list answers a page of the secrets the caller may read, filtered and
// sorted by creation date.
func (s *session) list(in listInput, most int) (*listOutput, error) {
	limit, err := maxResults(in.MaxResults)
	if err != nil {
		return nil, err
	}
	limit = min(limit, most)
	start, err := decodeNextToken(in.NextToken)
	if err != nil {
		return nil, err
	}
	desc := false
	switch strings.ToLower(in.SortOrder) {
	case "", "asc":
	case "desc":
		desc = true
	default:
		return nil, invalidParam("SortOrder must be asc or desc")
	}
	switch in.SortBy {
	case "", "created-date", "name", "last-accessed-date", "last-changed-date":
	default:
		return nil, invalidParam("SortBy must be created-date, name, last-accessed-date or last-changed-date")
	}
	for _, f := range in.Filters {
		switch f.Key {
		case "description", "name", "tag-key", "tag-value", "primary-region", "owning-service", "all":
		default:
			return nil, invalidParam("unknown filter key %q", f.Key)
		}
		if len(f.Values) == 0 || len(f.Values) > 10 {
			return nil, invalidParam("a filter takes 1 to 10 values")
		}
	}
	names, err := s.listNames()
	if err != nil {
		return nil, err
	}
	type item struct {
		entry   listEntry
		created time.Time
		changed time.Time
	}
	type listed struct {
		name    string
		deleted bool
	}
	all := make([]listed, 0, len(names))
	for _, n := range names {
		all = append(all, listed{name: n})
	}
	if in.IncludePlannedDeletion {
		gone, err := s.listDeleted(maxListed - len(names))
		if err != nil {
			return nil, err
		}
		for _, n := range gone {
			all = append(all, listed{name: n, deleted: true})
		}
	}
	var items []item
	for _, l := range all {
		name := l.name
		read := s.readMeta
		if l.deleted {
			read = s.readDeleted
		}
		m, err := read(name)
		if err != nil {
			// Gone meanwhile, or the caller may list but not read it.
			continue
		}
		v := newView(name, m)
		d := s.describe(v, m)
		if l.deleted {
			d.DeletedDate = awsTime(m.DeletionTime)
		}
		if !matchAll(in.Filters, d, s.region) {
			continue
		}
		e := listEntry{
			ARN: d.ARN, Name: d.Name, Description: d.Description, KmsKeyID: d.KmsKeyID,
			CreatedDate: d.CreatedDate, LastChangedDate: d.LastChangedDate, LastAccessedDate: d.LastAccessedDate, Tags: d.Tags,
			SecretVersionsToStages: d.VersionIDsToStages, RotationEnabled: d.RotationEnabled,
			RotationRules: d.RotationRules, NextRotationDate: d.NextRotationDate,
			LastRotatedDate: d.LastRotatedDate, PrimaryRegion: d.PrimaryRegion,
			DeletedDate: d.DeletedDate,
		}
		c, _ := time.Parse(time.RFC3339Nano, m.CreatedTime)
		u, _ := time.Parse(time.RFC3339Nano, m.UpdatedTime)
		items = append(items, item{entry: e, created: c, changed: u})
	}
	slices.SortStableFunc(items, func(a, b item) int {
		var c int
		switch in.SortBy {
		case "name":
			c = strings.Compare(a.entry.Name, b.entry.Name)
		case "last-changed-date":
			c = a.changed.Compare(b.changed)
		default:
			c = a.created.Compare(b.created)
		}
		if c == 0 {
			c = strings.Compare(a.entry.Name, b.entry.Name)
		}
		if desc {
			return -c
		}
		return c
	})
	out := &listOutput{SecretList: []listEntry{}}
	if start < len(items) {
		end := min(start+limit, len(items))
		for _, it := range items[start:end] {
			out.SecretList = append(out.SecretList, it.entry)
		}
		if end < len(items) {
			out.NextToken = ptr(encodeNextToken(end))
		}
	}
	return out, nil
}

// listNames answers every key of the mount the caller may see (an
// ACL-filtered recursive LIST), at most maxListed of them.
func (s *session) listNames() ([]string, error) {
	var names []string
	after := ""
	for len(names) < maxListed {
		q := url.Values{"recursive": {"true"}, "limit": {"1000"}}
		if after != "" {
			q.Set("after", after)
		}
		var page struct {
			Keys []string `json:"keys"`
		}
		err := s.do(logical.ListOperation, "metadata/", q, nil, &page)
		if isNotFound(err) {
			break
		}
		if err != nil {
			return nil, err
		}
		names = append(names, page.Keys...)
		if len(page.Keys) < 1000 {
			break
		}
		after = page.Keys[len(page.Keys)-1]
	}
	if len(names) > maxListed {
		names = names[:maxListed]
	}
	return names, nil
}

// listDeleted answers the secrets scheduled for deletion that the caller
// may list, walking deleted/ folder by folder, at most most of them.
func (s *session) listDeleted(most int) ([]string, error) {
	var names []string
	folders := []string{""}
	for len(folders) > 0 && len(names) < most {
		f := folders[0]
		folders = folders[1:]
		var page struct {
			Keys []string `json:"keys"`
		}
		err := s.do(logical.ListOperation, "deleted/"+f, nil, nil, &page)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, k := range page.Keys {
			if strings.HasSuffix(k, "/") {
				folders = append(folders, f+k)
			} else if len(names) < most {
				names = append(names, f+k)
			}
		}
	}
	return names, nil
}

// matchAll reports whether a secret passes every filter: the values of
// one filter are alternatives, a value starting with "!" negates, and
// matching is by prefix, ignoring case, as AWS does.
func matchAll(filters []filter, d *describeOutput, region string) bool {
	for _, f := range filters {
		if !matchFilter(f, d, region) {
			return false
		}
	}
	return true
}

func matchFilter(f filter, d *describeOutput, region string) bool {
	var fields []string
	switch f.Key {
	case "name":
		fields = []string{d.Name}
	case "description":
		if d.Description != nil {
			fields = []string{*d.Description}
		}
	case "tag-key":
		for _, t := range d.Tags {
			fields = append(fields, t.Key)
		}
	case "tag-value":
		for _, t := range d.Tags {
			fields = append(fields, t.Value)
		}
	case "primary-region":
		fields = []string{region}
	case "owning-service":
	case "all":
		fields = []string{d.Name}
		if d.Description != nil {
			fields = append(fields, *d.Description)
		}
		for _, t := range d.Tags {
			fields = append(fields, t.Key, t.Value)
		}
	}
	for _, want := range f.Values {
		neg := strings.HasPrefix(want, "!")
		want = strings.ToLower(strings.TrimPrefix(want, "!"))
		hit := false
		for _, got := range fields {
			if strings.HasPrefix(strings.ToLower(got), want) {
				hit = true
				break
			}
		}
		if hit != neg {
			return true
		}
	}
	return false
}

func parseNonNeg(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, strconv.ErrSyntax
	}
	return n, nil
}

func nowRFC3339() string { return time.Now().UTC().Format(time.RFC3339Nano) }

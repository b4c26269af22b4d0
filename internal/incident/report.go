package incident

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Targets say whose activity a report collects: requests made with any
// of Accessors (raw or as the audit device's HMAC) or by any of
// EntityIDs, logins that produced a token for one of EntityIDs, and
// requests from any of CIDRs, at or after Since.
type Targets struct {
	EntityIDs []string
	Accessors []string
	CIDRs     []netip.Prefix
	Since     time.Time
}

// Read is a secret path the identities read, with the versions they got.
type Read struct {
	Path  string `json:"path"`
	Mount string `json:"mount,omitempty"`
	// MountType is the engine ("kv", "database" ...), for rotation.
	MountType string `json:"mount_type,omitempty"`
	// Versions are the KV v2 versions read (from the response's
	// metadata.version), sorted; empty for other engines.
	Versions []int64  `json:"versions,omitempty"`
	Count    int      `json:"count"`
	First    string   `json:"first"`
	Last     string   `json:"last"`
	Sources  []string `json:"sources,omitempty"`
	// Nodes are the cluster nodes whose audit logs recorded the reads
	// (the lines' node_id), sorted; empty for a single server's log.
	Nodes []string `json:"nodes,omitempty"`
}

// Event is one credential issued, write, login or refused request.
type Event struct {
	Time string `json:"time"`
	// Node is the cluster node whose audit log recorded the event (the
	// line's node_id); empty for a single server's log.
	Node      string `json:"node,omitempty"`
	Path      string `json:"path"`
	Operation string `json:"operation,omitempty"`
	Source    string `json:"source,omitempty"`
	// LeaseID is set for credentials.
	LeaseID string `json:"lease_id,omitempty"`
	// Username is a credential's user name as the audit log holds it (an
	// HMAC unless the device logs raw).
	Username string `json:"username,omitempty"`
	// Error is set for refused requests.
	Error string `json:"error,omitempty"`
	// Mount and MountType say which engine served the request, for
	// rotation.
	Mount     string `json:"mount,omitempty"`
	MountType string `json:"mount_type,omitempty"`
	// KeyVersions are the transit key versions of an encryption (the
	// response's key_version, or each batch result's: numbers the audit
	// log keeps as they are).
	KeyVersions []int64 `json:"key_versions,omitempty"`
	// Ciphertexts are the ciphertexts an encryption answered, when the
	// audit log holds them in the clear (the device logs raw, or the
	// mount lists ciphertext in audit_non_hmac_response_keys).
	Ciphertexts []string `json:"ciphertexts,omitempty"`
	// Serial is the serial number of a certificate issued, as the audit
	// log holds it (an HMAC unless the device logs raw).
	Serial string `json:"serial,omitempty"`
}

// Report is what the contained identities did, from an audit log.
type Report struct {
	Incident string    `json:"incident,omitempty"`
	Since    time.Time `json:"since,omitzero"`
	// Trusted is false when the log's hash chain did not verify;
	// Verification says what was checked or found.
	Trusted      bool     `json:"trusted"`
	Verification string   `json:"verification"`
	Problems     []string `json:"problems,omitempty"`
	Lines        int      `json:"lines"`
	Matched      int      `json:"matched"`
	Reads        []Read   `json:"reads"`
	Credentials  []Event  `json:"credentials"`
	Writes       []Event  `json:"writes"`
	Logins       []Event  `json:"logins"`
	Refused      []Event  `json:"refused"`
}

// maxLine bounds one audit line; a longer one is an error.
const maxLine = 64 << 20

// reportLine is the part of an audit line a report reads.
type reportLine struct {
	Type   string `json:"type"`
	Time   string `json:"time"`
	NodeID string `json:"node_id"`
	Auth   *struct {
		Accessor string `json:"accessor"`
		EntityID string `json:"entity_id"`
	} `json:"auth"`
	Request *struct {
		Operation           string `json:"operation"`
		MountType           string `json:"mount_type"`
		MountPoint          string `json:"mount_point"`
		ClientTokenAccessor string `json:"client_token_accessor"`
		Path                string `json:"path"`
		RemoteAddress       string `json:"remote_address"`
	} `json:"request"`
	Response *struct {
		Data   json.RawMessage `json:"data"`
		Secret *struct {
			LeaseID string `json:"lease_id"`
		} `json:"secret"`
		Auth *struct {
			EntityID string `json:"entity_id"`
		} `json:"auth"`
	} `json:"response"`
	Error string `json:"error"`
}

// Build reads an audit log and collects the targets' activity from its
// response lines (a response line carries the request, the caller and
// the outcome). Lines that are not JSON are counted and skipped; the
// caller verifies the hash chain separately (package trail) and sets
// Trusted and Verification.
func Build(r io.Reader, t Targets) (*Report, error) {
	return BuildAll([]io.Reader{r}, t)
}

// BuildAll is [Build] over several audit logs, such as the files of a
// cluster's nodes (each node writes its own): their lines are read one
// log after another and the report's events are merged by time, each
// naming the node that recorded it.
func BuildAll(logs []io.Reader, t Targets) (*Report, error) {
	b := newBuilder(t)
	for _, r := range logs {
		if err := b.readLog(r); err != nil {
			return nil, err
		}
	}
	return b.finish(), nil
}

// readLog adds the lines of one audit log.
func (b *builder) readLog(r io.Reader) error {
	br := bufio.NewReaderSize(r, 1<<20)
	var long []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			long = append(long, chunk...)
			if len(long) > maxLine {
				return fmt.Errorf("audit log line %d is longer than %d bytes", b.rep.Lines+1, maxLine)
			}
			continue
		}
		line := chunk
		if len(long) > 0 {
			long = append(long, chunk...)
			line = long
		}
		if len(bytes.TrimSpace(line)) > 0 {
			b.rep.Lines++
			b.add(line)
		}
		long = long[:0]
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read audit log: %w", err)
		}
	}
}

type builder struct {
	t        Targets
	entities map[string]struct{}
	accs     map[string]struct{}
	// needles, when set, are strings one of which a line must hold to be
	// decoded at all: a cheap filter when the targets are few.
	needles [][]byte
	rep     Report
	reads   map[string]*readAcc
}

type readAcc struct {
	r        Read
	versions map[int64]struct{}
	sources  map[string]struct{}
	nodes    map[string]struct{}
}

func newBuilder(t Targets) *builder {
	b := &builder{t: t, entities: map[string]struct{}{}, accs: map[string]struct{}{}, reads: map[string]*readAcc{}}
	for _, e := range t.EntityIDs {
		b.entities[e] = struct{}{}
	}
	for _, a := range t.Accessors {
		b.accs[a] = struct{}{}
	}
	if len(t.CIDRs) == 0 && len(t.EntityIDs)+len(t.Accessors) <= 32 {
		for _, s := range slices.Concat(t.EntityIDs, t.Accessors) {
			q, _ := json.Marshal(s)
			b.needles = append(b.needles, q)
		}
	}
	return b
}

func (b *builder) wanted(raw []byte) bool {
	if b.needles == nil {
		return true
	}
	for _, n := range b.needles {
		if bytes.Contains(raw, n) {
			return true
		}
	}
	return false
}

func (b *builder) add(raw []byte) {
	if !bytes.Contains(raw, []byte(`"type":"response"`)) || !b.wanted(raw) {
		return
	}
	var l reportLine
	if json.Unmarshal(raw, &l) != nil || l.Type != "response" || l.Request == nil {
		return
	}
	if !b.t.Since.IsZero() {
		ts, err := time.Parse(time.RFC3339Nano, l.Time)
		if err != nil || ts.Before(b.t.Since) {
			return
		}
	}
	req := l.Request
	login := l.Response != nil && l.Response.Auth != nil && b.hasEntity(l.Response.Auth.EntityID) && l.Auth == nil
	if !login && !b.mine(&l) {
		return
	}
	b.rep.Matched++
	ev := Event{Time: l.Time, Node: l.NodeID, Path: req.Path, Operation: req.Operation, Source: req.RemoteAddress, Mount: req.MountPoint, MountType: req.MountType}
	switch {
	case l.Error != "":
		ev.Error = l.Error
		b.rep.Refused = append(b.rep.Refused, ev)
	case login:
		b.rep.Logins = append(b.rep.Logins, ev)
	case l.Response != nil && l.Response.Secret != nil && l.Response.Secret.LeaseID != "":
		ev.LeaseID = l.Response.Secret.LeaseID
		var d struct {
			Username string `json:"username"`
		}
		json.Unmarshal(l.Response.Data, &d)
		ev.Username = d.Username
		b.rep.Credentials = append(b.rep.Credentials, ev)
	case req.Operation == "read" && !strings.HasPrefix(req.Path, "sys/") && !strings.HasPrefix(req.Path, "auth/"):
		// sys/ and auth/ reads (mount look-ups, lookup-self) are no
		// secrets.
		b.read(&l)
	case req.Operation == "create", req.Operation == "update", req.Operation == "patch", req.Operation == "delete":
		if l.Response != nil && len(l.Response.Data) > 0 && (req.MountType == "transit" || req.MountType == "pki") {
			type encrypted struct {
				Ciphertext string      `json:"ciphertext"`
				KeyVersion json.Number `json:"key_version"`
			}
			var d struct {
				encrypted
				BatchResults []encrypted `json:"batch_results"`
				Serial       string      `json:"serial_number"`
			}
			if json.Unmarshal(l.Response.Data, &d) == nil {
				for _, e := range append(d.BatchResults, d.encrypted) {
					if v, err := strconv.ParseInt(string(e.KeyVersion), 10, 64); err == nil && v > 0 {
						ev.KeyVersions = append(ev.KeyVersions, v)
					}
					if e.Ciphertext != "" && !strings.HasPrefix(e.Ciphertext, "hmac-sha256:") {
						ev.Ciphertexts = append(ev.Ciphertexts, e.Ciphertext)
					}
				}
				ev.Serial = d.Serial
			}
		}
		b.rep.Writes = append(b.rep.Writes, ev)
	}
}

func (b *builder) hasEntity(id string) bool {
	_, ok := b.entities[id]
	return id != "" && ok
}

// mine reports whether a line's caller is one of the targets.
func (b *builder) mine(l *reportLine) bool {
	if a := l.Auth; a != nil {
		if b.hasEntity(a.EntityID) {
			return true
		}
		if _, ok := b.accs[a.Accessor]; ok && a.Accessor != "" {
			return true
		}
	}
	if a := l.Request.ClientTokenAccessor; a != "" {
		if _, ok := b.accs[a]; ok {
			return true
		}
	}
	if len(b.t.CIDRs) > 0 && l.Request.RemoteAddress != "" {
		if ip, err := netip.ParseAddr(l.Request.RemoteAddress); err == nil {
			for _, p := range b.t.CIDRs {
				if p.Contains(ip.Unmap()) {
					return true
				}
			}
		}
	}
	return false
}

// read records a successful read; a KV v2 read's version is its
// response's metadata.version, a number the audit log keeps as is.
func (b *builder) read(l *reportLine) {
	req := l.Request
	acc := b.reads[req.Path]
	if acc == nil {
		acc = &readAcc{r: Read{Path: req.Path, Mount: req.MountPoint, MountType: req.MountType, First: l.Time, Last: l.Time}, versions: map[int64]struct{}{}, sources: map[string]struct{}{}, nodes: map[string]struct{}{}}
		b.reads[req.Path] = acc
	}
	acc.r.Count++
	// Several logs are read one after another, so a later line may be
	// older than what was seen.
	if compareTimes(l.Time, acc.r.First) < 0 {
		acc.r.First = l.Time
	}
	if compareTimes(l.Time, acc.r.Last) > 0 {
		acc.r.Last = l.Time
	}
	if l.NodeID != "" {
		acc.nodes[l.NodeID] = struct{}{}
	}
	if req.RemoteAddress != "" {
		acc.sources[req.RemoteAddress] = struct{}{}
	}
	if req.MountType == "kv" && l.Response != nil && len(l.Response.Data) > 0 {
		var d struct {
			Metadata *struct {
				Version json.Number `json:"version"`
			} `json:"metadata"`
		}
		if json.Unmarshal(l.Response.Data, &d) == nil && d.Metadata != nil {
			if v, err := strconv.ParseInt(string(d.Metadata.Version), 10, 64); err == nil {
				acc.versions[v] = struct{}{}
			}
		}
	}
}

func (b *builder) finish() *Report {
	rep := b.rep
	rep.Since = b.t.Since
	rep.Reads = make([]Read, 0, len(b.reads))
	for _, acc := range b.reads {
		r := acc.r
		for v := range acc.versions {
			r.Versions = append(r.Versions, v)
		}
		slices.Sort(r.Versions)
		for s := range acc.sources {
			r.Sources = append(r.Sources, s)
		}
		slices.Sort(r.Sources)
		for n := range acc.nodes {
			r.Nodes = append(r.Nodes, n)
		}
		slices.Sort(r.Nodes)
		rep.Reads = append(rep.Reads, r)
	}
	slices.SortFunc(rep.Reads, func(x, y Read) int { return strings.Compare(x.Path, y.Path) })
	for _, l := range []*[]Event{&rep.Credentials, &rep.Writes, &rep.Logins, &rep.Refused} {
		if *l == nil {
			*l = []Event{}
		}
		slices.SortStableFunc(*l, func(x, y Event) int { return compareTimes(x.Time, y.Time) })
	}
	return &rep
}

// compareTimes orders two audit line times (RFC 3339 with any fraction);
// a time that does not parse sorts by its text, after those that do.
func compareTimes(a, b string) int {
	ta, errA := time.Parse(time.RFC3339Nano, a)
	tb, errB := time.Parse(time.RFC3339Nano, b)
	switch {
	case errA == nil && errB == nil:
		return ta.Compare(tb)
	case errA == nil:
		return -1
	case errB == nil:
		return 1
	}
	return strings.Compare(a, b)
}

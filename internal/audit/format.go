package audit

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"slices"
	"time"
)

// HMACPrefix starts every HMACed value in an audit line.
const HMACPrefix = "hmac-sha256:"

// formatter builds the body of request and response lines for one device:
// everything but the chain fields. It is immutable and safe for
// concurrent use.
type formatter struct {
	key         []byte // 32-byte HMAC key, never written anywhere
	raw         bool   // log_raw: write secrets as they are
	rawAccessor bool   // hmac_accessor=false: write accessors as they are
	nodeID      string // written in every line; "" on a single server
}

// hasher HMACs values for one formatting call; it is not safe for
// concurrent use.
type hasher struct {
	mac hash.Hash
	sum []byte
	off bool // write values as they are
}

func (f *formatter) hasher() *hasher {
	return &hasher{mac: hmac.New(sha256.New, f.key), off: f.raw}
}

// value returns s HMACed, or s itself when hashing is off or s is empty.
func (h *hasher) value(s string) string {
	if h.off || s == "" {
		return s
	}
	return h.force(s)
}

// force returns s HMACed whatever the device's settings.
func (h *hasher) force(s string) string {
	h.mac.Reset()
	h.mac.Write([]byte(s))
	h.sum = h.mac.Sum(h.sum[:0])
	return HMACPrefix + hex.EncodeToString(h.sum)
}

// hashValue is the HMAC of s as sys/audit-hash reports it.
func (f *formatter) hashValue(s string) string {
	return f.hasher().force(s)
}

// accessor returns an accessor HMACed unless hmac_accessor is off.
func (f *formatter) accessor(h *hasher, s string) string {
	if f.rawAccessor {
		return s
	}
	return h.value(s)
}

// body is a request or response line without its chain fields; the field
// order is the order in the file.
type body struct {
	Type     string        `json:"type"`
	Time     string        `json:"time"`
	NodeID   string        `json:"node_id,omitempty"`
	Auth     *LineAuth     `json:"auth,omitempty"`
	Request  *LineRequest  `json:"request,omitempty"`
	Forward  *LineForward  `json:"forward,omitempty"`
	Response *LineResponse `json:"response,omitempty"`
	Error    string        `json:"error,omitempty"`
}

// format returns the JSON object of a request or response line, without
// chain fields and without a newline.
func (f *formatter) format(typ string, e *Entry) ([]byte, error) {
	h := f.hasher()
	b := body{
		Type:   typ,
		Time:   formatTime(e.Time),
		NodeID: f.nodeID,
		Auth:   f.auth(h, e.Auth),
		Error:  e.Error,
	}
	req, err := f.request(h, &e.Request)
	if err != nil {
		return nil, err
	}
	b.Request = req
	if typ == TypeForward {
		b.Forward = &LineForward{}
		if e.Forward != nil {
			b.Forward.Target = e.Forward.Target
		}
	}
	if typ == TypeResponse {
		resp, err := f.response(h, e.Response)
		if err != nil {
			return nil, err
		}
		b.Response = resp
	}
	out, err := json.Marshal(&b)
	if err != nil {
		return nil, fmt.Errorf("encode audit entry: %w", err)
	}
	return out, nil
}

func (f *formatter) auth(h *hasher, a *Auth) *LineAuth {
	if a == nil {
		return nil
	}
	la := &LineAuth{
		ClientToken:      h.value(a.ClientToken),
		Accessor:         f.accessor(h, a.Accessor),
		DisplayName:      a.DisplayName,
		Policies:         a.Policies,
		TokenPolicies:    a.TokenPolicies,
		IdentityPolicies: a.IdentityPolicies,
		EntityID:         a.EntityID,
		TokenType:        a.TokenType,
		TokenTTL:         int64(a.TokenTTL / time.Second),
	}
	if !a.TokenIssueTime.IsZero() {
		la.TokenIssueTime = formatTime(a.TokenIssueTime)
	}
	if len(a.Metadata) > 0 {
		la.Metadata = make(map[string]string, len(a.Metadata))
		for k, v := range a.Metadata {
			la.Metadata[k] = h.value(v)
		}
	}
	return la
}

func (f *formatter) request(h *hasher, r *Request) (*LineRequest, error) {
	data, err := f.data(h, r.Data, r.NonHMACKeys)
	if err != nil {
		return nil, err
	}
	return &LineRequest{
		ID:                  r.ID,
		Operation:           r.Operation,
		MountType:           r.MountType,
		MountPoint:          r.MountPoint,
		MountAccessor:       r.MountAccessor,
		ClientToken:         h.value(r.ClientToken),
		ClientTokenAccessor: f.accessor(h, r.ClientTokenAccessor),
		Namespace:           LineNamespace{ID: "root"},
		Path:                r.Path,
		Data:                data,
		RemoteAddress:       r.RemoteAddress,
		WrapTTL:             int64(r.WrapTTL / time.Second),
	}, nil
}

func (f *formatter) response(h *hasher, r *Response) (*LineResponse, error) {
	if r == nil {
		return &LineResponse{}, nil
	}
	data, err := f.data(h, r.Data, r.NonHMACKeys)
	if err != nil {
		return nil, err
	}
	lr := &LineResponse{
		MountType:  r.MountType,
		MountPoint: r.MountPoint,
		Data:       data,
		Auth:       f.auth(h, r.Auth),
	}
	if r.LeaseID != "" {
		lr.Secret = &LineSecret{LeaseID: r.LeaseID}
	}
	if w := r.WrapInfo; w != nil {
		lr.WrapInfo = &LineWrapInfo{
			Token:           h.value(w.Token),
			Accessor:        f.accessor(h, w.Accessor),
			TTL:             int64(w.TTL / time.Second),
			CreationTime:    formatTime(w.CreationTime),
			CreationPath:    w.CreationPath,
			WrappedAccessor: f.accessor(h, w.WrappedAccessor),
		}
	}
	return lr, nil
}

// data returns request or response data with every string leaf HMACed,
// except the values of the top-level keys in keep. Data that is not valid
// JSON is written as one HMACed string, so it is never lost nor leaked.
// With log_raw the data is written as is, made compact so that it stays
// on one line.
func (f *formatter) data(h *hasher, raw json.RawMessage, keep []string) (json.RawMessage, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	if !json.Valid(raw) {
		return json.Marshal(h.value(string(raw)))
	}
	if f.raw {
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return nil, fmt.Errorf("compact audit data: %w", err)
		}
		return buf.Bytes(), nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decode audit data: %w", err)
	}
	if m, ok := v.(map[string]any); ok {
		for k, x := range m {
			if !slices.Contains(keep, k) {
				m[k] = hashLeaves(h, x)
			}
		}
	} else {
		v = hashLeaves(h, v)
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode audit data: %w", err)
	}
	return out, nil
}

// hashLeaves HMACs every string in v, a decoded JSON value, in place.
func hashLeaves(h *hasher, v any) any {
	switch t := v.(type) {
	case string:
		return h.value(t)
	case map[string]any:
		for k, x := range t {
			t[k] = hashLeaves(h, x)
		}
	case []any:
		for i, x := range t {
			t[i] = hashLeaves(h, x)
		}
	}
	return v
}

// formatTime writes t as Vault's audit log does: RFC 3339 in UTC with
// nanoseconds.
func formatTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}

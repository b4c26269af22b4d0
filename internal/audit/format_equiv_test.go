package audit

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
	"time"
)

// referenceFormat is the line body as encoding/json writes the Line types:
// the hand-written encoder in format must give exactly these bytes, since
// the hash chain covers them.
func referenceFormat(t testing.TB, f *formatter, typ string, e *Entry) []byte {
	t.Helper()
	h := f.hasher()
	defer f.putHasher(h)
	acc := func(s string) string {
		if f.rawAccessor {
			return s
		}
		return h.value(s)
	}
	data := func(raw json.RawMessage, keep []string) json.RawMessage {
		if len(raw) == 0 {
			return nil
		}
		if !json.Valid(raw) {
			out, _ := json.Marshal(h.value(string(raw)))
			return out
		}
		if f.raw {
			var buf bytes.Buffer
			if err := json.Compact(&buf, raw); err != nil {
				t.Fatal(err)
			}
			return buf.Bytes()
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		var leaves func(any) any
		leaves = func(v any) any {
			switch x := v.(type) {
			case string:
				return h.value(x)
			case map[string]any:
				for k, y := range x {
					x[k] = leaves(y)
				}
			case []any:
				for i, y := range x {
					x[i] = leaves(y)
				}
			}
			return v
		}
		if m, ok := v.(map[string]any); ok {
			for k, x := range m {
				if !slices.Contains(keep, k) {
					m[k] = leaves(x)
				}
			}
		} else {
			v = leaves(v)
		}
		out, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	auth := func(a *Auth) *LineAuth {
		if a == nil {
			return nil
		}
		la := &LineAuth{
			ClientToken: h.value(a.ClientToken), Accessor: acc(a.Accessor), DisplayName: a.DisplayName,
			Policies: a.Policies, TokenPolicies: a.TokenPolicies, IdentityPolicies: a.IdentityPolicies,
			EntityID: a.EntityID, TokenType: a.TokenType, TokenTTL: int64(a.TokenTTL / time.Second),
		}
		if !a.TokenIssueTime.IsZero() {
			la.TokenIssueTime = formatTime(a.TokenIssueTime)
		}
		if len(a.Metadata) > 0 {
			la.Metadata = map[string]string{}
			for k, v := range a.Metadata {
				la.Metadata[k] = h.value(v)
			}
		}
		return la
	}
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
	r := &e.Request
	b := body{Type: typ, Time: formatTime(e.Time), NodeID: f.nodeID, Auth: auth(e.Auth), Error: e.Error,
		Request: &LineRequest{
			ID: r.ID, Operation: r.Operation, MountType: r.MountType, MountPoint: r.MountPoint,
			MountAccessor: r.MountAccessor, ClientToken: h.value(r.ClientToken),
			ClientTokenAccessor: acc(r.ClientTokenAccessor), Namespace: LineNamespace{ID: "root"},
			Path: r.Path, Data: data(r.Data, r.NonHMACKeys), RemoteAddress: r.RemoteAddress,
			WrapTTL: int64(r.WrapTTL / time.Second),
		}}
	if typ == TypeForward {
		b.Forward = &LineForward{}
		if e.Forward != nil {
			b.Forward.Target = e.Forward.Target
		}
	}
	if typ == TypeResponse {
		b.Response = &LineResponse{}
		if rr := e.Response; rr != nil {
			b.Response = &LineResponse{MountType: rr.MountType, MountPoint: rr.MountPoint,
				Data: data(rr.Data, rr.NonHMACKeys), Auth: auth(rr.Auth)}
			if rr.LeaseID != "" {
				b.Response.Secret = &LineSecret{LeaseID: rr.LeaseID}
			}
			if w := rr.WrapInfo; w != nil {
				b.Response.WrapInfo = &LineWrapInfo{Token: h.value(w.Token), Accessor: acc(w.Accessor),
					TTL: int64(w.TTL / time.Second), CreationTime: formatTime(w.CreationTime),
					CreationPath: w.CreationPath, WrappedAccessor: acc(w.WrappedAccessor)}
			}
		}
	}
	out, err := json.Marshal(&b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// FuzzFormatMatchesEncodingJSON checks that the hand-written encoder
// writes the bytes encoding/json writes, for every device setting, with
// arbitrary strings in every field and arbitrary data.
func FuzzFormatMatchesEncodingJSON(f *testing.F) {
	f.Add("secret/data/app", `{"data":{"password":"p<&>\u2028"},"options":{"cas":1}}`, "tok\x00en", "x")
	f.Add("a\"b\\c\n\t\r\b\f\x01", `[1,"x",{"y":null,"a":[true,false,1.5e3]}]`, "\xff\xfe bad utf8", "é漢字\u2029")
	f.Add("", `not json <&>`, "", "")
	f.Add("p", "{\"k\":\"\xe2\x80\xa8<\",\"k\":2}", "<script>", "&amp;")
	f.Add("p", ` { "spaced" : [ 1 , 2 ] } `, "t", "a")
	keyBytes := bytes.Repeat([]byte{7}, HMACKeySize)
	f.Fuzz(func(t *testing.T, path, data, s1, s2 string) {
		tm := time.Date(2025, 6, 5, 16, 10, 22, 292517000, time.FixedZone("x", 3600))
		auth := &Auth{ClientToken: s1, Accessor: s2, DisplayName: s2, Policies: []string{s1, s2}, TokenPolicies: []string{},
			Metadata: map[string]string{s1: s2, "b": s1, "a": ""}, EntityID: s1, TokenType: s2, TokenTTL: 90 * time.Second, TokenIssueTime: tm}
		entries := []*Entry{
			{Time: tm, Request: Request{Path: path, Data: json.RawMessage(data)}},
			{Time: tm, Auth: auth, Error: s2, Forward: &Forward{Target: s1}, Request: Request{
				ID: s1, Operation: s2, MountType: s1, MountPoint: s2, MountAccessor: s1, ClientToken: s1,
				ClientTokenAccessor: s2, Path: path, Data: json.RawMessage(data), NonHMACKeys: []string{"data", s1},
				RemoteAddress: s2, WrapTTL: time.Minute,
			}, Response: &Response{MountType: s1, MountPoint: s2, Data: json.RawMessage(data), NonHMACKeys: []string{s2},
				LeaseID: s1, Auth: &Auth{}, WrapInfo: &WrapInfo{Token: s1, Accessor: s2, TTL: time.Hour, CreationTime: tm, CreationPath: path, WrappedAccessor: s1}}},
			{Time: tm, Response: &Response{WrapInfo: &WrapInfo{}}},
		}
		for _, mode := range []struct{ raw, rawAcc bool }{{false, false}, {true, false}, {false, true}} {
			for _, node := range []string{"", s1} {
				fm := newFormatter(keyBytes, mode.raw, mode.rawAcc, node)
				for _, e := range entries {
					for _, typ := range []string{TypeRequest, TypeResponse, TypeForward} {
						want := referenceFormat(t, &fm, typ, e)
						bp, err := fm.format(typ, e)
						if err != nil {
							t.Fatalf("format: %v", err)
						}
						if !bytes.Equal(*bp, want) {
							t.Fatalf("raw=%v rawAccessor=%v node=%q %s:\n got %s\nwant %s", mode.raw, mode.rawAcc, node, typ, *bp, want)
						}
						fm.release(bp)
					}
				}
			}
		}
	})
}

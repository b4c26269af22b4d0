package audit_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/coffer-secrets/coffer/internal/audit"
	"github.com/google/go-cmp/cmp"
)

func TestBrokerFileRoundTrip(t *testing.T) {
	t.Parallel()
	keys := testKeys(t)
	d, path := newFileDevice(t, audit.DeviceOptions{Keys: keys})
	b := audit.NewBroker(audit.BrokerOptions{})
	if err := b.Register(d); err != nil {
		t.Fatalf("Register() = %v", err)
	}
	e := sampleEntry()
	ctx := t.Context()
	if err := b.LogRequest(ctx, e); err != nil {
		t.Fatalf("LogRequest() = %v", err)
	}
	if err := b.LogResponse(ctx, e); err != nil {
		t.Fatalf("LogResponse() = %v", err)
	}
	if err := b.Close(ctx); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	raws, lines := readLines(t, path)
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want request, response and checkpoint", len(lines))
	}
	for _, raw := range raws {
		for _, s := range allSecrets {
			if bytes.Contains(raw, []byte(s)) {
				t.Errorf("line %s holds the raw secret %q", raw, s)
			}
		}
	}
	h := d.HashValue
	if got, want := h(secretToken), hmacHex(keys.HMAC, secretToken); got != want {
		t.Errorf("HashValue = %q, want %q", got, want)
	}
	wantData := map[string]any{
		"data":  map[string]any{"password": h(secretPassword), "list": []any{h(secretNested), 7.0, true, nil}},
		"count": 3.0,
	}
	var gotData map[string]any
	if err := json.Unmarshal(lines[0].Request.Data, &gotData); err != nil {
		t.Fatalf("request data: %v", err)
	}
	if diff := cmp.Diff(wantData, gotData); diff != "" {
		t.Errorf("request data (-want +got):\n%s", diff)
	}
	wantAuth := &audit.LineAuth{
		ClientToken:   h(secretToken),
		Accessor:      h(secretAccessor),
		DisplayName:   "userpass-alice",
		Policies:      []string{"default", "dev"},
		TokenPolicies: []string{"default", "dev"},
		Metadata:      map[string]string{"username": h(secretMeta)},
		EntityID:      "entity-1",
		TokenType:     "service",
		TokenTTL:      3600,
	}
	lines[0].Request.Data, lines[1].Request.Data = nil, nil
	wantReq := &audit.LineRequest{
		ID:                  "req-1",
		Operation:           "update",
		MountType:           "kv",
		MountPoint:          "secret/",
		ClientToken:         h(secretToken),
		ClientTokenAccessor: h(secretAccessor),
		Namespace:           audit.LineNamespace{ID: "root"},
		Path:                "secret/data/app",
		RemoteAddress:       "127.0.0.1",
	}
	wantResp := &audit.LineResponse{
		MountType: "kv",
		Data:      json.RawMessage(`{"value":"` + h(secretRespValue) + `","version":2}`),
		Secret:    &audit.LineSecret{LeaseID: "secret/creds/abc"},
		Auth:      &audit.LineAuth{ClientToken: h(secretNewToken), Accessor: h("new-accessor"), Policies: []string{"default"}},
		WrapInfo: &audit.LineWrapInfo{
			Token: h(secretWrapToken), Accessor: h("wrap-accessor"), TTL: 60,
			CreationTime: "2025-06-05T16:10:22.292517Z", CreationPath: "secret/data/app",
		},
	}
	state, err := d.State(ctx)
	if err != nil {
		t.Fatalf("State() = %v", err)
	}
	chain := state.ChainID
	want := []audit.Line{
		{Seq: 1, ChainID: chain, Type: "request", Time: "2025-06-05T16:10:22.292517Z", Auth: wantAuth, Request: wantReq},
		{Seq: 2, ChainID: chain, PrevHash: audit.LineHash(raws[0]), Type: "response", Time: "2025-06-05T16:10:22.292517Z", Auth: wantAuth, Request: wantReq, Response: wantResp},
		{Seq: 3, ChainID: chain, PrevHash: audit.LineHash(raws[1]), Type: "checkpoint", Time: lines[2].Time, Hash: audit.LineHash(raws[1]), Signature: lines[2].Signature},
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	if state.Seq != 3 || state.Head != audit.LineHash(raws[2]) {
		t.Errorf("State() = %+v, want seq 3 and the hash of the checkpoint", state)
	}
}

func TestHashValueKnownAnswer(t *testing.T) {
	t.Parallel()
	keys := testKeys(t)
	keys.HMAC = make([]byte, 32)
	for i := range keys.HMAC {
		keys.HMAC[i] = byte(i)
	}
	for _, raw := range []bool{false, true} {
		d, err := audit.NewDevice(audit.DeviceOptions{Path: "x/", Sink: &memSink{}, Keys: keys, LogRaw: raw})
		if err != nil {
			t.Fatal(err)
		}
		// Computed with Python's hmac module.
		want := "hmac-sha256:8f28bb28ac641f844a613c93c349692462f727a96737a22de2ae2c769b5462c0"
		if got := d.HashValue("my-secret-value"); got != want {
			t.Errorf("HashValue (log_raw=%v) = %q, want %q", raw, got, want)
		}
	}
}

func TestFormatOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts audit.DeviceOptions
		e    func(*audit.Entry)
		// raw lists secrets that must appear as they are; every other
		// secret must appear only HMACed.
		raw []string
	}{
		{name: "default", raw: nil},
		{name: "log_raw", opts: audit.DeviceOptions{LogRaw: true}, raw: allSecrets},
		{name: "hmac_accessor=false", opts: audit.DeviceOptions{RawAccessor: true}, raw: []string{secretAccessor}},
		{
			name: "non-HMAC request key",
			e: func(e *audit.Entry) {
				e.Request.NonHMACKeys = []string{"data"}
			},
			raw: []string{secretPassword, secretNested},
		},
		{
			name: "non-HMAC response key",
			e: func(e *audit.Entry) {
				e.Response.NonHMACKeys = []string{"value"}
			},
			raw: []string{secretRespValue},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sink := &memSink{}
			o := tt.opts
			o.Path, o.Sink, o.Keys = "mem/", sink, testKeys(t)
			d, err := audit.NewDevice(o)
			if err != nil {
				t.Fatal(err)
			}
			e := sampleEntry()
			if tt.e != nil {
				tt.e(e)
			}
			if err := d.Log(t.Context(), audit.TypeResponse, e); err != nil {
				t.Fatalf("Log() = %v", err)
			}
			out := sink.buf.String()
			for _, s := range allSecrets {
				wantRaw := strings.Contains(strings.Join(tt.raw, "\x00"), s)
				if got := strings.Contains(out, s); got != wantRaw {
					t.Errorf("raw %q in output = %v, want %v\n%s", s, got, wantRaw, out)
				}
				if got := strings.Contains(out, d.HashValue(s)); got == wantRaw {
					t.Errorf("HMAC of %q in output = %v, want %v", s, got, !wantRaw)
				}
			}
		})
	}
}

func TestFormatOddData(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		raw  bool
		data string
		want string
	}{
		{name: "not JSON is one HMACed string", data: `password=hunter2`, want: `"hmac-sha256:`},
		{name: "log_raw keeps it as a string", raw: true, data: "a\nb", want: `"a\nb"`},
		{name: "log_raw compacts multi-line JSON", raw: true, data: "{\n \"k\": \"v\"\n}", want: `{"k":"v"}`},
		{name: "top-level string", data: `"hunter2"`, want: `"hmac-sha256:`},
		{name: "big numbers stay exact", data: `{"n": 12345678901234567890}`, want: `{"n":12345678901234567890}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sink := &memSink{}
			d, err := audit.NewDevice(audit.DeviceOptions{Path: "mem/", Sink: sink, Keys: testKeys(t), LogRaw: tt.raw})
			if err != nil {
				t.Fatal(err)
			}
			e := &audit.Entry{Time: testTime, Request: audit.Request{Path: "p", Data: json.RawMessage(tt.data)}}
			if err := d.Log(t.Context(), audit.TypeRequest, e); err != nil {
				t.Fatalf("Log() = %v", err)
			}
			out := sink.buf.Bytes()
			if bytes.Count(out, []byte("\n")) != 1 || out[len(out)-1] != '\n' {
				t.Fatalf("output is not one line: %q", out)
			}
			var l audit.Line
			if err := json.Unmarshal(out, &l); err != nil {
				t.Fatalf("output %s: %v", out, err)
			}
			if !strings.HasPrefix(string(l.Request.Data), tt.want) {
				t.Errorf("data = %s, want prefix %s", l.Request.Data, tt.want)
			}
			if !tt.raw && strings.Contains(string(out), "hunter2") {
				t.Errorf("output holds the raw secret: %s", out)
			}
		})
	}
}

func TestBrokerFailClosed(t *testing.T) {
	t.Parallel()
	type devSpec struct {
		path string
		sink func() audit.Sink
	}
	working := func() audit.Sink { return &memSink{} }
	failing := func() audit.Sink { return failingSink{} }
	tests := []struct {
		name       string
		devices    []devSpec
		wantErr    bool
		wantFailed []string
	}{
		{name: "no devices succeeds", wantErr: false},
		{name: "one working device", devices: []devSpec{{"a/", working}}},
		{name: "one failing device refuses", devices: []devSpec{{"a/", failing}}, wantErr: true, wantFailed: []string{"a/"}},
		{name: "failing and working succeeds", devices: []devSpec{{"a/", failing}, {"b/", working}}, wantFailed: []string{"a/"}},
		{name: "two failing refuse", devices: []devSpec{{"a/", failing}, {"b/", failing}}, wantErr: true, wantFailed: []string{"a/", "b/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			failed := map[string]int{}
			b := audit.NewBroker(audit.BrokerOptions{OnFailure: func(path string, err error) {
				mu.Lock()
				failed[path]++
				mu.Unlock()
			}})
			for _, ds := range tt.devices {
				d, err := audit.NewDevice(audit.DeviceOptions{Path: ds.path, Sink: ds.sink(), Keys: testKeys(t)})
				if err != nil {
					t.Fatal(err)
				}
				if err := b.Register(d); err != nil {
					t.Fatal(err)
				}
			}
			err := b.LogRequest(t.Context(), sampleEntry())
			if (err != nil) != tt.wantErr {
				t.Fatalf("LogRequest() = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				if !errors.Is(err, audit.ErrUnavailable) {
					t.Errorf("LogRequest() = %v, want ErrUnavailable", err)
				}
				for _, s := range allSecrets {
					if strings.Contains(err.Error(), s) {
						t.Errorf("error %q holds a secret", err)
					}
				}
			}
			want := map[string]int{}
			for _, p := range tt.wantFailed {
				want[p] = 1
			}
			mu.Lock()
			defer mu.Unlock()
			if diff := cmp.Diff(want, failed); diff != "" {
				t.Errorf("failures reported (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBrokerStuckDevice(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		working bool
		wantErr bool
	}{
		{name: "stuck alone refuses", wantErr: true},
		{name: "stuck beside a working device succeeds", working: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			release := make(chan struct{})
			t.Cleanup(func() { close(release) })
			b := audit.NewBroker(audit.BrokerOptions{DeviceTimeout: 50 * time.Millisecond})
			stuck, err := audit.NewDevice(audit.DeviceOptions{Path: "stuck/", Sink: stuckSink{release}, Keys: testKeys(t)})
			if err != nil {
				t.Fatal(err)
			}
			b.Register(stuck)
			if tt.working {
				d, err := audit.NewDevice(audit.DeviceOptions{Path: "ok/", Sink: &memSink{}, Keys: testKeys(t)})
				if err != nil {
					t.Fatal(err)
				}
				b.Register(d)
			}
			// Twice: the second write finds the device still busy.
			for i := range 2 {
				start := time.Now()
				err := b.LogRequest(t.Context(), sampleEntry())
				if (err != nil) != tt.wantErr {
					t.Fatalf("LogRequest #%d = %v, want error %v", i, err, tt.wantErr)
				}
				if el := time.Since(start); el > 2*time.Second {
					t.Fatalf("LogRequest #%d took %v with a 50ms device timeout", i, el)
				}
			}
		})
	}
}

func TestBrokerRegister(t *testing.T) {
	t.Parallel()
	b := audit.NewBroker(audit.BrokerOptions{})
	mk := func(path string) *audit.Device {
		d, err := audit.NewDevice(audit.DeviceOptions{Path: path, Sink: &memSink{}, Keys: testKeys(t)})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if err := b.Register(mk("b/")); err != nil {
		t.Fatal(err)
	}
	if err := b.Register(mk("a/")); err != nil {
		t.Fatal(err)
	}
	if err := b.Register(mk("a/")); err == nil {
		t.Errorf("Register(a/) twice = nil, want error")
	}
	var paths []string
	for _, d := range b.Devices() {
		paths = append(paths, d.Path())
	}
	if diff := cmp.Diff([]string{"a/", "b/"}, paths); diff != "" {
		t.Errorf("Devices (-want +got):\n%s", diff)
	}
	if ok, err := b.Deregister(t.Context(), "a/"); !ok || err != nil {
		t.Errorf("Deregister(a/) = %v, %v; want true, nil", ok, err)
	}
	if ok, _ := b.Deregister(t.Context(), "a/"); ok {
		t.Errorf("Deregister(a/) twice = true")
	}
	if _, ok := b.Device("a/"); ok {
		t.Errorf("Device(a/) found after Deregister")
	}
	if _, ok := b.Device("b/"); !ok {
		t.Errorf("Device(b/) not found")
	}
}

func TestCheckpoints(t *testing.T) {
	t.Parallel()
	keys := testKeys(t)
	d, path := newFileDevice(t, audit.DeviceOptions{Keys: keys, CheckpointEvery: 3, Clock: fixedClock{testTime}})
	ctx := t.Context()
	for range 7 {
		if err := d.Log(ctx, audit.TypeRequest, sampleEntry()); err != nil {
			t.Fatal(err)
		}
	}
	// Nothing new since the last checkpoint: no second one.
	if err := d.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(ctx); !errors.Is(err, audit.ErrClosed) {
		t.Errorf("second Close() = %v, want ErrClosed", err)
	}
	raws, lines := readLines(t, path)
	var types []string
	for i, l := range lines {
		types = append(types, l.Type)
		if l.Seq != uint64(i+1) {
			t.Errorf("line %d has seq %d", i+1, l.Seq)
		}
		if i > 0 && l.PrevHash != audit.LineHash(raws[i-1]) {
			t.Errorf("line %d prev_hash does not chain", i+1)
		}
		if l.Type == audit.TypeCheckpoint {
			sig, _ := hex.DecodeString(l.Signature)
			msg := audit.CheckpointMessage(l.ChainID, l.Seq, l.Hash, l.Time)
			if !ed25519.Verify(d.PublicKey(), msg, sig) {
				t.Errorf("checkpoint on line %d does not verify", i+1)
			}
		}
	}
	want := []string{"request", "request", "request", "checkpoint", "request", "request", "request", "checkpoint", "request", "checkpoint"}
	if diff := cmp.Diff(want, types); diff != "" {
		t.Errorf("line types (-want +got):\n%s", diff)
	}
}

func TestBrokerRunCheckpoints(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		sink := &memSink{}
		d, err := audit.NewDevice(audit.DeviceOptions{Path: "mem/", Sink: sink, Keys: testKeys(t)})
		if err != nil {
			t.Fatal(err)
		}
		b := audit.NewBroker(audit.BrokerOptions{CheckpointInterval: time.Minute})
		b.Register(d)
		if err := b.LogRequest(t.Context(), sampleEntry()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- b.Run(ctx) }()
		time.Sleep(time.Minute + time.Second)
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run() = %v, want context.Canceled", err)
		}
		if n := strings.Count(sink.buf.String(), `"type":"checkpoint"`); n != 1 {
			t.Errorf("%d checkpoints after one interval, want 1:\n%s", n, sink.buf.String())
		}
	})
}

func TestBrokerStampsTime(t *testing.T) {
	t.Parallel()
	sink := &memSink{}
	d, _ := audit.NewDevice(audit.DeviceOptions{Path: "mem/", Sink: sink, Keys: testKeys(t)})
	b := audit.NewBroker(audit.BrokerOptions{Clock: fixedClock{testTime}})
	b.Register(d)
	e := sampleEntry()
	e.Time = time.Time{}
	if err := b.LogRequest(t.Context(), e); err != nil {
		t.Fatal(err)
	}
	if !e.Time.IsZero() {
		t.Errorf("LogRequest modified the caller's entry")
	}
	var l audit.Line
	json.Unmarshal(sink.buf.Bytes(), &l)
	if l.Time != "2025-06-05T16:10:22.292517Z" {
		t.Errorf("time = %q, want the broker clock's", l.Time)
	}
}

func TestNewDeviceRejects(t *testing.T) {
	t.Parallel()
	good := testKeys(t)
	tests := []struct {
		name string
		o    audit.DeviceOptions
	}{
		{"no sink", audit.DeviceOptions{Keys: good}},
		{"short hmac key", audit.DeviceOptions{Sink: &memSink{}, Keys: audit.Keys{HMAC: make([]byte, 16), Signing: good.Signing}}},
		{"no signing key", audit.DeviceOptions{Sink: &memSink{}, Keys: audit.Keys{HMAC: good.HMAC}}},
		{"negative checkpoint interval", audit.DeviceOptions{Sink: &memSink{}, Keys: good, CheckpointEvery: -1}},
	}
	for _, tt := range tests {
		if _, err := audit.NewDevice(tt.o); err == nil {
			t.Errorf("NewDevice(%s) = nil error", tt.name)
		}
	}
}

// hmacHex is an independent HMAC for cross-checks.
func hmacHex(key []byte, s string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return "hmac-sha256:" + hex.EncodeToString(m.Sum(nil))
}

package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/testserver"
	"github.com/hashicorp/vault/api"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func TestMetricsScrape(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	ctx := t.Context()
	if _, err := s.Client.KVv2("secret").Put(ctx, "m", map[string]any{"a": "b"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.KVv2("secret").Get(ctx, "m"); err != nil {
		t.Fatal(err)
	}
	if err := s.Client.Sys().EnableAuthWithOptions("userpass", &api.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatal(err)
	}
	rawRequest(t, "POST", s.Addr+"/v1/auth/userpass/login/ghost", "", `{"password":"x"}`, nil)

	// Without a token, or with one lacking read on sys/metrics: refused.
	if code, _ := rawRequest(t, "GET", s.Addr+"/v1/sys/metrics?format=prometheus", "", "", nil); code != 403 {
		t.Errorf("metrics without a token = %d, want 403", code)
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", s.Addr+"/v1/sys/metrics?format=prometheus", nil)
	req.Header.Set("X-Vault-Token", s.RootToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("metrics = %d", resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse metrics: %v", err)
	}
	for _, name := range []string{"coffer_requests_total", "coffer_request_duration_seconds", "coffer_logins_total", "coffer_storage_operations_total", "coffer_sealed", "coffer_tokens", "coffer_leases"} {
		if families[name] == nil {
			t.Errorf("metric %s missing", name)
		}
	}
	var kvReads float64
	for _, m := range families["coffer_requests_total"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["mount_type"] == "kv" && labels["operation"] == "read" && labels["status"] == "2xx" {
			kvReads += m.GetCounter().GetValue()
		}
	}
	if kvReads < 1 {
		t.Errorf("no successful kv read counted")
	}
	var failures float64
	for _, m := range families["coffer_logins_total"].GetMetric() {
		if strings.Contains(m.String(), "failure") {
			failures += m.GetCounter().GetValue()
		}
	}
	if failures < 1 {
		t.Errorf("the failed userpass login was not counted")
	}
	if g := families["coffer_sealed"].GetMetric()[0].GetGauge().GetValue(); g != 0 {
		t.Errorf("coffer_sealed = %v, want 0", g)
	}
	if code, _ := rawRequest(t, "GET", s.Addr+"/v1/sys/metrics?format=xml", s.RootToken, "", nil); code != 400 {
		t.Errorf("format=xml = %d, want 400", code)
	}
}

// TestMetricsJSON checks Vault's default JSON shape, with and without
// format=json.
func TestMetricsJSON(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	if _, err := s.Client.KVv2("secret").Put(t.Context(), "m", map[string]any{"a": "b"}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"", "?format=json"} {
		code, body := rawRequest(t, "GET", s.Addr+"/v1/sys/metrics"+q, s.RootToken, "", nil)
		if code != 200 {
			t.Fatalf("sys/metrics%s = %d %s", q, code, body)
		}
		var got struct {
			Timestamp string
			Gauges    []struct {
				Name   string
				Value  float64
				Labels map[string]string
			}
			Points   []any
			Counters []struct {
				Name   string
				Count  int64
				Sum    float64
				Labels map[string]string
			}
			Samples []struct {
				Name  string
				Count int64
				Mean  float64
			}
		}
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("sys/metrics%s is not Vault's JSON: %v", q, err)
		}
		if _, err := time.Parse("2006-01-02 15:04:05 -0700 MST", got.Timestamp); err != nil {
			t.Errorf("Timestamp %q: %v", got.Timestamp, err)
		}
		if got.Points == nil {
			t.Error("Points missing")
		}
		sealed, puts := -1.0, int64(0)
		for _, g := range got.Gauges {
			if g.Name == "coffer_sealed" {
				sealed = g.Value
			}
		}
		for _, c := range got.Counters {
			if c.Name == "coffer_requests_total" && c.Labels["mount_type"] == "kv" && (c.Labels["operation"] == "update" || c.Labels["operation"] == "create") {
				puts += c.Count
			}
		}
		if sealed != 0 || puts < 1 {
			t.Errorf("coffer_sealed = %v, kv updates counted = %d; want 0 and at least 1", sealed, puts)
		}
		if len(got.Samples) == 0 {
			t.Error("no samples (histograms)")
		}
	}
}

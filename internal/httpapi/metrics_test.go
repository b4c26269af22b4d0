package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

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
	if code, _ := rawRequest(t, "GET", s.Addr+"/v1/sys/metrics?format=json", s.RootToken, "", nil); code != 400 {
		t.Errorf("format=json = %d, want 400", code)
	}
}

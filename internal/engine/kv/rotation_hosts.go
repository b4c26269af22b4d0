package kv

import (
	"net/url"
	"slices"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/rotation"
)

// Limits of rotation_webhook_allowed_hosts.
const (
	maxAllowedHosts   = 100
	maxAllowedHostLen = 253
)

// rotationMountConfig is the rotation part of the mount's configuration.
type rotationMountConfig struct {
	// WebhookAllowedHosts, when not empty, are the only hosts (names or
	// IP addresses, lower case) that webhook rotators of this mount may
	// call: an operator's bound on which servers whoever may write a
	// rotation policy can make this server reach.
	WebhookAllowedHosts []string `json:"rotation_webhook_allowed_hosts,omitempty"`
}

// rotationConfigInput is the rotation part of a config write.
type rotationConfigInput struct {
	WebhookAllowedHosts *framework.CommaStrings `json:"rotation_webhook_allowed_hosts"`
}

// rotationConfigResponse is the rotation part of a config read; absent
// when unset, so that the answer keeps Vault's shape.
type rotationConfigResponse struct {
	WebhookAllowedHosts []string `json:"rotation_webhook_allowed_hosts,omitempty"`
}

func newRotationConfigResponse(c *mountConfig) rotationConfigResponse {
	return rotationConfigResponse{WebhookAllowedHosts: c.WebhookAllowedHosts}
}

// applyRotationConfig checks the rotation part of a config write and
// sets it in c. An empty list (or "") allows every host.
func (in *rotationConfigInput) applyRotationConfig(c *mountConfig) error {
	if in.WebhookAllowedHosts == nil {
		return nil
	}
	list := *in.WebhookAllowedHosts
	if len(list) > maxAllowedHosts {
		return logical.InvalidRequest("invalid value for \"rotation_webhook_allowed_hosts\": at most %d hosts", maxAllowedHosts)
	}
	hosts := make([]string, 0, len(list))
	for _, h := range list {
		h = normalizeHost(h)
		if h == "" || len(h) > maxAllowedHostLen || strings.ContainsAny(h, "/:@?#[] \t") && !isIPv6(h) {
			return logical.InvalidRequest("invalid value for \"rotation_webhook_allowed_hosts\": each item must be a host name or IP address, without scheme, port or path")
		}
		if !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	c.WebhookAllowedHosts = hosts
	if len(hosts) == 0 {
		c.WebhookAllowedHosts = nil
	}
	return nil
}

func normalizeHost(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	h = strings.TrimRight(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"), ".")
	return h
}

func isIPv6(h string) bool {
	return strings.Count(h, ":") >= 2 && !strings.ContainsAny(h, "/@?#[] \t")
}

// checkWebhookHost refuses a webhook rotator whose URL's host is not in
// the mount's allow-list (when it has one).
func checkWebhookHost(c *mountConfig, r *rotation.RotatorConfig) error {
	if r == nil || r.Type != rotation.RotatorWebhook || len(c.WebhookAllowedHosts) == 0 {
		return nil
	}
	u, err := url.Parse(r.URL)
	if err != nil {
		return logical.InvalidRequest("the webhook rotator's \"url\" must be an https:// URL")
	}
	if !slices.Contains(c.WebhookAllowedHosts, normalizeHost(u.Hostname())) {
		return logical.InvalidRequest("the webhook rotator's host %q is not in this mount's \"rotation_webhook_allowed_hosts\" (see config)", u.Hostname())
	}
	return nil
}

package policy

import "regexp"

// sudoPaths need the sudo capability (or root) besides the operation's
// own capability, as Vault requires.
var sudoPaths = []*regexp.Regexp{
	regexp.MustCompile(`^auth/token/accessors/?$`),
	regexp.MustCompile(`^auth/token/revoke-orphan$`),
	regexp.MustCompile(`^sys/audit(/.+)?$`),
	regexp.MustCompile(`^sys/auth/.+$`),
	regexp.MustCompile(`^sys/leases/lookup(/.*)?$`),
	regexp.MustCompile(`^sys/leases/revoke-force/.+$`),
	regexp.MustCompile(`^sys/leases/revoke-prefix/.+$`),
	regexp.MustCompile(`^sys/revoke-force/.+$`),
	regexp.MustCompile(`^sys/revoke-prefix/.+$`),
	regexp.MustCompile(`^sys/raw(/.*)?$`),
	regexp.MustCompile(`^sys/remount$`),
	regexp.MustCompile(`^sys/rotate$`),
	regexp.MustCompile(`^sys/seal$`),
	regexp.MustCompile(`^sys/step-down$`),
	regexp.MustCompile(`^sys/locked-users(/.*)?$`),
	regexp.MustCompile(`^sys/plugins/catalog/.*$`),
	regexp.MustCompile(`^sys/host-info$`),
	regexp.MustCompile(`^sys/config/state/sanitized$`),
	regexp.MustCompile(`^sys/in-flight-req$`),
	regexp.MustCompile(`^sys/storage/snapshot(-force)?$`),
	regexp.MustCompile(`^sys/incident(/.*)?$`),
	regexp.MustCompile(`^sys/access/`),
	// A webhook receives every event, whatever the ACL of who set it up.
	regexp.MustCompile(`^sys/events/webhooks(/.*)?$`),
}

// NeedsSudo reports whether a request to path needs the sudo capability
// (or a root token) besides the capability of its operation.
func NeedsSudo(path string) bool {
	// sys/auth lists without sudo; enabling, tuning and disabling need it.
	if path == "sys/auth" || path == "sys/auth/" {
		return false
	}
	for _, re := range sudoPaths {
		if re.MatchString(path) {
			return true
		}
	}
	return false
}

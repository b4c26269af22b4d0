package trail

import "github.com/coffer-secrets/coffer/internal/audit"

// FastPath reports whether the verifier reads raw without encoding/json.
func FastPath(raw []byte) bool {
	var l audit.Line
	return scanLine(lineSchema(), raw, &l)
}

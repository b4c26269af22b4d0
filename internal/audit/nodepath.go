package audit

import (
	"errors"
	"fmt"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// NodeIDPlaceholder in a file device's file_path stands for the ID of the
// node that opens the device, so that every node of a cluster, all opening
// the same device, writes its own file (its own chain). No other {{...}}
// placeholder exists.
const NodeIDPlaceholder = "{{node_id}}"

// StandaloneNodeID is what [NodeIDPlaceholder] becomes on a server that is
// not a node of a cluster.
const StandaloneNodeID = "standalone"

// checkPlaceholders refuses a file path with a placeholder other than
// [NodeIDPlaceholder] (or a stray "{{" or "}}").
func checkPlaceholders(path string) error {
	rest := strings.ReplaceAll(path, NodeIDPlaceholder, "")
	if strings.Contains(rest, "{{") || strings.Contains(rest, "}}") {
		return logical.InvalidRequest("audit option file_path %q has an unknown placeholder: the only one is %s", path, NodeIDPlaceholder)
	}
	return nil
}

// ExpandPath returns path with [NodeIDPlaceholder] replaced by nodeID
// ([StandaloneNodeID] when empty). A node ID that would not make a plain
// file name (a path separator, "..", a control character, over 128 bytes)
// is refused when the placeholder is used, as is an unknown placeholder.
func ExpandPath(path, nodeID string) (string, error) {
	if err := checkPlaceholders(path); err != nil {
		return "", err
	}
	if !strings.Contains(path, NodeIDPlaceholder) {
		return path, nil
	}
	if nodeID == "" {
		nodeID = StandaloneNodeID
	}
	if err := fileNameSafe(nodeID); err != nil {
		return "", fmt.Errorf("audit file_path %q: node ID %q: %w", path, nodeID, err)
	}
	return strings.ReplaceAll(path, NodeIDPlaceholder, nodeID), nil
}

// fileNameSafe checks that s may stand in a file name: letters, digits,
// '.', '-' and '_', not "." or "..", at most 128 bytes.
func fileNameSafe(s string) error {
	if s == "." || s == ".." || len(s) > 128 {
		return errors.New("not usable in a file name")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '.' && c != '-' && c != '_' {
			return errors.New("not usable in a file name: only letters, digits, '.', '-' and '_'")
		}
	}
	return nil
}

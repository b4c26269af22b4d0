package kv

import (
	"context"
	"encoding/json"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// subkeysResponse is the data of a subkeys/ read. Subkeys is null for a
// deleted or destroyed version.
type subkeysResponse struct {
	Subkeys  map[string]any  `json:"subkeys"`
	Metadata versionResponse `json:"metadata"`
}

// readSubkeys answers subkeys/<path>[?version=N][&depth=D]: the secret's
// structure with every leaf (a non-object or an empty object) replaced by
// null. depth 0 means no limit; otherwise keys at that depth are leaves.
func (b *backendV2) readSubkeys(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	p, want, err := versionQuery(req, m)
	if err != nil {
		return nil, err
	}
	depth, err := framework.QueryInt(req, "depth", 0)
	if err != nil {
		return nil, err
	}
	return b.answerVersion(ctx, p, want, func(meta versionResponse, value []byte) (any, error) {
		out := &subkeysResponse{Metadata: meta}
		if value == nil {
			return out, nil
		}
		keys, err := subkeys(value, 1, depth)
		if err != nil {
			return nil, err
		}
		out.Subkeys = keys
		return out, nil
	})
}

// subkeys returns the structure of obj, a JSON object whose keys sit at
// level. Members that are non-empty objects recurse unless level reached
// max (when max > 0); everything else becomes nil.
func subkeys(obj []byte, level, max int) (map[string]any, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(obj, &members); err != nil {
		return nil, err
	}
	out := make(map[string]any, len(members))
	for k, v := range members {
		out[k] = nil
		if len(v) == 0 || v[0] != '{' || (max > 0 && level >= max) {
			continue
		}
		child, err := subkeys(v, level+1, max)
		if err != nil {
			return nil, err
		}
		if len(child) > 0 {
			out[k] = child
		}
	}
	return out, nil
}

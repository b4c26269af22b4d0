package framework

import (
	"strconv"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// ListData is the data of a list response: {"keys": [...]}.
type ListData struct {
	Keys []string `json:"keys"`
}

// ListResponse returns the Vault-shaped answer to a list request. An empty
// list returns (nil, nil): like Vault, Coffer answers 404 with no errors
// when there is nothing to list, and core turns a nil response to a list
// or read into that 404. keys is owned by the response afterwards.
func ListResponse(keys []string) (*logical.Response, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	return &logical.Response{Data: &ListData{Keys: keys}}, nil
}

// QueryInt returns the query parameter name of req as a non-negative
// integer, or def when it is absent or empty. Anything else is an
// [logical.ErrInvalidRequest] error naming the parameter.
func QueryInt(req *logical.Request, name string, def int) (int, error) {
	s := strings.TrimSpace(req.Query.Get(name))
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, logical.InvalidRequest("invalid value for query parameter %q: want a non-negative integer", name)
	}
	return n, nil
}

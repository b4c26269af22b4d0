package core

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// RequestHandler is what CallJSON sends a request to: *Core, or a
// narrower interface its callers keep.
type RequestHandler interface {
	HandleRequest(ctx context.Context, req *Request) (*Response, error)
}

// CallJSON sends req through h's request pipeline (ACL, audit, incident
// guard, as any API request) with body encoded as its JSON body, and
// decodes the response's data into out when out is non-nil. A read or a
// list that finds nothing, and any answer marked not found, is
// logical.ErrNotFound. The encoded body and the response's JSON copy are
// cleared after use: they may hold secret values. The cloud APIs
// (internal/awsapi, gcpapi, azureapi) make their core requests with it.
func CallJSON(ctx context.Context, h RequestHandler, req *Request, body, out any) error {
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode request for %s: %w", req.Operation, err)
		}
		defer clear(b)
		req.Body = b
	}
	resp, err := h.HandleRequest(ctx, req)
	if err != nil {
		return err
	}
	var lr *logical.Response
	if resp != nil {
		lr = resp.Response
	}
	if lr == nil || lr.Data == nil || lr.NotFound {
		if req.Operation == logical.ReadOperation || req.Operation == logical.ListOperation || (lr != nil && lr.NotFound) {
			return logical.ErrNotFound
		}
		return nil
	}
	if out == nil {
		return nil
	}
	b, err := json.Marshal(lr.Data)
	if err != nil {
		return fmt.Errorf("encode response data: %w", err)
	}
	defer clear(b)
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decode response data: %w", err)
	}
	return nil
}

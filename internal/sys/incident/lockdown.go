package incident

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/coffer-secrets/coffer/internal/incident"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

type lockdownInput struct {
	Prefix string `json:"prefix"`
	Mode   string `json:"mode"`
	Reason string `json:"reason"`
}

// maxLockdowns bounds the list every request is checked against.
const maxLockdowns = 1000

// cleanPrefix checks a lockdown prefix: a request path prefix, not
// empty, without empty, "." or ".." segments.
func cleanPrefix(p string) (string, error) {
	p = strings.Trim(p, "/")
	if p == "" {
		return "", logical.InvalidRequest("missing prefix: the path prefix to lock down, such as secret/data/payments")
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", logical.InvalidRequest("prefix %q has an empty, \".\" or \"..\" segment", p)
		}
	}
	return p, nil
}

func (a *API) readLockdowns(ctx context.Context, _ *logical.Request, _ *framework.Match) (*logical.Response, error) {
	lds, err := a.lockdowns(ctx)
	if err != nil {
		return nil, err
	}
	if lds == nil {
		lds = []incident.Lockdown{}
	}
	return &logical.Response{Data: map[string]any{"lockdowns": lds}}, nil
}

func (a *API) setLockdown(ctx context.Context, _ *logical.Request, _ *framework.Match, in *lockdownInput) (*logical.Response, error) {
	prefix, err := cleanPrefix(in.Prefix)
	if err != nil {
		return nil, err
	}
	mode := in.Mode
	if mode == "" {
		mode = incident.ModeReadOnly
	}
	if mode != incident.ModeReadOnly && mode != incident.ModeDeny {
		return nil, logical.InvalidRequest("mode %q: want read-only or deny", in.Mode)
	}
	a.ldMu.Lock()
	defer a.ldMu.Unlock()
	lds, err := a.lockdowns(ctx)
	if err != nil {
		return nil, err
	}
	l := incident.Lockdown{Prefix: prefix, Mode: mode, CreatedAt: a.now(), CreatedBy: a.opts.Core.Caller(ctx).Accessor, Reason: in.Reason}
	if i := slices.IndexFunc(lds, func(o incident.Lockdown) bool { return o.Prefix == prefix }); i >= 0 {
		lds[i] = l
	} else {
		if len(lds) >= maxLockdowns {
			return nil, logical.InvalidRequest("too many lockdowns (%d); lift some first", maxLockdowns)
		}
		lds = append(lds, l)
	}
	if err := a.putLockdowns(ctx, lds); err != nil {
		return nil, err
	}
	return &logical.Response{Data: l}, nil
}

func (a *API) liftLockdown(ctx context.Context, req *logical.Request, _ *framework.Match, in *lockdownInput) (*logical.Response, error) {
	p := in.Prefix
	if p == "" && len(req.Query["prefix"]) > 0 {
		p = req.Query["prefix"][0]
	}
	prefix, err := cleanPrefix(p)
	if err != nil {
		return nil, err
	}
	a.ldMu.Lock()
	defer a.ldMu.Unlock()
	lds, err := a.lockdowns(ctx)
	if err != nil {
		return nil, err
	}
	n := len(lds)
	lds = slices.DeleteFunc(lds, func(o incident.Lockdown) bool { return o.Prefix == prefix })
	if len(lds) == n {
		return nil, nil
	}
	return nil, a.putLockdowns(ctx, lds)
}

func (a *API) putLockdowns(ctx context.Context, lds []incident.Lockdown) error {
	buf, err := json.Marshal(lds)
	if err != nil {
		return fmt.Errorf("encode lockdowns: %w", err)
	}
	if err := a.opts.Storage.Put(ctx, &logical.StorageEntry{Key: lockdownsKey, Value: buf}); err != nil {
		return fmt.Errorf("store lockdowns: %w", err)
	}
	return a.Load(ctx)
}

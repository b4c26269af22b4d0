package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/coffer-secrets/coffer/internal/incident"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/policy"
	"github.com/coffer-secrets/coffer/internal/token"
)

// Incident response (issue 16): package internal/sys/incident serves
// sys/incident/* and keeps the guard; this file is core's side of it,
// the adapter it drives and the guard checks in the pipeline.

// incidentExemptPath is where a token must hold sudo to pass lockdowns
// and address bans: incident responders must be able to work.
const incidentExemptPath = "sys/incident/lockdown"

// incidentPrefix is where incidents and lockdowns are stored, behind the
// barrier.
const incidentPrefix = "sys/incident/"

// guardRefuses reports whether the incident guard refuses req: its
// client address is banned, a lockdown covers its path, or its token (te,
// nil for logins and other requests without a token) came from a login
// an open incident blocks (a contained role or certificate serial: this
// stops the batch tokens such logins made, which are never stored and so
// cannot be revoked one by one, and any token a login stored while the
// incident was being contained). A caller whose ACL grants sudo on
// sys/incident/* is exempt from bans and lockdowns, not from a blocked
// login.
func (c *Core) guardRefuses(req *Request, acl *policy.ACL, te *token.Entry) bool {
	g := c.incidents.Guard()
	if g.Empty() {
		return false
	}
	if te != nil && te.Path != "" {
		if route, _, ok := c.router.Match(te.Path); ok && g.LoginBlocked(route.Path, te.Meta, te.InternalData) {
			return true
		}
	}
	read := req.Operation == logical.ReadOperation || req.Operation == logical.ListOperation
	if !g.BannedAddr(req.Connection.RemoteIP()) && !g.LockedDown(req.Path, read) && !c.kvSecretLockedDown(g, req.Path, read) {
		return false
	}
	if acl != nil {
		d := acl.Check(policy.Request{Path: incidentExemptPath, Operation: string(logical.UpdateOperation)})
		if d.Allowed && d.Sudo {
			return false
		}
	}
	return true
}

// readWithheld reports whether the incident guard would refuse req's
// caller (its ACL acl) a read of path: a lockdown covering it, or a ban
// of its address; sudo on sys/incident/lockdown exempts, as for
// requests.
func (c *Core) readWithheld(path string, req *Request, acl *policy.ACL) bool {
	r := &Request{Request: &logical.Request{Operation: logical.ReadOperation, Path: path, Connection: req.Connection}}
	return c.guardRefuses(r, acl, nil)
}

// kvSecretPaths are the KV version 2 path families that act on the secret
// whose data is at data/<key>.
var kvSecretPaths = []string{"metadata/", "delete/", "undelete/", "destroy/", "subkeys/", "rotate/", "rotation/", "recover/", "deleted/"}

// kvSecretLockedDown applies a lockdown of a KV secret's data path
// (secret/data/pay) to the other paths that act on that secret
// (secret/metadata/pay, secret/destroy/pay, secret/rotate/pay, ...), so
// that "read-only" refuses every change to it, as the runbook says.
func (c *Core) kvSecretLockedDown(g *incident.Guard, path string, read bool) bool {
	route, rel, ok := c.router.Match(path)
	if !ok || route.Type != "kv" {
		return false
	}
	for _, fam := range kvSecretPaths {
		if key, ok := strings.CutPrefix(rel, fam); ok {
			return g.LockedDown(route.Path+"data/"+key, read)
		}
	}
	return false
}

// incidentCore is the core as [sysincident.Core].
type incidentCore struct{ c *Core }

func (a incidentCore) Caller(ctx context.Context) incident.Actor {
	cl := callerFrom(ctx)
	if cl == nil {
		return incident.Actor{}
	}
	return incident.Actor{Accessor: cl.entry.Accessor, EntityID: cl.entry.EntityID}
}

func (a incidentCore) Tokens(ctx context.Context) ([]incident.Token, error) {
	var out []incident.Token
	err := a.c.tokens.Each(ctx, a.c.now(), func(hash string, e *token.Entry) error {
		t := incident.Token{
			Hash: hash, ParentHash: e.Parent, Accessor: e.Accessor, EntityID: e.EntityID,
			Path: e.Path, Meta: e.Meta, InternalData: e.InternalData, CreationTime: e.CreationTime,
		}
		if route, _, ok := a.c.router.Match(e.Path); ok {
			t.Mount = route.Path
		}
		out = append(out, t)
		return nil
	})
	return out, err
}

func (a incidentCore) TokenLeases(ctx context.Context, hash string) ([]string, error) {
	return a.c.leases.ByToken(ctx, hash)
}

func (a incidentCore) RevokeToken(ctx context.Context, hash string) error {
	return a.c.tokens.Revoke(ctx, hash)
}

func (a incidentCore) Entity(ctx context.Context, id string) (exists, disabled bool, err error) {
	if a.c.identity == nil {
		return false, false, nil
	}
	e, err := a.c.identity.Entity(ctx, id)
	if errors.Is(err, logical.ErrNotFound) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	return true, e.Disabled, nil
}

func (a incidentCore) SetEntityDisabled(ctx context.Context, id string, disabled bool) error {
	if a.c.identity == nil {
		return errors.New("identity store not loaded")
	}
	body, _ := json.Marshal(map[string]bool{"disabled": disabled})
	_, err := a.c.identity.HandleRequest(ctx, &logical.Request{Operation: logical.UpdateOperation, Path: "entity/id/" + id, MountPoint: "identity/", Body: body})
	return err
}

func (a incidentCore) DestroySecretID(ctx context.Context, mount, role, accessor string) (bool, error) {
	body, _ := json.Marshal(map[string]string{"secret_id_accessor": accessor})
	for _, r := range a.c.router.Routes() {
		if r.Type != "approle" || (mount != "" && r.Path != mount) {
			continue
		}
		roles := []string{role}
		if role == "" {
			resp, err := r.Backend.HandleRequest(ctx, &logical.Request{Operation: logical.ListOperation, Path: "role/", MountPoint: r.Path})
			if err != nil {
				return false, fmt.Errorf("list roles of %s: %w", r.Path, err)
			}
			roles = listKeys(resp)
		}
		for _, name := range roles {
			_, err := r.Backend.HandleRequest(ctx, &logical.Request{Operation: logical.UpdateOperation, Path: "role/" + name + "/secret-id-accessor/destroy", MountPoint: r.Path, Body: body})
			switch {
			case err == nil:
				return true, nil
			case errors.Is(err, logical.ErrNotFound), errors.Is(err, logical.ErrInvalidRequest):
				continue
			default:
				return false, err
			}
		}
	}
	return false, nil
}

// listKeys returns the "keys" of a LIST response.
func listKeys(resp *logical.Response) []string {
	if resp == nil || resp.Data == nil {
		return nil
	}
	buf, err := json.Marshal(resp.Data)
	if err != nil {
		return nil
	}
	var d struct {
		Keys []string `json:"keys"`
	}
	json.Unmarshal(buf, &d)
	return d.Keys
}

func (a incidentCore) AuditHashes(_ context.Context, device string, values []string) ([]string, error) {
	d, ok := a.c.broker.Device(strings.Trim(device, "/") + "/")
	if !ok {
		if d, ok = a.c.broker.Device(strings.Trim(device, "/")); !ok {
			return nil, logical.InvalidRequest("no audit device at %s", device)
		}
	}
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = d.HashValue(v)
	}
	return out, nil
}

package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/coffer-secrets/coffer/internal/audit"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/router"
	"github.com/coffer-secrets/coffer/internal/sys/auditdev"
)

// AuditDeviceConfig is an audit device declared in the server's
// configuration file.
type AuditDeviceConfig = auditdev.DeviceConfig

// ReloadAudit reopens audit files (for log rotation on SIGHUP).
func (c *Core) ReloadAudit(ctx context.Context) error {
	return c.broker.Reload(ctx)
}

// auditRecord collects what a request's audit entries say.
type auditRecord struct {
	caller     *caller
	route      *router.Route
	logged     bool // the request entry has been written
	start      time.Time
	mountType  string
	mountPoint string
}

func (c *Core) auditAuth(cl *caller) *audit.Auth {
	if cl == nil {
		return nil
	}
	e := cl.entry
	pols := e.Policies
	if len(cl.identity) > 0 {
		pols = slices.Concat(e.Policies, cl.identity)
	}
	return &audit.Auth{
		ClientToken:      string(cl.id),
		Accessor:         e.Accessor,
		DisplayName:      e.DisplayName,
		Policies:         pols,
		TokenPolicies:    e.Policies,
		IdentityPolicies: cl.identity,
		Metadata:         e.Meta,
		EntityID:         e.EntityID,
		TokenType:        e.Type,
		TokenTTL:         e.CreationTTL,
		TokenIssueTime:   e.CreationTime,
	}
}

func (c *Core) auditRequestPart(req *Request, rec *auditRecord) audit.Request {
	r := audit.Request{
		ID:          req.ID,
		Operation:   string(req.Operation),
		MountType:   rec.mountType,
		MountPoint:  rec.mountPoint,
		ClientToken: string(req.ClientToken),
		Path:        c.RedactPath(req.Path),
		Data:        json.RawMessage(req.Body),
		WrapTTL:     req.WrapTTL,
	}
	if rec.route != nil {
		r.MountAccessor = rec.route.Accessor
		r.NonHMACKeys = rec.route.AuditNonHMACRequestKeys
	}
	if rec.caller != nil {
		r.ClientTokenAccessor = rec.caller.entry.Accessor
	}
	if ip := req.Connection.RemoteIP(); ip != nil {
		r.RemoteAddress = ip.String()
	}
	return r
}

// auditing reports whether any audit device is enabled, or this standby's
// devices could not be opened (its requests then fail closed).
func (c *Core) auditing() bool { return len(c.broker.Devices()) > 0 || c.auditErr.Load() != nil }

// auditRequest writes the request entry; an error means no device could
// record it and the request must not run.
func (c *Core) auditRequest(ctx context.Context, req *Request, rec *auditRecord) error {
	if rec.logged {
		return nil
	}
	rec.logged = true
	if !c.auditing() {
		return nil
	}
	if err := c.auditFailure(); err != nil {
		return fmt.Errorf("audit the request: %w", err)
	}
	if rec.route != nil {
		rec.mountType, rec.mountPoint = rec.route.Type, rec.route.Path
	}
	err := c.broker.LogRequest(ctx, &audit.Entry{Time: rec.start, Auth: c.auditAuth(rec.caller), Request: c.auditRequestPart(req, rec)})
	if err != nil {
		return fmt.Errorf("audit the request: %w", err)
	}
	return nil
}

// clientError is the message a client got for err, safe to log.
func clientError(err error) string {
	if err == nil {
		return ""
	}
	if le, ok := errors.AsType[*logical.Error](err); ok {
		return le.Msg
	}
	if errors.Is(err, ErrSealed) {
		return err.Error()
	}
	return "internal error"
}

// auditResponse writes the response entry.
func (c *Core) auditResponse(ctx context.Context, req *Request, rec *auditRecord, resp *Response, rerr error) error {
	return c.auditResponseMsg(ctx, req, rec, resp, clientError(rerr))
}

// auditResponseMsg writes the response entry with the error message the
// client got ("" for none).
func (c *Core) auditResponseMsg(ctx context.Context, req *Request, rec *auditRecord, resp *Response, msg string) error {
	if !c.auditing() {
		return nil
	}
	if err := c.auditFailure(); err != nil {
		return fmt.Errorf("audit the response: %w", err)
	}
	e := &audit.Entry{Time: c.now(), Auth: c.auditAuth(rec.caller), Request: c.auditRequestPart(req, rec), Error: msg}
	if resp != nil {
		r := &audit.Response{MountType: resp.MountType, MountPoint: rec.mountPoint, LeaseID: resp.LeaseID}
		if rec.route != nil {
			r.NonHMACKeys = rec.route.AuditNonHMACResponseKeys
		}
		if lr := resp.Response; lr != nil {
			switch {
			case lr.Raw != nil && json.Valid(lr.Raw.Body):
				r.Data = lr.Raw.Body
			case lr.Data != nil:
				buf, err := json.Marshal(lr.Data)
				if err != nil {
					return fmt.Errorf("audit the response: %w", err)
				}
				r.Data = buf
			}
		}
		if a := resp.Auth; a != nil {
			r.Auth = &audit.Auth{ClientToken: a.ClientToken, Accessor: a.Accessor, Policies: a.Policies, TokenPolicies: a.TokenPolicies, IdentityPolicies: a.IdentityPolicies, Metadata: a.Metadata, EntityID: a.EntityID, TokenType: a.TokenType, TokenTTL: time.Duration(a.LeaseDuration) * time.Second}
		}
		if w := resp.Wrap; w != nil {
			ct, _ := time.Parse(time.RFC3339Nano, w.CreationTime)
			r.WrapInfo = &audit.WrapInfo{Token: w.Token, Accessor: w.Accessor, TTL: time.Duration(w.TTL) * time.Second, CreationTime: ct, CreationPath: w.CreationPath, WrappedAccessor: w.WrappedAccessor}
		}
		e.Response = r
	}
	if err := c.broker.LogResponse(ctx, e); err != nil {
		return fmt.Errorf("audit the response: %w", err)
	}
	return nil
}

// Exchange is the audit record of a request the HTTP layer serves itself
// (sys/health, sys/metrics, sys/unseal ...): [Core.BeginAudit] has
// recorded the request, [Exchange.End] records its outcome.
type Exchange struct {
	c   *Core
	req *Request
	rec *auditRecord
	on  bool // devices were enabled when the request was recorded
}

// BeginAudit records req, a request the HTTP layer serves itself, before
// it runs. With authorize set the caller must hold the permission the
// request's path and operation need (as for sys/metrics); a refusal is
// audited and returned. A server that is sealed has no devices: nothing is
// recorded, and End then records nothing either. An error other than a
// refusal means no device could record the request: it must not run.
func (c *Core) BeginAudit(ctx context.Context, req *Request, authorize bool) (*Exchange, error) {
	x := &Exchange{c: c, req: req, rec: &auditRecord{start: c.now(), mountType: "system", mountPoint: "sys/"}}
	if authorize {
		c.stateMu.RLock()
		defer c.stateMu.RUnlock()
		if c.Sealed() {
			return nil, ErrSealed
		}
		cl, err := c.authorize(ctx, req, nil, "")
		x.rec.caller = cl
		if err != nil {
			if aerr := c.auditRequest(ctx, req, x.rec); aerr != nil {
				return nil, aerr
			}
			if aerr := c.auditResponse(ctx, req, x.rec, nil, err); aerr != nil {
				return nil, aerr
			}
			return nil, err
		}
	}
	x.on = c.auditing()
	if !x.on {
		return x, nil
	}
	if err := c.auditRequest(ctx, req, x.rec); err != nil {
		return nil, err
	}
	return x, nil
}

// End records the outcome of the request: msg is the error the client is
// told ("" on success). An error means no device could record it and the
// client must get an error instead of the response.
func (x *Exchange) End(ctx context.Context, msg string) error {
	if !x.on {
		return nil
	}
	var resp *Response
	if msg == "" {
		resp = &Response{MountType: "system"}
	}
	return x.c.auditResponseMsg(ctx, x.req, x.rec, resp, msg)
}

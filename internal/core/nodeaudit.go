package core

import (
	"context"
	"errors"
	"fmt"

	"github.com/coffer-secrets/coffer/internal/audit"
	"github.com/coffer-secrets/coffer/internal/logical"
)

// Every node of a cluster writes its own audit devices: the active node
// opens them at postUnseal, a standby with loadStandbyAudit (read only:
// the keys come from the active node) and again after each change notice
// for the audit table (syncStandbyAudit). A standby whose devices could not
// be opened fails closed: auditFailure is set, and every request it would
// audit, or forward, answers 500 until the devices open.

// errAuditNotOpen is the cause a standby gives while its audit devices
// could not be opened.
var errAuditNotOpen = errors.New("this node's audit devices could not be opened")

// errStandbyNotLoaded is the cause a standby gives while its standby
// state, and so its audit devices, is not loaded.
var errStandbyNotLoaded = errors.New("the standby state is not loaded yet")

// haNodeID names the node opts make a cluster node of; "" for a single
// server.
func haNodeID(opts Options) string {
	if opts.HA == nil {
		return ""
	}
	return opts.HA.NodeID
}

// auditFailure returns why this node cannot audit (a standby whose devices
// could not be opened), or nil.
func (c *Core) auditFailure() error {
	if p := c.auditErr.Load(); p != nil {
		// The cause is logged, never matched: whatever kind it has (a
		// bad path is an invalid request when an operator enables it),
		// the client gets 500.
		return fmt.Errorf("%w: %w: %v", audit.ErrUnavailable, errAuditNotOpen, *p)
	}
	return nil
}

// setAuditFailure records (or, with nil, clears) why this node cannot
// audit.
func (c *Core) setAuditFailure(err error) {
	if err == nil {
		c.auditErr.Store(nil)
		return
	}
	c.auditErr.Store(&err)
}

// loadStandbyAudit opens this standby's audit devices and starts their
// periodic checkpoints. The caller holds stateMu for writing.
func (c *Core) loadStandbyAudit(ctx context.Context) error {
	if err := c.audits.LoadStandby(ctx); err != nil {
		c.setAuditFailure(err)
		c.logger.Error("open this standby's audit devices; refusing what it would audit until they open", "err", err)
		return err
	}
	c.setAuditFailure(nil)
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		runTask(bg, c.logger, c.opts.Observer, task{"audit checkpoints", c.broker.Run})
	}()
	c.stopBackground = func() { cancel(); <-done }
	return nil
}

// syncStandbyAudit opens and closes this standby's devices after the audit
// table changed. It reports false when a device could not be opened: the
// node then refuses what it would audit. The caller holds stateMu.
func (c *Core) syncStandbyAudit(ctx context.Context) bool {
	if err := c.audits.SyncStandby(ctx); err != nil {
		c.setAuditFailure(err)
		c.logger.Error("open this standby's audit devices after a change; refusing what it would audit until they open", "err", err)
		return false
	}
	c.setAuditFailure(nil)
	return true
}

// ForwardAudit describes a request a standby sends to the active node,
// for its forward entry.
type ForwardAudit struct {
	// ID is the request ID, which the active node uses too.
	ID string
	// Operation and Path are the request's (Path as the API names it,
	// e.g. "secret/data/app").
	Operation logical.Operation
	Path      string
	// ClientToken is the client's token, HMACed by each device.
	ClientToken string
	// Connection is the client's.
	Connection *logical.Connection
	// Target is the active node's address the request goes to.
	Target string
}

// AuditForward records, on this standby, that it forwards a request to
// the active node. An error means no device could record it (or the
// node's devices could not be opened): the request must not be
// forwarded. A sealed node, or one without devices, records nothing.
func (c *Core) AuditForward(ctx context.Context, f ForwardAudit) error {
	c.stateMu.RLock()
	defer c.stateMu.RUnlock()
	if c.Sealed() {
		return nil
	}
	if err := c.auditFailure(); err != nil {
		return fmt.Errorf("audit the forwarded request: %w", err)
	}
	if !c.auditing() {
		return nil
	}
	r := audit.Request{ID: f.ID, Operation: string(f.Operation), Path: c.RedactPath(f.Path), ClientToken: f.ClientToken}
	if ip := f.Connection.RemoteIP(); ip != nil {
		r.RemoteAddress = ip.String()
	}
	if err := c.broker.LogForward(ctx, &audit.Entry{Time: c.now(), Request: r, Forward: &audit.Forward{Target: f.Target}}); err != nil {
		return fmt.Errorf("audit the forwarded request: %w", err)
	}
	return nil
}

package core

import (
	"github.com/coffer-secrets/coffer/internal/leaks"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/router"
	sysleaks "github.com/coffer-secrets/coffer/internal/sys/leaks"
)

// leaksPrefix is where the leak index keeps its key, behind the barrier.
const leaksPrefix = "sys/leaks/"

// newLeaks returns the leak index and its sys/leaks/check endpoint. The
// index lives in this node's memory while it is active and unsealed
// (unloadState drops it); a standby forwards sys/leaks/check to the
// active node, as every sys/ request.
func (c *Core) newLeaks() (*leaks.Index, *sysleaks.API) {
	log := c.logger.With("component", "leaks")
	idx := leaks.New(leaks.Options{
		Storage: router.NewView(c.barrier, leaksPrefix),
		Mounts:  valueMounts{c},
		Logger:  log,
	})
	return idx, sysleaks.New(sysleaks.Options{Index: idx, Events: systemEvents{c}, Clock: c.clock, Logger: log})
}

// valueMounts is the router's mounts whose backends hold secret values,
// as [leaks.Mounts].
type valueMounts struct{ c *Core }

func (a valueMounts) ValueMounts() []leaks.Mount {
	var out []leaks.Mount
	for _, r := range a.c.router.Routes() {
		if s, ok := r.Backend.(logical.ValueSource); ok {
			out = append(out, leaks.Mount{Accessor: r.Accessor, Path: r.Path, Source: s})
		}
	}
	return out
}

// mountValues is a mount's [logical.ValueObserver]: it tells the leak
// index which secret of the mount (by accessor) changed.
type mountValues struct {
	c        *Core
	accessor string
}

func (m mountValues) ValuesChanged(key string) { m.c.leaks.ValuesChanged(m.accessor, key) }

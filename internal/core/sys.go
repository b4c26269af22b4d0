package core

import (
	"github.com/coffer-secrets/coffer/internal/ha"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/sys/accessapi"
	"github.com/coffer-secrets/coffer/internal/sys/host"
	"github.com/coffer-secrets/coffer/internal/sys/leases"
	"github.com/coffer-secrets/coffer/internal/sys/mounts"
	"github.com/coffer-secrets/coffer/internal/sys/passwords"
	"github.com/coffer-secrets/coffer/internal/sys/policies"
	"github.com/coffer-secrets/coffer/internal/sys/search"
	"github.com/coffer-secrets/coffer/internal/uuid"
)

// newSysBackend returns the path table of the sys/ endpoints core serves
// through the request pipeline. The unauthenticated ones (init, unseal,
// seal-status, health, leader) are called directly by the HTTP layer.
// Paths marked TopLevel are those whose answers Vault also repeats at the
// top level of the response for old clients: sys/mounts, sys/auth,
// sys/policy, sys/audit, sys/audit-hash, sys/capabilities*, sys/remount,
// sys/rotate, sys/key-status and sys/ha-status, each with its sub-paths
// (Vault's list has sys/wrapping/wrap too, whose answer is always wrapped).
func (c *Core) newSysBackend() *framework.Backend {
	paths := mounts.New(mounts.Options{Core: mountsCore{c}, Version: c.opts.Version, NewUUID: uuid.New, Logger: c.logger}).Paths()
	paths = append(paths, ha.Paths(c.ha)...)
	paths = append(paths, accessapi.New(accessapi.Options{Core: accessCore{c}, Clock: c.clock}).Paths()...)
	paths = append(paths, c.rotation.Paths()...)
	paths = append(paths, policies.New(policies.Options{Store: c.policies, Core: policiesCore{c}, Logger: c.logger, Events: systemEvents{c}}).Paths()...)
	paths = append(paths, c.wrapping.Paths()...)
	paths = append(paths, passwords.New(c.barrier).Paths()...)
	paths = append(paths, c.audits.Paths()...)
	paths = append(paths, c.pluginCatalog().Paths()...)
	paths = append(paths, host.Paths(c.clock)...)
	paths = append(paths, c.operator.Paths()...)
	paths = append(paths, c.incidents.Paths()...)
	paths = append(paths, search.New(search.Options{Core: searchCore{c}}).Paths()...)
	paths = append(paths, c.eventPaths()...)
	paths = append(paths, c.leaksAPI.Paths()...)
	return &framework.Backend{Paths: append(paths, leases.New(leases.Options{Leases: c.leases, Core: leasesCore{c}, Clock: c.clock}).Paths()...)}
}

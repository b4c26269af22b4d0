package kv

import (
	"context"
	"hash/maphash"
	"log/slog"
	"sync"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// lockStripes is how many mutexes serialise writers; writers of different
// keys rarely share one.
const lockStripes = 256

// backendV2 is versioned KV.
type backendV2 struct {
	framework.Backend
	storage logical.Storage
	clock   logical.Clock
	events  logical.EventSender
	logger  *slog.Logger

	lastRead lastReads // when each key was last read, flushed in batches
	metas    metaCache // decoded metadata of recently used keys (metacache.go)

	seed  maphash.Seed
	locks [lockStripes]sync.Mutex // locks[i] guards read-modify-write of the keys hashing to i

	rot   rotationEnv // what scheduled rotation needs (rotation.go)
	sched *scheduler
}

func newV2(env logical.Env) (*backendV2, error) {
	b := &backendV2{storage: env.Storage, clock: env.Clock, events: env.Events, logger: env.Logger, seed: maphash.MakeSeed()}
	b.rot = rotationEnv{system: env.System, logger: env.Logger, standby: env.Standby}
	b.sched = newScheduler()
	exists := func(ctx context.Context, _ *logical.Request, m *framework.Match) (bool, error) {
		p := m.Get("path")
		if checkPath(p) != nil {
			return false, nil
		}
		// Whether the key has metadata is all the ACL needs (create or
		// update): the stored record is not decoded.
		e, err := b.storage.Get(ctx, metaKey(p))
		return e != nil, err
	}
	b.Paths = []*framework.Path{
		{
			Pattern: `config`,
			Operations: map[logical.Operation]framework.Handler{
				logical.ReadOperation:   b.readConfig,
				logical.UpdateOperation: framework.Typed(b.writeConfig),
			},
			Synopsis: "Configure the mount's defaults for every key.",
		},
		{
			Pattern: `data/(?P<path>.*)`,
			Operations: map[logical.Operation]framework.Handler{
				logical.ReadOperation:   b.readData,
				logical.UpdateOperation: framework.Typed(b.writeData),
				logical.PatchOperation:  framework.Typed(b.patchData),
				logical.DeleteOperation: b.deleteLatest,
			},
			ExistenceCheck: exists,
			Synopsis:       "Read, write, patch and soft-delete the versions of a secret.",
		},
		{
			Pattern: `metadata(?:/(?P<path>.*))?`,
			Operations: map[logical.Operation]framework.Handler{
				logical.ReadOperation:   b.readMetadata,
				logical.ListOperation:   b.listMetadata,
				logical.UpdateOperation: framework.Typed(b.writeMetadata),
				logical.PatchOperation:  framework.Typed(b.patchMetadata),
				logical.DeleteOperation: b.deleteMetadata,
			},
			ExistenceCheck: exists,
			Synopsis:       "Read, list, configure and permanently delete keys.",
		},
		{
			Pattern: `delete/(?P<path>.*)`,
			Operations: map[logical.Operation]framework.Handler{
				logical.UpdateOperation: framework.Typed(b.deleteVersions),
			},
			Synopsis: "Soft-delete versions of a secret.",
		},
		{
			Pattern: `undelete/(?P<path>.*)`,
			Operations: map[logical.Operation]framework.Handler{
				logical.UpdateOperation: framework.Typed(b.undeleteVersions),
			},
			Synopsis: "Restore soft-deleted versions of a secret.",
		},
		{
			Pattern: `destroy/(?P<path>.*)`,
			Operations: map[logical.Operation]framework.Handler{
				logical.UpdateOperation: framework.Typed(b.destroyVersions),
			},
			Synopsis: "Permanently remove the data of versions of a secret.",
		},
		{
			Pattern: `subkeys/(?P<path>.*)`,
			Operations: map[logical.Operation]framework.Handler{
				logical.ReadOperation: b.readSubkeys,
			},
			Synopsis: "Read the structure of a secret without its values.",
		},
	}
	b.Paths = append(b.Paths, b.lifecyclePaths()...)
	b.Paths = append(b.Paths, b.rotationPaths()...)
	return b, b.Compile()
}

// lock takes the writer lock for path p and returns its unlock.
func (b *backendV2) lock(p string) func() {
	mu := &b.locks[maphash.String(b.seed, p)%lockStripes]
	mu.Lock()
	return mu.Unlock
}

func (b *backendV2) now() int64 { return b.clock.Now().UnixNano() }

func (b *backendV2) readConfig(ctx context.Context, _ *logical.Request, _ *framework.Match) (*logical.Response, error) {
	c, err := loadConfig(ctx, b.storage)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: &configResponse{
		CASRequired:            c.CASRequired,
		DeleteVersionAfter:     framework.Duration(c.DeleteVersionAfter),
		MaxVersions:            c.MaxVersions,
		mountLifeResponse:      newMountLifeResponse(c),
		rotationConfigResponse: newRotationConfigResponse(c),
	}}, nil
}

// settingsInput is the body of config and metadata writes; only the fields
// present change.
type settingsInput struct {
	MaxVersions        *framework.Int      `json:"max_versions"`
	CASRequired        *framework.Bool     `json:"cas_required"`
	DeleteVersionAfter *framework.Duration `json:"delete_version_after"`
}

func (in *settingsInput) check() error {
	if in.MaxVersions != nil && (*in.MaxVersions < 0 || *in.MaxVersions > 1<<30) {
		return logical.InvalidRequest("invalid value for \"max_versions\": want a non-negative integer")
	}
	return nil
}

// configLock names the stripe that serialises config writes. Secret paths
// cannot contain a NUL byte, so it is never a secret path; sharing a stripe
// with some key only makes the two wait for each other.
const configLock = "\x00config"

func (b *backendV2) writeConfig(ctx context.Context, _ *logical.Request, _ *framework.Match, in *configInput) (*logical.Response, error) {
	if err := in.check(); err != nil {
		return nil, err
	}
	if err := in.checkMountLife(); err != nil {
		return nil, err
	}
	defer b.lock(configLock)()
	c, err := loadConfig(ctx, b.storage)
	if err != nil {
		return nil, err
	}
	if in.MaxVersions != nil {
		c.MaxVersions = int(*in.MaxVersions)
	}
	if in.CASRequired != nil {
		c.CASRequired = bool(*in.CASRequired)
	}
	if in.DeleteVersionAfter != nil {
		c.DeleteVersionAfter = durationOf(*in.DeleteVersionAfter)
	}
	in.applyMountLife(c)
	if err := in.applyRotationConfig(c); err != nil {
		return nil, err
	}
	op, err := putOp(configKey, c)
	if err != nil {
		return nil, err
	}
	if err := b.storage.Txn(ctx, []logical.TxnOp{op}); err != nil {
		return nil, err
	}
	b.send(ctx, eventConfigWrite, "config", "", nil)
	return nil, nil
}

package core

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// The operator utility endpoints Vault users script against:
//
//   - sys/tools/random and sys/tools/hash: random bytes and digests, the
//     same code as transit's random and hash ([framework.ToolPaths]).
//   - sys/config/state/sanitized (sudo): the running configuration
//     without secrets, as [Options].SanitizedConfig holds it.
//   - sys/in-flight-req (sudo): the requests the HTTP layer is serving,
//     from [Options].InFlight, answered as Vault does (a bare JSON object
//     keyed by request ID, no envelope).
//   - sys/version-history: every Coffer version that has unsealed this
//     storage, with when it first did, recorded behind the barrier at
//     versionsPrefix by the active node at unseal.

// versionsPrefix holds one entry per Coffer version that unsealed the
// storage, keyed by version.
const versionsPrefix = "core/versions/"

// InFlightRequest is one request the HTTP layer is serving, in the shape
// of sys/in-flight-req.
type InFlightRequest struct {
	StartTime           time.Time `json:"start_time"`
	ClientRemoteAddress string    `json:"client_remote_address"`
	RequestPath         string    `json:"request_path"`
	RequestMethod       string    `json:"request_method"`
	ClientID            string    `json:"client_id"`
}

func (c *Core) operatorPaths() []*framework.Path {
	paths := framework.ToolPaths("tools/")
	return append(paths,
		&framework.Path{
			Pattern:    `config/state/sanitized`,
			Operations: map[logical.Operation]framework.Handler{logical.ReadOperation: c.sysSanitizedConfig},
			Synopsis:   "Show the running configuration without secrets.",
		},
		&framework.Path{
			Pattern:    `in-flight-req`,
			Operations: map[logical.Operation]framework.Handler{logical.ReadOperation: c.sysInFlight},
			Synopsis:   "List the requests being served.",
		},
		&framework.Path{
			Pattern:    `version-history/?`,
			Operations: map[logical.Operation]framework.Handler{logical.ListOperation: c.sysVersionHistory},
			Synopsis:   "List the Coffer versions that have run on this storage.",
		},
	)
}

func (c *Core) sysSanitizedConfig(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	if c.opts.SanitizedConfig == nil {
		return &logical.Response{Data: struct{}{}}, nil
	}
	return &logical.Response{Data: c.opts.SanitizedConfig}, nil
}

func (c *Core) sysInFlight(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	reqs := map[string]InFlightRequest{}
	if c.opts.InFlight != nil {
		reqs = c.opts.InFlight()
	}
	body, err := json.Marshal(reqs)
	if err != nil {
		return nil, fmt.Errorf("encode in-flight requests: %w", err)
	}
	return &logical.Response{Raw: &logical.RawResponse{ContentType: "application/json", Body: body}}, nil
}

// versionRecord is what versionsPrefix holds for one version.
type versionRecord struct {
	TimestampInstalled time.Time `json:"timestamp_installed"`
}

// versionInfo is one key_info entry of sys/version-history.
type versionInfo struct {
	BuildDate          *string `json:"build_date"` // Coffer records none
	PreviousVersion    *string `json:"previous_version"`
	TimestampInstalled string  `json:"timestamp_installed"`
}

// versionHistory is the data of sys/version-history.
type versionHistory struct {
	Keys    []string               `json:"keys"`
	KeyInfo map[string]versionInfo `json:"key_info"`
}

func (c *Core) sysVersionHistory(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	versions, err := c.versions(ctx)
	if err != nil {
		return nil, err
	}
	out := versionHistory{KeyInfo: map[string]versionInfo{}}
	for i, v := range versions {
		info := versionInfo{TimestampInstalled: v.at.Format(time.RFC3339)}
		if i > 0 {
			info.PreviousVersion = &versions[i-1].version
		}
		out.Keys = append(out.Keys, v.version)
		out.KeyInfo[v.version] = info
	}
	return &logical.Response{Data: &out}, nil
}

type installedVersion struct {
	version string
	at      time.Time
}

// versions returns the recorded versions, oldest installation first.
func (c *Core) versions(ctx context.Context) ([]installedVersion, error) {
	names, err := c.barrier.List(ctx, versionsPrefix)
	if err != nil {
		return nil, fmt.Errorf("list versions: %w", err)
	}
	var out []installedVersion
	for _, name := range names {
		if strings.HasSuffix(name, "/") {
			continue
		}
		e, err := c.barrier.Get(ctx, versionsPrefix+name)
		if err != nil {
			return nil, fmt.Errorf("read version %s: %w", name, err)
		}
		if e == nil {
			continue
		}
		var r versionRecord
		if err := json.Unmarshal(e.Value, &r); err != nil {
			return nil, fmt.Errorf("decode version %s: %w", name, err)
		}
		out = append(out, installedVersion{version: name, at: r.TimestampInstalled})
	}
	slices.SortFunc(out, func(a, b installedVersion) int {
		return cmp.Or(a.at.Compare(b.at), strings.Compare(a.version, b.version))
	})
	return out, nil
}

// recordVersion notes, on the active node's unseal, the first time this
// Coffer version runs on the storage.
func (c *Core) recordVersion(ctx context.Context) error {
	v := c.opts.Version
	if v == "" || strings.Contains(v, "/") {
		return nil
	}
	key := versionsPrefix + v
	e, err := c.barrier.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("read version record: %w", err)
	}
	if e != nil {
		return nil
	}
	b, err := json.Marshal(versionRecord{TimestampInstalled: c.now().Truncate(time.Second)})
	if err != nil {
		return fmt.Errorf("encode version record: %w", err)
	}
	if err := c.barrier.Put(ctx, storageEntry(key, b)); err != nil {
		return fmt.Errorf("write version record: %w", err)
	}
	c.logger.Info("recorded a new Coffer version for this storage", "version", v)
	return nil
}

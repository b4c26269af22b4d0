// Package operator serves the operator utility endpoints Vault users
// script against:
//
//   - sys/tools/random and sys/tools/hash: random bytes and digests, the
//     same code as transit's random and hash ([framework.ToolPaths]).
//   - sys/config/state/sanitized (sudo): the running configuration
//     without secrets, as [Options].SanitizedConfig holds it.
//   - sys/in-flight-req (sudo): the requests the HTTP layer is serving,
//     from [Options].InFlight, answered as Vault does (a bare JSON object
//     keyed by request ID, no envelope).
//   - sys/version-history: every Coffer version that has unsealed this
//     storage, with when it first did, recorded behind the barrier by
//     [Operator.RecordVersion] on the active node at unseal.
//
// The package reaches the server only through [Storage] (behind the
// barrier) and the values in [Options]; it imports no core package. An
// [Operator] is safe for concurrent use.
package operator

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/storage"
)

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

// Storage is the storage behind the barrier, where versions are recorded.
type Storage interface {
	Get(ctx context.Context, key string) (*storage.Entry, error)
	Put(ctx context.Context, e *storage.Entry) error
	List(ctx context.Context, prefix string) ([]string, error)
}

// Options configures [New].
type Options struct {
	// Storage is behind the barrier; required.
	Storage Storage
	// Clock tells the time; nil means the system clock.
	Clock logical.Clock
	// Logger receives a line when a new version is recorded; nil discards.
	Logger *slog.Logger
	// Version is this server's version, recorded at unseal; "" records
	// nothing.
	Version string
	// SanitizedConfig is served as is (JSON); nil serves an empty object.
	SanitizedConfig any
	// InFlight, when set, lists the requests being served, by request ID.
	InFlight func() map[string]InFlightRequest
}

// Operator serves the operator utility endpoints.
type Operator struct {
	opts Options
}

// New returns an Operator; it does no I/O.
func New(opts Options) *Operator {
	if opts.Clock == nil {
		opts.Clock = logical.SystemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Operator{opts: opts}
}

// Paths are the endpoints, relative to sys/.
func (o *Operator) Paths() []*framework.Path {
	paths := framework.ToolPaths("tools/")
	return append(paths,
		&framework.Path{
			Pattern:    `config/state/sanitized`,
			Operations: map[logical.Operation]framework.Handler{logical.ReadOperation: o.sanitizedConfig},
			Synopsis:   "Show the running configuration without secrets.",
		},
		&framework.Path{
			Pattern:    `in-flight-req`,
			Operations: map[logical.Operation]framework.Handler{logical.ReadOperation: o.inFlight},
			Synopsis:   "List the requests being served.",
		},
		&framework.Path{
			Pattern:    `version-history/?`,
			Operations: map[logical.Operation]framework.Handler{logical.ListOperation: o.versionHistory},
			Synopsis:   "List the Coffer versions that have run on this storage.",
		},
	)
}

func (o *Operator) sanitizedConfig(context.Context, *logical.Request, *framework.Match) (*logical.Response, error) {
	if o.opts.SanitizedConfig == nil {
		return &logical.Response{Data: struct{}{}}, nil
	}
	return &logical.Response{Data: o.opts.SanitizedConfig}, nil
}

func (o *Operator) inFlight(context.Context, *logical.Request, *framework.Match) (*logical.Response, error) {
	reqs := map[string]InFlightRequest{}
	if o.opts.InFlight != nil {
		reqs = o.opts.InFlight()
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

func (o *Operator) versionHistory(ctx context.Context, _ *logical.Request, _ *framework.Match) (*logical.Response, error) {
	versions, err := o.versions(ctx)
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
func (o *Operator) versions(ctx context.Context) ([]installedVersion, error) {
	names, err := o.opts.Storage.List(ctx, versionsPrefix)
	if err != nil {
		return nil, fmt.Errorf("list versions: %w", err)
	}
	var out []installedVersion
	for _, name := range names {
		if strings.HasSuffix(name, "/") {
			continue
		}
		e, err := o.opts.Storage.Get(ctx, versionsPrefix+name)
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

// RecordVersion notes the first time this Coffer version runs on the
// storage; the active node calls it at unseal. A version already recorded
// keeps its first time.
func (o *Operator) RecordVersion(ctx context.Context) error {
	v := o.opts.Version
	if v == "" || strings.Contains(v, "/") {
		return nil
	}
	key := versionsPrefix + v
	e, err := o.opts.Storage.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("read version record: %w", err)
	}
	if e != nil {
		return nil
	}
	b, err := json.Marshal(versionRecord{TimestampInstalled: o.opts.Clock.Now().UTC().Truncate(time.Second)})
	if err != nil {
		return fmt.Errorf("encode version record: %w", err)
	}
	if err := o.opts.Storage.Put(ctx, &storage.Entry{Key: key, Value: b}); err != nil {
		return fmt.Errorf("write version record: %w", err)
	}
	o.opts.Logger.Info("recorded a new Coffer version for this storage", "version", v)
	return nil
}

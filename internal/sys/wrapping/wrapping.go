// Package wrapping is response wrapping: a response stored in the
// cubbyhole of a new single-use token (the wrapping token) instead of
// being sent, and sys/wrapping/wrap, lookup, unwrap and rewrap.
//
// The request pipeline serves lookup, unwrap and rewrap through
// [Wrapper.Handle] rather than through the permission check, because the
// wrapping token in the request is the credential. The package reaches
// the token store through the [Tokens] interface it declares and imports
// no core package. A [Wrapper] is safe for concurrent use.
package wrapping

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/storage"
	"github.com/coffer-secrets/coffer/internal/token"
)

// Policy marks response-wrapping tokens. No stored policy has this name,
// so such a token can do nothing but be unwrapped or looked up.
const Policy = "response-wrapping"

// responseKey is where a wrapped response lives in its token's cubbyhole.
const responseKey = "response"

// metaCreationPath is the wrapping token's metadata key for the path whose
// response it wraps.
const metaCreationPath = "creation_path"

// Info describes a wrapped response, in Vault's wrap_info shape.
type Info struct {
	Token           string `json:"token"`
	Accessor        string `json:"accessor"`
	TTL             int64  `json:"ttl"`
	CreationTime    string `json:"creation_time"`
	CreationPath    string `json:"creation_path"`
	WrappedAccessor string `json:"wrapped_accessor,omitempty"`
}

// Tokens is the part of the token store wrapping uses; [token.Store]
// implements it.
type Tokens interface {
	Create(ctx context.Context, id token.ID, e *token.Entry, now time.Time) (token.ID, string, error)
	Lookup(ctx context.Context, id token.ID, now time.Time) (*token.Entry, string, error)
	Use(ctx context.Context, hash string) (last bool, err error)
	Revoke(ctx context.Context, hash string) error
}

// Options configures a [Wrapper].
type Options struct {
	Tokens Tokens
	// Storage is the barrier, where the cubbyholes live.
	Storage storage.Storage
	// Cubbyhole returns the storage prefix of the cubbyhole mount, ""
	// while there is none.
	Cubbyhole func() string
	// MaxTTL is the server's maximum lease TTL, which bounds a wrapping
	// token's.
	MaxTTL time.Duration
	Clock  logical.Clock
	Logger *slog.Logger
}

// Wrapper wraps and unwraps responses.
type Wrapper struct {
	opts Options
}

// New returns a Wrapper. It does no I/O.
func New(opts Options) *Wrapper { return &Wrapper{opts: opts} }

func (w *Wrapper) now() time.Time { return w.opts.Clock.Now().UTC() }

// Wrap stores body (a complete response envelope) in the cubbyhole of a
// new single-use token that lives for ttl, and returns the wrapping
// information for the client. The caller holds the server unsealed.
func (w *Wrapper) Wrap(ctx context.Context, body []byte, ttl time.Duration, creationPath, wrappedAccessor string) (*Info, error) {
	if ttl <= 0 {
		return nil, logical.InvalidRequest("wrapping TTL must be positive")
	}
	if ttl > w.opts.MaxTTL {
		return nil, logical.InvalidRequest("wrapping TTL %s is above the server's maximum %s", ttl, w.opts.MaxTTL)
	}
	prefix := w.opts.Cubbyhole()
	if prefix == "" {
		return nil, logical.InvalidRequest("response wrapping needs the cubbyhole mount")
	}
	now := w.now()
	e := &token.Entry{
		Policies:    []string{Policy},
		DisplayName: "response-wrapping",
		Path:        "sys/wrapping/wrap",
		Meta:        map[string]string{metaCreationPath: creationPath},
		TTL:         ttl,
		NumUses:     1,
		Type:        token.TypeService,
	}
	id, hash, err := w.opts.Tokens.Create(ctx, "", e, now)
	if err != nil {
		return nil, err
	}
	if err := w.opts.Storage.Put(ctx, &storage.Entry{Key: prefix + hash + "/" + responseKey, Value: body}); err != nil {
		w.opts.Tokens.Revoke(context.WithoutCancel(ctx), hash)
		return nil, err
	}
	return &Info{
		Token:           string(id),
		Accessor:        e.Accessor,
		TTL:             int64(ttl / time.Second),
		CreationTime:    now.Format(time.RFC3339Nano),
		CreationPath:    creationPath,
		WrappedAccessor: wrappedAccessor,
	}, nil
}

// wrappingToken finds a live wrapping token.
func (w *Wrapper) wrappingToken(ctx context.Context, id string) (*token.Entry, string, error) {
	if id == "" {
		return nil, "", logical.InvalidRequest("missing wrapping token")
	}
	e, hash, err := w.opts.Tokens.Lookup(ctx, token.ID(id), w.now())
	if err != nil {
		return nil, "", err
	}
	if e == nil || hash == "" || len(e.Policies) != 1 || e.Policies[0] != Policy {
		return nil, "", logical.InvalidRequest("wrapping token is not valid or does not exist")
	}
	return e, hash, nil
}

// unwrap consumes a wrapping token and returns the response it holds. The
// token's single use makes a second unwrap fail, even a concurrent one.
func (w *Wrapper) unwrap(ctx context.Context, id string) ([]byte, error) {
	_, hash, err := w.wrappingToken(ctx, id)
	if err != nil {
		return nil, err
	}
	if _, err := w.opts.Tokens.Use(ctx, hash); err != nil {
		return nil, logical.InvalidRequest("wrapping token is not valid or does not exist")
	}
	se, err := w.opts.Storage.Get(ctx, w.opts.Cubbyhole()+hash+"/"+responseKey)
	if err != nil {
		return nil, err
	}
	// Revoking the token deletes its cubbyhole, and the response with it.
	if rerr := w.opts.Tokens.Revoke(context.WithoutCancel(ctx), hash); rerr != nil {
		w.opts.Logger.Error("revoke a used wrapping token", "err", rerr)
	}
	if se == nil {
		return nil, logical.InvalidRequest("wrapping token holds no response")
	}
	return se.Value, nil
}

type tokenInput struct {
	Token string `json:"token"`
}

// Handle serves sys/wrapping/lookup, unwrap and rewrap (req.Path is the
// full request path): the response, or for rewrap the new wrapping
// information. The wrapping token comes in the body, the query or, for
// unwrap and rewrap, as the request's own token, clientToken.
func (w *Wrapper) Handle(ctx context.Context, req *logical.Request, clientToken string) (*logical.Response, *Info, error) {
	var in tokenInput
	if err := framework.DecodeBody(req.Body, &in); err != nil {
		return nil, nil, err
	}
	if in.Token == "" && req.Query != nil {
		in.Token = req.Query.Get("token")
	}
	if in.Token == "" && req.Path != "sys/wrapping/lookup" {
		in.Token = clientToken
	}
	switch req.Path {
	case "sys/wrapping/lookup":
		e, _, err := w.wrappingToken(ctx, in.Token)
		if err != nil {
			return nil, nil, err
		}
		return &logical.Response{Data: map[string]any{
			"creation_path": e.Meta[metaCreationPath],
			"creation_time": e.CreationTime.Format(time.RFC3339Nano),
			"creation_ttl":  int64(e.CreationTTL / time.Second),
		}}, nil, nil
	case "sys/wrapping/unwrap":
		body, err := w.unwrap(ctx, in.Token)
		if err != nil {
			return nil, nil, err
		}
		return &logical.Response{Raw: &logical.RawResponse{ContentType: "application/json", Body: body}}, nil, nil
	default: // rewrap
		e, _, err := w.wrappingToken(ctx, in.Token)
		if err != nil {
			return nil, nil, err
		}
		creationPath := e.Meta[metaCreationPath]
		body, err := w.unwrap(ctx, in.Token)
		if err != nil {
			return nil, nil, err
		}
		info, err := w.Wrap(ctx, body, e.CreationTTL, creationPath, "")
		if err != nil {
			return nil, nil, err
		}
		return nil, info, nil
	}
}

// Paths serves sys/wrapping/wrap: wrap the request's own data.
func (w *Wrapper) Paths() []*framework.Path {
	return []*framework.Path{{
		Pattern:    `wrapping/wrap`,
		Operations: map[logical.Operation]framework.Handler{logical.UpdateOperation: wrap},
		Synopsis:   "Wrap the request's data in a single-use token.",
	}}
}

func wrap(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	if len(req.Body) == 0 {
		return nil, logical.InvalidRequest("missing data to wrap")
	}
	var data map[string]json.RawMessage
	if err := json.Unmarshal(req.Body, &data); err != nil {
		return nil, logical.InvalidRequest("the data to wrap must be a JSON object")
	}
	// The response to wrap is the data itself; the HTTP layer wraps it
	// because the request carries a wrap TTL (required for this path).
	return &logical.Response{Data: json.RawMessage(req.Body)}, nil
}

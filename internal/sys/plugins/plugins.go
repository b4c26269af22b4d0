// Package plugins serves Vault's plugin catalog, sys/plugins/catalog.
// Coffer runs built-in engines and auth methods only, so the catalog
// lists those (in Vault's shapes, as built-in plugins) and refuses to
// register anything else. It imports no core package.
package plugins

import (
	"context"
	"slices"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// Catalog is the built-in plugins by type: the names of the factories the
// server hands core, and of the database plugins. The slices are not
// changed after [Catalog.Paths]; their order does not matter.
type Catalog struct {
	Auth     []string
	Secret   []string
	Database []string
	// Version is the server's version.
	Version string
}

// types are the catalog's plugin types, in Vault's words, in the order
// they are listed.
func types() []string { return []string{"auth", "database", "secret"} }

// pluginDetail is one plugin as the catalog reports it.
type pluginDetail struct {
	Type              string `json:"type"`
	Name              string `json:"name"`
	Version           string `json:"version"`
	Builtin           bool   `json:"builtin"`
	DeprecationStatus string `json:"deprecation_status"`
}

// pluginOutput is sys/plugins/catalog/:type/:name's answer.
type pluginOutput struct {
	Name              string   `json:"name"`
	Args              []string `json:"args"`
	Builtin           bool     `json:"builtin"`
	Command           string   `json:"command"`
	SHA256            string   `json:"sha256"`
	Version           string   `json:"version"`
	DeprecationStatus string   `json:"deprecation_status"`
}

// pluginNames returns the sorted names of the built-in plugins of typ
// ("auth", "database" or "secret"); nil for another type.
func (c *Catalog) names(typ string) []string {
	var names []string
	switch typ {
	case "auth":
		names = slices.Clone(c.Auth)
	case "secret":
		names = slices.Clone(c.Secret)
	case "database":
		names = slices.Clone(c.Database)
	default:
		return nil
	}
	slices.Sort(names)
	return names
}

// version is the version the catalog reports for every built-in
// plugin: Coffer's own, marked built in, as Vault does ("v1.2.3+builtin").
func (c *Catalog) version() string {
	return "v" + strings.TrimPrefix(c.Version, "v") + "+builtin"
}

// Paths returns sys/plugins/catalog*, relative to sys/, in match order.
func (c *Catalog) Paths() []*framework.Path {
	return []*framework.Path{
		{
			Pattern:    `plugins/catalog/?`,
			Operations: map[logical.Operation]framework.Handler{logical.ReadOperation: c.catalog},
			Synopsis:   "List the plugins in the catalog: Coffer's built-in engines and auth methods.",
		},
		{
			// A list names a type; a read, Vault's older form, a plugin of
			// any type.
			Pattern: `plugins/catalog/(?P<name>[^/]+)/?`,
			Operations: map[logical.Operation]framework.Handler{
				logical.ListOperation:   c.list,
				logical.ReadOperation:   c.read,
				logical.UpdateOperation: c.register,
				logical.DeleteOperation: c.register,
			},
			Synopsis: "List the plugins of one type, or read a plugin by name.",
		},
		{
			Pattern: `plugins/catalog/(?P<type>[^/]+)/(?P<name>[^/]+)`,
			Operations: map[logical.Operation]framework.Handler{
				logical.ReadOperation:   c.read,
				logical.UpdateOperation: c.register,
				logical.DeleteOperation: c.register,
			},
			Synopsis: "Read a plugin; registering or removing one is refused.",
		},
	}
}

func (c *Catalog) catalog(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	data := map[string]any{}
	detailed := []pluginDetail{}
	for _, typ := range types() {
		names := c.names(typ)
		data[typ] = names
		for _, n := range names {
			detailed = append(detailed, pluginDetail{Type: typ, Name: n, Version: c.version(), Builtin: true, DeprecationStatus: "supported"})
		}
	}
	data["detailed"] = detailed
	return &logical.Response{Data: data}, nil
}

func (c *Catalog) list(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	typ := m.Get("name")
	if !slices.Contains(types(), typ) {
		return nil, logical.InvalidRequest("%q is not a supported plugin type", typ)
	}
	return framework.ListResponse(c.names(typ))
}

func (c *Catalog) read(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	typ, name := m.Get("type"), m.Get("name")
	ts := types()
	if typ != "" {
		if !slices.Contains(types(), typ) {
			return nil, logical.InvalidRequest("%q is not a supported plugin type", typ)
		}
		ts = []string{typ}
	}
	for _, t := range ts {
		if slices.Contains(c.names(t), name) {
			return &logical.Response{Data: pluginOutput{
				Name: name, Args: []string{}, Builtin: true, Version: c.version(), DeprecationStatus: "supported",
			}}, nil
		}
	}
	return nil, nil // 404, as Vault answers for a plugin it does not know
}

func (c *Catalog) register(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	return nil, logical.InvalidRequest("Coffer has no external plugins: its secrets engines, auth methods and database plugins are built in, and the catalog cannot be changed")
}

package core

import (
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// The plugin catalog: Coffer runs built-in engines and auth methods only,
// so sys/plugins/catalog lists those (in Vault's shapes, as built-in
// plugins) and refuses to register anything else. The names come from the
// factories the server hands core ([Options.Engines], [Options.AuthMethods])
// and from [Options.DatabasePlugins].

// pluginTypes are the catalog's plugin types, in Vault's words.
var pluginTypes = []string{"auth", "database", "secret"}

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
func (c *Core) pluginNames(typ string) []string {
	var names []string
	switch typ {
	case "auth":
		names = slices.Collect(maps.Keys(c.opts.AuthMethods))
	case "secret":
		// cubbyhole is core's own mount, not something to enable.
		names = slices.DeleteFunc(slices.Collect(maps.Keys(c.opts.Engines)), func(n string) bool { return n == "cubbyhole" })
	case "database":
		names = slices.Clone(c.opts.DatabasePlugins)
	default:
		return nil
	}
	slices.Sort(names)
	return names
}

// pluginVersion is the version the catalog reports for every built-in
// plugin: Coffer's own, marked built in, as Vault does ("v1.2.3+builtin").
func (c *Core) pluginVersion() string {
	return "v" + strings.TrimPrefix(c.opts.Version, "v") + "+builtin"
}

func (c *Core) pluginPaths() []*framework.Path {
	return []*framework.Path{
		{
			Pattern:    `plugins/catalog/?`,
			Operations: map[logical.Operation]framework.Handler{logical.ReadOperation: c.sysPluginCatalog},
			Synopsis:   "List the plugins in the catalog: Coffer's built-in engines and auth methods.",
		},
		{
			// A list names a type; a read, Vault's older form, a plugin of
			// any type.
			Pattern: `plugins/catalog/(?P<name>[^/]+)/?`,
			Operations: map[logical.Operation]framework.Handler{
				logical.ListOperation:   c.sysPluginList,
				logical.ReadOperation:   c.sysPluginRead,
				logical.UpdateOperation: c.sysPluginRegister,
				logical.DeleteOperation: c.sysPluginRegister,
			},
			Synopsis: "List the plugins of one type, or read a plugin by name.",
		},
		{
			Pattern: `plugins/catalog/(?P<type>[^/]+)/(?P<name>[^/]+)`,
			Operations: map[logical.Operation]framework.Handler{
				logical.ReadOperation:   c.sysPluginRead,
				logical.UpdateOperation: c.sysPluginRegister,
				logical.DeleteOperation: c.sysPluginRegister,
			},
			Synopsis: "Read a plugin; registering or removing one is refused.",
		},
	}
}

func (c *Core) sysPluginCatalog(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	data := map[string]any{}
	detailed := []pluginDetail{}
	for _, typ := range pluginTypes {
		names := c.pluginNames(typ)
		data[typ] = names
		for _, n := range names {
			detailed = append(detailed, pluginDetail{Type: typ, Name: n, Version: c.pluginVersion(), Builtin: true, DeprecationStatus: "supported"})
		}
	}
	data["detailed"] = detailed
	return &logical.Response{Data: data}, nil
}

func (c *Core) sysPluginList(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	typ := m.Get("name")
	if !slices.Contains(pluginTypes, typ) {
		return nil, logical.InvalidRequest("%q is not a supported plugin type", typ)
	}
	return framework.ListResponse(c.pluginNames(typ))
}

func (c *Core) sysPluginRead(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	typ, name := m.Get("type"), m.Get("name")
	types := pluginTypes
	if typ != "" {
		if !slices.Contains(pluginTypes, typ) {
			return nil, logical.InvalidRequest("%q is not a supported plugin type", typ)
		}
		types = []string{typ}
	}
	for _, t := range types {
		if slices.Contains(c.pluginNames(t), name) {
			return &logical.Response{Data: pluginOutput{
				Name: name, Args: []string{}, Builtin: true, Version: c.pluginVersion(), DeprecationStatus: "supported",
			}}, nil
		}
	}
	return nil, nil // 404, as Vault answers for a plugin it does not know
}

func (c *Core) sysPluginRegister(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	return nil, logical.InvalidRequest("Coffer has no external plugins: its secrets engines, auth methods and database plugins are built in, and the catalog cannot be changed")
}

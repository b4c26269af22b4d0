package httpapi

import (
	"net/http"
	"strings"

	"github.com/coffer-secrets/coffer/internal/core"
	"github.com/coffer-secrets/coffer/internal/logical"
)

// isHelp reports whether r asks for path-help: the HELP method or a
// non-empty help query parameter (the official client sends help=1), as
// Vault recognises it.
func isHelp(r *http.Request) bool {
	return r.Method == "HELP" || r.URL.Query().Get("help") != ""
}

// helpOutput is Vault's path-help answer: the text, related paths (none
// here) and an OpenAPI document of the matching paths.
type helpOutput struct {
	Help    string   `json:"help"`
	SeeAlso []string `json:"see_also"`
	OpenAPI *openAPI `json:"openapi"`
}

// openAPI is the small OpenAPI 3 document a help answer carries: each
// described path with its summary, path parameters and operations.
type openAPI struct {
	Version string                  `json:"openapi"`
	Info    openAPIInfo             `json:"info"`
	Paths   map[string]*openAPIPath `json:"paths"`
}

type openAPIInfo struct {
	Title   string `json:"title"`
	Version string `json:"version"`
}

type openAPIPath struct {
	Description string             `json:"description,omitempty"`
	Parameters  []openAPIParameter `json:"parameters,omitempty"`
	// Operations are the Vault operations the path serves ("read",
	// "update", ...), which map onto HTTP methods as for any request.
	Operations []logical.Operation `json:"x-coffer-operations,omitempty"`
}

type openAPIParameter struct {
	Name     string            `json:"name"`
	In       string            `json:"in"`
	Required bool              `json:"required"`
	Schema   map[string]string `json:"schema"`
}

// handleHelp answers path-help for path.
func (h *Handler) handleHelp(w http.ResponseWriter, r *http.Request, reqID, path string) {
	req := &core.Request{
		Request:     &logical.Request{ID: reqID, Path: path, Connection: h.clientConnection(r)},
		ClientToken: clientToken(r),
	}
	help, mount, err := h.core.Help(r.Context(), req)
	if err != nil {
		h.writeError(w, r, reqID, err)
		return
	}
	doc := &openAPI{Version: "3.0.2", Info: openAPIInfo{Title: "Coffer API", Version: "1"}, Paths: map[string]*openAPIPath{}}
	for _, p := range help.Paths {
		op := &openAPIPath{Description: p.Synopsis, Operations: p.Operations}
		for _, c := range p.Captures {
			op.Parameters = append(op.Parameters, openAPIParameter{Name: c, In: "path", Required: true, Schema: map[string]string{"type": "string"}})
		}
		doc.Paths["/"+mount+pathTemplate(p.Pattern)] = op
	}
	h.writeJSON(w, http.StatusOK, helpOutput{Help: help.Text, SeeAlso: []string{}, OpenAPI: doc})
}

// pathTemplate turns a path table pattern into an OpenAPI path template:
// each named group becomes {name}, and a trailing optional slash is
// dropped ("keys/(?P<name>[^/]+)/rotate" becomes "keys/{name}/rotate").
// Other regular expression syntax is kept as it is.
func pathTemplate(pattern string) string {
	var sb strings.Builder
	for i := 0; i < len(pattern); i++ {
		rest := pattern[i:]
		if !strings.HasPrefix(rest, "(?P<") {
			sb.WriteByte(pattern[i])
			if pattern[i] == '\\' && i+1 < len(pattern) {
				i++
				sb.WriteByte(pattern[i])
			}
			continue
		}
		name, _, ok := strings.Cut(rest[len("(?P<"):], ">")
		end := groupEnd(pattern, i)
		if !ok || end < 0 {
			sb.WriteString(rest)
			break
		}
		sb.WriteString("{" + name + "}")
		i = end
	}
	return strings.TrimSuffix(sb.String(), "/?")
}

// groupEnd returns the index of the parenthesis closing the group that
// opens at start, or -1.
func groupEnd(pattern string, start int) int {
	depth := 0
	inClass := false
	for i := start; i < len(pattern); i++ {
		switch c := pattern[i]; {
		case c == '\\':
			i++
		case inClass:
			inClass = c != ']'
		case c == '[':
			inClass = true
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

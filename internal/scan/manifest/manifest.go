// Package manifest reads the values of Kubernetes Secrets out of YAML or
// JSON manifests: multi-document files, and List objects such as the output
// of `kubectl get secrets -A -o yaml`. A Secret's data values are
// base64-decoded; stringData values are taken as they are. YAML aliases
// (*name) and merge keys (<<: *name) are resolved.
//
// It imports the standard library and gopkg.in/yaml.v3 only, keeps no
// state, and is safe for concurrent use.
package manifest

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	"gopkg.in/yaml.v3"
)

// Value is one key of a Secret.
type Value struct {
	// Namespace and Name are the Secret's metadata (Namespace may be empty).
	Namespace, Name string
	// Key is the key under data or stringData.
	Key string
	// Value is the decoded value.
	Value []byte
	// Line is the 1-based line of the key in the input.
	Line int
	// StringData says the value came from stringData, not data.
	StringData bool
	// Problem, when not empty, says why the key's value could not be read
	// (a data value that is not base64, a value that is not a string);
	// Value is then nil. It never holds the value.
	Problem string
}

// maxDocuments bounds the documents read from one input.
const maxDocuments = 10000

// maxValues bounds the values returned for one input: aliases and merge
// keys can make a small input name a great many.
const maxValues = 100000

// maxDepth bounds the nesting of Lists, aliases and merge keys followed.
const maxDepth = 8

// Secrets returns the values of every Secret in data, in the order they
// appear. Objects of other kinds are skipped. A key whose value cannot be
// read (data that is not valid base64, a value that is not a string) is
// returned with [Value.Problem] set. An input that is not YAML returns an
// error along with the values found before the bad document.
func Secrets(data []byte) ([]Value, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []Value
	for range maxDocuments {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("parse manifest: %w", err)
		}
		if len(doc.Content) == 0 {
			continue
		}
		out = appendObject(out, resolve(doc.Content[0]), 0)
	}
	return out, nil
}

// appendObject appends the values of n when it is a Secret, or of the
// items of n when it is a List.
func appendObject(out []Value, n *yaml.Node, depth int) []Value {
	if n == nil || n.Kind != yaml.MappingNode || depth > maxDepth {
		return out
	}
	kind := scalar(field(n, "kind"))
	switch {
	case kind == "Secret":
		meta := field(n, "metadata")
		ns, name := scalar(field(meta, "namespace")), scalar(field(meta, "name"))
		out = appendValues(out, field(n, "data"), ns, name, false, 0)
		out = appendValues(out, field(n, "stringData"), ns, name, true, 0)
	case strings.HasSuffix(kind, "List"):
		if items := field(n, "items"); items != nil && items.Kind == yaml.SequenceNode {
			for _, it := range items.Content {
				out = appendObject(out, resolve(it), depth+1)
			}
		}
	}
	return out
}

// appendValues appends the keys of the data (or stringData) mapping m:
// first those merged in by merge keys, then its own, so that a later
// value of a key overrides an earlier one as YAML's merge rule has it.
func appendValues(out []Value, m *yaml.Node, ns, name string, stringData bool, depth int) []Value {
	if m == nil || m.Kind != yaml.MappingNode || depth > maxDepth || len(out) >= maxValues {
		return out
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if !isMerge(m.Content[i]) {
			continue
		}
		switch v := resolve(m.Content[i+1]); {
		case v == nil:
		case v.Kind == yaml.SequenceNode:
			for _, it := range v.Content {
				out = appendValues(out, resolve(it), ns, name, stringData, depth+1)
			}
		default:
			out = appendValues(out, v, ns, name, stringData, depth+1)
		}
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], resolve(m.Content[i+1])
		if isMerge(k) {
			continue
		}
		val := Value{Namespace: ns, Name: name, Key: k.Value, Line: k.Line, StringData: stringData}
		switch {
		case v == nil || v.Kind != yaml.ScalarNode:
			val.Problem = "the value is not a string"
		case stringData:
			val.Value = []byte(v.Value)
		default:
			d, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(v.Value), ""))
			if err != nil {
				val.Problem = "the data value is not valid base64"
			} else {
				val.Value = d
			}
		}
		if len(out) >= maxValues {
			break
		}
		out = append(out, val)
	}
	return out
}

// isMerge reports whether k is a merge key (<<).
func isMerge(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge"
}

// resolve follows aliases to the node they name (nil for a cycle or a
// chain longer than maxDepth).
func resolve(n *yaml.Node) *yaml.Node {
	for range maxDepth {
		if n == nil || n.Kind != yaml.AliasNode {
			return n
		}
		n = n.Alias
	}
	return nil
}

// field returns the value of key in the mapping n, aliases resolved, or
// nil.
func field(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return resolve(n.Content[i+1])
		}
	}
	return nil
}

// scalar returns the value of a scalar node, or "".
func scalar(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}

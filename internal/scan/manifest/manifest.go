// Package manifest reads the values of Kubernetes Secrets out of YAML or
// JSON manifests: multi-document files, and List objects such as the output
// of `kubectl get secrets -A -o yaml`. A Secret's data values are
// base64-decoded; stringData values are taken as they are.
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
}

// maxDocuments bounds the documents read from one input.
const maxDocuments = 10000

// Secrets returns the values of every Secret in data, in the order they
// appear. Objects of other kinds are skipped. A data value that is not
// valid base64 is skipped. An input that is not YAML returns an error along
// with the values found before the bad document.
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
		out = appendObject(out, doc.Content[0], 0)
	}
	return out, nil
}

// appendObject appends the values of n when it is a Secret, or of the
// items of n when it is a List.
func appendObject(out []Value, n *yaml.Node, depth int) []Value {
	if n.Kind != yaml.MappingNode || depth > 4 {
		return out
	}
	kind := scalar(field(n, "kind"))
	switch {
	case kind == "Secret":
		meta := field(n, "metadata")
		ns, name := scalar(field(meta, "namespace")), scalar(field(meta, "name"))
		out = appendValues(out, field(n, "data"), ns, name, false)
		out = appendValues(out, field(n, "stringData"), ns, name, true)
	case strings.HasSuffix(kind, "List"):
		if items := field(n, "items"); items != nil && items.Kind == yaml.SequenceNode {
			for _, it := range items.Content {
				out = appendObject(out, it, depth+1)
			}
		}
	}
	return out
}

func appendValues(out []Value, m *yaml.Node, ns, name string, stringData bool) []Value {
	if m == nil || m.Kind != yaml.MappingNode {
		return out
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if v.Kind != yaml.ScalarNode {
			continue
		}
		val := []byte(v.Value)
		if !stringData {
			d, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(v.Value), ""))
			if err != nil {
				continue
			}
			val = d
		}
		out = append(out, Value{Namespace: ns, Name: name, Key: k.Value, Value: val, Line: k.Line, StringData: stringData})
	}
	return out
}

// field returns the value of key in the mapping n, or nil.
func field(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
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

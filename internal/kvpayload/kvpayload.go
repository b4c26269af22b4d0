// Package kvpayload is how the cloud secret APIs (AWS Secrets Manager,
// Google Secret Manager, Azure Key Vault) keep one secret value in the data
// of a KV version 2 secret, so that each API reads what the others and the
// Vault API wrote: text as {"SecretString": "..."}, bytes as
// {"SecretBinary": "<base64>"}, and data written with the Vault API as its
// JSON object.
package kvpayload

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// The KV data members that hold a value.
const (
	StringKey = "SecretString"
	BinaryKey = "SecretBinary"
)

// Value is one secret value: text, or bytes when Binary.
type Value struct {
	Data   []byte
	Binary bool
}

// String is the KV data holding the text s.
func String(s string) map[string]string {
	return map[string]string{StringKey: s}
}

// Bytes is the KV data holding the bytes b.
func Bytes(b []byte) map[string]string {
	return map[string]string{BinaryKey: base64.StdEncoding.EncodeToString(b)}
}

// Decode reads a value from KV data: {"SecretString": s} is the text s,
// {"SecretBinary": b} the bytes b encodes; any other object (as the Vault
// API writes) is text holding the object as compact JSON, members sorted.
func Decode(data map[string]json.RawMessage) (Value, error) {
	if len(data) == 1 {
		for k, raw := range data {
			var s string
			if json.Unmarshal(raw, &s) != nil {
				break
			}
			switch k {
			case StringKey:
				return Value{Data: []byte(s)}, nil
			case BinaryKey:
				if b, err := base64.StdEncoding.DecodeString(s); err == nil {
					return Value{Data: b, Binary: true}, nil
				}
			}
		}
	}
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, k := range slices.Sorted(maps.Keys(data)) {
		if i > 0 {
			buf.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		buf.Write(kb)
		buf.WriteByte(':')
		if err := json.Compact(&buf, data[k]); err != nil {
			return Value{}, fmt.Errorf("decode KV data: %w", err)
		}
	}
	buf.WriteByte('}')
	return Value{Data: buf.Bytes()}, nil
}

// Version is the metadata of one version as a KV version 2 data read
// answers it.
type Version struct {
	CreatedTime    string            `json:"created_time"`
	CustomMetadata map[string]string `json:"custom_metadata"`
	DeletionTime   string            `json:"deletion_time"`
	Destroyed      bool              `json:"destroyed"`
	Version        int               `json:"version"`
}

// Read is the data of a KV version 2 data read: the version's data,
// members undecoded, and its metadata.
type Read struct {
	Data     map[string]json.RawMessage `json:"data"`
	Metadata Version                    `json:"metadata"`
}

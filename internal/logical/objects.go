package logical

import "context"

// Object is one named object of an engine that a reviewer wants to see
// by name: a database role, a transit key, a PKI role. It never holds a
// credential or key material.
type Object struct {
	// Kind names what the engine calls it: "role", "key".
	Kind string `json:"kind"`
	// Name is the object's name within its mount.
	Name string `json:"name"`
	// Paths are the request paths, relative to the mount, through which
	// the object is used or managed ("creds/x", "roles/x").
	Paths []string `json:"paths"`
}

// ObjectLister is implemented by engines whose named objects the access
// answers list (sys/access/what shows which of them a principal may use).
// It reads configuration only.
type ObjectLister interface {
	Objects(ctx context.Context) ([]Object, error)
}

// Package kubernetes holds the Kubernetes manifests that docs/kubernetes.md
// shows, as files to apply: the Coffer server (a StatefulSet with bbolt
// storage on a PersistentVolumeClaim), the token reviewer service account,
// and two example workloads, one with the agent as init container and
// sidecar, one started by `coffer exec`.
//
// The package has no Go code of its own. Its tests decode every manifest
// strictly into the Kubernetes API types, check that the objects refer to
// each other correctly (selectors, volumes, service accounts, config
// files, template sources, token paths), parse the HCL they carry with the
// server's and the agent's own configuration parsers, and refuse anything
// that looks like a real secret. They need no cluster.
package kubernetes

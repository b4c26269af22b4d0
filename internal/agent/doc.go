// Package agent is Coffer's agent: it logs in by itself (auto-auth), keeps
// its token alive, writes it to sink files, renders templates of secrets to
// files, runs a child process with secrets in its environment (exec mode),
// and proxies API requests for local clients, caching leased responses.
//
// The agent is a client like any other: it reaches the server only through
// the HTTP API with github.com/hashicorp/vault/api and never imports the
// server's packages.
//
// [Run] runs everything a [config.Config] asks for until its context ends.
// It starts its goroutines itself and waits for all of them before it
// returns. Auth methods implement [Method]: [AppRole], [TokenFile], [JWT]
// and [Kubernetes]; a new one needs only a Login function. Methods read
// their credential files at every login, so credentials rotated on disk
// (a kubelet-projected service account token, a renewed JWT) are used at
// the next login. The agent renews its token until the server stops
// extending it (its max TTL) and then logs in again before it expires.
//
// Secret values and tokens are never logged nor put in errors: messages
// name paths, files and leases' paths only.
package agent

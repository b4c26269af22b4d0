// Package live asks a Coffer server which candidate values are live
// secrets, through POST /v1/sys/leaks/check. Only SHA-256 digests of the
// candidates leave the process, in batches of at most [MaxBatch].
//
// [Batcher] collects digests with the places they were seen, deduplicates
// them, sends full batches through a [Checker] and hands back each place
// where a live secret was found. [Client] is the Checker that talks to a
// server with the official API client, backing off when the server answers
// 429 (the endpoint is rate limited) or 503 (its index is still building).
//
// A Batcher is not safe for concurrent use; a Client is.
package live

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hashicorp/vault/api"
)

// MaxBatch is the most candidates one call may carry.
const MaxBatch = 1000

// Digest is the SHA-256 of a candidate value.
type Digest [sha256.Size]byte

// Match is one entry of the server's answer: the candidate at Index in the
// request is a live secret. When Readable is false every other field is
// empty.
type Match struct {
	Index    int    `json:"index"`
	Readable bool   `json:"readable"`
	Kind     string `json:"kind"`
	Mount    string `json:"mount"`
	Path     string `json:"path"`
	Key      string `json:"key"`
	Version  int    `json:"version"`
	Current  bool   `json:"current"`
}

// Checker checks one batch of at most [MaxBatch] digests and returns the
// matches, with Index into digests.
type Checker interface {
	Check(ctx context.Context, digests []Digest) ([]Match, error)
}

// Client is the [Checker] for a Coffer server.
type Client struct {
	// API is the client, with the address and token to use.
	API *api.Client
	// MaxWait bounds the total time spent waiting after 429 answers for
	// one batch (default 2 minutes).
	MaxWait time.Duration
	// Sleep waits for d or until ctx is done (default: a timer); tests
	// replace it.
	Sleep func(ctx context.Context, d time.Duration) error
}

// checkPath is the endpoint, relative to /v1.
const checkPath = "sys/leaks/check"

// Check sends one batch. A 429 answer (rate limited) or a 503 (the
// server's leak index is still building) is retried after a growing pause
// (1 s, 2 s, 4 s ... up to 30 s) until MaxWait is spent.
func (c *Client) Check(ctx context.Context, digests []Digest) ([]Match, error) {
	if len(digests) == 0 {
		return nil, nil
	}
	if len(digests) > MaxBatch {
		return nil, fmt.Errorf("check %d candidates: at most %d per call", len(digests), MaxBatch)
	}
	enc := make([]string, len(digests))
	for i, d := range digests {
		enc[i] = base64.StdEncoding.EncodeToString(d[:])
	}
	body := map[string]any{"candidates": enc}
	maxWait := c.MaxWait
	if maxWait <= 0 {
		maxWait = 2 * time.Minute
	}
	sleep := c.Sleep
	if sleep == nil {
		sleep = sleepCtx
	}
	wait, waited := time.Second, time.Duration(0)
	for {
		sec, err := c.API.Logical().WriteWithContext(ctx, checkPath, body)
		if re, ok := errors.AsType[*api.ResponseError](err); ok && retryable(re.StatusCode) && waited < maxWait {
			if err := sleep(ctx, wait); err != nil {
				return nil, err
			}
			waited += wait
			wait = min(2*wait, 30*time.Second)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("check candidates: %w", err)
		}
		return decodeMatches(sec, len(digests))
	}
}

// retryable reports whether an answer with status code is worth sending
// again after a pause: rate limited, or the index not ready yet.
func retryable(code int) bool {
	return code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable
}

// decodeMatches reads data.matches and checks every index.
func decodeMatches(sec *api.Secret, n int) ([]Match, error) {
	if sec == nil || sec.Data == nil {
		return nil, errors.New("check candidates: the server's answer has no data")
	}
	raw, ok := sec.Data["matches"]
	if !ok || raw == nil {
		return nil, nil
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, errors.New("check candidates: matches is not a list")
	}
	out := make([]Match, 0, len(list))
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, errors.New("check candidates: a match is not an object")
		}
		var mt Match
		idx, err := intField(m["index"])
		if err != nil || idx < 0 || idx >= n {
			return nil, fmt.Errorf("check candidates: match index %v out of range", m["index"])
		}
		mt.Index = idx
		mt.Readable, _ = m["readable"].(bool)
		if mt.Readable {
			mt.Kind, _ = m["kind"].(string)
			mt.Mount, _ = m["mount"].(string)
			mt.Path, _ = m["path"].(string)
			mt.Key, _ = m["key"].(string)
			mt.Version, _ = intField(m["version"])
			mt.Current, _ = m["current"].(bool)
		}
		out = append(out, mt)
	}
	return out, nil
}

// intField reads a JSON number the API client decoded (json.Number).
func intField(v any) (int, error) {
	switch v := v.(type) {
	case interface{ Int64() (int64, error) }:
		n, err := v.Int64()
		return int(n), err
	case float64:
		return int(v), nil
	}
	return 0, fmt.Errorf("not a number: %T", v)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

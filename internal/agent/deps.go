package agent

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coffer-secrets/coffer/internal/agent/template"
	"github.com/coffer-secrets/coffer/internal/backoff"
	"github.com/hashicorp/vault/api"
)

// action is what a dependency needs next.
type action int

const (
	actRefetch action = iota // read or issue again
	actRenew                 // renew the lease
)

// dep is one secret templates use, with what to do about it next.
type dep struct {
	key    string
	pki    bool
	path   string
	params map[string]string

	secret *template.Secret
	cert   *template.PKICert

	next  time.Time
	act   action
	lease time.Duration    // the lease duration first granted, the renewal increment
	retry *backoff.Backoff // failures of the next action
	// stale is set by an event about the secret while it is being read
	// again: the value read may predate the change, so the next read
	// is due at once. Guarded by the store's mu.
	stale bool
}

// store is the [template.Fetcher] of the agent: it reads each secret once,
// hands the same value to every render, and decides when each secret must
// be read, renewed or issued again:
//
//   - a secret with a renewable lease is renewed at two thirds of its
//     lease; when renewal fails or the lease is capped by its max TTL it
//     is read again at two thirds of what is left;
//   - a secret with a lease that cannot be renewed is read again at two
//     thirds of its lease;
//   - a certificate from pkiCert is issued again at two thirds of its
//     validity;
//   - anything else (KV) is read again every interval, or at once when
//     an event says it changed ([store.changed]).
//
// Safe for concurrent use.
type store struct {
	client   *api.Client
	state    *tokenState
	logger   *slog.Logger
	interval time.Duration
	min, max time.Duration

	// wake receives a value (buffered 1, never blocks) when an event
	// made a dependency due before its time.
	wake chan struct{}

	mu   sync.Mutex
	deps map[string]*dep // guarded by mu
}

// static reports whether d is read again on the interval (a KV secret):
// the only dependencies events make due. Callers hold the store's mu.
func (d *dep) static() bool {
	return !d.pki && len(d.params) == 0 && d.secret != nil && d.secret.LeaseID == ""
}

// changed makes the secret read at path due now, when templates use it,
// and wakes the renderer; it reports whether they do. It costs one map
// lookup, so events about other paths are cheap to ignore.
func (s *store) changed(path string) bool {
	s.mu.Lock()
	d, ok := s.deps[path]
	if ok && d.static() {
		d.next = time.Now()
		d.stale = true
	}
	s.mu.Unlock()
	if !ok {
		return false
	}
	s.signal()
	return true
}

// allChanged makes every KV secret due now: after a subscription starts,
// changes missed while there was none are picked up.
func (s *store) allChanged() {
	s.mu.Lock()
	n := 0
	now := time.Now()
	for _, d := range s.deps {
		if d.static() {
			d.next, d.stale = now, true
			n++
		}
	}
	s.mu.Unlock()
	if n > 0 {
		s.signal()
	}
}

func (s *store) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func depKey(pki bool, path string, params map[string]string) string {
	var b strings.Builder
	if pki {
		b.WriteString("pki:")
	}
	b.WriteString(path)
	for _, k := range slices.Sorted(maps.Keys(params)) {
		b.WriteString("\x00" + k + "=" + params[k])
	}
	return b.String()
}

// Secret implements [template.Fetcher].
func (s *store) Secret(ctx context.Context, path string, params map[string]string) (*template.Secret, error) {
	d, err := s.lookup(ctx, false, path, params)
	if err != nil {
		return nil, err
	}
	return d.secret, nil
}

// PKICert implements [template.Fetcher].
func (s *store) PKICert(ctx context.Context, path string, params map[string]string) (*template.PKICert, error) {
	d, err := s.lookup(ctx, true, path, params)
	if err != nil {
		return nil, err
	}
	return d.cert, nil
}

// lookup returns the dependency, fetching it the first time. Values are
// never mutated after they are stored, so callers may read them unlocked.
func (s *store) lookup(ctx context.Context, pki bool, path string, params map[string]string) (*dep, error) {
	key := depKey(pki, path, params)
	s.mu.Lock()
	d, ok := s.deps[key]
	s.mu.Unlock()
	if ok && (d.secret != nil || d.cert != nil) {
		return d, nil
	}
	nd := &dep{key: key, pki: pki, path: path, params: params, retry: &backoff.Backoff{Min: s.min, Max: s.max, Jitter: true}}
	if err := s.fetch(ctx, nd); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.deps[key]; ok && (d.secret != nil || d.cert != nil) {
		// Another render fetched it meanwhile; keep one value.
		return d, nil
	}
	s.deps[key] = nd
	return nd, nil
}

// fetch reads or issues d and schedules its next action.
func (s *store) fetch(ctx context.Context, d *dep) error {
	var sec *api.Secret
	var err error
	if d.pki || len(d.params) > 0 {
		body := make(map[string]any, len(d.params))
		for k, v := range d.params {
			body[k] = v
		}
		sec, err = s.client.Logical().WriteWithContext(ctx, d.path, body)
	} else {
		sec, err = s.client.Logical().ReadWithContext(ctx, d.path)
	}
	if err != nil {
		s.noteError(err)
		return fmt.Errorf("read %s: %w", d.path, err)
	}
	if sec == nil || (sec.Data == nil && sec.LeaseID == "") {
		return fmt.Errorf("no secret exists at %s", d.path)
	}
	now := time.Now()
	if d.pki {
		cert, notBefore, notAfter, err := pkiFromSecret(sec)
		if err != nil {
			return fmt.Errorf("issue %s: %w", d.path, err)
		}
		d.cert = cert
		d.act = actRefetch
		d.next = notBefore.Add(notAfter.Sub(notBefore) * 2 / 3)
		return nil
	}
	d.secret = &template.Secret{
		RequestID: sec.RequestID, LeaseID: sec.LeaseID, LeaseDuration: sec.LeaseDuration,
		Renewable: sec.Renewable, Data: sec.Data, Warnings: sec.Warnings,
	}
	lease := time.Duration(sec.LeaseDuration) * time.Second
	switch {
	case sec.LeaseID != "" && lease > 0:
		d.lease = lease
		d.act = actRefetch
		if sec.Renewable {
			d.act = actRenew
		}
		d.next = now.Add(lease * 2 / 3)
	default:
		d.act = actRefetch
		d.next = now.Add(s.interval)
	}
	return nil
}

// pkiFromSecret reads an issue response.
func pkiFromSecret(sec *api.Secret) (*template.PKICert, time.Time, time.Time, error) {
	str := func(k string) string { v, _ := sec.Data[k].(string); return v }
	cert := &template.PKICert{Data: template.PKIData{Cert: str("certificate"), Key: str("private_key"), CA: str("issuing_ca")}}
	if chain, ok := sec.Data["ca_chain"].([]any); ok {
		for _, c := range chain {
			if s, ok := c.(string); ok {
				cert.Data.CAChain = append(cert.Data.CAChain, s)
			}
		}
	}
	b, _ := pem.Decode([]byte(cert.Data.Cert))
	if b == nil {
		return nil, time.Time{}, time.Time{}, errors.New("response holds no PEM certificate")
	}
	leaf, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, time.Time{}, time.Time{}, fmt.Errorf("parse certificate: %w", err)
	}
	return cert, leaf.NotBefore, leaf.NotAfter, nil
}

// noteError tells the auth loop about a refusal, which may mean the token
// was revoked.
func (s *store) noteError(err error) {
	if re, ok := errors.AsType[*api.ResponseError](err); ok && re.StatusCode == http.StatusForbidden {
		s.state.refused()
	}
}

// nextDue returns when the earliest action is due; ok is false when there
// is nothing to do.
func (s *store) nextDue() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var first time.Time
	for _, d := range s.deps {
		if first.IsZero() || d.next.Before(first) {
			first = d.next
		}
	}
	return first, !first.IsZero()
}

// tick performs every action due by now and reports whether any value
// changed. A failed action is retried with backoff and the old value kept.
func (s *store) tick(ctx context.Context) bool {
	now := time.Now()
	s.mu.Lock()
	var due []*dep
	for _, d := range s.deps {
		if !d.next.After(now) {
			due = append(due, d)
		}
	}
	s.mu.Unlock()
	changed := false
	for _, d := range due {
		if s.act(ctx, d) {
			changed = true
		}
	}
	return changed
}

// act performs d's due action on a copy and stores the result.
func (s *store) act(ctx context.Context, d *dep) bool {
	s.mu.Lock()
	d.stale = false
	s.mu.Unlock()
	if d.act == actRenew {
		sec, err := s.client.Sys().RenewWithContext(ctx, d.secret.LeaseID, int(d.lease/time.Second))
		if err == nil && sec != nil {
			got := time.Duration(sec.LeaseDuration) * time.Second
			s.mu.Lock()
			d.retry.Reset()
			if got < d.lease || !sec.Renewable {
				// Capped by the max TTL: fetch new credentials before
				// the lease ends instead of renewing.
				d.act = actRefetch
			}
			d.next = time.Now().Add(got * 2 / 3)
			s.mu.Unlock()
			s.logger.Info("lease renewed", "path", d.path, "ttl", got)
			return false
		}
		s.noteError(err)
		s.logger.Warn("lease renewal failed; fetching new credentials", "path", d.path, "error", err)
	}
	nd := &dep{key: d.key, pki: d.pki, path: d.path, params: d.params, retry: d.retry}
	if err := s.fetch(ctx, nd); err != nil {
		wait := d.retry.Next()
		s.mu.Lock()
		d.act = actRefetch
		d.next = time.Now().Add(wait)
		s.mu.Unlock()
		s.logger.Warn("refresh failed; keeping the last value", "path", d.path, "error", err, "backoff", wait)
		return false
	}
	nd.retry.Reset()
	changed := true
	if !d.pki && nd.secret.LeaseID == "" && reflect.DeepEqual(nd.secret.Data, d.secret.Data) {
		changed = false
	}
	s.mu.Lock()
	if d.stale && nd.static() {
		// An event arrived while reading: read once more.
		nd.next = time.Now()
	}
	s.deps[d.key] = nd
	s.mu.Unlock()
	if changed {
		s.logger.Info("secret changed", "path", d.path)
	}
	return changed
}

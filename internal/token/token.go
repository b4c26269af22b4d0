// Package token is Coffer's token store: it makes client tokens, keeps them
// by a salted hash of their ID (the ID itself is never stored), and looks
// them up on every request.
//
// The store reads and writes through the barrier under "sys/token/". It keeps
// a cache of looked-up entries; every method is safe for concurrent use. It
// must not import core, httpapi or any engine.
package token

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/coffer-secrets/coffer/internal/storage"
)

// ID is a client token ID. It prints and logs as a placeholder; convert
// with string(id) only where the raw value is needed.
type ID string

func (ID) String() string { return "[token]" }

// LogValue keeps token IDs out of structured logs.
func (ID) LogValue() slog.Value { return slog.StringValue("[token]") }

// GoString keeps token IDs out of %#v output.
func (ID) GoString() string { return "[token]" }

// ServicePrefix starts every service token ID Coffer makes.
const ServicePrefix = "cfs."

// Storage key prefixes, inside the barrier.
const (
	saltKey        = "sys/token/salt"
	idPrefix       = "sys/token/id/"
	accessorPrefix = "sys/token/accessor/"
)

// ErrNotLoaded is returned while the store is not loaded (the server is
// sealed).
var ErrNotLoaded = errors.New("token store not loaded")

// Entry is what the store keeps about one token.
type Entry struct {
	// Accessor identifies the token without granting its access.
	Accessor string `json:"accessor"`
	// Policies are the token's ACL policy names.
	Policies []string `json:"policies"`
	// Parent is the hashed ID of the parent token, "" for an orphan.
	Parent string `json:"parent,omitempty"`
	// DisplayName is a human name, e.g. "root" or "token".
	DisplayName string `json:"display_name"`
	// Path is the creation path, e.g. "auth/token/root".
	Path string `json:"path"`
	// Meta is free-form metadata.
	Meta map[string]string `json:"meta,omitempty"`
	// CreationTime is when the token was made.
	CreationTime time.Time `json:"creation_time"`
	// TTL is the token's lifetime; zero means it does not expire.
	TTL time.Duration `json:"ttl"`
	// Type is "service" or "batch".
	Type string `json:"type"`
}

// Expired reports whether e has outlived its TTL at now.
func (e *Entry) Expired(now time.Time) bool {
	return e.TTL > 0 && !now.Before(e.CreationTime.Add(e.TTL))
}

// IsRoot reports whether e carries the root policy.
func (e *Entry) IsRoot() bool {
	for _, p := range e.Policies {
		if p == "root" {
			return true
		}
	}
	return false
}

// Store keeps tokens.
type Store struct {
	st     storage.Storage
	logger *slog.Logger

	mu    sync.RWMutex
	salt  []byte            // guarded by mu; nil while not loaded
	cache map[string]*Entry // guarded by mu; by hashed ID
}

// New returns a store over st (the barrier). Call Load after unseal.
func New(st storage.Storage, logger *slog.Logger) *Store {
	return &Store{st: st, logger: logger.With("component", "token")}
}

// Load reads (or on first use creates) the salt. It is called on unseal.
func (s *Store) Load(ctx context.Context) error {
	e, err := s.st.Get(ctx, saltKey)
	if err != nil {
		return fmt.Errorf("read token salt: %w", err)
	}
	var salt []byte
	if e != nil {
		salt = e.Value
	} else {
		salt = make([]byte, 32)
		rand.Read(salt)
		if err := s.st.Put(ctx, &storage.Entry{Key: saltKey, Value: salt}); err != nil {
			return fmt.Errorf("write token salt: %w", err)
		}
	}
	s.mu.Lock()
	s.salt = salt
	s.cache = make(map[string]*Entry)
	s.mu.Unlock()
	return nil
}

// Reset forgets the salt and the cache; it is called on seal.
func (s *Store) Reset() {
	s.mu.Lock()
	clear(s.salt)
	s.salt = nil
	s.cache = nil
	s.mu.Unlock()
}

// hash returns the salted hash under which id is stored.
func (s *Store) hash(id ID) (string, error) {
	s.mu.RLock()
	salt := s.salt
	s.mu.RUnlock()
	if salt == nil {
		return "", ErrNotLoaded
	}
	m := hmac.New(sha256.New, salt)
	m.Write([]byte(id))
	return hex.EncodeToString(m.Sum(nil)), nil
}

// NewID returns a fresh service token ID with 192 bits of randomness.
func NewID() ID {
	var b [24]byte
	rand.Read(b[:])
	return ID(ServicePrefix + base64.RawURLEncoding.EncodeToString(b[:]))
}

func newAccessor() string {
	var b [18]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Create stores e under a new token ID (or under id, when it is not empty,
// as dev mode's fixed root token) and returns the ID. It fills in the
// accessor and the creation time.
func (s *Store) Create(ctx context.Context, id ID, e *Entry, now time.Time) (ID, error) {
	if id == "" {
		id = NewID()
	} else if err := validID(id); err != nil {
		return "", err
	}
	h, err := s.hash(id)
	if err != nil {
		return "", err
	}
	e.Accessor = newAccessor()
	e.CreationTime = now.UTC()
	if e.Type == "" {
		e.Type = "service"
	}
	buf, err := json.Marshal(e)
	if err != nil {
		return "", fmt.Errorf("encode token entry: %w", err)
	}
	err = s.st.Txn(ctx, []storage.Op{
		{Kind: storage.OpPut, Entry: storage.Entry{Key: idPrefix + h, Value: buf}},
		{Kind: storage.OpPut, Entry: storage.Entry{Key: accessorPrefix + e.Accessor, Value: []byte(h)}},
	})
	if err != nil {
		return "", fmt.Errorf("store token: %w", err)
	}
	s.mu.Lock()
	if s.cache != nil {
		s.cache[h] = e
	}
	s.mu.Unlock()
	return id, nil
}

// validID checks a caller-chosen token ID.
func validID(id ID) error {
	if len(id) < 1 || len(id) > 256 || strings.ContainsAny(string(id), " \t\r\n") {
		return errors.New("token ID must be 1 to 256 characters without white space")
	}
	return nil
}

// Lookup returns the entry for id, or nil when there is none or it has
// expired at now. The returned entry is shared: callers must not modify it.
func (s *Store) Lookup(ctx context.Context, id ID, now time.Time) (*Entry, error) {
	if id == "" || len(id) > 256 {
		return nil, nil
	}
	h, err := s.hash(id)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	e, ok := s.cache[h]
	s.mu.RUnlock()
	if !ok {
		se, err := s.st.Get(ctx, idPrefix+h)
		if err != nil {
			return nil, fmt.Errorf("read token: %w", err)
		}
		if se == nil {
			return nil, nil
		}
		e = new(Entry)
		if err := json.Unmarshal(se.Value, e); err != nil {
			return nil, fmt.Errorf("decode token entry: %w", err)
		}
		s.mu.Lock()
		if s.cache != nil {
			s.cache[h] = e
		}
		s.mu.Unlock()
	}
	if e.Expired(now) {
		return nil, nil
	}
	return e, nil
}

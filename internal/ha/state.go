package ha

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
	"strconv"
	"strings"

	"github.com/coffer-secrets/coffer/internal/storage"
)

// The X-Vault-Index header carries a notice index to clients and back, in
// the shape the Vault client library parses (ParseReplicationState):
// base64 of "v1:<cluster ID>:<index>:0:<hex HMAC-SHA256 of what precedes
// the last colon>". The HMAC key is kept behind the barrier
// ([StateKeyPath]); the active node creates it, standbys read it, so a
// client cannot forge a state.

// StateKeyPath is the barrier key of the state header's HMAC key.
const StateKeyPath = "core/ha/index-key"

// maxStateLen bounds a state header value: base64 of at most this many
// bytes is accepted.
const maxStateLen = 256

// stateKey is the stored HMAC key and the cluster ID it names.
type stateKey struct {
	ClusterID string `json:"cluster_id"`
	Key       []byte `json:"key"`
}

// ErrBadState is returned for an X-Vault-Index value that is malformed,
// from another cluster, or whose HMAC does not verify.
var ErrBadState = errors.New("invalid X-Vault-Index")

// ErrNoStateKey is returned when this node has not loaded the state key
// yet and cannot check a state.
var ErrNoStateKey = errors.New("the X-Vault-Index key is not loaded on this node")

// LoadStateKey reads the state header key from the barrier; with create
// (the active node) it creates it when there is none, naming clusterID
// (a random ID when empty).
func (n *Node) LoadStateKey(ctx context.Context, create bool, clusterID string) error {
	st := n.host.Storage()
	e, err := st.Get(ctx, StateKeyPath)
	if err != nil {
		return fmt.Errorf("read index key: %w", err)
	}
	var k stateKey
	switch {
	case e != nil:
		if err := json.Unmarshal(e.Value, &k); err != nil || len(k.Key) < 32 || k.ClusterID == "" || strings.Contains(k.ClusterID, ":") {
			return errors.New("decode index key: malformed")
		}
	case create:
		k.Key = make([]byte, 32)
		rand.Read(k.Key)
		k.ClusterID = clusterID
		if k.ClusterID == "" || strings.Contains(k.ClusterID, ":") {
			id := make([]byte, 16)
			rand.Read(id)
			k.ClusterID = hex.EncodeToString(id)
		}
		buf, err := json.Marshal(k)
		if err != nil {
			return fmt.Errorf("encode index key: %w", err)
		}
		if err := st.Put(ctx, &storage.Entry{Key: StateKeyPath, Value: buf}); err != nil {
			return fmt.Errorf("write index key: %w", err)
		}
	default:
		n.stateKey.Store(nil)
		return nil
	}
	n.stateKey.Store(&k)
	return nil
}

// encodeState returns the header value for idx under k.
func encodeState(k *stateKey, idx uint64) string {
	s := "v1:" + k.ClusterID + ":" + strconv.FormatUint(idx, 10) + ":0"
	m := hmac.New(sha256.New, k.Key)
	m.Write([]byte(s))
	return base64.StdEncoding.EncodeToString([]byte(s + ":" + hex.EncodeToString(m.Sum(nil))))
}

// parseState checks a header value under k and returns its index.
func parseState(k *stateKey, v string) (uint64, error) {
	if len(v) > maxStateLen*4/3+4 {
		return 0, fmt.Errorf("%w: too long", ErrBadState)
	}
	if strings.ContainsAny(v, "\r\n") {
		return 0, fmt.Errorf("%w: not base64", ErrBadState) // the decoder would skip line breaks
	}
	raw, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return 0, fmt.Errorf("%w: not base64", ErrBadState)
	}
	s := string(raw)
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return 0, fmt.Errorf("%w: malformed", ErrBadState)
	}
	body, sum := s[:i], s[i+1:]
	got, err := hex.DecodeString(sum)
	if err != nil {
		return 0, fmt.Errorf("%w: malformed HMAC", ErrBadState)
	}
	parts := strings.Split(body, ":")
	if len(parts) != 4 || parts[0] != "v1" || parts[1] == "" {
		return 0, fmt.Errorf("%w: malformed", ErrBadState)
	}
	if parts[1] != k.ClusterID {
		return 0, fmt.Errorf("%w: it belongs to another cluster", ErrBadState)
	}
	m := hmac.New(sha256.New, k.Key)
	m.Write([]byte(body))
	if !hmac.Equal(m.Sum(nil), got) {
		return 0, fmt.Errorf("%w: HMAC mismatch", ErrBadState)
	}
	idx, err := strconv.ParseUint(parts[2], 10, 64)
	if err != nil || parts[3] != "0" {
		return 0, fmt.Errorf("%w: malformed index", ErrBadState)
	}
	return idx, nil
}

// State returns the X-Vault-Index value for this node's index (see
// [Node.Index]); "" when the key is not loaded.
func (n *Node) State() string {
	k := n.stateKey.Load()
	if k == nil {
		return ""
	}
	return encodeState(k, n.Index())
}

// ParseState checks an X-Vault-Index value and returns its index. It
// returns an error wrapping [ErrBadState] for a value that is malformed,
// from another cluster or forged, and [ErrNoStateKey] when this node
// cannot check it yet.
func (n *Node) ParseState(v string) (uint64, error) {
	k := n.stateKey.Load()
	if k == nil {
		return 0, ErrNoStateKey
	}
	return parseState(k, v)
}

// clusterID returns the server's cluster ID when the host tells it.
func (n *Node) clusterID() string {
	if h, ok := n.host.(interface{ ClusterID() string }); ok {
		return h.ClusterID()
	}
	return ""
}

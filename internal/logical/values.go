package logical

import "context"

// ValueObserver is told which secrets of a mount may hold other values
// than before: a backend that is a [ValueSource] calls ValuesChanged with
// the secret's key (as its ValueSource names it) after every durable
// change to that secret's stored values, including deletions. Core hands
// one to each mount in [Env.Values]; the leak index (sys/leaks/check)
// reads the secret again before it next answers. ValuesChanged must not
// block and is safe for concurrent use.
type ValueObserver interface {
	ValuesChanged(key string)
}

// DiscardValues is a [ValueObserver] that ignores every change.
type DiscardValues struct{}

// ValuesChanged does nothing.
func (DiscardValues) ValuesChanged(string) {}

// ValueSource is implemented by engines whose stored secret values the
// leak index fingerprints: KV (each string value of each retained
// version) and the database engine (static role passwords). Values are
// handed out only to the index, which keeps keyed hashes of them and
// never the values.
type ValueSource interface {
	// ValueKeys calls fn with the key of every secret of the mount that
	// may hold values, in key order (a KV mount: its secrets, then those
	// in its trash), until fn returns false or an error;
	// it reads storage as it goes and never holds all keys.
	ValueKeys(ctx context.Context, fn func(key string) (bool, error)) error
	// SecretValues returns the values of the secret at key, or nil when
	// there is no such secret (any more).
	SecretValues(ctx context.Context, key string) (*SecretValues, error)
}

// SecretValues is what one secret holds, for the leak index.
type SecretValues struct {
	// Kind names what the secret is: "kv" or "database-static-role".
	Kind string
	// Path is the secret's path as the leak check reports it, relative to
	// the mount ("app/db", "static-creds/app").
	Path string
	// ReadPath is the request path, relative to the mount, whose read
	// capability lets a caller see these values ("data/app/db").
	ReadPath string
	// Values are the secret's values, one per field and version.
	Values []SecretValue
	// Trashed is true for a secret deleted with a recovery window: its
	// values can come back (recover/), none is current.
	Trashed bool
}

// SecretValue is one value of a secret.
type SecretValue struct {
	// Field names the value within the secret ("password"; nested fields
	// as "a.b", array elements as "a.0").
	Field string
	// Value is the value itself; callers must not keep or log it.
	Value string
	// Version is the secret's version holding the value (0: unversioned).
	Version int
	// Current is true for the secret's current version.
	Current bool
}

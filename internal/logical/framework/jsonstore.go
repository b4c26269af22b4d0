package framework

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// GetJSON reads the entry at key from st and decodes it into v. found is
// false, and v untouched, when there is no entry.
func GetJSON(ctx context.Context, st logical.Storage, key string, v any) (found bool, err error) {
	e, err := st.Get(ctx, key)
	if err != nil {
		return false, fmt.Errorf("read %s: %w", key, err)
	}
	if e == nil {
		return false, nil
	}
	if err := json.Unmarshal(e.Value, v); err != nil {
		return false, fmt.Errorf("decode %s: %w", key, err)
	}
	return true, nil
}

// PutJSON stores v as JSON at key in st.
func PutJSON(ctx context.Context, st logical.Storage, key string, v any) error {
	op, err := PutJSONOp(key, v)
	if err != nil {
		return err
	}
	if err := st.Put(ctx, &logical.StorageEntry{Key: key, Value: op.Value}); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}

// PutJSONOp returns the transaction step that stores v as JSON at key.
func PutJSONOp(key string, v any) (logical.TxnOp, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return logical.TxnOp{}, fmt.Errorf("encode %s: %w", key, err)
	}
	return logical.TxnOp{Key: key, Value: data}, nil
}

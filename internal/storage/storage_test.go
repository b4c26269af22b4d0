package storage_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/coffer-secrets/coffer/internal/storage"
)

func TestCheckOps(t *testing.T) {
	t.Parallel()
	put := func(key, value string) storage.Op {
		return storage.Op{Kind: storage.OpPut, Entry: storage.Entry{Key: key, Value: []byte(value)}}
	}
	del := storage.Op{Kind: storage.OpDelete, Entry: storage.Entry{Key: "a/b"}}
	tests := []struct {
		name        string
		ops         []storage.Op
		maxKey      int
		maxValue    int64
		wantErr     string // "" for none
		wantInvalid bool   // the error matches storage.ErrInvalidKey
	}{
		{name: "none", ops: nil},
		{name: "put and delete", ops: []storage.Op{put("a/b", "v"), del}},
		{name: "no limits", ops: []storage.Op{put(strings.Repeat("k", 5000), strings.Repeat("v", 5000))}},
		{name: "key at the limit", ops: []storage.Op{put("abcd", "")}, maxKey: 4},
		{name: "key too long", ops: []storage.Op{del, put("abcde", "")}, maxKey: 4,
			wantErr: "op 1: key of 5 bytes is longer than 4", wantInvalid: true},
		{name: "invalid key", ops: []storage.Op{put("a/../b", "")}, wantErr: "op 0: invalid storage key", wantInvalid: true},
		{name: "value at the limit", ops: []storage.Op{put("k", "123")}, maxValue: 3},
		{name: "value too large", ops: []storage.Op{put("k", "1234")}, maxValue: 3, wantErr: "op 0: value of 4 bytes is larger than 3"},
		{name: "a delete has no value limit", ops: []storage.Op{{Kind: storage.OpDelete, Entry: storage.Entry{Key: "k", Value: []byte("1234")}}}, maxValue: 3},
		{name: "unknown kind", ops: []storage.Op{{Kind: 9, Entry: storage.Entry{Key: "k"}}}, wantErr: "op 0: unknown op kind 9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := storage.CheckOps(tt.ops, tt.maxKey, tt.maxValue)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("CheckOps() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("CheckOps() = %v, want an error containing %q", err, tt.wantErr)
			}
			if got := errors.Is(err, storage.ErrInvalidKey); got != tt.wantInvalid {
				t.Errorf("errors.Is(%v, ErrInvalidKey) = %v, want %v", err, got, tt.wantInvalid)
			}
		})
	}
}

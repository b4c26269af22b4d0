package conformance

import "testing"

// TestDevServerAnswers checks the harness itself: a dev server process
// starts and serves a KV write and read through the official client.
func TestDevServerAnswers(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	if _, err := s.Client.KVv2("secret").Put(t.Context(), "smoke", map[string]any{"a": "1"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Client.KVv2("secret").Get(t.Context(), "smoke")
	if err != nil {
		t.Fatal(err)
	}
	if got.Data["a"] != "1" {
		t.Fatalf("read back %v, want a=1", got.Data)
	}
}

package jepsen

import (
	"cmp"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// outcome is what a client learned from one operation.
type outcome int

const (
	// outOK: the operation was acknowledged (a read returned a value, a
	// write returned its new version).
	outOK outcome = iota
	// outCASFail: a write was refused because its check-and-set version
	// did not match; it changed nothing.
	outCASFail
	// outUnknown: a write whose outcome is not known (timeout, lost
	// connection, a 5xx): it may or may not have happened.
	outUnknown
)

// kvInput is one register operation: a read, or a check-and-set write of
// value expecting version cas (0: the key must not exist yet).
type kvInput struct {
	key   string
	write bool
	cas   int
	value string
}

// kvOutput is an operation's result: for a read the version and value it
// saw (version 0: not found), for an acknowledged write its new version.
type kvOutput struct {
	result  outcome
	version int
	value   string
}

// register is a key's state in the model: its current version and value.
type register struct {
	version int
	value   string
}

// registerModel is a versioned register per key: KV version 2 with
// check-and-set writes. A write with an unknown outcome is written down
// with an infinite return time, so the checker may place it anywhere
// after its call, including after everything else (as if it never
// happened); where it places it, it applies if its version matches.
func registerModel() porcupine.Model {
	return porcupine.Model{
		Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
			byKey := map[string][]porcupine.Operation{}
			var keys []string
			for _, op := range history {
				k := op.Input.(kvInput).key
				if _, ok := byKey[k]; !ok {
					keys = append(keys, k)
				}
				byKey[k] = append(byKey[k], op)
			}
			slices.Sort(keys)
			var out [][]porcupine.Operation
			for _, k := range keys {
				out = append(out, byKey[k])
			}
			return out
		},
		Init: func() any { return register{} },
		Step: func(state, input, output any) (bool, any) {
			s, in, out := state.(register), input.(kvInput), output.(kvOutput)
			if !in.write {
				return out.version == s.version && out.value == s.value, s
			}
			switch out.result {
			case outOK:
				if s.version == in.cas && out.version == in.cas+1 {
					return true, register{version: in.cas + 1, value: in.value}
				}
				return false, s
			case outCASFail:
				return s.version != in.cas, s
			default: // unknown: it happened here if it could
				if s.version == in.cas {
					return true, register{version: in.cas + 1, value: in.value}
				}
				return true, s
			}
		},
		DescribeOperation: func(input, output any) string {
			in, out := input.(kvInput), output.(kvOutput)
			if !in.write {
				return fmt.Sprintf("get(%s) → v%d %q", in.key, out.version, out.value)
			}
			switch out.result {
			case outOK:
				return fmt.Sprintf("cas(%s, %d, %q) → v%d", in.key, in.cas, in.value, out.version)
			case outCASFail:
				return fmt.Sprintf("cas(%s, %d, %q) → mismatch", in.key, in.cas, in.value)
			}
			return fmt.Sprintf("cas(%s, %d, %q) → unknown", in.key, in.cas, in.value)
		},
		DescribeState: func(state any) string {
			s := state.(register)
			return fmt.Sprintf("v%d %q", s.version, s.value)
		},
	}
}

// read is a read some client made, linearizable or not, for the checks
// outside the model.
type read struct {
	client  int
	key     string
	version int
	value   string
	how     string // "forwarded", "index" (read-your-writes) or "local"
}

// recorder collects the history. It is safe for concurrent use.
type recorder struct {
	start time.Time

	mu     sync.Mutex
	ops    []porcupine.Operation // guarded by mu: the linearizability history
	reads  []read                // guarded by mu: every read that answered
	writes []porcupine.Operation // guarded by mu: every write attempt
	ryw    []string              // guarded by mu: read-your-writes violations
	counts map[string]int        // guarded by mu: operations by kind and outcome
}

func newRecorder() *recorder {
	return &recorder{start: time.Now(), counts: map[string]int{}}
}

// now is the history's clock: nanoseconds since the start, monotonic.
func (r *recorder) now() int64 { return int64(time.Since(r.start)) }

// write records a write attempt; an unknown one returns at infinity.
func (r *recorder) write(client int, in kvInput, out kvOutput, call, ret int64) {
	if out.result == outUnknown {
		ret = math.MaxInt64
	}
	op := porcupine.Operation{ClientId: client, Input: in, Output: out, Call: call, Return: ret}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, op)
	r.writes = append(r.writes, op)
	r.counts[[]string{"write_ok", "write_cas_mismatch", "write_unknown"}[out.result]]++
}

// read records a read that answered; linearizable reads enter the model.
func (r *recorder) read(client int, in kvInput, out kvOutput, call, ret int64, how string, linearizable bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if linearizable {
		r.ops = append(r.ops, porcupine.Operation{ClientId: client, Input: in, Output: out, Call: call, Return: ret})
	}
	r.reads = append(r.reads, read{client: client, key: in.key, version: out.version, value: out.value, how: how})
	r.counts["read_"+how]++
}

// count adds one to a named counter (failed reads, dropped writes).
func (r *recorder) count(name string) {
	r.mu.Lock()
	r.counts[name]++
	r.mu.Unlock()
}

// rywViolation records a read-your-writes violation.
func (r *recorder) rywViolation(msg string) {
	r.mu.Lock()
	r.ryw = append(r.ryw, msg)
	r.mu.Unlock()
}

// acked is an acknowledged write: key, version and value.
type acked struct {
	key     string
	version int
	value   string
}

// acknowledged returns the acknowledged writes, by key and version.
func (r *recorder) acknowledged() []acked {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []acked
	for _, op := range r.writes {
		in, o := op.Input.(kvInput), op.Output.(kvOutput)
		if o.result == outOK {
			out = append(out, acked{key: in.key, version: o.version, value: in.value})
		}
	}
	slices.SortFunc(out, func(a, b acked) int {
		return cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(a.version, b.version))
	})
	return out
}

// resolved returns the linearizability history with each write of
// unknown outcome settled by final, the keys' version histories read after
// the run (final[key][v-1] is the value of version v; values are unique):
// a write whose value is there happened, as that version (its return time
// stays infinite); one whose value is not never happened and is left out.
// This keeps the checker's search small; a lost or phantom write still
// shows, as a read or a version that no longer fits. With a nil final it
// returns the history as recorded.
func (r *recorder) resolved(final map[string][]string) (ops []porcupine.Operation, happened, dropped int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if final == nil {
		return slices.Clone(r.ops), 0, 0
	}
	for _, op := range r.ops {
		in, out := op.Input.(kvInput), op.Output.(kvOutput)
		if !in.write || out.result != outUnknown {
			ops = append(ops, op)
			continue
		}
		v := slices.Index(final[in.key], in.value) + 1
		if v == 0 {
			dropped++
			continue
		}
		op.Output = kvOutput{result: outOK, version: v}
		ops = append(ops, op)
		happened++
	}
	return ops, happened, dropped
}

// phantoms returns the reads that saw a value no write could have put at
// that version (a write of that value, expecting the version before, that
// was not refused), and the versions in final that no write could have
// put there. Reads outside the model are checked this way at least.
func (r *recorder) phantoms(final map[string][]string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	type kv struct {
		key     string
		version int
		value   string
	}
	possible := map[kv]bool{}
	for _, op := range r.writes {
		in, o := op.Input.(kvInput), op.Output.(kvOutput)
		if o.result != outCASFail {
			possible[kv{in.key, in.cas + 1, in.value}] = true
		}
	}
	var bad []string
	for key, vs := range final {
		for i, v := range vs {
			if !possible[kv{key, i + 1, v}] {
				bad = append(bad, fmt.Sprintf("%s v%d is %q after the run, which no write put there", key, i+1, v))
			}
		}
	}
	for _, rd := range r.reads {
		if rd.version > 0 && !possible[kv{rd.key, rd.version, rd.value}] {
			bad = append(bad, fmt.Sprintf("client %d read %s v%d %q (%s), which no write put there", rd.client, rd.key, rd.version, rd.value, rd.how))
		}
	}
	return bad
}

// TestRegisterModel checks the model on small histories, legal and not.
func TestRegisterModel(t *testing.T) {
	t.Parallel()
	w := func(c int, cas int, v string, res outcome, ver int, call, ret int64) porcupine.Operation {
		return porcupine.Operation{ClientId: c, Input: kvInput{key: "k", write: true, cas: cas, value: v}, Output: kvOutput{result: res, version: ver}, Call: call, Return: ret}
	}
	r := func(c int, ver int, v string, call, ret int64) porcupine.Operation {
		return porcupine.Operation{ClientId: c, Input: kvInput{key: "k"}, Output: kvOutput{version: ver, value: v}, Call: call, Return: ret}
	}
	tests := []struct {
		name    string
		history []porcupine.Operation
		want    bool
	}{
		{name: "write then read", history: []porcupine.Operation{w(0, 0, "a", outOK, 1, 0, 10), r(1, 1, "a", 11, 20)}, want: true},
		{name: "stale read after acknowledged write", history: []porcupine.Operation{w(0, 0, "a", outOK, 1, 0, 10), w(0, 1, "b", outOK, 2, 11, 20), r(1, 1, "a", 21, 30)}, want: false},
		{name: "concurrent read may see either", history: []porcupine.Operation{w(0, 0, "a", outOK, 1, 0, 10), w(0, 1, "b", outOK, 2, 11, 20), r(1, 1, "a", 15, 30)}, want: true},
		{name: "two acknowledged writes on one version (a lost write)", history: []porcupine.Operation{w(0, 0, "a", outOK, 1, 0, 10), w(1, 0, "b", outOK, 1, 5, 15)}, want: false},
		{name: "mismatch while the version matched", history: []porcupine.Operation{w(0, 0, "a", outOK, 1, 0, 10), w(1, 1, "b", outCASFail, 0, 11, 20)}, want: false},
		{name: "unknown write seen later", history: []porcupine.Operation{w(0, 0, "a", outUnknown, 0, 0, math.MaxInt64), r(1, 1, "a", 50, 60)}, want: true},
		{name: "unknown write never seen", history: []porcupine.Operation{w(0, 0, "a", outUnknown, 0, 0, math.MaxInt64), r(1, 0, "", 50, 60), w(1, 0, "b", outOK, 1, 61, 70)}, want: true},
		{name: "unknown write seen, then unseen", history: []porcupine.Operation{w(0, 0, "a", outUnknown, 0, 0, math.MaxInt64), r(1, 1, "a", 50, 60), r(1, 0, "", 61, 70)}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, info := porcupine.CheckOperationsVerbose(registerModel(), tt.history, 10*time.Second)
			if got := res == porcupine.Ok; got != tt.want {
				t.Errorf("CheckOperationsVerbose = %v, want ok=%v", res, tt.want)
			}
			// The failure report the Jepsen test writes, infinite return
			// times included.
			if err := porcupine.VisualizePath(registerModel(), info, filepath.Join(t.TempDir(), "history.html")); err != nil {
				t.Errorf("VisualizePath: %v", err)
			}
		})
	}
}

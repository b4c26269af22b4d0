package identity

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

// blockingStorage holds every Txn until release is closed, after telling
// entered.
type blockingStorage struct {
	*logicaltest.Storage
	entered chan struct{}
	release chan struct{}
}

func (b *blockingStorage) Txn(ctx context.Context, ops []logical.TxnOp) error {
	b.entered <- struct{}{}
	<-b.release
	return b.Storage.Txn(ctx, ops)
}

// TestReadsDuringSlowWrite checks that a write stuck in storage holds up
// neither Policies nor API reads, and that they see the state before it.
func TestReadsDuringSlowWrite(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.create("e", "entity", `{"name":"e","policies":["before"]}`)
	bs := &blockingStorage{Storage: h.Storage, entered: make(chan struct{}), release: make(chan struct{})}
	h.use(newStore(t, bs))

	done := make(chan error, 1)
	go func() {
		_, err := h.s.HandleRequest(context.Background(), &logical.Request{
			Operation: opUpdate, Path: "entity/name/e", Body: []byte(`{"policies":["after"]}`),
		})
		done <- err
	}()
	<-bs.entered // the write is inside its transaction

	p, err := h.s.Policies(t.Context(), h.vars["e"])
	if err != nil || len(p) != 1 || p[0] != "before" {
		t.Errorf("Policies during a write = %v, %v, want [before]", p, err)
	}
	h.check(t, opRead, "entity/name/e", h.mustResp(opRead, "entity/name/e"), `{"policies":["before"]}`)

	close(bs.release)
	if err := <-done; err != nil {
		t.Fatalf("write: %v", err)
	}
	p, err = h.s.Policies(t.Context(), h.vars["e"])
	if err != nil || len(p) != 1 || p[0] != "after" {
		t.Errorf("Policies after the write = %v, %v, want [after]", p, err)
	}
}

// TestConcurrentUse mixes logins, group changes, reads and Policies; run
// with -race. Every group change is seen by Policies once it returns.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	id, err := h.s.LoginEntity(ctx, accUserpass, "userpass", logical.Alias{Name: "shared"})
	if err != nil {
		t.Fatal(err)
	}
	h.vars["e"] = id
	const workers, rounds = 4, 30
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds*3)
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				policy := fmt.Sprintf("p-%d-%d", w, r)
				body := fmt.Sprintf(`{"policies":[%q],"member_entity_ids":[%q]}`, policy, id)
				if _, err := h.s.HandleRequest(ctx, &logical.Request{Operation: opUpdate, Path: fmt.Sprintf("group/name/g%d", w), Body: []byte(body)}); err != nil {
					errs <- err
					continue
				}
				p, err := h.s.Policies(ctx, id)
				if err != nil {
					errs <- err
				} else if !slices.Contains(p, policy) {
					errs <- fmt.Errorf("Policies after setting %s = %v", policy, p)
				}
				if _, err := h.s.LoginEntity(ctx, accApprole, "approle", logical.Alias{Name: fmt.Sprintf("r%d", r%5), Metadata: map[string]string{"w": policy}}); err != nil {
					errs <- err
				}
				if _, err := h.s.HandleRequest(ctx, &logical.Request{Operation: opList, Path: "entity/id"}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got := h.must(opList, "entity/name", "")
	if keys, _ := got["keys"].([]any); len(keys) != 6 { // the shared entity and r0..r4
		t.Errorf("entities = %v, want 6", got["keys"])
	}
}

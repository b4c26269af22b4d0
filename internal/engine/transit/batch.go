package transit

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// maxBatchErrors is how many failed items a batch error message lists.
const maxBatchErrors = 10

// batchResults is the data of a batch answer.
type batchResults[T any] struct {
	BatchResults []T `json:"batch_results"`
}

// decodeItems strictly decodes every batch_input entry into a T. A
// malformed entry fails the whole request, naming its index.
func decodeItems[T any](raw []json.RawMessage) ([]T, error) {
	items := make([]T, len(raw))
	for i, r := range raw {
		if len(r) == 0 || r[0] != '{' {
			return nil, logical.InvalidRequest("invalid batch_input[%d]: want an object", i)
		}
		if err := framework.DecodeBody(r, &items[i]); err != nil {
			var le *logical.Error
			if errors.As(err, &le) {
				return nil, &logical.Error{Kind: logical.ErrInvalidRequest, Msg: fmt.Sprintf("invalid batch_input[%d]: %s", i, le.Msg), Err: err}
			}
			return nil, logical.InvalidRequest("invalid batch_input[%d]", i)
		}
	}
	return items, nil
}

// itemError returns the client-safe message of an item's failure. Errors
// that are not typed request errors are internal: their cause is never
// shown.
func itemError(err error) (msg string, internal bool) {
	var le *logical.Error
	if errors.As(err, &le) && !errors.Is(err, logical.ErrUpstream) {
		return le.Msg, false
	}
	return "internal error", true
}

// finishBatch answers a batch request whose items failed with the given
// messages ("" for success).
//
// Like Vault: when every item succeeds the answer carries all results;
// when some fail, Vault answers 400 with the results unless
// partial_failure_response_code names another status and at least one
// item succeeded. A backend cannot give a status with a body, so Coffer
// answers a partial failure with the results (and status 200) when the
// client asked for a 2xx partial_failure_response_code, and otherwise with
// an ErrInvalidRequest error that lists the failed items.
func finishBatch(data any, errs []string, internal bool, partialCode framework.Int) (*logical.Response, error) {
	failed := 0
	for _, e := range errs {
		if e != "" {
			failed++
		}
	}
	if failed == 0 {
		return &logical.Response{Data: data}, nil
	}
	if failed < len(errs) && partialCode >= 200 && partialCode < 300 {
		resp := &logical.Response{Data: data}
		if partialCode != 200 {
			resp.Warnings = []string{fmt.Sprintf("partial batch failure answered with status 200, not the requested %d", partialCode)}
		}
		return resp, nil
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d of %d batch items failed", failed, len(errs))
	shown := 0
	for i, e := range errs {
		if e == "" {
			continue
		}
		if shown == maxBatchErrors {
			sb.WriteString("; ...")
			break
		}
		fmt.Fprintf(&sb, "; batch_input[%d]: %s", i, e)
		shown++
	}
	if internal && failed == len(errs) {
		return nil, fmt.Errorf("batch: %s", sb.String())
	}
	return nil, &logical.Error{Kind: logical.ErrInvalidRequest, Msg: sb.String()}
}

// checkPartialCode validates partial_failure_response_code.
func checkPartialCode(c framework.Int) error {
	if c != 0 && (c < 1 || c > 599) {
		return logical.InvalidRequest("invalid \"partial_failure_response_code\": want an HTTP status from 1 to 599")
	}
	return nil
}

// batchItems checks a request's partial_failure_response_code and decodes
// its batch_input: nil items when there is no batch (a single-item
// request), an error for an empty or malformed batch.
func batchItems[T any](code framework.Int, raw []json.RawMessage) ([]T, error) {
	if err := checkPartialCode(code); err != nil {
		return nil, err
	}
	if raw == nil {
		return nil, nil
	}
	items, err := decodeItems[T](raw)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, logical.InvalidRequest("missing batch input to process")
	}
	return items, nil
}

// batchItem is an item of a batch_input: it carries the caller's
// reference, which its result repeats.
type batchItem[I any] interface {
	*I
	reference() string
}

// batchResult is the answer for one item: mark records the item's
// reference and, when the item failed, its error message.
type batchResult[R any] interface {
	*R
	mark(reference, msg string)
}

// answer runs one on the request's single item, or on each item of its
// batch when items is not nil, and answers in Vault's shape: a single
// item's result or its error, or the batch results through
// [finishBatch], each marked with its item's reference and failure.
func answer[I, R any, PI batchItem[I], PR batchResult[R]](single *I, items []I, partialCode framework.Int, one func(*I) (*R, error)) (*logical.Response, error) {
	if items == nil {
		res, err := one(single)
		if err != nil {
			return nil, err
		}
		return &logical.Response{Data: res}, nil
	}
	results := make([]R, len(items))
	errs := make([]string, len(items))
	internal := false
	for i := range items {
		if res, err := one(&items[i]); err != nil {
			msg, in := itemError(err)
			internal = internal || in
			errs[i] = msg
		} else {
			results[i] = *res
		}
		PR(&results[i]).mark(PI(&items[i]).reference(), errs[i])
	}
	return finishBatch(&batchResults[R]{BatchResults: results}, errs, internal, partialCode)
}

func (it *encryptItem) reference() string { return it.Reference }
func (it *decryptItem) reference() string { return it.Reference }
func (it *rewrapItem) reference() string  { return it.Reference }
func (it *signItem) reference() string    { return it.Reference }
func (it *verifyItem) reference() string  { return it.Reference }
func (it *hmacItem) reference() string    { return it.Reference }

// batchInput is the part of a request body that makes it a batch; the
// input types embed it.
type batchInput struct {
	BatchInput                 []json.RawMessage `json:"batch_input"`
	PartialFailureResponseCode framework.Int     `json:"partial_failure_response_code"`
}

// batchMark is the part of an item's answer that [batchResult.mark]
// sets; the result types embed it last, so that the fields come last in
// the JSON.
type batchMark struct {
	Reference string `json:"reference,omitempty"`
	Error     string `json:"error,omitempty"`
}

func (r *batchMark) mark(ref, msg string) { r.Reference, r.Error = ref, msg }

package httpapi

import (
	"errors"
	"io"
	"net/http"

	"github.com/coffer-secrets/coffer/internal/core"
	"github.com/coffer-secrets/coffer/internal/ha"
	"github.com/coffer-secrets/coffer/internal/logical"
)

// handleSnapshot serves sys/storage/snapshot (GET streams a snapshot,
// POST or PUT restores one) and sys/storage/snapshot-force (POST or PUT
// restores a snapshot taken with other keys), with binary bodies as
// Vault's sys/storage/raft/snapshot endpoints have.
//
// A restore's body is not limited by max_request_size (the endpoint needs
// sudo, and the body goes to a temporary file, not to memory), except on
// a standby, which forwards it to the active node from memory.
func (h *Handler) handleSnapshot(w http.ResponseWriter, r *http.Request, reqID string, force bool) {
	req := &core.Request{
		Request:     &logical.Request{ID: reqID, Connection: h.clientConnection(r)},
		ClientToken: clientToken(r),
	}
	switch {
	case r.Method == http.MethodGet && !force:
		h.saveSnapshot(w, r, req)
	case r.Method == http.MethodPost || r.Method == http.MethodPut:
		h.restoreSnapshot(w, r, req, force)
	case force:
		h.methodNotAllowed(w, "POST, PUT")
	default:
		h.methodNotAllowed(w, "GET, POST, PUT")
	}
}

func (h *Handler) saveSnapshot(w http.ResponseWriter, r *http.Request, req *core.Request) {
	sw := &streamWriter{w: w}
	err := h.core.SaveSnapshot(r.Context(), req, sw)
	if sw, ok := w.(*statusWriter); ok {
		sw.operation, sw.mountType = string(logical.ReadOperation), "system"
	}
	switch {
	case err == nil:
		if !sw.started {
			sw.start()
		}
	case errors.Is(err, ha.ErrStandby) && !sw.started:
		h.toActive(w, r, req.ID, nil)
	case !sw.started:
		h.writeError(w, r, req.ID, err)
	default:
		// The status has gone out: break the response off, so that the
		// client sees a failed transfer rather than a short file (which
		// it would refuse anyway, lacking the checksum).
		h.logger.Error("snapshot failed while streaming", "request_id", req.ID, "err", err)
		panic(http.ErrAbortHandler)
	}
}

func (h *Handler) restoreSnapshot(w http.ResponseWriter, r *http.Request, req *core.Request, force bool) {
	if sw, ok := w.(*statusWriter); ok {
		sw.operation, sw.mountType = string(logical.UpdateOperation), "system"
	}
	body := r.Body
	if body == nil {
		body = http.NoBody
	}
	err := h.core.RestoreSnapshot(r.Context(), req, body, force)
	if errors.Is(err, ha.ErrStandby) {
		// Nothing of the body was read: forward it whole.
		buf, err := io.ReadAll(http.MaxBytesReader(w, body, h.maxBody))
		if err != nil {
			h.writeError(w, r, req.ID, &logical.Error{Kind: logical.ErrTooLarge, Msg: "a standby forwards snapshots up to max_request_size; send this one to the active node"})
			return
		}
		h.toActive(w, r, req.ID, buf)
		return
	}
	if err != nil {
		h.writeError(w, r, req.ID, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// streamWriter sends the 200 status and the binary content type before
// the first byte of a snapshot, so that a failure before that still gets
// an error status.
type streamWriter struct {
	w       http.ResponseWriter
	started bool
}

func (s *streamWriter) start() {
	s.started = true
	s.w.Header().Set("Content-Type", "application/octet-stream")
	s.w.WriteHeader(http.StatusOK)
}

func (s *streamWriter) Write(p []byte) (int, error) {
	if !s.started {
		s.start()
	}
	return s.w.Write(p)
}

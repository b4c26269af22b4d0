package httpapi

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/core"
	"github.com/coffer-secrets/coffer/internal/ha"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// initInput is the body of PUT sys/init. The PGP and recovery fields are
// accepted because the official client always sends them; Coffer refuses
// non-empty values it does not support.
type initInput struct {
	SecretShares      framework.Int `json:"secret_shares"`
	SecretThreshold   framework.Int `json:"secret_threshold"`
	StoredShares      framework.Int `json:"stored_shares"`
	PGPKeys           []string      `json:"pgp_keys"`
	RecoveryShares    framework.Int `json:"recovery_shares"`
	RecoveryThreshold framework.Int `json:"recovery_threshold"`
	RecoveryPGPKeys   []string      `json:"recovery_pgp_keys"`
	RootTokenPGPKey   string        `json:"root_token_pgp_key"`
}

type initOutput struct {
	Keys               []string `json:"keys"`
	KeysBase64         []string `json:"keys_base64"`
	RecoveryKeys       []string `json:"recovery_keys,omitempty"`
	RecoveryKeysBase64 []string `json:"recovery_keys_base64,omitempty"`
	RootToken          string   `json:"root_token"`
}

func (h *Handler) handleInit(w http.ResponseWriter, r *http.Request, reqID string) {
	switch r.Method {
	case http.MethodGet:
		ok, err := h.core.Initialized(r.Context())
		if err != nil {
			h.writeError(w, r, reqID, err)
			return
		}
		h.writeJSON(w, http.StatusOK, map[string]bool{"initialized": ok})
	case http.MethodPut, http.MethodPost:
		body, release, err := h.readBody(w, r)
		defer release()
		if err != nil {
			h.writeError(w, r, reqID, err)
			return
		}
		var in initInput
		if err := framework.DecodeBody(body, &in); err != nil {
			h.writeError(w, r, reqID, err)
			return
		}
		if len(in.PGPKeys) > 0 || len(in.RecoveryPGPKeys) > 0 || in.RootTokenPGPKey != "" {
			h.writeError(w, r, reqID, logical.InvalidRequest("PGP-encrypted key shares are not supported"))
			return
		}
		// Stored shares are what an auto seal keeps (Vault's stored_shares);
		// the value is not used.
		if in.StoredShares > 0 && !h.core.AutoSeal() {
			h.writeError(w, r, reqID, logical.InvalidRequest("parameter stored_shares not applicable to seal type shamir"))
			return
		}
		res, err := h.core.Initialize(r.Context(), core.InitRequest{
			SecretShares:      int(in.SecretShares),
			SecretThreshold:   int(in.SecretThreshold),
			RecoveryShares:    int(in.RecoveryShares),
			RecoveryThreshold: int(in.RecoveryThreshold),
		})
		if err != nil {
			h.writeError(w, r, reqID, err)
			return
		}
		out := initOutput{RootToken: string(res.RootToken), Keys: []string{}, KeysBase64: []string{}}
		for _, s := range res.Shares {
			out.Keys = append(out.Keys, hex.EncodeToString(s))
			out.KeysBase64 = append(out.KeysBase64, base64.StdEncoding.EncodeToString(s))
			clear(s)
		}
		for _, s := range res.RecoveryShares {
			out.RecoveryKeys = append(out.RecoveryKeys, hex.EncodeToString(s))
			out.RecoveryKeysBase64 = append(out.RecoveryKeysBase64, base64.StdEncoding.EncodeToString(s))
			clear(s)
		}
		h.writeJSON(w, http.StatusOK, out)
	default:
		h.methodNotAllowed(w, "GET, PUT, POST")
	}
}

func (h *Handler) methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	h.writeJSON(w, http.StatusMethodNotAllowed, errorBody{Errors: []string{"method not allowed; use " + allow}})
}

// sealStatusOutput is Vault's seal-status shape.
type sealStatusOutput struct {
	Type         string `json:"type"`
	Initialized  bool   `json:"initialized"`
	Sealed       bool   `json:"sealed"`
	T            int    `json:"t"`
	N            int    `json:"n"`
	Progress     int    `json:"progress"`
	Nonce        string `json:"nonce"`
	Version      string `json:"version"`
	BuildDate    string `json:"build_date"`
	Migration    bool   `json:"migration"`
	ClusterName  string `json:"cluster_name,omitempty"`
	ClusterID    string `json:"cluster_id,omitempty"`
	RecoverySeal bool   `json:"recovery_seal"`
	// RecoverySealType is how recovery keys are split: "shamir" with an
	// auto seal, absent otherwise, as in Vault.
	RecoverySealType string `json:"recovery_seal_type,omitempty"`
	StorageType      string `json:"storage_type,omitempty"`
}

func sealStatusJSON(st core.SealStatus) sealStatusOutput {
	var rst string
	if st.RecoverySeal {
		rst = "shamir"
	}
	return sealStatusOutput{
		Type:             st.Type,
		RecoverySeal:     st.RecoverySeal,
		RecoverySealType: rst,
		Migration:        st.Migration,
		Initialized:      st.Initialized,
		Sealed:           st.Sealed,
		T:                st.Threshold,
		N:                st.Shares,
		Progress:         st.Progress,
		Nonce:            st.Nonce,
		Version:          st.Version,
		ClusterName:      st.ClusterName,
		ClusterID:        st.ClusterID,
		StorageType:      st.StorageType,
	}
}

func (h *Handler) handleSealStatus(w http.ResponseWriter, r *http.Request, reqID string) {
	if r.Method != http.MethodGet {
		h.methodNotAllowed(w, "GET")
		return
	}
	st, err := h.core.SealStatus(r.Context())
	if err != nil {
		h.writeError(w, r, reqID, err)
		return
	}
	h.writeJSON(w, http.StatusOK, sealStatusJSON(st))
}

type unsealInput struct {
	Key     string         `json:"key"`
	Reset   framework.Bool `json:"reset"`
	Migrate framework.Bool `json:"migrate"`
}

// decodeKeyShare accepts a key share in hex or in standard base64, as
// Vault does.
func decodeKeyShare(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && len(b) > 0 {
		return b, nil
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && len(b) > 0 {
		return b, nil
	}
	return nil, logical.InvalidRequest("the key must be hex or base64 encoded")
}

func (h *Handler) handleUnseal(w http.ResponseWriter, r *http.Request, reqID string) {
	if r.Method != http.MethodPut && r.Method != http.MethodPost {
		h.methodNotAllowed(w, "PUT, POST")
		return
	}
	body, release, err := h.readBody(w, r)
	defer release()
	if err != nil {
		h.writeError(w, r, reqID, err)
		return
	}
	var in unsealInput
	if err := framework.DecodeBody(body, &in); err != nil {
		h.writeError(w, r, reqID, err)
		return
	}
	if in.Reset {
		h.core.ResetUnseal()
		h.handleSealStatusAfter(w, r, reqID)
		return
	}
	if in.Key == "" {
		h.writeError(w, r, reqID, logical.InvalidRequest("missing required parameter: key"))
		return
	}
	share, err := decodeKeyShare(in.Key)
	if err != nil {
		h.writeError(w, r, reqID, err)
		return
	}
	st, err := h.core.UnsealMigrate(r.Context(), share, bool(in.Migrate))
	clear(share)
	if err != nil {
		h.writeError(w, r, reqID, err)
		return
	}
	h.writeJSON(w, http.StatusOK, sealStatusJSON(st))
}

func (h *Handler) handleSealStatusAfter(w http.ResponseWriter, r *http.Request, reqID string) {
	st, err := h.core.SealStatus(r.Context())
	if err != nil {
		h.writeError(w, r, reqID, err)
		return
	}
	h.writeJSON(w, http.StatusOK, sealStatusJSON(st))
}

// healthOutput is Vault's sys/health shape.
type healthOutput struct {
	Initialized                bool   `json:"initialized"`
	Sealed                     bool   `json:"sealed"`
	Standby                    bool   `json:"standby"`
	PerformanceStandby         bool   `json:"performance_standby"`
	ReplicationPerformanceMode string `json:"replication_performance_mode"`
	ReplicationDRMode          string `json:"replication_dr_mode"`
	ServerTimeUTC              int64  `json:"server_time_utc"`
	Version                    string `json:"version"`
	Enterprise                 bool   `json:"enterprise"`
	ClusterName                string `json:"cluster_name,omitempty"`
	ClusterID                  string `json:"cluster_id,omitempty"`
	EchoDurationMillis         int64  `json:"echo_duration_ms"`
	ClockSkewMillis            int64  `json:"clock_skew_ms"`
}

// healthCode returns the status for state, honouring the query overrides
// Vault documents (sealedcode, uninitcode, activecode, standbycode,
// standbyok, ...).
func healthCode(r *http.Request, st core.SealStatus, standby bool) (int, error) {
	q := r.URL.Query()
	code := func(name string, def int) (int, error) {
		v := q.Get(name)
		if v == "" {
			return def, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 100 || n > 599 {
			return 0, logical.InvalidRequest("invalid value for %q: want an HTTP status code", name)
		}
		return n, nil
	}
	switch {
	case !st.Initialized:
		return code("uninitcode", http.StatusNotImplemented)
	case st.Sealed:
		return code("sealedcode", http.StatusServiceUnavailable)
	case standby:
		if ok, _ := strconv.ParseBool(q.Get("standbyok")); ok {
			return code("activecode", http.StatusOK)
		}
		return code("standbycode", http.StatusTooManyRequests)
	default:
		return code("activecode", http.StatusOK)
	}
}

func (h *Handler) handleHealth(w http.ResponseWriter, r *http.Request, reqID string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.methodNotAllowed(w, "GET, HEAD")
		return
	}
	st, err := h.core.SealStatus(r.Context())
	if err != nil {
		h.writeError(w, r, reqID, err)
		return
	}
	role := h.core.HAStatus()
	status, err := healthCode(r, st, role.Standby)
	if err != nil {
		h.writeError(w, r, reqID, err)
		return
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return
	}
	h.writeJSON(w, status, healthOutput{
		// Replication does not exist here; Vault reports that as "disabled".
		ReplicationPerformanceMode: "disabled",
		ReplicationDRMode:          "disabled",
		Initialized:                st.Initialized,
		Sealed:                     st.Sealed,
		Standby:                    role.Standby,
		ServerTimeUTC:              time.Now().Unix(),
		Version:                    st.Version,
		ClusterName:                st.ClusterName,
		ClusterID:                  st.ClusterID,
	})
}

// leaderOutput is Vault's sys/leader shape.
type leaderOutput struct {
	HAEnabled            bool   `json:"ha_enabled"`
	IsSelf               bool   `json:"is_self"`
	ActiveTime           string `json:"active_time"`
	LeaderAddress        string `json:"leader_address"`
	LeaderClusterAddress string `json:"leader_cluster_address"`
	PerformanceStandby   bool   `json:"performance_standby"`
}

func (h *Handler) handleLeader(w http.ResponseWriter, r *http.Request, reqID string) {
	if r.Method != http.MethodGet {
		h.methodNotAllowed(w, "GET")
		return
	}
	if h.core.Sealed() {
		h.writeError(w, r, reqID, core.ErrSealed)
		return
	}
	// A single node without HA is its own leader; Vault reports that as
	// ha_enabled false with an empty leader address. A standby that knows
	// no active node reports an empty address too.
	info, err := h.core.Leader(r.Context())
	if err != nil && !errors.Is(err, ha.ErrNoActive) {
		h.writeError(w, r, reqID, err)
		return
	}
	h.writeJSON(w, http.StatusOK, leaderOutput{
		HAEnabled:            info.HAEnabled,
		IsSelf:               info.IsSelf,
		ActiveTime:           info.ActiveTime.UTC().Format(time.RFC3339Nano),
		LeaderAddress:        info.LeaderAddress,
		LeaderClusterAddress: info.LeaderClusterAddress,
	})
}

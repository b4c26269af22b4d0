package kms

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/kms/pkg/service"
)

// Version is the KMS plugin API version Status reports.
const Version = "v2"

// Healthy is the healthz value of a working plugin; the API server treats
// any other value as a failure and shows it.
const Healthy = "ok"

// DefaultStatusWait is how long Status waits for Coffer by default.
const DefaultStatusWait = 5 * time.Second

// Options configure a [Plugin].
type Options struct {
	// Client reaches Coffer; required. Its token must allow update on
	// <mount>/encrypt/<key> and <mount>/decrypt/<key> and read on
	// <mount>/keys/<key>. The caller keeps the token valid (the agent's
	// auto-auth); the plugin only reads it.
	Client *api.Client
	// Mount is the transit mount path (default "transit").
	Mount string
	// Key is the transit key's name; required.
	Key string
	// Refused, when set, is called when Coffer refuses the token (403),
	// so that the caller can check it and log in again. It must not
	// block.
	Refused func()
	// StatusWait bounds how long Status waits for Coffer (default
	// [DefaultStatusWait]). Status waits less when its caller's deadline
	// is nearer, so that it answers "not ok" in time rather than fail.
	StatusWait time.Duration
}

// Plugin is the KMS v2 service backed by one Coffer transit key. It
// implements k8s.io/kms/pkg/service.Service. Build it with [New]; it is
// safe for concurrent use.
type Plugin struct {
	client     *api.Client
	mount      string
	key        string
	refused    func()
	statusWait time.Duration

	mu        sync.Mutex
	lastKeyID string // guarded by mu; the key_id of the last Status that reached Coffer
}

var _ service.Service = (*Plugin)(nil)

// New checks o and returns its Plugin. It does not reach Coffer.
func New(o Options) (*Plugin, error) {
	if o.Client == nil {
		return nil, errors.New("kms: no client")
	}
	mount := strings.Trim(o.Mount, "/")
	if mount == "" {
		mount = "transit"
	}
	if err := checkName("transit mount", mount, true); err != nil {
		return nil, err
	}
	if err := checkName("transit key", o.Key, false); err != nil {
		return nil, err
	}
	refused := o.Refused
	if refused == nil {
		refused = func() {}
	}
	wait := o.StatusWait
	if wait < 0 {
		return nil, fmt.Errorf("kms: negative status wait %v", wait)
	}
	if wait == 0 {
		wait = DefaultStatusWait
	}
	return &Plugin{client: o.Client, mount: mount, key: o.Key, refused: refused, statusWait: wait}, nil
}

// checkName refuses names that would not stay one path segment (or, for a
// mount, a clean path) in a request URL.
func checkName(what, s string, slashes bool) error {
	if s == "" {
		return fmt.Errorf("kms: %s is empty", what)
	}
	for _, seg := range strings.Split(s, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("kms: %s %q is not a clean path", what, s)
		}
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || strings.ContainsRune("?#%\\", r) || (r == '/' && !slashes) {
			return fmt.Errorf("kms: %s %q holds a character that is not allowed", what, s)
		}
	}
	return nil
}

// annotation is the value of AnnotationKey for this plugin's key.
func (p *Plugin) annotation() string { return p.mount + "/" + p.key }

// Status implements service.Service. It reads the transit key. healthz is
// [Healthy] when Coffer answered and the key supports encryption and
// decryption; otherwise it says why (never a secret) and key_id is the
// last one seen (or "unknown"). Coffer gets [Options.StatusWait] at most,
// and less when ctx's deadline is nearer, so that a Coffer that does not
// answer makes Status answer "not ok" before its caller gives up. Status
// itself fails only when ctx ends first.
func (p *Plugin) Status(ctx context.Context) (*service.StatusResponse, error) {
	wait := p.statusWait
	if dl, ok := ctx.Deadline(); ok {
		wait = statusWait(time.Until(dl), wait)
	}
	cctx, cancel := context.WithTimeout(ctx, wait)
	keyID, health := p.check(cctx)
	timedOut := cctx.Err() != nil
	cancel()
	if ctx.Err() != nil {
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	if timedOut && health != Healthy {
		health = "read " + p.mount + "/keys/" + p.key + ": coffer did not answer in time"
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if health == Healthy {
		p.lastKeyID = keyID
	} else {
		keyID = p.lastKeyID
		if keyID == "" {
			keyID = "unknown"
		}
	}
	return &service.StatusResponse{Version: Version, Healthz: health, KeyID: keyID}, nil
}

// statusWait returns how long Status may wait for Coffer when its caller
// has left time to answer: at most limit, and a quarter of left (up to a
// second) less than left, kept for the answer's way back.
func statusWait(left, limit time.Duration) time.Duration {
	left -= min(left/4, time.Second)
	return max(min(left, limit), 0)
}

// check reads the key and returns its key_id and a healthz value.
func (p *Plugin) check(ctx context.Context) (keyID, health string) {
	if p.client.Token() == "" {
		return "", "not logged in to coffer yet"
	}
	path := p.mount + "/keys/" + p.key
	sec, err := p.client.Logical().ReadWithContext(ctx, path)
	if err != nil {
		return "", status.Convert(p.fail("read "+path, err)).Message()
	}
	if sec == nil || sec.Data == nil {
		return "", "transit key " + p.annotation() + " not found"
	}
	latest, ok := intField(sec.Data["latest_version"])
	if !ok || latest < 1 || latest > maxVersion {
		return "", "transit key " + p.annotation() + ": no latest_version in coffer's answer"
	}
	enc, _ := sec.Data["supports_encryption"].(bool)
	dec, _ := sec.Data["supports_decryption"].(bool)
	if !enc || !dec {
		return "", "transit key " + p.annotation() + " cannot encrypt and decrypt (its type is for signing or HMAC only)"
	}
	return formatKeyID(p.key, latest), Healthy
}

// Encrypt implements service.Service: it wraps plaintext (the API
// server's data key or seed, 1 to MaxPlaintext bytes) with the latest
// version of the transit key. uid is not used.
func (p *Plugin) Encrypt(ctx context.Context, _ string, plaintext []byte) (*service.EncryptResponse, error) {
	if len(plaintext) == 0 || len(plaintext) > MaxPlaintext {
		return nil, status.Errorf(codes.InvalidArgument, "plaintext must be 1 to %d bytes, got %d", MaxPlaintext, len(plaintext))
	}
	path := p.mount + "/encrypt/" + p.key
	sec, err := p.client.Logical().WriteWithContext(ctx, path, map[string]any{
		"plaintext": base64.StdEncoding.EncodeToString(plaintext),
	})
	if err != nil {
		return nil, p.fail("encrypt with "+path, err)
	}
	var ct string
	if sec != nil {
		ct, _ = sec.Data["ciphertext"].(string)
	}
	version, err := parseCiphertext([]byte(ct))
	if err != nil {
		return nil, status.Errorf(codes.Internal, "encrypt with %s: coffer's answer holds no valid ciphertext", path)
	}
	return &service.EncryptResponse{
		Ciphertext:  []byte(ct),
		KeyID:       formatKeyID(p.key, version),
		Annotations: map[string][]byte{AnnotationKey: []byte(p.annotation())},
	}, nil
}

// Decrypt implements service.Service: it unwraps req.Ciphertext, which
// Encrypt made with any version of the key that transit still decrypts.
// req.KeyID must name this plugin's key and the ciphertext's version; the
// annotation, when present, must name this plugin's mount and key. uid is
// not used.
func (p *Plugin) Decrypt(ctx context.Context, _ string, req *service.DecryptRequest) ([]byte, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	if err := p.checkDecrypt(req); err != nil {
		return nil, err
	}
	path := p.mount + "/decrypt/" + p.key
	sec, err := p.client.Logical().WriteWithContext(ctx, path, map[string]any{"ciphertext": string(req.Ciphertext)})
	if err != nil {
		return nil, p.fail("decrypt with "+path, err)
	}
	var enc string
	if sec != nil {
		enc, _ = sec.Data["plaintext"].(string)
	}
	pt, err := base64.StdEncoding.DecodeString(enc)
	if err != nil || len(pt) == 0 {
		return nil, status.Errorf(codes.Internal, "decrypt with %s: coffer's answer holds no valid plaintext", path)
	}
	return pt, nil
}

// checkDecrypt checks a decrypt request before it is sent to Coffer.
// Errors quote neither the ciphertext nor the annotation.
func (p *Plugin) checkDecrypt(req *service.DecryptRequest) error {
	key, version, err := parseKeyID(req.KeyID)
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	if key != p.key {
		return status.Errorf(codes.InvalidArgument, "key_id names transit key %q, but this plugin uses %q", key, p.key)
	}
	if a, ok := req.Annotations[AnnotationKey]; ok && string(a) != p.annotation() {
		return status.Errorf(codes.InvalidArgument, "annotation %s names another transit key than %s", AnnotationKey, p.annotation())
	}
	cv, err := parseCiphertext(req.Ciphertext)
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	if cv != version {
		return status.Errorf(codes.InvalidArgument, "ciphertext is of key version %d, but key_id says %d", cv, version)
	}
	return nil
}

// fail turns a failed Coffer request into a gRPC status error. The
// message holds op (a path), the HTTP status and the server's own error
// messages, which quote no secret; never the request.
func (p *Plugin) fail(op string, err error) error {
	if re, ok := errors.AsType[*api.ResponseError](err); ok {
		code := codes.Internal
		switch re.StatusCode {
		case 400:
			code = codes.InvalidArgument
		case 403:
			code = codes.PermissionDenied
			p.refused()
		case 404:
			code = codes.NotFound
		case 429, 502, 503, 504:
			code = codes.Unavailable
		}
		msg := fmt.Sprintf("%s: coffer answered %d", op, re.StatusCode)
		if len(re.Errors) > 0 {
			msg += ": " + strings.Join(re.Errors, "; ")
		}
		return status.Error(code, msg)
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return status.Errorf(codes.DeadlineExceeded, "%s: coffer did not answer in time", op)
	case errors.Is(err, context.Canceled):
		return status.Errorf(codes.Canceled, "%s: canceled", op)
	}
	return status.Errorf(codes.Unavailable, "%s: coffer unreachable: %v", op, err)
}

// intField reads an integer from a decoded JSON value: the API client
// decodes numbers as json.Number.
func intField(v any) (int, bool) {
	switch n := v.(type) {
	case json.Number:
		i, err := strconv.Atoi(n.String())
		return i, err == nil
	case float64:
		return int(n), n == float64(int(n))
	case int:
		return n, true
	}
	return 0, false
}

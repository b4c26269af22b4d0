package csi

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/coffer-secrets/coffer/internal/k8s/csi/providerpb"
)

// RuntimeName is the provider name Version reports.
const RuntimeName = "coffer"

// Options configure a [Provider]. Client is required.
type Options struct {
	// Client is the API client whose address and TLS settings the provider
	// uses. Its token is never used: every Mount logs in with the pod's
	// service account token. The provider clones it per Mount and does not
	// change it.
	Client *api.Client
	// KubernetesMount is the path of the kubernetes auth method a
	// SecretProviderClass uses when it names none; "" means "kubernetes".
	KubernetesMount string
	// AllowAddressOverride lets a SecretProviderClass's vaultAddress name
	// a server other than Client's. Off by default: a SecretProviderClass
	// is written by whoever may create one in a namespace, and an address
	// of their choosing would receive the pods' service account tokens.
	AllowAddressOverride bool
	// Version is the provider's version, semver without a leading "v";
	// "" reports "0.0.0-dev".
	Version string
	// Logger receives one line per Mount (pod, outcome, object count),
	// never tokens or secret contents. Nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Provider is the Secrets Store CSI driver provider: it answers the
// driver's Version and Mount calls. It is safe for concurrent use; its
// fields are set by [New] and never change.
type Provider struct {
	providerpb.UnimplementedCSIDriverProviderServer

	client       *api.Client
	mount        string
	allowAddress bool
	version      string
	logger       *slog.Logger
	now          func() time.Time
	// versionKey keys the HMAC that stands for the version of an object
	// with no version of its own, so that the version (which the driver
	// stores in a SecretProviderClassPodStatus any reader of the namespace
	// sees) is no plain hash of the secret to guess against.
	versionKey []byte
}

// New returns a provider. It starts nothing; see [Provider.Serve].
func New(opts Options) (*Provider, error) {
	if opts.Client == nil {
		return nil, errors.New("csi: Options.Client is required")
	}
	p := &Provider{
		client:       opts.Client,
		mount:        defaultAuthMount,
		allowAddress: opts.AllowAddressOverride,
		version:      strings.TrimPrefix(opts.Version, "v"),
		logger:       opts.Logger,
		now:          opts.Now,
		versionKey:   make([]byte, 32),
	}
	if opts.KubernetesMount != "" {
		m, err := cleanMount(opts.KubernetesMount)
		if err != nil {
			return nil, fmt.Errorf("csi: kubernetes mount: %w", err)
		}
		p.mount = m
	}
	if p.version == "" {
		p.version = "0.0.0-dev"
	}
	if p.logger == nil {
		p.logger = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	_, _ = rand.Read(p.versionKey) // never fails (crypto/rand)
	return p, nil
}

// Version answers the driver's Version call.
func (p *Provider) Version(context.Context, *providerpb.VersionRequest) (*providerpb.VersionResponse, error) {
	return &providerpb.VersionResponse{Version: "v1alpha1", RuntimeName: RuntimeName, RuntimeVersion: p.version}, nil
}

// Error codes a failed Mount reports in its response's Error, which the
// driver uses as a metrics label and shows in events.
const (
	CodeInvalidParameters = "InvalidParameters"
	CodeMissingToken      = "MissingServiceAccountToken"
	CodeAddressNotAllowed = "AddressNotAllowed"
	CodeLoginFailed       = "LoginFailed"
	CodeSecretNotFound    = "SecretNotFound"
	CodeReadFailed        = "ReadFailed"
	CodeTooLarge          = "TooLarge"
)

// mountError is a Mount failure: a code for the driver, a gRPC status code
// and a message for the pod's events. The message never holds a token or
// a secret's content.
type mountError struct {
	code string
	grpc codes.Code
	msg  string
}

func (e *mountError) Error() string { return e.msg }

func failf(code string, gc codes.Code, format string, args ...any) *mountError {
	return &mountError{code: code, grpc: gc, msg: fmt.Sprintf(format, args...)}
}

// Mount answers the driver's Mount call: it logs in to Coffer with the
// pod's service account token, reads each object of the
// SecretProviderClass and returns them as files with their versions.
//
// A failure is a gRPC error whose message says what to fix, carrying as a
// detail a MountResponse whose Error holds one of the Code constants.
func (p *Provider) Mount(ctx context.Context, req *providerpb.MountRequest) (*providerpb.MountResponse, error) {
	resp, params, err := p.mount1(ctx, req)
	log := p.logger
	if params != nil {
		log = log.With("pod", params.podNamespace+"/"+params.podName, "service_account", params.serviceAccount, "role", params.role)
	}
	if err != nil {
		log.Warn("csi mount failed", "code", err.code, "error", err.msg)
		st := status.New(err.grpc, err.msg)
		if withDetail, derr := st.WithDetails(&providerpb.MountResponse{Error: &providerpb.Error{Code: err.code}}); derr == nil {
			st = withDetail
		}
		return nil, st.Err()
	}
	log.Info("csi mount", "objects", len(resp.Files))
	return resp, nil
}

// mount1 does Mount's work; params is nil when the attributes could not be
// read.
func (p *Provider) mount1(ctx context.Context, req *providerpb.MountRequest) (*providerpb.MountResponse, *mountParams, *mountError) {
	params, err := parseAttributes(req.GetAttributes(), p.now())
	if err != nil {
		code := CodeInvalidParameters
		if pe, ok := errors.AsType[*paramError](err); ok && pe.code != "" {
			code = pe.code
		}
		return nil, nil, failf(code, codes.InvalidArgument, "%v", err)
	}
	defMode, err := parsePermission(req.GetPermission())
	if err != nil {
		return nil, params, failf(CodeInvalidParameters, codes.InvalidArgument, "%v", err)
	}
	cl, merr := p.clientFor(params)
	if merr != nil {
		return nil, params, merr
	}
	mount := p.mount
	if params.authMount != "" {
		mount = params.authMount
	}
	token, merr := login(ctx, cl, mount, params)
	if merr != nil {
		return nil, params, merr
	}
	cl.SetToken(token)

	resp := &providerpb.MountResponse{}
	total := 0
	leased := false
	var failed *mountError
	for _, o := range params.objects {
		content, version, hasLease, merr := p.read(ctx, cl, o)
		leased = leased || hasLease
		if merr != nil {
			failed = merr
			break
		}
		total += len(content)
		if total > MaxTotalSize {
			failed = failf(CodeTooLarge, codes.ResourceExhausted, "the objects add up to more than %d bytes, the most one mount may hold", MaxTotalSize)
			break
		}
		mode := defMode
		if o.mode != nil {
			mode = *o.mode
		}
		resp.Files = append(resp.Files, &providerpb.File{Path: o.name, Mode: int32(mode.Perm()), Contents: content})
		resp.ObjectVersion = append(resp.ObjectVersion, &providerpb.ObjectVersion{Id: o.name, Version: version})
	}
	if !leased {
		// Nothing read holds a lease under this token, so nothing is lost
		// by revoking it; tokens of every rotation poll would otherwise
		// pile up until their TTL. A token whose children hold leases
		// (dynamic secrets) is left to expire: revoking it would revoke
		// them.
		// The revocation outlives a driver that gave up waiting, bounded.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		if err := cl.Auth().Token().RevokeSelfWithContext(rctx, ""); err != nil {
			p.logger.Debug("csi: revoke the mount's token", "error", apiProblem(err))
		}
		cancel()
	}
	if failed != nil {
		return nil, params, failed
	}
	return resp, params, nil
}

// clientFor returns a client for one Mount: a clone of the provider's, at
// the SecretProviderClass's address when it may choose one, with no token.
func (p *Provider) clientFor(params *mountParams) (*api.Client, *mountError) {
	cl, err := p.client.Clone()
	if err != nil {
		return nil, failf(CodeReadFailed, codes.Internal, "create an API client: %v", err)
	}
	// Cloning builds a new client, which reads the process environment
	// (VAULT_TOKEN, VAULT_NAMESPACE): drop what it picked up.
	cl.ClearToken()
	cl.ClearNamespace()
	if params.address == "" || sameAddress(params.address, p.client.Address()) {
		return cl, nil
	}
	if err := checkAddress(params.address); err != nil {
		return nil, failf(CodeInvalidParameters, codes.InvalidArgument, "%v", err)
	}
	if !p.allowAddress {
		return nil, failf(CodeAddressNotAllowed, codes.PermissionDenied,
			"%s %q is not the provider's Coffer address %q: remove it, or start the provider with -allow-address-override to let SecretProviderClasses choose where the pods' service account tokens go",
			attrAddress, params.address, p.client.Address())
	}
	if err := cl.SetAddress(params.address); err != nil {
		return nil, failf(CodeInvalidParameters, codes.InvalidArgument, "%s %q: %v", attrAddress, params.address, err)
	}
	return cl, nil
}

// login logs in at auth/<mount>/login with the role and the pod's token
// and returns the client token.
func login(ctx context.Context, cl *api.Client, mount string, params *mountParams) (string, *mountError) {
	path := "auth/" + mount + "/login"
	sec, err := cl.Logical().WriteWithContext(ctx, path, map[string]any{"role": params.role, "jwt": string(params.token)})
	if err != nil {
		return "", failf(CodeLoginFailed, grpcCode(err), "log in at %s with role %q: %s", path, params.role, apiProblem(err))
	}
	if sec == nil || sec.Auth == nil || sec.Auth.ClientToken == "" {
		return "", failf(CodeLoginFailed, codes.Unavailable, "log in at %s with role %q: the server returned no token", path, params.role)
	}
	return sec.Auth.ClientToken, nil
}

// read reads one object and returns its file content and version, and
// whether the read created a lease.
func (p *Provider) read(ctx context.Context, cl *api.Client, o object) (content []byte, version string, leased bool, merr *mountError) {
	var (
		sec *api.Secret
		err error
	)
	if o.method == "GET" {
		var q map[string][]string
		if len(o.args) > 0 {
			q = make(map[string][]string, len(o.args))
			for k, v := range o.args {
				q[k] = []string{argString(v)}
			}
		}
		sec, err = cl.Logical().ReadWithDataWithContext(ctx, o.path, q)
	} else {
		args := o.args
		if args == nil {
			args = map[string]any{}
		}
		sec, err = cl.Logical().WriteWithContext(ctx, o.path, args)
	}
	if err != nil {
		return nil, "", false, failf(CodeReadFailed, grpcCode(err), "read %s for object %q: %s", o.path, o.name, apiProblem(err))
	}
	if sec == nil || sec.Data == nil {
		return nil, "", false, failf(CodeSecretNotFound, codes.NotFound, "read %s for object %q: no secret there", o.path, o.name)
	}
	leased = sec.LeaseID != ""
	data, kvVersion, isKV2 := kvV2(sec.Data)
	if isKV2 && data == nil {
		return nil, "", leased, failf(CodeSecretNotFound, codes.NotFound, "read %s for object %q: the latest version is deleted", o.path, o.name)
	}
	if o.key == "" {
		content, err = jsonValue(sec.Data)
		if err != nil {
			return nil, "", leased, failf(CodeReadFailed, codes.Internal, "encode %s for object %q: %v", o.path, o.name, err)
		}
	} else {
		from := sec.Data
		if isKV2 {
			from = data
		}
		v, ok := from[o.key]
		if !ok {
			return nil, "", leased, failf(CodeSecretNotFound, codes.NotFound, "read %s for object %q: the secret has no key %q", o.path, o.name, o.key)
		}
		if s, isString := v.(string); isString {
			content = []byte(s)
		} else if content, err = jsonValue(v); err != nil {
			return nil, "", leased, failf(CodeReadFailed, codes.Internal, "encode key %q of %s for object %q: %v", o.key, o.path, o.name, err)
		}
	}
	content, merr = decode(content, o)
	if merr != nil {
		return nil, "", leased, merr
	}
	if len(content) > MaxFileSize {
		return nil, "", leased, failf(CodeTooLarge, codes.ResourceExhausted, "object %q is %d bytes, more than the %d a file may hold", o.name, len(content), MaxFileSize)
	}
	if isKV2 && kvVersion != "" {
		version = kvVersion
	} else {
		version = p.contentVersion(content)
	}
	return content, version, leased, nil
}

// contentVersion stands for the version of content that has none of its
// own: it changes when content does. It is keyed per provider process, so
// it also changes when the provider restarts, which costs the driver one
// needless rewrite at most.
func (p *Provider) contentVersion(content []byte) string {
	m := hmac.New(sha256.New, p.versionKey)
	m.Write(content)
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// kvV2 recognises a KV version 2 read: data holding "data" (an object or
// null) and "metadata" with a version. It returns the secret's own data
// and version.
func kvV2(d map[string]any) (data map[string]any, version string, ok bool) {
	meta, ok1 := d["metadata"].(map[string]any)
	inner, present := d["data"]
	if !ok1 || !present || len(d) != 2 {
		return nil, "", false
	}
	v, hasVersion := meta["version"]
	if !hasVersion {
		return nil, "", false
	}
	switch inner := inner.(type) {
	case nil:
	case map[string]any:
		data = inner
	default:
		return nil, "", false
	}
	switch v := v.(type) {
	case json.Number:
		version = v.String()
	case float64:
		version = fmt.Sprint(int64(v))
	case string:
		version = v
	}
	return data, version, true
}

// decode applies the object's encoding to the value read.
func decode(content []byte, o object) ([]byte, *mountError) {
	var (
		out []byte
		err error
	)
	switch o.encoding {
	case "":
		return content, nil
	case "base64":
		s := strings.TrimSpace(string(content))
		out, err = base64.StdEncoding.DecodeString(s)
		if err != nil {
			out, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
		}
	case "hex":
		out, err = hex.DecodeString(strings.TrimSpace(string(content)))
	}
	if err != nil {
		// The error would quote the value: name the object only.
		return nil, failf(CodeReadFailed, codes.InvalidArgument, "object %q: the value is not %s", o.name, o.encoding)
	}
	return out, nil
}

// argString turns a secretArgs value into a query parameter.
func argString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := jsonValue(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// apiProblem describes an API error in words safe to show: the status
// and the server's error messages, which never hold the request's
// secrets, or the kind of network failure.
func apiProblem(err error) string {
	if re, ok := errors.AsType[*api.ResponseError](err); ok {
		if len(re.Errors) == 0 {
			return fmt.Sprintf("Coffer answered %d", re.StatusCode)
		}
		return fmt.Sprintf("Coffer answered %d: %s", re.StatusCode, strings.Join(re.Errors, "; "))
	}
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return fmt.Sprintf("cannot reach Coffer: %v", ue.Err)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return "the driver's request ended before Coffer answered"
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "Coffer's answer was cut short"
	}
	return err.Error()
}

// grpcCode maps an API error to the gRPC code the driver sees.
func grpcCode(err error) codes.Code {
	if re, ok := errors.AsType[*api.ResponseError](err); ok {
		switch {
		case re.StatusCode == 400:
			return codes.InvalidArgument
		case re.StatusCode == 401 || re.StatusCode == 403:
			return codes.PermissionDenied
		case re.StatusCode == 404:
			return codes.NotFound
		case re.StatusCode == 429:
			return codes.ResourceExhausted
		case re.StatusCode >= 500:
			return codes.Unavailable
		}
		return codes.Unknown
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return codes.DeadlineExceeded
	}
	if errors.Is(err, context.Canceled) {
		return codes.Canceled
	}
	return codes.Unavailable
}

package gcpapi

import (
	"context"
	"crypto/subtle"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"cloud.google.com/go/iam/apiv1/iampb"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"

	"github.com/coffer-secrets/coffer/internal/core"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/uuid"
)

// DefaultMountPrefix starts the KV mount of each project when
// Options.MountPrefix is nil: project P is the mount "gcp-P/".
const DefaultMountPrefix = "gcp-"

// Limits of the gRPC server NewServer builds.
const (
	// MaxRecvMsgSize bounds a request message: a 64 KiB payload and a
	// secret's labels and annotations fit with room to spare.
	MaxRecvMsgSize = 256 << 10
	// MaxConcurrentStreams bounds the calls in flight on one connection.
	MaxConcurrentStreams = 64
	// maxTokenLen bounds the bearer token read from the metadata.
	maxTokenLen = 1024
)

// Core runs requests through the pipeline (ACL, audit, routing);
// *core.Core is one.
type Core interface {
	HandleRequest(ctx context.Context, req *core.Request) (*core.Response, error)
}

// Options configures a [Service].
type Options struct {
	// Core is required.
	Core Core
	// MountPrefix starts the KV version 2 mount of each project: project
	// P is the mount MountPrefix + P + "/". nil means DefaultMountPrefix;
	// "" maps project P onto the mount "P/" itself.
	MountPrefix *string
	Logger      *slog.Logger
	// Events, when set, receives the gcp/ events of changes to secrets
	// with topics (events.go); nil sends none.
	Events EventSender
	// Now tells the time (expire_time from a ttl); nil means time.Now.
	Now func() time.Time
	// Cluster, when set, lets a standby forward the calls that change
	// secrets to the active node's cluster listener (forward.go); nil
	// answers them UNAVAILABLE on a standby.
	Cluster Cluster
}

// Service implements secretmanagerpb.SecretManagerServiceServer on the
// core pipeline.
type Service struct {
	secretmanagerpb.UnimplementedSecretManagerServiceServer
	core   Core
	prefix string
	logger *slog.Logger
	events EventSender
	now    func() time.Time
	fwd    *forwarder // nil: no forwarding
}

// New returns a service. Core is required.
func New(opts Options) *Service {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	prefix := DefaultMountPrefix
	if opts.MountPrefix != nil {
		prefix = *opts.MountPrefix
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Service{core: opts.Core, prefix: prefix, logger: opts.Logger.With("component", "gcpapi"), events: opts.Events, now: opts.Now}
	if opts.Cluster != nil {
		s.fwd = &forwarder{cluster: opts.Cluster}
	}
	return s
}

// Close closes the connection to the active node that forwarding keeps.
func (s *Service) Close() {
	if s.fwd != nil {
		s.fwd.close()
	}
}

// NewServer returns a gRPC server serving s with creds (nil: plain
// text), its limits set: message size, streams per connection, and a
// tap that refuses a call without a bearer token before its message is
// read. The caller serves it on a listener and stops it.
func NewServer(s *Service, creds credentials.TransportCredentials) *grpc.Server {
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxRecvMsgSize),
		grpc.MaxConcurrentStreams(MaxConcurrentStreams),
		grpc.ConnectionTimeout(10 * time.Second),
		grpc.InTapHandle(requireToken),
		grpc.UnaryInterceptor(s.intercept),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: 5 * time.Minute}),
	}
	if creds != nil {
		opts = append(opts, grpc.Creds(creds))
	}
	srv := grpc.NewServer(opts...)
	secretmanagerpb.RegisterSecretManagerServiceServer(srv, s)
	return srv
}

// requireToken refuses a call that carries no bearer token, before the
// server reads its message.
func requireToken(ctx context.Context, info *tap.Info) (context.Context, error) {
	if _, err := bearer(info.Header.Get("authorization")); err != nil {
		return nil, err
	}
	return ctx, nil
}

// bearer extracts the token of "Bearer TOKEN" from the authorization
// metadata values.
func bearer(vals []string) (string, error) {
	if len(vals) == 0 {
		return "", status.Error(codes.Unauthenticated, "the call has no credentials: send a Coffer token as \"authorization: Bearer TOKEN\" metadata")
	}
	if len(vals) > 1 {
		return "", status.Error(codes.Unauthenticated, "the call has more than one authorization header")
	}
	scheme, tok, ok := strings.Cut(vals[0], " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" || len(tok) > maxTokenLen {
		return "", status.Error(codes.Unauthenticated, "the authorization metadata must be \"Bearer TOKEN\" with a Coffer token")
	}
	return tok, nil
}

// call is one RPC: the caller's token and where the call came from.
type call struct {
	s     *Service
	ctx   context.Context
	token string
	reqID string
	conn  *logical.Connection
}

type callKey struct{}

// intercept authenticates a call, recovers from a panic in it and turns
// its error into a status, logging unexpected causes with the request ID.
func (s *Service) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	reqID := uuid.New()
	defer func() {
		if v := recover(); v != nil {
			s.logger.Error("panic serving call", "request_id", reqID, "method", info.FullMethod, "panic", v, "stack", string(debug.Stack()))
			resp, err = nil, status.Errorf(codes.Internal, "internal error; see the server log for request %s", reqID)
		}
	}()
	md, _ := metadata.FromIncomingContext(ctx)
	tok, err := bearer(md.Get("authorization"))
	if err != nil {
		return nil, err
	}
	c := &call{s: s, ctx: ctx, token: tok, reqID: reqID, conn: &logical.Connection{}}
	if p, ok := peer.FromContext(ctx); ok {
		if p.Addr != nil {
			c.conn.RemoteAddr = p.Addr.String()
		}
		if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok {
			c.conn.TLS = &ti.State
		}
	}
	if fromPeer(ctx) {
		s.peerCall(c, md)
	}
	if s.fwd != nil && isWrite(info.FullMethod) && s.fwd.cluster.HAStatus().Standby {
		if fromPeer(ctx) {
			// Never forwarded twice: two nodes that disagree about the
			// leader would bounce it between them.
			return nil, status.Error(codes.Unavailable, loopMsg)
		}
		return s.forward(ctx, info.FullMethod, req, c)
	}
	resp, err = handler(context.WithValue(ctx, callKey{}, c), req)
	if err != nil {
		st, known := toStatus(err)
		if !known {
			s.logger.Error("call failed", "request_id", reqID, "method", info.FullMethod, "err", err)
			st = status.Newf(codes.Internal, "internal error; see the server log for request %s", reqID)
		}
		return nil, st.Err()
	}
	return resp, nil
}

// callOf answers the call intercept stored in ctx.
func callOf(ctx context.Context) (*call, error) {
	c, ok := ctx.Value(callKey{}).(*call)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "the call has no credentials")
	}
	return c, nil
}

// sameETag compares a client's etag with the current one in constant
// time.
func sameETag(given, current string) bool {
	return subtle.ConstantTimeCompare([]byte(given), []byte(current)) == 1
}

// iamMessage answers the IAM methods.
const iamMessage = "Coffer does not serve IAM policies on secrets: Coffer's ACL policies (sys/policies/acl) decide who may do what; see docs/gcp-secret-manager.md"

// GetIamPolicy is not served: Coffer's ACL policies decide.
func (s *Service) GetIamPolicy(context.Context, *iampb.GetIamPolicyRequest) (*iampb.Policy, error) {
	return nil, status.Error(codes.Unimplemented, iamMessage)
}

// SetIamPolicy is not served: Coffer's ACL policies decide.
func (s *Service) SetIamPolicy(context.Context, *iampb.SetIamPolicyRequest) (*iampb.Policy, error) {
	return nil, status.Error(codes.Unimplemented, iamMessage)
}

// TestIamPermissions is not served: Coffer's ACL policies decide.
func (s *Service) TestIamPermissions(context.Context, *iampb.TestIamPermissionsRequest) (*iampb.TestIamPermissionsResponse, error) {
	return nil, status.Error(codes.Unimplemented, iamMessage)
}

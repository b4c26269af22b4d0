package gcpapi

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/coffer-secrets/coffer/internal/core"
	"github.com/coffer-secrets/coffer/internal/ha"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/uuid"
)

// Forwarding: a standby sends the calls that change secrets to the
// active node's cluster listener (mutual TLS with cluster certificates),
// which serves them with its own Service (see [Service.ServeCluster]). The
// call goes as the client sent it, with the client's bearer token, and
// with the client's address and this node's request ID as metadata, which
// the active node believes only on its cluster listener from a verified
// cluster certificate. Calls are never forwarded in clear text, nor to the
// active node's own gcp_secret_manager listener, where the client's
// address could not be passed on.

// Metadata a standby adds to a call it forwards; only this package sets
// them, and the active node reads them only from a cluster peer.
const (
	clientAddrMD = "x-coffer-client-addr"
	requestIDMD  = "x-coffer-request-id"
)

// forwardTimeout bounds a forwarded call whose client set no deadline.
const forwardTimeout = 90 * time.Second

// Cluster is what a standby needs to forward calls to the active node;
// *core.Core is one.
type Cluster interface {
	// HAStatus tells whether this node is a standby.
	HAStatus() ha.Status
	// ForwardTarget names the active node and its cluster address.
	ForwardTarget(ctx context.Context) (ha.ForwardTarget, error)
	// ClusterClientTLS is this node's TLS configuration for another
	// node's cluster listener at serverName.
	ClusterClientTLS(serverName string) (*tls.Config, error)
	// IsClusterPeer reports whether state is a connection from a node of
	// the cluster.
	IsClusterPeer(state *tls.ConnectionState) bool
	// AuditForward records that this node forwards a call.
	AuditForward(ctx context.Context, f core.ForwardAudit) error
}

// writeMethods are the RPCs that change secrets: a standby forwards them.
var writeMethods = map[string]bool{
	"CreateSecret":         true,
	"UpdateSecret":         true,
	"DeleteSecret":         true,
	"AddSecretVersion":     true,
	"EnableSecretVersion":  true,
	"DisableSecretVersion": true,
	"DestroySecretVersion": true,
}

// isWrite reports whether fullMethod ("/service/Method") changes secrets.
func isWrite(fullMethod string) bool {
	i := strings.LastIndexByte(fullMethod, '/')
	return i >= 0 && writeMethods[fullMethod[i+1:]]
}

// forwarder holds the connection to the active node's cluster listener,
// replaced when the active node changes.
type forwarder struct {
	cluster Cluster
	mu      sync.Mutex
	addr    string // host:port of conn
	conn    *grpc.ClientConn
}

// connTo returns the connection to addr ("host:port"), dialing it (and
// closing the one to a former active node) when needed. grpc dials
// lazily: the TLS handshake happens on the first call.
func (f *forwarder) connTo(addr string) (*grpc.ClientConn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conn != nil && f.addr == addr {
		return f.conn, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	cc, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(clusterCreds{cluster: f.cluster, host: host}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxRecvMsgSize*4)))
	if err != nil {
		return nil, err
	}
	if f.conn != nil {
		f.conn.Close()
	}
	f.addr, f.conn = addr, cc
	return cc, nil
}

// close closes the cached connection.
func (f *forwarder) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conn != nil {
		f.conn.Close()
		f.addr, f.conn = "", nil
	}
}

// clusterCreds is TLS with the cluster's client configuration, taken
// from the core at each handshake (node certificates change at unseal).
type clusterCreds struct {
	cluster Cluster
	host    string
}

func (c clusterCreds) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	cfg, err := c.cluster.ClusterClientTLS(c.host)
	if err != nil {
		return nil, nil, err
	}
	return credentials.NewTLS(cfg).ClientHandshake(ctx, authority, raw)
}

func (clusterCreds) ServerHandshake(net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, status.Error(codes.Internal, "cluster credentials are for clients only")
}

func (clusterCreds) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "tls"}
}

func (c clusterCreds) Clone() credentials.TransportCredentials { return c }

// OverrideServerName is deprecated in grpc and not used.
func (clusterCreds) OverrideServerName(string) error { return nil }

// clusterHostPort turns an announced cluster address ("https://host:port"
// or "host:port") into host:port; "" when there is none.
func clusterHostPort(addr string) string {
	if addr == "" {
		return ""
	}
	if !strings.Contains(addr, "://") {
		addr = "https://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil || u.Scheme != "https" {
		return ""
	}
	if _, _, err := net.SplitHostPort(u.Host); err != nil {
		return ""
	}
	return u.Host
}

// Messages of calls a standby cannot forward.
const (
	noActiveMsg     = "this Coffer node is a standby and no active node can take the call now; retry later"
	needsClusterMsg = "this Coffer node is a standby and the active node has no cluster listener: forwarding Secret Manager calls that change secrets needs the cluster listener (cluster_addr or a listener's cluster_address on every node); send them to the gcp_secret_manager listener of the active node (sys/leader names it)"
	loopMsg         = "a node forwarded this call to a standby: the nodes disagree about which is active; retry later"
)

// forward sends the call c (method fullMethod, message req) to the
// active node and answers its reply and status unchanged.
func (s *Service) forward(ctx context.Context, fullMethod string, req any, c *call) (any, error) {
	ft, err := s.fwd.cluster.ForwardTarget(ctx)
	if err != nil {
		if !isNoActive(err) {
			s.logger.Warn("find the active node", "request_id", c.reqID, "err", err)
		}
		return nil, status.Error(codes.Unavailable, noActiveMsg)
	}
	if !ft.Announced {
		return nil, status.Error(codes.Unavailable, noActiveMsg)
	}
	target := clusterHostPort(ft.ClusterAddr)
	if target == "" {
		return nil, status.Error(codes.Unavailable, needsClusterMsg)
	}
	out, err := replyFor(fullMethod)
	if err != nil {
		return nil, err
	}
	if err := s.fwd.cluster.AuditForward(ctx, core.ForwardAudit{
		ID: c.reqID, Operation: logical.UpdateOperation, Path: fullMethod,
		ClientToken: c.token, Connection: c.conn, Target: target,
	}); err != nil {
		s.logger.Error("audit a forwarded call", "request_id", c.reqID, "err", err)
		return nil, status.Error(codes.Unavailable, "this Coffer node could not record the call in its audit log")
	}
	cc, err := s.fwd.connTo(target)
	if err != nil {
		s.logger.Warn("connect to the active node", "request_id", c.reqID, "active", target, "err", err)
		return nil, status.Error(codes.Unavailable, noActiveMsg)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, forwardTimeout)
		defer cancel()
	}
	md := metadata.Pairs("authorization", "Bearer "+c.token, clientAddrMD, c.conn.RemoteAddr, requestIDMD, c.reqID)
	if err := cc.Invoke(metadata.NewOutgoingContext(ctx, md), fullMethod, req, out); err != nil {
		return nil, err
	}
	return out, nil
}

// isNoActive reports whether err says there is no active node.
func isNoActive(err error) bool {
	return errors.Is(err, ha.ErrNoActive)
}

// replyFor returns an empty reply message of fullMethod
// ("/google.cloud.secretmanager.v1.SecretManagerService/Method").
func replyFor(fullMethod string) (any, error) {
	svc, method, ok := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	if !ok {
		return nil, status.Error(codes.Unimplemented, "unknown method")
	}
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
	if err != nil {
		return nil, status.Error(codes.Unimplemented, "unknown service")
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "unknown service")
	}
	md := sd.Methods().ByName(protoreflect.Name(method))
	if md == nil {
		return nil, status.Error(codes.Unimplemented, "unknown method")
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(md.Output().FullName())
	if err != nil {
		return nil, status.Error(codes.Unimplemented, "unknown reply type")
	}
	return mt.New().Interface(), nil
}

// peerKey marks the context of a call a cluster peer forwarded.
type peerKey struct{}

// ServeCluster serves a gRPC call that arrived on this node's cluster
// listener (HTTP/2), which a standby forwarded: r must come from a
// connection whose client presented a cluster certificate, which this
// checks again. For such a call the service believes the client address
// and request ID the standby sent as metadata. The server routes to it
// only gRPC requests of the cluster listener.
func (s *Service) ServeCluster(srv *grpc.Server, w http.ResponseWriter, r *http.Request) {
	if s.fwd == nil || !s.fwd.cluster.IsClusterPeer(r.TLS) {
		http.Error(w, "not a cluster node", http.StatusForbidden)
		return
	}
	srv.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), peerKey{}, true)))
}

// fromPeer reports whether ctx is that of a call a cluster peer
// forwarded (see [Service.ServeCluster]).
func fromPeer(ctx context.Context) bool {
	on, _ := ctx.Value(peerKey{}).(bool)
	return on
}

// peerCall sets, for a call a cluster peer forwarded, the client address
// and request ID the peer sent.
func (s *Service) peerCall(c *call, md metadata.MD) {
	if v := md.Get(clientAddrMD); len(v) == 1 {
		host, _, err := net.SplitHostPort(v[0])
		if err == nil && net.ParseIP(host) != nil {
			c.conn = &logical.Connection{RemoteAddr: v[0]}
		} else {
			s.logger.Warn("a cluster node forwarded a call with a malformed client address; using the node's", "request_id", c.reqID)
		}
	}
	if v := md.Get(requestIDMD); len(v) == 1 && uuid.Valid(v[0]) {
		c.reqID = v[0]
	}
}

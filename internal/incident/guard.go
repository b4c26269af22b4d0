package incident

import (
	"net"
	"net/netip"
	"strings"
	"time"
)

// Lockdown modes.
const (
	// ModeReadOnly lets reads and lists through and refuses every change.
	ModeReadOnly = "read-only"
	// ModeDeny refuses every request.
	ModeDeny = "deny"
)

// Lockdown is an emergency restriction of a path prefix. Tokens with sudo
// on sys/incident/* are exempt.
type Lockdown struct {
	// Prefix is a request path prefix, matched at a segment boundary
	// ("secret/data/pay" covers secret/data/pay and secret/data/pay/x,
	// not secret/data/payroll); "" is refused by the API.
	Prefix string `json:"prefix"`
	// Mode is ModeReadOnly or ModeDeny.
	Mode string `json:"mode"`
	// CreatedAt and CreatedBy (an accessor) say who set it and when.
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by,omitempty"`
	// Reason is free text for the operators.
	Reason string `json:"reason,omitempty"`
}

// Covers reports whether the lockdown applies to path.
func (l *Lockdown) Covers(path string) bool {
	p := strings.TrimSuffix(l.Prefix, "/")
	return path == p || strings.HasPrefix(path, p+"/")
}

// Blocks are the login and address blocks of one open incident.
type Blocks struct {
	// Roles are "auth/MOUNT/role/NAME" whose logins are refused.
	Roles []string `json:"roles,omitempty"`
	// CertSerials (decimal) whose certificate logins are refused.
	CertSerials []string `json:"cert_serials,omitempty"`
	// CIDRs whose clients are refused everything.
	CIDRs []string `json:"cidrs,omitempty"`
}

type roleKey struct{ mount, role string }

// Guard is what the request pipeline asks on every request: the blocks
// of every open incident and the lockdowns, compiled. The zero Guard (and
// a nil one) blocks nothing. It is immutable.
type Guard struct {
	cidrs     []netip.Prefix
	roles     map[roleKey]struct{}
	serials   map[string]struct{}
	lockdowns []Lockdown
}

// NewGuard compiles blocks and lockdowns; entries that do not parse are
// skipped (the API refuses them before they are stored).
func NewGuard(blocks []Blocks, lockdowns []Lockdown) *Guard {
	g := &Guard{roles: map[roleKey]struct{}{}, serials: map[string]struct{}{}, lockdowns: lockdowns}
	for _, b := range blocks {
		for _, c := range b.CIDRs {
			if p, err := ParseCIDR(c); err == nil {
				g.cidrs = append(g.cidrs, p)
			}
		}
		for _, r := range b.Roles {
			if m, n, err := ParseRole(r); err == nil {
				g.roles[roleKey{m, n}] = struct{}{}
			}
		}
		for _, s := range b.CertSerials {
			g.serials[s] = struct{}{}
		}
	}
	return g
}

// Empty reports whether g blocks nothing, so the pipeline can skip it.
func (g *Guard) Empty() bool {
	return g == nil || len(g.cidrs) == 0 && len(g.roles) == 0 && len(g.serials) == 0 && len(g.lockdowns) == 0
}

// BannedAddr reports whether requests from ip are refused. A nil ip (no
// client address known) is never banned.
func (g *Guard) BannedAddr(ip net.IP) bool {
	if g == nil || len(g.cidrs) == 0 || ip == nil {
		return false
	}
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return false
	}
	a = a.Unmap()
	for _, p := range g.cidrs {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// LoginBlocked reports whether a login at the auth mount (path with its
// trailing slash) is refused: its role or its certificate serial is
// blocked. meta is the login's metadata and internal its internal data
// (a token's Meta and InternalData). The role is internal's "role_name"
// when set (AppRole keeps it there, out of reach of the secret ID's
// caller-chosen metadata), else meta's "role_name" or "role".
func (g *Guard) LoginBlocked(mount string, meta, internal map[string]string) bool {
	if g == nil {
		return false
	}
	if s := meta["serial_number"]; s != "" {
		if _, ok := g.serials[s]; ok {
			return true
		}
	}
	if len(g.roles) == 0 {
		return false
	}
	roles := []string{internal["role_name"]}
	if roles[0] == "" {
		roles = []string{meta["role_name"], meta["role"]}
	}
	for _, r := range roles {
		if r == "" {
			continue
		}
		if _, ok := g.roles[roleKey{mount, r}]; ok {
			return true
		}
	}
	return false
}

// LockedDown reports whether a request to path is refused by a lockdown:
// any lockdown in ModeDeny covering it, or one in ModeReadOnly when the
// request is not a read (reads and lists pass).
func (g *Guard) LockedDown(path string, read bool) bool {
	if g == nil {
		return false
	}
	for i := range g.lockdowns {
		l := &g.lockdowns[i]
		if !l.Covers(path) {
			continue
		}
		if l.Mode == ModeDeny || !read {
			return true
		}
	}
	return false
}

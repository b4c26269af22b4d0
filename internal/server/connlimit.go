package server

import (
	"net"
	"sync"
	"syscall"
)

// connLimitListener caps the connections a listener holds open, in total
// and per client IP address. A connection over either cap is closed as
// soon as it is accepted, before any of it is read, and Accept goes on
// to the next one: a flood from one address cannot take every slot, and
// the slots left below the file limit keep sys/health answering. Accept
// errors (such as "too many open files") pass through unchanged, so that
// http.Server backs off and retries as it does for temporary errors.
type connLimitListener struct {
	net.Listener
	max, perIP int // 0: no cap

	mu    sync.Mutex
	total int            // guarded by mu
	byIP  map[string]int // guarded by mu
}

// limitConns wraps ln with the caps max and perIP; 0 means no cap.
func limitConns(ln net.Listener, max, perIP int) net.Listener {
	if max <= 0 && perIP <= 0 {
		return ln
	}
	return &connLimitListener{Listener: ln, max: max, perIP: perIP, byIP: map[string]int{}}
}

// Accept returns the next connection within the caps.
func (l *connLimitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c)
		if l.admit(ip) {
			return &limitedConn{Conn: c, l: l, ip: ip}, nil
		}
		c.Close()
	}
}

func (l *connLimitListener) admit(ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max > 0 && l.total >= l.max {
		return false
	}
	if l.perIP > 0 && l.byIP[ip] >= l.perIP {
		return false
	}
	l.total++
	l.byIP[ip]++
	return true
}

func (l *connLimitListener) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.byIP[ip]--; l.byIP[ip] <= 0 {
		delete(l.byIP, ip)
	}
}

// remoteIP is the connection's client address without its port.
func remoteIP(c net.Conn) string {
	a := c.RemoteAddr()
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// limitedConn gives its slot back when it is first closed.
type limitedConn struct {
	net.Conn
	l    *connLimitListener
	ip   string
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.ip) })
	return err
}

// fdHeadroom is how many file descriptors the connection cap leaves for
// storage, logs, audit files and the connections that answer sys/health.
const fdHeadroom = 128

// connCap is the total connection cap for a configured cap n: lowered to
// fdHeadroom below the process's open-file limit, so that a full
// listener never runs the process out of descriptors. 0 stays 0 (no cap).
func connCap(n int64) int {
	if n <= 0 {
		return 0
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < uint64(n)+fdHeadroom {
		return max(int(lim.Cur)-fdHeadroom, 16)
	}
	return int(n)
}

package audit_test

import (
	"bufio"
	"bytes"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/audit"
)

// TestSocketPeerNeverReads fills the buffers of a peer that accepts but
// never reads: a write must fail within the write timeout, never hang.
func TestSocketPeerNeverReads(t *testing.T) {
	t.Parallel()
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			t.Parallel()
			addr := "127.0.0.1:0"
			if network == "unix" {
				addr = filepath.Join(t.TempDir(), "s")
			}
			ln, err := net.Listen(network, addr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			accepted := make(chan net.Conn, 4)
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					accepted <- c // held open, never read
				}
			}()
			t.Cleanup(func() {
				for {
					select {
					case c := <-accepted:
						c.Close()
					default:
						return
					}
				}
			})
			const timeout = 100 * time.Millisecond
			s, err := audit.NewSocket(audit.SocketOptions{Address: ln.Addr().String(), SocketType: network, WriteTimeout: timeout})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			line := append(bytes.Repeat([]byte("x"), 1<<20), '\n')
			var failed bool
			for i := 0; i < 256 && !failed; i++ {
				start := time.Now()
				err := s.Write(t.Context(), line)
				if el := time.Since(start); el > timeout+time.Second {
					t.Fatalf("write %d took %v with a %v write timeout", i, el, timeout)
				}
				failed = err != nil
			}
			if !failed {
				t.Fatalf("256 MiB written to a peer that never reads, want a timeout")
			}
		})
	}
}

// TestSocketReconnects checks that a write after a broken connection
// connects again and that lines arrive whole.
func TestSocketReconnects(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s, err := audit.NewSocket(audit.SocketOptions{Address: ln.Addr().String(), WriteTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d, err := audit.NewDevice(audit.DeviceOptions{Path: "socket/", Sink: s, Keys: testKeys(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	readLine := func(c net.Conn) []byte {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		l, err := bufio.NewReader(c).ReadBytes('\n')
		if err != nil {
			t.Fatalf("read from socket: %v", err)
		}
		return l
	}
	if err := d.Log(ctx, audit.TypeRequest, sampleEntry()); err != nil {
		t.Fatal(err)
	}
	c1, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	first := readLine(c1)
	c1.Close()
	// The first write after the peer hung up may still succeed (the
	// kernel learns of the reset only then); keep writing until a write
	// fails, then expect the next one to reconnect.
	var failedAt int
	for i := 1; i < 50; i++ {
		if err := d.Log(ctx, audit.TypeRequest, sampleEntry()); err != nil {
			failedAt = i
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if failedAt == 0 {
		t.Fatalf("writes to a closed peer kept succeeding")
	}
	if err := d.Log(ctx, audit.TypeRequest, sampleEntry()); err != nil {
		t.Fatalf("write after a failure = %v, want a reconnect", err)
	}
	c2, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	second := readLine(c2)
	st, _ := d.State(ctx)
	if !bytes.HasPrefix(first, []byte(`{"seq":1,`)) || !bytes.Contains(second, []byte(`"chain_id":"`+st.ChainID+`"`)) {
		t.Errorf("lines = %q, %q; want seq 1 then a line of the same chain", first[:20], second[:40])
	}
}

func TestSocketConnectFails(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s, err := audit.NewSocket(audit.SocketOptions{Address: addr, WriteTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(t.Context(), []byte("x\n")); err == nil {
		t.Errorf("Write to a closed port = nil, want error")
	}
}

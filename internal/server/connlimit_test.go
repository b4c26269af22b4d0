package server

import (
	"net"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/config"
)

func TestConnLimitListener(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		max, perIP int
		open, want int // connections opened, connections served
	}{
		{"total cap", 3, 0, 5, 3},
		{"per-IP cap", 10, 2, 5, 2},
		{"no cap", 0, 0, 5, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			raw, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ln := limitConns(raw, tt.max, tt.perIP)
			defer ln.Close()
			accepted := make(chan net.Conn, tt.open)
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					accepted <- c
				}
			}()
			var clients []net.Conn
			for range tt.open {
				c, err := net.Dial("tcp", raw.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				clients = append(clients, c)
			}
			// Every connection over the cap is closed by the server.
			closed := 0
			for _, c := range clients {
				c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
				if _, err := c.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
					closed++
				}
			}
			if got := tt.open - closed; got != tt.want {
				t.Errorf("%d connections kept open, want %d", got, tt.want)
			}
			// Closing one served connection frees its slot.
			if tt.want < tt.open {
				(<-accepted).Close()
				c, err := net.Dial("tcp", raw.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				select {
				case got := <-accepted:
					got.Close()
				case <-time.After(5 * time.Second):
					t.Errorf("no connection accepted after a slot was freed")
				}
			}
		})
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// TestClusterListenerCaps checks that the cluster listener has the
// connection caps of the listener that sets cluster_address: over the
// per-address cap, a connection is closed before its TLS handshake.
func TestClusterListenerCaps(t *testing.T) {
	t.Parallel()
	s := &Server{cfg: &config.Config{Listeners: []config.Listener{
		{Address: "127.0.0.1:0"},
		{Address: "127.0.0.1:0", ClusterAddress: "127.0.0.1:0", HTTP: config.ListenerHTTP{MaxConnections: 10, MaxConnectionsPerIP: 2}},
	}}}
	if _, err := s.listenCluster("127.0.0.1:0", ""); err != nil {
		t.Fatal(err)
	}
	defer s.clusterLn.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := s.clusterLn.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	var clients []net.Conn
	for range 4 {
		c, err := net.Dial("tcp", s.clusterLn.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients = append(clients, c)
	}
	kept := map[string]bool{}
	for range 2 {
		select {
		case c := <-accepted:
			defer c.Close()
			kept[c.RemoteAddr().String()] = true
		case <-time.After(10 * time.Second):
			t.Fatal("the cluster listener accepted fewer than 2 connections")
		}
	}
	for _, c := range clients {
		if kept[c.LocalAddr().String()] {
			continue
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
			t.Errorf("connection %s over the per-address cap of 2: read = %v, want it closed", c.LocalAddr(), err)
		}
	}
	select {
	case c := <-accepted:
		c.Close()
		t.Errorf("the cluster listener accepted a third connection from one address")
	default:
	}
}

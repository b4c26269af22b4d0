package audit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Witness types: where a file device's checkpoints also go.
const (
	// WitnessTCP sends each checkpoint line to a TCP listener.
	WitnessTCP = "tcp"
	// WitnessUnix sends each checkpoint line to a unix stream socket.
	WitnessUnix = "unix"
	// WitnessSyslog sends each checkpoint line as a syslog message
	// (facility auth, severity notice, tag "coffer-audit") to a unix
	// datagram socket (an address starting with "/", such as /dev/log) or
	// to a UDP address ("host:port").
	WitnessSyslog = "syslog"
)

// syslogPrefix starts every syslog witness message: priority 37 (facility
// auth, severity notice) and the tag. The syslog daemon adds the time and
// the host.
const syslogPrefix = "<37>coffer-audit: "

// WitnessOptions configure a file device's witness: a second destination
// that receives a copy of every signed checkpoint line, so that a file cut
// short after a checkpoint disagrees with its witness.
type WitnessOptions struct {
	// Address is "host:port" (tcp, or syslog over UDP) or a socket path
	// (unix, or syslog over a unix datagram socket).
	Address string
	// Type is WitnessTCP (the default), WitnessUnix or WitnessSyslog.
	Type string
	// WriteTimeout bounds connecting and sending one checkpoint;
	// DefaultWriteTimeout when zero.
	WriteTimeout time.Duration
}

// OpenWitness returns the sink o describes. It does not connect: the first
// checkpoint does. Its lines are checkpoint lines exactly as the device
// wrote them; a syslog witness sends each as one message after a syslog
// header, without the newline.
func OpenWitness(o WitnessOptions) (Sink, error) {
	so := SocketOptions{Address: o.Address, WriteTimeout: o.WriteTimeout}
	switch o.Type {
	case "", WitnessTCP:
		so.SocketType = "tcp"
	case WitnessUnix:
		so.SocketType = "unix"
	case WitnessSyslog:
		so.SocketType = "udp"
		if strings.HasPrefix(o.Address, "/") {
			so.SocketType = "unixgram"
		}
	default:
		return nil, fmt.Errorf("audit witness type %q: want tcp, unix or syslog", o.Type)
	}
	if o.Address == "" {
		return nil, errors.New("audit witness address is empty")
	}
	s, err := NewSocket(so)
	if err != nil {
		return nil, err
	}
	if o.Type == WitnessSyslog {
		return syslogSink{s}, nil
	}
	return s, nil
}

// syslogSink frames each line as a syslog message on a datagram socket.
type syslogSink struct{ *Socket }

// Type returns "syslog".
func (syslogSink) Type() string { return WitnessSyslog }

// Write sends line, without its newline, after the syslog header.
func (s syslogSink) Write(ctx context.Context, line []byte) error {
	msg := make([]byte, 0, len(syslogPrefix)+len(line))
	msg = append(msg, syslogPrefix...)
	msg = append(msg, strings.TrimSuffix(string(line), "\n")...)
	return s.Socket.Write(ctx, msg)
}

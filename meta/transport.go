package meta

import (
	"net"
	"time"

	"github.com/hashicorp/raft"
)

// Dialer opens a connection to another peer's Raft address. Tests swap it
// for one that can cut or slow links.
type Dialer func(address string, timeout time.Duration) (net.Conn, error)

// streamLayer is a raft.StreamLayer over a listener we were given, so that
// callers (and tests using port 0) control the socket and the dialing.
type streamLayer struct {
	net.Listener
	advertise net.Addr
	dial      Dialer
}

func (s *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return s.dial(string(address), timeout)
}

func (s *streamLayer) Addr() net.Addr {
	if s.advertise != nil {
		return s.advertise
	}
	return s.Listener.Addr()
}

func defaultDial(address string, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", address, timeout)
}

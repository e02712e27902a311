package meta

import (
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/raft"

	"github.com/cairnfs/cairn"
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

// advertiseAddr is the address other peers dial, kept as written: a DNS
// name (a Kubernetes headless-service record) may not resolve yet when the
// peer starts, and is resolved at every dial instead.
type advertiseAddr string

func (a advertiseAddr) Network() string { return "tcp" }
func (a advertiseAddr) String() string  { return string(a) }

// checkHostPort checks that addr is host:port with a port, without
// resolving the host.
func checkHostPort(what, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err == nil && (host == "" || port == "") {
		err = fmt.Errorf("need both a host and a port")
	}
	if err != nil {
		return cairn.E("meta.config", cairn.Invalid, fmt.Errorf("%s %q: %w", what, addr, err))
	}
	return nil
}

func defaultDial(address string, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", address, timeout)
}

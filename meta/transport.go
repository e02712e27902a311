package meta

import (
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/pki"
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

// tlsStream makes a stream layer's connections mutual TLS between
// identities with the meta role.
type tlsStream struct {
	*streamLayer
	src *pki.Source
}

// handshakeTimeout bounds a Raft connection's TLS handshake.
const handshakeTimeout = 10 * time.Second

func (t *tlsStream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	raw, err := t.dial(string(address), timeout)
	if err != nil {
		return nil, err
	}
	host, _, _ := net.SplitHostPort(string(address))
	cfg := t.src.ClientTLS()
	cfg.ServerName = host
	c := tls.Client(raw, cfg)
	if err := handshakeAs(c, timeout, pki.Meta); err != nil {
		raw.Close()
		return nil, fmt.Errorf("raft TLS to %s: %w", address, err)
	}
	return c, nil
}

func (t *tlsStream) Accept() (net.Conn, error) {
	raw, err := t.Listener.Accept()
	if err != nil {
		return nil, err
	}
	// The handshake runs on the connection's first read, in the goroutine
	// Raft gives each connection, so a slow or hostile client cannot hold
	// up the accept loop.
	return &serverConn{Conn: tls.Server(raw, t.src.ServerTLS(true))}, nil
}

// serverConn completes its handshake and checks the client's role before
// the first byte is read.
type serverConn struct {
	*tls.Conn
	once sync.Once
	err  error
}

func (c *serverConn) Read(p []byte) (int, error) {
	c.once.Do(func() {
		if c.err = handshakeAs(c.Conn, handshakeTimeout, pki.Meta); c.err != nil {
			c.Close()
		}
	})
	if c.err != nil {
		return 0, c.err
	}
	return c.Conn.Read(p)
}

// handshakeAs completes c's handshake within timeout and checks that the
// other end's certificate holds role.
func handshakeAs(c *tls.Conn, timeout time.Duration, role pki.Role) error {
	if timeout <= 0 {
		timeout = handshakeTimeout
	}
	_ = c.SetDeadline(time.Now().Add(timeout)) // fails only on a closed connection, which the handshake reports
	defer func() { _ = c.SetDeadline(time.Time{}) }()
	if err := c.Handshake(); err != nil {
		return err
	}
	cs := c.ConnectionState()
	id, err := pki.PeerIdentity(&cs)
	if err != nil {
		return err
	}
	if !id.Has(role) {
		return fmt.Errorf("%s is not a metadata peer (needs the %s role)", id, role)
	}
	return nil
}

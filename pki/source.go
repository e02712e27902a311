package pki

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Source is a certificate directory, loaded, and reloaded when its files
// change: every TLS configuration it hands out picks up a new
// certificate, key or CA bundle at the next handshake, so certificates
// rotate without a restart. A change that does not parse (a half-written
// file, a key that does not match) is logged and the previous material
// stays in use.
type Source struct {
	dir string
	log *slog.Logger
	// public: a certificate for a user-facing port (LoadPublic): no
	// Cairn identity and no CA bundle needed.
	public bool

	mu      sync.Mutex
	cur     *material
	stamp   [3]fileStamp
	checked time.Time
}

// material is one consistent load of the directory.
type material struct {
	cert     tls.Certificate
	leaf     *x509.Certificate
	roots    *x509.CertPool
	identity Identity
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// recheckEvery bounds how often a handshake looks at the files.
const recheckEvery = time.Second

// Load reads the certificate directory dir (ca.crt, tls.crt, tls.key).
// log receives reload messages; nil discards them.
func Load(dir string, log *slog.Logger) (*Source, error) { return load(dir, log, false) }

func load(dir string, log *slog.Logger, public bool) (*Source, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Source{dir: dir, log: log, public: public}
	m, stamp, err := s.read()
	if err != nil {
		return nil, err
	}
	s.cur, s.stamp, s.checked = m, stamp, time.Now()
	return s, nil
}

// LoadPublic reads the certificate of a user-facing port (the S3 or REST
// port) from dir: tls.crt and tls.key, in the layout of Load, from any
// CA (a public one, the company's, cert-manager's); ca.crt is not needed.
// It reloads like Load. Use ServerTLS(false) for the listener.
func LoadPublic(dir string, log *slog.Logger) (*Source, error) { return load(dir, log, true) }

// Dir is the directory the source reads.
func (s *Source) Dir() string { return s.dir }

// Identity is the identity of this process's certificate.
func (s *Source) Identity() Identity { return s.material().identity }

// Leaf is this process's certificate.
func (s *Source) Leaf() *x509.Certificate { return s.material().leaf }

func (s *Source) paths() [3]string {
	return [3]string{filepath.Join(s.dir, CAFile), filepath.Join(s.dir, CertFile), filepath.Join(s.dir, KeyFile)}
}

func (s *Source) read() (*material, [3]fileStamp, error) {
	var stamp [3]fileStamp
	var data [3][]byte
	for i, p := range s.paths() {
		fi, err := os.Stat(p)
		if err == nil {
			data[i], err = os.ReadFile(p)
		}
		if i == 0 && s.public && errors.Is(err, os.ErrNotExist) {
			continue // a public certificate needs no CA bundle
		}
		if err != nil {
			return nil, stamp, fmt.Errorf("TLS material: %w; create the directory with `cairn cert`, or run with --insecure on a trusted network", err)
		}
		stamp[i] = fileStamp{fi.ModTime(), fi.Size()}
	}
	// Group read is allowed: it is how a Secret reaches a non-root pod on
	// Kubernetes (root's file, the pod's fsGroup, mode 0440) and a
	// container of another user on Docker (--group-add).
	if fi, err := os.Stat(s.paths()[2]); err == nil && fi.Mode().Perm()&0o027 != 0 {
		s.log.Warn("TLS private key is writable by its group or readable by other users; chmod 600 (or 440) it", "file", s.paths()[2], "mode", fi.Mode().Perm().String())
	}
	roots := x509.NewCertPool()
	if data[0] != nil || !s.public {
		cas, err := parseCerts(data[0])
		if err != nil {
			return nil, stamp, fmt.Errorf("%s: %w", s.paths()[0], err)
		}
		for _, c := range cas {
			roots.AddCert(c)
		}
	}
	cert, err := tls.X509KeyPair(data[1], data[2])
	if err != nil {
		return nil, stamp, fmt.Errorf("%s and %s: %w", s.paths()[1], s.paths()[2], err)
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, stamp, err
		}
	}
	var id Identity
	if !s.public {
		if id, err = IdentityOf(leaf); err != nil {
			return nil, stamp, fmt.Errorf("%s: %w", s.paths()[1], err)
		}
	}
	return &material{cert: cert, leaf: leaf, roots: roots, identity: id}, stamp, nil
}

// material returns the current material, rereading the files when they
// changed (looked at most once per recheckEvery).
func (s *Source) material() *material {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.checked) < recheckEvery {
		return s.cur
	}
	s.checked = time.Now()
	changed := false
	for i, p := range s.paths() {
		fi, err := os.Stat(p)
		switch {
		case err != nil:
			changed = changed || s.stamp[i] != fileStamp{} // gone, unless it never was
		case fi.ModTime() != s.stamp[i].mod || fi.Size() != s.stamp[i].size:
			changed = true
		}
	}
	if !changed {
		return s.cur
	}
	m, stamp, err := s.read()
	if err != nil {
		s.log.Error("TLS material changed but cannot be loaded; keeping the previous certificates", "dir", s.dir, "err", err)
		return s.cur
	}
	s.cur, s.stamp = m, stamp
	s.log.Info("reloaded TLS certificates", "dir", s.dir, "identity", m.identity.String(), "expires", m.leaf.NotAfter.Format(time.RFC3339))
	return m
}

// Reload forces the next handshake to look at the files (tests; a SIGHUP
// handler).
func (s *Source) Reload() {
	s.mu.Lock()
	s.checked = time.Time{}
	s.mu.Unlock()
}

// ServerTLS is the configuration of a listener. With requireClient, the
// peer must present a certificate signed by the CA (every internal port);
// otherwise one is verified if given (ports that also take other
// credentials, and health probes).
func (s *Source) ServerTLS(requireClient bool) *tls.Config {
	auth := tls.VerifyClientCertIfGiven
	switch {
	case requireClient:
		auth = tls.RequireAndVerifyClientCert
	case s.public:
		auth = tls.NoClientCert
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			m := s.material()
			return &tls.Config{
				MinVersion:   tls.VersionTLS12,
				Certificates: []tls.Certificate{m.cert},
				ClientCAs:    m.roots,
				ClientAuth:   auth,
				NextProtos:   []string{"h2", "http/1.1"},
			}, nil
		},
	}
}

// ClientTLS is the configuration for dialing a Cairn server: it presents
// this process's certificate (the current one at every handshake) and
// verifies the server's against the CA bundle as it is now and the host
// name dialed (an IP address is checked against IP SANs). Long-lived
// dialers take a fresh one per connection (DialTLS, GRPCClient), so a
// rotated CA bundle applies to the next connection.
func (s *Source) ClientTLS() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		RootCAs:    s.material().roots,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			m := s.material()
			return &m.cert, nil
		},
	}
}

// DialTLS dials addr and completes a TLS handshake as ClientTLS
// describes, speaking HTTP/1.1 (http.Transport.DialTLSContext).
func (s *Source) DialTLS(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	cfg := s.ClientTLS()
	cfg.ServerName, cfg.NextProtos = host, []string{"http/1.1"}
	d := tls.Dialer{Config: cfg}
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, explainTLS(addr, err)
	}
	return c, nil
}

// explainTLS adds what to check to a failed handshake.
func explainTLS(addr string, err error) error {
	var uerr x509.UnknownAuthorityError
	var herr x509.HostnameError
	var cerr x509.CertificateInvalidError
	switch {
	case errors.As(err, &uerr):
		return fmt.Errorf("TLS to %s: the server's certificate is not signed by this cluster's CA (check ca.crt in the certificate directory): %w", addr, err)
	case errors.As(err, &herr):
		return fmt.Errorf("TLS to %s: the server's certificate does not name the address dialed; reissue it with that host (--host): %w", addr, err)
	case errors.As(err, &cerr):
		return fmt.Errorf("TLS to %s: the server's certificate is not valid now (expired?): %w", addr, err)
	}
	return err
}

// CheckValid reports an error when this process's own certificate is not
// valid at now (expired, or not yet valid): peers will refuse it, and
// with TLS 1.3 a client learns that only as a connection closed after the
// handshake, so callers check their own side to say why.
func (s *Source) CheckValid(now time.Time) error {
	leaf := s.Leaf()
	switch {
	case now.After(leaf.NotAfter):
		return fmt.Errorf("this process's certificate (%s in %s) expired at %s; issue a new one (cairn cert)", s.Identity(), s.dir, leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		return fmt.Errorf("this process's certificate (%s in %s) is not valid before %s; check the clock", s.Identity(), s.dir, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	return nil
}

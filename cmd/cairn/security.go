package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cairnfs/cairn/pki"
)

// This file holds the flags every server role and client command shares
// for security: --certs-dir (a certificate directory, see package pki) and
// --insecure. Without either a server role refuses to start.

const (
	certsDirFlag = "certs-dir"
	insecureFlag = "insecure"
)

// addSecurityFlags defines --certs-dir and --insecure on fs unless it has
// them.
func addSecurityFlags(fs *flag.FlagSet, role string) {
	if fs.Lookup(certsDirFlag) == nil {
		fs.String(certsDirFlag, "", "certificate `DIR` with ca.crt, tls.crt and tls.key (made by cairn cert, or a cert-manager Secret); reloaded when its files change")
	}
	if fs.Lookup(insecureFlag) == nil {
		fs.Bool(insecureFlag, false, "run "+role+" without TLS or authentication: anyone who reaches a port can do anything. Only on a trusted network; listens on loopback unless an address is given")
	}
}

// tls returns the role's certificate source, nil with --insecure (after
// a warning), or an error that says what to pass.
func (sf *serverFlags) tls(log *slog.Logger) (*pki.Source, error) {
	dir := sf.fs.Lookup(certsDirFlag).Value.String()
	insecure := sf.fs.Lookup(insecureFlag).Value.String() == "true"
	switch {
	case insecure && dir != "":
		return nil, usagef("give --certs-dir or --insecure, not both")
	case insecure:
		log.Warn("RUNNING INSECURE: no TLS, no authentication; anyone who can reach these ports can read, change and delete everything. Use it only on a trusted network or loopback.")
		return nil, nil
	case dir == "":
		return nil, usagef("no TLS material: pass --%s DIR (ca.crt, tls.crt, tls.key; create them with `cairn cert`) or CAIRN_CERTS_DIR, or --insecure to run without authentication on a trusted network", certsDirFlag)
	}
	src, err := pki.Load(dir, log)
	if err != nil {
		return nil, err
	}
	log.Info("TLS on every port", "identity", src.Identity().String(), "certs", dir, "expires", src.Leaf().NotAfter.Format("2006-01-02"))
	return src, nil
}

// insecure reports whether --insecure was given.
func (sf *serverFlags) insecure() bool { return sf.fs.Lookup(insecureFlag).Value.String() == "true" }

// given reports whether a flag was set on the command line or in the
// environment.
func (sf *serverFlags) given(name string, aliases map[string]string) bool {
	set := false
	sf.fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	if set {
		return true
	}
	if _, ok := os.LookupEnv("CAIRN_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))); ok {
		return true
	}
	if a, ok := aliases[name]; ok {
		_, set = os.LookupEnv(a)
	}
	return set
}

// loopback returns addr with a wildcard host replaced by 127.0.0.1: an
// insecure role listens on loopback unless told otherwise.
func loopback(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || (host != "" && host != "0.0.0.0" && host != "::") {
		return addr
	}
	return net.JoinHostPort("127.0.0.1", port)
}

// insecureListen applies loopback to each address flag of an insecure
// role that was not given explicitly.
func (sf *serverFlags) insecureListen(aliases map[string]string, addrs map[string]*string) {
	if !sf.insecure() {
		return
	}
	for name, p := range addrs {
		if !sf.given(name, aliases) {
			*p = loopback(*p)
		}
	}
}

// clientTLS finds the certificate directory of a client command:
// --certs-dir, else $CAIRN_CERTS_DIR, else the admin certificate a
// `cairn server` in this directory created (./cairn-data/certs/admin),
// else ~/.cairn/certs. With --insecure it returns nil.
func clientTLS(certsDir string, insecure bool) (*pki.Source, error) {
	if insecure {
		if certsDir != "" {
			return nil, usagef("give --certs-dir or --insecure, not both")
		}
		return nil, nil
	}
	if certsDir != "" {
		return pki.Load(certsDir, nil)
	}
	candidates := []string{filepath.Join("cairn-data", "certs", "admin")}
	if home, err := os.UserHomeDir(); err == nil {
		candidates = append(candidates, filepath.Join(home, ".cairn", "certs"))
	}
	for _, d := range candidates {
		if _, err := os.Stat(filepath.Join(d, pki.CertFile)); err == nil {
			return pki.Load(d, nil)
		}
	}
	return nil, usagef("no client certificate: pass --certs-dir DIR or set CAIRN_CERTS_DIR (a directory from `cairn cert create-client`), run from the folder holding a `cairn server`'s cairn-data, or pass --insecure for a cluster run with --insecure")
}

// serverCerts is `cairn server`'s certificate authority: on first run it
// creates a CA in DIR/certs/ca, the server's certificate in
// DIR/certs/server and an admin client certificate in DIR/certs/admin.
// Later runs reuse them, reissuing the server's certificate when it does
// not name one of hosts.
func serverCerts(dir string, hosts []string, log *slog.Logger) (src *pki.Source, adminDir string, created bool, err error) {
	base := filepath.Join(dir, "certs")
	caDir, srvDir := filepath.Join(base, "ca"), filepath.Join(base, "server")
	adminDir = filepath.Join(base, "admin")
	ca, err := pki.LoadCA(caDir)
	if errors.Is(err, os.ErrNotExist) {
		if ca, err = pki.CreateCA("Cairn server CA", 0); err != nil {
			return nil, "", false, err
		}
		if err = ca.Save(caDir); err != nil {
			return nil, "", false, err
		}
		created = true
	}
	if err != nil {
		return nil, "", false, err
	}
	spec := pki.CertSpec{Name: "server", Roles: []pki.Role{pki.Meta, pki.Node, pki.Gateway, pki.Admin}, Hosts: hosts}
	if src, err = pki.Load(srvDir, log); err != nil || !namesAll(src, hosts) {
		if err = ca.WriteCertDir(srvDir, spec); err != nil {
			return nil, "", false, err
		}
		if src, err = pki.Load(srvDir, log); err != nil {
			return nil, "", false, err
		}
	}
	if _, err := os.Stat(filepath.Join(adminDir, pki.CertFile)); errors.Is(err, os.ErrNotExist) {
		if err := ca.WriteCertDir(adminDir, pki.CertSpec{Name: "root", Roles: []pki.Role{pki.Admin}}); err != nil {
			return nil, "", false, fmt.Errorf("creating the admin certificate: %w", err)
		}
		created = true
	}
	return src, adminDir, created, nil
}

// namesAll reports whether src's certificate names every host.
func namesAll(src *pki.Source, hosts []string) bool {
	leaf := src.Leaf()
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
				return false
			}
		} else if !slices.Contains(leaf.DNSNames, h) {
			return false
		}
	}
	return true
}

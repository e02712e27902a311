package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cairnfs/cairn/meta/secrets"
	"github.com/cairnfs/cairn/pki"
)

// runCert is `cairn cert`: a certificate authority for clusters, in the
// manner of `cockroach cert`. Every command writes certificate
// directories (ca.crt, tls.crt, tls.key) that the roles' --certs-dir and
// the CLI read.
func (a app) runCert(_ context.Context, args []string) error {
	const usage = `usage:
  cairn cert create-ca     --ca-dir DIR
  cairn cert create-node   --ca-dir DIR --out DIR --name NAME --roles meta,node,gateway[,admin] --host HOST[,HOST...]
  cairn cert create-client --ca-dir DIR --out DIR --name NAME [--admin]
  cairn cert create-key    --out FILE      (a 32-byte key: meta --secrets-key-file, or node --encryption-key-file)
  cairn cert show          DIR`
	if len(args) == 0 {
		return usagef("%s", usage)
	}
	fs := newFlags("cert " + args[0])
	caDir := fs.String("ca-dir", "", "directory of the CA's certificate and key (ca.crt, ca.key; keep it off the servers)")
	out := fs.String("out", "", "certificate directory to write (ca.crt, tls.crt, tls.key)")
	name := fs.String("name", "", "the principal's name: a peer or node name, or a user name")
	roles := fs.String("roles", "", "create-node: comma-separated roles among meta, node, gateway, plus admin for a gateway that creates S3 credentials at start")
	hosts := fs.String("host", "", "create-node: comma-separated DNS names and IPs the server answers on (wildcards like *.cairn-node.ns.svc.cluster.local allowed)")
	admin := fs.Bool("admin", false, "create-client: an administrator (cluster membership, credentials, fsck; superuser)")
	lifetime := fs.Duration("lifetime", 0, "validity (default 10 years for a CA, 1 year otherwise)")
	if err := parse(fs, args[1:], nil); err != nil {
		return err
	}
	need := func(vals ...string) error {
		for i := 0; i < len(vals); i += 2 {
			if vals[i+1] == "" {
				return usagef("cert %s needs --%s\n%s", args[0], vals[i], usage)
			}
		}
		return nil
	}
	switch args[0] {
	case "create-ca":
		if err := need("ca-dir", *caDir); err != nil {
			return err
		}
		ca, err := pki.CreateCA("Cairn CA", *lifetime)
		if err != nil {
			return err
		}
		if err := ca.Save(*caDir); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "created CA in %s (ca.key is secret: keep it off the servers)\n", *caDir)
		return nil
	case "create-node", "create-client":
		if err := need("ca-dir", *caDir, "out", *out, "name", *name); err != nil {
			return err
		}
		ca, err := pki.LoadCA(*caDir)
		if err != nil {
			return err
		}
		spec := pki.CertSpec{Name: *name, Lifetime: *lifetime, Hosts: splitList(*hosts)}
		if args[0] == "create-client" {
			spec.Roles = []pki.Role{pki.User}
			if *admin {
				spec.Roles = []pki.Role{pki.Admin}
			}
		} else {
			if err := need("roles", *roles, "host", *hosts); err != nil {
				return err
			}
			for _, r := range splitList(*roles) {
				role, err := pki.ParseRole(r)
				if err != nil {
					return usagef("--roles: %v", err)
				}
				if role == pki.User {
					return usagef("--roles %s: users get client certificates (cairn cert create-client)", r)
				}
				spec.Roles = append(spec.Roles, role)
			}
			if len(spec.Roles) == 1 && spec.Roles[0] == pki.Admin {
				return usagef("--roles admin: an admin alone gets a client certificate (cairn cert create-client --admin); a server may add admin to its roles")
			}
		}
		if err := ca.WriteCertDir(*out, spec); err != nil {
			return err
		}
		src, err := pki.Load(*out, nil)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "wrote %s: %s\n", *out, describe(src))
		return nil
	case "create-key":
		if err := need("out", *out); err != nil {
			return err
		}
		if err := secrets.NewKeyFile(*out); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "wrote %s (secret, mode 0600: as meta --secrets-key-file give the same file to every metadata peer; as node --encryption-key-file keep a copy off the node, without it the node's data cannot be read)\n", *out)
		return nil
	case "show":
		if fs.NArg() != 1 {
			return usagef("%s", usage)
		}
		src, err := pki.Load(fs.Arg(0), nil)
		if err != nil {
			return err
		}
		fmt.Fprintln(a.stdout, describe(src))
		return nil
	}
	return usagef("unknown cert command %q\n%s", args[0], usage)
}

// describe is one line about a certificate directory's certificate.
func describe(src *pki.Source) string {
	leaf := src.Leaf()
	hosts := append([]string(nil), leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		hosts = append(hosts, ip.String())
	}
	s := fmt.Sprintf("%s, valid until %s", src.Identity(), leaf.NotAfter.UTC().Format(time.DateOnly))
	if len(hosts) > 0 {
		s += ", hosts " + strings.Join(hosts, ",")
	}
	return s
}

package kubernetes_test

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/cairnfs/cairn/deploy/kubernetes/render"
	"github.com/cairnfs/cairn/pki"
)

// The pods' certificates: every role mounts its certificate directory from
// a Secret, and the cert-manager overlay (or the `cairn cert` commands of
// docs/kubernetes.md) fills those Secrets with certificates that name
// every address the pods are dialed at.

// checkTLSVolume: the role's certificate directory is the Secret
// cairn-<role>-tls, mounted read-only where CAIRN_CERTS_DIR points, whole
// (ca.crt, tls.crt, tls.key), and its files are readable by the pod's user
// and by no other.
func checkTLSVolume(t *testing.T, c *cluster, w workload) {
	t.Helper()
	what := w.String()
	v, m, err := render.TLSVolumeOf(w)
	if err != nil {
		t.Error(err)
		return
	}
	if m.MountPath != render.TLSMountPath || !m.ReadOnly || m.SubPath != "" {
		t.Errorf("%s: certificate volume mounted at %s (readOnly %v, subPath %q); want %s, read-only, whole", what, m.MountPath, m.ReadOnly, m.SubPath, render.TLSMountPath)
	}
	if v.Secret == nil {
		t.Errorf("%s: the certificate volume %s is not a Secret", what, v.Name)
		return
	}
	name := v.Secret.SecretName
	if want := render.TLSSecretName(w.Role()); name != want {
		t.Errorf("%s: certificates from the Secret %s, want %s", what, name, want)
	}
	if len(v.Secret.Items) > 0 || deref(v.Secret.Optional, false) {
		t.Errorf("%s: Secret %s: mount all its keys (a certificate directory), and not optionally", what, name)
	}
	// Where the Secret comes from: the manifests, cert-manager, or the
	// operator (a documented external Secret).
	switch s, ok := c.Secrets[name]; {
	case ok:
		for _, k := range render.TLSSecretKeys {
			if _, ok := s.Data[k]; !ok {
				if _, ok := s.StringData[k]; !ok {
					t.Errorf("%s: the Secret %s has no %s", what, name, k)
				}
			}
		}
	case certificateFor(c, name) != nil:
		// TestCertManager checks it.
	case slices.Equal(render.ExternalSecrets[name], render.TLSSecretKeys):
	default:
		t.Errorf("%s: the Secret %s is neither in the manifests, nor issued by a Certificate, nor a documented external Secret", what, name)
	}
	// The kubelet writes a Secret's files owned by root with the mode
	// defaultMode, and, when the pod has an fsGroup, gives them that group
	// and adds the group to the container's processes.
	mode := os.FileMode(deref(v.Secret.DefaultMode, 0o644))
	psc := w.Template.Spec.SecurityContext
	readable := mode&0o004 != 0 || (psc != nil && psc.FSGroup != nil && mode&0o040 != 0)
	if !readable {
		t.Errorf("%s: the certificate files (root's, mode %v, fsGroup %v) are not readable by the pod's user", what, mode, psc.FSGroup)
	}
	if mode&0o007 != 0 {
		t.Errorf("%s: the certificate files have mode %v: every user of the container may read the private key", what, mode)
	}
}

// certificateFor returns the cert-manager Certificate that fills the
// Secret name, or nil.
func certificateFor(c *cluster, secret string) *render.Certificate {
	for _, cert := range c.Certificates {
		if cert.Spec.SecretName == secret {
			return cert
		}
	}
	return nil
}

// dialedHosts are the host names and addresses clients dial the pods of w
// at, taken from the rendered configuration: for the metadata peers every
// peer's DNS name (up to five peers, the documented scale-up), the names
// of the Services in front of them and the loopback address `kubectl exec
// <pod> -- /cairn` dials; for the data nodes every node's DNS name (one
// more than the replicas, a scale-up). The gateway serves no TLS port.
func dialedHosts(t *testing.T, c *cluster, w workload) []string {
	t.Helper()
	var hosts []string
	switch w.Role() {
	case "meta":
		for i := range max(5, int(w.Replicas)) {
			hosts = append(hosts, c.FQDN(w, fmt.Sprintf("%s-%d", w.Name, i)))
		}
		for _, s := range c.Services {
			if s.Spec.ClusterIP != "None" && s.Spec.Selector["app.kubernetes.io/component"] == "meta" {
				hosts = append(hosts, s.Name, s.Name+"."+c.PodNamespace()+".svc")
			}
		}
		hosts = append(hosts, "127.0.0.1")
	case "node":
		for i := range int(w.Replicas) + 1 {
			hosts = append(hosts, c.FQDN(w, fmt.Sprintf("%s-%d", w.Name, i)))
		}
	}
	return hosts
}

// wantRoles are the Cairn roles a workload's certificate needs.
func wantRoles(w workload) []pki.Role {
	roles := []pki.Role{pki.Role(w.Role())}
	creates := slices.ContainsFunc(w.Template.Spec.Containers[0].Env, func(e corev1.EnvVar) bool { return e.Name == "CAIRN_ACCESS_KEY" })
	if w.Role() == "gateway" && creates {
		roles = append(roles, pki.Admin) // it creates the root S3 credentials
	}
	return roles
}

// issued issues a certificate with the given identity URIs and host names
// from a throw-away CA, as cert-manager or `cairn cert` would, and returns
// it parsed.
func issued(t *testing.T, ca *pki.CA, uris, hosts []string) *x509.Certificate {
	t.Helper()
	spec := pki.CertSpec{Hosts: hosts}
	for _, u := range uris {
		role, name, ok := strings.Cut(strings.TrimPrefix(u, "cairn://"), "/")
		if !ok || !strings.HasPrefix(u, "cairn://") {
			t.Fatalf("URI SAN %q is not cairn://ROLE/NAME", u)
		}
		if spec.Name != "" && spec.Name != name {
			t.Fatalf("URI SANs %q name two principals", uris)
		}
		spec.Name = name
		spec.Roles = append(spec.Roles, pki.Role(role))
	}
	certPEM, _, err := ca.Issue(spec)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(certPEM)
	leaf, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

// checkNames: a certificate with these identity URIs and hosts gives the
// workload's pods the identity Cairn authorizes them by, and passes Go's
// host name verification (what every Cairn client does) for every address
// the pods are dialed at.
func checkNames(t *testing.T, c *cluster, w workload, what string, uris, hosts []string) {
	t.Helper()
	ca, err := pki.CreateCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf := issued(t, ca, uris, hosts)
	id, err := pki.IdentityOf(leaf)
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return
	}
	wantName := w.Name
	if w.Role() == "node" {
		// Data nodes register under IDs they pick (node-<8 hex digits>),
		// which their certificate must cover.
		wantName = render.NodeFleetName
		if !id.Covers("node-0a1b2c3d") {
			t.Errorf("%s: identity %v does not cover the IDs data nodes pick for themselves", what, id)
		}
	}
	if want := wantRoles(w); !slices.Equal(id.Roles, want) || id.Name != wantName {
		t.Errorf("%s: identity %v, want %s with the roles %v", what, id, wantName, want)
	}
	for _, h := range dialedHosts(t, c, w) {
		if err := leaf.VerifyHostname(h); err != nil {
			t.Errorf("%s: %v pods are dialed at %s, which the certificate does not name: %v", what, w, h, err)
		}
	}
}

// TestCertManager checks the cert-manager overlay: a self-signed Issuer
// makes the CA certificate, a CA Issuer signs with it, and each role's
// Secret is a Certificate from that Issuer with the role's identity, the
// names its pods are dialed at, both TLS usages and an ECDSA key; plus an
// admin client certificate.
func TestCertManager(t *testing.T) {
	c := load(t, certManagerOverlay)
	if c.Namespace == "" {
		t.Fatalf("%s names no namespace; its certificates name the pods' DNS names, which contain it", certManagerOverlay)
	}
	for _, w := range c.Workloads {
		name := render.TLSSecretName(w.Role())
		cert := certificateFor(c, name)
		if cert == nil {
			t.Errorf("%v: no Certificate fills the Secret %s", w, name)
			continue
		}
		what := "Certificate/" + cert.Name
		checkIssuedByCA(t, c, what, cert)
		s := cert.Spec
		for _, u := range []string{"server auth", "client auth"} {
			if !slices.Contains(s.Usages, u) {
				t.Errorf("%s: usages %q lack %q (every role serves and dials)", what, s.Usages, u)
			}
		}
		checkKey(t, what, cert)
		checkNames(t, c, w, what, s.URIs, append(slices.Clone(s.DNSNames), s.IPAddresses...))
		// docs/kubernetes.md and the multi-process tests issue what
		// CertRecipeFor says; it must be the same.
		r := c.CertRecipeFor(w)
		if got := append(slices.Clone(s.DNSNames), s.IPAddresses...); !slices.Equal(got, r.Hosts) || !slices.Equal(s.URIs, r.URIs()) {
			t.Errorf("%s: names %q and identity %q; the recipe (docs/kubernetes.md) says %q and %q", what, got, s.URIs, r.Hosts, r.URIs())
		}
	}
	admin := certificateFor(c, "cairn-admin-tls")
	if admin == nil {
		t.Fatal("no Certificate for the operators' client certificate cairn-admin-tls")
	}
	checkIssuedByCA(t, c, "Certificate/"+admin.Name, admin)
	checkKey(t, "Certificate/"+admin.Name, admin)
	ca, _ := pki.CreateCA("test CA", time.Hour)
	if id, err := pki.IdentityOf(issued(t, ca, admin.Spec.URIs, nil)); err != nil || !slices.Equal(id.Roles, []pki.Role{pki.Admin}) {
		t.Errorf("Certificate/%s: identity %v (%v), want an admin", admin.Name, id, err)
	}
	if !slices.Contains(admin.Spec.Usages, "client auth") || len(admin.Spec.DNSNames)+len(admin.Spec.IPAddresses) > 0 {
		t.Errorf("Certificate/%s: want a client certificate (usage client auth, no host names)", admin.Name)
	}
	for n := range c.Secrets {
		t.Errorf("Secret %s is in the manifests; cert-manager makes the certificates' and the operator the S3 credentials", n)
	}
}

// checkIssuedByCA: the Certificate comes from an Issuer in the manifests
// whose CA is a Certificate (isCA) from a self-signed Issuer.
func checkIssuedByCA(t *testing.T, c *cluster, what string, cert *render.Certificate) {
	t.Helper()
	issuer := func(ref render.ObjectReference) *render.Issuer {
		if (ref.Kind != "" && ref.Kind != "Issuer") || (ref.Group != "" && ref.Group != "cert-manager.io") {
			t.Errorf("%s: issuerRef %+v, want an Issuer of cert-manager.io in the manifests", what, ref)
			return nil
		}
		i, ok := c.Issuers[ref.Name]
		if !ok {
			t.Errorf("%s: no Issuer %s", what, ref.Name)
		}
		return i
	}
	i := issuer(cert.Spec.IssuerRef)
	if i == nil {
		return
	}
	if cert.Spec.IsCA || i.Spec.CA == nil {
		t.Errorf("%s: want a leaf certificate from a CA Issuer", what)
		return
	}
	ca := certificateFor(c, i.Spec.CA.SecretName)
	if ca == nil || !ca.Spec.IsCA {
		t.Errorf("%s: the CA Issuer %s reads the Secret %s, which no CA Certificate (isCA) fills", what, i.Name, i.Spec.CA.SecretName)
		return
	}
	if root := issuer(ca.Spec.IssuerRef); root != nil && root.Spec.SelfSigned == nil {
		t.Errorf("Certificate/%s (the CA): issued by %s, want a self-signed Issuer", ca.Name, root.Name)
	}
	checkKey(t, "Certificate/"+ca.Name, ca)
}

// checkKey: an ECDSA key (as `cairn cert` makes) and a validity that
// leaves time to renew.
func checkKey(t *testing.T, what string, cert *render.Certificate) {
	t.Helper()
	if k := cert.Spec.PrivateKey; k == nil || k.Algorithm != "ECDSA" {
		t.Errorf("%s: want privateKey.algorithm ECDSA", what)
	}
	if d, r := cert.Spec.Duration, cert.Spec.RenewBefore; d != nil && r != nil && r.Duration >= d.Duration {
		t.Errorf("%s: renewBefore %v is not shorter than duration %v", what, r.Duration, d.Duration)
	}
}

// TestDocumentedCertCommands checks the `cairn cert create-node` commands
// of docs/kubernetes.md, which make the Secrets by hand: one per role,
// with the identity and host names the role's pods need in the namespace
// the page uses (cairn).
func TestDocumentedCertCommands(t *testing.T) {
	page, err := os.ReadFile("../../docs/kubernetes.md")
	if err != nil {
		t.Fatal(err)
	}
	c := load(t, "base")
	c.Namespace = "cairn"
	cmds := map[string][]string{} // --out -> arguments
	re := regexp.MustCompile(`(?m)^cairn cert create-node((?: +--\S+ +\S+)+)\s*$`)
	for _, m := range re.FindAllStringSubmatch(strings.ReplaceAll(string(page), "\\\n", " "), -1) {
		args := strings.Fields(m[1])
		for i := 0; i+1 < len(args); i += 2 {
			if args[i] == "--out" {
				cmds[args[i+1]] = args
			}
		}
	}
	for _, w := range c.Workloads {
		r := c.CertRecipeFor(w)
		out := strings.TrimSuffix(r.Secret, "-tls")
		args, ok := cmds[out]
		if !ok {
			t.Errorf("docs/kubernetes.md: no `cairn cert create-node ... --out %s` for the Secret %s (found %v)", out, r.Secret, keys(cmds))
			continue
		}
		flag := func(name string) string {
			for i := 0; i+1 < len(args); i += 2 {
				if args[i] == "--"+name {
					return args[i+1]
				}
			}
			return ""
		}
		var uris []string
		for _, role := range strings.Split(flag("roles"), ",") {
			uris = append(uris, "cairn://"+role+"/"+strings.Trim(flag("name"), `'"`))
		}
		hosts := strings.Split(strings.Trim(flag("host"), `'"`), ",")
		if !slices.Equal(uris, r.URIs()) || !slices.Equal(hosts, r.Hosts) {
			t.Errorf("docs/kubernetes.md: the certificate in %s has identity %q and hosts %q, want %q and %q", out, uris, hosts, r.URIs(), r.Hosts)
		}
		checkNames(t, c, w, "docs/kubernetes.md "+out, uris, hosts)
	}
	// The commands themselves work (with the page's folders under a
	// temporary one).
	dir := t.TempDir()
	run := func(args ...string) {
		cmd := exec.Command(cairn(t), args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("cairn %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	caDir := regexp.MustCompile(`(?m)^cairn cert create-ca --ca-dir (\S+)`).FindStringSubmatch(string(page))
	if caDir == nil {
		t.Fatal("docs/kubernetes.md: no `cairn cert create-ca --ca-dir DIR`")
	}
	run("cert", "create-ca", "--ca-dir", caDir[1])
	for _, args := range cmds {
		full := []string{"cert", "create-node"}
		for _, a := range args {
			full = append(full, strings.Trim(a, `'"`))
		}
		run(full...)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestSecretsKeyMounted: in the base and every overlay the metadata pods
// read the secrets key from the Secret cairn-secrets-key, mounted whole,
// read-only, not optionally, readable by the pod's user and no other; no
// other pod mounts it.
func TestSecretsKeyMounted(t *testing.T) {
	for _, dir := range kustomizations(t) {
		c := load(t, dir)
		for _, w := range c.Workloads {
			what := dir + " " + w.String()
			v, m, ok, err := render.SecretsKeyVolumeOf(w)
			if err != nil {
				t.Errorf("%s: %v", what, err)
				continue
			}
			for _, vol := range w.Template.Spec.Volumes {
				if vol.Secret != nil && vol.Secret.SecretName == render.SecretsKeySecret && w.Role() != "meta" {
					t.Errorf("%s mounts the secrets key; only metadata peers may", what)
				}
			}
			if w.Role() != "meta" {
				continue
			}
			if !ok {
				t.Errorf("%s: no CAIRN_SECRETS_KEY_FILE: stored S3 secrets would be kept unsealed", what)
				continue
			}
			if m.MountPath != render.SecretsKeyMountPath || !m.ReadOnly || m.SubPath != "" {
				t.Errorf("%s: secrets key mounted at %s (readOnly %v, subPath %q); want %s, read-only, whole (a subPath mount never sees updates)",
					what, m.MountPath, m.ReadOnly, m.SubPath, render.SecretsKeyMountPath)
			}
			if v.Secret == nil || v.Secret.SecretName != render.SecretsKeySecret || len(v.Secret.Items) > 0 || deref(v.Secret.Optional, false) {
				t.Errorf("%s: the secrets key volume %s must be the whole Secret %s, not optional", what, v.Name, render.SecretsKeySecret)
				continue
			}
			mode := os.FileMode(deref(v.Secret.DefaultMode, 0o644))
			if mode&0o007 != 0 || mode&0o040 == 0 {
				t.Errorf("%s: the secrets key has mode %v; want readable by the fsGroup and no other user", what, mode)
			}
			if _, ok := c.Secrets[render.SecretsKeySecret]; !ok && !slices.Contains(render.ExternalSecrets[render.SecretsKeySecret], render.SecretsKeyFile) {
				t.Errorf("%s: the Secret %s is neither in the manifests nor a documented external Secret", what, render.SecretsKeySecret)
			}
		}
	}
}

package render

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// This file holds what the manifests need for TLS: the cert-manager
// resources an overlay may carry (decoded strictly into the subset of
// cert-manager's API below, so that a misspelt field fails as it would
// fail `kubectl apply` against cert-manager's CRDs), and what each role's
// certificate must carry.

// The cert-manager API (cert-manager.io/v1), reduced to the fields Cairn's
// manifests may use. cert-manager's own Go module is not a dependency:
// a field it has and this subset lacks is refused, which keeps the
// manifests to what the tests check.
type (
	// Issuer is a namespaced cert-manager Issuer: self-signed (for the
	// root) or a CA whose certificate and key are in a Secret.
	Issuer struct {
		metav1.TypeMeta   `json:",inline"`
		metav1.ObjectMeta `json:"metadata"`
		Spec              IssuerSpec `json:"spec"`
	}
	IssuerSpec struct {
		SelfSigned *struct{} `json:"selfSigned,omitempty"`
		CA         *CAIssuer `json:"ca,omitempty"`
	}
	CAIssuer struct {
		SecretName string `json:"secretName"`
	}

	// Certificate is a cert-manager Certificate: cert-manager keeps the
	// Secret SecretName filled with ca.crt, tls.crt and tls.key (the
	// layout of a Cairn certificate directory) and renews it.
	Certificate struct {
		metav1.TypeMeta   `json:",inline"`
		metav1.ObjectMeta `json:"metadata"`
		Spec              CertificateSpec `json:"spec"`
	}
	CertificateSpec struct {
		SecretName     string            `json:"secretName"`
		SecretTemplate *SecretTemplate   `json:"secretTemplate,omitempty"`
		CommonName     string            `json:"commonName,omitempty"`
		IsCA           bool              `json:"isCA,omitempty"`
		Duration       *metav1.Duration  `json:"duration,omitempty"`
		RenewBefore    *metav1.Duration  `json:"renewBefore,omitempty"`
		DNSNames       []string          `json:"dnsNames,omitempty"`
		IPAddresses    []string          `json:"ipAddresses,omitempty"`
		URIs           []string          `json:"uris,omitempty"`
		Usages         []string          `json:"usages,omitempty"`
		PrivateKey     *CertificateKey   `json:"privateKey,omitempty"`
		IssuerRef      ObjectReference   `json:"issuerRef"`
		Subject        *CertificateNames `json:"subject,omitempty"`
	}
	SecretTemplate struct {
		Labels      map[string]string `json:"labels,omitempty"`
		Annotations map[string]string `json:"annotations,omitempty"`
	}
	CertificateKey struct {
		Algorithm      string `json:"algorithm,omitempty"` // RSA, ECDSA, Ed25519
		Size           int    `json:"size,omitempty"`
		Encoding       string `json:"encoding,omitempty"`       // PKCS1, PKCS8
		RotationPolicy string `json:"rotationPolicy,omitempty"` // Never, Always
	}
	ObjectReference struct {
		Name  string `json:"name"`
		Kind  string `json:"kind,omitempty"`
		Group string `json:"group,omitempty"`
	}
	CertificateNames struct {
		Organizations []string `json:"organizations,omitempty"`
	}
)

// CertManagerAPI is the apiVersion of the cert-manager resources.
const CertManagerAPI = "cert-manager.io/v1"

// TLS is how the pods get their certificates: a Secret per role in the
// layout of a certificate directory, mounted read-only at MountPath, which
// CAIRN_CERTS_DIR names.
const (
	TLSMountPath = "/etc/cairn/tls"
	TLSVolume    = "tls"
)

// NodeFleetName is the identity name of the data nodes' certificate: it
// covers every ID a data node makes for itself (docs/security.md, "Node
// identities").
const NodeFleetName = "node-*"

// TLSSecretKeys are the keys of a certificate Secret: the files of a
// certificate directory (package pki).
var TLSSecretKeys = []string{"ca.crt", "tls.crt", "tls.key"}

// TLSSecretName is the Secret holding the certificate of a role's pods.
func TLSSecretName(role string) string { return "cairn-" + role + "-tls" }

// CertRecipe is what a role's certificate must carry: the identity (as
// cairn://ROLE/NAME URI SANs) and the DNS names and addresses its pods are
// dialed by. docs/kubernetes.md gives the same as `cairn cert` commands,
// and the cert-manager overlay as Certificates.
type CertRecipe struct {
	Secret string
	Name   string   // the principal
	Roles  []string // cairn roles
	Hosts  []string // DNS names (wildcards allowed) and IP addresses
}

// URIs are the identity SANs of the recipe.
func (r CertRecipe) URIs() []string {
	var out []string
	for _, role := range r.Roles {
		out = append(out, "cairn://"+role+"/"+r.Name)
	}
	return out
}

// CertRecipeFor is the certificate the pods of w need in this cluster:
//
//   - a metadata peer: role meta, dialed by the other peers, the data
//     nodes and the gateways at <pod>.<headless service>.<ns>.svc.<domain>
//     (one wildcard covers every ordinal, so scaling needs no new
//     certificate), by in-cluster clients at the Services' names
//     (cairn-api, cairn-api.<ns>, ...), and by `kubectl exec <pod> --
//     /cairn ...` at 127.0.0.1 and localhost;
//   - a data node: role node, dialed at its pod's name under its headless
//     Service (and, the same way, on loopback);
//   - a gateway: role gateway, plus admin when it creates the root S3
//     credentials at start (CAIRN_ACCESS_KEY): creating credentials is an
//     administrator's call. The S3 port is plain HTTP; the gateway only
//     dials with its certificate, so it names no host but its Service.
func (c *Cluster) CertRecipeFor(w Workload) CertRecipe {
	role := w.Role()
	r := CertRecipe{Secret: TLSSecretName(role), Name: w.Name, Roles: []string{role}}
	if role == "node" {
		// Data nodes pick their own IDs (node-<8 hex digits>, kept on
		// their volume) and may register only IDs their certificate
		// covers: one fleet certificate covers them all.
		r.Name = NodeFleetName
	}
	ns := c.PodNamespace()
	if w.STS != nil {
		r.Hosts = append(r.Hosts, fmt.Sprintf("*.%s.%s.svc.%s", w.ServiceName, ns, c.Domain))
	}
	var svcs []string
	for name, s := range c.Services {
		if len(s.Spec.Selector) > 0 && labelsMatch(s.Spec.Selector, w.Template.Labels) && s.Spec.ClusterIP != corev1.ClusterIPNone {
			svcs = append(svcs, name)
		}
	}
	slices.Sort(svcs)
	for _, s := range svcs {
		r.Hosts = append(r.Hosts, s, s+"."+ns, s+"."+ns+".svc", s+"."+ns+".svc."+c.Domain)
	}
	if role == "gateway" {
		for _, e := range w.Template.Spec.Containers[0].Env {
			if e.Name == "CAIRN_ACCESS_KEY" {
				r.Roles = append(r.Roles, "admin")
			}
		}
		return r
	}
	return CertRecipe{Secret: r.Secret, Name: r.Name, Roles: r.Roles, Hosts: append(r.Hosts, "localhost", "127.0.0.1")}
}

func labelsMatch(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// TLSVolumeOf returns a workload's volume that holds its certificate
// directory (the Secret mounted where CAIRN_CERTS_DIR points), with the
// container's mount of it.
func TLSVolumeOf(w Workload) (corev1.Volume, corev1.VolumeMount, error) {
	if len(w.Template.Spec.Containers) == 0 {
		return corev1.Volume{}, corev1.VolumeMount{}, fmt.Errorf("%v: no container", w)
	}
	ctr := w.Template.Spec.Containers[0]
	dir := ""
	for _, e := range ctr.Env {
		if e.Name == "CAIRN_CERTS_DIR" {
			dir = e.Value
		}
	}
	if dir == "" {
		return corev1.Volume{}, corev1.VolumeMount{}, fmt.Errorf("%v: no CAIRN_CERTS_DIR in the environment", w)
	}
	for _, m := range ctr.VolumeMounts {
		if strings.TrimSuffix(m.MountPath, "/") != strings.TrimSuffix(dir, "/") {
			continue
		}
		for _, v := range w.Template.Spec.Volumes {
			if v.Name == m.Name {
				return v, m, nil
			}
		}
		return corev1.Volume{}, m, fmt.Errorf("%v: the mount at %s has no volume %s", w, m.MountPath, m.Name)
	}
	return corev1.Volume{}, corev1.VolumeMount{}, fmt.Errorf("%v: CAIRN_CERTS_DIR=%s is not a mount path", w, dir)
}

// The data nodes' encryption key: a Secret with one key, the key file
// (`cairn cert create-key`), mounted so that CAIRN_ENCRYPTION_KEY_FILE
// names it.
const (
	EncryptionKeySecret = "cairn-node-encryption-key"
	EncryptionKeyFile   = "encryption.key"
)

// SecretMount is a Secret a pod mounts as files.
type SecretMount struct {
	Secret string
	Path   string
}

// OtherSecretMountsOf lists the Secrets w's container mounts besides its
// certificate (TLSVolumeOf), in mount order.
func OtherSecretMountsOf(w Workload) []SecretMount {
	if len(w.Template.Spec.Containers) == 0 {
		return nil
	}
	tls, _, _ := TLSVolumeOf(w)
	var out []SecretMount
	for _, m := range w.Template.Spec.Containers[0].VolumeMounts {
		for _, v := range w.Template.Spec.Volumes {
			if v.Name == m.Name && v.Secret != nil && v.Name != tls.Name {
				out = append(out, SecretMount{Secret: v.Secret.SecretName, Path: m.MountPath})
			}
		}
	}
	return out
}

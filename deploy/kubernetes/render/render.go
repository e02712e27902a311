// Package render builds Cairn's Kubernetes manifests the way `kubectl
// apply -k` does (kustomize's own library, krusty), decodes every object
// strictly into the k8s.io/api types, and resolves what the kubelet would
// give each pod's container: its arguments and its environment, with
// downward-API fields, resource fields, Secret keys and $(VAR) references
// filled in.
//
// It needs no Kubernetes cluster. The tests of deploy/kubernetes check the
// manifests with it, and the multi-process tests in e2e run the cairn
// binary with exactly the arguments and environment it resolves.
package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// The values the fake kubelet gives the downward API by default, and the
// cluster's DNS domain.
const (
	DefaultNamespace = "cairn-test"    // for manifests that set no namespace
	DefaultZone      = "zone-b"        // the pod's topology.kubernetes.io/zone label
	DefaultDomain    = "cluster.local" // the cluster's DNS domain
)

// ExternalSecrets are the Secrets the overlays expect the operator (or
// cert-manager, see the cert-manager overlay) to create
// (docs/kubernetes.md), with their keys; every other Secret a pod uses
// must be in the rendered output.
var ExternalSecrets = map[string][]string{
	"cairn-s3-credentials":   {"access-key", "secret-key"},
	EncryptionKeySecret:      {EncryptionKeyFile},
	TLSSecretName("meta"):    TLSSecretKeys,
	TLSSecretName("node"):    TLSSecretKeys,
	TLSSecretName("gateway"): TLSSecretKeys,
	SecretsKeySecret:         {SecretsKeyFile},
}

// ---------------------------------------------------------------------------
// Rendering and strict decoding

// Object is one rendered Kubernetes object.
type Object struct {
	APIVersion, Kind, Name string
	Obj                    any // *appsv1.StatefulSet, *corev1.Service, ...
}

func (o Object) String() string { return o.Kind + "/" + o.Name }

// NewTyped returns an empty typed object for apiVersion+kind, or nil if the
// manifests are not expected to contain that kind.
func NewTyped(apiVersion, kind string) any {
	switch apiVersion + " " + kind {
	case "v1 Service":
		return &corev1.Service{}
	case "v1 Secret":
		return &corev1.Secret{}
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}
	case "v1 ServiceAccount":
		return &corev1.ServiceAccount{}
	case "apps/v1 StatefulSet":
		return &appsv1.StatefulSet{}
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}
	case "policy/v1 PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}
	case CertManagerAPI + " Issuer":
		return &Issuer{}
	case CertManagerAPI + " Certificate":
		return &Certificate{}
	}
	return nil
}

// DecodeStrict decodes JSON into v the way the API server's strict field
// validation does: case-sensitive field names, no unknown fields, no
// duplicate fields.
func DecodeStrict(data []byte, v any) error {
	strictErrs, err := sigsjson.UnmarshalStrict(data, v, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strictErrs...)
}

// DecodeObject decodes one object (JSON) strictly into its k8s.io/api type.
func DecodeObject(data []byte) (Object, error) {
	var tm metav1.TypeMeta
	if err := json.Unmarshal(data, &tm); err != nil {
		return Object{}, err
	}
	typed := NewTyped(tm.APIVersion, tm.Kind)
	if typed == nil {
		return Object{}, fmt.Errorf("unexpected kind %s %s", tm.APIVersion, tm.Kind)
	}
	if err := DecodeStrict(data, typed); err != nil {
		return Object{}, fmt.Errorf("%s: %w", tm.Kind, err)
	}
	name := typed.(metav1.ObjectMetaAccessor).GetObjectMeta().GetName()
	return Object{APIVersion: tm.APIVersion, Kind: tm.Kind, Name: name, Obj: typed}, nil
}

// DecodeYAMLDocs decodes every document of a YAML file strictly (duplicate
// keys are an error already at the YAML level).
func DecodeYAMLDocs(data []byte) ([]Object, error) {
	var out []Object
	for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
		j, err := yaml.YAMLToJSONStrict([]byte(doc))
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if bytes.Equal(bytes.TrimSpace(j), []byte("null")) {
			continue // only comments
		}
		o, err := DecodeObject(j)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		out = append(out, o)
	}
	return out, nil
}

// Build builds a kustomization directory with kustomize's library, as
// `kubectl apply -k` would, and decodes the result strictly.
func Build(dir string) ([]Object, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resMap, err := k.Run(filesys.MakeFsOnDisk(), abs)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	var objs []Object
	for _, r := range resMap.Resources() {
		j, err := r.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", dir, err)
		}
		o, err := DecodeObject(j)
		if err != nil {
			return nil, fmt.Errorf("%s: %s %s: %w", dir, r.GetKind(), r.GetName(), err)
		}
		objs = append(objs, o)
	}
	return objs, nil
}

// ---------------------------------------------------------------------------
// Workloads

// Workload is a StatefulSet or a Deployment.
type Workload struct {
	Object
	Replicas    int32
	Selector    *metav1.LabelSelector
	Template    corev1.PodTemplateSpec
	STS         *appsv1.StatefulSet // nil for a Deployment
	ServiceName string              // a StatefulSet's governing Service
}

// Role is the cairn subcommand a workload runs (its first argument).
func (w Workload) Role() string {
	if len(w.Template.Spec.Containers) == 0 || len(w.Template.Spec.Containers[0].Args) == 0 {
		return ""
	}
	return w.Template.Spec.Containers[0].Args[0]
}

// Cluster is a rendered kustomization, sorted by kind, plus what the fake
// kubelet assumes about the cluster the pods run in.
type Cluster struct {
	Dir       string
	Namespace string // the namespace the objects carry ("" = none)
	Domain    string // the cluster's DNS domain the pods are configured for
	Zone      string // the topology.kubernetes.io/zone label of every pod
	Objects   []Object
	Workloads []Workload
	Services  map[string]*corev1.Service
	Secrets   map[string]*corev1.Secret
	PDBs      []*policyv1.PodDisruptionBudget
	// cert-manager resources, by name.
	Issuers      map[string]*Issuer
	Certificates map[string]*Certificate
}

// Load builds a kustomization and sorts its objects.
func Load(dir string) (*Cluster, error) {
	objs, err := Build(dir)
	if err != nil {
		return nil, err
	}
	return New(dir, objs), nil
}

// New sorts rendered objects into a Cluster with the default domain and
// zone.
func New(dir string, objs []Object) *Cluster {
	c := &Cluster{Dir: dir, Domain: DefaultDomain, Zone: DefaultZone, Objects: objs,
		Services: map[string]*corev1.Service{}, Secrets: map[string]*corev1.Secret{},
		Issuers: map[string]*Issuer{}, Certificates: map[string]*Certificate{}}
	for i, o := range objs {
		// An overlay that names a namespace puts it on every object.
		if i == 0 {
			c.Namespace = o.Obj.(metav1.ObjectMetaAccessor).GetObjectMeta().GetNamespace()
		}
		switch v := o.Obj.(type) {
		case *appsv1.StatefulSet:
			c.Workloads = append(c.Workloads, Workload{Object: o, Replicas: Deref(v.Spec.Replicas, 1), Selector: v.Spec.Selector, Template: v.Spec.Template, STS: v, ServiceName: v.Spec.ServiceName})
		case *appsv1.Deployment:
			c.Workloads = append(c.Workloads, Workload{Object: o, Replicas: Deref(v.Spec.Replicas, 1), Selector: v.Spec.Selector, Template: v.Spec.Template})
		case *corev1.Service:
			c.Services[v.Name] = v
		case *corev1.Secret:
			c.Secrets[v.Name] = v
		case *policyv1.PodDisruptionBudget:
			c.PDBs = append(c.PDBs, v)
		case *Issuer:
			c.Issuers[v.Name] = v
		case *Certificate:
			c.Certificates[v.Name] = v
		}
	}
	return c
}

// Deref returns *p, or def for nil.
func Deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// ByRole returns the one workload running `cairn <role>`.
func (c *Cluster) ByRole(role string) (Workload, error) {
	var found []Workload
	for _, w := range c.Workloads {
		if w.Role() == role {
			found = append(found, w)
		}
	}
	if len(found) != 1 {
		return Workload{}, fmt.Errorf("%s: want one workload running `cairn %s`, found %d", c.Dir, role, len(found))
	}
	return found[0], nil
}

// Selects reports which workloads' pods a selector matches.
func (c *Cluster) Selects(sel labels.Selector) []Workload {
	var out []Workload
	for _, w := range c.Workloads {
		if !sel.Empty() && sel.Matches(labels.Set(w.Template.Labels)) {
			out = append(out, w)
		}
	}
	return out
}

// ContainerPort resolves a port by name or number in a pod's containers.
func ContainerPort(spec corev1.PodSpec, p intstr.IntOrString) (int32, bool) {
	for _, c := range spec.Containers {
		for _, cp := range c.Ports {
			if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
				return cp.ContainerPort, true
			}
		}
	}
	return 0, false
}

// ---------------------------------------------------------------------------
// The kubelet's view of a container: downward API and $(VAR) expansion

// Pod is what the fake kubelet knows about one pod.
type Pod struct {
	Name, Namespace, NodeName, PodIP, ServiceAccount string
	Labels, Annotations                              map[string]string
}

// PodNamespace is the namespace the pods run in.
func (c *Cluster) PodNamespace() string {
	if c.Namespace != "" {
		return c.Namespace
	}
	return DefaultNamespace
}

// FQDN is the DNS name of a StatefulSet's pod under its headless Service.
func (c *Cluster) FQDN(w Workload, pod string) string {
	return fmt.Sprintf("%s.%s.%s.svc.%s", pod, w.ServiceName, c.PodNamespace(), c.Domain)
}

// PodFor is the pod a workload runs with the given ordinal: for a
// StatefulSet <name>-<ordinal>, on the Kubernetes node worker-<ordinal>,
// with the pod IP 192.0.2.<10+ordinal>.
func (c *Cluster) PodFor(w Workload, ordinal int) Pod {
	name := fmt.Sprintf("%s-%d", w.Name, ordinal)
	if w.STS == nil {
		name = fmt.Sprintf("%s-7d9f8b6c5-%05d", w.Name, ordinal)
	}
	l := map[string]string{}
	for k, v := range w.Template.Labels {
		l[k] = v
	}
	// As the PodTopologyLabelsAdmission plugin copies it from the node.
	l["topology.kubernetes.io/zone"] = c.Zone
	if w.STS != nil {
		l["statefulset.kubernetes.io/pod-name"] = name
		l["apps.kubernetes.io/pod-index"] = strconv.Itoa(ordinal)
	}
	return Pod{
		Name: name, Namespace: c.PodNamespace(), NodeName: fmt.Sprintf("worker-%d", ordinal),
		PodIP: fmt.Sprintf("192.0.2.%d", 10+ordinal), ServiceAccount: "default",
		Labels: l, Annotations: w.Template.Annotations,
	}
}

var labelPath = regexp.MustCompile(`^metadata\.(labels|annotations)\['([^']+)'\]$`)

// ValidFieldPath reports whether the kubelet supports a fieldRef path in
// env vars.
func ValidFieldPath(p string) bool {
	switch p {
	case "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName",
		"status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs":
		return true
	}
	return labelPath.MatchString(p)
}

// Field is the downward API's value of a fieldRef path.
func (p Pod) Field(path string) (string, error) {
	switch path {
	case "metadata.name":
		return p.Name, nil
	case "metadata.namespace":
		return p.Namespace, nil
	case "metadata.uid":
		return "8e4f8d4e-0000-4000-8000-000000000000", nil
	case "spec.nodeName":
		return p.NodeName, nil
	case "spec.serviceAccountName":
		return p.ServiceAccount, nil
	case "status.hostIP", "status.hostIPs":
		return "192.0.2.1", nil
	case "status.podIP", "status.podIPs":
		return p.PodIP, nil
	}
	if m := labelPath.FindStringSubmatch(path); m != nil {
		if m[1] == "labels" {
			return p.Labels[m[2]], nil // a missing label is an empty value
		}
		return p.Annotations[m[2]], nil
	}
	return "", fmt.Errorf("unsupported fieldPath %q", path)
}

// ResourceOf returns a container's request or limit named like
// "limits.memory".
func ResourceOf(c corev1.Container, name string) (resource.Quantity, bool) {
	kind, res, ok := strings.Cut(name, ".")
	if !ok {
		return resource.Quantity{}, false
	}
	var rl corev1.ResourceList
	switch kind {
	case "limits":
		rl = c.Resources.Limits
	case "requests":
		rl = c.Resources.Requests
	default:
		return resource.Quantity{}, false
	}
	q, ok := rl[corev1.ResourceName(res)]
	return q, ok
}

// ResourceValue is the kubelet's rendering of a resourceFieldRef: the
// quantity divided by the divisor, rounded up.
func ResourceValue(c corev1.Container, ref *corev1.ResourceFieldSelector) (string, error) {
	q, ok := ResourceOf(c, ref.Resource)
	if !ok {
		return "", fmt.Errorf("no %s", ref.Resource)
	}
	div := ref.Divisor
	if div.IsZero() {
		div = resource.MustParse("1")
	}
	if strings.HasSuffix(ref.Resource, ".cpu") {
		return strconv.FormatInt(int64(math.Ceil(float64(q.MilliValue())/float64(div.MilliValue()))), 10), nil
	}
	return strconv.FormatInt(int64(math.Ceil(float64(q.Value())/float64(div.Value()))), 10), nil
}

// SecretValue is the value of a secretKeyRef: from a Secret in the
// manifests, or "external-<key>" for a documented external Secret.
func (c *Cluster) SecretValue(ref *corev1.SecretKeySelector) (string, error) {
	if s, ok := c.Secrets[ref.Name]; ok {
		if v, ok := s.StringData[ref.Key]; ok {
			return v, nil
		}
		if v, ok := s.Data[ref.Key]; ok {
			return string(v), nil
		}
		return "", fmt.Errorf("the Secret %s has no key %s", ref.Name, ref.Key)
	}
	if keys, ok := ExternalSecrets[ref.Name]; ok && slices.Contains(keys, ref.Key) {
		return "external-" + ref.Key, nil
	}
	return "", fmt.Errorf("the Secret %s is neither in the manifests nor a documented external Secret", ref.Name)
}

// Expand replaces $(VAR) with the value of VAR as the kubelet does
// (k8s.io/kubernetes third_party/forked/golang/expansion): $$ is a literal
// $, and a reference to an undefined variable stays as it is.
func Expand(in string, lookup func(string) (string, bool)) string {
	var buf strings.Builder
	checkpoint := 0
	for cursor := 0; cursor < len(in); cursor++ {
		if in[cursor] != '$' || cursor+1 >= len(in) {
			continue
		}
		buf.WriteString(in[checkpoint:cursor])
		read, isVar, advance := readVariable(in[cursor+1:])
		if isVar {
			if v, ok := lookup(read); ok {
				buf.WriteString(v)
			} else {
				buf.WriteString("$(" + read + ")")
			}
		} else {
			buf.WriteString(read)
		}
		cursor += advance
		checkpoint = cursor + 1
	}
	return buf.String() + in[checkpoint:]
}

func readVariable(in string) (string, bool, int) {
	switch in[0] {
	case '$':
		return "$", false, 1
	case '(':
		for i := 1; i < len(in); i++ {
			if in[i] == ')' {
				return in[1:i], true, i + 1
			}
		}
		return "$(", false, 1
	}
	return "$" + in[:1], false, 1
}

// ContainerEnv resolves a container's environment in order, as the kubelet
// does: a $(VAR) reference sees only the variables defined before it. It
// returns the environment as NAME=value entries and as a map.
func (c *Cluster) ContainerEnv(ctr corev1.Container, p Pod) ([]string, map[string]string, error) {
	vals := map[string]string{}
	var list []string
	for _, e := range ctr.Env {
		var v string
		var err error
		switch {
		case e.ValueFrom == nil:
			v = Expand(e.Value, func(k string) (string, bool) { x, ok := vals[k]; return x, ok })
		case e.ValueFrom.FieldRef != nil:
			v, err = p.Field(e.ValueFrom.FieldRef.FieldPath)
		case e.ValueFrom.ResourceFieldRef != nil:
			v, err = ResourceValue(ctr, e.ValueFrom.ResourceFieldRef)
		case e.ValueFrom.SecretKeyRef != nil:
			v, err = c.SecretValue(e.ValueFrom.SecretKeyRef)
		default:
			err = errors.New("unsupported valueFrom")
		}
		if err != nil {
			return nil, nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		if strings.Contains(v, "$(") {
			return nil, nil, fmt.Errorf("env %s=%q: unresolved reference (a variable must be defined above its use)", e.Name, v)
		}
		vals[e.Name] = v
		list = append(list, e.Name+"="+v)
	}
	return list, vals, nil
}

// Resolved is what the kubelet gives a pod's (first) container.
type Resolved struct {
	Pod  Pod
	Args []string          // the container's arguments, $(VAR) expanded
	Env  []string          // NAME=value, in the manifest's order
	Vals map[string]string // the same environment as a map
}

// Resolve resolves the arguments and environment of the pod with the
// given ordinal. The ordinal may lie beyond the workload's replicas: that
// is the pod a StatefulSet scaled up would create.
func (c *Cluster) Resolve(w Workload, ordinal int) (Resolved, error) {
	if len(w.Template.Spec.Containers) == 0 {
		return Resolved{}, fmt.Errorf("%v: no container", w)
	}
	ctr := w.Template.Spec.Containers[0]
	p := c.PodFor(w, ordinal)
	env, vals, err := c.ContainerEnv(ctr, p)
	if err != nil {
		return Resolved{}, fmt.Errorf("%s: %w", p.Name, err)
	}
	args := make([]string, len(ctr.Args))
	for i, a := range ctr.Args {
		args[i] = Expand(a, func(k string) (string, bool) { v, ok := vals[k]; return v, ok })
		if strings.Contains(args[i], "$(") {
			return Resolved{}, fmt.Errorf("%s: argument %q: unresolved reference", p.Name, a)
		}
	}
	return Resolved{Pod: p, Args: args, Env: env, Vals: vals}, nil
}

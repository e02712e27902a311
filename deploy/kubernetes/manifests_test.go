// Package kubernetes_test checks Cairn's Kubernetes manifests without a
// Kubernetes cluster:
//
//   - every kustomization (the base and each overlay) is rendered with
//     kustomize's own library (krusty), and every object it produces is
//     decoded strictly into the k8s.io/api types: an unknown or misspelt
//     field, a field in the wrong case, a duplicate key or a value of the
//     wrong type fails the test, as it would fail `kubectl apply`;
//   - the objects fit together: selectors match pod labels, Services and
//     probes name ports that exist, PodDisruptionBudgets select pods,
//     StatefulSets have their headless Service and volume claims, pods run
//     as non-root with a read-only root file system, every container has
//     requests and limits;
//   - the cairn binary itself parses each container's arguments and
//     environment (with $(VAR) references and downward-API fields resolved
//     the way the kubelet does) through `--print-config`, and the resulting
//     configuration is what the cluster needs: the metadata peers' initial
//     membership is the three headless-Service DNS names, the probes and the
//     Prometheus annotations point at the ports where the role serves its
//     health and metrics endpoints, the data nodes advertise their stable
//     DNS names, and so on;
//   - the example overlay in docs/kubernetes.md, taken from the page, builds
//     and does what the page says.
//
// TestWritePodConfigs also gives .ci/docker-tier.sh the resolved
// configuration of every pod, so that the docker tier runs containers
// configured exactly as the base configures its pods.
package kubernetes_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	kusttypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// The values the fake kubelet gives the downward API, and the cluster's
// DNS domain.
const (
	testNamespace = "cairn-test" // for manifests that set no namespace
	testZone      = "zone-b"     // the pod's topology.kubernetes.io/zone label
	clusterDomain = "cluster.local"
)

// roleSpec is what each server role serves, as the cairn binary implements
// it (docs/architecture.md, docs/cli.md).
type roleSpec struct {
	health, ready, metrics string // HTTP paths
}

var roleSpecs = map[string]roleSpec{
	"meta":    {"/healthz", "/readyz", "/metrics"},       // on the HTTP port (--http-addr)
	"node":    {"/healthz", "/readyz", "/metrics"},       // on the data port
	"gateway": {"/-/healthz", "/-/readyz", "/-/metrics"}, // on the S3 port
}

// Secrets the overlays expect the operator to create (docs/kubernetes.md);
// every other secretKeyRef must name a Secret in the rendered output.
var externalSecrets = map[string][]string{
	"cairn-s3-credentials": {"access-key", "secret-key"},
}

// ---------------------------------------------------------------------------
// Rendering and strict decoding

type object struct {
	apiVersion, kind, name string
	obj                    any // *appsv1.StatefulSet, *corev1.Service, ...
}

func (o object) String() string { return o.kind + "/" + o.name }

// newTyped returns an empty typed object for apiVersion+kind, or nil if the
// manifests are not expected to contain that kind.
func newTyped(apiVersion, kind string) any {
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
	}
	return nil
}

// decodeStrict decodes JSON into v the way the API server's strict field
// validation does: case-sensitive field names, no unknown fields, no
// duplicate fields.
func decodeStrict(data []byte, v any) error {
	strictErrs, err := sigsjson.UnmarshalStrict(data, v, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strictErrs...)
}

// decodeObject decodes one object (JSON) strictly into its k8s.io/api type.
func decodeObject(data []byte) (object, error) {
	var tm metav1.TypeMeta
	if err := json.Unmarshal(data, &tm); err != nil {
		return object{}, err
	}
	typed := newTyped(tm.APIVersion, tm.Kind)
	if typed == nil {
		return object{}, fmt.Errorf("unexpected kind %s %s", tm.APIVersion, tm.Kind)
	}
	if err := decodeStrict(data, typed); err != nil {
		return object{}, fmt.Errorf("%s: %w", tm.Kind, err)
	}
	name := typed.(metav1.ObjectMetaAccessor).GetObjectMeta().GetName()
	return object{apiVersion: tm.APIVersion, kind: tm.Kind, name: name, obj: typed}, nil
}

// decodeYAMLDocs decodes every document of a YAML file strictly (duplicate
// keys are an error already at the YAML level).
func decodeYAMLDocs(data []byte) ([]object, error) {
	var out []object
	for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
		j, err := yaml.YAMLToJSONStrict([]byte(doc))
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if bytes.Equal(bytes.TrimSpace(j), []byte("null")) {
			continue // only comments
		}
		o, err := decodeObject(j)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		out = append(out, o)
	}
	return out, nil
}

// kustomizations returns the base and every overlay, relative to this
// directory.
func kustomizations(t *testing.T) []string {
	t.Helper()
	overlays, err := filepath.Glob("overlays/*/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dirs := []string{"base"}
	for _, k := range overlays {
		dirs = append(dirs, filepath.Dir(k))
	}
	if len(dirs) < 3 {
		t.Fatalf("want the base and at least the dev and production overlays, found %v", dirs)
	}
	return dirs
}

var renderCache sync.Map // dir -> []object

// render builds a kustomization with kustomize's library, as `kubectl
// apply -k` would, and decodes the result strictly.
func render(t *testing.T, dir string) []object {
	t.Helper()
	if v, ok := renderCache.Load(dir); ok {
		return v.([]object)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resMap, err := k.Run(filesys.MakeFsOnDisk(), abs)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var objs []object
	for _, r := range resMap.Resources() {
		j, err := r.MarshalJSON()
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		o, err := decodeObject(j)
		if err != nil {
			t.Fatalf("%s: %s %s: %v", dir, r.GetKind(), r.GetName(), err)
		}
		objs = append(objs, o)
	}
	renderCache.Store(dir, objs)
	return objs
}

// TestManifestFilesDecodeStrictly decodes every YAML file under base/ and
// overlays/ on its own: resources and patches into k8s.io/api types,
// kustomization.yaml into kustomize's Kustomization type.
func TestManifestFilesDecodeStrictly(t *testing.T) {
	var files []string
	for _, pat := range []string{"base/*.yaml", "overlays/*/*.yaml"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 6 {
		t.Fatalf("found only %v", files)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Base(f) == "kustomization.yaml" {
			j, err := yaml.YAMLToJSONStrict(data)
			if err != nil {
				t.Errorf("%s: %v", f, err)
				continue
			}
			var k kusttypes.Kustomization
			if err := decodeStrict(j, &k); err != nil {
				t.Errorf("%s: %v", f, err)
			}
			if k.NamePrefix != "" || k.NameSuffix != "" {
				t.Errorf("%s: namePrefix/nameSuffix would break the DNS names the pods use to find each other", f)
			}
			continue
		}
		if _, err := decodeYAMLDocs(data); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestStrictDecodingCatchesMistakes makes sure the decoding above would
// notice the usual mistakes.
func TestStrictDecodingCatchesMistakes(t *testing.T) {
	good := "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  ports:\n    - port: 80\n"
	if _, err := decodeYAMLDocs([]byte(good)); err != nil {
		t.Fatalf("a valid Service fails: %v", err)
	}
	for name, doc := range map[string]string{
		"unknown field":   strings.Replace(good, "- port: 80", "- port: 80\n      tagretPort: 81", 1),
		"wrong case":      strings.Replace(good, "- port: 80", "- Port: 80", 1),
		"duplicate key":   strings.Replace(good, "- port: 80", "- port: 80\n      port: 81", 1),
		"wrong type":      strings.Replace(good, "- port: 80", "- port: eighty", 1),
		"unexpected kind": strings.Replace(good, "kind: Service", "kind: Servce", 1),
	} {
		if _, err := decodeYAMLDocs([]byte(doc)); err == nil {
			t.Errorf("%s: accepted:\n%s", name, doc)
		}
	}
}

// ---------------------------------------------------------------------------
// Structure

type workload struct {
	object
	replicas    int32
	selector    *metav1.LabelSelector
	template    corev1.PodTemplateSpec
	sts         *appsv1.StatefulSet // nil for a Deployment
	serviceName string
}

type cluster struct {
	dir       string
	namespace string // the namespace the objects carry ("" = none)
	domain    string // the cluster's DNS domain the pods are configured for
	objects   []object
	workloads []workload
	services  map[string]*corev1.Service
	secrets   map[string]*corev1.Secret
	pdbs      []*policyv1.PodDisruptionBudget
}

func load(t *testing.T, dir string) *cluster {
	t.Helper()
	c := &cluster{dir: dir, domain: clusterDomain, objects: render(t, dir), services: map[string]*corev1.Service{}, secrets: map[string]*corev1.Secret{}}
	for _, o := range c.objects {
		switch v := o.obj.(type) {
		case *appsv1.StatefulSet:
			c.workloads = append(c.workloads, workload{object: o, replicas: deref(v.Spec.Replicas, 1), selector: v.Spec.Selector, template: v.Spec.Template, sts: v, serviceName: v.Spec.ServiceName})
		case *appsv1.Deployment:
			c.workloads = append(c.workloads, workload{object: o, replicas: deref(v.Spec.Replicas, 1), selector: v.Spec.Selector, template: v.Spec.Template})
		case *corev1.Service:
			c.services[v.Name] = v
		case *corev1.Secret:
			c.secrets[v.Name] = v
		case *policyv1.PodDisruptionBudget:
			c.pdbs = append(c.pdbs, v)
		}
	}
	return c
}

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// role is the cairn subcommand a workload runs (its first argument).
func (w workload) role() string {
	if len(w.template.Spec.Containers) == 0 || len(w.template.Spec.Containers[0].Args) == 0 {
		return ""
	}
	return w.template.Spec.Containers[0].Args[0]
}

func (c *cluster) byRole(t *testing.T, role string) workload {
	t.Helper()
	var found []workload
	for _, w := range c.workloads {
		if w.role() == role {
			found = append(found, w)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s: want one workload running `cairn %s`, found %d", c.dir, role, len(found))
	}
	return found[0]
}

// selects reports which workloads' pods a selector matches.
func (c *cluster) selects(sel labels.Selector) []workload {
	var out []workload
	for _, w := range c.workloads {
		if !sel.Empty() && sel.Matches(labels.Set(w.template.Labels)) {
			out = append(out, w)
		}
	}
	return out
}

func mustSelector(t *testing.T, what string, ls *metav1.LabelSelector) labels.Selector {
	t.Helper()
	if ls == nil {
		t.Fatalf("%s: no selector", what)
	}
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if sel.Empty() {
		t.Fatalf("%s: empty selector selects everything", what)
	}
	return sel
}

// containerPort resolves a port by name or number in a pod's containers.
func containerPort(spec corev1.PodSpec, p intstr.IntOrString) (int32, bool) {
	for _, c := range spec.Containers {
		for _, cp := range c.Ports {
			if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
				return cp.ContainerPort, true
			}
		}
	}
	return 0, false
}

func TestStructure(t *testing.T) {
	for _, dir := range kustomizations(t) {
		t.Run(dir, func(t *testing.T) {
			c := load(t, dir)
			checkStructure(t, c)
		})
	}
}

func checkStructure(t *testing.T, c *cluster) {
	for _, o := range c.objects {
		m := o.obj.(metav1.ObjectMetaAccessor).GetObjectMeta()
		if m.GetNamespace() != c.namespace {
			t.Errorf("%v: namespace %q, want %q (the shipped manifests are namespace-agnostic)", o, m.GetNamespace(), c.namespace)
		}
		if m.GetLabels()["app.kubernetes.io/name"] != "cairn" {
			t.Errorf("%v: no label app.kubernetes.io/name=cairn", o)
		}
	}
	roles := map[string]bool{}
	for _, w := range c.workloads {
		roles[w.role()] = true
		checkWorkload(t, c, w)
	}
	for r := range roleSpecs {
		if !roles[r] {
			t.Errorf("no workload runs `cairn %s`", r)
		}
	}

	// The metadata peers: an odd number, at least three, bootstrapping
	// together from CLUSTER_SIZE.
	meta := c.byRole(t, "meta")
	if meta.sts == nil {
		t.Fatalf("%v: the metadata peers need a StatefulSet (stable names for Raft)", meta)
	}
	if meta.replicas < 3 || meta.replicas%2 == 0 {
		t.Errorf("%v: %d replicas; a Raft group wants an odd number, at least 3", meta, meta.replicas)
	}
	if meta.sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		t.Errorf("%v: podManagementPolicy %q; the peers must start together to form a quorum", meta, meta.sts.Spec.PodManagementPolicy)
	}
	if v := envValue(meta.template.Spec.Containers[0], "CLUSTER_SIZE"); v != strconv.Itoa(int(meta.replicas)) {
		t.Errorf("%v: CLUSTER_SIZE=%q but %d replicas", meta, v, meta.replicas)
	}
	if node := c.byRole(t, "node"); node.sts == nil {
		t.Errorf("%v: data nodes need a StatefulSet (a volume and a stable name each)", node)
	}
	if gw := c.byRole(t, "gateway"); gw.sts != nil {
		t.Errorf("%v: the S3 gateway is stateless; want a Deployment", gw)
	}

	// Services select pods and target ports that exist.
	for _, s := range c.services {
		what := "Service/" + s.Name
		sel := mustSelector(t, what, &metav1.LabelSelector{MatchLabels: s.Spec.Selector})
		ws := c.selects(sel)
		if len(ws) != 1 {
			t.Errorf("%s: selects the pods of %d workloads, want 1", what, len(ws))
			continue
		}
		for _, p := range s.Spec.Ports {
			if p.Name == "" {
				t.Errorf("%s: port %d has no name", what, p.Port)
			}
			tp := p.TargetPort
			if tp.Type == intstr.Int && tp.IntVal == 0 {
				tp = intstr.FromInt32(p.Port)
			}
			if _, ok := containerPort(ws[0].template.Spec, tp); !ok {
				t.Errorf("%s: targetPort %s is not a container port of %v", what, tp.String(), ws[0])
			}
		}
	}

	// Every workload is covered by exactly one PodDisruptionBudget that
	// lets at most one pod go (for the metadata peers: never the quorum).
	covered := map[string]int{}
	for _, p := range c.pdbs {
		what := "PodDisruptionBudget/" + p.Name
		ws := c.selects(mustSelector(t, what, p.Spec.Selector))
		if len(ws) != 1 {
			t.Errorf("%s: selects the pods of %d workloads, want 1", what, len(ws))
			continue
		}
		w := ws[0]
		covered[w.name]++
		if p.Spec.MaxUnavailable == nil || p.Spec.MinAvailable != nil {
			t.Errorf("%s: want maxUnavailable (and no minAvailable)", what)
			continue
		}
		mu, err := intstr.GetScaledValueFromIntOrPercent(p.Spec.MaxUnavailable, int(w.replicas), true)
		if err != nil || mu != 1 {
			t.Errorf("%s: maxUnavailable %s allows %d of %d pods down, want 1 (%v)", what, p.Spec.MaxUnavailable.String(), mu, w.replicas, err)
		}
		if w.role() == "meta" && int32(mu) > (w.replicas-1)/2 {
			t.Errorf("%s: %d of %d peers down loses the Raft quorum", what, mu, w.replicas)
		}
	}
	for _, w := range c.workloads {
		if covered[w.name] != 1 {
			t.Errorf("%v: covered by %d PodDisruptionBudgets, want 1", w, covered[w.name])
		}
	}
}

func checkWorkload(t *testing.T, c *cluster, w workload) {
	what := w.String()
	sel := mustSelector(t, what, w.selector)
	if !sel.Matches(labels.Set(w.template.Labels)) {
		t.Errorf("%s: selector %v does not match the pod labels %v", what, sel, w.template.Labels)
	}
	for _, other := range c.workloads {
		if other.name != w.name && sel.Matches(labels.Set(other.template.Labels)) {
			t.Errorf("%s: selector also matches the pods of %v", what, other)
		}
	}
	spec := w.template.Spec
	if len(spec.Containers) != 1 {
		t.Fatalf("%s: want one container, got %d", what, len(spec.Containers))
	}
	ctr := spec.Containers[0]
	if _, ok := roleSpecs[w.role()]; !ok {
		t.Fatalf("%s: args %q do not start with a server role", what, ctr.Args)
	}
	if len(ctr.Command) != 0 {
		t.Errorf("%s: sets command %q; the image's entrypoint is /cairn", what, ctr.Command)
	}

	// Image: a pinned tag, pulled only if missing (images loaded into the
	// nodes with `kind load` or `ctr import` must not be pulled).
	if i := strings.LastIndex(ctr.Image, ":"); i < 0 || strings.Contains(ctr.Image[i:], "/") || strings.HasSuffix(ctr.Image, ":latest") {
		t.Errorf("%s: image %q has no pinned tag", what, ctr.Image)
	}
	if ctr.ImagePullPolicy != corev1.PullIfNotPresent {
		t.Errorf("%s: imagePullPolicy %q, want IfNotPresent", what, ctr.ImagePullPolicy)
	}

	// No service-link variables: every server flag reads CAIRN_<FLAG>.
	if spec.EnableServiceLinks == nil || *spec.EnableServiceLinks {
		t.Errorf("%s: enableServiceLinks must be false (Service variables such as CAIRN_PORT would set flags)", what)
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s: automountServiceAccountToken should be false; cairn does not talk to the Kubernetes API", what)
	}
	if spec.TerminationGracePeriodSeconds == nil || *spec.TerminationGracePeriodSeconds < 10 {
		t.Errorf("%s: terminationGracePeriodSeconds should leave time for a graceful stop", what)
	}

	// Security: non-root (the image's UID), no privilege, read-only root.
	psc := spec.SecurityContext
	if psc == nil || !deref(psc.RunAsNonRoot, false) || deref(psc.RunAsUser, 0) == 0 || psc.FSGroup == nil {
		t.Errorf("%s: pod securityContext needs runAsNonRoot, a non-zero runAsUser and fsGroup (for writable volumes)", what)
	} else if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: want seccompProfile RuntimeDefault", what)
	}
	csc := ctr.SecurityContext
	if csc == nil || !deref(csc.ReadOnlyRootFilesystem, false) || deref(csc.AllowPrivilegeEscalation, true) ||
		csc.Capabilities == nil || !slices.Contains(csc.Capabilities.Drop, "ALL") || len(csc.Capabilities.Add) > 0 || deref(csc.Privileged, false) {
		t.Errorf("%s: container securityContext needs readOnlyRootFilesystem, no privilege escalation, capabilities drop ALL", what)
	}

	// Resources: requests and limits for CPU and memory.
	for _, rl := range []corev1.ResourceList{ctr.Resources.Requests, ctr.Resources.Limits} {
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if q, ok := rl[r]; !ok || q.Sign() <= 0 {
				t.Errorf("%s: no %s request or limit", what, r)
			}
		}
	}
	for r, req := range ctr.Resources.Requests {
		if lim, ok := ctr.Resources.Limits[r]; ok && req.Cmp(lim) > 0 {
			t.Errorf("%s: %s request %s exceeds limit %s", what, r, req.String(), lim.String())
		}
	}

	// Spreading: by host, then zone; each constraint counts this
	// workload's pods.
	keys := map[string]bool{}
	for _, tsc := range spec.TopologySpreadConstraints {
		keys[tsc.TopologyKey] = true
		s := mustSelector(t, what+" topologySpreadConstraint", tsc.LabelSelector)
		if !s.Matches(labels.Set(w.template.Labels)) {
			t.Errorf("%s: topology spread constraint on %s does not select the workload's own pods", what, tsc.TopologyKey)
		}
		if tsc.MaxSkew < 1 {
			t.Errorf("%s: maxSkew %d", what, tsc.MaxSkew)
		}
	}
	if !keys["kubernetes.io/hostname"] || !keys["topology.kubernetes.io/zone"] {
		t.Errorf("%s: want topology spread constraints over kubernetes.io/hostname and topology.kubernetes.io/zone, have %v", what, keys)
	}

	// Ports are named and unique.
	names := map[string]bool{}
	for _, p := range ctr.Ports {
		if p.Name == "" || names[p.Name] {
			t.Errorf("%s: container port %d has a missing or repeated name %q", what, p.ContainerPort, p.Name)
		}
		names[p.Name] = true
	}

	// Probes are HTTP GETs on a port of the container.
	if ctr.LivenessProbe == nil || ctr.ReadinessProbe == nil {
		t.Errorf("%s: want liveness and readiness probes", what)
	}
	for _, p := range []*corev1.Probe{ctr.StartupProbe, ctr.LivenessProbe, ctr.ReadinessProbe} {
		if p == nil {
			continue
		}
		if p.HTTPGet == nil {
			t.Errorf("%s: a probe is not an httpGet", what)
			continue
		}
		if _, ok := containerPort(spec, p.HTTPGet.Port); !ok {
			t.Errorf("%s: probe port %s is not a container port", what, p.HTTPGet.Port.String())
		}
	}

	// Prometheus: the scrape annotations name a container port.
	ann := w.template.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/path"] == "" {
		t.Errorf("%s: want prometheus.io/scrape and prometheus.io/path annotations", what)
	}
	if port, err := strconv.Atoi(ann["prometheus.io/port"]); err != nil {
		t.Errorf("%s: prometheus.io/port %q", what, ann["prometheus.io/port"])
	} else if _, ok := containerPort(spec, intstr.FromInt32(int32(port))); !ok {
		t.Errorf("%s: prometheus.io/port %d is not a container port", what, port)
	}

	// Volumes: every mount has a volume or a claim template, every claim
	// template is mounted and asks for storage.
	vols := map[string]bool{}
	for _, v := range spec.Volumes {
		vols[v.Name] = true
	}
	claims := map[string]bool{}
	if w.sts != nil {
		for _, pvc := range w.sts.Spec.VolumeClaimTemplates {
			claims[pvc.Name] = true
			if q, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; !ok || q.Sign() <= 0 {
				t.Errorf("%s: volume claim template %s requests no storage", what, pvc.Name)
			}
			if !slices.Contains(pvc.Spec.AccessModes, corev1.ReadWriteOnce) {
				t.Errorf("%s: volume claim template %s: want ReadWriteOnce", what, pvc.Name)
			}
		}
		if len(claims) == 0 {
			t.Errorf("%s: no volume claim template", what)
		}
	}
	mounted := map[string]bool{}
	for _, m := range ctr.VolumeMounts {
		mounted[m.Name] = true
		if !vols[m.Name] && !claims[m.Name] {
			t.Errorf("%s: volume mount %s has no volume or claim template", what, m.Name)
		}
	}
	for n := range claims {
		if !mounted[n] {
			t.Errorf("%s: claim template %s is not mounted", what, n)
		}
	}
	if !mounted["tmp"] {
		t.Errorf("%s: want a writable /tmp (emptyDir) next to the read-only root", what)
	}

	// A StatefulSet's governing Service is headless, selects exactly its
	// pods and publishes them before they are ready.
	if w.sts != nil {
		s, ok := c.services[w.serviceName]
		switch {
		case !ok:
			t.Errorf("%s: serviceName %q is not a Service", what, w.serviceName)
		case s.Spec.ClusterIP != corev1.ClusterIPNone:
			t.Errorf("%s: Service %s is not headless", what, s.Name)
		case !s.Spec.PublishNotReadyAddresses:
			t.Errorf("%s: Service %s must publish not-ready addresses (peers resolve each other before they are ready)", what, s.Name)
		case !labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(w.template.Labels)):
			t.Errorf("%s: Service %s does not select its pods", what, s.Name)
		}
	}

	// Downward API and Secret references resolve.
	for _, e := range ctr.Env {
		if e.ValueFrom == nil {
			continue
		}
		switch vf := e.ValueFrom; {
		case vf.FieldRef != nil:
			if !validFieldPath(vf.FieldRef.FieldPath) {
				t.Errorf("%s: env %s: fieldPath %q is not supported by the downward API for env", what, e.Name, vf.FieldRef.FieldPath)
			}
		case vf.ResourceFieldRef != nil:
			if _, ok := resourceOf(ctr, vf.ResourceFieldRef.Resource); !ok {
				t.Errorf("%s: env %s: the container has no %s", what, e.Name, vf.ResourceFieldRef.Resource)
			}
		case vf.SecretKeyRef != nil:
			if _, err := c.secretValue(vf.SecretKeyRef); err != nil {
				t.Errorf("%s: env %s: %v", what, e.Name, err)
			}
		default:
			t.Errorf("%s: env %s: unexpected valueFrom", what, e.Name)
		}
	}
}

func envValue(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// TestOverlays checks what the overlays are for.
func TestOverlays(t *testing.T) {
	replicas := func(c *cluster, role string) int32 { return c.byRole(t, role).replicas }
	storage := func(c *cluster, role string) resource.Quantity {
		return c.byRole(t, role).sts.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests[corev1.ResourceStorage]
	}
	base, dev, prod := load(t, "base"), load(t, "overlays/dev"), load(t, "overlays/production")

	if got := dev.byRole(t, "meta").template.Spec.Containers[0].Image; got != "cairn:dev" {
		t.Errorf("dev image %q, want cairn:dev (what `make image` builds)", got)
	}
	if _, ok := dev.secrets["cairn-s3-credentials"]; !ok {
		// kustomize appends a content hash to generated names.
		found := false
		for n := range dev.secrets {
			found = found || strings.HasPrefix(n, "cairn-s3-credentials-")
		}
		if !found {
			t.Errorf("dev: no generated cairn-s3-credentials Secret")
		}
	}
	for n := range prod.secrets {
		t.Errorf("production: Secret %s is in the manifests; production credentials are created out of band", n)
	}
	if r := replicas(prod, "node"); r < 4 {
		t.Errorf("production: %d data nodes; with replication 3 run at least 4 to keep writing through a node failure", r)
	}
	if r := replicas(prod, "gateway"); r < 2 {
		t.Errorf("production: %d S3 gateways, want 2 or more", r)
	}
	for _, role := range []string{"meta", "node"} {
		b, d, p := storage(base, role), storage(dev, role), storage(prod, role)
		if d.Cmp(b) >= 0 || p.Cmp(b) <= 0 {
			t.Errorf("%s volumes: dev %s, base %s, production %s; want dev < base < production", role, d.String(), b.String(), p.String())
		}
	}
	for role := range roleSpecs {
		b := base.byRole(t, role).template.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory]
		d := dev.byRole(t, role).template.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory]
		p := prod.byRole(t, role).template.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory]
		if d.Cmp(b) >= 0 || p.Cmp(b) <= 0 {
			t.Errorf("%s memory limits: dev %s, base %s, production %s; want dev < base < production", role, d.String(), b.String(), p.String())
		}
	}
}

// TestImageMatchesPods cross-checks the Dockerfile with the pods: the
// image's user is the one the pods run as, and it exposes every port.
func TestImageMatchesPods(t *testing.T) {
	df, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var user string
	exposed := map[int32]bool{}
	for _, line := range strings.Split(string(df), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			if f[1] != "scratch" {
				t.Errorf("Dockerfile: FROM %s; the image must build without pulling (FROM scratch)", f[1])
			}
		case "USER":
			user = f[1]
		case "EXPOSE":
			for _, p := range f[1:] {
				n, err := strconv.Atoi(strings.TrimSuffix(p, "/tcp"))
				if err != nil {
					t.Errorf("Dockerfile: EXPOSE %s", p)
				}
				exposed[int32(n)] = true
			}
		}
	}
	c := load(t, "base")
	for _, w := range c.workloads {
		sc := w.template.Spec.SecurityContext
		if want := fmt.Sprintf("%d:%d", deref(sc.RunAsUser, 0), deref(sc.RunAsGroup, 0)); user != want {
			t.Errorf("Dockerfile USER %q, %v runs as %s", user, w, want)
		}
		for _, p := range w.template.Spec.Containers[0].Ports {
			if !exposed[p.ContainerPort] {
				t.Errorf("Dockerfile does not EXPOSE %d (%v port %s)", p.ContainerPort, w, p.Name)
			}
		}
	}
}

// ---------------------------------------------------------------------------
// The kubelet's view of a container: downward API and $(VAR) expansion

// pod is what the fake kubelet knows about one pod.
type pod struct {
	name, namespace, nodeName, podIP, serviceAccount string
	labels, annotations                              map[string]string
}

// podNamespace is the namespace the pods run in.
func (c *cluster) podNamespace() string {
	if c.namespace != "" {
		return c.namespace
	}
	return testNamespace
}

// fqdn is the DNS name of a StatefulSet's pod under its headless Service.
func (c *cluster) fqdn(w workload, pod string) string {
	return fmt.Sprintf("%s.%s.%s.svc.%s", pod, w.serviceName, c.podNamespace(), c.domain)
}

func (c *cluster) podFor(w workload, ordinal int) pod {
	name := fmt.Sprintf("%s-%d", w.name, ordinal)
	if w.sts == nil {
		name = fmt.Sprintf("%s-7d9f8b6c5-%05d", w.name, ordinal)
	}
	l := map[string]string{}
	for k, v := range w.template.Labels {
		l[k] = v
	}
	// As the PodTopologyLabelsAdmission plugin copies it from the node.
	l["topology.kubernetes.io/zone"] = testZone
	if w.sts != nil {
		l["statefulset.kubernetes.io/pod-name"] = name
		l["apps.kubernetes.io/pod-index"] = strconv.Itoa(ordinal)
	}
	return pod{
		name: name, namespace: c.podNamespace(), nodeName: fmt.Sprintf("worker-%d", ordinal),
		podIP: fmt.Sprintf("192.0.2.%d", 10+ordinal), serviceAccount: "default",
		labels: l, annotations: w.template.Annotations,
	}
}

var labelPath = regexp.MustCompile(`^metadata\.(labels|annotations)\['([^']+)'\]$`)

// validFieldPath: the fieldRef paths the kubelet supports in env vars.
func validFieldPath(p string) bool {
	switch p {
	case "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName",
		"status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs":
		return true
	}
	return labelPath.MatchString(p)
}

func (p pod) field(path string) (string, error) {
	switch path {
	case "metadata.name":
		return p.name, nil
	case "metadata.namespace":
		return p.namespace, nil
	case "metadata.uid":
		return "8e4f8d4e-0000-4000-8000-000000000000", nil
	case "spec.nodeName":
		return p.nodeName, nil
	case "spec.serviceAccountName":
		return p.serviceAccount, nil
	case "status.hostIP", "status.hostIPs":
		return "192.0.2.1", nil
	case "status.podIP", "status.podIPs":
		return p.podIP, nil
	}
	if m := labelPath.FindStringSubmatch(path); m != nil {
		if m[1] == "labels" {
			return p.labels[m[2]], nil // a missing label is an empty value
		}
		return p.annotations[m[2]], nil
	}
	return "", fmt.Errorf("unsupported fieldPath %q", path)
}

func resourceOf(c corev1.Container, name string) (resource.Quantity, bool) {
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

// resourceValue is the kubelet's rendering of a resourceFieldRef: the
// quantity divided by the divisor, rounded up.
func resourceValue(c corev1.Container, ref *corev1.ResourceFieldSelector) (string, error) {
	q, ok := resourceOf(c, ref.Resource)
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

func (c *cluster) secretValue(ref *corev1.SecretKeySelector) (string, error) {
	if s, ok := c.secrets[ref.Name]; ok {
		if v, ok := s.StringData[ref.Key]; ok {
			return v, nil
		}
		if v, ok := s.Data[ref.Key]; ok {
			return string(v), nil
		}
		return "", fmt.Errorf("Secret %s has no key %s", ref.Name, ref.Key)
	}
	if keys, ok := externalSecrets[ref.Name]; ok && slices.Contains(keys, ref.Key) {
		return "external-" + ref.Key, nil
	}
	return "", fmt.Errorf("Secret %s is neither in the manifests nor a documented external Secret", ref.Name)
}

// expand replaces $(VAR) with the value of VAR as the kubelet does
// (k8s.io/kubernetes third_party/forked/golang/expansion): $$ is a literal
// $, and a reference to an undefined variable stays as it is.
func expand(in string, lookup func(string) (string, bool)) string {
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

func TestExpand(t *testing.T) {
	env := map[string]string{"A": "x", "B": "y"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	for in, want := range map[string]string{
		"$(A).$(B)": "x.y", "$(C)": "$(C)", "$$(A)": "$(A)", "a$": "a$", "$(A": "$(A", "$A": "$A", "$$": "$",
	} {
		if got := expand(in, lookup); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

// containerEnv resolves a container's environment in order, as the kubelet
// does: a $(VAR) reference sees only the variables defined before it.
func (c *cluster) containerEnv(ctr corev1.Container, p pod) ([]string, map[string]string, error) {
	vals := map[string]string{}
	var list []string
	for _, e := range ctr.Env {
		var v string
		var err error
		switch {
		case e.ValueFrom == nil:
			v = expand(e.Value, func(k string) (string, bool) { x, ok := vals[k]; return x, ok })
		case e.ValueFrom.FieldRef != nil:
			v, err = p.field(e.ValueFrom.FieldRef.FieldPath)
		case e.ValueFrom.ResourceFieldRef != nil:
			v, err = resourceValue(ctr, e.ValueFrom.ResourceFieldRef)
		case e.ValueFrom.SecretKeyRef != nil:
			v, err = c.secretValue(e.ValueFrom.SecretKeyRef)
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

// ---------------------------------------------------------------------------
// The binary's own parsing

var (
	buildOnce sync.Once
	cairnBin  string
	buildErr  error
	binDir    string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// cairn builds the cairn binary once per test run.
func cairn(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "cairn-deploy-test-")
		if buildErr != nil {
			return
		}
		cairnBin = filepath.Join(binDir, "cairn")
		cmd := exec.Command("go", "build", "-o", cairnBin, "./cmd/cairn")
		cmd.Dir = filepath.Join("..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/cairn: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return cairnBin
}

// printedConfig is the output of `cairn <role> --print-config`.
type printedConfig struct {
	Role    string         `json:"role"`
	Flags   map[string]any `json:"flags"`
	Derived map[string]any `json:"derived"`
}

// printConfig runs the container's command line with --print-config in
// the container's environment, and nothing else from ours.
func printConfig(t *testing.T, args, env []string) printedConfig {
	t.Helper()
	requirePrintConfig(t, args[0])
	full := append([]string{args[0], "--print-config"}, args[1:]...)
	pc, stderr, err := runPrintConfig(t, full, env, 20*time.Second)
	if err != nil {
		t.Fatalf("cairn %s\n  env %q\n  failed: %v\n%s", strings.Join(full, " "), env, err, stderr)
	}
	return pc
}

func runPrintConfig(t *testing.T, args, env []string, timeout time.Duration) (printedConfig, string, error) {
	t.Helper()
	bin := cairn(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	cmd.Dir = t.TempDir()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("still running after %v (does `cairn %s` implement --print-config?)", timeout, args[0])
		}
		return printedConfig{}, stderr.String(), err
	}
	var pc printedConfig
	dec := json.NewDecoder(&stdout)
	if err := dec.Decode(&pc); err != nil {
		return pc, stderr.String(), fmt.Errorf("output is not one JSON object: %v\n%s", err, stdout.String())
	}
	if dec.More() {
		return pc, stderr.String(), errors.New("more than one JSON value on stdout")
	}
	return pc, stderr.String(), nil
}

var printConfigSupport sync.Map // role -> error

// requirePrintConfig makes sure a role honours --print-config before it is
// run with a container's configuration: a role that ignored the flag would
// start serving and dial the cluster's DNS names. The probe itself runs the
// role on loopback only (every listen address 127.0.0.1:0, the metadata
// service 127.0.0.1:1), so even a role that ignores the flag stays local
// until it is killed.
func requirePrintConfig(t *testing.T, role string) {
	t.Helper()
	v, ok := printConfigSupport.Load(role)
	if !ok {
		dir := t.TempDir()
		env := []string{"CAIRN_DIR=" + dir, "CAIRN_ADDR=127.0.0.1:0", "CAIRN_GRPC_ADDR=127.0.0.1:0", "CAIRN_HTTP_ADDR=127.0.0.1:0",
			"CAIRN_RAFT_ADDR=127.0.0.1:0", "CAIRN_META=127.0.0.1:1", "CAIRN_ID=probe"}
		pc, stderr, err := runPrintConfig(t, []string{role, "--print-config"}, env, 5*time.Second)
		if err == nil && pc.Role != role {
			err = fmt.Errorf("printed role %q", pc.Role)
		}
		if err != nil {
			err = fmt.Errorf("cairn %s --print-config: %v\n%s", role, err, stderr)
		}
		v, _ = printConfigSupport.LoadOrStore(role, err)
	}
	if err, _ := v.(error); err != nil {
		t.Fatal(err)
	}
}

// get returns a printed value by one of its possible names: derived first,
// then flags.
func (pc printedConfig) get(names ...string) (any, bool) {
	for _, m := range []map[string]any{pc.Derived, pc.Flags} {
		for _, n := range names {
			if v, ok := m[n]; ok {
				return v, true
			}
		}
	}
	return nil, false
}

func (pc printedConfig) str(t *testing.T, names ...string) string {
	t.Helper()
	v, ok := pc.get(names...)
	if !ok {
		t.Fatalf("--print-config of %s has none of %q:\n%+v", pc.Role, names, pc)
	}
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// list returns a printed list: a JSON array of strings or of peers
// ({"id":..,"raft_addr":..} becomes "id=raft_addr"), or a comma-separated
// string (a flag's value).
func (pc printedConfig) list(t *testing.T, names ...string) []string {
	t.Helper()
	v, ok := pc.get(names...)
	if !ok {
		t.Fatalf("--print-config of %s has none of %q:\n%+v", pc.Role, names, pc)
	}
	var out []string
	switch v := v.(type) {
	case string:
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	case []any:
		for _, e := range v {
			switch e := e.(type) {
			case string:
				out = append(out, e)
			case map[string]any:
				id, _ := e["id"].(string)
				addr, _ := e["raft_addr"].(string)
				out = append(out, id+"="+addr)
			default:
				t.Fatalf("--print-config %s: unexpected element %v", names[0], e)
			}
		}
	default:
		t.Fatalf("--print-config %s: unexpected value %v", names[0], v)
	}
	return out
}

// port returns the port of a listen address printed as ":9090",
// "0.0.0.0:9090", "[::]:9090" or a bare number.
func port(t *testing.T, addr string) int32 {
	t.Helper()
	p := addr
	if _, pp, err := net.SplitHostPort(addr); err == nil {
		p = pp
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("address %q has no port", addr)
	}
	return int32(n)
}

func namedPort(t *testing.T, w workload, name string) int32 {
	t.Helper()
	n, ok := containerPort(w.template.Spec, intstr.FromString(name))
	if !ok {
		t.Fatalf("%v: no container port named %s", w, name)
	}
	return n
}

// checkServes: the probes and the Prometheus annotations of a workload
// hit the port where the role serves them, with the role's paths.
func checkServes(t *testing.T, w workload, servePort int32) {
	t.Helper()
	spec := roleSpecs[w.role()]
	ctr := w.template.Spec.Containers[0]
	for _, pr := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"startup", ctr.StartupProbe, spec.health}, {"liveness", ctr.LivenessProbe, spec.health}, {"readiness", ctr.ReadinessProbe, spec.ready}} {
		if pr.probe == nil || pr.probe.HTTPGet == nil {
			continue // checkWorkload insists on liveness and readiness
		}
		got, _ := containerPort(w.template.Spec, pr.probe.HTTPGet.Port)
		if pr.probe.HTTPGet.Path != pr.path || got != servePort {
			t.Errorf("%v: %s probe GET %s on port %d; `cairn %s` serves %s on port %d", w, pr.name, pr.probe.HTTPGet.Path, got, w.role(), pr.path, servePort)
		}
	}
	ann := w.template.Annotations
	if ann["prometheus.io/path"] != spec.metrics || ann["prometheus.io/port"] != strconv.Itoa(int(servePort)) {
		t.Errorf("%v: Prometheus scrapes %s on port %s; `cairn %s` serves %s on port %d", w, ann["prometheus.io/path"], ann["prometheus.io/port"], w.role(), spec.metrics, servePort)
	}
}

// dataOnVolume: a server's --dir lies on its persistent volume.
func dataOnVolume(t *testing.T, w workload, dir string) {
	t.Helper()
	if w.sts == nil {
		return
	}
	claims := map[string]bool{}
	for _, pvc := range w.sts.Spec.VolumeClaimTemplates {
		claims[pvc.Name] = true
	}
	for _, m := range w.template.Spec.Containers[0].VolumeMounts {
		if claims[m.Name] && (dir == m.MountPath || strings.HasPrefix(dir, strings.TrimSuffix(m.MountPath, "/")+"/")) {
			if m.ReadOnly {
				t.Errorf("%v: data volume mounted read-only", w)
			}
			return
		}
	}
	t.Errorf("%v: --dir %q is not on a persistent volume", w, dir)
}

// metaGRPCAddrs are the addresses clients of the metadata service need:
// each peer's stable DNS name with the gRPC port.
func metaGRPCAddrs(t *testing.T, c *cluster) []string {
	meta := c.byRole(t, "meta")
	var out []string
	for i := 0; i < int(meta.replicas); i++ {
		out = append(out, fmt.Sprintf("%s:%d", c.fqdn(meta, fmt.Sprintf("%s-%d", meta.name, i)), namedPort(t, meta, "grpc")))
	}
	return out
}

// TestBinaryParsesContainers runs the cairn binary's flag and environment
// parsing on every container of every kustomization, for every pod a
// StatefulSet makes.
func TestBinaryParsesContainers(t *testing.T) {
	for _, dir := range kustomizations(t) {
		t.Run(dir, func(t *testing.T) {
			c := load(t, dir)
			for _, w := range c.workloads {
				n := int(w.replicas)
				if w.sts == nil {
					n = 1
				}
				for i := 0; i < n; i++ {
					p := c.podFor(w, i)
					t.Run(p.name, func(t *testing.T) {
						checkPod(t, c, w, p)
					})
				}
			}
		})
	}
}

func checkPod(t *testing.T, c *cluster, w workload, p pod) {
	ctr := w.template.Spec.Containers[0]
	env, vals, err := c.containerEnv(ctr, p)
	if err != nil {
		t.Fatalf("%v: %v", w, err)
	}
	args := make([]string, len(ctr.Args))
	for i, a := range ctr.Args {
		args[i] = expand(a, func(k string) (string, bool) { v, ok := vals[k]; return v, ok })
		if strings.Contains(args[i], "$(") {
			t.Fatalf("%v: argument %q: unresolved reference", w, a)
		}
	}
	pc := printConfig(t, args, env)
	if pc.Role != w.role() {
		t.Errorf("--print-config role %q, want %q", pc.Role, w.role())
	}
	metaAddrs := metaGRPCAddrs(t, c)
	switch w.role() {
	case "meta":
		if id := pc.str(t, "id"); id != p.name {
			t.Errorf("peer ID %q, want the pod name %q", id, p.name)
		}
		grpcPort := port(t, pc.str(t, "grpc_listen"))
		httpPort := port(t, pc.str(t, "http_listen"))
		raftPort := port(t, pc.str(t, "raft_listen"))
		for _, x := range []struct {
			name string
			got  int32
		}{{"grpc", grpcPort}, {"http", httpPort}, {"raft", raftPort}} {
			if want := namedPort(t, w, x.name); x.got != want {
				t.Errorf("meta listens for %s on %d, the container port %s is %d", x.name, x.got, x.name, want)
			}
		}
		// Every peer derives the same initial membership: the StatefulSet's
		// pods under the headless Service.
		host := func(i int) string { return c.fqdn(w, fmt.Sprintf("%s-%d", w.name, i)) }
		var wantPeers []string
		for i := 0; i < int(w.replicas); i++ {
			wantPeers = append(wantPeers, fmt.Sprintf("%s-%d=%s:%d", w.name, i, host(i), raftPort))
		}
		gotPeers := pc.list(t, "initial_peers")
		sort.Strings(gotPeers)
		if !slices.Equal(gotPeers, wantPeers) {
			t.Errorf("initial peers\n  got  %q\n  want %q", gotPeers, wantPeers)
		}
		if got := pc.list(t, "api_peers"); !slices.Equal(got, metaAddrs) {
			t.Errorf("REST API peers\n  got  %q\n  want %q", got, metaAddrs)
		}
		self := c.fqdn(w, p.name)
		if got, want := pc.str(t, "raft_advertise"), net.JoinHostPort(self, strconv.Itoa(int(raftPort))); got != want {
			t.Errorf("Raft address %q, want %q", got, want)
		}
		if got, want := pc.str(t, "api_addr"), net.JoinHostPort(self, strconv.Itoa(int(grpcPort))); got != want {
			t.Errorf("advertised gRPC address %q, want %q", got, want)
		}
		if join := pc.str(t, "join"); join != "false" {
			t.Errorf("join %s: an initial peer must bootstrap, not wait to be added", join)
		}
		checkServes(t, w, httpPort)
		dataOnVolume(t, w, pc.str(t, "dir"))
	case "node":
		listen := port(t, pc.str(t, "listen"))
		if want := namedPort(t, w, "data"); listen != want {
			t.Errorf("node listens on %d, the container port data is %d", listen, want)
		}
		wantAdv := fmt.Sprintf("%s:%d", c.fqdn(w, p.name), listen)
		if adv := pc.str(t, "advertise"); adv != wantAdv {
			t.Errorf("advertise %q, want %q", adv, wantAdv)
		}
		if got := pc.list(t, "meta"); !slices.Equal(got, metaAddrs) {
			t.Errorf("metadata peers\n  got  %q\n  want %q", got, metaAddrs)
		}
		if z := pc.str(t, "zone"); z != testZone {
			t.Errorf("zone %q, want the pod's topology label %q", z, testZone)
		}
		if r := pc.str(t, "rack"); r != p.nodeName {
			t.Errorf("rack %q, want the Kubernetes node name %q", r, p.nodeName)
		}
		checkServes(t, w, listen)
		dataOnVolume(t, w, pc.str(t, "dir"))
	case "gateway":
		listen := port(t, pc.str(t, "listen", "addr"))
		if want := namedPort(t, w, "s3"); listen != want {
			t.Errorf("gateway listens on %d, the container port s3 is %d", listen, want)
		}
		if got := pc.list(t, "meta"); !slices.Equal(got, metaAddrs) {
			t.Errorf("metadata peers\n  got  %q\n  want %q", got, metaAddrs)
		}
		if ak, want := pc.str(t, "access-key"), vals["CAIRN_ACCESS_KEY"]; ak != want || want == "" {
			t.Errorf("S3 access key %q, want %q from the Secret", ak, want)
		}
		checkServes(t, w, listen)
	}
}

// TestWritePodConfigs writes, for .ci/docker-tier.sh, what the kubelet
// would give each pod of the base: <pod>.args (the container's arguments,
// one per line), <pod>.env (its resolved environment, for `docker run
// --env-file`) and, for StatefulSet pods, <pod>.fqdn (the pod's DNS name
// under its headless Service). The docker tier runs its containers with
// exactly these, so it tests the manifests' configuration, not a copy of
// it. It runs only when CAIRN_POD_CONFIG_DIR names the output directory.
func TestWritePodConfigs(t *testing.T) {
	out := os.Getenv("CAIRN_POD_CONFIG_DIR")
	if out == "" {
		t.Skip("CAIRN_POD_CONFIG_DIR is not set (.ci/docker-tier.sh sets it)")
	}
	c := load(t, "base")
	write := func(name string, lines []string) {
		if err := os.WriteFile(filepath.Join(out, name), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range c.workloads {
		n := int(w.replicas)
		if w.sts == nil {
			n = 1
		}
		ctr := w.template.Spec.Containers[0]
		for i := 0; i < n; i++ {
			p := c.podFor(w, i)
			env, vals, err := c.containerEnv(ctr, p)
			if err != nil {
				t.Fatalf("%s: %v", p.name, err)
			}
			var args []string
			for _, a := range ctr.Args {
				args = append(args, expand(a, func(k string) (string, bool) { v, ok := vals[k]; return v, ok }))
			}
			for _, kv := range env {
				if strings.ContainsAny(kv, "\n\r") {
					t.Fatalf("%s: env %q does not fit an env file", p.name, kv)
				}
			}
			write(p.name+".args", args)
			write(p.name+".env", env)
			if w.sts != nil {
				write(p.name+".fqdn", []string{c.fqdn(w, p.name)})
			}
		}
	}
}

// TestDocumentedOverlay builds the overlay docs/kubernetes.md shows (its
// "Your own overlay" example plus the cluster-domain patches), taken from
// the page itself, and checks it like the shipped ones.
func TestDocumentedOverlay(t *testing.T) {
	page, err := os.ReadFile("../../docs/kubernetes.md")
	if err != nil {
		t.Fatal(err)
	}
	var overlay, domain *kusttypes.Kustomization
	for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(page), -1) {
		j, err := yaml.YAMLToJSONStrict([]byte(m[1]))
		if err != nil {
			t.Fatalf("docs/kubernetes.md: %v\n%s", err, m[1])
		}
		var k kusttypes.Kustomization
		if decodeStrict(j, &k) != nil {
			continue // not a kustomization (a PodMonitor, ...)
		}
		switch {
		case k.Kind == "Kustomization" && len(k.Resources) == 1 && strings.HasSuffix(k.Resources[0], "overlays/production"):
			overlay = &k
		case k.Kind == "" && len(k.Patches) > 0 && strings.Contains(m[1], "CLUSTER_DOMAIN"):
			domain = &k
		}
	}
	if overlay == nil || domain == nil {
		t.Fatal("docs/kubernetes.md: did not find the example overlay and the CLUSTER_DOMAIN patches")
	}
	// kustomize wants the base as a relative path.
	dir := t.TempDir()
	prod, err := filepath.Abs("overlays/production")
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(dir, prod)
	if err != nil {
		t.Fatal(err)
	}
	overlay.Resources = []string{filepath.ToSlash(rel)}
	overlay.Patches = append(overlay.Patches, domain.Patches...)
	data, err := yaml.Marshal(overlay)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	c := load(t, dir)
	c.namespace, c.domain = overlay.Namespace, "corp.example"
	checkStructure(t, c)

	node := c.byRole(t, "node")
	pvc := node.sts.Spec.VolumeClaimTemplates[0].Spec
	if q := pvc.Resources.Requests[corev1.ResourceStorage]; q.String() != "4Ti" || deref(pvc.StorageClassName, "") != "local-nvme" {
		t.Errorf("data node volumes: %s of class %q, want 4Ti of local-nvme", q.String(), deref(pvc.StorageClassName, ""))
	}
	if l := node.template.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory]; node.replicas != 8 || l.String() != "16Gi" {
		t.Errorf("data nodes: %d with memory limit %s, want 8 with 16Gi", node.replicas, l.String())
	}
	for _, w := range c.workloads {
		if img := w.template.Spec.Containers[0].Image; img != "registry.corp.example/cairn:v0.1.0" {
			t.Errorf("%v: image %q", w, img)
		}
		if v := envValue(w.template.Spec.Containers[0], "CLUSTER_DOMAIN"); v != c.domain {
			t.Errorf("%v: CLUSTER_DOMAIN %q, want %q", w, v, c.domain)
		}
	}
	// The peers, the data nodes and the gateway derive the new domain.
	for _, role := range []string{"meta", "node", "gateway"} {
		w := c.byRole(t, role)
		p := c.podFor(w, 1)
		t.Run(p.name, func(t *testing.T) { checkPod(t, c, w, p) })
	}
}

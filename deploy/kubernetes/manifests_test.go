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
package kubernetes_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	kusttypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"

	"github.com/cairnfs/cairn/deploy/kubernetes/render"
	"github.com/cairnfs/cairn/internal/leakcheck"
)

// Rendering, strict decoding and the fake kubelet (downward API, $(VAR)
// expansion) live in the render package; the multi-process tests in e2e
// use them too.
type (
	object   = render.Object
	workload = render.Workload
	pod      = render.Pod
)

// The values the fake kubelet gives the downward API.
const testZone = render.DefaultZone

// roleSpec is what each server role serves, as the cairn binary implements
// it (docs/architecture.md, docs/cli.md).
type roleSpec struct {
	health, ready, metrics string // HTTP paths
	scheme                 corev1.URIScheme
}

var roleSpecs = map[string]roleSpec{
	"meta":    {"/healthz", "/readyz", "/metrics", corev1.URISchemeHTTPS},      // on the HTTP port (--http-addr), TLS
	"node":    {"/healthz", "/readyz", "/metrics", corev1.URISchemeHTTPS},      // on the data port, TLS
	"gateway": {"/-/healthz", "/-/readyz", "/-/metrics", corev1.URISchemeHTTP}, // on the S3 port, plain HTTP (SigV4)
}

// certManagerOverlay is the overlay whose certificates cert-manager
// issues; it is the only one that names a namespace (its certificates
// name the pods' DNS names).
const certManagerOverlay = "overlays/cert-manager"

// ---------------------------------------------------------------------------
// Rendering and strict decoding

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

// build builds a kustomization with kustomize's library, as `kubectl
// apply -k` would, and decodes the result strictly.
func build(t *testing.T, dir string) []object {
	t.Helper()
	if v, ok := renderCache.Load(dir); ok {
		return v.([]object)
	}
	objs, err := render.Build(dir)
	if err != nil {
		t.Fatal(err)
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
			if err := render.DecodeStrict(j, &k); err != nil {
				t.Errorf("%s: %v", f, err)
			}
			if k.NamePrefix != "" || k.NameSuffix != "" {
				t.Errorf("%s: namePrefix/nameSuffix would break the DNS names the pods use to find each other", f)
			}
			continue
		}
		if _, err := render.DecodeYAMLDocs(data); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestStrictDecodingCatchesMistakes makes sure the decoding above would
// notice the usual mistakes.
func TestStrictDecodingCatchesMistakes(t *testing.T) {
	good := "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  ports:\n    - port: 80\n"
	if _, err := render.DecodeYAMLDocs([]byte(good)); err != nil {
		t.Fatalf("a valid Service fails: %v", err)
	}
	for name, doc := range map[string]string{
		"unknown field":   strings.Replace(good, "- port: 80", "- port: 80\n      tagretPort: 81", 1),
		"wrong case":      strings.Replace(good, "- port: 80", "- Port: 80", 1),
		"duplicate key":   strings.Replace(good, "- port: 80", "- port: 80\n      port: 81", 1),
		"wrong type":      strings.Replace(good, "- port: 80", "- port: eighty", 1),
		"unexpected kind": strings.Replace(good, "kind: Service", "kind: Servce", 1),
	} {
		if _, err := render.DecodeYAMLDocs([]byte(doc)); err == nil {
			t.Errorf("%s: accepted:\n%s", name, doc)
		}
	}
}

// ---------------------------------------------------------------------------
// Structure

// cluster is a rendered kustomization with the test's helpers.
type cluster struct{ *render.Cluster }

func load(t *testing.T, dir string) *cluster {
	t.Helper()
	return &cluster{render.New(dir, build(t, dir))}
}

func deref[T any](p *T, def T) T { return render.Deref(p, def) }

func (c *cluster) byRole(t *testing.T, role string) workload {
	t.Helper()
	w, err := c.ByRole(role)
	if err != nil {
		t.Fatal(err)
	}
	return w
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

func TestStructure(t *testing.T) {
	for _, dir := range kustomizations(t) {
		t.Run(dir, func(t *testing.T) {
			c := load(t, dir)
			if (c.Namespace != "") != (dir == certManagerOverlay) {
				t.Errorf("namespace %q: only %s names one", c.Namespace, certManagerOverlay)
			}
			checkStructure(t, c)
		})
	}
}

func checkStructure(t *testing.T, c *cluster) {
	for _, o := range c.Objects {
		m := o.Obj.(metav1.ObjectMetaAccessor).GetObjectMeta()
		if m.GetNamespace() != c.Namespace {
			t.Errorf("%v: namespace %q, want %q (the shipped manifests are namespace-agnostic)", o, m.GetNamespace(), c.Namespace)
		}
		if m.GetLabels()["app.kubernetes.io/name"] != "cairn" {
			t.Errorf("%v: no label app.kubernetes.io/name=cairn", o)
		}
	}
	roles := map[string]bool{}
	for _, w := range c.Workloads {
		roles[w.Role()] = true
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
	if meta.STS == nil {
		t.Fatalf("%v: the metadata peers need a StatefulSet (stable names for Raft)", meta)
	}
	if meta.Replicas < 3 || meta.Replicas%2 == 0 {
		t.Errorf("%v: %d replicas; a Raft group wants an odd number, at least 3", meta, meta.Replicas)
	}
	if meta.STS.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		t.Errorf("%v: podManagementPolicy %q; the peers must start together to form a quorum", meta, meta.STS.Spec.PodManagementPolicy)
	}
	if v := envValue(meta.Template.Spec.Containers[0], "CLUSTER_SIZE"); v != strconv.Itoa(int(meta.Replicas)) {
		t.Errorf("%v: CLUSTER_SIZE=%q but %d replicas", meta, v, meta.Replicas)
	}
	if node := c.byRole(t, "node"); node.STS == nil {
		t.Errorf("%v: data nodes need a StatefulSet (a volume and a stable name each)", node)
	}
	if gw := c.byRole(t, "gateway"); gw.STS != nil {
		t.Errorf("%v: the S3 gateway is stateless; want a Deployment", gw)
	}

	// Services select pods and target ports that exist.
	for _, s := range c.Services {
		what := "Service/" + s.Name
		sel := mustSelector(t, what, &metav1.LabelSelector{MatchLabels: s.Spec.Selector})
		ws := c.Selects(sel)
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
			if _, ok := render.ContainerPort(ws[0].Template.Spec, tp); !ok {
				t.Errorf("%s: targetPort %s is not a container port of %v", what, tp.String(), ws[0])
			}
		}
	}

	// Every workload is covered by exactly one PodDisruptionBudget that
	// lets at most one pod go (for the metadata peers: never the quorum).
	covered := map[string]int{}
	for _, p := range c.PDBs {
		what := "PodDisruptionBudget/" + p.Name
		ws := c.Selects(mustSelector(t, what, p.Spec.Selector))
		if len(ws) != 1 {
			t.Errorf("%s: selects the pods of %d workloads, want 1", what, len(ws))
			continue
		}
		w := ws[0]
		covered[w.Name]++
		if p.Spec.MaxUnavailable == nil || p.Spec.MinAvailable != nil {
			t.Errorf("%s: want maxUnavailable (and no minAvailable)", what)
			continue
		}
		mu, err := intstr.GetScaledValueFromIntOrPercent(p.Spec.MaxUnavailable, int(w.Replicas), true)
		if err != nil || mu != 1 {
			t.Errorf("%s: maxUnavailable %s allows %d of %d pods down, want 1 (%v)", what, p.Spec.MaxUnavailable.String(), mu, w.Replicas, err)
		}
		if w.Role() == "meta" && int32(mu) > (w.Replicas-1)/2 {
			t.Errorf("%s: %d of %d peers down loses the Raft quorum", what, mu, w.Replicas)
		}
	}
	for _, w := range c.Workloads {
		if covered[w.Name] != 1 {
			t.Errorf("%v: covered by %d PodDisruptionBudgets, want 1", w, covered[w.Name])
		}
	}
}

func checkWorkload(t *testing.T, c *cluster, w workload) {
	what := w.String()
	sel := mustSelector(t, what, w.Selector)
	if !sel.Matches(labels.Set(w.Template.Labels)) {
		t.Errorf("%s: selector %v does not match the pod labels %v", what, sel, w.Template.Labels)
	}
	for _, other := range c.Workloads {
		if other.Name != w.Name && sel.Matches(labels.Set(other.Template.Labels)) {
			t.Errorf("%s: selector also matches the pods of %v", what, other)
		}
	}
	spec := w.Template.Spec
	if len(spec.Containers) != 1 {
		t.Fatalf("%s: want one container, got %d", what, len(spec.Containers))
	}
	ctr := spec.Containers[0]
	if _, ok := roleSpecs[w.Role()]; !ok {
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
		if !s.Matches(labels.Set(w.Template.Labels)) {
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
		if _, ok := render.ContainerPort(spec, p.HTTPGet.Port); !ok {
			t.Errorf("%s: probe port %s is not a container port", what, p.HTTPGet.Port.String())
		}
	}

	// Prometheus: the scrape annotations name a container port.
	ann := w.Template.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/path"] == "" {
		t.Errorf("%s: want prometheus.io/scrape and prometheus.io/path annotations", what)
	}
	if port, err := strconv.Atoi(ann["prometheus.io/port"]); err != nil {
		t.Errorf("%s: prometheus.io/port %q", what, ann["prometheus.io/port"])
	} else if _, ok := render.ContainerPort(spec, intstr.FromInt32(int32(port))); !ok {
		t.Errorf("%s: prometheus.io/port %d is not a container port", what, port)
	}

	// Volumes: every mount has a volume or a claim template, every claim
	// template is mounted and asks for storage.
	vols := map[string]bool{}
	for _, v := range spec.Volumes {
		vols[v.Name] = true
	}
	claims := map[string]bool{}
	if w.STS != nil {
		for _, pvc := range w.STS.Spec.VolumeClaimTemplates {
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
	checkTLSVolume(t, c, w)

	// A StatefulSet's governing Service is headless, selects exactly its
	// pods and publishes them before they are ready.
	if w.STS != nil {
		s, ok := c.Services[w.ServiceName]
		switch {
		case !ok:
			t.Errorf("%s: serviceName %q is not a Service", what, w.ServiceName)
		case s.Spec.ClusterIP != corev1.ClusterIPNone:
			t.Errorf("%s: Service %s is not headless", what, s.Name)
		case !s.Spec.PublishNotReadyAddresses:
			t.Errorf("%s: Service %s must publish not-ready addresses (peers resolve each other before they are ready)", what, s.Name)
		case !labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(w.Template.Labels)):
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
			if !render.ValidFieldPath(vf.FieldRef.FieldPath) {
				t.Errorf("%s: env %s: fieldPath %q is not supported by the downward API for env", what, e.Name, vf.FieldRef.FieldPath)
			}
		case vf.ResourceFieldRef != nil:
			if _, ok := render.ResourceOf(ctr, vf.ResourceFieldRef.Resource); !ok {
				t.Errorf("%s: env %s: the container has no %s", what, e.Name, vf.ResourceFieldRef.Resource)
			}
		case vf.SecretKeyRef != nil:
			if _, err := c.SecretValue(vf.SecretKeyRef); err != nil {
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
	replicas := func(c *cluster, role string) int32 { return c.byRole(t, role).Replicas }
	storage := func(c *cluster, role string) resource.Quantity {
		return c.byRole(t, role).STS.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests[corev1.ResourceStorage]
	}
	base, dev, prod := load(t, "base"), load(t, "overlays/dev"), load(t, "overlays/production")

	if got := dev.byRole(t, "meta").Template.Spec.Containers[0].Image; got != "cairn:dev" {
		t.Errorf("dev image %q, want cairn:dev (what `make image` builds)", got)
	}
	if _, ok := dev.Secrets["cairn-s3-credentials"]; !ok {
		// kustomize appends a content hash to generated names.
		found := false
		for n := range dev.Secrets {
			found = found || strings.HasPrefix(n, "cairn-s3-credentials-")
		}
		if !found {
			t.Errorf("dev: no generated cairn-s3-credentials Secret")
		}
	}
	for n := range prod.Secrets {
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
		b := base.byRole(t, role).Template.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory]
		d := dev.byRole(t, role).Template.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory]
		p := prod.byRole(t, role).Template.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory]
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
	for _, w := range c.Workloads {
		sc := w.Template.Spec.SecurityContext
		if want := fmt.Sprintf("%d:%d", deref(sc.RunAsUser, 0), deref(sc.RunAsGroup, 0)); user != want {
			t.Errorf("Dockerfile USER %q, %v runs as %s", user, w, want)
		}
		for _, p := range w.Template.Spec.Containers[0].Ports {
			if !exposed[p.ContainerPort] {
				t.Errorf("Dockerfile does not EXPOSE %d (%v port %s)", p.ContainerPort, w, p.Name)
			}
		}
	}
}

// ---------------------------------------------------------------------------
// The binary's own parsing

var (
	buildOnce sync.Once
	cairnBin  string
	buildErr  error
	binDir    string
)

// TestMain removes the built binary and fails the package's tests if any
// goroutine outlives them.
func TestMain(m *testing.M) {
	leakcheck.Main(m, func(code int) {
		if binDir != "" {
			os.RemoveAll(binDir)
		}
		os.Exit(code)
	})
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
	n, ok := render.ContainerPort(w.Template.Spec, intstr.FromString(name))
	if !ok {
		t.Fatalf("%v: no container port named %s", w, name)
	}
	return n
}

// checkServes: the probes and the Prometheus annotations of a workload
// hit the port where the role serves them, with the role's paths.
func checkServes(t *testing.T, w workload, servePort int32) {
	t.Helper()
	spec := roleSpecs[w.Role()]
	ctr := w.Template.Spec.Containers[0]
	for _, pr := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"startup", ctr.StartupProbe, spec.health}, {"liveness", ctr.LivenessProbe, spec.health}, {"readiness", ctr.ReadinessProbe, spec.ready}} {
		if pr.probe == nil || pr.probe.HTTPGet == nil {
			continue // checkWorkload insists on liveness and readiness
		}
		got, _ := render.ContainerPort(w.Template.Spec, pr.probe.HTTPGet.Port)
		if pr.probe.HTTPGet.Path != pr.path || got != servePort {
			t.Errorf("%v: %s probe GET %s on port %d; `cairn %s` serves %s on port %d", w, pr.name, pr.probe.HTTPGet.Path, got, w.Role(), pr.path, servePort)
		}
		scheme := pr.probe.HTTPGet.Scheme
		if scheme == "" {
			scheme = corev1.URISchemeHTTP
		}
		if scheme != spec.scheme {
			t.Errorf("%v: %s probe uses %s; `cairn %s` serves %s there", w, pr.name, scheme, w.Role(), spec.scheme)
		}
	}
	ann := w.Template.Annotations
	if ann["prometheus.io/path"] != spec.metrics || ann["prometheus.io/port"] != strconv.Itoa(int(servePort)) {
		t.Errorf("%v: Prometheus scrapes %s on port %s; `cairn %s` serves %s on port %d", w, ann["prometheus.io/path"], ann["prometheus.io/port"], w.Role(), spec.metrics, servePort)
	}
}

// dataOnVolume: a server's --dir lies on its persistent volume.
func dataOnVolume(t *testing.T, w workload, dir string) {
	t.Helper()
	if w.STS == nil {
		return
	}
	claims := map[string]bool{}
	for _, pvc := range w.STS.Spec.VolumeClaimTemplates {
		claims[pvc.Name] = true
	}
	for _, m := range w.Template.Spec.Containers[0].VolumeMounts {
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
	for i := 0; i < int(meta.Replicas); i++ {
		out = append(out, fmt.Sprintf("%s:%d", c.FQDN(meta, fmt.Sprintf("%s-%d", meta.Name, i)), namedPort(t, meta, "grpc")))
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
			for _, w := range c.Workloads {
				n := int(w.Replicas)
				if w.STS == nil {
					n = 1
				}
				for i := 0; i < n; i++ {
					p := c.PodFor(w, i)
					t.Run(p.Name, func(t *testing.T) {
						checkPod(t, c, w, p)
					})
				}
			}
		})
	}
}

func checkPod(t *testing.T, c *cluster, w workload, p pod) {
	ctr := w.Template.Spec.Containers[0]
	env, vals, err := c.ContainerEnv(ctr, p)
	if err != nil {
		t.Fatalf("%v: %v", w, err)
	}
	args := make([]string, len(ctr.Args))
	for i, a := range ctr.Args {
		args[i] = render.Expand(a, func(k string) (string, bool) { v, ok := vals[k]; return v, ok })
		if strings.Contains(args[i], "$(") {
			t.Fatalf("%v: argument %q: unresolved reference", w, a)
		}
	}
	pc := printConfig(t, args, env)
	if pc.Role != w.Role() {
		t.Errorf("--print-config role %q, want %q", pc.Role, w.Role())
	}
	metaAddrs := metaGRPCAddrs(t, c)
	if dir := pc.str(t, "certs-dir"); dir != render.TLSMountPath || pc.str(t, "insecure") != "false" {
		t.Errorf("certs-dir %q, insecure %s; want the Secret's mount path %s, secure", dir, pc.str(t, "insecure"), render.TLSMountPath)
	}
	switch w.Role() {
	case "meta":
		if id := pc.str(t, "id"); id != p.Name {
			t.Errorf("peer ID %q, want the pod name %q", id, p.Name)
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
		host := func(i int) string { return c.FQDN(w, fmt.Sprintf("%s-%d", w.Name, i)) }
		var wantPeers []string
		for i := 0; i < int(w.Replicas); i++ {
			wantPeers = append(wantPeers, fmt.Sprintf("%s-%d=%s:%d", w.Name, i, host(i), raftPort))
		}
		gotPeers := pc.list(t, "initial_peers")
		sort.Strings(gotPeers)
		if !slices.Equal(gotPeers, wantPeers) {
			t.Errorf("initial peers\n  got  %q\n  want %q", gotPeers, wantPeers)
		}
		if got := pc.list(t, "api_peers"); !slices.Equal(got, metaAddrs) {
			t.Errorf("REST API peers\n  got  %q\n  want %q", got, metaAddrs)
		}
		self := c.FQDN(w, p.Name)
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
		wantAdv := fmt.Sprintf("%s:%d", c.FQDN(w, p.Name), listen)
		if adv := pc.str(t, "advertise"); adv != wantAdv {
			t.Errorf("advertise %q, want %q", adv, wantAdv)
		}
		if got := pc.list(t, "meta"); !slices.Equal(got, metaAddrs) {
			t.Errorf("metadata peers\n  got  %q\n  want %q", got, metaAddrs)
		}
		if z := pc.str(t, "zone"); z != testZone {
			t.Errorf("zone %q, want the pod's topology label %q", z, testZone)
		}
		if r := pc.str(t, "rack"); r != p.NodeName {
			t.Errorf("rack %q, want the Kubernetes node name %q", r, p.NodeName)
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
// --env-file`), <pod>.tls (the Secret holding its certificate directory
// and where it is mounted: "SECRET PATH"), <pod>.secrets (the other
// Secrets it mounts, one "SECRET PATH" a line, possibly none), <pod>.keys
// for pods that read the secrets key (its Secret and mount path, like
// .tls) and, for StatefulSet pods, <pod>.fqdn (the pod's DNS name under
// its headless Service); and for each
// certificate Secret <secret>.cert, the arguments of `cairn cert
// create-node` that issue it (render.CertRecipeFor), one per line. The
// docker tier runs its containers with exactly these, so it tests the
// manifests' configuration, not a copy of it. It runs only when
// CAIRN_POD_CONFIG_DIR names the output directory.
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
	for _, w := range c.Workloads {
		n := int(w.Replicas)
		if w.STS == nil {
			n = 1
		}
		ctr := w.Template.Spec.Containers[0]
		for i := 0; i < n; i++ {
			p := c.PodFor(w, i)
			env, vals, err := c.ContainerEnv(ctr, p)
			if err != nil {
				t.Fatalf("%s: %v", p.Name, err)
			}
			var args []string
			for _, a := range ctr.Args {
				args = append(args, render.Expand(a, func(k string) (string, bool) { v, ok := vals[k]; return v, ok }))
			}
			for _, kv := range env {
				if strings.ContainsAny(kv, "\n\r") {
					t.Fatalf("%s: env %q does not fit an env file", p.Name, kv)
				}
			}
			write(p.Name+".args", args)
			write(p.Name+".env", env)
			v, m, err := render.TLSVolumeOf(w)
			if err != nil || v.Secret == nil {
				t.Fatalf("%s: no certificate Secret (%v)", p.Name, err)
			}
			write(p.Name+".tls", []string{v.Secret.SecretName + " " + m.MountPath})
			var others []string
			for _, sm := range render.OtherSecretMountsOf(w) {
				others = append(others, sm.Secret+" "+sm.Path)
			}
			write(p.Name+".secrets", others)
			if v, m, ok, err := render.SecretsKeyVolumeOf(w); err != nil || (ok && v.Secret == nil) {
				t.Fatalf("%s: the secrets key is not in a Secret (%v)", p.Name, err)
			} else if ok {
				write(p.Name+".keys", []string{v.Secret.SecretName + " " + m.MountPath})
			}
			if w.STS != nil {
				write(p.Name+".fqdn", []string{c.FQDN(w, p.Name)})
			}
		}
		r := c.CertRecipeFor(w)
		write(r.Secret+".cert", []string{"--name", r.Name, "--roles", strings.Join(r.Roles, ","), "--host", strings.Join(r.Hosts, ",")})
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
		if render.DecodeStrict(j, &k) != nil {
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
	c.Namespace, c.Domain = overlay.Namespace, "corp.example"
	checkStructure(t, c)

	node := c.byRole(t, "node")
	pvc := node.STS.Spec.VolumeClaimTemplates[0].Spec
	if q := pvc.Resources.Requests[corev1.ResourceStorage]; q.String() != "4Ti" || deref(pvc.StorageClassName, "") != "local-nvme" {
		t.Errorf("data node volumes: %s of class %q, want 4Ti of local-nvme", q.String(), deref(pvc.StorageClassName, ""))
	}
	if l := node.Template.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory]; node.Replicas != 8 || l.String() != "16Gi" {
		t.Errorf("data nodes: %d with memory limit %s, want 8 with 16Gi", node.Replicas, l.String())
	}
	for _, w := range c.Workloads {
		if img := w.Template.Spec.Containers[0].Image; img != "registry.corp.example/cairn:v0.1.0" {
			t.Errorf("%v: image %q", w, img)
		}
		if v := envValue(w.Template.Spec.Containers[0], "CLUSTER_DOMAIN"); v != c.Domain {
			t.Errorf("%v: CLUSTER_DOMAIN %q, want %q", w, v, c.Domain)
		}
	}
	// The peers, the data nodes and the gateway derive the new domain.
	for _, role := range []string{"meta", "node", "gateway"} {
		w := c.byRole(t, role)
		p := c.PodFor(w, 1)
		t.Run(p.Name, func(t *testing.T) { checkPod(t, c, w, p) })
	}
}

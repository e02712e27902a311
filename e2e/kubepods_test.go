package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/cairnfs/cairn/deploy/kubernetes/render"
	"github.com/cairnfs/cairn/internal/await"
	"github.com/cairnfs/cairn/pki"
)

// This file runs the pods of Cairn's Kubernetes manifests as processes on
// one machine: each pod gets the arguments and environment the kubelet
// would give its container (deploy/kubernetes/render resolves them from the
// kustomize output), with only addresses and data folders changed so that
// everything runs on loopback without cluster DNS:
//
//   - every pod gets its own loopback address (127.0.0.0/8 is all loopback
//     on Linux): metadata peer i 127.0.1.<10+i>, data node i 127.0.2.<10+i>;
//   - every pod DNS name under a headless Service
//     (cairn-meta-0.cairn-meta.<ns>.svc.cluster.local, ...) is replaced by
//     that address wherever it appears in the environment and arguments;
//     ports stay as the manifests have them;
//   - a listen address the container leaves on the wildcard host (":9090")
//     is bound to the pod's address instead (CAIRN_GRPC_ADDR etc.), since
//     all pods share the machine's ports;
//   - the metadata peers' initial membership, which the manifests derive
//     from CLUSTER_SIZE and the DNS domain CAIRN_PEER_DOMAIN
//     (<pod>.<domain>), cannot be made to name loopback addresses by
//     substitution: CLUSTER_SIZE is replaced by the membership it derives,
//     spelled out with the pods' addresses (CAIRN_PEERS, CAIRN_API_PEERS)
//     and CAIRN_ADVERTISE; CAIRN_PEER_DOMAIN stays;
//   - the persistent volume's mount path (/data) in the arguments, and the
//     working directory (the image's WORKDIR, /data), become a folder per
//     pod;
//   - the certificate Secrets (cairn-meta-tls, ...) are certificate
//     directories the test issues with the binary's `cairn cert`, from a CA
//     of its own, with what render.CertRecipeFor says the role needs (the
//     identity, the DNS names; docs/kubernetes.md issues the same) plus the
//     pods' loopback addresses, which the pods dial here in place of the
//     DNS names; a Secret's mount path (/etc/cairn/tls), wherever it
//     appears in the arguments and the environment (CAIRN_CERTS_DIR),
//     becomes the Secret's folder, shared by the pods of the workload as a
//     Secret is;
//   - the probes use the scheme the manifests give them (HTTPS on the
//     metadata and data ports) and, like the kubelet, neither verify the
//     server's certificate nor present one;
//   - HOSTNAME is the pod name, as the container runtime sets it.
//
// Every pod's configuration is then checked with the binary's own
// --print-config against the unmodified pod configuration, with the same
// substitution of names by addresses applied to the latter: every flag
// must be equal except those set here (the listen addresses, and --peers,
// --api-peers, --advertise in place of --cluster-size) and --dir, and
// every derived setting must be equal (for a peer: ID, advertised Raft and
// API addresses, initial peers, API peers, join; for a node: advertised
// address and metadata peers) except that the listen addresses name the
// pod's address instead of the wildcard host.

const (
	kubeMetaNet  = "127.0.1." // metadata peer i listens on kubeMetaNet + (10+i)
	kubeNodeNet  = "127.0.2." // data node i on kubeNodeNet + (10+i)
	imageWorkdir = "/data"    // the Dockerfile's WORKDIR
)

// listenFlags maps each derived listen address of a role (--print-config)
// to the flag that sets it.
var listenFlags = map[string]map[string]string{
	"meta": {"grpc_listen": "grpc-addr", "http_listen": "http-addr", "raft_listen": "raft-addr"},
	"node": {"listen": "addr"},
}

// kubeCluster is a kustomization's pods, ready to run as processes.
type kubeCluster struct {
	c          *render.Cluster
	meta, node render.Workload
	hosts      *strings.Replacer // pod DNS name -> loopback address
	root       string            // per-pod folders and logs
	certs      string            // the CA, a folder per Secret, admin
}

// loadKube renders a kustomization and maps the DNS names of its metadata
// peers (and extraMetas more, as a scaled-up StatefulSet would name them)
// and of its data nodes to loopback addresses.
func loadKube(t *testing.T, dir string, extraMetas int) *kubeCluster {
	t.Helper()
	c, err := render.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	k := &kubeCluster{c: c, root: t.TempDir()}
	if k.meta, err = c.ByRole("meta"); err != nil {
		t.Fatal(err)
	}
	if k.node, err = c.ByRole("node"); err != nil {
		t.Fatal(err)
	}
	var pairs []string
	metas, nodes := int(k.meta.Replicas)+extraMetas, int(k.node.Replicas)
	for i := range metas {
		pairs = append(pairs, c.FQDN(k.meta, stsPodName(k.meta, i)), kubeMetaNet+strconv.Itoa(10+i))
	}
	for i := range nodes {
		pairs = append(pairs, c.FQDN(k.node, stsPodName(k.node, i)), kubeNodeNet+strconv.Itoa(10+i))
	}
	k.hosts = strings.NewReplacer(pairs...)
	k.makeCerts(t, metas, nodes)
	return k
}

// makeCerts issues the certificate Secrets of the workloads as folders
// under k.certs/<Secret> with `cairn cert`, as docs/kubernetes.md does by
// hand: the names render.CertRecipeFor gives for the role, plus the
// loopback addresses of the metas and nodes pods; and an admin client
// certificate in k.certs/admin; the secrets key in
// k.certs/cairn-secrets-key; and the nodes' encryption key in
// k.certs/cairn-node-encryption-key.
func (k *kubeCluster) makeCerts(t *testing.T, metas, nodes int) {
	t.Helper()
	k.certs = filepath.Join(k.root, "certs")
	ca := filepath.Join(k.certs, "ca")
	run := func(args ...string) {
		if out, err := command(t.Context(), append([]string{"cert"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("cairn cert %v: %v\n%s", args, err, out)
		}
	}
	run("create-ca", "--ca-dir", ca)
	for _, w := range k.c.Workloads {
		r := k.c.CertRecipeFor(w)
		hosts := slices.Clone(r.Hosts)
		switch w.Role() {
		case "meta":
			for i := range metas {
				hosts = append(hosts, kubeMetaNet+strconv.Itoa(10+i))
			}
		case "node":
			for i := range nodes {
				hosts = append(hosts, kubeNodeNet+strconv.Itoa(10+i))
			}
		}
		run("create-node", "--ca-dir", ca, "--out", filepath.Join(k.certs, r.Secret), "--name", r.Name,
			"--roles", strings.Join(r.Roles, ","), "--host", strings.Join(hosts, ","))
	}
	run("create-client", "--ca-dir", ca, "--out", filepath.Join(k.certs, "admin"), "--name", "operator", "--admin")
	// The secrets key Secret the metadata pods mount, made as
	// docs/kubernetes.md makes it.
	if err := os.MkdirAll(filepath.Join(k.certs, render.SecretsKeySecret), 0o700); err != nil {
		t.Fatal(err)
	}
	run("create-key", "--out", filepath.Join(k.certs, render.SecretsKeySecret, render.SecretsKeyFile))
	// And the data nodes' encryption key (docs/kubernetes.md, "Encryption
	// at rest").
	if err := os.MkdirAll(filepath.Join(k.certs, render.EncryptionKeySecret), 0o700); err != nil {
		t.Fatal(err)
	}
	run("create-key", "--out", filepath.Join(k.certs, render.EncryptionKeySecret, render.EncryptionKeyFile))
}

// adminTLS is the operators' client certificate, for the SDK.
func (k *kubeCluster) adminTLS(t *testing.T) *pki.Source {
	t.Helper()
	return loadCertDir(t, filepath.Join(k.certs, "admin"))
}

func stsPodName(w render.Workload, ordinal int) string { return fmt.Sprintf("%s-%d", w.Name, ordinal) }

// kubePod is one pod's process: its configuration and, while it runs, its
// process.
type kubePod struct {
	name, role, ip string
	args, env      []string
	dir            string // the pod's data volume
	logPath        string
	ready, health  string        // probe URLs
	grace          time.Duration // terminationGracePeriodSeconds
	minReady       time.Duration // the StatefulSet's minReadySeconds
	derived        map[string]any

	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	log     *os.File
	starts  int
	cleanup bool
}

// pod resolves the pod of workload w with the given ordinal (which may
// lie beyond the manifest's replicas: a scaled-up StatefulSet's pod) and
// checks that its loopback configuration differs from the manifest's only
// in addresses.
func (k *kubeCluster) pod(t *testing.T, w render.Workload, ordinal int) *kubePod {
	t.Helper()
	r, err := k.c.Resolve(w, ordinal)
	if err != nil {
		t.Fatal(err)
	}
	role := w.Role()
	ip := kubeMetaNet + strconv.Itoa(10+ordinal)
	if role == "node" {
		ip = kubeNodeNet + strconv.Itoa(10+ordinal)
	}
	ctr := w.Template.Spec.Containers[0]
	p := &kubePod{name: r.Pod.Name, role: role, ip: ip, dir: filepath.Join(k.root, r.Pod.Name)}
	p.logPath = p.dir + ".log"
	p.grace = time.Duration(render.Deref(w.Template.Spec.TerminationGracePeriodSeconds, 30)) * time.Second
	if w.STS != nil {
		p.minReady = time.Duration(w.STS.Spec.MinReadySeconds) * time.Second
	}
	p.ready = k.probeURL(t, p, w, ctr.ReadinessProbe)
	p.health = k.probeURL(t, p, w, ctr.StartupProbe)
	if ctr.StartupProbe == nil {
		p.health = k.probeURL(t, p, w, ctr.LivenessProbe)
	}

	// The manifest's configuration, as the binary reads it.
	want := printPodConfig(t, r.Args, r.Env)

	// The persistent volume's mount path becomes the pod's folder, a
	// Secret's mount path the Secret's folder.
	mounts := map[string]string{}
	if w.STS != nil {
		for _, pvc := range w.STS.Spec.VolumeClaimTemplates {
			for _, m := range ctr.VolumeMounts {
				if m.Name == pvc.Name {
					mounts[strings.TrimSuffix(m.MountPath, "/")] = filepath.Join(p.dir, pvc.Name)
				}
			}
		}
	}
	for _, v := range w.Template.Spec.Volumes {
		if v.Secret == nil {
			continue
		}
		for _, m := range ctr.VolumeMounts {
			if m.Name != v.Name {
				continue
			}
			host := filepath.Join(k.certs, v.Secret.SecretName)
			if _, err := os.Stat(host); err != nil {
				t.Fatalf("%s mounts the Secret %s, which the test did not make: %v", p.name, v.Secret.SecretName, err)
			}
			mounts[strings.TrimSuffix(m.MountPath, "/")] = host
		}
	}
	onHost := func(v string) string {
		for mp, host := range mounts {
			if v == mp || strings.HasPrefix(v, mp+"/") {
				return host + v[len(mp):]
			}
		}
		return v
	}
	for _, a := range r.Args {
		if name, val, ok := strings.Cut(a, "="); ok && strings.HasPrefix(name, "-") {
			a = name + "=" + onHost(val)
		} else {
			a = onHost(a)
		}
		p.args = append(p.args, k.hosts.Replace(a))
	}
	for _, host := range mounts {
		if strings.HasPrefix(host, k.certs) {
			continue
		}
		if err := os.MkdirAll(host, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if host, ok := mounts[imageWorkdir]; ok {
		p.dir = host // the process's working directory
	} else if err := os.MkdirAll(p.dir, 0o755); err != nil {
		t.Fatal(err)
	}

	// The environment: names replaced by addresses, plus the listen
	// addresses (and, for the peers, the membership CLUSTER_SIZE derives).
	set := map[string]string{} // flag -> value this test sets
	var env []string
	for _, kv := range r.Env {
		name, val, _ := strings.Cut(kv, "=")
		if role == "meta" && name == "CLUSTER_SIZE" {
			continue
		}
		env = append(env, name+"="+onHost(k.hosts.Replace(val)))
	}
	for key, flag := range listenFlags[role] {
		listen := jsonStr(t, want.Derived, key)
		_, port, err := net.SplitHostPort(listen)
		if err != nil {
			t.Fatalf("%s: %s %q: %v", p.name, key, listen, err)
		}
		set[flag] = net.JoinHostPort(ip, port)
	}
	if role == "meta" && r.Vals["CLUSTER_SIZE"] != "" {
		var peers []string
		for _, pe := range want.Derived["initial_peers"].([]any) {
			m := pe.(map[string]any)
			peers = append(peers, fmt.Sprintf("%s=%s", m["id"], k.hosts.Replace(m["raft_addr"].(string))))
		}
		var apiPeers []string
		for _, a := range want.Derived["api_peers"].([]any) {
			apiPeers = append(apiPeers, k.hosts.Replace(a.(string)))
		}
		set["peers"], set["api-peers"], set["advertise"] = strings.Join(peers, ","), strings.Join(apiPeers, ","), ip
		set["cluster-size"] = "0" // not set
	}
	var flags []string
	for flag := range set {
		if flag != "cluster-size" {
			flags = append(flags, flag)
		}
	}
	slices.Sort(flags)
	for _, flag := range flags {
		env = setEnv(env, "CAIRN_"+strings.ToUpper(strings.ReplaceAll(flag, "-", "_")), set[flag])
	}
	p.env = setEnv(env, "HOSTNAME", p.name)

	// Only addresses and the data folder differ.
	got := printPodConfig(t, p.args, p.env)
	for name, v := range want.Flags {
		w := onHost(k.hosts.Replace(fmt.Sprint(v)))
		if s, ok := set[name]; ok {
			w = s
		}
		if g := fmt.Sprint(got.Flags[name]); g != w {
			t.Errorf("%s: flag --%s is %q on loopback, want %q (the manifest's %q)", p.name, name, g, w, v)
		}
	}
	for key, v := range want.Derived {
		wv := mapStrings(v, func(s string) string { return onHost(k.hosts.Replace(s)) })
		gv := got.Derived[key]
		switch {
		case listenFlags[role][key] != "":
			wv = set[listenFlags[role][key]]
		case key == "initial_peers":
			// The manifest's peers also carry their API addresses, which
			// --api-peers holds here.
			wv, gv = peerList(wv), peerList(gv)
		}
		if !reflect.DeepEqual(gv, wv) {
			t.Errorf("%s: derived %s is %v on loopback, want %v (the manifest's %v)", p.name, key, gv, wv, v)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	p.derived = got.Derived
	return p
}

// setEnv sets name=value in env, in place of an existing entry.
func setEnv(env []string, name, value string) []string {
	for i, kv := range env {
		if strings.HasPrefix(kv, name+"=") {
			env[i] = name + "=" + value
			return env
		}
	}
	return append(env, name+"="+value)
}

// probeURL is the URL a probe GETs, on the pod's address.
func (k *kubeCluster) probeURL(t *testing.T, p *kubePod, w render.Workload, pr *corev1.Probe) string {
	t.Helper()
	if pr == nil || pr.HTTPGet == nil {
		t.Fatalf("%s: no HTTP probe", p.name)
	}
	port, ok := render.ContainerPort(w.Template.Spec, pr.HTTPGet.Port)
	if !ok {
		t.Fatalf("%s: probe port %s", p.name, pr.HTTPGet.Port.String())
	}
	scheme := strings.ToLower(string(pr.HTTPGet.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	return fmt.Sprintf("%s://%s%s", scheme, net.JoinHostPort(p.ip, strconv.Itoa(int(port))), pr.HTTPGet.Path)
}

// containerPorts lists a pod's listen addresses.
func (k *kubeCluster) containerPorts(p *kubePod, w render.Workload) []string {
	var out []string
	for _, cp := range w.Template.Spec.Containers[0].Ports {
		out = append(out, net.JoinHostPort(p.ip, strconv.Itoa(int(cp.ContainerPort))))
	}
	return out
}

// checkFree fails the test if another process holds one of the pod's
// ports.
func (k *kubeCluster) checkFree(t *testing.T, p *kubePod, w render.Workload) {
	t.Helper()
	for _, addr := range k.containerPorts(p, w) {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("%s: %s is not free: %v", p.name, addr, err)
		}
		l.Close()
	}
}

// mapStrings applies f to every string in a decoded JSON value.
func mapStrings(v any, f func(string) string) any {
	switch v := v.(type) {
	case string:
		return f(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = mapStrings(e, f)
		}
		return out
	case map[string]any:
		out := map[string]any{}
		for k, e := range v {
			out[k] = mapStrings(e, f)
		}
		return out
	}
	return v
}

// peerList renders printed initial peers as id=raft_addr.
func peerList(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, e := range l {
		m, _ := e.(map[string]any)
		out = append(out, fmt.Sprintf("%v=%v", m["id"], m["raft_addr"]))
	}
	return out
}

func jsonStr(t *testing.T, m map[string]any, key string) string {
	t.Helper()
	s, ok := m[key].(string)
	if !ok {
		t.Fatalf("--print-config has no %s: %v", key, m)
	}
	return s
}

type podConfig struct {
	Role    string         `json:"role"`
	Flags   map[string]any `json:"flags"`
	Derived map[string]any `json:"derived"`
}

// printPodConfig runs `cairn <role> --print-config <args...>` in exactly
// the given environment.
func printPodConfig(t *testing.T, args, env []string) podConfig {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	full := append([]string{args[0], "--print-config"}, args[1:]...)
	cmd := command(ctx, full...)
	cmd.Env, cmd.Dir = env, t.TempDir()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("cairn %s\n  env %q\n  failed: %v\n%s", strings.Join(full, " "), env, err, stderr.String())
	}
	var pc podConfig
	if err := json.Unmarshal(stdout.Bytes(), &pc); err != nil {
		t.Fatalf("cairn %s --print-config: %v\n%s", args[0], err, stdout.String())
	}
	return pc
}

// start starts the pod's process (again, after a stop) with its
// arguments, environment and folder; its output is appended to its log.
func (p *kubePod) start(t *testing.T) {
	t.Helper()
	if p.running() {
		t.Fatalf("%s is already running", p.name)
	}
	if p.log == nil {
		f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		p.log = f
	}
	p.starts++
	fmt.Fprintf(p.log, "=== %s start #%d: cairn %s\n", time.Now().Format("15:04:05.000"), p.starts, strings.Join(p.args, " "))
	cmd := command(context.Background(), p.args...)
	cmd.Env, cmd.Dir = p.env, p.dir
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", p.name, err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	go func(done chan struct{}) { cmd.Wait(); close(done) }(p.done)
	if !p.cleanup {
		p.cleanup = true
		t.Cleanup(func() {
			p.kill()
			if t.Failed() {
				b, _ := os.ReadFile(p.logPath)
				t.Logf("--- %s log (%s, tail) ---\n%s", p.name, p.logPath, tail(string(b), 6000))
			}
			p.log.Close()
		})
	}
}

func (p *kubePod) running() bool {
	if p.done == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL to the pod's process group and waits for it.
func (p *kubePod) kill() {
	if p.running() {
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// stop sends SIGTERM and waits up to the termination grace period, then
// kills the process as the kubelet would. It returns the exit code (-1 if
// the process had to be killed) and how long it took.
func (p *kubePod) stop(t *testing.T) (int, time.Duration) {
	t.Helper()
	if !p.running() {
		t.Fatalf("%s is not running", p.name)
	}
	fmt.Fprintf(p.log, "=== %s SIGTERM\n", time.Now().Format("15:04:05.000"))
	start := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode(), time.Since(start)
	case <-time.After(p.grace):
		fmt.Fprintf(p.log, "=== %s still running after the grace period %v: SIGKILL\n", time.Now().Format("15:04:05.000"), p.grace)
		p.kill()
		return -1, time.Since(start)
	}
}

// probeClient probes as the kubelet does: HTTPS probes verify no
// certificate and present none.
var probeClient = &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{
	TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // the kubelet's probes do not verify
}}

// httpProbe GETs a probe URL and returns the status code and body (0 if the
// request failed).
func httpProbe(url string) (int, string) {
	resp, err := probeClient.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// waitProbe polls url (every 100 ms at most, as a kubelet would not poll
// faster) until it answers 200, failing the test after timeout or if the
// process exits. It returns how long that took, for the log.
func (p *kubePod) waitProbe(t *testing.T, url string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	await.UntilEvery(t, timeout, 100*time.Millisecond, func() error {
		code, body := httpProbe(url)
		if code == http.StatusOK {
			return nil
		}
		if !p.running() {
			t.Fatalf("%s exited (%v) while waiting for %s", p.name, p.cmd.ProcessState, url)
		}
		return fmt.Errorf("%s: %s answers %d %s", p.name, url, code, body)
	})
	return time.Since(start)
}

// cli runs a client command as `kubectl exec <pod> -- /cairn ...` would:
// in the pod's environment, where the CLI's default metadata address
// 127.0.0.1:9090 is the pod's own peer (here: the pod's address), and
// CAIRN_CERTS_DIR its own certificate, with which a metadata peer may
// change the membership and run fsck (docs/kubernetes.md).
func (p *kubePod) cli(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := command(ctx, args...)
	_, port, _ := net.SplitHostPort(jsonStr(t, p.derived, "api_addr"))
	cmd.Env = append(slices.Clone(p.env), "CAIRN_META="+net.JoinHostPort(p.ip, port))
	cmd.Dir = p.dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

package render

import (
	"slices"
	"testing"
)

func TestExpand(t *testing.T) {
	env := map[string]string{"A": "x", "B": "y"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	for in, want := range map[string]string{
		"$(A).$(B)": "x.y", "$(C)": "$(C)", "$$(A)": "$(A)", "a$": "a$", "$(A": "$(A", "$A": "$A", "$$": "$",
	} {
		if got := Expand(in, lookup); got != want {
			t.Errorf("Expand(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestResolveBase resolves a data node pod of the base the way the kubelet
// would: downward-API fields, $(VAR) references to earlier variables,
// resource fields; and an ordinal beyond the replicas (a scaled-up
// StatefulSet's pod).
func TestResolveBase(t *testing.T) {
	c, err := Load("../base")
	if err != nil {
		t.Fatal(err)
	}
	node, err := c.ByRole("node")
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Resolve(node, 1)
	if err != nil {
		t.Fatal(err)
	}
	if r.Pod.Name != "cairn-node-1" || !slices.Equal(r.Args, []string{"node", "--dir=/data/node"}) {
		t.Errorf("pod %s args %q", r.Pod.Name, r.Args)
	}
	for k, want := range map[string]string{
		"POD_NAME":        "cairn-node-1",
		"POD_NAMESPACE":   DefaultNamespace,
		"CAIRN_ADVERTISE": "cairn-node-1.cairn-node." + DefaultNamespace + ".svc." + DefaultDomain + ":7070",
		"CAIRN_ZONE":      DefaultZone,
		"CAIRN_RACK":      "worker-1",
		"GOMEMLIMIT":      "2147483648", // limits.memory 2Gi
	} {
		if got := r.Vals[k]; got != want {
			t.Errorf("%s=%q, want %q", k, got, want)
		}
	}
	if len(r.Env) != len(node.Template.Spec.Containers[0].Env) {
		t.Errorf("%d variables resolved, the container has %d", len(r.Env), len(node.Template.Spec.Containers[0].Env))
	}
	meta, err := c.ByRole("meta")
	if err != nil {
		t.Fatal(err)
	}
	r, err = c.Resolve(meta, 4)
	if err != nil {
		t.Fatal(err)
	}
	if r.Vals["POD_NAME"] != "cairn-meta-4" || r.Vals["CAIRN_PEER_DOMAIN"] != "cairn-meta."+DefaultNamespace+".svc."+DefaultDomain {
		t.Errorf("cairn-meta-4: %q", r.Env)
	}
	if got := c.FQDN(meta, "cairn-meta-4"); got != "cairn-meta-4.cairn-meta."+DefaultNamespace+".svc."+DefaultDomain {
		t.Errorf("FQDN %q", got)
	}
}

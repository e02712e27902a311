package main

import (
	"errors"
	"reflect"
	"testing"
)

func metaDefaults() metaInputs {
	return metaInputs{GRPCAddr: ":9090", HTTPAddr: ":8080", RaftAddr: ":9091"}
}

func TestDeriveMetaStatefulSet(t *testing.T) {
	in := metaDefaults()
	in.ID, in.ClusterSize, in.PeerDomain, in.GRPCPort = "cairn-meta-2", 3, "cairn-meta.prod.svc.cluster.local.", 9095
	s, err := deriveMeta(in)
	if err != nil {
		t.Fatal(err)
	}
	const d = ".cairn-meta.prod.svc.cluster.local"
	want := metaSettings{
		ID: "cairn-meta-2", GRPCListen: ":9095", HTTPListen: ":8080", RaftListen: ":9091",
		RaftAdvertise: "cairn-meta-2" + d + ":9091", APIAddr: "cairn-meta-2" + d + ":9095",
		InitialPeers: []peerJSON{
			{"cairn-meta-0", "cairn-meta-0" + d + ":9091", "cairn-meta-0" + d + ":9095"},
			{"cairn-meta-1", "cairn-meta-1" + d + ":9091", "cairn-meta-1" + d + ":9095"},
			{"cairn-meta-2", "cairn-meta-2" + d + ":9091", "cairn-meta-2" + d + ":9095"},
		},
		APIPeers: []string{"cairn-meta-0" + d + ":9095", "cairn-meta-1" + d + ":9095", "cairn-meta-2" + d + ":9095"},
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("derived\n %+v\nwant\n %+v", s, want)
	}
}

func TestDeriveMetaJoin(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*metaInputs)
		join bool
	}{
		{"ordinal beyond the cluster size", func(in *metaInputs) { in.ID, in.ClusterSize, in.PeerDomain = "cairn-meta-3", 3, "d" }, true},
		{"ordinal inside", func(in *metaInputs) { in.ID, in.ClusterSize, in.PeerDomain = "cairn-meta-0", 3, "d" }, false},
		{"--join inside", func(in *metaInputs) { in.ID, in.ClusterSize, in.Join = "cairn-meta-0", 3, true }, true},
		{"--peers without this peer", func(in *metaInputs) { in.ID, in.Peers = "m4", "m1=h1:9091,m2=h2:9091" }, true},
		{"--peers with this peer", func(in *metaInputs) { in.ID, in.Peers = "m2", "m1=h1:9091,m2=h2:9091" }, false},
		{"single peer", func(in *metaInputs) { in.ID = "m1" }, false},
	} {
		in := metaDefaults()
		tc.mod(&in)
		s, err := deriveMeta(in)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if s.Join != tc.join {
			t.Errorf("%s: join = %v, want %v", tc.name, s.Join, tc.join)
		}
	}
}

func TestDeriveMetaDefaultsAndFallbacks(t *testing.T) {
	in := metaDefaults()
	in.Hostname = "box7"
	s, err := deriveMeta(in)
	if err != nil {
		t.Fatal(err)
	}
	if s.ID != "box7" || s.RaftAdvertise != "127.0.0.1:9091" || s.APIAddr != "127.0.0.1:9090" || s.InitialPeers != nil || s.APIPeers != nil {
		t.Errorf("defaults: %+v", s)
	}
	in.ID, in.Advertise, in.Peers, in.APIPeers = "m2", "10.0.0.2", "m1=10.0.0.1:9091, m2=10.0.0.2:7000", "a:1, b:2"
	s, err = deriveMeta(in)
	if err != nil {
		t.Fatal(err)
	}
	if s.RaftAdvertise != "10.0.0.2:7000" || s.APIAddr != "10.0.0.2:9090" || !reflect.DeepEqual(s.APIPeers, []string{"a:1", "b:2"}) {
		t.Errorf("explicit peers: %+v", s)
	}
}

func TestDeriveMetaErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*metaInputs)
	}{
		{"no id at all", func(in *metaInputs) {}},
		{"cluster size without an ordinal", func(in *metaInputs) { in.ID, in.ClusterSize = "meta", 3 }},
		{"both --peers and --cluster-size", func(in *metaInputs) { in.ID, in.ClusterSize, in.Peers = "m-0", 3, "m-0=h:1" }},
		{"negative cluster size", func(in *metaInputs) { in.ID, in.ClusterSize = "m-0", -1 }},
		{"raft address without a port", func(in *metaInputs) { in.ID, in.RaftAddr = "m1", "host" }},
		{"bad --peers", func(in *metaInputs) { in.ID, in.Peers = "m1", "m1" }},
	} {
		in := metaDefaults()
		tc.mod(&in)
		_, err := deriveMeta(in)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("%s: err = %v, want a usage error", tc.name, err)
		}
	}
}

func TestDeriveNode(t *testing.T) {
	for _, tc := range []struct {
		in   nodeInputs
		want nodeSettings
	}{
		{nodeInputs{Addr: ":7070", Meta: "m:9090"}, nodeSettings{":7070", "127.0.0.1:7070", []string{"m:9090"}}},
		{nodeInputs{Addr: ":7070", Port: 7171, Advertise: "cairn-node-1.cairn-node", Meta: "a:1, b:2,"},
			nodeSettings{":7171", "cairn-node-1.cairn-node:7171", []string{"a:1", "b:2"}}},
		{nodeInputs{Addr: "10.1.1.1:7070", Advertise: "dn.example:80", Meta: "m:1"}, nodeSettings{"10.1.1.1:7070", "dn.example:80", []string{"m:1"}}},
	} {
		got, err := deriveNode(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("deriveNode(%+v) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	if _, err := deriveNode(nodeInputs{Addr: ":7070", Meta: " , "}); err == nil {
		t.Error("no metadata address accepted")
	}
}

func TestSplitOrdinal(t *testing.T) {
	for id, want := range map[string]struct {
		base string
		n    int
		ok   bool
	}{
		"cairn-meta-12": {"cairn-meta", 12, true}, "m-0": {"m", 0, true},
		"meta": {"", 0, false}, "-3": {"", 0, false}, "cairn-meta-x": {"", 0, false},
	} {
		b, n, ok := splitOrdinal(id)
		if b != want.base || n != want.n || ok != want.ok {
			t.Errorf("splitOrdinal(%q) = %q %d %v", id, b, n, ok)
		}
	}
}

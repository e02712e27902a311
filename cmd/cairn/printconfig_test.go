package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

type printed struct {
	Role    string            `json:"role"`
	Flags   map[string]string `json:"flags"`
	Derived json.RawMessage   `json:"derived"`
}

// printConfigRun runs the cairn command line with --print-config and
// decodes what it printed. It fails if the command returns only because
// its context ended: printing must not listen, retry or wait.
func printConfigRun(t *testing.T, args ...string) printed {
	t.Helper()
	var buf bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if code := (app{stdout: &buf}).run(ctx, args); code != 0 {
		t.Fatalf("cairn %v exited %d", args, code)
	}
	if ctx.Err() != nil {
		t.Errorf("--print-config returned only when its context ended: it must not listen or wait")
	}
	var p printed
	if err := json.Unmarshal(buf.Bytes(), &p); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, buf.String())
	}
	return p
}

// busyAddr returns an address something listens on for the whole test.
func busyAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().String()
}

func TestPrintConfigMetaFromEnvironment(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "meta")
	t.Setenv("POD_NAME", "cairn-meta-1")
	t.Setenv("CLUSTER_SIZE", "3")
	t.Setenv("METADATA_SERVER_PORT", "9999")
	t.Setenv("CAIRN_PEER_DOMAIN", "cairn-meta.ns.svc")
	t.Setenv("CAIRN_DIR", dir)
	// Ports already taken: a real start would fail to listen.
	p := printConfigRun(t, "meta", "--print-config", "--raft-addr", busyAddr(t), "--http-addr", busyAddr(t))
	if p.Role != "meta" {
		t.Errorf("role = %q", p.Role)
	}
	for name, want := range map[string]string{"grpc-port": "9999", "cluster-size": "3", "id": "cairn-meta-1", "peer-domain": "cairn-meta.ns.svc", "dir": dir, "join": "false"} {
		if got := p.Flags[name]; got != want {
			t.Errorf("flags[%s] = %q, want %q", name, got, want)
		}
	}
	if _, ok := p.Flags["print-config"]; ok {
		t.Error("flags list print-config itself")
	}
	var d metaSettings
	if err := json.Unmarshal(p.Derived, &d); err != nil {
		t.Fatal(err)
	}
	if d.ID != "cairn-meta-1" || d.APIAddr != "cairn-meta-1.cairn-meta.ns.svc:9999" || len(d.InitialPeers) != 3 || d.Join {
		t.Errorf("derived = %+v", d)
	}
	if got := d.InitialPeers[2]; got.ID != "cairn-meta-2" || got.APIAddr != "cairn-meta-2.cairn-meta.ns.svc:9999" {
		t.Errorf("peer 2 = %+v", got)
	}
	if !reflect.DeepEqual(d.APIPeers, []string{"cairn-meta-0.cairn-meta.ns.svc:9999", "cairn-meta-1.cairn-meta.ns.svc:9999", "cairn-meta-2.cairn-meta.ns.svc:9999"}) {
		t.Errorf("api peers = %v", d.APIPeers)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("--print-config touched the data folder: %v", err)
	}
}

func TestPrintConfigFlagBeatsEnvironment(t *testing.T) {
	t.Setenv("POD_NAME", "cairn-meta-0")
	t.Setenv("CAIRN_ID", "from-cairn-id")
	p := printConfigRun(t, "meta", "--print-config")
	if p.Flags["id"] != "from-cairn-id" {
		t.Errorf("CAIRN_ID should win over POD_NAME: id = %q", p.Flags["id"])
	}
	p = printConfigRun(t, "meta", "--id", "cli", "--print-config")
	if p.Flags["id"] != "cli" {
		t.Errorf("the command line should win: id = %q", p.Flags["id"])
	}
}

func TestPrintConfigNode(t *testing.T) {
	t.Setenv("DATA_NODE_PORT", "7171")
	t.Setenv("METADATA_SERVER_ADDR", "cairn-meta-0.cairn-meta:9090,cairn-meta-1.cairn-meta:9090")
	t.Setenv("CAIRN_ADVERTISE", "cairn-node-4.cairn-node")
	p := printConfigRun(t, "node", "--print-config", "--dir", filepath.Join(t.TempDir(), "node"))
	var d nodeSettings
	if err := json.Unmarshal(p.Derived, &d); err != nil {
		t.Fatal(err)
	}
	want := nodeSettings{Listen: ":7171", Advertise: "cairn-node-4.cairn-node:7171", Meta: []string{"cairn-meta-0.cairn-meta:9090", "cairn-meta-1.cairn-meta:9090"}}
	if p.Role != "node" || !reflect.DeepEqual(d, want) || p.Flags["port"] != "7171" {
		t.Errorf("role %q flags[port] %q derived %+v, want %+v", p.Role, p.Flags["port"], d, want)
	}
}

func TestPrintConfigServer(t *testing.T) {
	p := printConfigRun(t, "server", "--print-config", "--grpc-port", "1234", "--dir", filepath.Join(t.TempDir(), "x"))
	var d serverSettings
	if err := json.Unmarshal(p.Derived, &d); err != nil {
		t.Fatal(err)
	}
	if p.Role != "server" || d.GRPC != "127.0.0.1:1234" {
		t.Errorf("role %q derived %+v", p.Role, d)
	}
}

func TestServerFlagsBadEnvironment(t *testing.T) {
	t.Setenv("CLUSTER_SIZE", "three")
	if code := (app{stdout: io.Discard}).run(context.Background(), []string{"meta", "--print-config"}); code != 2 {
		t.Errorf("CLUSTER_SIZE=three: exit %d, want 2 (usage)", code)
	}
}

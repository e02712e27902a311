package httpapi

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/meta"
	"github.com/cairnfs/cairn/node"
)

// testChunkSize is small so that a few MiB make several chunks.
const testChunkSize = 1 << 20

// newTestServer starts a single-peer metadata service, one data node and
// the REST API over them, all in this process, and stops everything when
// the test ends. It is the one place that wires a cluster, so it can be
// swapped for a shared in-process test cluster later.
func newTestServer(t *testing.T) (*httptest.Server, *client.Client) {
	t.Helper()
	dir := t.TempDir()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	listen := func() net.Listener {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return l
	}

	// Metadata peer with its gRPC API.
	raftLis, grpcLis := listen(), listen()
	grpcAddr := grpcLis.Addr().String()
	cfg := meta.DefaultConfig()
	cfg.ID = "m1"
	cfg.Dir = filepath.Join(dir, "meta")
	cfg.RaftListener = raftLis
	cfg.APIAddr = grpcAddr
	cfg.DefaultReplication = 1
	cfg.HeartbeatTimeout = 50 * time.Millisecond
	cfg.ElectionTimeout = 50 * time.Millisecond
	cfg.LeaderLease = 50 * time.Millisecond
	cfg.Logger = logger
	ms, err := meta.New(cfg)
	if err != nil {
		raftLis.Close()
		grpcLis.Close()
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	meta.NewService(ms).Register(gs)
	served := make(chan struct{})
	go func() { defer close(served); gs.Serve(grpcLis) }()
	t.Cleanup(func() {
		gs.Stop()
		<-served
		ms.Close()
	})

	// Data node.
	dataLis := listen()
	n, err := node.New(node.Config{Dir: filepath.Join(dir, "node"), Advertise: dataLis.Addr().String(),
		Meta: []string{grpcAddr}, HeartbeatInterval: 50 * time.Millisecond, Logger: logger})
	if err != nil {
		dataLis.Close()
		t.Fatal(err)
	}
	ds := &httptest.Server{Listener: dataLis, Config: &http.Server{Handler: n.Handler()}}
	ds.Start()
	n.Start(context.Background())
	t.Cleanup(func() {
		ds.Close()
		n.Close()
	})

	// Client and API.
	c, err := client.Dial([]string{grpcAddr}, client.Options{ChunkSize: testChunkSize, RetryFor: 10 * time.Second, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	waitWritable(t, c)
	api := httptest.NewServer(New(c, Options{Logger: logger}))
	t.Cleanup(api.Close)
	return api, c
}

// waitWritable waits until a file can be written: a leader is elected and
// the data node has registered.
func waitWritable(t *testing.T, c *client.Client) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := c.WriteFile(ctx, "/.ready", strings.NewReader("x"), client.WriteOptions{})
		if err == nil {
			_, _, err = c.Remove(ctx, "/.ready", false)
		}
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster did not become writable: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

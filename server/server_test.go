package server_test

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cairnfs/cairn/internal/await"
	"github.com/cairnfs/cairn/internal/testcluster"
)

// probeClient probes health endpoints as a kubelet does: over HTTPS
// without checking the server's certificate and without one of its own.
var probeClient = &http.Client{Timeout: 5 * time.Second,
	Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}

// get returns the status and body of GET https://addr+path (http:// for a
// role run without TLS), or status 0 and the error text if the request
// fails.
func get(addr, path string) (int, string) {
	resp, err := probeClient.Get("https://" + addr + path)
	if err != nil && strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		resp, err = probeClient.Get("http://" + addr + path)
	}
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err.Error()
	}
	return resp.StatusCode, string(b)
}

// waitStatus polls GET addr+path until it answers want, failing the test
// after timeout.
func waitStatus(t *testing.T, addr, path string, want int, timeout time.Duration) {
	t.Helper()
	await.Until(t, timeout, func() error {
		if code, body := get(addr, path); code != want {
			return fmt.Errorf("GET %s%s: %d %q, want %d", addr, path, code, strings.TrimSpace(body), want)
		}
		return nil
	})
}

func TestClusterHealthEndpoints(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Metas: 3, Nodes: 1})
	c.Leader()

	for _, m := range c.Metas {
		if code, body := get(m.HTTPAddr, "/healthz"); code != http.StatusOK {
			t.Errorf("peer %s /healthz: %d %q, want 200", m.ID, code, body)
		}
		code, body := get(m.HTTPAddr, "/metrics")
		if code != http.StatusOK || !strings.Contains(body, "go_goroutines") {
			t.Errorf("peer %s /metrics: %d, go_goroutines present: %v", m.ID, code, strings.Contains(body, "go_goroutines"))
		}
		// Followers learn the leader from its first heartbeat.
		waitStatus(t, m.HTTPAddr, "/readyz", http.StatusOK, 10*time.Second)
	}

	dn := c.Nodes[0]
	waitStatus(t, dn.Addr, "/readyz", http.StatusOK, 10*time.Second)
	if !dn.Proc.Node.Ready() {
		t.Error("data node answers /readyz 200 but Ready() is false")
	}
	if code, _ := get(dn.Addr, "/healthz"); code != http.StatusOK {
		t.Errorf("data node /healthz: %d, want 200", code)
	}
	if code, body := get(dn.Addr, "/metrics"); code != http.StatusOK || !strings.Contains(body, "cairn_node_chunks") {
		t.Errorf("data node /metrics: %d, cairn_node_chunks present: %v", code, strings.Contains(body, "cairn_node_chunks"))
	}
}

func TestReadyAfterLeaderStops(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Metas: 3, Nodes: 1})
	old := c.Leader()
	for _, m := range c.Metas {
		waitStatus(t, m.HTTPAddr, "/readyz", http.StatusOK, 10*time.Second)
	}

	c.StopMeta(old)
	if code, _ := get(c.Metas[old].HTTPAddr, "/healthz"); code != 0 {
		t.Errorf("stopped peer still answers /healthz with %d", code)
	}
	leader := c.Leader() // waits for a running peer to lead
	if leader == old {
		t.Fatalf("peer %d leads after it was stopped", old)
	}
	for i, m := range c.Metas {
		if i == old {
			continue
		}
		// Ready must come from the new leader, not a stale memory of the old one.
		await.Until(t, 30*time.Second, func() error {
			if _, id := m.Proc.Server.Raft().LeaderWithID(); string(id) != c.Metas[leader].ID {
				return fmt.Errorf("peer %s still sees leader %q, want %s", m.ID, id, c.Metas[leader].ID)
			}
			return nil
		})
		waitStatus(t, m.HTTPAddr, "/readyz", http.StatusOK, 10*time.Second)
		if !m.Proc.Server.Ready() {
			t.Errorf("peer %s answers /readyz 200 but Ready() is false", m.ID)
		}
	}
	// The data node re-registers with (or keeps heartbeating to) the new
	// leader and stays ready.
	waitStatus(t, c.Nodes[0].Addr, "/readyz", http.StatusOK, 10*time.Second)
	c.WaitNodes(1)
}

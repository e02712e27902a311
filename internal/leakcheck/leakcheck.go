// Package leakcheck fails a test binary whose tests leave goroutines
// running: every package's TestMain calls Main (the root package, which
// imports nothing of ours, calls goleak directly). It knows the few
// goroutines that libraries Cairn uses leave behind by design, and nothing
// else; a leak of our own is fixed, not ignored.
package leakcheck

import (
	"testing"

	"go.uber.org/goleak"
)

// Ignored lists the goroutines of libraries that outlive a clean Close.
var Ignored = []goleak.Option{
	// hashicorp/raft's NetworkTransport.Close closes its listener but not
	// the connections it accepted: each one's handleConn goroutine reads
	// until the peer at the other end closes its pooled connection, which
	// peers in the same process (or a killed peer's half-open socket) may
	// never do. Raft v1.7.3, net_transport.go.
	goleak.IgnoreAnyFunction("github.com/hashicorp/raft.(*NetworkTransport).handleConn"),
	// hashicorp/raft never answers the future of an entry that was still
	// queued when Raft shut down; meta.Server.apply waits for it in a
	// goroutine of its own (and itself returns on shutdown), so that
	// goroutine stays blocked in deferError.Error. Raft v1.7.3, future.go.
	goleak.IgnoreTopFunction("github.com/hashicorp/raft.(*deferError).Error"),
}

// Main runs the tests and then fails the binary (exit status 1) if any
// goroutine is left other than the ones in Ignored; cleanup, if not nil,
// runs after the tests with their exit code and must call os.Exit.
func Main(m *testing.M, cleanup func(code int)) {
	opts := Ignored
	if cleanup != nil {
		opts = append(opts[:len(opts):len(opts)], goleak.Cleanup(cleanup))
	}
	goleak.VerifyTestMain(m, opts...)
}

// Package testenv says how much a test run may cost. `go test ./...` (the
// README's command) runs every test at a size that keeps the whole suite
// within a few minutes on a 2-core machine; CAIRN_LONG_TESTS=1, which
// .ci/run sets, runs the long fault campaigns and full-size workloads as
// well. -short trims further (the race-detector tier uses it).
package testenv

import (
	"os"
	"testing"
)

// LongEnv is the environment variable that asks for the long tests.
const LongEnv = "CAIRN_LONG_TESTS"

// Long reports whether CAIRN_LONG_TESTS=1 asks for full-size runs (and
// -short does not forbid them).
func Long() bool {
	return os.Getenv(LongEnv) == "1" && !testing.Short()
}

// SkipUnlessLong skips t unless Long; why says what the test costs.
func SkipUnlessLong(t testing.TB, why string) {
	t.Helper()
	if !Long() {
		t.Skipf("%s; runs with %s=1 (.ci/run)", why, LongEnv)
	}
}

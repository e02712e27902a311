package stall

import (
	"testing"

	"github.com/cairnfs/cairn/internal/leakcheck"
)

// TestMain fails the package's tests if any goroutine outlives them.
func TestMain(m *testing.M) { leakcheck.Main(m, nil) }

package volume_test

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/cairnfs/cairn/volume"
	"github.com/cairnfs/cairn/volume/volumetest"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func opener(opts volume.Options) volumetest.OpenFunc {
	return func(t *testing.T, dir string) *volume.Store {
		t.Helper()
		o := opts
		o.Dir = dir
		o.Logger = quietLogger()
		s, err := volume.Open(o)
		if err != nil {
			t.Fatalf("Open(%s): %v", dir, err)
		}
		return s
	}
}

func TestConformanceDefault(t *testing.T) {
	volumetest.Run(t, opener(volume.Options{}))
}

func TestConformanceSmallVolumes(t *testing.T) {
	volumetest.Run(t, opener(volume.Options{MaxVolumeSize: 64 << 10}))
}

func TestConformance4KBlocks(t *testing.T) {
	volumetest.Run(t, opener(volume.Options{BlockSize: 4096}))
}

func TestConformance4KBlocksSmallVolumes(t *testing.T) {
	volumetest.Run(t, opener(volume.Options{BlockSize: 4096, MaxVolumeSize: 16 << 10}))
}

// TestConformanceBackgroundCompaction runs the suite with the background
// compactor looking for work every millisecond.
func TestConformanceBackgroundCompaction(t *testing.T) {
	volumetest.Run(t, opener(volume.Options{BlockSize: 4096, MaxVolumeSize: 16 << 10, CompactInterval: time.Millisecond, CompactRatio: 0.3}))
}

// testKey is a fixed key-encryption key for the encrypted conformance runs.
var testKey = []byte("0123456789abcdef0123456789abcdef")

func TestConformanceEncrypted(t *testing.T) {
	volumetest.Run(t, opener(volume.Options{EncryptionKey: testKey}))
}

func TestConformanceEncrypted4KBlocksSmallVolumes(t *testing.T) {
	volumetest.Run(t, opener(volume.Options{EncryptionKey: testKey, BlockSize: 4096, MaxVolumeSize: 16 << 10}))
}

func TestConformanceEncryptedBackgroundCompaction(t *testing.T) {
	volumetest.Run(t, opener(volume.Options{EncryptionKey: testKey, BlockSize: 4096, MaxVolumeSize: 16 << 10, CompactInterval: time.Millisecond, CompactRatio: 0.3}))
}

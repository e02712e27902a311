package integration

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/internal/await"
	"github.com/cairnfs/cairn/internal/testcluster"
)

// BenchmarkHealAfterNodeLoss measures the time from losing a data node to
// fsck being clean, and the re-replication rate, with the cluster-wide
// repair throttle off and at 100 MB/s. Run with -benchtime=1x.
func BenchmarkHealAfterNodeLoss(b *testing.B) {
	for _, bps := range []int64{0, 100 << 20} {
		b.Run(fmt.Sprintf("throttle=%dMB", bps>>20), func(b *testing.B) {
			for range b.N {
				c := testcluster.New(b, testcluster.Options{Metas: 1, Nodes: 4, Replication: 2, ChunkSize: 4 << 20,
					RepairBytesPerSec: bps, ZoneOf: func(i int) string { return fmt.Sprint(i) }})
				cl := c.Client()
				writeConcurrently(b, cl, 128, 8, func(i int) (string, []byte) { return fmt.Sprintf("/b/%03d", i), randBytes(uint64(i), 4<<20) })
				lost := c.Nodes[3].Proc.Node.Store().Stats().LiveBytes
				c.KillNode(3)
				// Time the repair from the step of the clock that makes
				// the node dead.
				c.Advance(c.NodeDeadAfter() - time.Second)
				start := time.Now()
				c.Advance(2 * time.Second)
				await.UntilEvery(b, 10*time.Minute, 20*time.Millisecond, func() error {
					entries, err := cl.Admin().Fsck(context.Background())
					if err != nil || len(entries) > 0 {
						return fmt.Errorf("%d chunks under-replicated (err %v)", len(entries), err)
					}
					return nil
				})
				secs := time.Since(start).Seconds()
				b.ReportMetric(float64(lost)/1e6, "MB_lost")
				b.ReportMetric(secs, "s_to_heal")
				b.ReportMetric(float64(lost)/1e6/secs, "MB/s")
				c.Stop()
			}
		})
	}
}

// BenchmarkReadWithScrubber measures foreground read throughput with the
// scrubber off and scrubbing at 100 MB/s.
func BenchmarkReadWithScrubber(b *testing.B) {
	for _, scrub := range []int64{0, 100 << 20} {
		b.Run(fmt.Sprintf("scrub=%dMB", scrub>>20), func(b *testing.B) {
			c := testcluster.New(b, testcluster.Options{Metas: 1, Nodes: 1, Replication: 1, ChunkSize: 4 << 20, ScrubBytesPerSec: scrub})
			cl := c.NewClient(client.Options{})
			writeConcurrently(b, cl, 64, 4, func(i int) (string, []byte) { return fmt.Sprintf("/s/%02d", i), randBytes(uint64(i), 4<<20) })
			b.SetBytes(64 * 4 << 20)
			b.ResetTimer()
			for range b.N {
				for i := 0; i < 64; i++ {
					f, err := cl.Open(context.Background(), fmt.Sprintf("/s/%02d", i))
					if err != nil {
						b.Fatal(err)
					}
					if _, err := f.WriteTo(io.Discard); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkRangedRead reads small ranges at varying offsets of one 8 MiB
// chunk through an open File (no metadata lookups): the cost of a ranged
// read that is checked against the chunk's CRC in metadata.
func BenchmarkRangedRead(b *testing.B) {
	const chunk = 8 << 20
	c := testcluster.New(b, testcluster.Options{Metas: 1, Nodes: 1, Replication: 1, ChunkSize: chunk, Calm: true})
	cl := c.NewClient(client.Options{})
	mustWrite(b, cl, "/ranged", randBytes(1, chunk))
	f, err := cl.Open(context.Background(), "/ranged")
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range []int{4 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("size=%dKiB", size>>10), func(b *testing.B) {
			buf := make([]byte, size)
			b.SetBytes(int64(size))
			for i := range b.N {
				off := int64(i*7919*4096) % (chunk - int64(size))
				if _, err := f.ReadAt(buf, off); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

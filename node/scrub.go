package node

import (
	"context"
	"time"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/internal/bwlimit"
	"github.com/cairnfs/cairn/volume"
)

// scrubLoop re-reads and verifies every chunk continuously, at most
// ScrubBytesPerSec, so that bit rot is found before a reader needs the
// chunk. It returns when ctx ends.
func (d *dataServer) scrubLoop(ctx context.Context) {
	if d.cfg.ScrubBytesPerSec <= 0 {
		return
	}
	for {
		start := time.Now()
		var ids []volume.ChunkInfo
		d.store.Walk(func(ci volume.ChunkInfo) bool { ids = append(ids, ci); return true })
		for _, ci := range ids {
			if err := bwlimit.Wait(ctx, d.scrubLimit, max(ci.Length, 1)); err != nil {
				return // closing
			}
			err := d.store.Verify(ci.ID)
			d.metrics.scrubbed.Add(float64(ci.Length))
			if cairn.KindOf(err) == cairn.Corrupt {
				d.cfg.Logger.Error("scrubber found a corrupt replica", "chunk", ci.ID, "err", err)
				d.dropCorrupt(ctx, ci.ID)
			}
		}
		// Pace full passes at ScrubInterval at most once per interval.
		select {
		case <-ctx.Done():
			return
		case <-time.After(max(d.cfg.ScrubInterval-time.Since(start), time.Second)):
		}
	}
}

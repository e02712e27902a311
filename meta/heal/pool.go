package heal

import (
	"context"
	"sync"
	"sync/atomic"
)

// inParallel runs fn for each item, RepairConcurrency at a time, and
// starts no more once ctx ends or this peer no longer leads. It waits for
// what it started and returns how many failed and the first error.
func inParallel[T any](ctx context.Context, h *Healer, items []T, fn func(T) error) (int64, any) {
	sem := make(chan struct{}, max(1, h.cfg.RepairConcurrency))
	var wg sync.WaitGroup
	var failures atomic.Int64
	var firstErr atomic.Value
	for _, it := range items {
		if ctx.Err() != nil || !h.d.Leader.IsLeader() {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := fn(it); err != nil {
				if failures.Add(1) == 1 {
					firstErr.Store(err)
				}
			}
		}()
	}
	wg.Wait()
	return failures.Load(), firstErr.Load()
}

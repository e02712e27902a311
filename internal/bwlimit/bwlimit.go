// Package bwlimit limits bytes per second for background transfers
// (repair copies, scrubbing) with a token bucket from golang.org/x/time/rate.
package bwlimit

import (
	"context"

	"golang.org/x/time/rate"
)

// New returns a limiter for bps bytes per second; bps <= 0 means unlimited.
// The burst is a twentieth of a second's worth (at least 1 MiB), so a large
// transfer is paced rather than let through at once.
func New(bps int64) *rate.Limiter {
	if bps <= 0 {
		return rate.NewLimiter(rate.Inf, 1<<30)
	}
	return rate.NewLimiter(rate.Limit(bps), int(max(bps/20, 1<<20)))
}

// Wait blocks until lim allows n bytes, taking them a burst at a time, or
// until ctx ends (its error is returned).
func Wait(ctx context.Context, lim *rate.Limiter, n int64) error {
	if lim.Limit() == rate.Inf {
		return nil
	}
	for n > 0 {
		k := min(n, int64(lim.Burst()))
		if err := lim.WaitN(ctx, int(k)); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

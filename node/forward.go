package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/cairnhttp"
	"github.com/cairnfs/cairn/internal/stall"
	"github.com/cairnfs/cairn/pki"
)

// forward streams a chunk to the next replica of the chain while this node
// receives it. A failure downstream never fails the local write: it is
// reported in the PutResult so the client can replace the failed replica.
// A next replica that stops taking bytes, or does not answer once it has
// them all, for longer than the node's patience (derived from how long
// healthy forwards take to answer) is given up as failed: a frozen node
// costs the chain seconds, not the length of its freeze.
type forward struct {
	next    hop
	pw      *io.PipeWriter
	broken  atomic.Bool
	watch   *stall.Watchdog
	done    chan struct{}
	stored  []string
	failed  []FailedNode
	sent    atomic.Int64 // unix nanoseconds when the whole body was handed over
	tracker *stall.Tracker
	// doneClosed: the forwarding goroutine closed done early (only it
	// reads or writes this).
	doneClosed bool
}

func (d *dataServer) startForward(ctx context.Context, id cairn.ChunkID, crc uint32, size int64, next hop, rest string) *forward {
	pr, pw := io.Pipe()
	// Wait for the next hop longer than it waits for the one after it.
	hops := 1
	if rest != "" {
		hops += strings.Count(rest, ",") + 1
	}
	ctx, watch := stall.Watch(ctx, d.forwardPatience.PatienceFor(hops))
	watch.Pause() // counting starts when there is something to send
	f := &forward{next: next, pw: pw, watch: watch, done: make(chan struct{}), tracker: d.forwardPatience}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, pki.Scheme(d.cfg.TLS)+"://"+next.addr+"/v1/chunks/"+id.String(), pr)
	if err != nil {
		f.fail(err, cairn.Invalid)
		close(f.done)
		return f
	}
	req.ContentLength = size
	req.Header.Set(cairnhttp.HeaderCRC, fmt.Sprintf("%08x", crc))
	if rest != "" {
		req.Header.Set(cairnhttp.HeaderChain, rest)
	}
	go func() {
		defer func() {
			if !f.doneClosed {
				close(f.done)
			}
		}()
		defer pr.Close()
		resp, err := d.client.Do(req)
		if err != nil {
			stalled := false
			if cause := context.Cause(ctx); errors.Is(cause, stall.ErrStalled) {
				err = fmt.Errorf("%w (the next replica stopped taking the chunk)", cause)
				stalled = true
			}
			f.fail(err, cairn.Unavailable)
			if stalled && d.reportSlow != nil {
				// After the chain has its answer: the report must not
				// delay it.
				close(f.done)
				f.doneClosed = true
				d.reportSlow(next.node, "data node "+string(d.id)+" forwarding chunk "+id.String()+": "+err.Error())
			}
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			err := cairnhttp.ReadError(resp)
			f.fail(err, cairn.KindOf(err))
			return
		}
		var res PutResult
		if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
			f.fail(fmt.Errorf("bad reply: %w", err), cairn.Unavailable)
			return
		}
		f.stored, f.failed = res.Stored, res.Failed
		if sent := f.sent.Load(); sent != 0 {
			f.tracker.Observe(time.Since(time.Unix(0, sent)))
		}
	}()
	return f
}

func (f *forward) fail(err error, kind cairn.Kind) {
	f.broken.Store(true)
	f.failed = []FailedNode{{Node: f.next.node, Addr: f.next.addr, Error: err.Error(), Kind: uint8(kind)}}
}

// Write passes bytes on to the next replica; once that fails it drops them.
// The watch runs only while a write is blocked on the next replica, not
// while this node waits for its own sender.
func (f *forward) Write(p []byte) (int, error) {
	if !f.broken.Load() {
		f.watch.Progress()
		if _, err := f.pw.Write(p); err != nil {
			f.broken.Store(true)
		}
		f.watch.Pause()
	}
	return len(p), nil
}

// finish ends the forwarded body normally; the answer is watched from
// here.
func (f *forward) finish() {
	f.sent.Store(time.Now().UnixNano())
	f.watch.Progress()
	f.pw.Close()
}

// abort ends the forwarded body with an error so the next replica discards it.
func (f *forward) abort() {
	f.pw.CloseWithError(io.ErrUnexpectedEOF)
	f.watch.Stop()
	<-f.done
}

// wait returns what the rest of the chain stored and which replicas failed.
func (f *forward) wait() ([]string, []FailedNode) {
	<-f.done
	f.watch.Stop()
	return f.stored, f.failed
}

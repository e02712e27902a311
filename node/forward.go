package node

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/cairnhttp"
	"github.com/cairnfs/cairn/pki"
)

// forward streams a chunk to the next replica of the chain while this node
// receives it. A failure downstream never fails the local write: it is
// reported in the PutResult so the client can replace the failed replica.
type forward struct {
	next   hop
	pw     *io.PipeWriter
	broken atomic.Bool
	cancel context.CancelFunc
	done   chan struct{}
	stored []string
	failed []FailedNode
}

func (d *dataServer) startForward(ctx context.Context, id cairn.ChunkID, crc uint32, size int64, next hop, rest string) *forward {
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(ctx)
	f := &forward{next: next, pw: pw, cancel: cancel, done: make(chan struct{})}
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
		defer close(f.done)
		defer pr.Close()
		resp, err := d.client.Do(req)
		if err != nil {
			f.fail(err, cairn.Unavailable)
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
	}()
	return f
}

func (f *forward) fail(err error, kind cairn.Kind) {
	f.broken.Store(true)
	f.failed = []FailedNode{{Node: f.next.node, Addr: f.next.addr, Error: err.Error(), Kind: uint8(kind)}}
}

// Write passes bytes on to the next replica; once that fails it drops them.
func (f *forward) Write(p []byte) (int, error) {
	if !f.broken.Load() {
		if _, err := f.pw.Write(p); err != nil {
			f.broken.Store(true)
		}
	}
	return len(p), nil
}

// finish ends the forwarded body normally.
func (f *forward) finish() { f.pw.Close() }

// abort ends the forwarded body with an error so the next replica discards it.
func (f *forward) abort() {
	f.pw.CloseWithError(io.ErrUnexpectedEOF)
	f.cancel()
	<-f.done
}

// wait returns what the rest of the chain stored and which replicas failed.
func (f *forward) wait() ([]string, []FailedNode) {
	<-f.done
	f.cancel()
	return f.stored, f.failed
}

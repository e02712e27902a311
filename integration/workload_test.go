package integration

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/internal/await"
)

// workload writes files continuously and reads back ones written earlier,
// from several goroutines, recording every failure: the day-2 operation
// tests require none. Each worker is bounded in operations and each
// operation in time.
type workload struct {
	cl      *client.Client
	prefix  string
	stop    chan struct{}
	wg      sync.WaitGroup
	writes  atomic.Int64
	reads   atomic.Int64
	mu      sync.Mutex
	files   map[string]uint64 // path -> seed of its content
	errs    []error
	maxSize int
}

const workloadMaxOps = 20000

// startWorkload starts workers writing files of up to maxSize bytes under
// prefix. Stop it with finish.
func startWorkload(t *testing.T, cl *client.Client, prefix string, workers, maxSize int) *workload {
	w := &workload{cl: cl, prefix: prefix, stop: make(chan struct{}), files: map[string]uint64{}, maxSize: maxSize}
	for k := range workers {
		w.wg.Add(1)
		go w.worker(k)
	}
	t.Cleanup(w.halt)
	return w
}

func (w *workload) halt() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	w.wg.Wait()
}

func fileSize(seed uint64, maxSize int) int { return 1 + int(seed*7919)%maxSize }

func (w *workload) worker(k int) {
	defer w.wg.Done()
	var mine []string
	for i := 0; i < workloadMaxOps; i++ {
		select {
		case <-w.stop:
			return
		default:
		}
		seed := uint64(k)<<32 | uint64(i)
		p := fmt.Sprintf("%s/w%d/f%05d", w.prefix, k, i)
		if err := w.write(p, seed); err != nil {
			w.fail(err)
		} else {
			mine = append(mine, p)
		}
		if len(mine) > 0 {
			if err := w.read(mine[rand.IntN(len(mine))]); err != nil {
				w.fail(err)
			}
		}
		// Pacing: the workload leaves the cluster some room between
		// operations; nothing waits for a timeout here.
		time.Sleep(5 * time.Millisecond)
	}
}

func (w *workload) write(p string, seed uint64) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	data := randBytes(seed, fileSize(seed, w.maxSize))
	if _, err := w.cl.WriteFile(ctx, p, bytes.NewReader(data), client.WriteOptions{Parents: true}); err != nil {
		return fmt.Errorf("%s write %s: %w", time.Now().Format("15:04:05.000"), p, err)
	}
	w.writes.Add(1)
	w.mu.Lock()
	w.files[p] = seed
	w.mu.Unlock()
	return nil
}

func (w *workload) read(p string) error {
	w.mu.Lock()
	seed := w.files[p]
	w.mu.Unlock()
	if err := checkFile(w.cl, p, seed, w.maxSize); err != nil {
		return err
	}
	w.reads.Add(1)
	return nil
}

// checkFile reads p and compares it with the content of seed.
func checkFile(cl *client.Client, p string, seed uint64, maxSize int) error {
	got, err := readAllCtx(cl, p, time.Minute)
	if err == nil && !bytes.Equal(got, randBytes(seed, fileSize(seed, maxSize))) {
		err = fmt.Errorf("content differs")
	}
	if err != nil {
		return fmt.Errorf("%s read %s: %w", time.Now().Format("15:04:05.000"), p, err)
	}
	return nil
}

func readAllCtx(cl *client.Client, p string, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	f, err := cl.Open(ctx, p)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	_, err = f.WriteTo(&buf)
	return buf.Bytes(), err
}

func (w *workload) fail(err error) {
	w.mu.Lock()
	w.errs = append(w.errs, err)
	w.mu.Unlock()
}

// progress waits until the workload has done n more writes and n more
// reads, failing the test after timeout.
func (w *workload) progress(t *testing.T, n int64, timeout time.Duration) {
	t.Helper()
	wantW, wantR := w.writes.Load()+n, w.reads.Load()+n
	await.Until(t, timeout, func() error {
		if w.writes.Load() < wantW || w.reads.Load() < wantR {
			return fmt.Errorf("workload stalled: %d writes, %d reads (want %d, %d); errors: %v", w.writes.Load(), w.reads.Load(), wantW, wantR, w.errors())
		}
		return nil
	})
}

func (w *workload) errors() []error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]error(nil), w.errs...)
}

// finish stops the workload and fails the test if any operation failed.
func (w *workload) finish(t *testing.T) {
	t.Helper()
	w.halt()
	errs := w.errors()
	t.Logf("workload: %d writes, %d reads, %d failures", w.writes.Load(), w.reads.Load(), len(errs))
	for i, err := range errs {
		if i == 10 {
			t.Errorf("... and %d more", len(errs)-10)
			break
		}
		t.Errorf("failed operation: %v", err)
	}
}

// verify reads back every file the workload wrote, through cl.
func (w *workload) verify(t *testing.T, cl *client.Client) {
	t.Helper()
	w.mu.Lock()
	var paths []string
	var seeds []uint64
	for p, s := range w.files {
		paths, seeds = append(paths, p), append(seeds, s)
	}
	w.mu.Unlock()
	forEach(t, len(paths), 8, func(i int) error { return checkFile(cl, paths[i], seeds[i], w.maxSize) })
}

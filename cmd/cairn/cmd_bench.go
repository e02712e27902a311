package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnfs/cairn/client"
)

// benchResult is one phase of `cairn bench`.
type benchResult struct {
	Phase       string  `json:"phase"`
	Files       int     `json:"files"`
	Size        int64   `json:"size"`
	Concurrency int     `json:"concurrency"`
	Seconds     float64 `json:"seconds"`
	OpsPerSec   float64 `json:"ops_per_sec"`
	MBPerSec    float64 `json:"mb_per_sec"`
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
	Errors      int64   `json:"errors"`
}

func runBench(ctx context.Context, args []string) error {
	fs := newFlags("bench")
	cf := addClientFlags(fs)
	files := fs.Int("files", 1000, "number of files")
	size := sizeFlag(4 << 10)
	fs.Var(&size, "size", "bytes per file, e.g. 4K or 64M")
	conc := fs.Int("c", 32, "concurrent writers/readers")
	dir := fs.String("dir", "/bench", "directory for the test files (removed afterwards unless --keep)")
	keep := fs.Bool("keep", false, "keep the files")
	asJSON := fs.Bool("json", false, "print results as JSON")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the client to this file")
	if err := parse(fs, args, nil); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if *files <= 0 || *conc <= 0 {
		return usagef("--files and -c must be positive")
	}
	c, err := cf.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Mkdir(ctx, *dir, client.MkdirOptions{Parents: true}); err != nil {
		return err
	}
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte(i*7 + i>>8)
	}
	name := func(i int) string { return fmt.Sprintf("%s/f%07d", *dir, i) }
	write := func(ctx context.Context, i int) error {
		_, err := c.WriteFile(ctx, name(i), bytes.NewReader(payload), client.WriteOptions{})
		return err
	}
	read := func(ctx context.Context, i int) error {
		f, err := c.Open(ctx, name(i))
		if err != nil {
			return err
		}
		n, err := f.WriteTo(io.Discard)
		if err == nil && n != int64(size) {
			err = fmt.Errorf("%s: read %d bytes, want %d", name(i), n, int64(size))
		}
		return err
	}
	var results []benchResult
	for _, ph := range []struct {
		name string
		op   func(context.Context, int) error
	}{{"write", write}, {"read", read}} {
		r := benchPhase(ctx, ph.name, *files, *conc, int64(size), ph.op)
		results = append(results, r)
		if ctx.Err() != nil {
			break
		}
	}
	if !*keep {
		if _, err := c.Remove(context.Background(), *dir, client.RemoveOptions{Recursive: true}); err != nil {
			fmt.Fprintf(os.Stderr, "cleaning up %s: %v\n", *dir, err)
		}
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(results)
	}
	for _, r := range results {
		fmt.Printf("%-5s %d x %s at concurrency %d: %.0f ops/s, %.1f MB/s, p50 %.2f ms, p99 %.2f ms, %d errors (%.2fs)\n",
			r.Phase, r.Files, human(r.Size), r.Concurrency, r.OpsPerSec, r.MBPerSec, r.P50ms, r.P99ms, r.Errors, r.Seconds)
	}
	for _, r := range results {
		if r.Errors > 0 {
			return fmt.Errorf("%d %s errors", r.Errors, r.Phase)
		}
	}
	return nil
}

// benchPhase runs op for every file index with conc workers and measures.
func benchPhase(ctx context.Context, phase string, files, conc int, size int64, op func(context.Context, int) error) benchResult {
	lat := make([]time.Duration, files)
	var next, errs atomic.Int64
	var firstErr sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= files {
					return
				}
				t0 := time.Now()
				if err := op(ctx, i); err != nil {
					errs.Add(1)
					firstErr.Do(func() { fmt.Fprintf(os.Stderr, "%s error: %v\n", phase, err) })
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e6 }
	return benchResult{Phase: phase, Files: files, Size: size, Concurrency: conc, Seconds: secs,
		OpsPerSec: float64(files) / secs, MBPerSec: float64(files) * float64(size) / 1e6 / secs,
		P50ms: pct(0.50), P99ms: pct(0.99), Errors: errs.Load()}
}

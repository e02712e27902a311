package main

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/client"
)

func runPut(ctx context.Context, args []string) error {
	fs := newFlags("put")
	cf := addClientFlags(fs)
	resume := fs.Bool("resume", false, "continue an interrupted upload of the same file to the same path")
	exclusive := fs.Bool("exclusive", false, "fail if the destination exists")
	progress := fs.Bool("progress", false, "show progress even when stderr is not a terminal")
	quiet := fs.Bool("q", false, "no progress output")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: cairn put [flags] <local file> <remote path or dir/>")
		fs.PrintDefaults()
	}
	if err := parse(fs, args, nil); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return usagef("put takes a local file and a remote path, e.g. cairn put big.iso /isos/")
	}
	local, remote := fs.Arg(0), fs.Arg(1)
	if strings.HasSuffix(remote, "/") {
		remote = path.Join(remote, filepath.Base(local))
	}
	c, err := cf.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	opts := client.PutOptions{Resume: *resume, WriteOptions: client.WriteOptions{Parents: true}}
	if *exclusive {
		opts.Mode = client.Exclusive
	}
	opts.Resumed = func(landed, total int64) {
		fmt.Fprintf(os.Stderr, "resuming upload: %d of %d chunks already stored\n", landed, total)
	}
	var bar *progressBar
	if !*quiet && (*progress || isTerminal(os.Stderr)) {
		bar = newProgressBar(remote)
		opts.Progress = bar.update
	}
	start := time.Now()
	fi, err := c.PutFile(ctx, local, remote, opts)
	if bar != nil {
		bar.finish()
	}
	if err != nil {
		if k := cairn.KindOf(err); !*resume && (k == cairn.Unavailable || k == cairn.Canceled || k == cairn.NoSpace) {
			return fmt.Errorf("%w\n(once the cause is fixed, run the same command with --resume to continue the upload)", err)
		}
		return err
	}
	secs := time.Since(start).Seconds()
	fmt.Printf("%s  %s  crc32c %08x  %.1f MB/s\n", fi.Path, human(fi.Size()), fi.CRC32C, float64(fi.Size())/1e6/max(secs, 1e-9))
	return nil
}

// progressBar draws a one-line progress bar on stderr.
type progressBar struct {
	name  string
	mu    sync.Mutex
	start time.Time
	last  time.Time
}

func newProgressBar(name string) *progressBar {
	return &progressBar{name: name, start: time.Now()}
}

func (p *progressBar) update(done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.last) < 100*time.Millisecond && done < total {
		return
	}
	p.last = time.Now()
	frac := 1.0
	if total > 0 {
		frac = float64(done) / float64(total)
	}
	const width = 30
	filled := int(frac * width)
	rate := float64(done) / max(time.Since(p.start).Seconds(), 1e-9)
	fmt.Fprintf(os.Stderr, "\r%s [%s%s] %5.1f%% %s/%s %s/s ", p.name, strings.Repeat("=", filled), strings.Repeat(" ", width-filled),
		100*frac, human(done), human(total), human(int64(rate)))
}

func (p *progressBar) finish() { fmt.Fprintln(os.Stderr) }

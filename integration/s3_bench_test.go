package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/internal/testcluster"
	"github.com/cairnfs/cairn/pki"
	"github.com/cairnfs/cairn/s3"
)

// The S3 benchmarks run a one-node cluster (replication 1, as `cairn
// server`), a gateway on 127.0.0.1 and minio-go clients, all in this
// process on the same cores, and report the native SDK beside them:
//
//	go test ./integration/ -run '^$' -bench 'S3|Native' -benchtime 1x

type s3Bench struct {
	cl  *testcluster.Cluster
	c   *client.Client
	mc  *minio.Client
	srv *http.Server
}

func newS3Bench(b *testing.B) *s3Bench {
	cl := testcluster.New(b, testcluster.Options{Metas: 1, Nodes: 1, Replication: 1, ChunkSize: client.DefaultChunkSize, Calm: true})
	cl.WaitNodes(1)
	c := cl.NewClient(client.Options{Concurrency: 8, TLS: cl.Cert("gateway", pki.Gateway, pki.Admin)})
	gw := s3.New(s3.Config{Store: c, Cluster: c.Admin()})
	ctx := context.Background()
	if err := gw.EnsureUser(ctx, "BENCHKEY", "bench-secret-key"); err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: gw}
	go func() { _ = srv.Serve(l) }()
	b.Cleanup(func() { srv.Close() })
	tr, _ := minio.DefaultTransport(false)
	tr.MaxIdleConnsPerHost = 256
	mc, err := minio.New(l.Addr().String(), &minio.Options{Creds: miniocreds.NewStaticV4("BENCHKEY", "bench-secret-key", ""),
		Region: "us-east-1", Transport: tr})
	if err != nil {
		b.Fatal(err)
	}
	if err := mc.MakeBucket(ctx, "bench", minio.MakeBucketOptions{}); err != nil {
		b.Fatal(err)
	}
	return &s3Bench{cl: cl, c: c, mc: mc, srv: srv}
}

// runConc times forEach: op(i) for i in [0,n) on conc workers.
func runConc(b *testing.B, n, conc int, op func(i int) error) time.Duration {
	start := time.Now()
	forEach(b, n, conc, op)
	return time.Since(start)
}

func BenchmarkS3SmallObjects(b *testing.B) {
	const n, conc = 10000, 32
	e := newS3Bench(b)
	ctx := context.Background()
	data := testcluster.RandBytes(1, 4<<10)
	opts := minio.PutObjectOptions{DisableContentSha256: true}
	for range b.N {
		d := runConc(b, n, conc, func(i int) error {
			_, err := e.mc.PutObject(ctx, "bench", fmt.Sprintf("small/%06d", i), bytes.NewReader(data), int64(len(data)), opts)
			return err
		})
		b.ReportMetric(float64(n)/d.Seconds(), "PUT/s")
		d = runConc(b, n, conc, func(i int) error {
			o, err := e.mc.GetObject(ctx, "bench", fmt.Sprintf("small/%06d", i), minio.GetObjectOptions{})
			if err != nil {
				return err
			}
			defer o.Close()
			k, err := io.Copy(io.Discard, o)
			if err == nil && k != int64(len(data)) {
				err = fmt.Errorf("got %d bytes", k)
			}
			return err
		})
		b.ReportMetric(float64(n)/d.Seconds(), "GET/s")
		start := time.Now()
		count := 0
		for o := range e.mc.ListObjects(ctx, "bench", minio.ListObjectsOptions{Prefix: "small/", Recursive: true}) {
			if o.Err != nil {
				b.Fatal(o.Err)
			}
			count++
		}
		if count != n {
			b.Fatalf("listed %d of %d", count, n)
		}
		b.ReportMetric(time.Since(start).Seconds()*1e3*10000/float64(n), "ms/list10k")
	}
}

func BenchmarkS3LargeObjects(b *testing.B) {
	const n, conc, size = 16, 4, 64 << 20
	e := newS3Bench(b)
	ctx := context.Background()
	data := testcluster.RandBytes(2, size)
	opts := minio.PutObjectOptions{DisableContentSha256: true, PartSize: size}
	for range b.N {
		d := runConc(b, n, conc, func(i int) error {
			_, err := e.mc.PutObject(ctx, "bench", fmt.Sprintf("large/%02d", i), bytes.NewReader(data), size, opts)
			return err
		})
		b.ReportMetric(float64(n*size)/1e6/d.Seconds(), "PUT_MB/s")
		d = runConc(b, n, conc, func(i int) error {
			o, err := e.mc.GetObject(ctx, "bench", fmt.Sprintf("large/%02d", i), minio.GetObjectOptions{})
			if err != nil {
				return err
			}
			defer o.Close()
			_, err = io.Copy(io.Discard, o)
			return err
		})
		b.ReportMetric(float64(n*size)/1e6/d.Seconds(), "GET_MB/s")
	}
}

// BenchmarkNative is the SDK path on the same cluster shape, for comparison.
func BenchmarkNative(b *testing.B) {
	e := newS3Bench(b)
	ctx := context.Background()
	small := testcluster.RandBytes(1, 4<<10)
	large := testcluster.RandBytes(2, 64<<20)
	for range b.N {
		const n = 10000
		d := runConc(b, n, 32, func(i int) error {
			_, err := e.c.WriteFile(ctx, fmt.Sprintf("/native/s%06d", i), bytes.NewReader(small), client.WriteOptions{Parents: true})
			return err
		})
		b.ReportMetric(float64(n)/d.Seconds(), "small_PUT/s")
		d = runConc(b, n, 32, func(i int) error {
			f, err := e.c.Open(ctx, fmt.Sprintf("/native/s%06d", i))
			if err != nil {
				return err
			}
			_, err = f.WriteTo(io.Discard)
			return err
		})
		b.ReportMetric(float64(n)/d.Seconds(), "small_GET/s")
		d = runConc(b, 16, 4, func(i int) error {
			_, err := e.c.WriteFile(ctx, fmt.Sprintf("/native/l%02d", i), bytes.NewReader(large), client.WriteOptions{Parents: true})
			return err
		})
		b.ReportMetric(float64(16*len(large))/1e6/d.Seconds(), "large_PUT_MB/s")
		d = runConc(b, 16, 4, func(i int) error {
			f, err := e.c.Open(ctx, fmt.Sprintf("/native/l%02d", i))
			if err != nil {
				return err
			}
			_, err = f.WriteTo(io.Discard)
			return err
		})
		b.ReportMetric(float64(16*len(large))/1e6/d.Seconds(), "large_GET_MB/s")
	}
}

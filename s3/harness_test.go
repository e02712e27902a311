package s3_test

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/internal/testcluster"
	"github.com/cairnfs/cairn/s3"
)

const (
	testAK = "CAIRNTESTKEY"
	testSK = "cairn-test-secret-key-0123456789"
)

// gateway is a gateway on an in-process cluster, served on 127.0.0.1.
type gateway struct {
	cluster *testcluster.Cluster
	gw      *s3.Gateway
	addr    string
	srv     *http.Server
}

func startGateway(t testing.TB, opts testcluster.Options) *gateway {
	t.Helper()
	if opts.Metas == 0 {
		opts.Metas = 1
	}
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	cl := testcluster.New(t, opts)
	cl.WaitNodes(opts.Nodes)
	c := cl.NewClient(client.Options{})
	gw := s3.New(s3.Config{Client: c})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := gw.EnsureUser(ctx, testAK, testSK); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: gw}
	go func() { _ = srv.Serve(l) }()
	g := &gateway{cluster: cl, gw: gw, addr: l.Addr().String(), srv: srv}
	t.Cleanup(func() { srv.Close() })
	return g
}

func (g *gateway) minio(t testing.TB) *minio.Client {
	t.Helper()
	mc, err := minio.New(g.addr, &minio.Options{Creds: miniocreds.NewStaticV4(testAK, testSK, ""), Secure: false, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	return mc
}

func (g *gateway) aws(t testing.TB, secret string) *awss3.Client {
	t.Helper()
	return awss3.New(awss3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String("http://" + g.addr),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(testAK, secret, ""),
	})
}

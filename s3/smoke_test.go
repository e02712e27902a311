package s3_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/minio/minio-go/v7"

	"github.com/cairnfs/cairn/internal/testcluster"
)

// TestSmokeMinioAndAWS: both SDKs store, read and list objects through
// the gateway on a cluster with a Raft metadata peer, the one S3 test
// that does not run on the light cluster.
func TestSmokeMinioAndAWS(t *testing.T) {
	g := startGatewayRaft(t, testcluster.Options{})
	ctx := context.Background()
	mc := g.minio(t)
	if err := mc.MakeBucket(ctx, "smoke", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	data := testcluster.RandBytes(1, 3<<20+17)
	if _, err := mc.PutObject(ctx, "smoke", "a/b/c.bin", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{ContentType: "application/x-test"}); err != nil {
		t.Fatal(err)
	}
	o, err := mc.GetObject(ctx, "smoke", "a/b/c.bin", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	got, err := io.ReadAll(o)
	o.Close() // its reader goroutine ends only with Close
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("minio get: %v, %d bytes", err, len(got))
	}
	ac := g.aws(t, testSK)
	if _, err := ac.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("smoke"), Key: aws.String("x y+z"), Body: bytes.NewReader(data[:1000])}); err != nil {
		t.Fatal(err)
	}
	out, err := ac.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("smoke"), Key: aws.String("x y+z")})
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(out.Body)
	if !bytes.Equal(got, data[:1000]) {
		t.Fatal("aws get mismatch")
	}
	l, err := ac.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("smoke")})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range l.Contents {
		t.Logf("key %q size %d etag %s", *o.Key, *o.Size, *o.ETag)
	}
	if len(l.Contents) != 2 {
		t.Fatalf("listed %d objects", len(l.Contents))
	}
}

package s3_test

import (
	"bytes"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"

	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/internal/testcluster"
)

// TestQuotaExceeded: a bucket is a directory, so a quota set on it limits
// what S3 clients store there. PutObject, UploadPart,
// CompleteMultipartUpload and CopyObject past it answer QuotaExceeded
// (403), which the SDKs do not retry, and nothing is stored.
func TestQuotaExceeded(t *testing.T) {
	g := startGateway(t, testcluster.Options{Nodes: 1, Replication: 1})
	ac := g.aws(t, testSK)
	ctx := testCtx(t)
	mustCreateBucket(t, ac, "quota")
	if _, err := g.cluster.Client().Admin().SetQuota(ctx, "/quota", client.Quota{Bytes: 6 * mib}); err != nil {
		t.Fatal(err)
	}
	put := func(key string, n int) error {
		_, err := ac.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("quota"), Key: aws.String(key), Body: bytes.NewReader(make([]byte, n))})
		return err
	}
	if err := put("small", 1*mib); err != nil {
		t.Fatal(err)
	}
	wantAWSErr(t, "PutObject past the quota", put("big", 5*mib+1), "QuotaExceeded", 403)
	if _, err := g.c.Stat(ctx, "/quota/big"); err == nil {
		t.Error("a refused PutObject left the object behind")
	}
	_, err := g.minio(t).PutObject(ctx, "quota", "big", bytes.NewReader(make([]byte, 5*mib+1)), 5*mib+1, minio.PutObjectOptions{DisableMultipart: true})
	wantMinioErr(t, "minio PutObject past the quota", err, "QuotaExceeded", 403)

	cu, err := ac.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("quota"), Key: aws.String("mp")})
	if err != nil {
		t.Fatal(err)
	}
	part := func(n int32, size int) (*awss3.UploadPartOutput, error) {
		return ac.UploadPart(ctx, &awss3.UploadPartInput{Bucket: aws.String("quota"), Key: aws.String("mp"), UploadId: cu.UploadId,
			PartNumber: aws.Int32(n), Body: bytes.NewReader(make([]byte, size))})
	}
	_, err = part(1, 5*mib+1)
	wantAWSErr(t, "UploadPart larger than what the quota leaves", err, "QuotaExceeded", 403)
	p1, err := part(1, 5*mib)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := part(2, 1)
	if err != nil {
		t.Fatal(err)
	}
	done := []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: p1.ETag}, {PartNumber: aws.Int32(2), ETag: p2.ETag}}
	_, err = ac.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: aws.String("quota"), Key: aws.String("mp"),
		UploadId: cu.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
	wantAWSErr(t, "CompleteMultipartUpload past the quota", err, "QuotaExceeded", 403)

	// Freeing space lets the same completion through.
	if _, err := ac.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("quota"), Key: aws.String("small")}); err != nil {
		t.Fatal(err)
	}
	if _, err = ac.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: aws.String("quota"), Key: aws.String("mp"),
		UploadId: cu.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: done}}); err != nil {
		t.Fatalf("completing after a delete freed space: %v", err)
	}
	_, err = ac.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("quota"), Key: aws.String("copy"), CopySource: aws.String("quota/mp")})
	wantAWSErr(t, "CopyObject past the quota", err, "QuotaExceeded", 403)
}

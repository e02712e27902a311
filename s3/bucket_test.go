package s3_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"

	"github.com/cairnfs/cairn/internal/testcluster"
)

func TestBuckets(t *testing.T) {
	g := startGateway(t, testcluster.Options{})
	ac := g.aws(t, testSK)
	mc := g.minio(t)
	ctx := testCtx(t)

	// CreateBucket through both clients; names S3 accepts.
	valid := []string{"abc", "a.b-c", "123", "b" + strings.Repeat("x", 61) + "9", "my-bucket.2024"}
	for _, b := range valid {
		if _, err := ac.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatalf("CreateBucket %q: %v", b, err)
		}
	}
	if err := mc.MakeBucket(ctx, "from-minio", minio.MakeBucketOptions{Region: region}); err != nil {
		t.Fatal(err)
	}
	// Creating it again: BucketAlreadyOwnedByYou (409).
	_, err := ac.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("abc")})
	wantAWSErr(t, "CreateBucket of an existing bucket", err, "BucketAlreadyOwnedByYou", 409)
	wantMinioErr(t, "minio MakeBucket of an existing bucket", mc.MakeBucket(ctx, "from-minio", minio.MakeBucketOptions{}), "BucketAlreadyOwnedByYou", 409)

	// Names S3 refuses: InvalidBucketName (400), and nothing created.
	invalid := []string{"ab", strings.Repeat("a", 64), "ABC", "a_b", "-abc", "abc-", ".abc", "abc.", "a..b", "a.-b", "a-.b",
		"192.168.1.1", "xn--abc", "sthree-abc", "abc-s3alias", "abc--ol-s3", "a b", "ab%c", "é-bucket"}
	for _, b := range invalid {
		req := g.rawRequest(t, "PUT", "/"+b, "", nil)
		sign(t, req, emptySHA256, testSK, now())
		resp, body := do(t, req)
		wantXMLError(t, "CreateBucket "+b, resp, body, "InvalidBucketName", 400)
	}
	// The same through the aws SDK for a few.
	for _, b := range []string{"ab", "a_b", "192.168.1.1"} {
		_, err := ac.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(b)})
		wantAWSErr(t, "aws CreateBucket "+b, err, "InvalidBucketName", 400)
	}
	// A CreateBucketConfiguration body is accepted (minio sends one for
	// other regions; aws for a LocationConstraint).
	_, err = ac.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("with-config"),
		CreateBucketConfiguration: &types.CreateBucketConfiguration{}})
	if err != nil {
		t.Fatalf("CreateBucket with a configuration: %v", err)
	}
	// Malformed configuration: MalformedXML.
	req := g.rawRequest(t, "PUT", "/bad-config", "", []byte("<CreateBucketConfiguration><oops"))
	sign(t, req, sha256hex([]byte("<CreateBucketConfiguration><oops")), testSK, now())
	resp, body := do(t, req)
	wantXMLError(t, "CreateBucket with bad XML", resp, body, "MalformedXML", 400)

	// ListBuckets: every bucket, in name order, none of the refused ones.
	out, err := ac.ListBuckets(ctx, &awss3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range out.Buckets {
		names = append(names, aws.ToString(b.Name))
		if b.CreationDate == nil || b.CreationDate.IsZero() {
			t.Fatalf("bucket %s has no creation date", aws.ToString(b.Name))
		}
	}
	want := append(slices.Clone(valid), "from-minio", "with-config")
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("ListBuckets %q, want %q", names, want)
	}
	mb, err := mc.ListBuckets(ctx)
	if err != nil || len(mb) != len(want) {
		t.Fatalf("minio ListBuckets: %v, %d buckets", err, len(mb))
	}

	// HeadBucket.
	if _, err := ac.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String("abc")}); err != nil {
		t.Fatal(err)
	}
	_, err = ac.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String("no-such-bucket")})
	wantAWSErr(t, "HeadBucket of a missing bucket", err, "", 404)
	if ok, err := mc.BucketExists(ctx, "from-minio"); err != nil || !ok {
		t.Fatalf("minio BucketExists: %v %v", ok, err)
	}
	if ok, err := mc.BucketExists(ctx, "no-such-bucket"); err != nil || ok {
		t.Fatalf("minio BucketExists of a missing bucket: %v %v", ok, err)
	}

	// GetBucketLocation: us-east-1 is the empty constraint.
	loc, err := ac.GetBucketLocation(ctx, &awss3.GetBucketLocationInput{Bucket: aws.String("abc")})
	if err != nil || loc.LocationConstraint != "" {
		t.Fatalf("GetBucketLocation: %v %q", err, loc.LocationConstraint)
	}
	if l, err := mc.GetBucketLocation(ctx, "abc"); err != nil || l != region {
		t.Fatalf("minio GetBucketLocation: %q %v", l, err)
	}
	_, err = ac.GetBucketLocation(ctx, &awss3.GetBucketLocationInput{Bucket: aws.String("no-such-bucket")})
	wantAWSErr(t, "GetBucketLocation of a missing bucket", err, "NoSuchBucket", 404)

	// DeleteBucket: only when empty.
	mustPut(t, ac, "abc", "k/ey", []byte("x"))
	_, err = ac.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: aws.String("abc")})
	wantAWSErr(t, "DeleteBucket of a bucket with an object", err, "BucketNotEmpty", 409)
	wantMinioErr(t, "minio RemoveBucket of a bucket with an object", mc.RemoveBucket(ctx, "abc"), "BucketNotEmpty", 409)
	if _, err := ac.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("abc"), Key: aws.String("k/ey")}); err != nil {
		t.Fatal(err)
	}
	if _, err := ac.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: aws.String("abc")}); err != nil {
		t.Fatalf("DeleteBucket of an emptied bucket: %v", err)
	}
	if err := mc.RemoveBucket(ctx, "from-minio"); err != nil {
		t.Fatal(err)
	}
	_, err = ac.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String("abc")})
	wantAWSErr(t, "HeadBucket of a deleted bucket", err, "", 404)
	_, err = ac.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: aws.String("abc")})
	wantAWSErr(t, "DeleteBucket of a deleted bucket", err, "NoSuchBucket", 404)
	_, err = ac.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("abc"), Key: aws.String("x"), Body: strings.NewReader("x")})
	wantAWSErr(t, "PutObject into a deleted bucket", err, "NoSuchBucket", 404)
	// And it can be created again.
	mustCreateBucket(t, ac, "abc")
	if _, err := g.c.Stat(ctx, "/abc/x"); err == nil {
		t.Fatal("a PUT into a missing bucket left a file")
	}

	// Requests to names that cannot be buckets: NoSuchBucket for reads.
	_, err = ac.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("Bad_Name")})
	wantAWSErr(t, "ListObjectsV2 of an invalid bucket name", err, "NoSuchBucket", 404)
	// Unimplemented subresources say so.
	req = g.rawRequest(t, "GET", "/abc", "cors=", nil)
	sign(t, req, emptySHA256, testSK, now())
	resp, body = do(t, req)
	wantXMLError(t, "GetBucketCors", resp, body, "NotImplemented", 501)
}

package s3_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/cairnfs/cairn/internal/await"
	"github.com/cairnfs/cairn/internal/testcluster"
)

// encrypting is a cluster whose data nodes encrypt at rest.
func encrypting() testcluster.Options {
	var o testcluster.Options
	o.Volume.EncryptionKey = bytes.Repeat([]byte{5}, 32)
	return o
}

// awaitEncrypted waits until every data node's heartbeat said it encrypts
// (registration alone does not say).
func awaitEncrypted(t *testing.T, g *gateway) {
	t.Helper()
	await.Until(t, 30*time.Second, func() error {
		st, err := g.cluster.Client().Admin().Status(testCtx(t))
		if err != nil {
			return err
		}
		for _, n := range st.Nodes {
			if !n.Encrypted {
				return fmt.Errorf("node %s has not reported encryption yet", n.ID)
			}
		}
		return nil
	})
}

// TestSSEOnEncryptingCluster: with every data node encrypting at rest,
// SSE-S3 is accepted on PUT, CopyObject and CreateMultipartUpload, and
// answered by PUT, HEAD, GET and CompleteMultipartUpload; an object stored
// without it is not said to be encrypted; aws:kms and SSE-C are refused.
func TestSSEOnEncryptingCluster(t *testing.T) {
	g := startGateway(t, encrypting())
	ac := g.aws(t, testSK)
	ctx := testCtx(t)
	mustCreateBucket(t, ac, "sse")
	awaitEncrypted(t, g)

	put, err := ac.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("sse"), Key: aws.String("enc"),
		Body: strings.NewReader("secret"), ServerSideEncryption: types.ServerSideEncryptionAes256})
	if err != nil {
		t.Fatal(err)
	}
	if put.ServerSideEncryption != types.ServerSideEncryptionAes256 {
		t.Errorf("PUT answered encryption %q", put.ServerSideEncryption)
	}
	head, err := ac.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("sse"), Key: aws.String("enc")})
	if err != nil || head.ServerSideEncryption != types.ServerSideEncryptionAes256 {
		t.Fatalf("HEAD: encryption %q, %v", head.ServerSideEncryption, err)
	}
	get, err := ac.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("sse"), Key: aws.String("enc")})
	if err != nil {
		t.Fatal(err)
	}
	get.Body.Close()
	if get.ServerSideEncryption != types.ServerSideEncryptionAes256 {
		t.Errorf("GET answered encryption %q", get.ServerSideEncryption)
	}

	mustPut(t, ac, "sse", "plain", []byte("not asked"))
	head, err = ac.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("sse"), Key: aws.String("plain")})
	if err != nil || head.ServerSideEncryption != "" {
		t.Fatalf("HEAD of an object stored without SSE: encryption %q, %v", head.ServerSideEncryption, err)
	}

	// A copy takes the encryption its request asks for.
	cp, err := ac.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("sse"), Key: aws.String("copy"),
		CopySource: aws.String("sse/plain"), ServerSideEncryption: types.ServerSideEncryptionAes256})
	if err != nil || cp.ServerSideEncryption != types.ServerSideEncryptionAes256 {
		t.Fatalf("CopyObject: encryption %q, %v", cp.ServerSideEncryption, err)
	}
	if _, err := ac.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("sse"), Key: aws.String("copy2"),
		CopySource: aws.String("sse/enc")}); err != nil {
		t.Fatal(err)
	}
	head, err = ac.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("sse"), Key: aws.String("copy2")})
	if err != nil || head.ServerSideEncryption != "" {
		t.Fatalf("copy made without SSE: encryption %q, %v", head.ServerSideEncryption, err)
	}

	mp, err := ac.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("sse"), Key: aws.String("mp"),
		ServerSideEncryption: types.ServerSideEncryptionAes256})
	if err != nil || mp.ServerSideEncryption != types.ServerSideEncryptionAes256 {
		t.Fatalf("CreateMultipartUpload: encryption %q, %v", mp.ServerSideEncryption, err)
	}
	part, err := ac.UploadPart(ctx, &awss3.UploadPartInput{Bucket: aws.String("sse"), Key: aws.String("mp"), UploadId: mp.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader([]byte("one part"))})
	if err != nil {
		t.Fatal(err)
	}
	done, err := ac.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: aws.String("sse"), Key: aws.String("mp"),
		UploadId: mp.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{ETag: part.ETag, PartNumber: aws.Int32(1)}}}})
	if err != nil || done.ServerSideEncryption != types.ServerSideEncryptionAes256 {
		t.Fatalf("CompleteMultipartUpload: encryption %q, %v", done.ServerSideEncryption, err)
	}
	head, err = ac.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("sse"), Key: aws.String("mp")})
	if err != nil || head.ServerSideEncryption != types.ServerSideEncryptionAes256 {
		t.Fatalf("HEAD of the multipart object: encryption %q, %v", head.ServerSideEncryption, err)
	}

	_, err = ac.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("sse"), Key: aws.String("kms"),
		Body: strings.NewReader("x"), ServerSideEncryption: types.ServerSideEncryptionAwsKms})
	wantAWSErr(t, "PUT with aws:kms", err, "NotImplemented", 501)
	_, err = ac.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("sse"), Key: aws.String("ssec"),
		Body: strings.NewReader("x"), SSECustomerAlgorithm: aws.String("AES256"),
		SSECustomerKey: aws.String("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="), SSECustomerKeyMD5: aws.String("9bG8nb6tl/T6F5iGY0rCSQ==")})
	if err == nil {
		t.Fatal("PUT with SSE-C was accepted")
	}
	for _, k := range []string{"kms", "ssec"} {
		if _, err := ac.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("sse"), Key: aws.String(k)}); err == nil {
			t.Errorf("refused PUT of %s stored the object", k)
		}
	}
}

// TestSSERefusedWithoutEncryptingNodes: on a cluster whose nodes store in
// clear, SSE-S3 is refused with an error naming them, and nothing is stored.
func TestSSERefusedWithoutEncryptingNodes(t *testing.T) {
	g := startGateway(t, testcluster.Options{Nodes: 1})
	ac := g.aws(t, testSK)
	ctx := testCtx(t)
	mustCreateBucket(t, ac, "sse")
	_, err := ac.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("sse"), Key: aws.String("enc"),
		Body: strings.NewReader("secret"), ServerSideEncryption: types.ServerSideEncryptionAes256})
	wantAWSErr(t, "PUT with AES256 on a cluster that does not encrypt", err, "InvalidRequest", 400)
	if err == nil || !strings.Contains(err.Error(), "--encryption-key-file") || !strings.Contains(err.Error(), string(g.cluster.Nodes[0].Proc.Node.ID())) {
		t.Errorf("the error does not name the node and the flag: %v", err)
	}
	_, err = ac.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("sse"), Key: aws.String("mp"),
		ServerSideEncryption: types.ServerSideEncryptionAes256})
	wantAWSErr(t, "CreateMultipartUpload with AES256", err, "InvalidRequest", 400)
	if _, err := ac.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("sse"), Key: aws.String("enc")}); err == nil {
		t.Error("the refused PUT stored the object")
	}
	mustPut(t, ac, "sse", "plain", []byte("without the header it works"))
}

package s3_test

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/internal/testcluster"
)

// TestBucketsBelongToTheirUsers: a bucket made by a user's key is that
// namespace user's private directory, and the gateway works in it as the
// user, whoever the S3 caller is (the owner, an administrator key, or a
// key a bucket policy lets in). So the same identity sees the same
// permissions through S3 and the SDK: alice reads her objects with her
// own certificate, bob cannot, and objects anyone writes into alice's
// bucket are alice's.
func TestBucketsBelongToTheirUsers(t *testing.T) {
	g := startGateway(t, testcluster.Options{})
	ctx := context.Background()
	aliceSDK, bobSDK := g.cluster.User("alice"), g.cluster.User("bob")
	alice, bob := g.addKey(t, "ALICEKEY", "alice", ""), g.addKey(t, "BOBKEY", "bob", "")
	admin := g.aws(t, testSK)

	mustCreateBucket(t, alice, "alices")
	mustPut(t, alice, "alices", "diary.txt", []byte("dear diary"))
	mustPut(t, admin, "alices", "from-admin.txt", []byte("an administrator wrote this"))

	dir, err := aliceSDK.Stat(ctx, "/alices")
	if err != nil {
		t.Fatal(err)
	}
	if dir.Owner != "alice" || dir.Group != "alice" || dir.Mode().Perm() != 0o700 {
		t.Errorf("alice's bucket is %s:%s %v, want alice:alice 0700", dir.Owner, dir.Group, dir.Mode().Perm())
	}
	for _, key := range []string{"diary.txt", "from-admin.txt"} {
		fi, err := aliceSDK.Stat(ctx, "/alices/"+key)
		if err != nil {
			t.Fatalf("alice stats her object %s through the SDK: %v", key, err)
		}
		if fi.Owner != "alice" {
			t.Errorf("object %s written through S3 belongs to %s, want alice", key, fi.Owner)
		}
	}
	f, err := aliceSDK.Open(ctx, "/alices/diary.txt")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(f); err != nil || string(b) != "dear diary" {
		t.Fatalf("alice reads her object through the SDK: %q, %v", b, err)
	}
	if _, err := bobSDK.Open(ctx, "/alices/diary.txt"); !errors.Is(err, cairn.Permission) {
		t.Errorf("bob opens alice's object through the SDK: %v, want permission denied", err)
	}

	// Through S3, bob is refused until alice's bucket policy lets him
	// read; then the gateway reads for him as alice, and a copy into his
	// own bucket is his.
	_, err = get(bob, "alices", "diary.txt")
	denied(t, "bob reads alice's private object", err)
	setPolicy(t, alice, "alices", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["bob"]},
		"Action":"s3:GetObject","Resource":"arn:aws:s3:::alices/*"}]}`)
	if got, err := get(bob, "alices", "diary.txt"); err != nil || got != "dear diary" {
		t.Fatalf("bob reads what alice's policy grants him: %q, %v", got, err)
	}
	mustCreateBucket(t, bob, "bobs")
	if _, err := bob.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("bobs"), Key: aws.String("copy.txt"), CopySource: aws.String("alices/diary.txt")}); err != nil {
		t.Fatalf("bob copies alice's object into his bucket: %v", err)
	}
	if fi, err := bobSDK.Stat(ctx, "/bobs/copy.txt"); err != nil || fi.Owner != "bob" {
		t.Errorf("bob's copy: %v, %v; want it bob's", fi, err)
	}
	if err := put(bob, "alices", "intruder.txt", "nope"); err == nil {
		t.Error("bob wrote into alice's bucket with only read granted")
	}
}

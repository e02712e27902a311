package s3_test

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/internal/testcluster"
)

// addKey stores an access key acting as user (may be "") with an
// identity policy (may be "") and returns an aws-sdk-go-v2 client for it.
func (g *gateway) addKey(t testing.TB, ak, user, policy string) *awss3.Client {
	t.Helper()
	const secret = "a-secret-key-for-tests"
	if user != "" {
		// A key's user is a namespace user (the gateway works in the
		// user's buckets as the user).
		if users, _, err := g.c.Admin().ListUsers(context.Background()); err != nil {
			t.Fatal(err)
		} else if !slices.ContainsFunc(users, func(u client.User) bool { return u.Name == user }) {
			if _, err := g.c.Admin().PutUser(context.Background(), user); err != nil {
				t.Fatal(err)
			}
		}
	}
	err := g.c.Admin().PutCredential(context.Background(), client.Credential{AccessKey: ak, Secret: secret, User: user, Policy: policy},
		client.PutCredentialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return g.awsWith(t, ak, secret)
}

// denied checks that a call failed with AccessDenied (403).
func denied(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: succeeded; want AccessDenied", what)
		return
	}
	// A HEAD answer has no body: the SDK reports its status text.
	if code, status, _ := awsErr(err); (code != "AccessDenied" && code != "Forbidden") || status != 403 {
		t.Errorf("%s: %s (%d): %v; want AccessDenied (403)", what, code, status, err)
	}
}

func put(ac *awss3.Client, bucket, key, data string) error {
	_, err := ac.PutObject(context.Background(), &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(data)})
	return err
}

func get(ac *awss3.Client, bucket, key string) (string, error) {
	out, err := ac.GetObject(context.Background(), &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return "", err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	return string(b), err
}

func list(ac *awss3.Client, bucket string) ([]string, error) {
	out, err := ac.ListObjectsV2(context.Background(), &awss3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys, nil
}

func bucketNames(t testing.TB, ac *awss3.Client) []string {
	t.Helper()
	out, err := ac.ListBuckets(context.Background(), &awss3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range out.Buckets {
		names = append(names, aws.ToString(b.Name))
	}
	return names
}

func setPolicy(t testing.TB, ac *awss3.Client, bucket, doc string) {
	t.Helper()
	if _, err := ac.PutBucketPolicy(context.Background(), &awss3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(doc)}); err != nil {
		t.Fatalf("PutBucketPolicy %s: %v", bucket, err)
	}
}

// anonymous sends an unsigned request.
func (g *gateway) anonymous(t testing.TB, method, path, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, g.url()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == "" {
		req.Body = nil
	}
	resp, _ := do(t, req)
	return resp.StatusCode
}

func TestBucketOwners(t *testing.T) {
	g := startGateway(t, testcluster.Options{Nodes: 1, Replication: 1})
	ctx := testCtx(t)
	admin := g.aws(t, testSK)
	alice := g.addKey(t, "ALICEKEY", "alice", "")
	bob := g.addKey(t, "BOBKEY", "bob", "")

	mustCreateBucket(t, alice, "alices")
	if err := put(alice, "alices", "notes/a.txt", "alice's"); err != nil {
		t.Fatal(err)
	}
	mustCreateBucket(t, bob, "bobs")

	// Bob's key may do nothing to Alice's bucket.
	_, err := get(bob, "alices", "notes/a.txt")
	denied(t, "bob reads alice's object", err)
	denied(t, "bob writes into alice's bucket", put(bob, "alices", "x", "bob's"))
	_, err = list(bob, "alices")
	denied(t, "bob lists alice's bucket", err)
	_, err = bob.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("alices"), Key: aws.String("notes/a.txt")})
	denied(t, "bob deletes alice's object", err)
	out, err := bob.DeleteObjects(ctx, &awss3.DeleteObjectsInput{Bucket: aws.String("alices"),
		Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: aws.String("notes/a.txt")}}}})
	if err != nil || len(out.Errors) != 1 || aws.ToString(out.Errors[0].Code) != "AccessDenied" {
		t.Errorf("bob's batch delete in alice's bucket: %+v, %v; want one AccessDenied", out, err)
	}
	_, err = bob.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: aws.String("alices")})
	denied(t, "bob deletes alice's bucket", err)
	_, err = bob.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String("alices")})
	denied(t, "bob heads alice's bucket", err)
	_, err = bob.PutBucketPolicy(ctx, &awss3.PutBucketPolicyInput{Bucket: aws.String("alices"),
		Policy: aws.String(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}}`)})
	denied(t, "bob sets a policy on alice's bucket", err)
	_, err = bob.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("bobs"), Key: aws.String("stolen"), CopySource: aws.String("alices/notes/a.txt")})
	denied(t, "bob copies alice's object into his bucket", err)
	_, err = bob.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("alices")})
	wantAWSErr(t, "bob creates alice's bucket", err, "BucketAlreadyExists", 409)
	_, err = alice.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("alices")})
	wantAWSErr(t, "alice creates her bucket again", err, "BucketAlreadyOwnedByYou", 409)
	if got, _ := get(alice, "alices", "notes/a.txt"); got != "alice's" {
		t.Fatalf("alice's object after bob's attempts: %q", got)
	}

	// Listings show each his own; the administrator key sees all.
	if got := bucketNames(t, alice); !slices.Equal(got, []string{"alices"}) {
		t.Errorf("alice's bucket list: %v", got)
	}
	if got := bucketNames(t, bob); !slices.Equal(got, []string{"bobs"}) {
		t.Errorf("bob's bucket list: %v", got)
	}
	if got := bucketNames(t, admin); !slices.Contains(got, "alices") || !slices.Contains(got, "bobs") {
		t.Errorf("the administrator's bucket list: %v", got)
	}
	if got, err := get(admin, "alices", "notes/a.txt"); err != nil || got != "alice's" {
		t.Errorf("the administrator reads alice's object: %q, %v", got, err)
	}
	acl, err := bob.GetBucketAcl(ctx, &awss3.GetBucketAclInput{Bucket: aws.String("bobs")})
	if err != nil || aws.ToString(acl.Owner.ID) != "bob" {
		t.Errorf("GetBucketAcl of bob's bucket: %+v, %v; want owner bob", acl, err)
	}

	// A bucket policy grants Bob read-only access.
	setPolicy(t, alice, "alices", `{"Version":"2012-10-17","Statement":[
		{"Sid":"BobReads","Effect":"Allow","Principal":{"AWS":"bob"},"Action":["s3:GetObject","s3:ListBucket"],
		 "Resource":["arn:aws:s3:::alices","arn:aws:s3:::alices/*"]}]}`)
	if got, err := get(bob, "alices", "notes/a.txt"); err != nil || got != "alice's" {
		t.Errorf("bob reads with a policy granting it: %q, %v", got, err)
	}
	if keys, err := list(bob, "alices"); err != nil || !slices.Equal(keys, []string{"notes/a.txt"}) {
		t.Errorf("bob lists with a policy granting it: %v, %v", keys, err)
	}
	denied(t, "bob writes with a read-only grant", put(bob, "alices", "x", "bob's"))
	if got := bucketNames(t, bob); !slices.Contains(got, "alices") {
		t.Errorf("bob's bucket list misses the bucket he may list: %v", got)
	}
	pol, err := alice.GetBucketPolicy(ctx, &awss3.GetBucketPolicyInput{Bucket: aws.String("alices")})
	if err != nil || !strings.Contains(aws.ToString(pol.Policy), "BobReads") {
		t.Errorf("GetBucketPolicy: %v, %v", pol, err)
	}

	// An explicit Deny overrides the Allow, and the owner's own rights.
	if err := put(alice, "alices", "secret/plan", "hidden"); err != nil {
		t.Fatal(err)
	}
	setPolicy(t, alice, "alices", `{"Version":"2012-10-17","Statement":[
		{"Sid":"BobReads","Effect":"Allow","Principal":{"AWS":"bob"},"Action":["s3:GetObject","s3:ListBucket"],
		 "Resource":["arn:aws:s3:::alices","arn:aws:s3:::alices/*"]},
		{"Sid":"NoSecrets","Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::alices/secret/*"}]}`)
	_, err = get(bob, "alices", "secret/plan")
	denied(t, "bob reads a denied object", err)
	_, err = get(alice, "alices", "secret/plan")
	denied(t, "the owner reads an object her policy denies to everyone", err)
	if _, err := get(bob, "alices", "notes/a.txt"); err != nil {
		t.Errorf("bob reads an allowed object beside a denied one: %v", err)
	}
	if _, err := get(admin, "alices", "secret/plan"); err != nil {
		t.Errorf("an administrator key is not subject to bucket policies: %v", err)
	}

	// A malformed policy names its fault.
	_, err = alice.PutBucketPolicy(ctx, &awss3.PutBucketPolicyInput{Bucket: aws.String("alices"),
		Policy: aws.String(`{"Version":"2012-10-17","Statement":{"Sid":"X","Effect":"Maybe","Principal":"*","Action":"s3:*","Resource":"*"}}`)})
	wantAWSErr(t, "a malformed policy", err, "MalformedPolicy", 400)
	if !strings.Contains(err.Error(), `statement 1 (Sid "X"), Effect`) {
		t.Errorf("the MalformedPolicy error does not name the statement and field: %v", err)
	}

	if _, err := alice.DeleteBucketPolicy(ctx, &awss3.DeleteBucketPolicyInput{Bucket: aws.String("alices")}); err != nil {
		t.Fatal(err)
	}
	_, err = get(bob, "alices", "notes/a.txt")
	denied(t, "bob reads after the policy is deleted", err)
	_, err = alice.GetBucketPolicy(ctx, &awss3.GetBucketPolicyInput{Bucket: aws.String("alices")})
	wantAWSErr(t, "GetBucketPolicy without one", err, "NoSuchBucketPolicy", 404)

	// Presigned URLs carry their signer's rights, no more.
	if err := put(bob, "bobs", "share", "bob's"); err != nil {
		t.Fatal(err)
	}
	ps := awss3.NewPresignClient(bob)
	for _, c := range []struct {
		bucket, key string
		want        int
	}{{"bobs", "share", 200}, {"alices", "notes/a.txt", 403}} {
		u, err := ps.PresignGetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(c.bucket), Key: aws.String(c.key)})
		if err != nil {
			t.Fatal(err)
		}
		req, err := http.NewRequest("GET", u.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp, _ := do(t, req); resp.StatusCode != c.want {
			t.Errorf("bob's presigned GET of %s/%s: %d, want %d", c.bucket, c.key, resp.StatusCode, c.want)
		}
	}
	// Multipart uploads are PutObject: bob may in his bucket, not in alice's.
	for _, c := range []struct {
		bucket string
		ok     bool
	}{{"bobs", true}, {"alices", false}} {
		_, err := bob.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String(c.bucket), Key: aws.String("mp")})
		if c.ok && err != nil {
			t.Errorf("bob starts a multipart upload in his bucket: %v", err)
		} else if !c.ok {
			denied(t, "bob starts a multipart upload in alice's bucket", err)
		}
	}
}

func TestAnonymousAccess(t *testing.T) {
	g := startGateway(t, testcluster.Options{Nodes: 1, Replication: 1})
	ctx := testCtx(t)
	alice := g.addKey(t, "ALICEKEY", "alice", "")
	mustCreateBucket(t, alice, "site")
	if err := put(alice, "site", "index.html", "<p>hi</p>"); err != nil {
		t.Fatal(err)
	}
	if got := g.anonymous(t, "GET", "/site/index.html", ""); got != 403 {
		t.Errorf("anonymous GET from a private bucket: %d, want 403", got)
	}
	if got := g.anonymous(t, "GET", "/", ""); got != 403 {
		t.Errorf("anonymous ListBuckets: %d, want 403", got)
	}
	if got := g.anonymous(t, "GET", "/nosuchbucket/x", ""); got != 403 {
		t.Errorf("anonymous GET from a missing bucket: %d, want 403", got)
	}

	setPolicy(t, alice, "site", `{"Version":"2012-10-17","Statement":{"Sid":"PublicRead","Effect":"Allow","Principal":"*",
		"Action":"s3:GetObject","Resource":"arn:aws:s3:::site/*"}}`)
	if got := g.anonymous(t, "GET", "/site/index.html", ""); got != 200 {
		t.Errorf("anonymous GET with a public-read policy: %d, want 200", got)
	}
	if got := g.anonymous(t, "PUT", "/site/evil.html", "x"); got != 403 {
		t.Errorf("anonymous PUT with a public-read policy: %d, want 403", got)
	}
	if got := g.anonymous(t, "GET", "/site", ""); got != 403 {
		t.Errorf("anonymous list with a public-read policy: %d, want 403", got)
	}
	st, err := alice.GetBucketPolicyStatus(ctx, &awss3.GetBucketPolicyStatusInput{Bucket: aws.String("site")})
	if err != nil || !aws.ToBool(st.PolicyStatus.IsPublic) {
		t.Errorf("GetBucketPolicyStatus of a public-read policy: %+v, %v; want public", st, err)
	}

	// The public access block turns it off, and back on when removed.
	_, err = alice.PutPublicAccessBlock(ctx, &awss3.PutPublicAccessBlockInput{Bucket: aws.String("site"),
		PublicAccessBlockConfiguration: &types.PublicAccessBlockConfiguration{RestrictPublicBuckets: aws.Bool(true), BlockPublicPolicy: aws.Bool(true)}})
	if err != nil {
		t.Fatal(err)
	}
	if got := g.anonymous(t, "GET", "/site/index.html", ""); got != 403 {
		t.Errorf("anonymous GET with RestrictPublicBuckets: %d, want 403", got)
	}
	_, err = alice.PutBucketPolicy(ctx, &awss3.PutBucketPolicyInput{Bucket: aws.String("site"), Policy: aws.String(
		`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::site/*"}}`)})
	denied(t, "a public policy with BlockPublicPolicy", err)
	pab, err := alice.GetPublicAccessBlock(ctx, &awss3.GetPublicAccessBlockInput{Bucket: aws.String("site")})
	if err != nil || !aws.ToBool(pab.PublicAccessBlockConfiguration.RestrictPublicBuckets) ||
		aws.ToBool(pab.PublicAccessBlockConfiguration.IgnorePublicAcls) {
		t.Errorf("GetPublicAccessBlock: %+v, %v", pab, err)
	}
	if _, err := alice.DeletePublicAccessBlock(ctx, &awss3.DeletePublicAccessBlockInput{Bucket: aws.String("site")}); err != nil {
		t.Fatal(err)
	}
	if got := g.anonymous(t, "GET", "/site/index.html", ""); got != 200 {
		t.Errorf("anonymous GET after the public access block is removed: %d, want 200", got)
	}
	_, err = alice.GetPublicAccessBlock(ctx, &awss3.GetPublicAccessBlockInput{Bucket: aws.String("site")})
	wantAWSErr(t, "GetPublicAccessBlock without one", err, "NoSuchPublicAccessBlockConfiguration", 404)
}

func TestCannedACL(t *testing.T) {
	g := startGateway(t, testcluster.Options{Nodes: 1, Replication: 1})
	ctx := testCtx(t)
	alice := g.addKey(t, "ALICEKEY", "alice", "")
	bob := g.addKey(t, "BOBKEY", "bob", "")
	if _, err := alice.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("pub"), ACL: types.BucketCannedACLPublicRead}); err != nil {
		t.Fatal(err)
	}
	if err := put(alice, "pub", "a", "public"); err != nil {
		t.Fatal(err)
	}
	if got := g.anonymous(t, "GET", "/pub/a", ""); got != 200 {
		t.Errorf("anonymous GET from a public-read bucket: %d, want 200", got)
	}
	if got := g.anonymous(t, "GET", "/pub?list-type=2", ""); got != 200 {
		t.Errorf("anonymous list of a public-read bucket: %d, want 200", got)
	}
	if got := g.anonymous(t, "PUT", "/pub/b", "x"); got != 403 {
		t.Errorf("anonymous PUT into a public-read bucket: %d, want 403", got)
	}
	denied(t, "bob writes into a public-read bucket", put(bob, "pub", "b", "x"))
	acl, err := alice.GetBucketAcl(ctx, &awss3.GetBucketAclInput{Bucket: aws.String("pub")})
	if err != nil {
		t.Fatal(err)
	}
	var grants []string
	for _, gr := range acl.Grants {
		grants = append(grants, string(gr.Permission)+" "+aws.ToString(gr.Grantee.ID)+aws.ToString(gr.Grantee.URI))
	}
	if want := []string{"FULL_CONTROL alice", "READ " + "http://acs.amazonaws.com/groups/global/AllUsers"}; aws.ToString(acl.Owner.ID) != "alice" ||
		!slices.Equal(grants, want) {
		t.Errorf("GetBucketAcl: owner %q, grants %v; want alice, %v", aws.ToString(acl.Owner.ID), grants, want)
	}

	// IgnorePublicAcls makes the grant void; BlockPublicAcls refuses new ones.
	_, err = alice.PutPublicAccessBlock(ctx, &awss3.PutPublicAccessBlockInput{Bucket: aws.String("pub"),
		PublicAccessBlockConfiguration: &types.PublicAccessBlockConfiguration{IgnorePublicAcls: aws.Bool(true), BlockPublicAcls: aws.Bool(true)}})
	if err != nil {
		t.Fatal(err)
	}
	if got := g.anonymous(t, "GET", "/pub/a", ""); got != 403 {
		t.Errorf("anonymous GET with IgnorePublicAcls: %d, want 403", got)
	}
	_, err = alice.PutBucketAcl(ctx, &awss3.PutBucketAclInput{Bucket: aws.String("pub"), ACL: types.BucketCannedACLPublicReadWrite})
	denied(t, "a public ACL with BlockPublicAcls", err)
	if _, err := alice.DeletePublicAccessBlock(ctx, &awss3.DeletePublicAccessBlockInput{Bucket: aws.String("pub")}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.PutBucketAcl(ctx, &awss3.PutBucketAclInput{Bucket: aws.String("pub"), ACL: types.BucketCannedACLAuthenticatedRead}); err != nil {
		t.Fatal(err)
	}
	if got := g.anonymous(t, "GET", "/pub/a", ""); got != 403 {
		t.Errorf("anonymous GET from an authenticated-read bucket: %d, want 403", got)
	}
	if got, err := get(bob, "pub", "a"); err != nil || got != "public" {
		t.Errorf("bob reads from an authenticated-read bucket: %q, %v", got, err)
	}
	if _, err := alice.PutBucketAcl(ctx, &awss3.PutBucketAclInput{Bucket: aws.String("pub"), ACL: types.BucketCannedACLPrivate}); err != nil {
		t.Fatal(err)
	}
	_, err = get(bob, "pub", "a")
	denied(t, "bob reads from a bucket made private", err)
}

func TestIdentityPolicy(t *testing.T) {
	g := startGateway(t, testcluster.Options{Nodes: 1, Replication: 1})
	ctx := testCtx(t)
	admin := g.aws(t, testSK)
	mustCreateBucket(t, admin, "shared")
	// Carol's key (no user: the key is its identity) may use only
	// shared/carol/, and list only that prefix.
	carol := g.addKey(t, "carol", "", `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:DeleteObject"],"Resource":"arn:aws:s3:::shared/${aws:username}/*"},
		{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::shared","Condition":{"StringLike":{"s3:prefix":"${aws:username}/*"}}}]}`)
	if err := put(carol, "shared", "carol/a", "mine"); err != nil {
		t.Fatalf("carol writes under her prefix: %v", err)
	}
	if got, err := get(carol, "shared", "carol/a"); err != nil || got != "mine" {
		t.Errorf("carol reads under her prefix: %q, %v", got, err)
	}
	denied(t, "carol writes outside her prefix", put(carol, "shared", "dave/a", "x"))
	out, err := carol.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("shared"), Prefix: aws.String("carol/")})
	if err != nil || len(out.Contents) != 1 {
		t.Errorf("carol lists her prefix: %+v, %v", out, err)
	}
	_, err = list(carol, "shared")
	denied(t, "carol lists the whole bucket", err)
	_, err = carol.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("carols")})
	denied(t, "carol creates a bucket her policy does not allow", err)

	// A stored identity policy is checked when put through the CLI or
	// gateway; one that does not parse (put around them) lets the key do nothing.
	broken := g.addKey(t, "BROKENKEY", "erin", `{"Version":"2012-10-17","Statement":"nonsense"}`)
	_, err = broken.ListBuckets(ctx, &awss3.ListBucketsInput{})
	if err != nil {
		t.Fatalf("ListBuckets with a broken policy: %v", err)
	}
	_, err = broken.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("erins")})
	denied(t, "a key whose policy does not parse creates a bucket", err)
}

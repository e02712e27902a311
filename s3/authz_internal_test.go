package s3

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// TestEveryOperationHasAnAction fails when operation() learns a name the
// actions table does not map: such an operation would be open to
// administrator keys only, silently.
func TestEveryOperationHasAnAction(t *testing.T) {
	// Names that are refused to everyone but administrators on purpose:
	// subresource calls the gateway does not implement.
	adminOnly := map[string]bool{"PutBucketPolicyStatus": true, "DeleteBucketPolicyStatus": true, "DeleteBucketAcl": true}
	queries := []string{"", "uploads", "uploadId=1", "location", "versioning", "list-type=2", "delete", "policy", "policyStatus",
		"acl", "publicAccessBlock", "cors"}
	seen := map[string]bool{}
	for _, method := range []string{"GET", "HEAD", "PUT", "POST", "DELETE"} {
		for _, path := range []string{"/", "/b", "/b/k"} {
			for _, query := range queries {
				for _, copySrc := range []string{"", "a/b"} {
					r := httptest.NewRequest(method, path+"?"+query, nil)
					if copySrc != "" {
						r.Header.Set("x-amz-copy-source", copySrc)
					}
					bucket, key, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
					op := operation(r, bucket, key)
					seen[op] = true
					if _, ok := actions[op]; !ok && !adminOnly[op] {
						t.Errorf("%s %s?%s is operation %q, which has no IAM action in the actions table", method, path, query, op)
					}
				}
			}
		}
	}
	for op := range actions {
		if !seen[op] {
			t.Errorf("the actions table maps %q, which no request is named", op)
		}
	}
}

func TestCannedACLGrants(t *testing.T) {
	st := &bucketState{acl: "public-read"}
	if !st.aclAllows(true, "s3:GetObject") || !st.aclAllows(true, "s3:ListBucket") || st.aclAllows(true, "s3:PutObject") {
		t.Error("public-read grants")
	}
	st.pab.IgnorePublicAcls = true
	if st.aclAllows(false, "s3:GetObject") {
		t.Error("IgnorePublicAcls leaves a public-read grant")
	}
	st = &bucketState{acl: "authenticated-read", pab: publicAccessBlock{IgnorePublicAcls: true}}
	if st.aclAllows(true, "s3:GetObject") || !st.aclAllows(false, "s3:GetObject") {
		t.Error("authenticated-read grants (not public, so IgnorePublicAcls leaves it)")
	}
	if pab := decodePAB(publicAccessBlock{BlockPublicAcls: true, RestrictPublicBuckets: true}.encode()); pab != (publicAccessBlock{BlockPublicAcls: true, RestrictPublicBuckets: true}) {
		t.Errorf("public access block round trip: %+v", pab)
	}
	if (publicAccessBlock{}).encode() == "" {
		t.Error("an all-off public access block encodes as none stored")
	}
}

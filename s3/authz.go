package s3

import (
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/cairnfs/cairn/s3/policy"
)

// Who may do what through the gateway (docs/s3.md, "Owners and
// policies"):
//
//   - An administrator key — a credential with neither a user nor an
//     identity policy, as every key was before users and policies — may do
//     anything, as before.
//   - Any other caller is a principal: its user, or its access key when
//     the credential names no user, or anonymous for an unsigned request.
//     A request is refused if its identity policy or the bucket policy
//     denies it; else allowed if its identity policy allows it, the bucket
//     policy or canned ACL grants it, or it owns the bucket and has no
//     identity policy (a key with an identity policy is held to it, plus
//     what bucket policies grant it by name); else refused (AccessDenied).

// principal is the caller of one request.
type principal struct {
	anonymous bool
	admin     bool
	name      string // user, else access key; "" when anonymous
	user      string // the namespace user the key belongs to, if any
	accessKey string
	policy    *policy.Policy // identity policy; nil when the key has none
}

func (p *principal) String() string {
	switch {
	case p.anonymous:
		return "an anonymous caller"
	case p.name != p.accessKey:
		return "user " + p.name + " (access key " + p.accessKey + ")"
	}
	return "access key " + p.accessKey
}

// actions maps each S3 operation (as operation() names it) to the IAM
// action a policy allows or denies, and whether it acts on an object
// (resource arn:aws:s3:::bucket/key) or on the bucket (arn:aws:s3:::bucket).
var actions = map[string]struct {
	action string
	object bool
}{
	"ListBuckets":             {"s3:ListAllMyBuckets", false},
	"CreateBucket":            {"s3:CreateBucket", false},
	"DeleteBucket":            {"s3:DeleteBucket", false},
	"HeadBucket":              {"s3:ListBucket", false},
	"ListObjects":             {"s3:ListBucket", false},
	"ListObjectsV2":           {"s3:ListBucket", false},
	"GetBucketLocation":       {"s3:GetBucketLocation", false},
	"GetBucketVersioning":     {"s3:GetBucketVersioning", false},
	"ListMultipartUploads":    {"s3:ListBucketMultipartUploads", false},
	"DeleteObjects":           {"s3:DeleteObject", false}, // checked per key, on each object
	"GetBucketPolicy":         {"s3:GetBucketPolicy", false},
	"PutBucketPolicy":         {"s3:PutBucketPolicy", false},
	"DeleteBucketPolicy":      {"s3:DeleteBucketPolicy", false},
	"GetBucketPolicyStatus":   {"s3:GetBucketPolicyStatus", false},
	"GetBucketAcl":            {"s3:GetBucketAcl", false},
	"PutBucketAcl":            {"s3:PutBucketAcl", false},
	"GetPublicAccessBlock":    {"s3:GetBucketPublicAccessBlock", false},
	"PutPublicAccessBlock":    {"s3:PutBucketPublicAccessBlock", false},
	"DeletePublicAccessBlock": {"s3:PutBucketPublicAccessBlock", false},
	"GetObject":               {"s3:GetObject", true},
	"HeadObject":              {"s3:GetObject", true},
	"PutObject":               {"s3:PutObject", true},
	"CopyObject":              {"s3:PutObject", true}, // and s3:GetObject on the source
	"DeleteObject":            {"s3:DeleteObject", true},
	"CreateMultipartUpload":   {"s3:PutObject", true},
	"UploadPart":              {"s3:PutObject", true}, // and s3:GetObject on a copy source
	"CompleteMultipartUpload": {"s3:PutObject", true},
	"AbortMultipartUpload":    {"s3:AbortMultipartUpload", true},
	"ListParts":               {"s3:ListMultipartUploadParts", true},
}

// resourceARN names a bucket (key "") or an object for policies.
func resourceARN(bucket, key string) string {
	if key == "" {
		return "arn:aws:s3:::" + bucket
	}
	return "arn:aws:s3:::" + bucket + "/" + key
}

// authorize decides whether p may do action on bucket/key (key "" for the
// bucket itself). st is the bucket's state (nil only for actions on no
// bucket). It returns nil or an AccessDenied error naming the caller.
func (g *Gateway) authorize(q *request, p *principal, st *bucketState, action, bucket, key string) error {
	if p.admin {
		return nil
	}
	req := &policy.Request{Action: action, Resource: resourceARN(bucket, key), Context: g.conditionContext(q, p)}
	if !p.anonymous {
		req.Principal = p.name
	}
	if bucket == "" {
		req.Resource = "*"
	}
	var idDec, bucketDec policy.Decision
	if p.policy != nil {
		idDec = p.policy.Evaluate(req)
	}
	if st != nil {
		bucketDec = st.effectivePolicy().Evaluate(req)
	}
	switch {
	case idDec == policy.Denied || bucketDec == policy.Denied:
		return accessDenied(p, action, req.Resource, "a policy denies it explicitly")
	case idDec == policy.Allowed || bucketDec == policy.Allowed:
		return nil
	case st != nil && st.aclAllows(p.anonymous, action):
		return nil
	case st != nil && !p.anonymous && p.policy == nil && st.owner != "" && st.owner == p.name:
		return nil
	}
	return accessDenied(p, action, req.Resource, "no policy allows it and the caller does not own the bucket")
}

func accessDenied(p *principal, action, resource, why string) error {
	return errorf("AccessDenied", "%s may not %s on %s: %s", p, action, resource, why)
}

// conditionContext is what policy conditions test, keys in lower case.
func (g *Gateway) conditionContext(q *request, p *principal) map[string][]string {
	r := q.r
	ctx := map[string][]string{
		"aws:securetransport": {strconv.FormatBool(r.TLS != nil)},
		"aws:currenttime":     {g.cfg.Now().UTC().Format(time.RFC3339)},
		"aws:epochtime":       {strconv.FormatInt(g.cfg.Now().Unix(), 10)},
		"aws:principaltype":   {"User"},
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		ctx["aws:sourceip"] = []string{host}
	}
	if p.anonymous {
		ctx["aws:principaltype"] = []string{"Anonymous"}
	} else {
		ctx["aws:username"] = []string{p.name}
		ctx["aws:userid"] = []string{p.accessKey}
		ctx["s3:signatureversion"] = []string{"AWS4-HMAC-SHA256"}
		if r.Header.Get("Authorization") != "" {
			ctx["s3:authtype"] = []string{"REST-HEADER"}
		} else {
			ctx["s3:authtype"] = []string{"REST-QUERY-STRING"}
		}
	}
	for _, h := range []struct{ header, key string }{{"Referer", "aws:referer"}, {"User-Agent", "aws:useragent"},
		{"x-amz-acl", "s3:x-amz-acl"}, {"x-amz-copy-source", "s3:x-amz-copy-source"},
		{"x-amz-metadata-directive", "s3:x-amz-metadata-directive"}, {"x-amz-content-sha256", "s3:x-amz-content-sha256"}} {
		if v := r.Header.Get(h.header); v != "" {
			ctx[h.key] = []string{v}
		}
	}
	v := r.URL.Query()
	for _, k := range []string{"prefix", "delimiter", "max-keys"} {
		if v.Has(k) {
			ctx["s3:"+k] = []string{v.Get(k)}
		}
	}
	return ctx
}

// isAnonymous reports whether a request carries no signature at all (no
// Authorization header, no presigned or V2 query parameters).
func isAnonymous(r *http.Request) bool {
	if r.Header.Get("Authorization") != "" {
		return false
	}
	v := r.URL.Query()
	for _, k := range []string{"X-Amz-Algorithm", "X-Amz-Signature", "X-Amz-Credential", "Signature", "AWSAccessKeyId"} {
		if v.Has(k) {
			return false
		}
	}
	return true
}

// authorizeRequest checks the request's operation as a whole (per-key
// checks of batch deletes and copy sources are made by their handlers).
// It returns the bucket's state when it loaded it, for handlers to reuse.
func (g *Gateway) authorizeRequest(q *request) error {
	p := q.who
	if p.admin {
		return nil
	}
	a, ok := actions[q.op]
	if !ok {
		return accessDenied(p, q.op, q.bucket, "the operation has no policy action; only administrator keys may call it")
	}
	switch q.op {
	case "ListBuckets":
		if p.anonymous {
			return accessDenied(p, a.action, "*", "sign the request to list your buckets")
		}
		return nil // filtered per bucket
	case "CreateBucket":
		if p.anonymous {
			return accessDenied(p, a.action, resourceARN(q.bucket, ""), "anonymous callers may not create buckets")
		}
		if p.policy == nil {
			return nil // a key without an identity policy may create buckets, which it then owns
		}
		return g.authorize(q, p, nil, a.action, q.bucket, "")
	}
	st, err := g.loadBucketState(q.ctx, q.bucket)
	if err != nil {
		if p.anonymous {
			return accessDenied(p, a.action, resourceARN(q.bucket, ""), "no policy allows it")
		}
		return err
	}
	q.state = st
	key := ""
	if a.object {
		key = q.key
	}
	if q.op == "DeleteObjects" {
		// Each key is checked by the handler; the caller must be able to
		// delete something.
		return nil
	}
	if err := g.authorize(q, p, st, a.action, q.bucket, key); err != nil {
		return err
	}
	if src := q.r.Header.Get("x-amz-copy-source"); src != "" && (q.op == "CopyObject" || q.op == "UploadPart") {
		sb, sk, err := copySource(q.r.Header)
		if err != nil {
			return err
		}
		sst := st
		if sb != q.bucket {
			if sst, err = g.loadBucketState(q.ctx, sb); err != nil {
				return err
			}
		}
		return g.authorize(q, p, sst, "s3:GetObject", sb, sk)
	}
	return nil
}

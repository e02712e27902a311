// Package s3 is Cairn's S3-compatible gateway: the S3 REST API (buckets,
// objects, multipart uploads, listings) over the Cairn SDK, authenticated
// with AWS Signature Version 4. It reaches the SDK only through the small
// interfaces Store and Cluster (store.go). Object bytes go from the S3 client through
// the gateway straight to the data nodes' replica chains, in parallel
// chunks, hashed once for the ETag; nothing holds a whole object.
//
// Nothing in Cairn imports this package but the command that serves it.
package s3

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/s3/policy"
	"github.com/cairnfs/cairn/s3/sigv4"
)

// Config configures a Gateway.
type Config struct {
	// Store keeps the objects: a *client.Client, or anything else that
	// serves the same operations. Required.
	Store Store
	// Cluster holds the credentials and answers the readiness check: a
	// *client.Admin, usually Store's (client.Client.Admin). Required.
	Cluster Cluster
	// Region is what GetBucketLocation answers and the only region
	// signatures may name when StrictRegion is set; default us-east-1.
	Region       string
	StrictRegion bool
	// Domain enables virtual-host-style requests (bucket.Domain); empty
	// serves path-style requests only.
	Domain string
	// MinPartSize is the smallest part but the last of a multipart upload;
	// default 5 MiB, as S3.
	MinPartSize int64
	// CredentialTTL is how long an access key's secret is cached; removing
	// a key takes effect within it. Default 10s.
	CredentialTTL time.Duration
	Registry      prometheus.Registerer
	Logger        *slog.Logger
	Now           func() time.Time
}

// Gateway serves the S3 API. It is an http.Handler.
type Gateway struct {
	cfg      Config
	c        Store
	admin    Cluster
	auth     *sigv4.Verifier
	creds    sync.Map    // access key -> credEntry
	policies policyCache // parsed bucket policies
	log      *slog.Logger
	m        *metrics
	// sseUntil is when (unix ns) the last check that every data node
	// encrypts expires (sse.go).
	sseUntil atomic.Int64
	// asUser holds the stores acting as buckets' owning users, by user;
	// owners caches which user owns a bucket (owner.go).
	asUser sync.Map
	owners ownerCache
}

type credEntry struct {
	secret  string
	ok      bool
	expires time.Time
	who     *principal // the identity the key acts as
}

// New returns a gateway that stores through cfg.Store.
func New(cfg Config) *Gateway {
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.MinPartSize <= 0 {
		cfg.MinPartSize = 5 << 20
	}
	if cfg.CredentialTTL <= 0 {
		cfg.CredentialTTL = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	g := &Gateway{cfg: cfg, c: cfg.Store, admin: cfg.Cluster, log: cfg.Logger, m: newMetrics(cfg.Registry)}
	g.auth = &sigv4.Verifier{Secret: g.secret, Now: cfg.Now}
	if cfg.StrictRegion {
		g.auth.Region = cfg.Region
	}
	return g
}

// secret returns an access key's secret, from a short-lived cache.
func (g *Gateway) secret(ak string) (string, bool) {
	e := g.credential(ak)
	return e.secret, e.ok
}

// credential returns an access key's entry, from a short-lived cache.
// ok is false when there is no such key (or it cannot be fetched now).
func (g *Gateway) credential(ak string) credEntry {
	now := time.Now()
	if v, ok := g.creds.Load(ak); ok {
		if e := v.(credEntry); now.Before(e.expires) {
			return e
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cred, err := g.admin.CredentialSecret(ctx, ak)
	switch {
	case err == nil:
		e := credEntry{secret: cred.Secret, ok: true, expires: now.Add(g.cfg.CredentialTTL), who: g.principalOf(cred)}
		g.creds.Store(ak, e)
		return e
	case cairn.KindOf(err) == cairn.NotFound:
		g.creds.Store(ak, credEntry{expires: now.Add(min(g.cfg.CredentialTTL, 2*time.Second))})
	default:
		g.log.Warn("cannot fetch S3 credentials from the metadata service", "access_key", ak, "err", err)
	}
	return credEntry{}
}

// principalOf is the identity a credential acts as. A key with neither a
// user nor a policy is an administrator key. A stored identity policy
// that does not parse (put around the gateway's checks) is logged and
// lets the key do nothing.
func (g *Gateway) principalOf(cred *client.Credential) *principal {
	p := &principal{accessKey: cred.AccessKey, name: cred.User, user: cred.User}
	if p.name == "" {
		p.name = cred.AccessKey
	}
	if cred.User == "" && cred.Policy == "" {
		p.admin = true
		return p
	}
	if cred.Policy != "" {
		pol, err := policy.Parse([]byte(cred.Policy), policy.Identity)
		if err != nil {
			g.log.Warn("the identity policy of an S3 key does not parse; the key may do nothing until it is replaced",
				"access_key", cred.AccessKey, "err", err)
			pol = denyAll
		}
		p.policy = pol
	}
	return p
}

// request is one S3 call being served.
type request struct {
	w      http.ResponseWriter
	r      *http.Request
	ctx    context.Context
	bucket string
	key    string
	op     string
	body   *sigv4.Result
	who    *principal
	state  *bucketState // the bucket's, when authorization loaded it
}

func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/-/") {
		g.serveAdmin(w, r)
		return
	}
	// Go's server sends "100 Continue" only when a handler reads a
	// non-empty body. S3 sends it for an empty one too, and botocore
	// relies on that: given a final answer instead, it keeps that status
	// line for the next Expect request on the connection, misparses that
	// reply and hangs until its read timeout (aws s3 sync of empty files).
	if r.ContentLength == 0 && strings.EqualFold(r.Header.Get("Expect"), "100-continue") && r.ProtoAtLeast(1, 1) {
		w.WriteHeader(http.StatusContinue)
	}
	start := time.Now()
	id := requestID()
	w.Header().Set("x-amz-request-id", id)
	w.Header().Set("x-amz-id-2", id)
	w.Header().Set("Server", "Cairn")
	q := &request{w: w, r: r, ctx: r.Context()}
	q.bucket, q.key = g.split(r)
	q.op = operation(r, q.bucket, q.key)
	sw := &statusWriter{ResponseWriter: w, status: 200}
	q.w = sw
	err := g.serve(q)
	if err != nil {
		ae := toAPI(err, "NoSuchKey")
		// NotImplemented (501) answers a client's question about a feature
		// (s3cmd info asks for ?policy, ?cors, ?acl): not a server failure.
		if codes[ae.Code].status >= 500 && ae.Code != "NotImplemented" {
			g.log.Error("s3 request failed", "op", q.op, "bucket", q.bucket, "key", q.key, "code", ae.Code, "err", err)
		} else {
			g.log.Debug("s3 request refused", "op", q.op, "bucket", q.bucket, "key", q.key, "code", ae.Code, "msg", ae.Message)
		}
		writeError(sw, r, ae, q.bucket, q.key)
	}
	g.m.observe(q.op, sw.status, time.Since(start))
}

func (g *Gateway) serve(q *request) error {
	if isAnonymous(q.r) {
		// Unsigned: served only where a bucket policy or ACL grants
		// everyone; the body is taken as sent.
		q.who = &principal{anonymous: true}
		q.body = &sigv4.Result{Body: q.r.Body, DecodedLength: q.r.ContentLength}
	} else {
		res, err := g.auth.Verify(q.r)
		if err != nil {
			return err
		}
		q.body = res
		q.r.Body = res.Body
		e := g.credential(res.AccessKey)
		if !e.ok || e.who == nil {
			return errorf("InvalidAccessKeyId", "access key %q is no longer known", res.AccessKey)
		}
		q.who = e.who
	}
	switch {
	case q.bucket == "" || (validBucket(q.bucket) == nil && (q.key == "" || validKey(q.key) == nil)):
		if err := g.authorizeRequest(q); err != nil {
			return err
		}
	case q.who.anonymous:
		return accessDenied(q.who, q.op, "/"+q.bucket, "anonymous callers may only use buckets that grant them access")
	}
	// Signed requests with invalid names go on to be refused for them.
	if q.bucket == "" {
		if q.r.Method != http.MethodGet {
			return errCode("MethodNotAllowed")
		}
		return g.listBuckets(q)
	}
	if err := validBucket(q.bucket); err != nil {
		if q.r.Method == http.MethodPut && q.key == "" {
			return err
		}
		return errorf("NoSuchBucket", "bucket %q does not exist (and is not a valid bucket name)", q.bucket)
	}
	q.ctx = g.withStore(q)
	if q.key == "" {
		return g.serveBucket(q)
	}
	if err := validKey(q.key); err != nil {
		return err
	}
	return g.serveObject(q)
}

// split finds the bucket and key, path style or virtual-host style.
func (g *Gateway) split(r *http.Request) (bucket, key string) {
	p := r.URL.Path
	if g.cfg.Domain != "" {
		host := r.Host
		if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
			host = host[:i]
		}
		if b, ok := strings.CutSuffix(host, "."+g.cfg.Domain); ok && b != "" {
			return b, strings.TrimPrefix(p, "/")
		}
	}
	p = strings.TrimPrefix(p, "/")
	bucket, key, _ = strings.Cut(p, "/")
	return bucket, key
}

func (g *Gateway) serveBucket(q *request) error {
	v := q.r.URL.Query()
	switch q.r.Method {
	case http.MethodGet:
		switch {
		case v.Has("policy"):
			return g.getBucketPolicy(q)
		case v.Has("policyStatus"):
			return g.getBucketPolicyStatus(q)
		case v.Has("acl"):
			return g.getBucketACL(q)
		case v.Has("publicAccessBlock"):
			return g.getPublicAccessBlock(q)
		case v.Has("location"):
			return g.bucketLocation(q)
		case v.Has("uploads"):
			return g.listUploads(q)
		case v.Has("versioning"):
			return g.bucketVersioning(q)
		case v.Get("list-type") == "2":
			return g.listObjects(q, true)
		case hasSubresource(v):
			return notImplemented(v)
		}
		return g.listObjects(q, false)
	case http.MethodPut:
		switch {
		case v.Has("policy"):
			return g.putBucketPolicy(q)
		case v.Has("acl"):
			return g.putBucketACL(q)
		case v.Has("publicAccessBlock"):
			return g.putPublicAccessBlock(q)
		case hasSubresource(v):
			return notImplemented(v)
		}
		return g.createBucket(q)
	case http.MethodHead:
		return g.headBucket(q)
	case http.MethodDelete:
		switch {
		case v.Has("policy"):
			return g.deleteBucketPolicy(q)
		case v.Has("publicAccessBlock"):
			return g.deletePublicAccessBlock(q)
		case hasSubresource(v):
			return notImplemented(v)
		}
		return g.deleteBucket(q)
	case http.MethodPost:
		if v.Has("delete") {
			return g.deleteObjects(q)
		}
		return notImplemented(v)
	}
	return errCode("MethodNotAllowed")
}

func (g *Gateway) serveObject(q *request) error {
	v := q.r.URL.Query()
	switch q.r.Method {
	case http.MethodPut:
		if v.Has("uploadId") {
			if q.r.Header.Get("x-amz-copy-source") != "" {
				return g.uploadPartCopy(q)
			}
			return g.uploadPart(q)
		}
		if hasSubresource(v) {
			return notImplemented(v)
		}
		if q.r.Header.Get("x-amz-copy-source") != "" {
			return g.copyObject(q)
		}
		return g.putObject(q)
	case http.MethodGet, http.MethodHead:
		if v.Has("uploadId") && q.r.Method == http.MethodGet {
			return g.listParts(q)
		}
		if hasSubresource(v) {
			return notImplemented(v)
		}
		return g.getObject(q)
	case http.MethodDelete:
		if v.Has("uploadId") {
			return g.abortUpload(q)
		}
		return g.deleteObject(q)
	case http.MethodPost:
		if v.Has("uploads") {
			return g.createUpload(q)
		}
		if v.Has("uploadId") {
			return g.completeUpload(q)
		}
		return notImplemented(v)
	}
	return errCode("MethodNotAllowed")
}

// subresources the gateway does not implement; asking for one is a clear
// NotImplemented rather than a silently wrong answer.
var subresources = []string{"acl", "policy", "cors", "lifecycle", "tagging", "website", "replication", "logging",
	"notification", "encryption", "object-lock", "retention", "legal-hold", "torrent", "restore", "select",
	"accelerate", "requestPayment", "analytics", "inventory", "metrics", "intelligent-tiering", "ownershipControls",
	"publicAccessBlock", "attributes", "versions", "policyStatus"}

func hasSubresource(v map[string][]string) bool {
	for _, s := range subresources {
		if _, ok := v[s]; ok {
			return true
		}
	}
	return false
}

func notImplemented(v map[string][]string) error {
	for _, s := range subresources {
		if _, ok := v[s]; ok {
			return errorf("NotImplemented", "the %q subresource is not implemented by Cairn's S3 gateway", s)
		}
	}
	return errorf("NotImplemented", "this request is not implemented by Cairn's S3 gateway")
}

func operation(r *http.Request, bucket, key string) string {
	v := r.URL.Query()
	switch {
	case bucket == "":
		return "ListBuckets"
	case key == "":
		if op := bucketSubresourceOp(r.Method, v); op != "" {
			return op
		}
		switch r.Method {
		case http.MethodPut:
			return "CreateBucket"
		case http.MethodDelete:
			return "DeleteBucket"
		case http.MethodHead:
			return "HeadBucket"
		case http.MethodPost:
			return "DeleteObjects"
		}
		switch {
		case v.Has("uploads"):
			return "ListMultipartUploads"
		case v.Has("location"):
			return "GetBucketLocation"
		case v.Has("versioning"):
			return "GetBucketVersioning"
		case v.Get("list-type") == "2":
			return "ListObjectsV2"
		}
		return "ListObjects"
	}
	switch r.Method {
	case http.MethodPut:
		switch {
		case v.Has("uploadId"):
			return "UploadPart"
		case r.Header.Get("x-amz-copy-source") != "":
			return "CopyObject"
		}
		return "PutObject"
	case http.MethodHead:
		return "HeadObject"
	case http.MethodDelete:
		if v.Has("uploadId") {
			return "AbortMultipartUpload"
		}
		return "DeleteObject"
	case http.MethodPost:
		if v.Has("uploads") {
			return "CreateMultipartUpload"
		}
		return "CompleteMultipartUpload"
	}
	if v.Has("uploadId") {
		return "ListParts"
	}
	return "GetObject"
}

// bucketSubresourceOp names the operations on a bucket's access state.
func bucketSubresourceOp(method string, v map[string][]string) string {
	verb := map[string]string{http.MethodGet: "Get", http.MethodPut: "Put", http.MethodDelete: "Delete"}[method]
	if verb == "" {
		return ""
	}
	for _, s := range []struct{ sub, op string }{{"policyStatus", "BucketPolicyStatus"}, {"policy", "BucketPolicy"},
		{"acl", "BucketAcl"}, {"publicAccessBlock", "PublicAccessBlock"}} {
		if _, ok := v[s.sub]; ok {
			return verb + s.op
		}
	}
	return ""
}

func requestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

// statusWriter remembers the status for metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(p)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// EnsureUser makes sure access key ak exists with secret sk (the root
// credentials a gateway is started with).
func (g *Gateway) EnsureUser(ctx context.Context, ak, sk string) error {
	cred, err := g.admin.CredentialSecret(ctx, ak)
	if err == nil && cred.Secret == sk {
		return nil
	}
	if err != nil && cairn.KindOf(err) != cairn.NotFound {
		return err
	}
	return g.admin.PutCredential(ctx, client.Credential{AccessKey: ak, Secret: sk, Description: "root credentials of a gateway"},
		client.PutCredentialOptions{})
}

package s3

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"time"
)

// Server-side encryption (docs/s3.md, "Server-side encryption"). Cairn
// encrypts at rest on the data nodes (--encryption-key-file), not in the
// gateway, so SSE-S3 is a promise the gateway can only make when every data
// node encrypts: a request for it is refused otherwise. The object records
// that it was asked for, and HEAD and GET answer it.

const (
	xSSE      = "s3.sse" // "AES256" on objects stored with SSE-S3
	sseHeader = "X-Amz-Server-Side-Encryption"
	sseAES256 = "AES256"

	// sseCheckTTL is how long a successful check that every node encrypts
	// is trusted before the gateway asks the cluster again.
	sseCheckTTL = 5 * time.Second
)

// sse reads the server-side encryption a PUT, CopyObject or
// CreateMultipartUpload asks for: "" for none, or sseAES256 once the
// cluster is seen to encrypt on every data node.
func (g *Gateway) sse(q *request) (string, error) {
	h := q.r.Header
	for name := range h {
		if strings.HasPrefix(strings.ToLower(name), "x-amz-server-side-encryption-customer-") {
			return "", errorf("NotImplemented", "SSE-C (customer-provided keys) is not supported; use x-amz-server-side-encryption: AES256 on a cluster whose data nodes encrypt at rest")
		}
	}
	v := h.Get(sseHeader)
	switch {
	case v == "":
		if h.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id") != "" {
			return "", errorf("InvalidArgument", "x-amz-server-side-encryption-aws-kms-key-id needs x-amz-server-side-encryption: aws:kms, which is not supported")
		}
		return "", nil
	case strings.HasPrefix(v, "aws:kms"):
		return "", errorf("NotImplemented", "server-side encryption %q (KMS) is not supported; Cairn offers AES256 (SSE-S3), with keys held by the data nodes", v)
	case v != sseAES256:
		return "", errorf("InvalidArgument", "x-amz-server-side-encryption %q is not a known algorithm; use AES256", v)
	}
	if err := g.clusterEncrypts(q.ctx); err != nil {
		return "", err
	}
	return sseAES256, nil
}

// clusterEncrypts checks that every data node the metadata service knows
// reports that it encrypts what it stores.
func (g *Gateway) clusterEncrypts(ctx context.Context) error {
	now := g.cfg.Now()
	if now.UnixNano() < g.sseUntil.Load() {
		return nil
	}
	st, err := g.admin.Status(ctx)
	if err != nil {
		return errorf("ServiceUnavailable", "cannot check that the data nodes encrypt at rest (asked for by x-amz-server-side-encryption): %v; retry", err)
	}
	var plain []string
	for _, n := range st.Nodes {
		if !n.Encrypted {
			plain = append(plain, string(n.ID))
		}
	}
	if len(st.Nodes) == 0 {
		return errorf("ServiceUnavailable", "no data node has reported yet, so server-side encryption cannot be promised; retry")
	}
	if len(plain) > 0 {
		sort.Strings(plain)
		return errorf("InvalidRequest", "x-amz-server-side-encryption: AES256 needs every data node to encrypt at rest, and %s do(es) not (an operator starts them with --encryption-key-file); store the object without the header, or ask the operator",
			strings.Join(plain, ", "))
	}
	g.sseUntil.Store(now.Add(sseCheckTTL).UnixNano())
	return nil
}

// setSSE records sse (from Gateway.sse) in the object's metadata and the
// response.
func setSSE(w http.ResponseWriter, meta map[string]string, sse string) {
	if sse == "" {
		return
	}
	meta[xSSE] = sse
	w.Header().Set(sseHeader, sse)
}

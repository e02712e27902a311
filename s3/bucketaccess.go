package s3

import (
	"encoding/xml"
	"io"
	"net/http"

	"github.com/cairnfs/cairn/s3/policy"
)

// The operations on a bucket's access state: its policy, canned ACL and
// public access block (bucketstate.go). Authorization has already been
// checked (authz.go).

// state returns the bucket's state, loaded by authorization or now (for
// administrators, whom authorization does not check against it).
func (g *Gateway) state(q *request) (*bucketState, error) {
	if q.state != nil {
		return q.state, nil
	}
	st, err := g.loadBucketState(q.ctx, q.bucket)
	if err == nil {
		q.state = st
	}
	return st, err
}

// readBody reads a small request body (a policy, an XML configuration).
func readBody(q *request, limit int64) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(q.r.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > limit {
		return nil, errorf("EntityTooLarge", "the request body is over %d bytes", limit)
	}
	return body, nil
}

func (g *Gateway) getBucketPolicy(q *request) error {
	st, err := g.state(q)
	if err != nil {
		return err
	}
	if st.policyJSON == "" {
		return errorf("NoSuchBucketPolicy", "bucket %q has no policy", q.bucket)
	}
	q.w.Header().Set("Content-Type", "application/json")
	_, _ = q.w.Write([]byte(st.policyJSON))
	return nil
}

func (g *Gateway) putBucketPolicy(q *request) error {
	st, err := g.state(q)
	if err != nil {
		return err
	}
	doc, err := readBody(q, policy.MaxSize)
	if err != nil {
		return err
	}
	p, err := policy.Parse(doc, policy.Bucket)
	if err != nil {
		return errorf("MalformedPolicy", "%v", err)
	}
	if st.pab.BlockPublicPolicy && isPublicPolicy(p) {
		return errorf("AccessDenied", "bucket %q blocks public policies (BlockPublicPolicy) and this policy grants access to everyone; "+
			"name the principals, or change the bucket's public access block first", q.bucket)
	}
	if err := g.setBucketAttrs(q.ctx, q.bucket, map[string]string{xPolicy: string(doc)}); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (g *Gateway) deleteBucketPolicy(q *request) error {
	if _, err := g.state(q); err != nil {
		return err
	}
	if err := g.setBucketAttrs(q.ctx, q.bucket, map[string]string{xPolicy: ""}); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (g *Gateway) getBucketPolicyStatus(q *request) error {
	st, err := g.state(q)
	if err != nil {
		return err
	}
	if st.policyJSON == "" {
		return errorf("NoSuchBucketPolicy", "bucket %q has no policy", q.bucket)
	}
	writeXML(q.w, policyStatus{IsPublic: isPublicPolicy(st.policy)})
	return nil
}

// ownerOf is how a bucket's owner is shown: buckets made before owners
// were recorded belong to the administrators.
func ownerOf(st *bucketState) owner {
	if st.owner == "" {
		return theOwner
	}
	return owner{ID: st.owner, DisplayName: st.owner}
}

func (g *Gateway) getBucketACL(q *request) error {
	st, err := g.state(q)
	if err != nil {
		return err
	}
	o := ownerOf(st)
	res := accessControlPolicy{Owner: o, Grants: []grant{{Grantee: grantee{XMLNSXSI: xsi, XSIType: "CanonicalUser", ID: o.ID, DisplayName: o.DisplayName},
		Permission: "FULL_CONTROL"}}}
	a := cannedACLs[st.acl]
	group := allUsers
	if a.authenticated {
		group = authenticatedUsers
	}
	if a.read {
		res.Grants = append(res.Grants, grant{Grantee: grantee{XMLNSXSI: xsi, XSIType: "Group", URI: group}, Permission: "READ"})
	}
	if a.write {
		res.Grants = append(res.Grants, grant{Grantee: grantee{XMLNSXSI: xsi, XSIType: "Group", URI: group}, Permission: "WRITE"})
	}
	writeXML(q.w, res)
	return nil
}

const (
	allUsers           = "http://acs.amazonaws.com/groups/global/AllUsers"
	authenticatedUsers = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
	xsi                = "http://www.w3.org/2001/XMLSchema-instance"
)

// cannedACL reads x-amz-acl ("" when absent); grants other than canned
// ACLs are not implemented.
func cannedACL(q *request) (string, error) {
	for name := range q.r.Header {
		if len(name) > len("X-Amz-Grant-") && http.CanonicalHeaderKey(name[:len("X-Amz-Grant-")]) == "X-Amz-Grant-" {
			return "", errorf("NotImplemented", "%s: Cairn's S3 gateway takes canned ACLs only (x-amz-acl: private, public-read, "+
				"public-read-write, authenticated-read); grant access to named principals with a bucket policy", name)
		}
	}
	acl := q.r.Header.Get("x-amz-acl")
	if _, ok := cannedACLs[acl]; acl != "" && !ok {
		return "", errorf("InvalidArgument", "x-amz-acl %q is not a canned ACL Cairn supports (private, public-read, public-read-write, "+
			"authenticated-read)", acl)
	}
	return acl, nil
}

func (g *Gateway) putBucketACL(q *request) error {
	st, err := g.state(q)
	if err != nil {
		return err
	}
	acl, err := cannedACL(q)
	if err != nil {
		return err
	}
	if acl == "" {
		body, err := readBody(q, 64<<10)
		if err != nil {
			return err
		}
		if len(body) > 0 {
			return errorf("NotImplemented", "an AccessControlPolicy document is not supported; send a canned ACL in x-amz-acl, "+
				"and grant access to named principals with a bucket policy")
		}
		return errorf("InvalidArgument", "send the canned ACL in the x-amz-acl header")
	}
	if st.pab.BlockPublicAcls && isPublicACL(acl) {
		return errorf("AccessDenied", "bucket %q blocks public ACLs (BlockPublicAcls); %q would grant everyone access", q.bucket, acl)
	}
	if acl == "private" {
		acl = ""
	}
	if err := g.setBucketAttrs(q.ctx, q.bucket, map[string]string{xACL: acl}); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusOK)
	return nil
}

func (g *Gateway) getPublicAccessBlock(q *request) error {
	st, err := g.state(q)
	if err != nil {
		return err
	}
	if !st.pabSet {
		return errorf("NoSuchPublicAccessBlockConfiguration", "bucket %q has no public access block configuration", q.bucket)
	}
	writeXML(q.w, publicAccessBlockConfiguration{publicAccessBlock: st.pab})
	return nil
}

func (g *Gateway) putPublicAccessBlock(q *request) error {
	if _, err := g.state(q); err != nil {
		return err
	}
	body, err := readBody(q, 64<<10)
	if err != nil {
		return err
	}
	var cfg publicAccessBlockConfiguration
	if err := xml.Unmarshal(body, &cfg); err != nil {
		return errorf("MalformedXML", "PublicAccessBlockConfiguration: %v", err)
	}
	if err := g.setBucketAttrs(q.ctx, q.bucket, map[string]string{xPAB: cfg.encode()}); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusOK)
	return nil
}

func (g *Gateway) deletePublicAccessBlock(q *request) error {
	if _, err := g.state(q); err != nil {
		return err
	}
	if err := g.setBucketAttrs(q.ctx, q.bucket, map[string]string{xPAB: ""}); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

type policyStatus struct {
	XMLName  xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ PolicyStatus"`
	IsPublic bool     `xml:"IsPublic"`
}

type publicAccessBlockConfiguration struct {
	XMLName xml.Name `xml:"PublicAccessBlockConfiguration"`
	publicAccessBlock
}

type accessControlPolicy struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ AccessControlPolicy"`
	Owner   owner    `xml:"Owner"`
	Grants  []grant  `xml:"AccessControlList>Grant"`
}

type grant struct {
	Grantee    grantee `xml:"Grantee"`
	Permission string  `xml:"Permission"`
}

type grantee struct {
	XMLNSXSI    string `xml:"xmlns:xsi,attr"`
	XSIType     string `xml:"xsi:type,attr"`
	ID          string `xml:"ID,omitempty"`
	DisplayName string `xml:"DisplayName,omitempty"`
	URI         string `xml:"URI,omitempty"`
}

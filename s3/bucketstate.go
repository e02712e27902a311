package s3

import (
	"context"
	"strings"
	"sync"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/s3/policy"
)

// A bucket's access state lives in user attributes of its directory, so it
// is as durable and replicated as the namespace, and goes with the bucket
// when it is removed.
const (
	xOwner  = "s3.owner"  // the identity that created the bucket
	xPolicy = "s3.policy" // the bucket policy, JSON as put
	xACL    = "s3.acl"    // the canned ACL; absent is private
	xPAB    = "s3.pab"    // the public access block: the names of the settings that are on, comma-separated
)

// bucketState is what decides who may use a bucket.
type bucketState struct {
	name       string
	owner      string // "" for buckets made before owners were recorded: administrators only
	ownerUser  string // the namespace user that owns the bucket's directory (owner.go); "" for the superuser
	policyJSON string
	policy     *policy.Policy // nil without a policy (or with one that no longer parses)
	acl        string
	pab        publicAccessBlock
	pabSet     bool // a configuration is stored (all four may be off)
}

// publicAccessBlock is S3's PublicAccessBlockConfiguration.
type publicAccessBlock struct {
	BlockPublicAcls       bool `xml:"BlockPublicAcls"`
	IgnorePublicAcls      bool `xml:"IgnorePublicAcls"`
	BlockPublicPolicy     bool `xml:"BlockPublicPolicy"`
	RestrictPublicBuckets bool `xml:"RestrictPublicBuckets"`
}

func (p publicAccessBlock) encode() string {
	var on []string
	for _, s := range []struct {
		name string
		on   bool
	}{{"BlockPublicAcls", p.BlockPublicAcls}, {"IgnorePublicAcls", p.IgnorePublicAcls},
		{"BlockPublicPolicy", p.BlockPublicPolicy}, {"RestrictPublicBuckets", p.RestrictPublicBuckets}} {
		if s.on {
			on = append(on, s.name)
		}
	}
	if len(on) == 0 {
		return "none" // set, all off: differs from no configuration at all
	}
	return strings.Join(on, ",")
}

func decodePAB(s string) publicAccessBlock {
	var p publicAccessBlock
	for _, name := range strings.Split(s, ",") {
		switch name {
		case "BlockPublicAcls":
			p.BlockPublicAcls = true
		case "IgnorePublicAcls":
			p.IgnorePublicAcls = true
		case "BlockPublicPolicy":
			p.BlockPublicPolicy = true
		case "RestrictPublicBuckets":
			p.RestrictPublicBuckets = true
		}
	}
	return p
}

// loadBucketState reads a bucket's state; NoSuchBucket if there is none.
func (g *Gateway) loadBucketState(ctx context.Context, bucket string) (*bucketState, error) {
	fi, err := g.c.Stat(ctx, "/"+bucket)
	if cairn.KindOf(err) == cairn.NotFound || (err == nil && !fi.IsDir()) {
		return nil, errorf("NoSuchBucket", "bucket %q does not exist", bucket)
	}
	if err != nil {
		return nil, err
	}
	return g.stateOf(fi), nil
}

// stateOf reads the state from a bucket directory's attributes. A stored
// policy that no longer parses (written around the gateway) is logged
// and grants nothing.
func (g *Gateway) stateOf(fi *client.FileInfo) *bucketState {
	x := fi.Xattrs
	st := &bucketState{name: fi.Name(), owner: x[xOwner], ownerUser: x[xOwnerUser], policyJSON: x[xPolicy], acl: x[xACL], pab: decodePAB(x[xPAB]), pabSet: x[xPAB] != ""}
	if st.policyJSON != "" {
		st.policy = g.policies.parse(st.policyJSON, func(err error) {
			g.log.Warn("a stored bucket policy does not parse; it grants nothing until it is replaced", "bucket", st.name, "err", err)
		})
	}
	return st
}

// policyCache keeps parsed bucket policies by their text, so that a
// request pays a map lookup rather than a parse (tens of µs). It forgets
// everything when it holds more than maxPolicies.
type policyCache struct {
	mu sync.Mutex
	m  map[string]*policy.Policy
}

const maxPolicies = 1024

// parse returns doc's policy; one that does not parse is reported to
// bad and denies everyone.
func (c *policyCache) parse(doc string, bad func(error)) *policy.Policy {
	c.mu.Lock()
	p, ok := c.m[doc]
	c.mu.Unlock()
	if ok {
		return p
	}
	p, err := policy.Parse([]byte(doc), policy.Bucket)
	if err != nil {
		bad(err)
		return denyAll
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxPolicies {
		c.m = map[string]*policy.Policy{}
	}
	c.m[doc] = p
	c.mu.Unlock()
	return p
}

// denyAll stands in for a policy that cannot be read: it denies everyone
// but administrators (who are not subject to policies).
var denyAll = &policy.Policy{Statements: []policy.Statement{{Effect: policy.Deny,
	Principal: &policy.Principals{Any: true}, Action: []string{"*"}, Resource: []string{"*"}}}}

// setBucketAttrs stores (value non-empty) or removes (empty) attributes
// of a bucket's directory.
func (g *Gateway) setBucketAttrs(ctx context.Context, bucket string, attrs map[string]string) error {
	sa := client.SetAttr{SetXattrs: map[string]string{}}
	for k, v := range attrs {
		if v == "" {
			sa.RemoveXattr = append(sa.RemoveXattr, k)
		} else {
			sa.SetXattrs[k] = v
		}
	}
	_, err := g.c.Chattr(ctx, "/"+bucket, sa)
	if cairn.KindOf(err) == cairn.NotFound {
		return errorf("NoSuchBucket", "bucket %q does not exist", bucket)
	}
	return err
}

// Canned ACLs, as grants to everyone or to every signed-in caller.
var cannedACLs = map[string]struct {
	read, write   bool // s3:GetObject and s3:ListBucket; s3:PutObject and s3:DeleteObject
	authenticated bool // to signed requests only (authenticated-read)
}{
	"private":            {},
	"public-read":        {read: true},
	"public-read-write":  {read: true, write: true},
	"authenticated-read": {read: true, authenticated: true},
}

// isPublicACL reports whether a canned ACL grants anonymous callers anything.
func isPublicACL(acl string) bool {
	a := cannedACLs[acl]
	return (a.read || a.write) && !a.authenticated
}

// aclAllows reports whether the bucket's canned ACL grants action to the caller.
func (st *bucketState) aclAllows(anonymous bool, action string) bool {
	a, ok := cannedACLs[st.acl]
	if !ok || (anonymous && a.authenticated) || (st.pab.IgnorePublicAcls && isPublicACL(st.acl)) {
		return false
	}
	switch action {
	case "s3:GetObject", "s3:ListBucket":
		return a.read
	case "s3:PutObject", "s3:DeleteObject":
		return a.write
	}
	return false
}

// isPublicPolicy reports whether a bucket policy grants anything to
// everyone: an Allow for "*" (or NotPrincipal) not limited to source
// addresses. S3's test is finer; this errs on the side of public.
func isPublicPolicy(p *policy.Policy) bool {
	if p == nil {
		return false
	}
	for _, s := range p.Statements {
		if s.Effect != policy.Allow || (s.NotPrincipal == nil && (s.Principal == nil || !s.Principal.Any)) {
			continue
		}
		limited := false
		for _, c := range s.Conditions {
			if strings.EqualFold(c.Key, "aws:SourceIp") && strings.HasPrefix(c.Operator, "IpAddress") {
				limited = true
			}
		}
		if !limited {
			return true
		}
	}
	return false
}

// effectivePolicy is the bucket policy as it applies: with
// RestrictPublicBuckets, its public Allow statements are left out.
func (st *bucketState) effectivePolicy() *policy.Policy {
	if st.policy == nil || !st.pab.RestrictPublicBuckets || !isPublicPolicy(st.policy) {
		return st.policy
	}
	out := &policy.Policy{Version: st.policy.Version}
	for _, s := range st.policy.Statements {
		one := &policy.Policy{Statements: []policy.Statement{s}}
		if !isPublicPolicy(one) {
			out.Statements = append(out.Statements, s)
		}
	}
	return out
}

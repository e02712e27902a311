package s3

import (
	"encoding/xml"
	"io"
	"net/http"
	"time"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/client"
)

const xCreated = "s3.created" // bucket creation time (RFC 3339), on its directory

func (g *Gateway) listBuckets(q *request) error {
	entries, err := g.c.ReadDir(q.ctx, "/")
	if err != nil {
		return err
	}
	res := listAllMyBucketsResult{Owner: theOwner, Buckets: []bucketInfo{}}
	if !q.who.admin {
		res.Owner = owner{ID: q.who.name, DisplayName: q.who.name}
	}
	for _, fi := range entries {
		if !fi.IsDir() || validBucket(fi.Name()) != nil {
			continue
		}
		if !q.who.admin {
			// Only the buckets the caller owns or may list.
			if g.authorize(q, q.who, g.stateOf(fi), "s3:ListBucket", fi.Name(), "") != nil {
				continue
			}
		}
		res.Buckets = append(res.Buckets, bucketInfo{Name: fi.Name(), CreationDate: isoTime(bucketCreated(fi))})
	}
	writeXML(q.w, res)
	return nil
}

func bucketCreated(fi *client.FileInfo) time.Time {
	if t, err := time.Parse(time.RFC3339Nano, fi.Xattrs[xCreated]); err == nil {
		return t
	}
	return fi.ModTime()
}

func (g *Gateway) createBucket(q *request) error {
	if err := validBucket(q.bucket); err != nil {
		return err
	}
	if body, _ := io.ReadAll(io.LimitReader(q.r.Body, 64<<10)); len(body) > 0 {
		var cfg struct {
			XMLName  xml.Name `xml:"CreateBucketConfiguration"`
			Location string   `xml:"LocationConstraint"`
		}
		if err := xml.Unmarshal(body, &cfg); err != nil {
			return errorf("MalformedXML", "CreateBucketConfiguration: %v", err)
		}
	}
	acl, err := cannedACL(q)
	if err != nil {
		return err
	}
	if _, err := g.c.Mkdir(q.ctx, "/"+q.bucket, client.MkdirOptions{}); err != nil {
		if cairn.KindOf(err) == cairn.Exists {
			return g.bucketTaken(q)
		}
		return err
	}
	attrs := map[string]string{xCreated: g.cfg.Now().UTC().Format(time.RFC3339Nano), xOwner: q.who.name}
	if acl != "" && acl != "private" {
		attrs[xACL] = acl
	}
	sa := client.SetAttr{SetXattrs: attrs}
	if u := q.who.user; u != "" {
		// The bucket is the user's directory, private to it in the
		// namespace; the gateway works in it as the user (owner.go).
		private := uint32(0o700)
		attrs[xOwnerUser], sa.Owner, sa.Group, sa.Mode = u, u, u, &private
	}
	if _, err := g.c.Chattr(q.ctx, "/"+q.bucket, sa); err != nil {
		// A bucket without its owner would be the administrators' alone:
		// undo, so that the client's retry creates it whole.
		if _, rerr := g.c.Remove(q.ctx, "/"+q.bucket, client.RemoveOptions{}); rerr != nil {
			g.log.Warn("cannot record a new bucket's owner, nor remove the bucket", "bucket", q.bucket, "err", err, "remove_err", rerr)
		}
		return err
	}
	q.w.Header().Set("Location", "/"+q.bucket)
	q.w.WriteHeader(http.StatusOK)
	return nil
}

// bucketTaken answers a CreateBucket for a bucket that exists.
func (g *Gateway) bucketTaken(q *request) error {
	if q.who.admin {
		return errorf("BucketAlreadyOwnedByYou", "bucket %q already exists", q.bucket)
	}
	st, err := g.loadBucketState(q.ctx, q.bucket)
	if err == nil && st.owner == q.who.name {
		return errorf("BucketAlreadyOwnedByYou", "bucket %q already exists and is yours", q.bucket)
	}
	return errorf("BucketAlreadyExists", "bucket %q exists and belongs to someone else; choose another name", q.bucket)
}

func (g *Gateway) headBucket(q *request) error {
	if err := g.bucketExists(q); err != nil {
		return err
	}
	q.w.Header().Set("x-amz-bucket-region", g.cfg.Region)
	q.w.WriteHeader(http.StatusOK)
	return nil
}

func (g *Gateway) bucketExists(q *request) error {
	fi, err := g.c.Stat(q.ctx, "/"+q.bucket)
	if cairn.KindOf(err) == cairn.NotFound || (err == nil && !fi.IsDir()) {
		return errorf("NoSuchBucket", "bucket %q does not exist", q.bucket)
	}
	return err
}

func (g *Gateway) deleteBucket(q *request) error {
	_, err := g.c.Remove(q.ctx, "/"+q.bucket, client.RemoveOptions{})
	switch cairn.KindOf(err) {
	case cairn.NotFound, cairn.NotDir:
		return errorf("NoSuchBucket", "bucket %q does not exist", q.bucket)
	case cairn.NotEmpty:
		return errorf("BucketNotEmpty", "bucket %q is not empty; delete its objects first", q.bucket)
	}
	if err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (g *Gateway) bucketLocation(q *request) error {
	if err := g.bucketExists(q); err != nil {
		return err
	}
	loc := g.cfg.Region
	if loc == "us-east-1" {
		loc = "" // S3 answers us-east-1 with an empty constraint
	}
	writeXML(q.w, locationConstraint{Region: loc})
	return nil
}

func (g *Gateway) bucketVersioning(q *request) error {
	if err := g.bucketExists(q); err != nil {
		return err
	}
	writeXML(q.w, versioningConfiguration{})
	return nil
}

// deleteObjects is the batch delete: up to 1000 keys, in parallel.
func (g *Gateway) deleteObjects(q *request) error {
	body, err := io.ReadAll(io.LimitReader(q.r.Body, 2<<20))
	if err != nil {
		return err
	}
	var req deleteRequest
	if err := xml.Unmarshal(body, &req); err != nil {
		return errorf("MalformedXML", "Delete: %v", err)
	}
	if len(req.Objects) == 0 || len(req.Objects) > 1000 {
		return errorf("MalformedXML", "a batch delete names 1 to 1000 objects, not %d", len(req.Objects))
	}
	if err := g.bucketExists(q); err != nil {
		return err
	}
	errs := make([]*apiError, len(req.Objects))
	forEach(len(req.Objects), 16, func(i int) {
		key := req.Objects[i].Key
		if e := validKey(key); e != nil {
			errs[i] = e
			return
		}
		if err := g.authorize(q, q.who, q.state, "s3:DeleteObject", q.bucket, key); err != nil {
			errs[i] = toAPI(err, "NoSuchKey")
			return
		}
		if err := g.remove(q.ctx, q.bucket, key); err != nil {
			errs[i] = toAPI(err, "NoSuchKey")
		}
	})
	res := deleteResult{}
	for i, o := range req.Objects {
		if errs[i] != nil {
			res.Errors = append(res.Errors, deleteError{Key: o.Key, Code: errs[i].Code, Message: errs[i].Message})
		} else if !req.Quiet {
			res.Deleted = append(res.Deleted, deletedObject{Key: o.Key})
		}
	}
	writeXML(q.w, res)
	return nil
}

package s3_test

import (
	"bytes"
	"crypto/md5"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"

	"github.com/cairnfs/cairn/internal/testcluster"
)

const mib = 1 << 20

// TestMultipartAWS: 10 × 5 MiB parts and a short last one uploaded in
// parallel with raw UploadPart calls, a part replaced, ListParts paged,
// ListMultipartUploads by prefix, completion with S3's ETag, the bytes
// read back, and the error cases.
func TestMultipartAWS(t *testing.T) {
	g := startGateway(t, testcluster.Options{})
	ac := g.aws(t, testSK)
	ctx := testCtx(t)
	const bucket = "mpu"
	mustCreateBucket(t, ac, bucket)
	nFull := 10
	if testing.Short() {
		nFull = 3
	}
	parts := make([][]byte, nFull+1)
	for i := range nFull {
		parts[i] = testcluster.RandBytes(uint64(100+i), 5*mib)
	}
	parts[nFull] = testcluster.RandBytes(99, mib+123) // the short last part
	const key = "big/object.bin"

	cu, err := ac.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key),
		ContentType: aws.String("application/x-big"), Metadata: map[string]string{"origin": "multipart"}})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(cu.UploadId)
	if id == "" || aws.ToString(cu.Key) != key || aws.ToString(cu.Bucket) != bucket {
		t.Fatalf("CreateMultipartUpload: %+v", cu)
	}
	// Other uploads, to list by prefix: one more for the same key, one elsewhere.
	cu2, err := ac.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	cu3, err := ac.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("other/x")})
	if err != nil {
		t.Fatal(err)
	}

	// Part 3 first gets wrong bytes; re-uploading replaces them.
	wrong := testcluster.RandBytes(1234, 5*mib)
	if _, err := ac.UploadPart(ctx, &awss3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String(id),
		PartNumber: aws.Int32(3), Body: bytes.NewReader(wrong)}); err != nil {
		t.Fatal(err)
	}
	// All parts in parallel (4 at a time), in reverse order; every other
	// one with a Content-MD5.
	etags := make([]string, len(parts))
	err = forEach(len(parts), 4, func(j int) error {
		i := len(parts) - 1 - j
		in := &awss3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String(id),
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(parts[i])}
		if i%2 == 0 {
			in.ContentMD5 = aws.String(md5b64(parts[i]))
		}
		out, err := ac.UploadPart(ctx, in)
		if err != nil {
			return fmt.Errorf("UploadPart %d: %w", i+1, err)
		}
		etags[i] = aws.ToString(out.ETag)
		if unquote(etags[i]) != md5hex(parts[i]) {
			return fmt.Errorf("UploadPart %d: ETag %s, want %s", i+1, etags[i], md5hex(parts[i]))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A part with a wrong Content-MD5 is refused and does not replace.
	_, err = ac.UploadPart(ctx, &awss3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String(id),
		PartNumber: aws.Int32(2), Body: bytes.NewReader(wrong), ContentMD5: aws.String(md5b64(parts[1]))})
	wantAWSErr(t, "UploadPart with a wrong Content-MD5", err, "BadDigest", 400)
	// Bad part numbers.
	for _, n := range []int32{0, 10001} {
		_, err = ac.UploadPart(ctx, &awss3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String(id),
			PartNumber: aws.Int32(n), Body: strings.NewReader("x")})
		wantAWSErr(t, fmt.Sprintf("UploadPart number %d", n), err, "InvalidArgument", 400)
	}

	// ListParts, 4 per page.
	var listed []types.Part
	in := &awss3.ListPartsInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String(id), MaxParts: aws.Int32(4)}
	for page := 0; ; page++ {
		if page > len(parts) {
			t.Fatal("ListParts does not end")
		}
		out, err := ac.ListParts(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Parts) > 4 {
			t.Fatalf("ListParts page of %d", len(out.Parts))
		}
		listed = append(listed, out.Parts...)
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		in.PartNumberMarker = out.NextPartNumberMarker
	}
	if len(listed) != len(parts) {
		t.Fatalf("ListParts listed %d parts, want %d", len(listed), len(parts))
	}
	for i, p := range listed {
		if aws.ToInt32(p.PartNumber) != int32(i+1) || aws.ToInt64(p.Size) != int64(len(parts[i])) || unquote(aws.ToString(p.ETag)) != md5hex(parts[i]) {
			t.Fatalf("ListParts part %d: number %d size %d ETag %s", i+1, aws.ToInt32(p.PartNumber), aws.ToInt64(p.Size), aws.ToString(p.ETag))
		}
	}

	// ListMultipartUploads: by prefix, and all.
	lu, err := ac.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: aws.String(bucket), Prefix: aws.String("big/")})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, u := range lu.Uploads {
		if aws.ToString(u.Key) != key {
			t.Fatalf("ListMultipartUploads prefix big/ listed %q", aws.ToString(u.Key))
		}
		ids = append(ids, aws.ToString(u.UploadId))
	}
	slices.Sort(ids)
	want := []string{id, aws.ToString(cu2.UploadId)}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Fatalf("ListMultipartUploads prefix big/: %q, want %q", ids, want)
	}
	lu, err = ac.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil || len(lu.Uploads) != 3 || aws.ToString(lu.Uploads[2].Key) != "other/x" {
		t.Fatalf("ListMultipartUploads: %v, %d uploads", err, len(lu.Uploads))
	}
	lu, err = ac.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: aws.String(bucket), Delimiter: aws.String("/")})
	if err != nil || len(lu.Uploads) != 0 || len(lu.CommonPrefixes) != 2 {
		t.Fatalf("ListMultipartUploads with delimiter: %v, %d uploads, %d prefixes", err, len(lu.Uploads), len(lu.CommonPrefixes))
	}
	// The object does not exist before completion.
	_, err = ac.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	wantAWSErr(t, "HeadObject before completion", err, "", 404)

	// Completion errors leave the upload as it was.
	complete := func(ps []types.CompletedPart) error {
		_, err := ac.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key),
			UploadId: aws.String(id), MultipartUpload: &types.CompletedMultipartUpload{Parts: ps}})
		return err
	}
	all := make([]types.CompletedPart, len(parts))
	for i := range parts {
		all[i] = types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: aws.String(etags[i])}
	}
	badETag := slices.Clone(all)
	badETag[2] = types.CompletedPart{PartNumber: aws.Int32(3), ETag: aws.String(`"` + md5hex(wrong) + `"`)} // the replaced bytes
	wantAWSErr(t, "CompleteMultipartUpload with a replaced part's ETag", complete(badETag), "InvalidPart", 400)
	missing := append(slices.Clone(all[:len(parts)-1]), types.CompletedPart{PartNumber: aws.Int32(int32(len(parts) + 5)), ETag: aws.String(etags[0])})
	wantAWSErr(t, "CompleteMultipartUpload with a part never uploaded", complete(missing), "InvalidPart", 400)
	unordered := slices.Clone(all)
	unordered[0], unordered[1] = unordered[1], unordered[0]
	wantAWSErr(t, "CompleteMultipartUpload out of order", complete(unordered), "InvalidPartOrder", 400)
	// A short part before the end: EntityTooSmall. Part 12 makes the short
	// part 11 a middle one.
	p12, err := ac.UploadPart(ctx, &awss3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String(id),
		PartNumber: aws.Int32(int32(len(parts) + 1)), Body: strings.NewReader("extra")})
	if err != nil {
		t.Fatal(err)
	}
	withExtra := append(slices.Clone(all), types.CompletedPart{PartNumber: aws.Int32(int32(len(parts) + 1)), ETag: p12.ETag})
	wantAWSErr(t, "CompleteMultipartUpload with a short middle part", complete(withExtra), "EntityTooSmall", 400)

	// Completion with every part: S3's multipart ETag.
	out, err := ac.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key),
		UploadId: aws.String(id), MultipartUpload: &types.CompletedMultipartUpload{Parts: all}})
	if err != nil {
		t.Fatal(err)
	}
	wantETag := multipartETag(parts...)
	if unquote(aws.ToString(out.ETag)) != wantETag {
		t.Fatalf("CompleteMultipartUpload ETag %s, want %s", aws.ToString(out.ETag), wantETag)
	}
	if aws.ToString(out.Key) != key || aws.ToString(out.Bucket) != bucket {
		t.Fatalf("CompleteMultipartUpload result %+v", out)
	}
	got := mustGet(t, ac, bucket, key)
	whole := bytes.Join(parts, nil)
	if !bytes.Equal(got, whole) {
		t.Fatalf("GetObject: %d bytes, want %d (the parts concatenated)", len(got), len(whole))
	}
	h, err := ac.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	if unquote(aws.ToString(h.ETag)) != wantETag || aws.ToInt64(h.ContentLength) != int64(len(whole)) ||
		aws.ToString(h.ContentType) != "application/x-big" || h.Metadata["origin"] != "multipart" {
		t.Fatalf("HeadObject: ETag %s length %d type %q meta %v", aws.ToString(h.ETag), aws.ToInt64(h.ContentLength), aws.ToString(h.ContentType), h.Metadata)
	}
	// A range across part boundaries.
	r, err := ac.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Range: aws.String(fmt.Sprintf("bytes=%d-%d", 5*mib-100, 10*mib+99))})
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if !bytes.Equal(rb, whole[5*mib-100:10*mib+100]) {
		t.Fatal("range across parts")
	}
	// The completed upload is gone: ListParts, UploadPart, Abort say NoSuchUpload.
	_, err = ac.ListParts(ctx, &awss3.ListPartsInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String(id)})
	wantAWSErr(t, "ListParts after completion", err, "NoSuchUpload", 404)
	_, err = ac.UploadPart(ctx, &awss3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String(id),
		PartNumber: aws.Int32(1), Body: strings.NewReader("late")})
	wantAWSErr(t, "UploadPart after completion", err, "NoSuchUpload", 404)

	// AbortMultipartUpload: then ListParts, UploadPart and Complete fail with NoSuchUpload.
	if _, err := ac.UploadPart(ctx, &awss3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String("other/x"), UploadId: cu3.UploadId,
		PartNumber: aws.Int32(1), Body: strings.NewReader("part")}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []*awss3.CreateMultipartUploadOutput{cu2, cu3} {
		if _, err := ac.AbortMultipartUpload(ctx, &awss3.AbortMultipartUploadInput{Bucket: u.Bucket, Key: u.Key, UploadId: u.UploadId}); err != nil {
			t.Fatal(err)
		}
		_, err = ac.ListParts(ctx, &awss3.ListPartsInput{Bucket: u.Bucket, Key: u.Key, UploadId: u.UploadId})
		wantAWSErr(t, "ListParts after abort", err, "NoSuchUpload", 404)
		_, err = ac.UploadPart(ctx, &awss3.UploadPartInput{Bucket: u.Bucket, Key: u.Key, UploadId: u.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader("x")})
		wantAWSErr(t, "UploadPart after abort", err, "NoSuchUpload", 404)
		_, err = ac.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: u.Bucket, Key: u.Key, UploadId: u.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: aws.String(`"` + md5hex([]byte("part")) + `"`)}}}})
		wantAWSErr(t, "CompleteMultipartUpload after abort", err, "NoSuchUpload", 404)
		_, err = ac.AbortMultipartUpload(ctx, &awss3.AbortMultipartUploadInput{Bucket: u.Bucket, Key: u.Key, UploadId: u.UploadId})
		wantAWSErr(t, "AbortMultipartUpload twice", err, "NoSuchUpload", 404)
	}
	_, err = ac.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("other/x")})
	wantAWSErr(t, "HeadObject of an aborted upload's key", err, "", 404)
	lu, err = ac.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil || len(lu.Uploads) != 0 {
		t.Fatalf("ListMultipartUploads after complete and aborts: %v, %d", err, len(lu.Uploads))
	}
	// Unknown upload IDs, and an upload ID used with another key.
	_, err = ac.ListParts(ctx, &awss3.ListPartsInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String("no-such-upload")})
	wantAWSErr(t, "ListParts of an unknown upload", err, "NoSuchUpload", 404)
	_, err = ac.AbortMultipartUpload(ctx, &awss3.AbortMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String("no-such-upload")})
	wantAWSErr(t, "AbortMultipartUpload of an unknown upload", err, "NoSuchUpload", 404)
	cu4, err := ac.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("k4")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = ac.UploadPart(ctx, &awss3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String("not-k4"), UploadId: cu4.UploadId,
		PartNumber: aws.Int32(1), Body: strings.NewReader("x")})
	wantAWSErr(t, "UploadPart with another key's upload ID", err, "NoSuchUpload", 404)
	_, err = ac.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("no-such-bucket"), Key: aws.String("k")})
	wantAWSErr(t, "CreateMultipartUpload in a missing bucket", err, "NoSuchBucket", 404)
}

// TestMultipartSmallParts: parts under 5 MiB but the last are refused
// with EntityTooSmall; a single small part is a valid upload.
func TestMultipartSmallParts(t *testing.T) {
	g := startGateway(t, testcluster.Options{})
	ac := g.aws(t, testSK)
	ctx := testCtx(t)
	mustCreateBucket(t, ac, "small")
	upload := func(key string, sizes ...int) (string, []types.CompletedPart, [][]byte) {
		cu, err := ac.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("small"), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		var ps []types.CompletedPart
		var datas [][]byte
		for i, n := range sizes {
			d := testcluster.RandBytes(uint64(i+7), n)
			out, err := ac.UploadPart(ctx, &awss3.UploadPartInput{Bucket: aws.String("small"), Key: aws.String(key), UploadId: cu.UploadId,
				PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(d)})
			if err != nil {
				t.Fatal(err)
			}
			ps = append(ps, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag})
			datas = append(datas, d)
		}
		return aws.ToString(cu.UploadId), ps, datas
	}
	complete := func(key, id string, ps []types.CompletedPart) (*awss3.CompleteMultipartUploadOutput, error) {
		return ac.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: aws.String("small"), Key: aws.String(key),
			UploadId: aws.String(id), MultipartUpload: &types.CompletedMultipartUpload{Parts: ps}})
	}
	id, ps, _ := upload("too-small", 5*mib-1, 100)
	_, err := complete("too-small", id, ps)
	wantAWSErr(t, "CompleteMultipartUpload with a 5 MiB-1 first part", err, "EntityTooSmall", 400)
	// The upload survives a refused completion: complete with part 2 alone.
	out, err := complete("too-small", id, ps[1:])
	if err != nil {
		t.Fatalf("completing with the last part only: %v", err)
	}
	_ = out
	// Exactly 5 MiB then a 1-byte part: fine. A single 1-byte part: fine.
	id, ps, datas := upload("exact", 5*mib, 1)
	out, err = complete("exact", id, ps)
	if err != nil {
		t.Fatal(err)
	}
	if unquote(aws.ToString(out.ETag)) != multipartETag(datas...) {
		t.Fatalf("ETag %s, want %s", aws.ToString(out.ETag), multipartETag(datas...))
	}
	if got := mustGet(t, ac, "small", "exact"); !bytes.Equal(got, bytes.Join(datas, nil)) {
		t.Fatal("exact: bytes differ")
	}
	id, ps, datas = upload("one", 1)
	out, err = complete("one", id, ps)
	if err != nil || unquote(aws.ToString(out.ETag)) != multipartETag(datas...) {
		t.Fatalf("single-part upload: %v, ETag %s", err, aws.ToString(out.ETag))
	}
	// A completion naming no parts: MalformedXML.
	id, _, _ = upload("none")
	_, err = complete("none", id, nil)
	if c, s, _ := awsErr(err); s != 400 || (c != "MalformedXML" && c != "InvalidRequest") {
		t.Fatalf("completion without parts: %v", err)
	}
	// Multipart onto keys that nest: a/b as a multipart object next to a/b/c.
	mustPut(t, ac, "small", "n/b/c", []byte("deeper"))
	id, ps, datas = upload("n/b", 6)
	if _, err := complete("n/b", id, ps); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, ac, "small", "n/b"); !bytes.Equal(got, datas[0]) {
		t.Fatal("multipart n/b")
	}
	if got := mustGet(t, ac, "small", "n/b/c"); string(got) != "deeper" {
		t.Fatal("n/b/c lost")
	}
	// Completing again (a retry after a lost reply) answers with the same
	// object; the same upload ID under another key is NoSuchUpload and
	// creates nothing there.
	id, ps, datas = upload("twice", 10)
	first, err := complete("twice", id, ps)
	if err != nil {
		t.Fatal(err)
	}
	again, err := complete("twice", id, ps)
	if err == nil && aws.ToString(again.ETag) != aws.ToString(first.ETag) {
		t.Fatalf("repeated completion: ETag %s, first %s", aws.ToString(again.ETag), aws.ToString(first.ETag))
	} else if err != nil {
		wantAWSErr(t, "repeated completion", err, "NoSuchUpload", 404)
	}
	_, err = complete("elsewhere", id, ps)
	wantAWSErr(t, "completion of a completed upload under another key", err, "NoSuchUpload", 404)
	_, err = ac.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("small"), Key: aws.String("elsewhere")})
	wantAWSErr(t, "HeadObject of the other key", err, "", 404)
	if got := mustGet(t, ac, "small", "twice"); !bytes.Equal(got, datas[0]) {
		t.Fatal("twice: bytes differ")
	}
	// And a marker key via multipart.
	id, ps, datas = upload("n/m/", 3)
	if _, err := complete("n/m/", id, ps); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, ac, "small", "n/m/"); !bytes.Equal(got, datas[0]) {
		t.Fatal("multipart n/m/")
	}
}

// TestListMultipartUploadsPaging: several uploads of one key and of
// others, paged one at a time with key-marker and upload-id-marker: each
// appears exactly once, in key order.
func TestListMultipartUploadsPaging(t *testing.T) {
	g := startGateway(t, testcluster.Options{})
	ac := g.aws(t, testSK)
	ctx := testCtx(t)
	mustCreateBucket(t, ac, "uploads")
	want := map[string]string{} // upload ID -> key
	for _, k := range []string{"k/a", "k/b", "k/a", "k/a", "k/c", "k/b", "k/a", "other", "k/a"} {
		cu, err := ac.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("uploads"), Key: aws.String(k)})
		if err != nil {
			t.Fatal(err)
		}
		want[aws.ToString(cu.UploadId)] = k
	}
	for _, maxUploads := range []int32{1, 2, 4, 1000} {
		in := &awss3.ListMultipartUploadsInput{Bucket: aws.String("uploads"), Prefix: aws.String("k/"), MaxUploads: aws.Int32(maxUploads)}
		seen := map[string]int{}
		var keys []string
		for page := 0; ; page++ {
			if page > len(want)+1 {
				t.Fatalf("max-uploads %d: listing does not end", maxUploads)
			}
			out, err := ac.ListMultipartUploads(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Uploads) > int(maxUploads) {
				t.Fatalf("max-uploads %d: page of %d", maxUploads, len(out.Uploads))
			}
			for _, u := range out.Uploads {
				seen[aws.ToString(u.UploadId)]++
				keys = append(keys, aws.ToString(u.Key))
				if want[aws.ToString(u.UploadId)] != aws.ToString(u.Key) {
					t.Fatalf("upload %s listed for key %q", aws.ToString(u.UploadId), aws.ToString(u.Key))
				}
			}
			if !aws.ToBool(out.IsTruncated) {
				break
			}
			in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
		}
		n := 0
		for id, k := range want {
			if strings.HasPrefix(k, "k/") {
				n++
				if seen[id] != 1 {
					t.Fatalf("max-uploads %d: upload %s of %q listed %d times", maxUploads, id, k, seen[id])
				}
			}
		}
		if len(keys) != n || !slices.IsSorted(keys) {
			t.Fatalf("max-uploads %d: keys %q", maxUploads, keys)
		}
	}
}

// TestUploadPartCopy: parts copied from existing objects by range.
func TestUploadPartCopy(t *testing.T) {
	g := startGateway(t, testcluster.Options{})
	ac := g.aws(t, testSK)
	core := g.minioCore(t)
	ctx := testCtx(t)
	mustCreateBucket(t, ac, "pcopy")
	src := testcluster.RandBytes(21, 12*mib+77)
	srcETag := mustPut(t, ac, "pcopy", "source obj", src)
	cu, err := ac.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("pcopy"), Key: aws.String("assembled")})
	if err != nil {
		t.Fatal(err)
	}
	ranges := [][2]int{{0, 5*mib - 1}, {5 * mib, 11*mib - 1}}
	var ps []types.CompletedPart
	var datas [][]byte
	for i, r := range ranges {
		out, err := ac.UploadPartCopy(ctx, &awss3.UploadPartCopyInput{Bucket: aws.String("pcopy"), Key: aws.String("assembled"), UploadId: cu.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), CopySource: aws.String("pcopy/source%20obj"), CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", r[0], r[1])),
			CopySourceIfMatch: aws.String(srcETag)})
		if err != nil {
			t.Fatalf("UploadPartCopy %d: %v", i+1, err)
		}
		d := src[r[0] : r[1]+1]
		if unquote(aws.ToString(out.CopyPartResult.ETag)) != md5hex(d) {
			t.Fatalf("UploadPartCopy %d: ETag %s, want %s", i+1, aws.ToString(out.CopyPartResult.ETag), md5hex(d))
		}
		ps = append(ps, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.CopyPartResult.ETag})
		datas = append(datas, d)
	}
	// Part 3: a whole small object copied (no range) via minio's core API.
	mustPut(t, ac, "pcopy", "tail", []byte("the tail"))
	cp, err := core.CopyObjectPart(ctx, "pcopy", "tail", "pcopy", "assembled", aws.ToString(cu.UploadId), 3, 0, -1, nil)
	if err != nil {
		t.Fatal(err)
	}
	ps = append(ps, types.CompletedPart{PartNumber: aws.Int32(3), ETag: aws.String(cp.ETag)})
	datas = append(datas, []byte("the tail"))
	// Part 4: uploaded normally.
	last := testcluster.RandBytes(22, 1000)
	up, err := ac.UploadPart(ctx, &awss3.UploadPartInput{Bucket: aws.String("pcopy"), Key: aws.String("assembled"), UploadId: cu.UploadId,
		PartNumber: aws.Int32(4), Body: bytes.NewReader(last)})
	if err != nil {
		t.Fatal(err)
	}
	_ = up
	// Errors: a range past the source, a failed condition, a missing source.
	bad := []struct {
		name, rng, ifMatch, src, code string
		status                        int
	}{
		{"range past the end", fmt.Sprintf("bytes=0-%d", len(src)), "", "pcopy/source%20obj", "InvalidArgument", 400},
		{"range starting past the end", fmt.Sprintf("bytes=%d-%d", len(src)+1, len(src)+5), "", "pcopy/source%20obj", "InvalidArgument", 400},
		{"suffix range", "bytes=-100", "", "pcopy/source%20obj", "InvalidArgument", 400},
		{"if-match mismatch", "", `"00000000000000000000000000000000"`, "pcopy/source%20obj", "PreconditionFailed", 412},
		{"missing source", "", "", "pcopy/nope", "NoSuchKey", 404},
	}
	for _, b := range bad {
		in := &awss3.UploadPartCopyInput{Bucket: aws.String("pcopy"), Key: aws.String("assembled"), UploadId: cu.UploadId,
			PartNumber: aws.Int32(9), CopySource: aws.String(b.src)}
		if b.rng != "" {
			in.CopySourceRange = aws.String(b.rng)
		}
		if b.ifMatch != "" {
			in.CopySourceIfMatch = aws.String(b.ifMatch)
		}
		_, err := ac.UploadPartCopy(ctx, in)
		wantAWSErr(t, "UploadPartCopy "+b.name, err, b.code, b.status)
	}
	_, err = ac.UploadPartCopy(ctx, &awss3.UploadPartCopyInput{Bucket: aws.String("pcopy"), Key: aws.String("assembled"), UploadId: aws.String("nope"),
		PartNumber: aws.Int32(1), CopySource: aws.String("pcopy/tail")})
	wantAWSErr(t, "UploadPartCopy to an unknown upload", err, "NoSuchUpload", 404)

	ps = append(ps, types.CompletedPart{PartNumber: aws.Int32(4), ETag: up.ETag})
	datas = append(datas, last)
	_, err = ac.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: aws.String("pcopy"), Key: aws.String("assembled"),
		UploadId: cu.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: ps}})
	wantAWSErr(t, "completion with the 8-byte copied part third", err, "EntityTooSmall", 400)
	ps = append(ps[:2], ps[3]) // parts 1, 2, 4
	datas = append(datas[:2], datas[3])
	out, err := ac.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: aws.String("pcopy"), Key: aws.String("assembled"),
		UploadId: cu.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: ps}})
	if err != nil {
		t.Fatal(err)
	}
	if unquote(aws.ToString(out.ETag)) != multipartETag(datas...) {
		t.Fatalf("ETag %s, want %s", aws.ToString(out.ETag), multipartETag(datas...))
	}
	if got := mustGet(t, ac, "pcopy", "assembled"); !bytes.Equal(got, bytes.Join(datas, nil)) {
		t.Fatalf("assembled object: %d bytes differ", len(got))
	}
}

// TestMinioLargeStream: minio-go's PutObject of a 70 MiB stream of unknown
// length with 16 MiB parts goes multipart; the object reads back intact
// with S3's multipart ETag.
func TestMinioLargeStream(t *testing.T) {
	size, partSize := 70*mib, 16*mib
	if testing.Short() {
		size, partSize = 12*mib, 5*mib
	}
	g := startGateway(t, testcluster.Options{})
	mc := g.minio(t)
	ctx := testCtx(t)
	if err := mc.MakeBucket(ctx, "stream", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	data := testcluster.RandBytes(31, size)
	// An io.Reader only (no Seek, no ReadAt), size unknown (-1).
	info, err := mc.PutObject(ctx, "stream", "dir/big stream", struct{ io.Reader }{bytes.NewReader(data)}, -1,
		minio.PutObjectOptions{PartSize: uint64(partSize), ContentType: "application/x-stream", UserMetadata: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	var parts [][]byte
	for off := 0; off < size; off += partSize {
		parts = append(parts, data[off:min(off+partSize, size)])
	}
	wantETag := multipartETag(parts...)
	if info.ETag != wantETag || info.Size != int64(size) {
		t.Fatalf("PutObject: ETag %s size %d; want %s, %d", info.ETag, info.Size, wantETag, size)
	}
	st, err := mc.StatObject(ctx, "stream", "dir/big stream", minio.StatObjectOptions{})
	if err != nil || st.Size != int64(size) || st.ETag != wantETag || st.ContentType != "application/x-stream" || st.UserMetadata["K"] != "v" {
		t.Fatalf("StatObject: %v %+v", err, st)
	}
	o, err := mc.GetObject(ctx, "stream", "dir/big stream", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h := md5.New()
	n, err := io.Copy(h, o)
	o.Close()
	if err != nil || n != int64(size) || fmt.Sprintf("%x", h.Sum(nil)) != md5hex(data) {
		t.Fatalf("GetObject: %v, %d bytes, MD5 %x want %s", err, n, h.Sum(nil), md5hex(data))
	}
	// No upload left behind.
	for u := range mc.ListIncompleteUploads(ctx, "stream", "", true) {
		t.Fatalf("incomplete upload left: %+v", u)
	}
	// minio-go's RemoveIncompleteUpload removes one started by hand.
	core := g.minioCore(t)
	id, err := core.NewMultipartUpload(ctx, "stream", "abandoned", minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := core.PutObjectPart(ctx, "stream", "abandoned", id, 1, bytes.NewReader(data[:1000]), 1000, minio.PutObjectPartOptions{}); err != nil {
		t.Fatal(err)
	}
	lp, err := core.ListObjectParts(ctx, "stream", "abandoned", id, 0, 10)
	if err != nil || len(lp.ObjectParts) != 1 || lp.ObjectParts[0].Size != 1000 {
		t.Fatalf("minio ListObjectParts: %v %+v", err, lp.ObjectParts)
	}
	var seen []string
	for u := range mc.ListIncompleteUploads(ctx, "stream", "aband", true) {
		seen = append(seen, u.Key+" "+u.UploadID)
	}
	if len(seen) != 1 || seen[0] != "abandoned "+id {
		t.Fatalf("ListIncompleteUploads: %q", seen)
	}
	if err := mc.RemoveIncompleteUpload(ctx, "stream", "abandoned"); err != nil {
		t.Fatal(err)
	}
	_, err = core.ListObjectParts(ctx, "stream", "abandoned", id, 0, 10)
	wantMinioErr(t, "ListObjectParts after RemoveIncompleteUpload", err, "NoSuchUpload", 404)
}

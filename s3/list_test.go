package s3_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"

	"github.com/cairnfs/cairn/internal/testcluster"
)

// ---- the reference model of an S3 listing ----

// listItem is one entry of a listing: a key or a common prefix.
type listItem struct {
	s  string
	cp bool
}

// modelItems is S3's listing computed the simple way: sort the keys
// bytewise (UTF-8 binary order), keep those with the prefix, roll each up
// to its common prefix (prefix + up to the first delimiter after it), drop
// repeats, and keep the items after startAfter (a key or common prefix
// at or before the resume point is not returned again).
func modelItems(keys []string, prefix, delim, startAfter string) []listItem {
	sorted := slices.Clone(keys)
	sort.Strings(sorted)
	var out []listItem
	for _, k := range sorted {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		it := listItem{s: k}
		if delim != "" {
			if i := strings.Index(k[len(prefix):], delim); i >= 0 {
				it = listItem{s: k[:len(prefix)+i+len(delim)], cp: true}
			}
		}
		if it.s <= startAfter {
			continue
		}
		if n := len(out); n > 0 && out[n-1] == it {
			continue
		}
		out = append(out, it)
	}
	return out
}

// listPage is one page of a listing as S3 returns it.
type listPage struct {
	keys, prefixes []string
	truncated      bool
}

func (p listPage) String() string {
	return fmt.Sprintf("keys=%q prefixes=%q truncated=%v", p.keys, p.prefixes, p.truncated)
}

func modelPages(keys []string, prefix, delim, startAfter string, maxKeys int) []listPage {
	items := modelItems(keys, prefix, delim, startAfter)
	var pages []listPage
	for len(items) > 0 || len(pages) == 0 {
		n := min(maxKeys, len(items))
		var p listPage
		for _, it := range items[:n] {
			if it.cp {
				p.prefixes = append(p.prefixes, it.s)
			} else {
				p.keys = append(p.keys, it.s)
			}
		}
		items = items[n:]
		p.truncated = len(items) > 0
		pages = append(pages, p)
	}
	return pages
}

func TestListModelSelfCheck(t *testing.T) {
	keys := []string{"a/b/c", "a/b", "a/b/", "a/b-c", "a", "a-b", "a/", "a!x", "a.b"}
	got := modelItems(keys, "", "", "")
	want := []string{"a", "a!x", "a-b", "a.b", "a/", "a/b", "a/b-c", "a/b/", "a/b/c"}
	var s []string
	for _, it := range got {
		s = append(s, it.s)
	}
	if !slices.Equal(s, want) {
		t.Fatalf("model order %q, want %q", s, want)
	}
	got = modelItems(keys, "a", "/", "")
	if fmt.Sprint(got) != "[{a false} {a!x false} {a-b false} {a.b false} {a/ true}]" {
		t.Fatalf("model rollup %v", got)
	}
	got = modelItems(keys, "", "-", "a-")
	if fmt.Sprint(got) != "[{a.b false} {a/ false} {a/b false} {a/b- true} {a/b/ false} {a/b/c false}]" {
		t.Fatalf("model rollup with start-after %v", got)
	}
}

// ---- keys that stress the mapping onto the namespace ----

func listModelKeys(n int) []string {
	keys := []string{
		"a", "a/b", "a/b/c", "a-b", "a.b", "a/b-c", "a/b/", "a/", "a!x",
		"a/b/c/d", "a/b.c", "a/b0", "a/b/c-d", "a/bc", "a/b~", "a/b_", "a/b,c", "a/b(c", "a/b*c", "a/b!",
		// directories whose names sort differently from their keys
		"a/b-c/d", "a/b.c/d", "a/b!/d", "a/b,/x",
		"q/1", "q-r/1", "q-r", "q.r/1", "q0/1", "q!/1", "q", "q/", "q-/x", "q-/", "q-r-s/1", "q-r.s/1",
		"b", "b/", "b/c/", "b/c/d/", "b/c/d/e",
		"d/e/f/g/h/i", "d/e/f/g/h/j", "d/e/f-g", "d/e/f/g-h/i", "d/e/f.g/h", "d/e/f/g/h", "d/e/f/g/",
		// unicode: UTF-8 byte order, not UTF-16 or rune order tricks
		"é", "é/x", "é-x", "ü-ber", "日本/語", "日本語", "日本", "a/é", "ｚ", "😀", "😀/x", "été", "zÿ", "\uffef", "\U0001F600-a",
		// spaces, plus signs and characters that need escaping in URLs and XML
		"a b", "a+b", "a b/c", "sp ace/x y", "+/x", "a/+", "a/ b", "a/ b/c", "100%", "50%/off", "x&y", "x<y>", "it's", "eq=1", "q?x", "h#1",
		".hidden", "a/.b", "x/.cairn", ".cairn.objx", "-", "-/-", "--", "!", "~",
	}
	seen := map[string]bool{}
	for _, k := range keys {
		seen[k] = true
	}
	segs := []string{"a", "b", "a-b", "a.b", "a b", "a+b", "é", "a!", "c", "c-", "c.d", "x~", "日", "b0", "b-"}
	r := rand.New(rand.NewPCG(7, 11))
	for len(keys) < n {
		n := 1 + r.IntN(4)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = segs[r.IntN(len(segs))]
		}
		k := strings.Join(parts, "/")
		if r.IntN(10) == 0 {
			k += "/"
		}
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	return keys
}

// TestListModel PUTs ~300 keys that stress ordering and the namespace
// mapping and compares, page by page, ListObjectsV2 and ListObjects (v1)
// with the model for many prefix / delimiter / max-keys / start-after
// combinations.
func TestListModel(t *testing.T) {
	// Not parallel: each listing makes many metadata round trips in a row,
	// and their latency grows badly when other tests load the CPU.
	g := startGateway(t, testcluster.Options{})
	ac := g.aws(t, testSK)
	ctx := testCtx(t)
	const bucket = "model"
	mustCreateBucket(t, ac, bucket)
	// -short (and the race detector, which makes each listing's many
	// metadata calls slow) gets the hand-picked keys and fewer cases.
	short := testing.Short()
	nKeys := 300
	if short {
		nKeys = 0
	}
	keys := listModelKeys(nKeys)
	start := time.Now()
	err := forEach(len(keys), 8, func(i int) error {
		_, err := ac.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(keys[i]),
			Body: strings.NewReader(keys[i])})
		if err != nil {
			return fmt.Errorf("PutObject %q: %w", keys[i], err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("put %d keys in %v", len(keys), time.Since(start))
	// Every key reads back with its own content (the keys are their bodies).
	err = forEach(len(keys), 8, func(i int) error {
		out, err := ac.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(keys[i])})
		if err != nil {
			return fmt.Errorf("GetObject %q: %w", keys[i], err)
		}
		defer out.Body.Close()
		if b, err := io.ReadAll(out.Body); err != nil || string(b) != keys[i] {
			return fmt.Errorf("GetObject %q returned %q (%v)", keys[i], b, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	prefixes := []string{"", "a", "a/", "a/b", "a/b/", "a/b/c", "a-", "a.", "b/", "d/e/", "d/e/f", "q", "q-", "q-r",
		"é", "日本", "a b", "zzz", "x<", "a//", "//", "a/./", "../", "a/../", "/", "a/b//"}
	delims := []string{"", "/", "-", ".", "b"}
	afters := []string{"a", "a/b", "a-", "a/b-c", "a/b/", "b", "é", "a/b/c/d", "q-r", "a/b/c/", "a/b~", "a!", "a/b-",
		"q-", "d/e/f/g/h/i/j", "a0", "日本/", "a/b,", "q/", "\U0001F600", "a/b/c-d0", "~~"}
	maxPages := 10
	if short {
		prefixes = []string{"", "a", "a/", "a/b", "a/b/", "q", "q-", "é", "d/e/f", "a//", "../"}
		delims = []string{"", "/", "-"}
		maxPages = 5
	}
	sizes := []int{1, 2, 3, 5, 7}
	var requests atomic.Int64
	start = time.Now()
	type pd struct{ prefix, delim string }
	var combos []pd
	for _, prefix := range prefixes {
		for _, delim := range delims {
			combos = append(combos, pd{prefix, delim})
		}
	}
	// The combinations run 4 at a time (the listings only read).
	err = forEach(len(combos), 4, func(ci int) error {
		return catchFatal(func(t fataler) {
			combo, prefix, delim := ci+1, combos[ci].prefix, combos[ci].delim
			n := len(modelItems(keys, prefix, delim, ""))
			enc := combo%2 == 0
			requests.Add(checkListV2(t, ac, bucket, keys, prefix, delim, "", 1000, enc))
			requests.Add(checkListV1(t, ac, bucket, keys, prefix, delim, "", 1000, !enc))
			// Small pages, but at most maxPages of them per pass to bound the time.
			size := max(sizes[combo%len(sizes)], (n+maxPages-1)/maxPages)
			if combo%2 == 0 {
				requests.Add(checkListV2(t, ac, bucket, keys, prefix, delim, "", size, enc))
			} else {
				requests.Add(checkListV1(t, ac, bucket, keys, prefix, delim, "", size, enc))
			}
			for j := range 2 {
				if short && j == 1 {
					break
				}
				after := afters[(combo*2+j)%len(afters)]
				if j == 1 && prefix != "" {
					after = prefix + after // resume points inside the prefix
				}
				m := []int{1000, max(3, (len(modelItems(keys, prefix, delim, after))+maxPages/2-1)/(maxPages/2))}[j]
				requests.Add(checkListV2(t, ac, bucket, keys, prefix, delim, after, m, !enc))
				requests.Add(checkListV1(t, ac, bucket, keys, prefix, delim, after, m, enc))
			}
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d listing requests in %v", requests.Load(), time.Since(start))

	// minio-go's listing (v2 with encoding-type=url, and v1) agrees too.
	mc := g.minio(t)
	minioPrefixes := []string{"", "a/", "a/b", "a/b/", "d/e/f", "é", "q", "日本"}
	if short {
		minioPrefixes = []string{"", "a/b", "q"}
	}
	for _, prefix := range minioPrefixes {
		for _, recursive := range []bool{false, true} {
			for _, v1 := range []bool{false, true} {
				delim := "/"
				if recursive {
					delim = ""
				}
				var want []string
				for _, it := range modelItems(keys, prefix, delim, "") {
					want = append(want, it.s)
				}
				// minio-go hands out each page's keys, then its prefixes:
				// only a recursive listing keeps S3's order end to end.
				var got []string
				for o := range mc.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: recursive, UseV1: v1, MaxKeys: 7}) {
					if o.Err != nil {
						t.Fatalf("minio ListObjects prefix %q: %v", prefix, o.Err)
					}
					got = append(got, o.Key)
					if len(got) > len(keys)+1 {
						t.Fatal("minio listing does not end")
					}
				}
				if !recursive {
					sort.Strings(got)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("minio ListObjects(prefix %q, recursive %v, v1 %v):\n got %q\nwant %q", prefix, recursive, v1, got, want)
				}
			}
		}
	}

	// Delete a third of the keys (batch deletes, 1000 at most each), which
	// un-nests objects and prunes directories, and compare again.
	var gone []types.ObjectIdentifier
	var left []string
	for i, k := range keys {
		if i%3 == 1 || strings.HasPrefix(k, "a/b/") || k == "q" {
			gone = append(gone, types.ObjectIdentifier{Key: aws.String(k)})
		} else {
			left = append(left, k)
		}
	}
	out, err := ac.DeleteObjects(ctx, &awss3.DeleteObjectsInput{Bucket: aws.String(bucket), Delete: &types.Delete{Objects: gone, Quiet: aws.Bool(true)}})
	if err != nil || len(out.Errors) != 0 {
		t.Fatalf("DeleteObjects: %v %v", err, out.Errors)
	}
	keys = left
	err = forEach(len(combos), 4, func(ci int) error {
		return catchFatal(func(t fataler) {
			prefix, delim := combos[ci].prefix, combos[ci].delim
			if ci%2 == 0 {
				n := len(modelItems(keys, prefix, delim, ""))
				checkListV2(t, ac, bucket, keys, prefix, delim, "", max(2, (n+maxPages-1)/maxPages), ci%4 == 0)
			} else {
				checkListV1(t, ac, bucket, keys, prefix, delim, "", 1000, ci%4 == 1)
			}
		})
	})
	if err != nil {
		t.Fatalf("after deleting a third of the keys: %v", err)
	}
}

func decodeList(t fataler, enc bool, s string) string {
	t.Helper()
	if !enc {
		return s
	}
	d, err := url.QueryUnescape(s)
	if err != nil {
		t.Fatalf("encoding-type=url value %q does not decode: %v", s, err)
	}
	return d
}

// fataler is what the listing checks need of a testing.T; catchFatal
// gives them one that works on any goroutine.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

type fatalPanic struct{ msg string }

type panicT struct{}

func (panicT) Helper() {}
func (panicT) Fatalf(format string, args ...any) {
	panic(fatalPanic{fmt.Sprintf(format, args...)})
}

func catchFatal(fn func(t fataler)) (err error) {
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(fatalPanic)
			if !ok {
				panic(r)
			}
			err = errors.New(f.msg)
		}
	}()
	fn(panicT{})
	return nil
}

// checkListV2 pages through ListObjectsV2 and compares every page with the
// model; it returns the number of requests made.
func checkListV2(t fataler, ac *awss3.Client, bucket string, keys []string, prefix, delim, after string, maxKeys int, enc bool) int64 {
	t.Helper()
	want := modelPages(keys, prefix, delim, after, maxKeys)
	what := fmt.Sprintf("ListObjectsV2(prefix %q, delimiter %q, start-after %q, max-keys %d, url %v)", prefix, delim, after, maxKeys, enc)
	in := &awss3.ListObjectsV2Input{Bucket: aws.String(bucket), MaxKeys: aws.Int32(int32(maxKeys))}
	if prefix != "" {
		in.Prefix = aws.String(prefix)
	}
	if delim != "" {
		in.Delimiter = aws.String(delim)
	}
	if after != "" {
		in.StartAfter = aws.String(after)
	}
	if enc {
		in.EncodingType = types.EncodingTypeUrl
	}
	for i := 0; ; i++ {
		if i >= len(want) {
			t.Fatalf("%s: more than the %d pages expected", what, len(want))
		}
		out, err := ac.ListObjectsV2(context.Background(), in)
		if err != nil {
			t.Fatalf("%s page %d: %v", what, i, err)
		}
		var got listPage
		for _, o := range out.Contents {
			k := decodeList(t, enc, aws.ToString(o.Key))
			got.keys = append(got.keys, k)
			if aws.ToInt64(o.Size) != int64(len(k)) || unquote(aws.ToString(o.ETag)) != md5hex([]byte(k)) {
				t.Fatalf("%s: key %q listed with size %d ETag %s; want %d, %s", what, k, aws.ToInt64(o.Size), aws.ToString(o.ETag), len(k), md5hex([]byte(k)))
			}
			if o.Owner != nil {
				t.Fatalf("%s: Owner listed without fetch-owner", what)
			}
			if o.LastModified == nil || time.Since(*o.LastModified) > time.Hour || time.Until(*o.LastModified) > time.Minute {
				t.Fatalf("%s: key %q LastModified %v", what, k, o.LastModified)
			}
		}
		for _, p := range out.CommonPrefixes {
			got.prefixes = append(got.prefixes, decodeList(t, enc, aws.ToString(p.Prefix)))
		}
		got.truncated = aws.ToBool(out.IsTruncated)
		if got.String() != want[i].String() {
			t.Fatalf("%s page %d:\n got %v\nwant %v", what, i, got, want[i])
		}
		if int(aws.ToInt32(out.KeyCount)) != len(got.keys)+len(got.prefixes) {
			t.Fatalf("%s: KeyCount %d for %d entries", what, aws.ToInt32(out.KeyCount), len(got.keys)+len(got.prefixes))
		}
		if enc != (out.EncodingType == types.EncodingTypeUrl) {
			t.Fatalf("%s: EncodingType %q in the reply", what, out.EncodingType)
		}
		if decodeList(t, enc, aws.ToString(out.Prefix)) != prefix || decodeList(t, enc, aws.ToString(out.Delimiter)) != delim ||
			decodeList(t, enc, aws.ToString(out.StartAfter)) != after {
			t.Fatalf("%s: echoed Prefix %q Delimiter %q StartAfter %q", what, aws.ToString(out.Prefix), aws.ToString(out.Delimiter), aws.ToString(out.StartAfter))
		}
		if aws.ToString(out.ContinuationToken) != aws.ToString(in.ContinuationToken) {
			t.Fatalf("%s: echoed ContinuationToken %q, sent %q", what, aws.ToString(out.ContinuationToken), aws.ToString(in.ContinuationToken))
		}
		if !got.truncated {
			if out.NextContinuationToken != nil {
				t.Fatalf("%s: NextContinuationToken on the last page", what)
			}
			return int64(i + 1)
		}
		if aws.ToString(out.NextContinuationToken) == "" {
			t.Fatalf("%s: truncated without NextContinuationToken", what)
		}
		in.ContinuationToken = out.NextContinuationToken
	}
}

// checkListV1 pages through ListObjects (v1) with markers.
func checkListV1(t fataler, ac *awss3.Client, bucket string, keys []string, prefix, delim, marker string, maxKeys int, enc bool) int64 {
	t.Helper()
	want := modelPages(keys, prefix, delim, marker, maxKeys)
	what := fmt.Sprintf("ListObjects(prefix %q, delimiter %q, marker %q, max-keys %d, url %v)", prefix, delim, marker, maxKeys, enc)
	in := &awss3.ListObjectsInput{Bucket: aws.String(bucket), MaxKeys: aws.Int32(int32(maxKeys))}
	if prefix != "" {
		in.Prefix = aws.String(prefix)
	}
	if delim != "" {
		in.Delimiter = aws.String(delim)
	}
	if marker != "" {
		in.Marker = aws.String(marker)
	}
	if enc {
		in.EncodingType = types.EncodingTypeUrl
	}
	for i := 0; ; i++ {
		if i >= len(want) {
			t.Fatalf("%s: more than the %d pages expected", what, len(want))
		}
		out, err := ac.ListObjects(context.Background(), in)
		if err != nil {
			t.Fatalf("%s page %d: %v", what, i, err)
		}
		var got listPage
		for _, o := range out.Contents {
			got.keys = append(got.keys, decodeList(t, enc, aws.ToString(o.Key)))
			if o.Owner == nil || aws.ToString(o.Owner.ID) == "" {
				t.Fatalf("%s: v1 listing without Owner", what)
			}
		}
		for _, p := range out.CommonPrefixes {
			got.prefixes = append(got.prefixes, decodeList(t, enc, aws.ToString(p.Prefix)))
		}
		got.truncated = aws.ToBool(out.IsTruncated)
		if got.String() != want[i].String() {
			t.Fatalf("%s page %d:\n got %v\nwant %v", what, i, got, want[i])
		}
		if decodeList(t, enc, aws.ToString(out.Marker)) != aws.ToString(in.Marker) {
			t.Fatalf("%s: echoed Marker %q, sent %q", what, aws.ToString(out.Marker), aws.ToString(in.Marker))
		}
		if !got.truncated {
			return int64(i + 1)
		}
		next := decodeList(t, enc, aws.ToString(out.NextMarker))
		if next == "" {
			if delim != "" {
				t.Fatalf("%s: truncated with a delimiter but no NextMarker", what)
			}
			next = got.keys[len(got.keys)-1]
		}
		in.Marker = aws.String(next)
	}
}

// TestListManyKeys lists 10,000 keys (100 prefixes × 100 keys) with and
// without a delimiter through minio-go and aws-sdk-go-v2's paginator.
func TestListManyKeys(t *testing.T) {
	nPrefix, nKeys := 100, 100
	if testing.Short() {
		nPrefix, nKeys = 12, 25
	}
	g := startGateway(t, testcluster.Options{})
	ac := g.aws(t, testSK)
	mc := g.minio(t)
	ctx := testCtx(t)
	const bucket = "many"
	mustCreateBucket(t, ac, bucket)
	var keys []string
	for p := range nPrefix {
		for k := range nKeys {
			keys = append(keys, fmt.Sprintf("p%03d/k%03d", p, k))
		}
	}
	mid := fmt.Sprintf("p%03d", nPrefix/2)
	keys = append(keys, mid, mid+"-x", mid+"/", "top") // a key named like a prefix, and a marker
	start := time.Now()
	// Raw UNSIGNED-PAYLOAD PUTs: the listing is under test here, and the
	// SDKs' per-request overhead would dominate the run time.
	g.putMany(t, bucket, keys, func(i int) []byte {
		if i%97 == 0 {
			return []byte(keys[i])
		}
		return nil
	})
	t.Logf("put %d keys in %v", len(keys), time.Since(start))
	sort.Strings(keys)
	start = time.Now()

	// Recursive, through the aws paginator (max 1000 per page).
	var got []string
	pages := 0
	pg := awss3.NewListObjectsV2Paginator(ac, &awss3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for pg.HasMorePages() {
		out, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if pages++; pages > len(keys)/1000+2 {
			t.Fatal("too many pages")
		}
		if len(out.Contents) > 1000 {
			t.Fatalf("page of %d keys", len(out.Contents))
		}
		for _, o := range out.Contents {
			got = append(got, aws.ToString(o.Key))
		}
	}
	if !slices.Equal(got, keys) {
		t.Fatalf("aws paginator listed %d keys (first %q), want %d", len(got), got[:min(3, len(got))], len(keys))
	}

	// With delimiter "/": the prefixes and the top-level keys.
	wantTop := modelItems(keys, "", "/", "")
	var gotTop []listItem
	pg = awss3.NewListObjectsV2Paginator(ac, &awss3.ListObjectsV2Input{Bucket: aws.String(bucket), Delimiter: aws.String("/"), MaxKeys: aws.Int32(30)})
	for pages = 0; pg.HasMorePages(); pages++ {
		if pages > len(wantTop)/30+2 {
			t.Fatal("too many pages")
		}
		out, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var page []listItem
		for _, o := range out.Contents {
			page = append(page, listItem{s: aws.ToString(o.Key)})
		}
		for _, p := range out.CommonPrefixes {
			page = append(page, listItem{s: aws.ToString(p.Prefix), cp: true})
		}
		sort.Slice(page, func(i, j int) bool { return page[i].s < page[j].s })
		gotTop = append(gotTop, page...)
	}
	if !slices.Equal(gotTop, wantTop) {
		t.Fatalf("delimited listing: got %d items, want %d (%v...)", len(gotTop), len(wantTop), gotTop[:min(5, len(gotTop))])
	}
	if len(wantTop) != nPrefix+3 { // mid, mid-x and top; mid/ rolls into mid/
		t.Fatalf("model has %d top-level items", len(wantTop))
	}

	// minio-go: recursive (v2), v1, and one prefix with delimiter.
	for _, v1 := range []bool{false, true} {
		got = got[:0]
		for o := range mc.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true, UseV1: v1}) {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
			got = append(got, o.Key)
			if len(got) > len(keys) {
				break
			}
		}
		if !slices.Equal(got, keys) {
			t.Fatalf("minio ListObjects (v1 %v) listed %d keys, want %d", v1, len(got), len(keys))
		}
	}
	got = got[:0]
	for o := range mc.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: "p007/"}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		got = append(got, o.Key)
	}
	if len(got) != nKeys || got[0] != "p007/k000" || got[nKeys-1] != fmt.Sprintf("p007/k%03d", nKeys-1) || !slices.IsSorted(got) {
		t.Fatalf("minio ListObjects p007/: %d keys %q...", len(got), got[:min(3, len(got))])
	}
	t.Logf("listings took %v", time.Since(start))
}

// TestListEncodingAndOptions covers encoding-type=url on keys with spaces,
// plus signs and unicode, fetch-owner, max-keys limits, and listing errors.
func TestListEncodingAndOptions(t *testing.T) {
	g := startGateway(t, testcluster.Options{})
	ac := g.aws(t, testSK)
	ctx := testCtx(t)
	const bucket = "enc"
	mustCreateBucket(t, ac, bucket)
	keys := []string{"a b/c d", "a+b", "é/ü", "日本 語", "x%20y", "pct%", "amp&lt;", "tab\tkey", "sl/ash+ plus"}
	for _, k := range keys {
		mustPut(t, ac, bucket, k, []byte(k))
	}
	sort.Strings(keys)

	// Without encoding-type the keys come back raw.
	out, err := ac.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	var raw []string
	for _, o := range out.Contents {
		raw = append(raw, aws.ToString(o.Key))
	}
	if !slices.Equal(raw, keys) {
		t.Fatalf("raw keys %q, want %q", raw, keys)
	}
	// With encoding-type=url every key is percent-encoded: no raw space,
	// '+' or non-ASCII byte, and it decodes back to the key.
	out, err = ac.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String(bucket), EncodingType: types.EncodingTypeUrl,
		Prefix: aws.String("a"), Delimiter: aws.String(" ")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.Delimiter) != "%20" {
		t.Fatalf("encoded delimiter %q, want %%20", aws.ToString(out.Delimiter))
	}
	if len(out.CommonPrefixes) != 1 || aws.ToString(out.CommonPrefixes[0].Prefix) != "a%20" {
		t.Fatalf("encoded common prefixes %v", out.CommonPrefixes)
	}
	out, err = ac.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String(bucket), EncodingType: types.EncodingTypeUrl})
	if err != nil {
		t.Fatal(err)
	}
	var dec []string
	for _, o := range out.Contents {
		k := aws.ToString(o.Key)
		for i := 0; i < len(k); i++ {
			if c := k[i]; c == ' ' || c == '+' || c >= 0x80 || c == '\t' {
				t.Fatalf("encoded key %q has a raw %q", k, c)
			}
		}
		dec = append(dec, decodeList(t, true, k))
	}
	if !slices.Equal(dec, keys) {
		t.Fatalf("decoded keys %q, want %q", dec, keys)
	}
	// minio-go always asks for url encoding and decodes.
	var mk []string
	for o := range g.minio(t).ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		mk = append(mk, o.Key)
	}
	if !slices.Equal(mk, keys) {
		t.Fatalf("minio keys %q, want %q", mk, keys)
	}

	// fetch-owner.
	out, err = ac.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String(bucket), FetchOwner: aws.Bool(true), MaxKeys: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Contents) != 2 || out.Contents[0].Owner == nil || aws.ToString(out.Contents[0].Owner.ID) == "" {
		t.Fatalf("fetch-owner=true: %d entries, owner %v", len(out.Contents), out.Contents[0].Owner)
	}
	if aws.ToInt32(out.MaxKeys) != 2 || !aws.ToBool(out.IsTruncated) || aws.ToInt32(out.KeyCount) != 2 {
		t.Fatalf("max-keys 2: MaxKeys %d truncated %v KeyCount %d", aws.ToInt32(out.MaxKeys), aws.ToBool(out.IsTruncated), aws.ToInt32(out.KeyCount))
	}
	// max-keys above 1000 is capped at 1000, as S3 does.
	out, err = ac.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String(bucket), MaxKeys: aws.Int32(5000)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(out.MaxKeys) != 1000 || len(out.Contents) != len(keys) {
		t.Fatalf("max-keys 5000: MaxKeys %d, %d keys", aws.ToInt32(out.MaxKeys), len(out.Contents))
	}
	// max-keys 0: nothing.
	out, err = ac.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String(bucket), MaxKeys: aws.Int32(0)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Contents) != 0 || aws.ToInt32(out.KeyCount) != 0 {
		t.Fatalf("max-keys 0 listed %d", len(out.Contents))
	}

	// Errors.
	_, err = ac.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("no-such-bucket")})
	wantAWSErr(t, "ListObjectsV2 of a missing bucket", err, "NoSuchBucket", 404)
	_, err = ac.ListObjects(ctx, &awss3.ListObjectsInput{Bucket: aws.String("no-such-bucket")})
	wantAWSErr(t, "ListObjects of a missing bucket", err, "NoSuchBucket", 404)
	_, err = ac.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String(bucket), ContinuationToken: aws.String("!!not-a-token!!")})
	wantAWSErr(t, "ListObjectsV2 with a bad continuation token", err, "InvalidArgument", 400)
	_, err = ac.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String(bucket), MaxKeys: aws.Int32(-1)})
	wantAWSErr(t, "ListObjectsV2 with max-keys -1", err, "InvalidArgument", 400)
	_, err = ac.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String(bucket), EncodingType: "base64"})
	wantAWSErr(t, "ListObjectsV2 with encoding-type base64", err, "InvalidArgument", 400)

	// Every key above is valid UTF-8 (S3 keys are).
	for _, k := range keys {
		if !utf8.ValidString(k) {
			t.Fatalf("test key %q", k)
		}
	}
}

package s3

import (
	"context"
	"encoding/base64"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/client"
)

// Listings walk the namespace in S3's order (UTF-8 binary order of keys).
// Directory entries come back in name order, which is not key order: key
// "a/b/x" (in directory a/b) sorts after "a/b-c" because '-' < '/'. The
// walker therefore holds a directory's subtree back until the entries
// that sort before it have been emitted. With delimiter "/", directories
// become common prefixes without being walked.

type listParams struct {
	prefix, delim, after string
	max                  int
}

type listing struct {
	objects   []object
	prefixes  []string
	truncated bool
	last      string // the last key or common prefix returned
}

type walker struct {
	g      *Gateway
	ctx    context.Context
	bucket string
	p      listParams
	out    listing
	lastCP string
}

func (g *Gateway) list(ctx context.Context, bucket string, p listParams) (*listing, error) {
	w := &walker{g: g, ctx: ctx, bucket: bucket, p: p}
	if p.max <= 0 {
		return &w.out, g.bucketExistsCtx(ctx, bucket)
	}
	segs := strings.Split(p.prefix, "/")
	dirKey := strings.Join(segs[:len(segs)-1], "/")
	if dirKey != "" && validKey(dirKey+"/") != nil {
		// No key can start with this prefix ("a//", "../", ...), and the
		// path it names would be folded onto another directory.
		return &w.out, g.bucketExistsCtx(ctx, bucket)
	}
	dir, P := "/"+bucket, ""
	if dirKey != "" {
		dir, P = dir+"/"+dirKey, dirKey+"/"
	}
	_, err := w.walk(dir, P)
	if k := cairn.KindOf(err); k == cairn.NotFound || k == cairn.NotDir {
		return &w.out, g.bucketExistsCtx(ctx, bucket)
	}
	return &w.out, err
}

func (g *Gateway) bucketExistsCtx(ctx context.Context, bucket string) error {
	return g.bucketExists(&request{ctx: ctx, bucket: bucket})
}

// item is what key contributes to the listing: itself, or the common
// prefix it rolls up into.
func (w *walker) item(key string) (string, bool) {
	if w.p.delim != "" {
		if i := strings.Index(key[len(w.p.prefix):], w.p.delim); i >= 0 {
			return key[:len(w.p.prefix)+i+len(w.p.delim)], true
		}
	}
	return key, false
}

// wanted says whether item would be emitted next (not before the resume
// point, not a repeat of the last common prefix).
func (w *walker) wanted(item string, cp bool) bool {
	return item > w.p.after && (!cp || item != w.lastCP)
}

// emit adds an item; false means the page is full (and truncated).
func (w *walker) emit(item string, cp bool, fi *client.FileInfo) bool {
	if !w.wanted(item, cp) {
		return true
	}
	if len(w.out.objects)+len(w.out.prefixes) >= w.p.max {
		w.out.truncated = true
		return false
	}
	w.out.last = item
	if cp {
		w.lastCP = item
		w.out.prefixes = append(w.out.prefixes, item)
		return true
	}
	w.out.objects = append(w.out.objects, object{Key: item, LastModified: isoTime(fi.ModTime()), ETag: etagOf(fi),
		Size: fi.Size(), StorageClass: "STANDARD"})
	return true
}

func (w *walker) emitKey(key string, fi *client.FileInfo) bool {
	if !strings.HasPrefix(key, w.p.prefix) {
		return true
	}
	item, cp := w.item(key)
	return w.emit(item, cp, fi)
}

// startName is the List position in a directory whose keys start with P:
// names before it cannot contribute (see the package comment on order).
func (w *walker) startName(P string) string {
	start := ""
	if a, ok := strings.CutPrefix(w.p.after, P); ok && a != "" {
		c, _, _ := strings.Cut(a, "/")
		j := strings.IndexFunc(c, func(r rune) bool { return r < '/' })
		if j < 0 {
			j = len(c)
		}
		start = c[:max(j-1, 0)]
	}
	if len(w.p.prefix) > len(P) {
		r := w.p.prefix[len(P):]
		start = max(start, r[:len(r)-1])
	}
	return validPrefix(start)
}

// validPrefix cuts s before its first invalid UTF-8 byte: dropping a byte
// above can split a character, and names travel as protobuf strings. A
// shorter start only lists more names, which the walker then skips.
func validPrefix(s string) string {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			return s[:i]
		}
		i += n
	}
	return s
}

// walk lists directory dir, whose keys start with P. false: stop.
func (w *walker) walk(dir, P string) (bool, error) {
	if P != "" && strings.HasPrefix(P, w.p.prefix) {
		if item, cp := w.item(P); w.wanted(item, cp) {
			fi, err := w.g.store(w.ctx).Stat(w.ctx, dir+"/"+markerEntry)
			if err == nil && !w.emitKey(P, fi) {
				return false, nil
			}
		}
	}
	r := ""
	if len(w.p.prefix) > len(P) {
		r = w.p.prefix[len(P):]
	}
	var pending []string // subtree names ("name/"), sorted
	flush := func(before string, all bool) (bool, error) {
		for len(pending) > 0 && (all || pending[0] < before) {
			name := pending[0]
			pending = pending[1:]
			if ok, err := w.subtree(dir, P, name); !ok || err != nil {
				return false, err
			}
		}
		return true, nil
	}
	for fi, err := range w.g.store(w.ctx).List(w.ctx, dir, client.ListOptions{StartAfter: w.startName(P)}) {
		if err != nil {
			return false, err
		}
		name := fi.Name()
		if ok, err := flush(name, false); !ok || err != nil {
			return false, err
		}
		if r != "" && name > r && !strings.HasPrefix(name, r) {
			break
		}
		switch {
		case name == objEntry || name == markerEntry:
		case fi.IsDir():
			if ok, err := w.dirObject(dir, P, name); !ok || err != nil {
				return false, err
			}
			// Keep pending in key order: "b-c/" sorts before "b/"
			// although directory b is listed first.
			i, _ := slices.BinarySearch(pending, name+"/")
			pending = slices.Insert(pending, i, name+"/")
		default:
			if !w.emitKey(P+name, fi) {
				return false, nil
			}
		}
	}
	return flush("", true)
}

// dirObject emits key P+name when the directory holds that object.
func (w *walker) dirObject(dir, P, name string) (bool, error) {
	key := P + name
	if !strings.HasPrefix(key, w.p.prefix) {
		return true, nil
	}
	if item, cp := w.item(key); !w.wanted(item, cp) {
		return true, nil
	}
	fi, err := w.g.store(w.ctx).Stat(w.ctx, dir+"/"+name+"/"+objEntry)
	if cairn.KindOf(err) == cairn.NotFound || cairn.KindOf(err) == cairn.NotDir {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return w.emitKey(key, fi), nil
}

// subtree handles directory name ("x/") of dir: a common prefix, skipped,
// or walked.
func (w *walker) subtree(dir, P, name string) (bool, error) {
	SP := P + name
	if !strings.HasPrefix(SP, w.p.prefix) && !strings.HasPrefix(w.p.prefix, SP) {
		return true, nil
	}
	path := dir + "/" + strings.TrimSuffix(name, "/")
	if w.p.delim != "" && strings.HasPrefix(SP, w.p.prefix) {
		if cp, ok := w.item(SP); ok && len(cp) <= len(SP) {
			if !w.wanted(cp, true) {
				return true, nil
			}
			if empty, err := w.emptyDir(path); empty || err != nil {
				return true, err
			}
			return w.emit(cp, true, nil), nil
		}
	}
	if SP < w.p.after && !strings.HasPrefix(w.p.after, SP) {
		return true, nil // every key below is before the resume point
	}
	ok, err := w.walk(path, SP)
	if k := cairn.KindOf(err); k == cairn.NotFound || k == cairn.NotDir {
		return true, nil // removed while we walked
	}
	return ok, err
}

// emptyDir says whether a directory holds no key below it (it may hold
// the object named like the directory itself).
func (w *walker) emptyDir(path string) (bool, error) {
	for fi, err := range w.g.store(w.ctx).List(w.ctx, path, client.ListOptions{Limit: 2}) {
		if k := cairn.KindOf(err); k == cairn.NotFound || k == cairn.NotDir {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		if fi.Name() != objEntry {
			return false, nil
		}
	}
	return true, nil
}

func (g *Gateway) listObjects(q *request, v2 bool) error {
	v := q.r.URL.Query()
	p := listParams{prefix: v.Get("prefix"), delim: v.Get("delimiter"), max: 1000}
	if s := v.Get("max-keys"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return errorf("InvalidArgument", "max-keys must be a non-negative integer, not %q", s)
		}
		p.max = min(n, 1000)
	}
	enc := v.Get("encoding-type")
	if enc != "" && enc != "url" {
		return errorf("InvalidArgument", "encoding-type must be url, not %q", enc)
	}
	token := v.Get("continuation-token")
	if v2 {
		p.after = v.Get("start-after")
		if token != "" {
			raw, err := base64.RawURLEncoding.DecodeString(token)
			if err != nil {
				return errorf("InvalidArgument", "the continuation token is not one this gateway issued")
			}
			p.after = max(p.after, string(raw))
		}
	} else {
		p.after = v.Get("marker")
	}
	l, err := g.list(q.ctx, q.bucket, p)
	if err != nil {
		return toAPI(err, "NoSuchBucket")
	}
	e := func(s string) string {
		if enc == "url" {
			return urlEncode(s)
		}
		return s
	}
	res := listBucketResult{Name: q.bucket, Prefix: e(p.prefix), Delimiter: e(p.delim), MaxKeys: p.max, EncodingType: enc,
		IsTruncated: l.truncated}
	owner := v2 && v.Get("fetch-owner") == "true" || !v2
	for _, o := range l.objects {
		o.Key = e(o.Key)
		if owner {
			o.Owner = &theOwner
		}
		res.Contents = append(res.Contents, o)
	}
	for _, cp := range l.prefixes {
		res.CommonPrefixes = append(res.CommonPrefixes, commonPrefix{Prefix: e(cp)})
	}
	if v2 {
		n := len(l.objects) + len(l.prefixes)
		res.KeyCount = &n
		res.StartAfter, res.ContinuationToken = e(v.Get("start-after")), token
		if l.truncated {
			res.NextContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(l.last))
		}
	} else {
		marker := e(p.after)
		res.Marker = &marker
		if l.truncated {
			res.NextMarker = e(l.last)
		}
	}
	writeXML(q.w, res)
	return nil
}

// urlEncode percent-encodes everything but unreserved characters and '/',
// so both unquote and unquote_plus decoders get the key back.
func urlEncode(s string) string {
	segs := strings.Split(s, "/")
	for i, seg := range segs {
		segs[i] = strings.ReplaceAll(url.PathEscape(seg), "+", "%2B")
	}
	return strings.Join(segs, "/")
}

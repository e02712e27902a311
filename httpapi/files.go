package httpapi

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/cairnhttp"
	"github.com/cairnfs/cairn/client"
)

// getFile serves a file's bytes (with Range and conditional requests) or a
// directory's listing.
func (a *api) getFile(w http.ResponseWriter, r *http.Request) {
	p, err := nsPath(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	f, err := a.cl(r).Open(r.Context(), p)
	if errors.Is(err, cairn.IsDir) {
		a.list(w, r, p)
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	defer f.Close()
	fi, _ := f.Stat()
	setFileHeaders(w, fi)
	ra := newReadAhead(f, fi.Size())
	hw := &cairnhttp.HeldStatus{ResponseWriter: w}
	http.ServeContent(hw, zeroSuffixRange(r, fi.Size()), "", fi.ModTime(), ra)
	if ra.err != nil && !hw.Sent() {
		// Not a byte went out: answer with the error (Corrupt when no
		// replica's bytes match the checksum in metadata) rather than a
		// success status and a body cut short.
		clear(w.Header())
		a.fail(w, r, ra.err)
		return
	}
	hw.Release()
	if ra.err != nil {
		a.log.Warn("http api: download cut short", "path", p, "err", ra.err)
	}
}

// headFile answers HEAD: a file's headers (size, ETag, Last-Modified,
// ranges and conditionals evaluated as GET would), or for a directory its
// type and version.
func (a *api) headFile(w http.ResponseWriter, r *http.Request) {
	p, err := nsPath(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	fi, err := a.cl(r).Stat(r.Context(), p)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if fi.IsDir() {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Cairn-Type", "directory")
		w.Header().Set("Last-Modified", fi.ModTime().UTC().Format(http.TimeFormat))
		w.WriteHeader(http.StatusOK)
		return
	}
	setFileHeaders(w, fi)
	http.ServeContent(w, zeroSuffixRange(r, fi.Size()), "", fi.ModTime(), io.NewSectionReader(noContent{}, 0, fi.Size()))
}

// zeroSuffixRange works around net/http's answer to a suffix range of
// length zero ("bytes=-0"): RFC 9110 makes it unsatisfiable, but
// ServeContent answers 206 with an empty body. It returns r with such
// ranges left out of its Range header or, when none is left, with a
// range past the end, which ServeContent answers with 416 and
// "Content-Range: bytes */size". Other requests are returned as they are.
func zeroSuffixRange(r *http.Request, size int64) *http.Request {
	h := r.Header.Get("Range")
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok || !strings.Contains(spec, "-") {
		return r
	}
	var keep []string
	for _, rg := range strings.Split(spec, ",") {
		rg = strings.TrimSpace(rg)
		if digits, ok := strings.CutPrefix(rg, "-"); ok && digits != "" && strings.Trim(digits, "0") == "" {
			continue
		}
		keep = append(keep, rg)
	}
	if len(keep) == len(strings.Split(spec, ",")) {
		return r
	}
	r = r.Clone(r.Context())
	if len(keep) == 0 {
		r.Header.Set("Range", "bytes="+strconv.FormatInt(size, 10)+"-")
	} else {
		r.Header.Set("Range", "bytes="+strings.Join(keep, ","))
	}
	return r
}

func setFileHeaders(w http.ResponseWriter, fi *client.FileInfo) {
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("ETag", etag(fi))
	h.Set(HeaderCRC, crcHex(fi.CRC32C))
	h.Set("X-Cairn-Version", strconv.FormatUint(fi.Version, 10))
	h.Set("X-Cairn-Type", "file")
}

// putFile stores the request body as the file's content: replacing it
// (default), only if it does not exist (?exclusive=1) or after its end
// (?append=1).
func (a *api) putFile(w http.ResponseWriter, r *http.Request) {
	p, err := nsPath(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	excl, err := boolParam(q, "exclusive", false)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	app, err := boolParam(q, "append", false)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if excl && app {
		a.fail(w, r, errInvalid("put", "exclusive=1 and append=1 exclude each other"))
		return
	}
	mode := client.Overwrite
	switch {
	case excl:
		mode = client.Exclusive
	case app:
		mode = client.AppendTo
	}
	a.upload(w, r, p, mode)
}

// upload streams the body into the file and answers with its new stat.
// WriteFile commits only after the body reached a clean end; a body error
// (short, too large, wrong CRC32C) abandons the write, leaving the file as
// it was. The chunks already sent to data nodes are collected later.
func (a *api) upload(w http.ResponseWriter, r *http.Request, p string, mode client.WriteMode) {
	q := r.URL.Query()
	parents, err := boolParam(q, "parents", true)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var perm uint32
	if v := q.Get("perm"); v != "" {
		n, err := strconv.ParseUint(v, 8, 32)
		if err != nil || n > 0o7777 {
			a.fail(w, r, errInvalid("put", "parameter perm=%q is not octal permission bits like 0644", v))
			return
		}
		perm = uint32(n)
	}
	body, err := newCheckedBody(w, r, p, a.opts.MaxUploadSize)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	fi, err := a.cl(r).WriteFile(r.Context(), p, body, client.WriteOptions{Mode: mode, Parents: parents, Perm: perm})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	status := http.StatusCreated
	if mode == client.AppendTo {
		status = http.StatusOK
	}
	w.Header().Set("ETag", etag(fi))
	w.Header().Set(HeaderCRC, crcHex(fi.CRC32C))
	a.writeJSON(w, status, newStat(fi))
}

// postFile runs ?op=append, ?op=mkdir or ?op=rename on a path.
func (a *api) postFile(w http.ResponseWriter, r *http.Request) {
	p, err := nsPath(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	switch op := q.Get("op"); op {
	case "append":
		a.upload(w, r, p, client.AppendTo)
	case "mkdir":
		parents, err := boolParam(q, "parents", true)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		fi, err := a.cl(r).Mkdir(r.Context(), p, client.MkdirOptions{Parents: parents})
		if err != nil {
			a.fail(w, r, err)
			return
		}
		a.writeJSON(w, http.StatusCreated, newStat(fi))
	case "rename":
		a.rename(w, r, p)
	case "":
		a.fail(w, r, errInvalid("post", "missing ?op= (append, mkdir or rename)"))
	default:
		a.fail(w, r, errInvalid("post", "unknown op %q (want append, mkdir or rename)", op))
	}
}

// rename moves p to ?to= and answers with the stat at the new path.
func (a *api) rename(w http.ResponseWriter, r *http.Request, p string) {
	q := r.URL.Query()
	to := q.Get("to")
	if to == "" {
		a.fail(w, r, errInvalid("rename", "missing ?to=/new/path"))
		return
	}
	dst, err := cairn.CleanPath(to)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	noReplace, err := boolParam(q, "noreplace", false)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.cl(r).Rename(r.Context(), p, dst, client.RenameOptions{NoReplace: noReplace}); err != nil {
		a.fail(w, r, err)
		return
	}
	fi, err := a.cl(r).Stat(r.Context(), dst)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.writeJSON(w, http.StatusOK, newStat(fi))
}

// removed is the answer to DELETE.
type removed struct {
	Path  string `json:"path"`
	Files uint64 `json:"files"`
	Dirs  uint64 `json:"dirs"`
}

// deleteFile removes a file or an empty directory, or a tree with
// ?recursive=1.
func (a *api) deleteFile(w http.ResponseWriter, r *http.Request) {
	p, err := nsPath(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	rec, err := boolParam(r.URL.Query(), "recursive", false)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := a.cl(r).Remove(r.Context(), p, client.RemoveOptions{Recursive: rec})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.writeJSON(w, http.StatusOK, removed{Path: p, Files: res.Files, Dirs: res.Dirs})
}

// stat answers GET /v1/stat/.
func (a *api) stat(w http.ResponseWriter, r *http.Request) {
	p, err := nsPath(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	fi, err := a.cl(r).Stat(r.Context(), p)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if !fi.IsDir() {
		w.Header().Set("ETag", etag(fi))
	}
	a.writeJSON(w, http.StatusOK, newStat(fi))
}

// locations answers GET /v1/locations/?offset=&length=.
func (a *api) locations(w http.ResponseWriter, r *http.Request) {
	p, err := nsPath(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	off, err := intParam(q, "offset", 0)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	n, err := intParam(q, "length", -1)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if off < 0 || n < -1 {
		a.fail(w, r, errInvalid("locations", "offset %d must be >= 0 and length %d >= 0 (or -1 for the rest)", off, n))
		return
	}
	bl, err := a.cl(r).Locations(r.Context(), p, off, n)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.writeJSON(w, http.StatusOK, newLocations(p, bl))
}

// cluster answers GET /v1/cluster.
func (a *api) cluster(w http.ResponseWriter, r *http.Request) {
	st, err := a.c.Admin().Status(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.writeJSON(w, http.StatusOK, newCluster(st))
}

package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/cairnfs/cairn/client"
)

// list streams one page of a directory as JSON:
//
//	{"path": "/dir", "entries": [Stat, ...], "next": "name"}
//
// Entries come in byte order of their names, at most ?limit= of them
// (default DefaultListLimit, at most MaxListLimit), starting after the name
// ?after=. "next" is the name to pass as ?after= for the following page,
// or "" when this page is the last. Entries are written as they arrive from
// the metadata service, so no page is held in memory. A failure after the
// first byte was sent cannot change the status any more: the connection is
// cut, so the client sees an incomplete body rather than a short listing.
func (a *api) list(w http.ResponseWriter, r *http.Request, p string) {
	q := r.URL.Query()
	limit, err := intParam(q, "limit", DefaultListLimit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if limit < 1 || limit > MaxListLimit {
		a.fail(w, r, errInvalid("list", "limit %d must be between 1 and %d", limit, MaxListLimit))
		return
	}
	after := q.Get("after")
	// One entry more than asked tells whether there is a next page.
	entries := a.cl(r).List(r.Context(), p, client.ListOptions{StartAfter: after, Limit: int(limit) + 1})
	started := false
	start := func() {
		started = true
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		pj, _ := json.Marshal(p)
		w.Write([]byte(`{"path":`))
		w.Write(pj)
		w.Write([]byte(`,"entries":[`))
	}
	var n int64
	last, next := "", ""
	for fi, err := range entries {
		if err != nil {
			if !started {
				a.fail(w, r, err)
				return
			}
			a.log.Warn("http api: listing cut short", "path", p, "entries", n, "err", err)
			panic(http.ErrAbortHandler)
		}
		if !started {
			start()
		}
		if n == limit {
			next = last
			break
		}
		b, err := json.Marshal(newStat(fi))
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		if n > 0 {
			w.Write([]byte{','})
		}
		w.Write(b)
		last = fi.Name()
		n++
	}
	if !started {
		start()
	}
	nj, _ := json.Marshal(next)
	w.Write([]byte(`],"next":`))
	w.Write(nj)
	w.Write([]byte("}\n"))
}

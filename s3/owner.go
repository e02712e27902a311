package s3

import (
	"context"
	"sync"
	"time"

	"github.com/cairnfs/cairn/client"
)

// Buckets made by a key that belongs to a namespace user are that user's
// directories (owner and group the user's, mode 0700), and the gateway
// works in them as that user: objects it writes there belong to the
// user, and the namespace's permissions hold for S3 as for the SDK, the
// CLI and the REST API. Who may do what through S3 is decided by the
// bucket's owner, policies and ACL (authz.go); what the gateway then does
// in the namespace, it does as the bucket's owner. Buckets made by
// administrator keys (no user) are worked in as the superuser, as
// before.
const xOwnerUser = "s3.owner-user" // the namespace user that owns the bucket, if any

// userStore is a Store that can act as a namespace user (*client.Client
// is one).
type userStore interface {
	Store
	As(user string) *client.Client
}

type storeKey struct{}

// chosenStore is the store chosen for a request's bucket.
type chosenStore struct {
	bucket string
	s      Store
}

// store is the Store an object request works with: the one the
// dispatcher chose for the request's bucket (withStore), else the
// gateway's own.
func (g *Gateway) store(ctx context.Context) Store {
	if c, ok := ctx.Value(storeKey{}).(chosenStore); ok {
		return c.s
	}
	return g.c
}

// storeIn is the Store to work in bucket with, which may be another than
// the request's (the source of a copy).
func (g *Gateway) storeIn(ctx context.Context, bucket string) Store {
	if c, ok := ctx.Value(storeKey{}).(chosenStore); ok && c.bucket == bucket {
		return c.s
	}
	us, ok := g.c.(userStore)
	if !ok {
		return g.c
	}
	if user := g.owners.lookup(ctx, g.c, bucket); user != "" {
		return g.actingAs(us, user)
	}
	return g.c
}

// withStore returns the request's context with the Store to work in its
// bucket with.
func (g *Gateway) withStore(q *request) context.Context {
	us, ok := g.c.(userStore)
	if !ok || q.bucket == "" {
		return q.ctx
	}
	user := ""
	if q.state != nil {
		user = q.state.ownerUser
	} else {
		user = g.owners.lookup(q.ctx, g.c, q.bucket)
	}
	if user == "" {
		return q.ctx
	}
	return context.WithValue(q.ctx, storeKey{}, chosenStore{q.bucket, g.actingAs(us, user)})
}

// actingAs returns the store acting as user, made once per user.
func (g *Gateway) actingAs(us userStore, user string) Store {
	if s, ok := g.asUser.Load(user); ok {
		return s.(Store)
	}
	s, _ := g.asUser.LoadOrStore(user, us.As(user))
	return s.(Store)
}

// ownerCache remembers buckets' owning users for requests that skip
// loading the bucket's state (administrator keys), briefly: a bucket
// removed and made again by another user is seen within ownerTTL.
type ownerCache struct {
	mu sync.Mutex
	m  map[string]ownerEntry
}

type ownerEntry struct {
	user    string
	expires time.Time
}

const ownerTTL = 2 * time.Second

func (c *ownerCache) lookup(ctx context.Context, s Store, bucket string) string {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.m[bucket]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.user
	}
	user := ""
	if fi, err := s.Stat(ctx, "/"+bucket); err == nil && fi.IsDir() {
		user = fi.Xattrs[xOwnerUser]
	} else if err != nil {
		return "" // the request itself will say what is wrong
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) > 10000 {
		c.m = map[string]ownerEntry{}
	}
	c.m[bucket] = ownerEntry{user: user, expires: now.Add(ownerTTL)}
	c.mu.Unlock()
	return user
}

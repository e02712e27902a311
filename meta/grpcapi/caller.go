package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"google.golang.org/grpc/metadata"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/meta/state"
	"github.com/cairnfs/cairn/pki"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// ActAsHeader is the gRPC metadata key that names the namespace user a
// call acts as. Only admin, gateway and meta identities (and any caller
// of a peer without TLS) may name another user than their own.
const ActAsHeader = "cairn-act-as"

// principal is whom a call acts for in the namespace.
type principal struct {
	id     pki.Identity // the certificate's identity; zero without TLS
	name   string       // the namespace user; state.RootName for the superuser
	user   *pb.User     // nil for the superuser
	caller *pb.Caller   // what commands carry; nil for the superuser
}

func (p principal) super() bool { return p.caller == nil }

// principal returns the principal of a call: a user certificate acts as
// the namespace user of the same name; admin, gateway and meta
// certificates as the superuser unless ActAsHeader names a user; without
// TLS the caller is the superuser unless ActAsHeader names a user. A user
// certificate without a namespace user, or a name that is no user, is
// Permission.
func (c *core) principal(ctx context.Context) (principal, error) {
	const op = "authorize"
	actAs := ""
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if vs := md.Get(ActAsHeader); len(vs) > 0 {
			actAs = vs[len(vs)-1]
		}
	}
	id, err := callerIdentity(ctx)
	var p principal
	switch {
	case errors.Is(err, pki.ErrNoCertificate):
		// No TLS (--insecure): the caller is trusted to say whom it acts for.
	case err != nil:
		return p, cairn.E(op, cairn.Permission, err)
	case id.HasAny(pki.Admin, pki.Gateway, pki.Meta):
		p.id = id
	case id.Has(pki.User):
		p.id = id
		if actAs != "" && actAs != id.Name {
			return p, cairn.E(op, cairn.Permission, fmt.Errorf("%s may not act as %q: only admin, gateway and meta identities may act as another user", id, actAs))
		}
		actAs = id.Name
	default:
		p.id, actAs = id, "" // data nodes: they touch no namespace entry
	}
	if actAs == "" || actAs == state.RootName {
		p.name = state.RootName
		return p, nil
	}
	u, caller, err := c.users.lookup(c.st, actAs)
	if err != nil {
		return p, err
	}
	if u == nil {
		return p, cairn.E(op, cairn.Permission, fmt.Errorf("no namespace user %s; an admin creates it with `cairn user add %s`", actAs, actAs))
	}
	p.name, p.user, p.caller = actAs, u, caller
	return p, nil
}

// userCache answers name lookups from one generation of the users table
// and reloads when the generation moves.
type userCache struct {
	mu      sync.Mutex
	gen     uint64
	loaded  bool
	users   map[string]*pb.User
	callers map[string]*pb.Caller
	uids    map[uint32]string
	gids    map[uint32]string
}

// current returns the cache for the state's users generation.
func (u *userCache) current(st *state.Machine) (*userCache, error) {
	v := st.Latest()
	gen, err := v.UsersGeneration()
	if err != nil {
		return nil, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.loaded && u.gen == gen {
		return u, nil
	}
	d, err := v.UserDirectory()
	if err != nil {
		return nil, err
	}
	u.gen, u.loaded = d.Generation, true
	u.users, u.callers = map[string]*pb.User{}, map[string]*pb.Caller{}
	u.uids, u.gids = map[uint32]string{0: state.RootName}, map[uint32]string{0: state.RootName}
	for _, g := range d.Groups {
		u.gids[g.Gid] = g.Name
	}
	for _, us := range d.Users {
		c, err := v.CallerOf(us)
		if err != nil {
			return nil, err
		}
		u.users[us.Name], u.callers[us.Name], u.uids[us.Uid] = us, c, us.Name
	}
	return u, nil
}

// lookup returns user name and its Caller; nil if there is no such user.
func (u *userCache) lookup(st *state.Machine, name string) (*pb.User, *pb.Caller, error) {
	cur, err := u.current(st)
	if err != nil {
		return nil, nil, err
	}
	cur.mu.Lock()
	defer cur.mu.Unlock()
	return cur.users[name], cur.callers[name], nil
}

// names fills in the owner and group names of attrs (the number when no
// user or group has it).
func (u *userCache) names(st *state.Machine, attrs ...*pb.Attr) error {
	cur, err := u.current(st)
	if err != nil {
		return err
	}
	cur.mu.Lock()
	defer cur.mu.Unlock()
	for _, a := range attrs {
		if a == nil {
			continue
		}
		a.Owner, a.Group = nameOr(cur.uids, a.Uid), nameOr(cur.gids, a.Gid)
	}
	return nil
}

func nameOr(names map[uint32]string, id uint32) string {
	if n, ok := names[id]; ok {
		return n
	}
	return strconv.FormatUint(uint64(id), 10)
}

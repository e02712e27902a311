package state

import (
	"errors"
	"fmt"
	"slices"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// Namespace users and groups. A user has a name, a uid, a primary group (a
// group of its own name, created with it) and supplementary groups by
// name. Uids and gids are handed out from FirstID by counters that never
// go back, so a number is never reused for another principal; uid 0 is
// the superuser (root), who owns everything that existed before users.
// Every change bumps a generation counter: readers cache name lookups and
// reload when it moves.

// FirstID is the first uid and gid handed out.
const FirstID = 1000

// RootName is the superuser's name; no namespace user may take it.
const RootName = "root"

// CheckUserName refuses names that are not usable as a user or group
// name: 1 to 32 characters of lower-case letters, digits, '_', '-' and
// '.', starting with a letter or '_', and not "root".
func CheckUserName(name string) error {
	bad := len(name) == 0 || len(name) > 32 || name == RootName
	for i, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r == '_':
		case (r >= '0' && r <= '9') || r == '-' || r == '.':
			bad = bad || i == 0
		default:
			bad = true
		}
	}
	if bad {
		return cairn.E("user", cairn.PathArg(name), cairn.Invalid,
			errors.New("a user or group name is 1-32 of a-z, 0-9, '_', '-', '.', starts with a letter or '_', and is not \"root\""))
	}
	return nil
}

// users applies the commands that add, change and remove users.
type users struct{ *tx }

// put creates user req.Name (new uid, and a group of the same name as its
// primary group) or replaces its supplementary groups. Missing groups are
// created.
func (t users) put(req *pb.PutUserRequest) (*pb.User, error) {
	if err := CheckUserName(req.Name); err != nil {
		return nil, err
	}
	for _, g := range req.Groups {
		if err := CheckUserName(g); err != nil {
			return nil, err
		}
	}
	u := &pb.User{}
	ok, err := getProto(t.b, userKey(req.Name), u)
	if err != nil {
		return nil, err
	}
	if !ok {
		uid, err := t.counter(keyNextUID)
		if err != nil {
			return nil, err
		}
		primary, err := t.group(req.Name)
		if err != nil {
			return nil, err
		}
		u = &pb.User{Name: req.Name, Uid: uid, Gid: primary.Gid}
	}
	groups := slices.Clone(req.Groups)
	slices.Sort(groups)
	u.Groups = slices.Compact(groups)
	for _, g := range u.Groups {
		if _, err := t.group(g); err != nil {
			return nil, err
		}
	}
	if err := putProto(t.b, userKey(u.Name), u); err != nil {
		return nil, err
	}
	return u, t.bumpGeneration()
}

// remove deletes user req.Name. Its groups stay: files keep their gids.
func (t users) remove(req *pb.DeleteUserRequest) error {
	ok, err := getProto(t.b, userKey(req.Name), &pb.User{})
	if err != nil {
		return err
	}
	if !ok {
		return cairn.E("user.delete", cairn.PathArg(req.Name), cairn.NotFound, errors.New("no such user"))
	}
	if err := t.b.Delete(userKey(req.Name), nil); err != nil {
		return err
	}
	return t.bumpGeneration()
}

// group returns group name, creating it with a fresh gid if it is missing.
func (t users) group(name string) (*pb.Group, error) {
	g := &pb.Group{}
	ok, err := getProto(t.b, groupKey(name), g)
	if err != nil || ok {
		return g, err
	}
	gid, err := t.counter(keyNextGID)
	if err != nil {
		return nil, err
	}
	g = &pb.Group{Name: name, Gid: gid}
	return g, putProto(t.b, groupKey(name), g)
}

// counter hands out the next number of a uid or gid counter.
func (t users) counter(key string) (uint32, error) {
	next, err := getUint64(t.b, []byte(key))
	if err != nil {
		return 0, err
	}
	if next < FirstID {
		next = FirstID
	}
	if next >= 1<<32-1 {
		return 0, cairn.E("user", cairn.Invalid, fmt.Errorf("%s: every number is used", key))
	}
	return uint32(next), putUint64(t.b, []byte(key), next+1)
}

func (t users) bumpGeneration() error {
	gen, err := getUint64(t.b, []byte(keyUserGen))
	if err != nil {
		return err
	}
	return putUint64(t.b, []byte(keyUserGen), gen+1)
}

// getUser returns user name, or NotFound.
func getUser(r reader, name string) (*pb.User, error) {
	u := &pb.User{}
	ok, err := getProto(r, userKey(name), u)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, cairn.E("user", cairn.PathArg(name), cairn.NotFound, errors.New("no such namespace user"))
	}
	return u, nil
}

func getGroup(r reader, name string) (*pb.Group, bool, error) {
	g := &pb.Group{}
	ok, err := getProto(r, groupKey(name), g)
	return g, ok, err
}

// Directory is every user and group as of one generation.
type Directory struct {
	Generation uint64
	Users      []*pb.User  // by name
	Groups     []*pb.Group // by name
}

// UserDirectory reads every user and group.
func (v *View) UserDirectory() (*Directory, error) {
	gen, err := getUint64(v.r, []byte(keyUserGen))
	if err != nil {
		return nil, err
	}
	d := &Directory{Generation: gen}
	err = eachProto(v.r, []byte{tagUser}, "user.list", func() *pb.User { return &pb.User{} }, func(_ []byte, u *pb.User) bool {
		d.Users = append(d.Users, u)
		return true
	})
	if err != nil {
		return nil, err
	}
	err = eachProto(v.r, []byte{tagGroup}, "group.list", func() *pb.Group { return &pb.Group{} }, func(_ []byte, g *pb.Group) bool {
		d.Groups = append(d.Groups, g)
		return true
	})
	return d, err
}

// UsersGeneration is the users generation: it changes whenever a user or
// group does.
func (v *View) UsersGeneration() (uint64, error) { return getUint64(v.r, []byte(keyUserGen)) }

// User returns namespace user name, or NotFound.
func (v *View) User(name string) (*pb.User, error) { return getUser(v.r, name) }

// CallerOf returns the Caller of user u: its uid, primary gid and the gids
// of its supplementary groups (groups that no longer exist are left out).
func (v *View) CallerOf(u *pb.User) (*pb.Caller, error) {
	c := &pb.Caller{Uid: u.Uid, Gid: u.Gid, Name: u.Name}
	for _, name := range u.Groups {
		g, ok, err := getGroup(v.r, name)
		if err != nil {
			return nil, err
		}
		if ok {
			c.Groups = append(c.Groups, g.Gid)
		}
	}
	return c, nil
}

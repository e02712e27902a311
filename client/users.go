package client

import (
	"context"
	"io/fs"

	"google.golang.org/grpc/metadata"

	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// actAsHeader is the gRPC metadata key that names the namespace user a
// call acts as (docs/protocol.md, "Callers").
const actAsHeader = "cairn-act-as"

// As returns a client whose calls act as namespace user name: the
// metadata service checks permissions for that user. Only admin, gateway
// and metadata-peer certificates (or any caller of a cluster run with
// --insecure) may act as another user; a user certificate acting as
// someone else gets Permission on every call. "" acts as the
// certificate's own principal again. The result shares c's connections:
// close only c.
func (c *Client) As(name string) *Client {
	cp := *c
	cp.actAs = name
	cp.alloc = &allocPool{c: &cp}
	return &cp
}

// outgoing adds the act-as header to a call's context.
func (c *Client) outgoing(ctx context.Context) context.Context {
	if c.actAs == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, actAsHeader, c.actAs)
}

// Principal is whom calls act as in the namespace.
type Principal struct {
	Name      string // the namespace user; "root" for the superuser
	UID, GID  uint32
	Groups    []string // supplementary groups
	Identity  string   // the certificate's name; "" without TLS
	Roles     []string // the certificate's roles
	Superuser bool
}

// WhoAmI asks the metadata service whom this client's calls act as.
// Permission if the certificate is a user's with no namespace user of
// its name.
func (c *Client) WhoAmI(ctx context.Context) (*Principal, error) {
	var resp *pb.WhoAmIResponse
	err := c.any(ctx, func(ctx context.Context, m stubs) (err error) {
		resp, err = m.cluster.WhoAmI(ctx, &pb.WhoAmIRequest{})
		return err
	})
	if err != nil {
		return nil, err
	}
	return &Principal{Name: resp.Name, UID: resp.Uid, GID: resp.Gid, Groups: resp.Groups, Identity: resp.Identity,
		Roles: resp.Roles, Superuser: resp.Superuser}, nil
}

// Chmod sets path's permission bits, with setuid, setgid and sticky
// (only the owner or the superuser may).
func (c *Client) Chmod(ctx context.Context, path string, mode fs.FileMode) (*FileInfo, error) {
	bits := posixMode(mode)
	return c.Chattr(ctx, path, SetAttr{Mode: &bits})
}

// Chown gives path to namespace user owner and group group by name; ""
// leaves either unchanged. Only the superuser may change the owner; the
// owner may change the group to one it belongs to. NotFound names an
// unknown user or group.
func (c *Client) Chown(ctx context.Context, path, owner, group string) (*FileInfo, error) {
	return c.Chattr(ctx, path, SetAttr{Owner: owner, Group: group})
}

// User is a namespace user.
type User struct {
	Name     string
	UID, GID uint32   // GID is its primary group, named like the user
	Groups   []string // supplementary groups
}

// Group is a namespace group.
type Group struct {
	Name string
	GID  uint32
}

// PutUser creates namespace user name (a new uid, and a group of its own
// name as its primary group) or replaces its supplementary groups;
// groups that do not exist are created. Invalid for a bad name.
func (a *Admin) PutUser(ctx context.Context, name string, groups ...string) (*User, error) {
	var u *pb.User
	err := a.c.leader(ctx, func(ctx context.Context, m stubs) (err error) {
		u, err = m.creds.PutUser(ctx, &pb.PutUserRequest{Name: name, Groups: groups})
		return err
	})
	if err != nil {
		return nil, err
	}
	return newUser(u), nil
}

// DeleteUser removes namespace user name; the files it owns keep its uid.
// NotFound if there is no such user.
func (a *Admin) DeleteUser(ctx context.Context, name string) error {
	return a.c.leader(ctx, func(ctx context.Context, m stubs) error {
		_, err := m.creds.DeleteUser(ctx, &pb.DeleteUserRequest{Name: name})
		return err
	})
}

// ListUsers returns every namespace user and group, by name.
func (a *Admin) ListUsers(ctx context.Context) ([]User, []Group, error) {
	var resp *pb.ListUsersResponse
	err := a.c.reader(ctx, func(ctx context.Context, m stubs) (err error) {
		resp, err = m.creds.ListUsers(ctx, &pb.ListUsersRequest{})
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	users := make([]User, len(resp.Users))
	for i, u := range resp.Users {
		users[i] = *newUser(u)
	}
	groups := make([]Group, len(resp.Groups))
	for i, g := range resp.Groups {
		groups[i] = Group{Name: g.Name, GID: g.Gid}
	}
	return users, groups, nil
}

func newUser(u *pb.User) *User {
	return &User{Name: u.Name, UID: u.Uid, GID: u.Gid, Groups: u.Groups}
}

package grpcapi

import (
	"context"
	"errors"

	"google.golang.org/protobuf/proto"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/meta/secrets"
	"github.com/cairnfs/cairn/meta/state"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
	"github.com/cairnfs/cairn/rpcerr"
)

// credentialsAPI serves the Credentials service: access keys and their
// secrets.
type credentialsAPI struct {
	pb.UnimplementedCredentialsServer
	c *core
}

func (a credentialsAPI) PutCredential(ctx context.Context, req *pb.PutCredentialRequest) (*pb.Empty, error) {
	if err := state.CheckCredential(req.Credential); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	if secrets.IsSealed(req.Credential.Secret) {
		return nil, rpcerr.ToStatus(cairn.E("credentials.put", cairn.PathArg(req.Credential.AccessKey), cairn.Invalid,
			errors.New("a secret key may not begin with \"sealed:\"")))
	}
	if s := a.c.cfg.Secrets; s != nil {
		req = proto.Clone(req).(*pb.PutCredentialRequest)
		req.Credential.Secret = s.Seal(req.Credential.AccessKey, req.Credential.Secret)
	}
	return empty(a.c.write(ctx, &pb.Command{Op: &pb.Command_PutCredential{PutCredential: req}}))
}

func (a credentialsAPI) DeleteCredential(ctx context.Context, req *pb.DeleteCredentialRequest) (*pb.Empty, error) {
	return empty(a.c.write(ctx, &pb.Command{Op: &pb.Command_DeleteCredential{DeleteCredential: req}}))
}

func (a credentialsAPI) ListCredentials(ctx context.Context, _ *pb.ListCredentialsRequest) (*pb.ListCredentialsResponse, error) {
	if err := a.c.prop.Readable(ctx, false); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	creds, err := a.c.st.Latest().Credentials()
	return &pb.ListCredentialsResponse{Credentials: creds}, rpcerr.ToStatus(err)
}

// GetSecret may be answered from a follower's state (a gateway verifying
// signatures must not depend on the leader for every request).
func (a credentialsAPI) GetSecret(ctx context.Context, req *pb.GetSecretRequest) (*pb.Credential, error) {
	cred, err := a.c.st.Latest().Credential(req.AccessKey)
	if err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	if cred.Secret, err = secrets.Open(a.c.cfg.Secrets, cred.AccessKey, cred.Secret); err != nil {
		return nil, rpcerr.ToStatus(cairn.E("credentials.secret", cairn.PathArg(req.AccessKey), cairn.Internal, err))
	}
	return cred, nil
}

// PutUser creates a namespace user or replaces its groups.
func (a credentialsAPI) PutUser(ctx context.Context, req *pb.PutUserRequest) (*pb.User, error) {
	if err := state.CheckUserName(req.Name); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	resp, err := a.c.write(ctx, &pb.Command{Op: &pb.Command_PutUser{PutUser: req}})
	if err != nil {
		return nil, err
	}
	return resp.(*pb.User), nil
}

// DeleteUser removes a namespace user; its files keep its uid.
func (a credentialsAPI) DeleteUser(ctx context.Context, req *pb.DeleteUserRequest) (*pb.Empty, error) {
	return empty(a.c.write(ctx, &pb.Command{Op: &pb.Command_DeleteUser{DeleteUser: req}}))
}

// ListUsers answers every namespace user and group.
func (a credentialsAPI) ListUsers(ctx context.Context, _ *pb.ListUsersRequest) (*pb.ListUsersResponse, error) {
	if err := a.c.prop.Readable(ctx, false); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	d, err := a.c.st.Latest().UserDirectory()
	if err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	return &pb.ListUsersResponse{Users: d.Users, Groups: d.Groups}, nil
}

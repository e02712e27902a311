package grpcapi

import (
	"context"

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
	return cred, rpcerr.ToStatus(err)
}

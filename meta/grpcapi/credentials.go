package grpcapi

import (
	"context"

	"github.com/cairnfs/cairn/meta/state"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
	"github.com/cairnfs/cairn/rpcerr"
)

// credentialsAPI serves the S3 access keys.
type credentialsAPI struct{ c *core }

func (a credentialsAPI) PutS3User(ctx context.Context, req *pb.PutS3UserRequest) (*pb.Empty, error) {
	if err := state.CheckS3User(req.User); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	return empty(a.c.write(ctx, &pb.Command{Op: &pb.Command_PutS3User{PutS3User: req}}))
}

func (a credentialsAPI) DeleteS3User(ctx context.Context, req *pb.DeleteS3UserRequest) (*pb.Empty, error) {
	return empty(a.c.write(ctx, &pb.Command{Op: &pb.Command_DeleteS3User{DeleteS3User: req}}))
}

func (a credentialsAPI) ListS3Users(ctx context.Context, _ *pb.Empty) (*pb.ListS3UsersResponse, error) {
	if err := a.c.prop.Readable(ctx, false); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	users, err := a.c.st.Latest().S3Users()
	return &pb.ListS3UsersResponse{Users: users}, rpcerr.ToStatus(err)
}

// GetS3Secret may be answered from a follower's state (a gateway verifying
// signatures must not depend on the leader for every request).
func (a credentialsAPI) GetS3Secret(ctx context.Context, req *pb.GetS3SecretRequest) (*pb.S3User, error) {
	u, err := a.c.st.Latest().S3User(req.AccessKey)
	return u, rpcerr.ToStatus(err)
}

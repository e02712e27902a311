package meta

import (
	"context"
	"errors"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
	"github.com/cairnfs/cairn/rpcerr"
)

// The RPCs behind the S3 gateway: multipart parts, nesting and access keys.

func (v *Service) PutUploadPart(ctx context.Context, req *pb.PutUploadPartRequest) (*pb.UploadPart, error) {
	if err := v.s.checkAge(req.Chunks); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	resp, err := v.write(ctx, &pb.Command{Op: &pb.Command_PutUploadPart{PutUploadPart: req}})
	if err != nil {
		return nil, err
	}
	return resp.(*pb.UploadPart), nil
}

func (v *Service) ListUploadParts(ctx context.Context, req *pb.ListUploadPartsRequest) (*pb.ListUploadPartsResponse, error) {
	if err := v.s.readable(ctx, nil); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	s := &pb.UploadSession{}
	ok, err := getProto(v.s.fsm.db, uploadKey(req.Id), s)
	if err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	if !ok || !s.Multipart || s.CompletedInode != 0 {
		return nil, rpcerr.ToStatus(cairn.E("upload.parts", cairn.PathArg(req.Id), cairn.NotFound, errors.New("no such multipart upload (it completed, was aborted, or never existed)")))
	}
	parts, err := uploadParts(v.s.fsm.db, req.Id)
	return &pb.ListUploadPartsResponse{Session: s, Parts: parts}, rpcerr.ToStatus(err)
}

func (v *Service) CompleteMultipart(ctx context.Context, req *pb.CompleteMultipartRequest) (*pb.StatResponse, error) {
	if err := checkXattrs(req.Xattrs); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	return statResp(v.write(ctx, &pb.Command{Op: &pb.Command_CompleteMultipart{CompleteMultipart: req}}))
}

func (v *Service) Nest(ctx context.Context, req *pb.NestRequest) (*pb.StatResponse, error) {
	return statResp(v.write(ctx, &pb.Command{Op: &pb.Command_Nest{Nest: req}}))
}

func (v *Service) PutS3User(ctx context.Context, req *pb.PutS3UserRequest) (*pb.Empty, error) {
	if err := checkS3User(req.User); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	if _, err := v.write(ctx, &pb.Command{Op: &pb.Command_PutS3User{PutS3User: req}}); err != nil {
		return nil, err
	}
	return &pb.Empty{}, nil
}

func (v *Service) DeleteS3User(ctx context.Context, req *pb.DeleteS3UserRequest) (*pb.Empty, error) {
	if _, err := v.write(ctx, &pb.Command{Op: &pb.Command_DeleteS3User{DeleteS3User: req}}); err != nil {
		return nil, err
	}
	return &pb.Empty{}, nil
}

func (v *Service) ListS3Users(ctx context.Context, _ *pb.Empty) (*pb.ListS3UsersResponse, error) {
	if err := v.s.readable(ctx, nil); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	users, err := listS3Users(v.s.fsm.db)
	return &pb.ListS3UsersResponse{Users: users}, rpcerr.ToStatus(err)
}

// GetS3Secret may be answered from a follower's state (a gateway verifying
// signatures must not depend on the leader for every request).
func (v *Service) GetS3Secret(ctx context.Context, req *pb.GetS3SecretRequest) (*pb.S3User, error) {
	u, err := getS3User(v.s.fsm.db, req.AccessKey)
	return u, rpcerr.ToStatus(err)
}

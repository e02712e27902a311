package state

import (
	"errors"

	"google.golang.org/protobuf/proto"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// S3 access keys live in the replicated state so that every gateway sees
// the same set. Secrets leave the metadata service only through
// GetS3Secret (for gateways verifying signatures); listings blank them.

// credentials applies the commands that add and remove S3 access keys.
type credentials struct{ *tx }

func (t credentials) put(req *pb.PutS3UserRequest) error {
	if err := CheckS3User(req.User); err != nil {
		return err
	}
	key := s3UserKey(req.User.AccessKey)
	if req.Exclusive {
		ok, err := getProto(t.b, key, &pb.S3User{})
		if err != nil {
			return err
		}
		if ok {
			return cairn.E("s3.user.add", cairn.PathArg(req.User.AccessKey), cairn.Exists, errors.New("access key exists (remove it first to change its secret)"))
		}
	}
	u := proto.Clone(req.User).(*pb.S3User)
	u.CreatedNs = t.now
	return putProto(t.b, key, u)
}

func (t credentials) remove(req *pb.DeleteS3UserRequest) error {
	ok, err := getProto(t.b, s3UserKey(req.AccessKey), &pb.S3User{})
	if err != nil {
		return err
	}
	if !ok {
		return cairn.E("s3.user.remove", cairn.PathArg(req.AccessKey), cairn.NotFound, errors.New("no such access key"))
	}
	return t.b.Delete(s3UserKey(req.AccessKey), nil)
}

func getS3User(r reader, accessKey string) (*pb.S3User, error) {
	u := &pb.S3User{}
	ok, err := getProto(r, s3UserKey(accessKey), u)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, cairn.E("s3.user", cairn.PathArg(accessKey), cairn.NotFound, errors.New("no such access key"))
	}
	return u, nil
}

// listS3Users returns every access key with its secret blanked.
func listS3Users(r reader) ([]*pb.S3User, error) {
	var out []*pb.S3User
	err := eachProto(r, []byte{tagS3User}, "s3.user.list", func() *pb.S3User { return &pb.S3User{} }, func(_ []byte, u *pb.S3User) bool {
		u.SecretKey = ""
		out = append(out, u)
		return true
	})
	return out, err
}

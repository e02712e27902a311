package state

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// Credentials (access keys with their secrets) live in the replicated
// state so that every service that verifies signed requests against them
// (the S3 gateway is one) sees the same set. Secrets leave the metadata
// service only through GetSecret; listings blank them.

// credentials applies the commands that add and remove credentials.
type credentials struct{ *tx }

func (t credentials) put(req *pb.PutCredentialRequest) error {
	if err := CheckCredential(req.Credential); err != nil {
		return err
	}
	if u := req.Credential.User; u != "" {
		// A key acts as its user in the namespace (the S3 gateway works
		// in the user's buckets as the user): the user must exist.
		if _, err := getUser(t.b, u); err != nil {
			return cairn.E("credential.put", cairn.PathArg(req.Credential.AccessKey), cairn.Invalid,
				fmt.Errorf("the key's user %q is no namespace user; create it first (`cairn user add %s`)", u, u))
		}
	}
	key := credentialKey(req.Credential.AccessKey)
	if req.Exclusive {
		ok, err := getProto(t.b, key, &pb.Credential{})
		if err != nil {
			return err
		}
		if ok {
			return cairn.E("credential.put", cairn.PathArg(req.Credential.AccessKey), cairn.Exists, errors.New("access key exists (remove it first to change its secret)"))
		}
	}
	c := proto.Clone(req.Credential).(*pb.Credential)
	c.CreatedNs = t.now
	return putProto(t.b, key, c)
}

func (t credentials) remove(req *pb.DeleteCredentialRequest) error {
	ok, err := getProto(t.b, credentialKey(req.AccessKey), &pb.Credential{})
	if err != nil {
		return err
	}
	if !ok {
		return cairn.E("credential.delete", cairn.PathArg(req.AccessKey), cairn.NotFound, errors.New("no such access key"))
	}
	return t.b.Delete(credentialKey(req.AccessKey), nil)
}

func getCredential(r reader, accessKey string) (*pb.Credential, error) {
	c := &pb.Credential{}
	ok, err := getProto(r, credentialKey(accessKey), c)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, cairn.E("credential", cairn.PathArg(accessKey), cairn.NotFound, errors.New("no such access key"))
	}
	return c, nil
}

// listCredentials returns every credential with its secret blanked.
func listCredentials(r reader) ([]*pb.Credential, error) {
	var out []*pb.Credential
	err := eachProto(r, []byte{tagCred}, "credential.list", func() *pb.Credential { return &pb.Credential{} }, func(_ []byte, c *pb.Credential) bool {
		c.Secret = ""
		out = append(out, c)
		return true
	})
	return out, err
}

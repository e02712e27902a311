package state

import (
	"cmp"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// Capability token signing keys live in the replicated state so that
// every peer that becomes leader signs with the same current key and hands
// data nodes the same public keys. The private half is stored as the
// command carried it (SigningKey.sealing says how it is sealed; today it
// is not, and the state directory's mode 0700 protects it), so sealing
// with a cluster key needs no change here.

// signingKeys applies the command that rotates the signing key.
type signingKeys struct{ *tx }

// rotate adds req.Key, active publish_ns from now, retires the key that
// was the newest (it expires keep_ns after the new one becomes active, the
// last moment it signs) and removes retired keys that have expired.
// Without a key it only removes. A key whose ID is taken is refused
// (Exists).
func (t signingKeys) rotate(req *pb.RotateSigningKey) error {
	keys, err := listSigningKeys(t.b)
	if err != nil {
		return err
	}
	if k := req.Key; k != nil {
		if len(k.PublicKey) != ed25519.PublicKeySize || len(k.PrivateKey) == 0 {
			return cairn.E("signing-key.rotate", cairn.Invalid, errors.New("a signing key needs an Ed25519 public key and its private half"))
		}
		if req.KeepNs <= 0 || req.PublishNs < 0 {
			return cairn.E("signing-key.rotate", cairn.Invalid, fmt.Errorf("keep %dns, publish %dns: retired keys must be kept while their tokens live", req.KeepNs, req.PublishNs))
		}
		for _, old := range keys {
			if old.Id == k.Id {
				return cairn.E("signing-key.rotate", cairn.Exists, fmt.Errorf("signing key %d exists", k.Id))
			}
		}
	}
	for _, old := range keys {
		switch {
		case old.ExpiresNs == 0 && req.Key != nil:
			old.ExpiresNs = t.now + req.PublishNs + req.KeepNs
			if err := putProto(t.b, signingKeyKey(old.Id), old); err != nil {
				return err
			}
		case old.ExpiresNs != 0 && old.ExpiresNs < t.now:
			if err := t.b.Delete(signingKeyKey(old.Id), nil); err != nil {
				return cairn.E("signing-key.rotate", cairn.Internal, err)
			}
		}
	}
	if req.Key == nil {
		return nil
	}
	k := proto.Clone(req.Key).(*pb.SigningKey)
	k.CreatedNs, k.ExpiresNs, k.ActiveNs = t.now, 0, t.now+req.PublishNs
	return putProto(t.b, signingKeyKey(k.Id), k)
}

// listSigningKeys returns every signing key, the newest (latest to become
// active) first.
func listSigningKeys(r reader) ([]*pb.SigningKey, error) {
	var out []*pb.SigningKey
	err := eachProto(r, []byte{tagSignKey}, "signing-key.list", func() *pb.SigningKey { return &pb.SigningKey{} }, func(_ []byte, k *pb.SigningKey) bool {
		out = append(out, k)
		return true
	})
	slices.SortFunc(out, func(a, b *pb.SigningKey) int { return cmp.Compare(b.ActiveNs, a.ActiveNs) })
	return out, err
}

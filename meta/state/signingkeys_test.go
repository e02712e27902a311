package state

import (
	"errors"
	"testing"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

func TestSigningKeyRotation(t *testing.T) {
	h := newMachine(t)
	key := func(id uint32) *pb.SigningKey {
		return &pb.SigningKey{Id: id, PublicKey: make([]byte, 32), PrivateKey: []byte("seed")}
	}
	rotate := func(k *pb.SigningKey, keep int64) error {
		return h.apply(&pb.Command{Op: &pb.Command_RotateSigningKey{RotateSigningKey: &pb.RotateSigningKey{Key: k, KeepNs: keep, PublishNs: 500}}}).Err
	}
	keys := func() []*pb.SigningKey {
		ks, err := h.f.Latest().SigningKeys()
		if err != nil {
			t.Fatal(err)
		}
		return ks
	}
	h.mustOK(rotate(key(1), 2500))
	h.mustOK(rotate(key(2), 2500))
	ks := keys()
	if len(ks) != 2 || ks[0].Id != 2 || ks[0].ExpiresNs != 0 || ks[0].ActiveNs != h.now+500 || ks[1].Id != 1 || ks[1].ExpiresNs != h.now+500+2500 {
		t.Fatalf("after two rotations: %v", ks)
	}
	if err := rotate(key(2), 2500); !errors.Is(err, cairn.Exists) {
		t.Errorf("reusing a key ID: %v, want Exists", err)
	}
	if err := rotate(&pb.SigningKey{Id: 3}, 2500); !errors.Is(err, cairn.Invalid) {
		t.Errorf("a key without its halves: %v, want Invalid", err)
	}
	// Key 1 expires 3000ns after the second rotation (once key 2 signs,
	// plus keep); entries are 1000ns apart, and the refused ones applied
	// nothing but took time.
	h.mustOK(rotate(nil, 0))
	if ks := keys(); len(ks) != 2 {
		t.Fatalf("key 1 removed the moment it expires: %v", ks)
	}
	h.mustOK(rotate(nil, 0))
	if ks := keys(); len(ks) != 1 || ks[0].Id != 2 {
		t.Fatalf("after key 1 expired: %v", ks)
	}
	h.reopen()
	if ks := keys(); len(ks) != 1 || ks[0].Id != 2 || ks[0].ExpiresNs != 0 {
		t.Fatalf("after a restart: %v", ks)
	}
}

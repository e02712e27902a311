package state

import (
	"testing"

	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// TestReseal: a reseal swaps the secrets still stored as the leader read
// them and skips those changed or removed since; a restart keeps the
// swaps.
func TestReseal(t *testing.T) {
	h := newMachine(t)
	put := func(ak, secret string) {
		h.mustOK(h.apply(&pb.Command{Op: &pb.Command_PutCredential{PutCredential: &pb.PutCredentialRequest{
			Credential: &pb.Credential{AccessKey: ak, Secret: secret}}}}).Err)
	}
	put("KEEP", "sealed:v1:old:a")
	put("CHANGED", "sealed:v1:old:b")
	put("GONE", "sealed:v1:old:c")
	h.mustOK(h.apply(&pb.Command{Op: &pb.Command_RotateSigningKey{RotateSigningKey: &pb.RotateSigningKey{
		Key: &pb.SigningKey{Id: 7, PublicKey: make([]byte, 32), PrivateKey: []byte("old-sealed-seed"), Sealing: "secrets-v1"}, KeepNs: 1}}}).Err)
	// Between the leader's read and the reseal: one changes, one goes.
	put("CHANGED", "sealed:v1:new:changed")
	h.mustOK(h.apply(&pb.Command{Op: &pb.Command_DeleteCredential{DeleteCredential: &pb.DeleteCredentialRequest{AccessKey: "GONE"}}}).Err)

	r := h.apply(&pb.Command{Op: &pb.Command_ResealSecrets{ResealSecrets: &pb.ResealSecretsRequest{
		Credentials: []*pb.ResealedCredential{
			{AccessKey: "KEEP", From: "sealed:v1:old:a", To: "sealed:v1:new:a"},
			{AccessKey: "CHANGED", From: "sealed:v1:old:b", To: "sealed:v1:new:b"},
			{AccessKey: "GONE", From: "sealed:v1:old:c", To: "sealed:v1:new:c"},
		},
		SigningKeys: []*pb.ResealedSigningKey{
			{Id: 7, From: []byte("old-sealed-seed"), To: []byte("new-sealed-seed"), Sealing: "secrets-v1"},
			{Id: 8, From: []byte("x"), To: []byte("y"), Sealing: "secrets-v1"},
		},
	}}})
	h.mustOK(r.Err)
	got := r.Resp.(*pb.ResealSecretsResponse)
	if got.Credentials != 1 || got.SigningKeys != 1 || got.Skipped != 3 {
		t.Fatalf("resealed %v, want 1 credential, 1 signing key, 3 skipped", got)
	}
	h.reopen()
	secret := func(ak string) string {
		c, err := h.f.Latest().Credential(ak)
		if err != nil {
			t.Fatal(err)
		}
		return c.Secret
	}
	if s := secret("KEEP"); s != "sealed:v1:new:a" {
		t.Errorf("KEEP: %q, want the resealed secret", s)
	}
	if s := secret("CHANGED"); s != "sealed:v1:new:changed" {
		t.Errorf("CHANGED: %q, want the secret put after the leader's read", s)
	}
	if _, err := h.f.Latest().Credential("GONE"); err == nil {
		t.Error("the reseal brought back a removed credential")
	}
	ks, err := h.f.Latest().SigningKeys()
	if err != nil || len(ks) != 1 || string(ks[0].PrivateKey) != "new-sealed-seed" {
		t.Fatalf("signing keys after the reseal: %v, %v", ks, err)
	}
	all, err := h.f.Latest().CredentialSecrets()
	if err != nil || len(all) != 2 || all[0].Secret == "" {
		t.Errorf("CredentialSecrets = %v, %v; want both credentials with their secrets", all, err)
	}
}

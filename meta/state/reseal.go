package state

import (
	"bytes"

	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// Resealing swaps stored secrets (credentials' secrets, signing keys'
// private halves) for the same secrets sealed under another key, during a
// rotation of the secrets key. The leader does the sealing and the
// command carries the results, so applying it is deterministic: it only
// compares and swaps bytes.

// reseal applies the command that reseals secrets.
type reseal struct{ *tx }

// apply swaps each secret whose stored value is still the one the leader
// resealed, and counts the swaps; a secret changed or removed since is
// skipped (counted, not an error).
func (t reseal) apply(req *pb.ResealSecretsRequest) (*pb.ResealSecretsResponse, error) {
	out := &pb.ResealSecretsResponse{}
	for _, rc := range req.Credentials {
		c := &pb.Credential{}
		ok, err := getProto(t.b, credentialKey(rc.AccessKey), c)
		if err != nil {
			return nil, err
		}
		if !ok || c.Secret != rc.From {
			out.Skipped++
			continue
		}
		c.Secret = rc.To
		if err := putProto(t.b, credentialKey(rc.AccessKey), c); err != nil {
			return nil, err
		}
		out.Credentials++
	}
	for _, rk := range req.SigningKeys {
		k := &pb.SigningKey{}
		ok, err := getProto(t.b, signingKeyKey(rk.Id), k)
		if err != nil {
			return nil, err
		}
		if !ok || !bytes.Equal(k.PrivateKey, rk.From) {
			out.Skipped++
			continue
		}
		k.PrivateKey, k.Sealing = rk.To, rk.Sealing
		if err := putProto(t.b, signingKeyKey(rk.Id), k); err != nil {
			return nil, err
		}
		out.SigningKeys++
	}
	return out, nil
}

// credentialSecrets returns every credential with its secret (for the
// leader's reseal; nothing outside the metadata service sees them).
func credentialSecrets(r reader) ([]*pb.Credential, error) {
	var out []*pb.Credential
	err := eachProto(r, []byte{tagCred}, "credential.list", func() *pb.Credential { return &pb.Credential{} }, func(_ []byte, c *pb.Credential) bool {
		out = append(out, c)
		return true
	})
	return out, err
}

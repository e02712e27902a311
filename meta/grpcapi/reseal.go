package grpcapi

import (
	"context"
	"errors"
	"fmt"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/meta/secrets"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
	"github.com/cairnfs/cairn/rpcerr"
)

// resealBatch bounds the secrets one reseal command carries (a sealed
// S3 secret is at most secrets.MaxSealedLen bytes, a signing key less),
// so a cluster with many credentials proposes several small commands.
const resealBatch = 256

// ResealSecrets seals every stored secret not yet sealed under this
// peer's current secrets key with it: the second step of a key rotation,
// after every peer runs with the new --secrets-key-file and the old key as
// --secrets-old-key-file. The leader opens and seals, because sealing
// draws random nonces: peers that each sealed while applying would store
// different bytes. It proposes the results in batches (each swap applies
// only if the stored value is unchanged since this read; see
// state.reseal) and answers the counts. A secret that does not open with
// this peer's keys stops it before anything is proposed, with the access
// key or signing key that failed.
func (a operatorAPI) ResealSecrets(ctx context.Context, _ *pb.Empty) (*pb.ResealSecretsResponse, error) {
	const op = "reseal-secrets"
	s := a.c.cfg.Secrets
	if s == nil {
		return nil, rpcerr.ToStatus(cairn.E(op, cairn.Invalid, errors.New(
			"the metadata leader has no secrets key to seal with: start every peer with --secrets-key-file (and the previous key as --secrets-old-key-file)")))
	}
	if err := a.c.prop.Readable(ctx, false); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	batches, err := resealPlan(a.c, s)
	if err != nil {
		return nil, rpcerr.ToStatus(cairn.E(op, err))
	}
	total := &pb.ResealSecretsResponse{KeyId: s.ID()}
	for _, b := range batches {
		resp, err := a.c.write(ctx, &pb.Command{Op: &pb.Command_ResealSecrets{ResealSecrets: b}})
		if err != nil {
			return nil, err
		}
		r := resp.(*pb.ResealSecretsResponse)
		total.Credentials += r.Credentials
		total.SigningKeys += r.SigningKeys
		total.Skipped += r.Skipped
	}
	if total.Credentials+total.SigningKeys > 0 {
		a.c.cfg.Logger.Info("resealed stored secrets under the current secrets key", "key", s.ID(),
			"credentials", total.Credentials, "signing_keys", total.SigningKeys, "skipped", total.Skipped)
	}
	return total, nil
}

// resealPlan reads every stored secret not sealed under s's current key,
// reseals it, and returns the commands that store the results, at most
// resealBatch secrets each.
func resealPlan(c *core, s *secrets.Sealer) ([]*pb.ResealSecretsRequest, error) {
	view := c.st.Latest()
	creds, err := view.CredentialSecrets()
	if err != nil {
		return nil, err
	}
	keys, err := view.SigningKeys()
	if err != nil {
		return nil, err
	}
	var out []*pb.ResealSecretsRequest
	cur := func() *pb.ResealSecretsRequest {
		if len(out) == 0 || len(out[len(out)-1].Credentials)+len(out[len(out)-1].SigningKeys) >= resealBatch {
			out = append(out, &pb.ResealSecretsRequest{})
		}
		return out[len(out)-1]
	}
	for _, cr := range creds {
		if s.Current(cr.Secret) {
			continue
		}
		plain, err := secrets.Open(s, cr.AccessKey, cr.Secret)
		if err != nil {
			return nil, cairn.E(cairn.PathArg(cr.AccessKey), cairn.Internal, fmt.Errorf("credential %s: %w; nothing was resealed", cr.AccessKey, err))
		}
		b := cur()
		b.Credentials = append(b.Credentials, &pb.ResealedCredential{AccessKey: cr.AccessKey, From: cr.Secret, To: s.Seal(cr.AccessKey, plain)})
	}
	ks := secrets.Keys{S: s}
	for _, k := range keys {
		if ks.Current(k.PrivateKey, k.Sealing) {
			continue
		}
		seed, err := ks.Open(k.PrivateKey, k.Sealing)
		if err != nil {
			return nil, cairn.E(cairn.Internal, fmt.Errorf("token signing key %d: %w; nothing was resealed", k.Id, err))
		}
		sealed, sealing, err := ks.Seal(seed)
		if err != nil {
			return nil, cairn.E(cairn.Internal, err)
		}
		b := cur()
		b.SigningKeys = append(b.SigningKeys, &pb.ResealedSigningKey{Id: k.Id, From: k.PrivateKey, To: sealed, Sealing: sealing})
	}
	return out, nil
}

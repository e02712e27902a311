package client

import (
	"context"
	"time"

	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// Credential is an access key and its secret, stored in the metadata
// service. Services in front of Cairn (the S3 gateway is one) verify the
// requests they serve against them; every such service sees the same set.
type Credential struct {
	AccessKey   string
	Secret      string // empty in the Credentials listing
	Description string // a note kept with the key
	Created     time.Time
	// User is the namespace user the key belongs to; empty means the
	// access key is its own identity. The S3 gateway treats a key with
	// neither User nor Policy as an administrator key.
	User string
	// Policy is an IAM identity policy (JSON) limiting what the key may
	// do through the S3 gateway. The metadata service stores it as given;
	// the gateway and the CLI validate it (package s3/policy). In the
	// Credentials listing it is returned as well, so callers can show
	// whether one is set.
	Policy string
}

// PutCredentialOptions tune PutCredential.
type PutCredentialOptions struct {
	// Exclusive makes PutCredential fail with Exists if the access key is
	// taken, instead of replacing its secret and description.
	Exclusive bool
}

// PutCredential stores a credential (its Created is set by the metadata
// service). Invalid if the access key or secret is not acceptable; the
// error says what is.
func (a *Admin) PutCredential(ctx context.Context, cred Credential, opts PutCredentialOptions) error {
	pc := &pb.Credential{AccessKey: cred.AccessKey, Secret: cred.Secret, Description: cred.Description,
		User: cred.User, Policy: cred.Policy}
	return a.c.leader(ctx, func(ctx context.Context, m stubs) error {
		_, err := m.creds.PutCredential(ctx, &pb.PutCredentialRequest{Credential: pc, Exclusive: opts.Exclusive})
		return err
	})
}

// DeleteCredential removes an access key; NotFound if there is none.
// Services that cache secrets may accept it for a short while after.
func (a *Admin) DeleteCredential(ctx context.Context, accessKey string) error {
	return a.c.leader(ctx, func(ctx context.Context, m stubs) error {
		_, err := m.creds.DeleteCredential(ctx, &pb.DeleteCredentialRequest{AccessKey: accessKey})
		return err
	})
}

// Credentials lists the stored credentials without their secrets.
func (a *Admin) Credentials(ctx context.Context) ([]Credential, error) {
	var resp *pb.ListCredentialsResponse
	err := a.c.reader(ctx, func(ctx context.Context, m stubs) (err error) {
		resp, err = m.creds.ListCredentials(ctx, &pb.ListCredentialsRequest{})
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]Credential, len(resp.Credentials))
	for i, pc := range resp.Credentials {
		out[i] = newCredential(pc)
	}
	return out, nil
}

// CredentialSecret returns one credential with its secret, for a service
// verifying a request signed with accessKey; NotFound if there is no such
// key. Any metadata peer may answer, so a key added a moment ago may not
// be found yet.
func (a *Admin) CredentialSecret(ctx context.Context, accessKey string) (*Credential, error) {
	var pc *pb.Credential
	err := a.c.any(ctx, func(ctx context.Context, m stubs) (err error) {
		pc, err = m.creds.GetSecret(ctx, &pb.GetSecretRequest{AccessKey: accessKey})
		return err
	})
	if err != nil {
		return nil, err
	}
	cred := newCredential(pc)
	return &cred, nil
}

func newCredential(pc *pb.Credential) Credential {
	return Credential{AccessKey: pc.AccessKey, Secret: pc.Secret, Description: pc.Description, Created: unixNano(pc.CreatedNs),
		User: pc.User, Policy: pc.Policy}
}

// Resealed counts what ResealSecrets resealed.
type Resealed struct {
	Credentials int    // S3 secret keys
	SigningKeys int    // capability token signing keys
	Skipped     int    // changed while it ran: run it again
	KeyID       string // the secrets key they are sealed with now
}

// ResealSecrets has the metadata leader seal every stored secret (S3
// secret keys, token signing keys) that is not sealed under its current
// secrets key with that key: the second step of rotating the key, once
// every metadata peer runs with the new key and the old one as
// --secrets-old-key-file. It may be run again at any time; a run with
// nothing to do resealed nothing. Invalid when the leader has no secrets
// key; Internal, with the key that failed, when a secret does not open
// with the leader's keys (then nothing was resealed).
func (a *Admin) ResealSecrets(ctx context.Context) (*Resealed, error) {
	var out *Resealed
	err := a.c.leader(ctx, func(ctx context.Context, m stubs) error {
		r, err := m.ops.ResealSecrets(ctx, &pb.Empty{})
		if err != nil {
			return err
		}
		out = &Resealed{Credentials: int(r.Credentials), SigningKeys: int(r.SigningKeys), Skipped: int(r.Skipped), KeyID: r.KeyId}
		return nil
	})
	return out, err
}

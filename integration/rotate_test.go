package integration

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/internal/await"
	"github.com/cairnfs/cairn/internal/testcluster"
	"github.com/cairnfs/cairn/meta/secrets"
	"github.com/cairnfs/cairn/pki"
)

// TestRotateSecretsKey rotates the secrets key of a three-peer Raft
// cluster the documented way: restart every peer with the new key and
// the old one as its old key, reseal, restart with only the new key. The
// S3 secret still reads back on the gateway's side, and tokens are still
// minted (a file is written and read) with the resealed signing key,
// which every restarted peer must open with the new key.
func TestRotateSecretsKey(t *testing.T) {
	const secret = "rotate-me-0123456789abcdef"
	c := testcluster.New(t, testcluster.Options{Metas: 3, Nodes: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	adm := c.Client().Admin()
	if err := adm.PutCredential(ctx, client.Credential{AccessKey: "ROTATE", Secret: secret}, client.PutCredentialOptions{}); err != nil {
		t.Fatal(err)
	}
	roundTrip := func(name string) {
		t.Helper()
		data := testcluster.RandBytes(uint64(len(name)), 100_000)
		if _, err := c.Client().WriteFile(ctx, "/"+name, bytes.NewReader(data), client.WriteOptions{}); err != nil {
			t.Fatalf("writing /%s: %v", name, err)
		}
		r, err := c.Client().Open(ctx, "/"+name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("reading /%s back: %d bytes, %v", name, len(got), err)
		}
	}
	roundTrip("before")
	gw := c.NewClient(client.Options{TLS: c.Cert("gw", pki.Gateway)}).Admin()
	checkSecret := func(when string) {
		t.Helper()
		cred, err := gw.CredentialSecret(ctx, "ROTATE")
		if err != nil || cred.Secret != secret {
			t.Fatalf("%s: the gateway reads %+v, %v", when, cred, err)
		}
	}
	restartAll := func(s *secrets.Sealer) {
		t.Helper()
		c.Secrets = s
		for i := range c.Metas {
			c.StopMeta(i)
			c.StartMeta(i)
		}
	}

	oldKey := c.Secrets
	key := make([]byte, secrets.KeySize)
	crand.Read(key)
	newKey, err := secrets.New(key)
	if err != nil {
		t.Fatal(err)
	}
	restartAll(newKey.WithOld(oldKey))
	checkSecret("with both keys")

	// Only an admin may reseal.
	if _, err := c.NewClient(client.Options{TLS: c.Cert("alice", pki.User)}).Admin().ResealSecrets(ctx); !errors.Is(err, cairn.Permission) {
		t.Errorf("a user resealed: %v", err)
	}
	r, err := adm.ResealSecrets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Credentials != 1 || r.SigningKeys < 1 || r.Skipped != 0 || r.KeyID != newKey.ID() {
		t.Fatalf("reseal: %+v, want 1 credential, the signing keys, under key %s", r, newKey.ID())
	}
	if again, err := adm.ResealSecrets(ctx); err != nil || again.Credentials+again.SigningKeys+again.Skipped != 0 {
		t.Fatalf("a second reseal found work: %+v, %v", again, err)
	}

	// Every peer applies the reseal before it loses the old key: a peer
	// restarted behind it would hold secrets only the old key opens until
	// it caught up (docs/security.md says to check `cairn cluster`).
	lead := c.Metas[c.Leader()].Proc.Server.AppliedIndex()
	await.True(t, time.Minute, "every peer to apply the reseal", func() bool {
		for _, m := range c.Metas {
			if m.Proc.Server.AppliedIndex() < lead {
				return false
			}
		}
		return true
	})
	restartAll(newKey)
	checkSecret("with only the new key")
	roundTrip("after")

	// And the old key alone no longer opens anything: the secrets really
	// moved.
	c.StopMeta(0)
	c.StopMeta(1)
	c.StopMeta(2)
	c.Secrets = oldKey
	for i := range c.Metas {
		c.StartMeta(i)
	}
	if _, err := gw.CredentialSecret(ctx, "ROTATE"); err == nil || !strings.Contains(err.Error(), newKey.ID()) {
		t.Errorf("with only the old key: %v, want an error naming the new key %s", err, newKey.ID())
	}
}

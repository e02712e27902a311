package integration

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/internal/testcluster"
	"github.com/cairnfs/cairn/pki"
)

// TestSecretsSealedAtRest: an S3 secret put through the API is in no file
// of any metadata peer (Raft log, snapshots, state) on a cluster with a
// secrets key, while a gateway still reads it back; on a cluster without
// one, the same search finds it (so the search can fail).
func TestSecretsSealedAtRest(t *testing.T) {
	const secret = "Zq8vN3kpW7xLr2TyB5mHc9Df"
	for _, sealed := range []bool{true, false} {
		c := testcluster.New(t, testcluster.Options{Metas: 3, Nodes: 1, Insecure: !sealed, SnapshotEntries: 4})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		adm := c.Client().Admin()
		if err := adm.PutCredential(ctx, client.Credential{AccessKey: "SEALME", Secret: secret}, client.PutCredentialOptions{}); err != nil {
			t.Fatal(err)
		}
		for i := range 8 { // past a snapshot
			if _, err := c.Client().Mkdir(ctx, "/d"+string(rune('a'+i)), client.MkdirOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		gw := c.NewClient(client.Options{TLS: c.Cert("gw", pki.Gateway)}).Admin()
		if !sealed {
			gw = adm // an insecure cluster checks no roles
		}
		cred, err := gw.CredentialSecret(ctx, "SEALME")
		if err != nil || cred.Secret != secret {
			t.Fatalf("sealed=%v: the gateway reads %+v, %v", sealed, cred, err)
		}
		for i := range c.Metas {
			c.StopMeta(i) // flush everything to disk
		}
		var found []string
		for _, m := range c.Metas {
			filepath.WalkDir(m.Dir, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return nil
				}
				if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(secret)) {
					found = append(found, p)
				}
				return nil
			})
		}
		switch {
		case sealed && len(found) > 0:
			t.Errorf("the secret is in clear in %v", found)
		case !sealed && len(found) == 0:
			t.Errorf("without a secrets key the secret was not found on disk either: the search cannot see it")
		}
	}
}

// TestSealedSecretNeedsTheKey: a peer restarted without the key, or with
// another, refuses to hand out a sealed secret and says why.
func TestSealedSecretNeedsTheKey(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Metas: 1, Nodes: 1})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Client().Admin().PutCredential(ctx, client.Credential{AccessKey: "SEALME", Secret: "a-secret-key-1234"}, client.PutCredentialOptions{}); err != nil {
		t.Fatal(err)
	}
	forged := client.Credential{AccessKey: "FORGED", Secret: "sealed:v1:0000000000000000:AAAA"}
	if err := c.Client().Admin().PutCredential(ctx, forged, client.PutCredentialOptions{}); !errors.Is(err, cairn.Invalid) {
		t.Errorf("a secret in the sealed form was accepted as plain text: %v", err)
	}
	gw := c.NewClient(client.Options{TLS: c.Cert("gw", pki.Gateway)}).Admin()
	c.StopMeta(0)
	c.Secrets = nil
	c.StartMeta(0)
	_, err := gw.CredentialSecret(ctx, "SEALME")
	if !errors.Is(err, cairn.Internal) || !bytes.Contains([]byte(err.Error()), []byte("--secrets-key-file")) {
		t.Fatalf("without the key: %v, want an Internal error naming --secrets-key-file", err)
	}
}

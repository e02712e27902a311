package keyring

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/meta/state"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
	"github.com/cairnfs/cairn/token"
)

// applier applies proposals to a state machine at once, as the leader.
type applier struct{ st *state.Machine }

func (a applier) Propose(_ context.Context, cmd *pb.Command) (proto.Message, error) {
	cmd.NowNs = time.Now().UnixNano()
	res, _ := a.st.Apply(a.st.AppliedIndex()+1, cmd)
	return res.Resp, res.Err
}

func (applier) IsLeader() bool { return true }

func newKeyring(t *testing.T, cfg Config) *Keyring {
	st, err := state.Open(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a := applier{st}
	return New(cfg, Deps{Proposer: a, Leader: a, State: st})
}

// verifier returns a Verifier that knows the keyring's public keys.
func verifier(t *testing.T, k *Keyring) *token.Verifier {
	keys, err := k.PublicKeys()
	if err != nil {
		t.Fatal(err)
	}
	v := token.NewVerifier(16, time.Second)
	var tks []token.Key
	for _, pk := range keys {
		tk := token.Key{ID: pk.Id, Public: ed25519.PublicKey(pk.PublicKey)}
		if pk.ExpiresNs != 0 {
			tk.Expiry = time.Unix(0, pk.ExpiresNs)
		}
		tks = append(tks, tk)
	}
	v.SetKeys(tks)
	return v
}

func TestKeyringMintsAndRotates(t *testing.T) {
	ctx := context.Background()
	k := newKeyring(t, Config{TokenLifetime: 200 * time.Millisecond, ClockSkew: 10 * time.Millisecond, RotateEvery: time.Hour})
	id := cairn.NewChunkID()
	if _, err := k.Mint(token.Read, "alice", []cairn.ChunkID{id}); cairn.KindOf(err) != cairn.Unavailable {
		t.Fatalf("minting without a key: %v, want Unavailable", err)
	}
	if err := k.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if err := k.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if keys, _ := k.PublicKeys(); len(keys) != 1 {
		t.Fatalf("Ensure twice made %d keys, want 1", len(keys))
	}
	old, err := k.Mint(token.Read, "alice", []cairn.ChunkID{id})
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	fresh, err := k.Mint(token.Read, "alice", []cairn.ChunkID{id})
	if err != nil {
		t.Fatal(err)
	}
	v := verifier(t, k)
	for name, tok := range map[string][]byte{"before the rotation": old, "after it": fresh} {
		if err := v.Verify(tok, token.Read, id, time.Now()); err != nil {
			t.Errorf("token minted %s: %v", name, err)
		}
	}
	// Once the old key's tokens have expired, a round removes it.
	time.Sleep(250 * time.Millisecond)
	if err := k.step(ctx); err != nil {
		t.Fatal(err)
	}
	if keys, _ := k.PublicKeys(); len(keys) != 1 || keys[0].ExpiresNs != 0 {
		t.Fatalf("after the old key expired: %v", keys)
	}
	if err := verifier(t, k).Verify(old, token.Read, id, time.Now()); cairn.KindOf(err) != cairn.Permission {
		t.Errorf("token of the removed key: %v, want Permission", err)
	}
}

func TestPlainRefusesSealedKeys(t *testing.T) {
	if _, err := (Plain{}).Open([]byte("x"), "aes-gcm/cluster-key"); err == nil {
		t.Error("Plain opened a sealed key")
	}
}

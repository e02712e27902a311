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
	k := newKeyring(t, Config{TokenLifetime: 200 * time.Millisecond, ClockSkew: 10 * time.Millisecond, RotateEvery: time.Hour, PublishDelay: 50 * time.Millisecond})
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
	v := verifier(t, k) // published before it signs
	keyOf := func(tok []byte) uint32 {
		c, _, _, err := token.Parse(tok)
		if err != nil {
			t.Fatal(err)
		}
		return c.KeyID
	}
	if signed, err := k.Sign(token.Claims{Op: token.Read, Expiry: time.Now().Add(time.Second), Chunks: []cairn.ChunkID{id}}); err != nil || keyOf(signed) != keyOf(old) {
		t.Fatalf("the new key signed before it was published (%v)", err)
	}
	time.Sleep(60 * time.Millisecond)
	fresh, err := k.Mint(token.Read, "alice", []cairn.ChunkID{id})
	if err != nil {
		t.Fatal(err)
	}
	if keyOf(fresh) == keyOf(old) {
		t.Fatal("the new key does not sign once published")
	}
	for name, tok := range map[string][]byte{"before the rotation": old, "after it": fresh} {
		if err := v.Verify(tok, token.Read, id, time.Now()); err != nil {
			t.Errorf("token minted %s: %v", name, err)
		}
	}
	// Once the old key's tokens have expired, a round removes it.
	time.Sleep(300 * time.Millisecond)
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

func TestMintReusesRecentTokens(t *testing.T) {
	ctx := context.Background()
	k := newKeyring(t, Config{TokenLifetime: 300 * time.Millisecond, PublishDelay: time.Millisecond})
	if err := k.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	ids := []cairn.ChunkID{cairn.NewChunkID(), cairn.NewChunkID()}
	mint := func(op token.Op, user string, ids ...cairn.ChunkID) string {
		tok, err := k.Mint(op, user, ids)
		if err != nil {
			t.Fatal(err)
		}
		return string(tok)
	}
	first := mint(token.Read, "alice", ids...)
	if mint(token.Read, "alice", ids...) != first {
		t.Error("the same request got a new token")
	}
	for name, other := range map[string]string{
		"another user": mint(token.Read, "bob", ids...), "another op": mint(token.Write, "alice", ids...),
		"other chunks": mint(token.Read, "alice", ids[0]),
	} {
		if other == first {
			t.Errorf("%s got the same token", name)
		}
	}
	time.Sleep(160 * time.Millisecond) // less than half its lifetime left
	if mint(token.Read, "alice", ids...) == first {
		t.Error("a token with less than half its lifetime left was handed out again")
	}
	again := mint(token.Read, "alice", ids...)
	if err := k.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond)
	if mint(token.Read, "alice", ids...) == again {
		t.Error("a token of the retired key was handed out after a rotation")
	}
}

func BenchmarkMint(b *testing.B) {
	st, err := state.Open(b.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	a := applier{st}
	k := New(Config{}, Deps{Proposer: a, Leader: a, State: st})
	if err := k.Ensure(context.Background()); err != nil {
		b.Fatal(err)
	}
	ids := []cairn.ChunkID{cairn.NewChunkID()}
	b.Run("fresh", func(b *testing.B) {
		for b.Loop() {
			if _, err := k.Sign(token.Claims{Op: token.Read, Expiry: time.Now().Add(time.Hour), Chunks: ids}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reused", func(b *testing.B) {
		for b.Loop() {
			if _, err := k.Mint(token.Read, "alice", ids); err != nil {
				b.Fatal(err)
			}
		}
	})
}

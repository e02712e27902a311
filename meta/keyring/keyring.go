// Package keyring keeps the metadata service's capability token signing
// keys and mints tokens with them (package token has the format). The
// keys are part of the replicated state (meta/state's k table, changed
// only by the RotateSigningKey command), so every peer that becomes
// leader signs with the same current key and hands data nodes the same
// public keys.
//
// While its peer leads, a Keyring creates the first key when there is
// none, rotates the key every Config.RotateEvery, and removes retired keys
// once every token they signed has expired. A new key is published (data
// nodes learn it from their heartbeats) Config.PublishDelay before it
// signs, so no node sees a token of a key it does not know yet; the key it
// replaces signs until then and stays valid for the longest token
// lifetime plus the clock skew data nodes allow, so a rotation never
// breaks a token a client holds.
//
// It imports the state machine's package for its views, never the Raft
// server (meta), gRPC or the front end.
package keyring

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/meta/state"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
	"github.com/cairnfs/cairn/token"
)

// Config shapes a Keyring. Zero fields take the defaults.
type Config struct {
	RotateEvery   time.Duration // a new signing key this often; default 24h
	TokenLifetime time.Duration // how long a minted token is valid; default 1h
	// ClockSkew is how far clocks of metadata peers and data nodes may
	// differ; a retired key is kept this much longer. Default 30s.
	ClockSkew time.Duration
	// PublishDelay is how long a new key is handed to data nodes before it
	// signs: long enough for every live node to heartbeat. Default 10s.
	PublishDelay time.Duration
	Logger       *slog.Logger
}

// The defaults.
const (
	DefaultRotateEvery   = 24 * time.Hour
	DefaultTokenLifetime = time.Hour
	DefaultClockSkew     = 30 * time.Second
	DefaultPublishDelay  = 10 * time.Second
)

// Proposer replicates a command through the log (meta.Proposer).
type Proposer interface {
	Propose(ctx context.Context, cmd *pb.Command) (proto.Message, error)
}

// Leader reports whether this peer leads and is ready to act for the
// cluster.
type Leader interface {
	IsLeader() bool
}

// State gives views of the state machine.
type State interface {
	Latest() *state.View
}

// Sealer protects private keys at rest and in the log: the leader seals a
// new key's seed before proposing it, and opens it to sign. Plain, the
// default, does not seal (sealing ""): the state directory's mode 0700 is
// what protects the keys. Sealing with a cluster key plugs in here.
type Sealer interface {
	Seal(seed []byte) (sealed []byte, sealing string, err error)
	// Open returns the seed; it fails on a sealing it does not know.
	Open(sealed []byte, sealing string) ([]byte, error)
}

// Plain is the Sealer that does not seal.
type Plain struct{}

// Seal returns the seed as it is.
func (Plain) Seal(seed []byte) ([]byte, string, error) { return seed, "", nil }

// Open returns an unsealed seed and refuses anything sealed.
func (Plain) Open(sealed []byte, sealing string) ([]byte, error) {
	if sealing != "" {
		return nil, fmt.Errorf("the key is sealed with %q, which this peer cannot open", sealing)
	}
	return sealed, nil
}

// Deps are what a Keyring works through. Sealer may be nil (Plain).
type Deps struct {
	Proposer Proposer
	Leader   Leader
	State    State
	Sealer   Sealer
}

// Keyring mints tokens with the current signing key and, on the leader,
// keeps the keys. It is safe for concurrent use.
type Keyring struct {
	cfg Config
	d   Deps

	mu     sync.Mutex
	priv   map[uint32]ed25519.PrivateKey // opened keys by ID
	rmu    sync.Mutex                    // one round (Ensure or step) at a time
	recent *recent                       // tokens minted lately, for reuse
}

// New returns a Keyring; it starts nothing.
func New(cfg Config, d Deps) *Keyring {
	if cfg.RotateEvery <= 0 {
		cfg.RotateEvery = DefaultRotateEvery
	}
	if cfg.TokenLifetime <= 0 {
		cfg.TokenLifetime = DefaultTokenLifetime
	}
	if cfg.ClockSkew <= 0 {
		cfg.ClockSkew = DefaultClockSkew
	}
	if cfg.PublishDelay <= 0 {
		cfg.PublishDelay = DefaultPublishDelay
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if d.Sealer == nil {
		d.Sealer = Plain{}
	}
	return &Keyring{cfg: cfg, d: d, priv: map[uint32]ed25519.PrivateKey{}, recent: newRecent(recentTokens)}
}

// Config returns the configuration with defaults filled in.
func (k *Keyring) Config() Config { return k.cfg }

// Mint returns a token allowing op on chunks for TokenLifetime from now,
// signed with the current key. A token minted lately for the same
// operation, user and chunks, with the current key and at least half its
// lifetime left, is handed out again instead: a file read over and over
// costs one signature here and one verification on each node. Without a
// key (a new cluster's leader has not made one yet) it fails with
// Unavailable.
func (k *Keyring) Mint(op token.Op, user string, chunks []cairn.ChunkID) ([]byte, error) {
	id, priv, err := k.current()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	key := reuseKey(op, user, chunks)
	if tok := k.recent.get(key, id, now.Add(k.cfg.TokenLifetime/2)); tok != nil {
		return tok, nil
	}
	exp := now.Add(k.cfg.TokenLifetime)
	tok, err := token.Mint(token.Claims{Op: op, KeyID: id, Expiry: exp, User: user, Chunks: chunks}, priv)
	if err != nil {
		return nil, err
	}
	k.recent.put(key, id, exp, tok)
	return tok, nil
}

// Sign signs claims as they are (their KeyID is set to the current key's)
// with the current key: Mint with a chosen expiry and no reuse, for
// tests. Errors as Mint's, and Invalid for claims the format cannot carry.
func (k *Keyring) Sign(c token.Claims) ([]byte, error) {
	id, priv, err := k.current()
	if err != nil {
		return nil, err
	}
	c.KeyID = id
	return token.Mint(c, priv)
}

// current returns the key that signs now, the newest already active:
// Unavailable when there is none, Internal when it cannot be opened.
func (k *Keyring) current() (uint32, ed25519.PrivateKey, error) {
	const op = "token.mint"
	keys, err := k.d.State.Latest().SigningKeys()
	if err != nil {
		return 0, nil, cairn.E(op, err)
	}
	now := time.Now().UnixNano()
	i := slices.IndexFunc(keys, func(sk *pb.SigningKey) bool { return sk.ActiveNs <= now })
	if i < 0 {
		return 0, nil, cairn.E(op, cairn.Unavailable, errors.New("the metadata leader has no token signing key yet; retry shortly"))
	}
	priv, err := k.open(keys[i])
	if err != nil {
		return 0, nil, cairn.E(op, cairn.Internal, err)
	}
	return keys[i].Id, priv, nil
}

// open returns the private key of sk, opening it the first time.
func (k *Keyring) open(sk *pb.SigningKey) (ed25519.PrivateKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if p, ok := k.priv[sk.Id]; ok {
		return p, nil
	}
	seed, err := k.d.Sealer.Open(sk.PrivateKey, sk.Sealing)
	if err != nil {
		return nil, fmt.Errorf("signing key %d: %w", sk.Id, err)
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("signing key %d: a seed of %d bytes, want %d", sk.Id, len(seed), ed25519.SeedSize)
	}
	p := ed25519.NewKeyFromSeed(seed)
	k.priv[sk.Id] = p
	return p, nil
}

// PublicKeys returns the keys data nodes verify tokens with.
func (k *Keyring) PublicKeys() ([]*pb.TokenKey, error) {
	keys, err := k.d.State.Latest().SigningKeys()
	if err != nil {
		return nil, err
	}
	out := make([]*pb.TokenKey, len(keys))
	for i, sk := range keys {
		out[i] = &pb.TokenKey{Id: sk.Id, PublicKey: sk.PublicKey, ExpiresNs: sk.ExpiresNs}
	}
	return out, nil
}

// Ensure proposes a first signing key, active at once, if there is none.
// The leader calls it as it takes office, so it can mint at once. An error
// means no key may have been made; Run tries again.
func (k *Keyring) Ensure(ctx context.Context) error {
	k.rmu.Lock()
	defer k.rmu.Unlock()
	keys, err := k.d.State.Latest().SigningKeys()
	if err != nil || len(keys) > 0 {
		return err
	}
	return k.rotate(ctx, true, 0)
}

// Rotate adds a new key, which signs from PublishDelay on, whatever the
// age of the current one.
func (k *Keyring) Rotate(ctx context.Context) error {
	k.rmu.Lock()
	defer k.rmu.Unlock()
	return k.rotate(ctx, true, k.cfg.PublishDelay)
}

// rotate proposes a rotation: to a fresh key that signs from publish on,
// or (withKey false) only the removal of expired keys.
func (k *Keyring) rotate(ctx context.Context, withKey bool, publish time.Duration) error {
	req := &pb.RotateSigningKey{KeepNs: int64(k.cfg.TokenLifetime + k.cfg.ClockSkew), PublishNs: int64(publish)}
	if withKey {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return cairn.E("keyring.rotate", cairn.Internal, err)
		}
		sealed, sealing, err := k.d.Sealer.Seal(priv.Seed())
		if err != nil {
			return cairn.E("keyring.rotate", cairn.Internal, err)
		}
		var id [4]byte
		if _, err := rand.Read(id[:]); err != nil {
			return cairn.E("keyring.rotate", cairn.Internal, err)
		}
		req.Key = &pb.SigningKey{Id: binary.BigEndian.Uint32(id[:]), PublicKey: pub, PrivateKey: sealed, Sealing: sealing}
	}
	if _, err := k.d.Proposer.Propose(ctx, &pb.Command{Op: &pb.Command_RotateSigningKey{RotateSigningKey: req}}); err != nil {
		return err
	}
	if withKey {
		k.cfg.Logger.Info("new token signing key", "key", req.Key.Id, "signs_in", publish)
	}
	return nil
}

// Run keeps the keys while this peer leads, until ctx ends: a first key,
// a new one every RotateEvery, and expired ones removed. Failures are
// logged and tried again a little later.
func (k *Keyring) Run(ctx context.Context) {
	t := time.NewTicker(min(max(k.cfg.RotateEvery/10, 100*time.Millisecond), time.Minute))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !k.d.Leader.IsLeader() {
			continue
		}
		if err := k.step(ctx); err != nil && ctx.Err() == nil {
			k.cfg.Logger.Warn("keeping the token signing keys", "err", err)
		}
	}
}

// step makes the one change the keys need now, if any.
func (k *Keyring) step(ctx context.Context) error {
	k.rmu.Lock()
	defer k.rmu.Unlock()
	keys, err := k.d.State.Latest().SigningKeys()
	if err != nil {
		return err
	}
	now := time.Now().UnixNano()
	if len(keys) == 0 {
		return k.rotate(ctx, true, 0)
	}
	if now-keys[0].ActiveNs >= int64(k.cfg.RotateEvery) {
		return k.rotate(ctx, true, k.cfg.PublishDelay)
	}
	for _, sk := range keys[1:] {
		if sk.ExpiresNs < now {
			return k.rotate(ctx, false, 0)
		}
	}
	return nil
}

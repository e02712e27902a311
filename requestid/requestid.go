// Package requestid names a client's calls that change the namespace, so
// that a retry of a call whose answer was lost gets the first attempt's
// result instead of applying it twice. The SDK attaches an ID to each such
// call (the same one to every retry of it); the metadata service carries
// it into the command it proposes (meta/state keeps results for
// state.RequestTTL). It is neutral ground: both sides import it.
package requestid

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"google.golang.org/grpc/metadata"
)

// Header is the gRPC metadata key that carries an ID: "<client hex>.<seq>".
const Header = "cairn-request"

// ID names one call of one client.
type ID struct {
	Client []byte // 16 random bytes per client
	Seq    uint64
}

func (id ID) String() string {
	return hex.EncodeToString(id.Client) + "." + strconv.FormatUint(id.Seq, 10)
}

// Source hands out the IDs of one client. It is safe for concurrent use.
type Source struct {
	client []byte
	seq    atomic.Uint64
}

// NewSource returns a source with a fresh random client ID.
func NewSource() *Source {
	c := make([]byte, 16)
	_, _ = rand.Read(c) // never fails (crypto/rand)
	return &Source{client: c}
}

// Next returns the ID of a new call.
func (s *Source) Next() ID { return ID{Client: s.client, Seq: s.seq.Add(1)} }

// Attach returns ctx with id in its outgoing metadata: every call made
// with it (retries included) names the same request.
func Attach(ctx context.Context, id ID) context.Context {
	return metadata.AppendToOutgoingContext(ctx, Header, id.String())
}

// From returns the ID of the incoming call, nil if it names none, or an
// error if the header is malformed.
func From(ctx context.Context) (*ID, error) {
	vs := metadata.ValueFromIncomingContext(ctx, Header)
	if len(vs) == 0 {
		return nil, nil
	}
	client, seq, ok := strings.Cut(vs[len(vs)-1], ".")
	c, err := hex.DecodeString(client)
	if !ok || err != nil || len(c) < 8 || len(c) > 32 {
		return nil, fmt.Errorf("malformed %s header %q: want <8-32 bytes in hex>.<sequence number>", Header, vs[len(vs)-1])
	}
	n, err := strconv.ParseUint(seq, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("malformed %s header %q: %v", Header, vs[len(vs)-1], err)
	}
	return &ID{Client: c, Seq: n}, nil
}

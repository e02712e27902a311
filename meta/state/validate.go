package state

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/meta/secrets"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// The checks a command must pass before it is proposed. They depend only on
// the request (and the clock), not on the state, so the front end runs them
// on the leader and a bad request never reaches the log.

var (
	accessKeyRE = regexp.MustCompile(`^[A-Za-z0-9_.\-+=@]{3,128}$`)
	secretKeyRE = regexp.MustCompile(`^[\x21-\x7e]{8,128}$`)
)

// CheckCredential validates an access key and its secret; the front end
// checks it before it proposes, and the state machine again when it
// applies. A bad pair is Invalid.
func CheckCredential(c *pb.Credential) error {
	if c == nil || !accessKeyRE.MatchString(c.AccessKey) {
		return cairn.E("credential", cairn.Invalid, errors.New("access key must be 3..128 characters of letters, digits and _.-+=@"))
	}
	sealed := secrets.IsSealed(c.Secret) && len(c.Secret) <= secrets.MaxSealedLen // put by a peer with a secrets key
	if !sealed && !secretKeyRE.MatchString(c.Secret) {
		return cairn.E("credential", cairn.PathArg(c.AccessKey), cairn.Invalid, errors.New("secret key must be 8..128 printable ASCII characters without spaces"))
	}
	return nil
}

// CheckXattrs bounds user attributes: names as path names, values ≤ 64 KiB
// in total. A violation is Invalid.
func CheckXattrs(m map[string]string) error {
	total := 0
	for k, val := range m {
		if k == "" || len(k) > cairn.MaxNameLen {
			return cairn.E("setattr", cairn.Invalid, fmt.Errorf("attribute name %q must be 1..%d bytes", k, cairn.MaxNameLen))
		}
		total += len(k) + len(val)
	}
	if total > 64<<10 {
		return cairn.E("setattr", cairn.Invalid, fmt.Errorf("user attributes total %d bytes; the limit is 64 KiB", total))
	}
	return nil
}

// CheckAge refuses chunks allocated more than maxAge before now: the
// garbage collector may already consider them orphans (a data node
// reconciling its chunks deletes unreferenced chunks older than that). A
// chunk too old, or a malformed chunk ID, is Invalid.
func CheckAge(chunks []*pb.StoredChunk, maxAge time.Duration, now time.Time) error {
	cutoff := now.Add(-maxAge)
	for _, sc := range chunks {
		id, err := cairn.ChunkIDFromBytes(sc.GetChunk().GetId())
		if err != nil {
			return err
		}
		if id.Time().Before(cutoff) {
			return cairn.E("commit", cairn.PathArg(id.String()), cairn.Invalid,
				fmt.Errorf("chunk was allocated at %s, more than %v ago; upload it again", id.Time().UTC().Format(time.RFC3339), maxAge))
		}
	}
	return nil
}

package linearize

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/client"
)

// Driver runs model operations against a Cairn cluster through the SDK, in
// the directory Dir (which must exist).
type Driver struct {
	C   *client.Client
	Dir string
}

// ErrCorrupt is returned with a Read whose bytes do not decode into
// pieces: the namespace may still be linearizable, but the data is wrong.
var ErrCorrupt = errors.New("linearize: read bytes that no write produced")

// Do runs in and returns what the client observed. err is the error the
// SDK returned, if any, for the caller's counts (a NotFound or Exists
// outcome is a result, not an error). A failed read observed nothing and
// comes back as Failed; a failed mutation may or may not have happened
// and comes back as Ambiguous.
func (d Driver) Do(ctx context.Context, in Input) (Output, error) {
	p := path.Join(d.Dir, in.Name)
	var err error
	out := Output{Result: OK}
	switch in.Kind {
	case Write, Create:
		mode := client.Overwrite
		if in.Kind == Create {
			mode = client.Exclusive
		}
		_, err = d.C.WriteFile(ctx, p, bytes.NewReader(Encode(in.Piece)), client.WriteOptions{Mode: mode})
	case Append:
		_, err = d.C.WriteFile(ctx, p, bytes.NewReader(Encode(in.Piece)), client.WriteOptions{Mode: client.AppendTo})
	case Read:
		// The read happens at Open (one metadata lookup names the
		// chunks); reading the chunks after it can fail — the file was
		// overwritten and its old chunks collected meanwhile — without
		// the file being missing: such a read observed nothing.
		var f *client.File
		if f, err = d.C.Open(ctx, p); err == nil {
			b, rerr := io.ReadAll(f)
			if rerr != nil {
				return Output{Result: Failed}, rerr
			}
			if out.Content, err = Decode(b); err != nil {
				return Output{Result: Failed}, err
			}
		}
	case Stat:
		var fi *client.FileInfo
		if fi, err = d.C.Stat(ctx, p); err == nil {
			out.Size = fi.Size()
		}
	case Rename:
		err = d.C.Rename(ctx, p, path.Join(d.Dir, in.To), client.RenameOptions{})
	case Remove:
		_, err = d.C.Remove(ctx, p, client.RemoveOptions{})
	case List:
		var infos []*client.FileInfo
		if infos, err = d.C.ReadDir(ctx, d.Dir); err == nil {
			out.Names = []string{}
			for _, fi := range infos {
				out.Names = append(out.Names, fi.Name())
			}
			slices.Sort(out.Names)
		}
	default:
		return Output{Result: Failed}, fmt.Errorf("linearize: unknown operation %v", in.Kind)
	}
	switch {
	case err == nil:
		return out, nil
	case errors.Is(err, cairn.NotFound) && in.Kind != Write && in.Kind != Create && in.Kind != Append:
		return Output{Result: NotFound}, nil
	case errors.Is(err, cairn.Exists) && in.Kind == Create:
		return Output{Result: Exists}, nil
	case in.Kind == Read || in.Kind == Stat || in.Kind == List:
		return Output{Result: Failed}, err
	}
	return Output{Result: Ambiguous}, err
}

// Encode renders a piece as the bytes a workload writes: a header naming
// the tag and size, then filler up to the size (at least the header).
func Encode(p Piece) []byte {
	head := fmt.Sprintf("[%s %d]", p.Tag, p.Size)
	if int64(len(head)) > p.Size {
		panic(fmt.Sprintf("linearize: piece %s is smaller than its header", p))
	}
	b := make([]byte, p.Size)
	copy(b, head)
	for i := len(head); i < len(b); i++ {
		b[i] = p.Tag[i%len(p.Tag)]
	}
	return b
}

// MinPieceSize is the smallest size Encode accepts for a tag.
func MinPieceSize(tag string) int64 { return int64(len(fmt.Sprintf("[%s %d]", tag, 1<<40))) }

// Decode splits a file's bytes back into the pieces Encode wrote, checking
// every byte.
func Decode(b []byte) ([]Piece, error) {
	ps := []Piece{}
	for len(b) > 0 {
		end := bytes.IndexByte(b, ']')
		if b[0] != '[' || end < 0 {
			return nil, fmt.Errorf("%w: no piece header at %q", ErrCorrupt, head(b))
		}
		tag, n, ok := bytes.Cut(b[1:end], []byte(" "))
		size, err := strconv.ParseInt(string(n), 10, 64)
		if !ok || err != nil || len(tag) == 0 || size > int64(len(b)) || size < int64(end+1) {
			return nil, fmt.Errorf("%w: bad piece header %q", ErrCorrupt, head(b))
		}
		p := Piece{Tag: string(tag), Size: size}
		if !bytes.Equal(b[:size], Encode(p)) {
			return nil, fmt.Errorf("%w: piece %s has wrong bytes", ErrCorrupt, p)
		}
		ps = append(ps, p)
		b = b[size:]
	}
	return ps, nil
}

func head(b []byte) []byte { return b[:min(len(b), 40)] }

package linearize

import (
	"fmt"
	"math/rand/v2"
)

// Workload generates random operations for one client over a few names,
// with tags unique to the client.
type Workload struct {
	Client  int
	Names   []string // the files to work on; a handful gives contention
	MaxSize int64    // the largest piece; pieces are at least MinPieceSize
	rng     *rand.Rand
	seq     int
}

// NewWorkload returns client's workload, reproducible from seed.
func NewWorkload(client int, seed uint64, names []string, maxSize int64) *Workload {
	return &Workload{Client: client, Names: names, MaxSize: maxSize, rng: rand.New(rand.NewPCG(seed, uint64(client)))}
}

// Next returns the next operation: mostly writes and reads, with appends,
// creates, renames, removes, stats and listings mixed in.
func (w *Workload) Next() Input {
	name := w.Names[w.rng.IntN(len(w.Names))]
	in := Input{Name: name}
	switch r := w.rng.IntN(100); {
	case r < 20:
		in.Kind = Write
	case r < 30:
		in.Kind = Create
	case r < 40:
		in.Kind = Append
	case r < 65:
		in.Kind = Read
	case r < 72:
		in.Kind = Stat
	case r < 80:
		in.Kind = Rename
		for in.To = name; in.To == name && len(w.Names) > 1; {
			in.To = w.Names[w.rng.IntN(len(w.Names))]
		}
	case r < 90:
		in.Kind = Remove
	default:
		in.Kind = List
	}
	if in.Kind == Write || in.Kind == Create || in.Kind == Append {
		w.seq++
		tag := fmt.Sprintf("c%d.%d", w.Client, w.seq)
		low := MinPieceSize(tag)
		in.Piece = Piece{Tag: tag, Size: low + w.rng.Int64N(max(1, w.MaxSize-low))}
	}
	return in
}

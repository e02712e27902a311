// Package linearize records histories of concurrent namespace operations
// against Cairn and checks them for linearizability with porcupine against
// a sequential model of the namespace.
//
// The model covers one flat directory of files: whole-file writes,
// exclusive creates, appends, reads, stats, renames, removes and listings.
// File contents are sequences of tagged pieces: every write or append in a
// workload carries a tag no other operation uses, so a read names exactly
// which writes it saw and in which order. An operation whose outcome the
// client could not learn (a timeout, a lost connection after the request
// was sent) is recorded as ambiguous: it may have taken effect at any time
// after its call, or never, and the checker tries both.
package linearize

import (
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/anishathalye/porcupine"
)

// Kind is an operation of the model.
type Kind uint8

const (
	Write  Kind = iota + 1 // replace (or create) the file with one piece
	Create                 // create the file with one piece; Exists if it is there
	Append                 // add a piece at the end (creating the file if missing)
	Read                   // the whole content
	Stat                   // the size
	Rename                 // move Name to To, replacing To
	Remove                 // delete the file
	List                   // the names in the directory
)

var kindNames = [...]string{Write: "write", Create: "create", Append: "append", Read: "read",
	Stat: "stat", Rename: "rename", Remove: "remove", List: "list"}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Piece is one write's or append's bytes, named by a tag unique in the
// workload.
type Piece struct {
	Tag  string
	Size int64
}

func (p Piece) String() string { return p.Tag + "/" + strconv.FormatInt(p.Size, 10) }

// Input is an operation as the client issued it. Name and To are names in
// the model's directory.
type Input struct {
	Kind     Kind
	Name, To string
	Piece    Piece // Write, Create, Append
}

// Result is how an operation ended.
type Result uint8

const (
	OK        Result = iota
	NotFound         // the file (Read, Stat, Rename's source, Remove) is missing
	Exists           // Create found the file there
	Ambiguous        // the client does not know whether it took effect
	Failed           // a read that failed: it observed nothing and is left out of the history
)

var resultNames = [...]string{OK: "ok", NotFound: "not found", Exists: "exists", Ambiguous: "ambiguous", Failed: "failed"}

func (r Result) String() string {
	if int(r) < len(resultNames) {
		return resultNames[r]
	}
	return "result(" + strconv.Itoa(int(r)) + ")"
}

// Output is what the client observed.
type Output struct {
	Result  Result
	Content []Piece  // Read: the pieces, in file order
	Size    int64    // Stat
	Names   []string // List, sorted
}

// state is the directory: file name → content. States are never modified
// once built; steps copy.
type state map[string][]Piece

func size(ps []Piece) int64 {
	var n int64
	for _, p := range ps {
		n += p.Size
	}
	return n
}

// apply returns the states the directory may be in after in, given that
// the client observed out; none if out is impossible from s.
func apply(s state, in Input, out Output) []state {
	if out.Result == Ambiguous {
		// Either it happened, with whatever result it would have had, or
		// it did not. Reads change nothing, so only s remains.
		if next, ok := effect(s, in); ok {
			return []state{s, next}
		}
		return []state{s}
	}
	cur, exists := s[in.Name]
	switch in.Kind {
	case Write:
		return okOnly(out, func() state { return with(s, in.Name, []Piece{in.Piece}) })
	case Create:
		if exists {
			return expect(out.Result == Exists, s)
		}
		return okOnly(out, func() state { return with(s, in.Name, []Piece{in.Piece}) })
	case Append:
		return okOnly(out, func() state { return with(s, in.Name, append(slices.Clip(cur), in.Piece)) })
	case Read:
		if !exists {
			return expect(out.Result == NotFound, s)
		}
		return expect(out.Result == OK && slices.Equal(out.Content, cur), s)
	case Stat:
		if !exists {
			return expect(out.Result == NotFound, s)
		}
		return expect(out.Result == OK && out.Size == size(cur), s)
	case Rename:
		if !exists {
			return expect(out.Result == NotFound, s)
		}
		return okOnly(out, func() state { return renamed(s, in.Name, in.To) })
	case Remove:
		if !exists {
			return expect(out.Result == NotFound, s)
		}
		return okOnly(out, func() state { return without(s, in.Name) })
	case List:
		return expect(out.Result == OK && slices.Equal(out.Names, names(s)), s)
	}
	return nil
}

// effect is the state after in succeeds or fails on its own terms, for
// operations whose outcome was not observed; ok is false when in changes
// nothing.
func effect(s state, in Input) (state, bool) {
	cur, exists := s[in.Name]
	switch in.Kind {
	case Write:
		return with(s, in.Name, []Piece{in.Piece}), true
	case Create:
		if !exists {
			return with(s, in.Name, []Piece{in.Piece}), true
		}
	case Append:
		return with(s, in.Name, append(slices.Clip(cur), in.Piece)), true
	case Rename:
		if exists {
			return renamed(s, in.Name, in.To), true
		}
	case Remove:
		if exists {
			return without(s, in.Name), true
		}
	}
	return nil, false
}

func okOnly(out Output, next func() state) []state {
	if out.Result != OK {
		return nil
	}
	return []state{next()}
}

func expect(ok bool, s state) []state {
	if !ok {
		return nil
	}
	return []state{s}
}

func with(s state, name string, content []Piece) state {
	n := maps.Clone(s)
	if n == nil {
		n = state{}
	}
	n[name] = content
	return n
}

func without(s state, name string) state {
	n := maps.Clone(s)
	delete(n, name)
	return n
}

func renamed(s state, from, to string) state {
	if from == to {
		return s
	}
	n := maps.Clone(s)
	n[to] = n[from]
	delete(n, from)
	return n
}

func names(s state) []string {
	return slices.Sorted(maps.Keys(s))
}

func equal(a, b state) bool {
	return maps.EqualFunc(a, b, func(x, y []Piece) bool { return slices.Equal(x, y) })
}

func hash(s state) uint64 {
	h := fnv.New64a()
	for _, name := range names(s) {
		h.Write([]byte(name))
		h.Write([]byte{0})
		for _, p := range s[name] {
			h.Write([]byte(p.Tag))
			h.Write([]byte{1})
		}
		h.Write([]byte{2})
	}
	return h.Sum64()
}

func describe(s state) string {
	var b strings.Builder
	b.WriteString("{")
	for i, name := range names(s) {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s: %v", name, s[name])
	}
	b.WriteString("}")
	return b.String()
}

// Describe renders an operation for reports: "rename a → b: ok".
func Describe(in Input, out Output) string {
	var b strings.Builder
	b.WriteString(in.Kind.String())
	b.WriteString(" ")
	b.WriteString(in.Name)
	switch in.Kind {
	case Rename:
		b.WriteString(" → " + in.To)
	case Write, Create, Append:
		b.WriteString(" " + in.Piece.String())
	}
	b.WriteString(": " + out.Result.String())
	if out.Result == OK {
		switch in.Kind {
		case Read:
			fmt.Fprintf(&b, " %v", out.Content)
		case Stat:
			fmt.Fprintf(&b, " size %d", out.Size)
		case List:
			fmt.Fprintf(&b, " %v", out.Names)
		}
	}
	return b.String()
}

// Model is the sequential specification of the directory, starting empty.
func Model() porcupine.Model {
	nm := porcupine.NondeterministicModel{
		Init: func() []any { return []any{state{}} },
		Step: func(s, in, out any) []any {
			var next []any
			for _, n := range apply(s.(state), in.(Input), out.(Output)) {
				next = append(next, n)
			}
			return next
		},
		Equal:             func(a, b any) bool { return equal(a.(state), b.(state)) },
		Hash:              func(s any) uint64 { return hash(s.(state)) },
		DescribeOperation: func(in, out any) string { return Describe(in.(Input), out.(Output)) },
		DescribeState:     func(s any) string { return describe(s.(state)) },
	}
	return nm.ToModel()
}

package linearize

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// op builds a recorded operation: client c called at call and got out at
// ret.
func op(c int, call, ret int64, in Input, out Output) porcupine.Operation {
	if out.Result == Ambiguous {
		ret = math.MaxInt64
	}
	return porcupine.Operation{ClientId: c, Call: call, Return: ret, Input: in, Output: out}
}

func p(tag string) Piece { return Piece{Tag: tag, Size: 10} }

func write(name, tag string) Input  { return Input{Kind: Write, Name: name, Piece: p(tag)} }
func create(name, tag string) Input { return Input{Kind: Create, Name: name, Piece: p(tag)} }
func appnd(name, tag string) Input  { return Input{Kind: Append, Name: name, Piece: p(tag)} }
func read(name string) Input        { return Input{Kind: Read, Name: name} }
func stat(name string) Input        { return Input{Kind: Stat, Name: name} }
func rename(a, b string) Input      { return Input{Kind: Rename, Name: a, To: b} }
func remove(name string) Input      { return Input{Kind: Remove, Name: name} }
func list() Input                   { return Input{Kind: List} }

var (
	ok       = Output{Result: OK}
	notFound = Output{Result: NotFound}
	exists   = Output{Result: Exists}
	unknown  = Output{Result: Ambiguous}
)

func content(tags ...string) Output {
	out := Output{Result: OK, Content: []Piece{}}
	for _, t := range tags {
		out.Content = append(out.Content, p(t))
	}
	return out
}

func listed(ns ...string) Output { return Output{Result: OK, Names: ns} }

func TestCheckerVerdicts(t *testing.T) {
	for _, tc := range []struct {
		name string
		ops  []porcupine.Operation
		want porcupine.CheckResult
	}{
		{"sequential write then read", []porcupine.Operation{
			op(0, 0, 10, write("a", "w1"), ok),
			op(1, 20, 30, read("a"), content("w1")),
		}, porcupine.Ok},
		{"stale read after a completed overwrite", []porcupine.Operation{
			op(0, 0, 10, write("a", "w1"), ok),
			op(0, 20, 30, write("a", "w2"), ok),
			op(1, 40, 50, read("a"), content("w1")),
		}, porcupine.Illegal},
		{"concurrent overwrite may be seen either way", []porcupine.Operation{
			op(0, 0, 10, write("a", "w1"), ok),
			op(0, 20, 60, write("a", "w2"), ok),
			op(1, 30, 40, read("a"), content("w1")),
			op(2, 45, 50, read("a"), content("w2")),
		}, porcupine.Ok},
		{"reads go back in time", []porcupine.Operation{
			op(0, 0, 10, write("a", "w1"), ok),
			op(0, 20, 100, write("a", "w2"), ok),
			op(1, 30, 40, read("a"), content("w2")),
			op(2, 45, 50, read("a"), content("w1")),
		}, porcupine.Illegal},
		{"a value no one wrote", []porcupine.Operation{
			op(0, 0, 10, write("a", "w1"), ok),
			op(1, 20, 30, read("a"), content("w9")),
		}, porcupine.Illegal},
		{"two exclusive creates both succeed", []porcupine.Operation{
			op(0, 0, 50, create("a", "c1"), ok),
			op(1, 0, 50, create("a", "c2"), ok),
		}, porcupine.Illegal},
		{"one exclusive create wins", []porcupine.Operation{
			op(0, 0, 50, create("a", "c1"), ok),
			op(1, 0, 50, create("a", "c2"), exists),
			op(2, 60, 70, read("a"), content("c1")),
		}, porcupine.Ok},
		{"appends land whole and in one order", []porcupine.Operation{
			op(0, 0, 50, appnd("a", "x"), ok),
			op(1, 0, 50, appnd("a", "y"), ok),
			op(2, 60, 70, read("a"), content("y", "x")),
			op(2, 80, 90, stat("a"), Output{Result: OK, Size: 20}),
		}, porcupine.Ok},
		{"an acknowledged append lost", []porcupine.Operation{
			op(0, 0, 50, appnd("a", "x"), ok),
			op(1, 0, 50, appnd("a", "y"), ok),
			op(2, 60, 70, read("a"), content("y")),
		}, porcupine.Illegal},
		{"rename moves the content and frees the name", []porcupine.Operation{
			op(0, 0, 10, write("a", "w1"), ok),
			op(0, 20, 30, rename("a", "b"), ok),
			op(1, 40, 50, read("b"), content("w1")),
			op(1, 60, 70, read("a"), notFound),
			op(1, 80, 90, list(), listed("b")),
		}, porcupine.Ok},
		{"source still there after an acknowledged rename", []porcupine.Operation{
			op(0, 0, 10, write("a", "w1"), ok),
			op(0, 20, 30, rename("a", "b"), ok),
			op(1, 40, 50, list(), listed("a", "b")),
		}, porcupine.Illegal},
		{"removed file read back", []porcupine.Operation{
			op(0, 0, 10, write("a", "w1"), ok),
			op(0, 20, 30, remove("a"), ok),
			op(1, 40, 50, read("a"), content("w1")),
		}, porcupine.Illegal},
		{"remove of a missing file says not found", []porcupine.Operation{
			op(0, 0, 10, remove("a"), notFound),
			op(0, 20, 30, write("a", "w1"), ok),
			op(0, 40, 50, remove("a"), ok),
		}, porcupine.Ok},
		{"an ambiguous write may land late", []porcupine.Operation{
			op(0, 0, 10, write("a", "w1"), ok),
			op(0, 20, 30, write("a", "w2"), unknown),
			op(1, 40, 50, read("a"), content("w1")),
			op(1, 60, 70, read("a"), content("w2")),
		}, porcupine.Ok},
		{"an ambiguous write may never land", []porcupine.Operation{
			op(0, 0, 10, write("a", "w1"), ok),
			op(0, 20, 30, write("a", "w2"), unknown),
			op(1, 40, 50, read("a"), content("w1")),
		}, porcupine.Ok},
		{"an ambiguous write cannot land twice", []porcupine.Operation{
			op(0, 0, 10, write("a", "w1"), ok),
			op(0, 20, 30, write("a", "w2"), unknown),
			op(1, 40, 50, read("a"), content("w2")),
			op(1, 60, 70, write("a", "w3"), ok),
			op(1, 80, 90, read("a"), content("w2")),
		}, porcupine.Illegal},
		{"an ambiguous write cannot land before it was issued", []porcupine.Operation{
			op(1, 0, 10, read("a"), content("w2")),
			op(0, 20, 30, write("a", "w2"), unknown),
		}, porcupine.Illegal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := Check(tc.ops, 10*time.Second)
			if v.Result != tc.want {
				t.Fatalf("verdict %s, want %s", v, tc.want)
			}
			if v.Result == porcupine.Illegal && !strings.Contains(v.Longest, "not placed") {
				t.Errorf("an illegal verdict without an explanation: %s", v)
			}
		})
	}
}

func TestHistoryRecordsOrderAndAmbiguity(t *testing.T) {
	h := NewHistory()
	h.Do(0, write("a", "w1"), func() Output { return ok })
	h.Do(1, write("a", "w2"), func() Output { return unknown })
	h.Do(0, read("a"), func() Output { return content("w1") })
	v := h.Check(10 * time.Second)
	if v.Result != porcupine.Ok || v.Operations != 3 || v.Ambiguous != 1 {
		t.Fatalf("verdict %s", v)
	}
	// A read of the ambiguous write, then of the older value: the write
	// cannot be undone.
	h.Do(0, read("a"), func() Output { return content("w2") })
	h.Do(0, read("a"), func() Output { return content("w1") })
	if v := h.Check(10 * time.Second); v.Result != porcupine.Illegal {
		t.Fatalf("verdict %s, want Illegal", v)
	}
}

func TestPiecesRoundTrip(t *testing.T) {
	ps := []Piece{{Tag: "c1.7", Size: 4096}, {Tag: "c2.1", Size: MinPieceSize("c2.1")}, {Tag: "x", Size: 100000}}
	var b []byte
	for _, p := range ps {
		b = append(b, Encode(p)...)
	}
	got, err := Decode(b)
	if err != nil || !slices.Equal(got, ps) {
		t.Fatalf("Decode = %v, %v; want %v", got, err, ps)
	}
	for name, bad := range map[string][]byte{
		"a flipped byte":  func() []byte { c := slices.Clone(b); c[5000] ^= 1; return c }(),
		"truncated":       b[:len(b)-1],
		"zeros":           make([]byte, 4096),
		"a header lying":  append(slices.Clone(b), []byte("[c9 99999]")...),
		"spliced headers": append(Encode(Piece{Tag: "a", Size: 20})[:10], Encode(Piece{Tag: "b", Size: 20})...),
	} {
		if _, err := Decode(bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Decode err = %v, want ErrCorrupt", name, err)
		}
	}
	if got, err := Decode(nil); err != nil || len(got) != 0 {
		t.Errorf("Decode(empty) = %v, %v", got, err)
	}
}

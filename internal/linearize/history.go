package linearize

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// History collects the operations of concurrent clients with their call and
// return times on one monotonic clock. It is safe for concurrent use.
type History struct {
	start time.Time
	mu    sync.Mutex
	ops   []porcupine.Operation
}

// NewHistory starts an empty history; its clock starts now.
func NewHistory() *History { return &History{start: time.Now()} }

func (h *History) now() int64 { return int64(time.Since(h.start)) }

// Do records in as issued by client: it notes the call time, runs do,
// and notes the return time and output. A Failed read is not recorded
// (it observed nothing). An Ambiguous output is recorded
// as returning after everything else, since the operation may take effect
// at any later moment.
func (h *History) Do(client int, in Input, do func() Output) Output {
	call := h.now()
	out := do()
	ret := h.now()
	if out.Result == Failed {
		return out
	}
	if out.Result == Ambiguous {
		ret = math.MaxInt64
	}
	h.mu.Lock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
	h.mu.Unlock()
	return out
}

// Len is the number of operations recorded.
func (h *History) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ops)
}

// Verdict is the checker's answer on a history.
type Verdict struct {
	Result     porcupine.CheckResult // Ok, Illegal, or Unknown (the checker ran out of time)
	Operations int
	Ambiguous  int
	Elapsed    time.Duration
	// Longest is, for an Illegal history, the longest sequence of
	// operations the checker could linearize before it got stuck,
	// rendered one per line; then the operations it could not place.
	Longest string
}

func (v Verdict) String() string {
	s := fmt.Sprintf("%s (%d operations, %d ambiguous, checked in %v)", v.Result, v.Operations, v.Ambiguous, v.Elapsed.Round(time.Millisecond))
	if v.Longest != "" {
		s += "\n" + v.Longest
	}
	return s
}

// Check runs the checker on everything recorded so far, for at most
// timeout.
func (h *History) Check(timeout time.Duration) Verdict {
	h.mu.Lock()
	ops := append([]porcupine.Operation(nil), h.ops...)
	h.mu.Unlock()
	return Check(ops, timeout)
}

// Check checks ops against the model for at most timeout.
func Check(ops []porcupine.Operation, timeout time.Duration) Verdict {
	v := Verdict{Operations: len(ops)}
	for _, op := range ops {
		if op.Output.(Output).Result == Ambiguous {
			v.Ambiguous++
		}
	}
	began := time.Now()
	res, info := porcupine.CheckOperationsVerbose(Model(), ops, timeout)
	v.Result, v.Elapsed = res, time.Since(began)
	if res == porcupine.Illegal {
		v.Longest = explain(ops, info)
	}
	return v
}

// explain renders the longest partial linearization porcupine found and the
// operations left over, so a failure names what could not be placed.
func explain(ops []porcupine.Operation, info porcupine.LinearizationInfo) string {
	var best []porcupine.Operation
	for _, partition := range info.PartialLinearizationsOperations() {
		for _, lin := range partition {
			if len(lin) > len(best) {
				best = lin
			}
		}
	}
	var b strings.Builder
	b.WriteString("longest linearizable prefix:\n")
	placed := map[opKey]bool{}
	for _, op := range best {
		fmt.Fprintf(&b, "  client %d: %s\n", op.ClientId, Describe(op.Input.(Input), op.Output.(Output)))
		placed[key(op)] = true
	}
	b.WriteString("not placed:\n")
	n := 0
	for _, op := range ops {
		if placed[key(op)] {
			continue
		}
		if n == 20 {
			b.WriteString("  …\n")
			break
		}
		n++
		fmt.Fprintf(&b, "  client %d [%d, %d]: %s\n", op.ClientId, op.Call, op.Return, Describe(op.Input.(Input), op.Output.(Output)))
	}
	return b.String()
}

// key identifies an operation in a history: one client issues one
// operation at a time, so its call time is unique to it.
func key(op porcupine.Operation) opKey { return opKey{op.ClientId, op.Call} }

type opKey struct {
	client int
	call   int64
}

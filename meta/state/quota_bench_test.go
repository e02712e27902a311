package state

import (
	"fmt"
	"testing"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// benchMachine is a Machine driven with log entries, for benchmarks.
func benchMachine(b *testing.B) *fsmHarness {
	b.Helper()
	h := &fsmHarness{t: b, dir: b.TempDir(), now: 1_000_000_000}
	h.open()
	return h
}

func (h *fsmHarness) mustApply(b *testing.B, cmd *pb.Command) {
	b.Helper()
	if r := h.apply(cmd); r.Err != nil {
		b.Fatal(r.Err)
	}
}

// BenchmarkCreateQuota is the cost of creating a one-chunk file four
// directories deep, with no quota and with a quota on each of the four
// directories above it (each create then updates four counters).
func BenchmarkCreateQuota(b *testing.B) {
	for _, quotas := range []int{0, 4} {
		b.Run(fmt.Sprintf("quotas=%d", quotas), func(b *testing.B) {
			h := benchMachine(b)
			dirs := []string{"/a", "/a/b", "/a/b/c", "/a/b/c/d"}
			for _, d := range dirs {
				h.mustApply(b, mkdirCmd(d))
			}
			for _, d := range dirs[:quotas] {
				h.mustApply(b, &pb.Command{Op: &pb.Command_SetQuota{SetQuota: &pb.SetQuotaRequest{Path: d, Bytes: 1 << 50, Files: 1 << 40}}})
			}
			b.ResetTimer()
			for i := range b.N {
				id := cairn.NewChunkID()
				sc := &pb.StoredChunk{Chunk: &pb.ChunkRef{Id: id[:], Length: 4096}, Nodes: []string{"n1"}}
				h.mustApply(b, &pb.Command{Op: &pb.Command_Commit{Commit: &pb.CommitRequest{Path: fmt.Sprintf("/a/b/c/d/f%d", i), Chunks: []*pb.StoredChunk{sc}}}})
			}
		})
	}
}

// BenchmarkSetQuotaTree is the time to set a quota on a directory with
// 100,000 entries below it (100 directories of 999 files), which counts
// the tree once; each iteration sets and then clears it.
func BenchmarkSetQuotaTree(b *testing.B) {
	h := benchMachine(b)
	h.mustApply(b, mkdirCmd("/t"))
	for d := range 100 {
		h.mustApply(b, mkdirCmd(fmt.Sprintf("/t/d%d", d)))
		for f := range 999 {
			id := cairn.NewChunkID()
			sc := &pb.StoredChunk{Chunk: &pb.ChunkRef{Id: id[:], Length: 100}, Nodes: []string{"n1"}}
			h.mustApply(b, &pb.Command{Op: &pb.Command_Commit{Commit: &pb.CommitRequest{Path: fmt.Sprintf("/t/d%d/f%d", d, f), Chunks: []*pb.StoredChunk{sc}}}})
		}
	}
	b.ResetTimer()
	for range b.N {
		r := h.apply(&pb.Command{Op: &pb.Command_SetQuota{SetQuota: &pb.SetQuotaRequest{Path: "/t", Files: 1 << 20}}})
		if r.Err != nil {
			b.Fatal(r.Err)
		}
		if a := r.Resp.(*pb.StatResponse).Attr; a.UsedFiles != 100_000 || a.UsedBytes != 99_900*100 {
			b.Fatalf("the count found %d entries, %d bytes", a.UsedFiles, a.UsedBytes)
		}
		h.mustApply(b, &pb.Command{Op: &pb.Command_SetQuota{SetQuota: &pb.SetQuotaRequest{Path: "/t"}}})
	}
}

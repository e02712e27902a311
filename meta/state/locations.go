package state

import (
	"slices"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// locations applies the commands that move replicas and forget collected
// garbage.
type locations struct{ *tx }

// update changes where a chunk lives. If the chunk is no longer
// committed (its file was removed while a repair copied it), the new copies
// are garbage.
func (t locations) update(req *pb.UpdateLocations) error {
	id, err := cairn.ChunkIDFromBytes(req.Chunk)
	if err != nil {
		return err
	}
	rec := &pb.ChunkRecord{}
	ok, err := getProto(t.b, locKey(id), rec)
	if err != nil {
		return err
	}
	if !ok {
		if len(req.Add) == 0 {
			return nil
		}
		return t.garbage(id, req.Add)
	}
	nodes := slices.DeleteFunc(rec.Nodes, func(n string) bool { return slices.Contains(req.Remove, n) })
	for _, n := range req.Add {
		if !slices.Contains(nodes, n) {
			nodes = append(nodes, n)
		}
	}
	rec.Nodes = nodes
	return putProto(t.b, locKey(id), rec)
}

// garbageDone forgets chunks that every holder has deleted.
func (t locations) garbageDone(req *pb.GarbageDone) error {
	for _, raw := range req.Chunks {
		id, err := cairn.ChunkIDFromBytes(raw)
		if err != nil {
			return err
		}
		if err := t.b.Delete(garbageKey(id), nil); err != nil {
			return err
		}
	}
	return nil
}

// pathOf rebuilds the path of an inode from its parent links ("" if it is
// gone).
func pathOf(r reader, ino cairn.InodeID) string {
	var parts []string
	for i := 0; ino != cairn.RootInode && i < 4096; i++ {
		a, err := getAttr(r, ino)
		if err != nil {
			return ""
		}
		parts = append(parts, a.Name)
		ino = cairn.InodeID(a.Parent)
	}
	slices.Reverse(parts)
	p := ""
	for _, s := range parts {
		p += "/" + s
	}
	if p == "" {
		return "/"
	}
	return p
}

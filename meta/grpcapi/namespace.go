package grpcapi

import (
	"context"
	"errors"

	"google.golang.org/grpc"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/meta/registry"
	"github.com/cairnfs/cairn/meta/state"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
	"github.com/cairnfs/cairn/rpcerr"
)

// namespaceAPI serves the tree: directories, renames, removals,
// attributes, and the reads of the SDK.
type namespaceAPI struct{ c *core }

func (a namespaceAPI) Mkdir(ctx context.Context, req *pb.MkdirRequest) (*pb.StatResponse, error) {
	return statResp(a.c.write(ctx, &pb.Command{Op: &pb.Command_Mkdir{Mkdir: req}}))
}

func (a namespaceAPI) SetAttr(ctx context.Context, req *pb.SetAttrRequest) (*pb.StatResponse, error) {
	if err := state.CheckXattrs(req.SetXattrs); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	return statResp(a.c.write(ctx, &pb.Command{Op: &pb.Command_SetAttr{SetAttr: req}}))
}

func (a namespaceAPI) Rename(ctx context.Context, req *pb.RenameRequest) (*pb.Empty, error) {
	return empty(a.c.write(ctx, &pb.Command{Op: &pb.Command_Rename{Rename: req}}))
}

func (a namespaceAPI) Remove(ctx context.Context, req *pb.RemoveRequest) (*pb.RemoveResponse, error) {
	resp, err := a.c.write(ctx, &pb.Command{Op: &pb.Command_Remove{Remove: req}})
	if err != nil {
		return nil, err
	}
	return resp.(*pb.RemoveResponse), nil
}

// Nest turns a file into a directory holding it (the S3 gateway uses it
// when a key becomes a prefix).
func (a namespaceAPI) Nest(ctx context.Context, req *pb.NestRequest) (*pb.StatResponse, error) {
	return statResp(a.c.write(ctx, &pb.Command{Op: &pb.Command_Nest{Nest: req}}))
}

func (a namespaceAPI) Stat(ctx context.Context, req *pb.StatRequest) (*pb.StatResponse, error) {
	path, err := cairn.CleanPath(req.Path)
	if err == nil {
		err = a.c.prop.Readable(ctx, req.Read.GetStale())
	}
	if err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	attr, err := a.c.st.Latest().Stat(path)
	if err != nil {
		return nil, rpcerr.ToStatus(cairn.E("stat", cairn.PathArg(path), err))
	}
	return &pb.StatResponse{Attr: attr}, nil
}

// List streams entries from one consistent view, page by page.
func (a namespaceAPI) List(req *pb.ListRequest, stream grpc.ServerStreamingServer[pb.ListResponse]) error {
	path, err := cairn.CleanPath(req.Path)
	if err == nil {
		err = a.c.prop.Readable(stream.Context(), req.Read.GetStale())
	}
	if err != nil {
		return rpcerr.ToStatus(err)
	}
	v := a.c.st.View()
	defer v.Close()
	dir, err := v.Stat(path)
	if err != nil {
		return rpcerr.ToStatus(cairn.E("list", cairn.PathArg(path), err))
	}
	if !dir.Dir {
		return rpcerr.ToStatus(cairn.E("list", cairn.PathArg(path), cairn.NotDir, errors.New("is a file; stat it instead")))
	}
	pageSize := int(req.PageSize)
	if pageSize <= 0 || pageSize > 10000 {
		pageSize = 1000
	}
	page := make([]*pb.Attr, 0, pageSize)
	sent := uint32(0)
	err = v.List(cairn.InodeID(dir.Inode), req.StartAfter, func(name string, de *pb.Dirent) (bool, error) {
		attr, err := v.Attr(cairn.InodeID(de.Inode))
		if err != nil {
			return false, err
		}
		attr.Name = name
		page = append(page, attr)
		sent++
		if len(page) == pageSize {
			if err := stream.Send(&pb.ListResponse{Entries: page}); err != nil {
				return false, err
			}
			page = make([]*pb.Attr, 0, pageSize)
		}
		return req.Limit == 0 || sent < req.Limit, nil
	})
	if err != nil {
		return rpcerr.ToStatus(err)
	}
	if len(page) > 0 || sent == 0 {
		return stream.Send(&pb.ListResponse{Entries: page})
	}
	return nil
}

func (a namespaceAPI) Lookup(ctx context.Context, req *pb.LookupRequest) (*pb.LookupResponse, error) {
	path, err := cairn.CleanPath(req.Path)
	if err == nil {
		err = a.c.prop.Readable(ctx, req.Read.GetStale())
	}
	if err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	v := a.c.st.View()
	defer v.Close()
	attr, err := v.Stat(path)
	if err != nil {
		return nil, rpcerr.ToStatus(cairn.E("lookup", cairn.PathArg(path), err))
	}
	if attr.Dir {
		return nil, rpcerr.ToStatus(cairn.E("lookup", cairn.PathArg(path), cairn.IsDir, errors.New("a directory has no content to read")))
	}
	resp := &pb.LookupResponse{Attr: attr}
	err = v.Chunks(cairn.InodeID(attr.Inode), req.Offset, req.Length, func(c *pb.ChunkRef) error {
		id, _ := cairn.ChunkIDFromBytes(c.Id)
		rec, _, err := v.Chunk(id)
		if err != nil {
			return err
		}
		resp.Chunks = append(resp.Chunks, &pb.ChunkLocation{Chunk: c, Replicas: replicas(a.c.reg, rec.Nodes)})
		return nil
	})
	if err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	return resp, nil
}

// replicas orders a chunk's nodes for reading: alive first, then suspect,
// then leaving (stopping for a restart), then dead (still worth a try),
// unknown nodes last. Each replica carries its node's state.
func replicas(reg *registry.Registry, nodes []string) []*pb.Replica {
	var byState [5][]*pb.Replica
	for _, n := range nodes {
		addr, st, ok := reg.Addr(cairn.NodeID(n))
		rank, state := 4, "unknown"
		if ok {
			state = st.String()
			switch st {
			case cairn.NodeAlive, cairn.NodeDraining:
				rank = 0
			case cairn.NodeSuspect:
				rank = 1
			case cairn.NodeLeaving:
				rank = 2
			case cairn.NodeDead:
				rank = 3
			}
		}
		byState[rank] = append(byState[rank], &pb.Replica{Node: n, Addr: addr, State: state})
	}
	var out []*pb.Replica
	for _, r := range byState {
		out = append(out, r...)
	}
	return out
}

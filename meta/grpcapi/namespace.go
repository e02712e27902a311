package grpcapi

import (
	"context"
	"errors"

	"google.golang.org/grpc"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/meta/state"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
	"github.com/cairnfs/cairn/rpcerr"
)

// namespaceAPI serves the Namespace service: directories, renames,
// removals, attributes and the tree's reads.
type namespaceAPI struct {
	pb.UnimplementedNamespaceServer
	c *core
}

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

// WrapInDir turns a file into a directory of the same name holding it.
func (a namespaceAPI) WrapInDir(ctx context.Context, req *pb.WrapInDirRequest) (*pb.StatResponse, error) {
	return statResp(a.c.write(ctx, &pb.Command{Op: &pb.Command_WrapInDir{WrapInDir: req}}))
}

func (a namespaceAPI) Stat(ctx context.Context, req *pb.StatRequest) (*pb.StatResponse, error) {
	path, err := cairn.CleanPath(req.Path)
	if err == nil {
		err = a.c.prop.Readable(ctx, req.Read.GetStale())
	}
	var p principal
	if err == nil {
		p, err = a.c.principal(ctx)
	}
	if err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	attr, err := a.c.st.Latest().StatAs(path, p.caller, state.AccessNone)
	if err == nil {
		err = a.c.users.names(a.c.st, attr)
	}
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
	var p principal
	if err == nil {
		p, err = a.c.principal(stream.Context())
	}
	if err != nil {
		return rpcerr.ToStatus(err)
	}
	v := a.c.st.View()
	defer v.Close()
	dir, err := v.StatAs(path, p.caller, state.AccessNone)
	if err != nil {
		return rpcerr.ToStatus(cairn.E("list", cairn.PathArg(path), err))
	}
	if !dir.Dir {
		return rpcerr.ToStatus(cairn.E("list", cairn.PathArg(path), cairn.NotDir, errors.New("is a file; stat it instead")))
	}
	if _, err := v.StatAs(path, p.caller, state.AccessRead); err != nil {
		return rpcerr.ToStatus(cairn.E("list", cairn.PathArg(path), err))
	}
	send := func(page []*pb.Attr) error {
		if err := a.c.users.names(a.c.st, page...); err != nil {
			return err
		}
		return stream.Send(&pb.ListResponse{Entries: page})
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
			if err := send(page); err != nil {
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
		return rpcerr.ToStatus(send(page))
	}
	return nil
}

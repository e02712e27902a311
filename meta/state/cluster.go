package state

import (
	"errors"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// cluster applies the commands about the cluster's members: data nodes
// registering and draining, metadata peers recording their API address.
type cluster struct{ *tx }

// registerNode records a data node, keeping its drain mark.
func (c cluster) registerNode(r *pb.RegisterNodeRequest) error {
	old := &pb.NodeRecord{}
	if _, err := getProto(c.b, nodeKey(cairn.NodeID(r.Id)), old); err != nil {
		return err
	}
	return putProto(c.b, nodeKey(cairn.NodeID(r.Id)), &pb.NodeRecord{Id: r.Id, Addr: r.Addr, Zone: r.Zone, Rack: r.Rack,
		Capacity: r.Capacity, RegisteredNs: c.now, Draining: old.Draining})
}

// drain sets or clears a registered node's drain mark.
func (c cluster) drain(req *pb.DrainRequest) error {
	rec := &pb.NodeRecord{}
	ok, err := getProto(c.b, nodeKey(cairn.NodeID(req.Node)), rec)
	if err != nil {
		return err
	}
	if !ok {
		return cairn.E("drain", cairn.PathArg(req.Node), cairn.NotFound, errors.New("no such data node"))
	}
	rec.Draining = !req.Undo
	return putProto(c.b, nodeKey(cairn.NodeID(req.Node)), rec)
}

// peerInfo records a metadata peer's API address, or forgets a removed peer.
func (c cluster) peerInfo(info *pb.PeerInfo) error {
	if info.Removed {
		return c.b.Delete(peerKey(info.Id), nil)
	}
	return putProto(c.b, peerKey(info.Id), info)
}

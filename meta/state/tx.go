package state

import (
	"fmt"

	"github.com/cockroachdb/pebble"
	"google.golang.org/protobuf/proto"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// tx applies one command to an indexed batch. Each operation checks
// everything that can fail before it writes, so a command that fails leaves
// the batch as it found it.
type tx struct {
	b   *pebble.Batch
	now int64
	who principal // whom the command acts for (perm.go)
}

func (t *tx) attr(ino cairn.InodeID) (*pb.Attr, error) {
	a, err := getAttr(t.b, ino)
	if ino == cairn.RootInode && cairn.KindOf(err) == cairn.NotFound {
		return rootAttr(), nil
	}
	return a, err
}

func (t *tx) putAttr(a *pb.Attr) error { return putProto(t.b, inodeKey(cairn.InodeID(a.Inode)), a) }

func (t *tx) newInode() (cairn.InodeID, error) {
	next, err := getUint64(t.b, []byte(keyNextIno))
	if err != nil {
		return 0, err
	}
	if next <= uint64(cairn.RootInode) {
		next = uint64(cairn.RootInode) + 1
	}
	if err := putUint64(t.b, []byte(keyNextIno), next+1); err != nil {
		return 0, err
	}
	return cairn.InodeID(next), nil
}

func (t *tx) dirent(parent cairn.InodeID, name string) (*pb.Dirent, bool, error) {
	de := &pb.Dirent{}
	ok, err := getProto(t.b, direntKey(parent, name), de)
	return de, ok, err
}

// parentDir resolves the directory that holds path, creating missing
// directories when parents is set. It checks before it creates: when it
// returns an error nothing was written.
func (t *tx) parentDir(op, path string, parents bool) (*pb.Attr, string, error) {
	return t.parentDirKeep(op, path, parents, 0)
}

// parentDirKeep is parentDir where the first keep components must exist
// even when parents is set.
func (t *tx) parentDirKeep(op, path string, parents bool, keep int) (*pb.Attr, string, error) {
	dir, base := cairn.ParentPath(path)
	if base == "" {
		return nil, "", cairn.E(op, cairn.PathArg(path), cairn.Invalid, fmt.Errorf("the root directory cannot be the target"))
	}
	cur, err := t.attr(cairn.RootInode)
	if err != nil {
		return nil, "", err
	}
	names := cairn.SplitPath(dir)
	walked := ""
	for i, name := range names {
		if err := t.who.check(op, walked, cur, permExec); err != nil {
			return nil, "", err
		}
		curPath := walked
		walked += "/" + name
		de, ok, err := t.dirent(cairn.InodeID(cur.Inode), name)
		if err != nil {
			return nil, "", err
		}
		if !ok {
			if !parents || i < keep {
				return nil, "", cairn.E(op, cairn.PathArg(path), cairn.NotFound, fmt.Errorf("parent directory %s does not exist (create it first, or ask for parents)", walked))
			}
			// Everything from here on is missing; create it.
			if err := t.who.check(op, curPath, cur, permWrite|permExec); err != nil {
				return nil, "", err
			}
			for _, missing := range names[i:] {
				if cur, err = t.createDir(cur, missing, 0o755); err != nil {
					return nil, "", err
				}
			}
			return cur, base, nil
		}
		if !de.Dir {
			return nil, "", cairn.E(op, cairn.PathArg(path), cairn.NotDir, fmt.Errorf("%s is a file, not a directory", walked))
		}
		if cur, err = t.attr(cairn.InodeID(de.Inode)); err != nil {
			return nil, "", err
		}
	}
	if err := t.who.check(op, dir, cur, permExec); err != nil {
		return nil, "", err
	}
	return cur, base, nil
}

func (t *tx) createDir(parent *pb.Attr, name string, mode uint32) (*pb.Attr, error) {
	if err := t.chargeQuota("mkdir", parent, name, usage{files: 1}); err != nil {
		return nil, err
	}
	ino, err := t.newInode()
	if err != nil {
		return nil, err
	}
	a := &pb.Attr{Inode: uint64(ino), Parent: parent.Inode, Dir: true, Mode: mode, MtimeNs: t.now, CtimeNs: t.now, Name: name}
	t.who.newOwner(parent, a)
	if err := t.putAttr(a); err != nil {
		return nil, err
	}
	if err := putProto(t.b, direntKey(cairn.InodeID(parent.Inode), name), &pb.Dirent{Inode: uint64(ino), Dir: true}); err != nil {
		return nil, err
	}
	return a, t.touch(parent)
}

// touch updates a directory's mtime after its entries changed.
func (t *tx) touch(dir *pb.Attr) error {
	dir.MtimeNs, dir.CtimeNs = t.now, t.now
	return t.putAttr(dir)
}

// dropChunks deletes every chunk of file ino from the namespace and queues
// them for collection on the data nodes.
func (t *tx) dropChunks(ino cairn.InodeID) error {
	var ids []cairn.ChunkID
	var keys [][]byte
	err := fileChunks(t.b, ino, 0, -1, func(c *pb.ChunkRef) error {
		id, err := cairn.ChunkIDFromBytes(c.Id)
		if err != nil {
			return cairn.E("meta.drop", cairn.Internal, err)
		}
		ids = append(ids, id)
		keys = append(keys, chunkKey(ino, c.Offset))
		return nil
	})
	if err != nil {
		return err
	}
	for i, id := range ids {
		rec := &pb.ChunkRecord{}
		if _, err := getProto(t.b, locKey(id), rec); err != nil {
			return err
		}
		if err := t.garbage(id, rec.Nodes); err != nil {
			return err
		}
		if err := t.b.Delete(locKey(id), nil); err != nil {
			return err
		}
		if err := t.b.Delete(keys[i], nil); err != nil {
			return err
		}
	}
	return nil
}

func (t *tx) garbage(id cairn.ChunkID, nodes []string) error {
	return putProto(t.b, garbageKey(id), &pb.GarbageRecord{Nodes: nodes, SinceNs: t.now})
}

// removeInode deletes a file's or an empty directory's inode record and
// its chunks; the caller removes the directory entry.
func (t *tx) removeInode(a *pb.Attr) error {
	if !a.Dir {
		if err := t.dropChunks(cairn.InodeID(a.Inode)); err != nil {
			return err
		}
	} else if err := t.dropQuota(cairn.InodeID(a.Inode)); err != nil {
		return err
	}
	return t.b.Delete(inodeKey(cairn.InodeID(a.Inode)), nil)
}

// apply dispatches one command to the applier of its topic.
func (t *tx) apply(cmd *pb.Command) (proto.Message, error) {
	switch op := cmd.Op.(type) {
	case *pb.Command_Mkdir:
		return wrapAttr(namespace{t}.mkdir(op.Mkdir))
	case *pb.Command_Commit:
		return wrapAttr(namespace{t}.commit(op.Commit))
	case *pb.Command_Rename:
		return &pb.Empty{}, namespace{t}.rename(op.Rename)
	case *pb.Command_Remove:
		return namespace{t}.remove(op.Remove)
	case *pb.Command_SetAttr:
		return wrapAttr(namespace{t}.setAttr(op.SetAttr))
	case *pb.Command_WrapInDir:
		return wrapAttr(namespace{t}.wrapInDir(op.WrapInDir))
	case *pb.Command_RegisterNode:
		return &pb.Empty{}, cluster{t}.registerNode(op.RegisterNode)
	case *pb.Command_Drain:
		return &pb.Empty{}, cluster{t}.drain(op.Drain)
	case *pb.Command_PeerInfo:
		return &pb.Empty{}, cluster{t}.peerInfo(op.PeerInfo)
	case *pb.Command_CreateUpload:
		return uploads{t}.create(cmd.UploadId, op.CreateUpload)
	case *pb.Command_AddUploadChunks:
		return &pb.Empty{}, uploads{t}.addChunks(op.AddUploadChunks)
	case *pb.Command_CompleteUpload:
		return wrapAttr(uploads{t}.complete(op.CompleteUpload))
	case *pb.Command_AbortUpload:
		return &pb.Empty{}, uploads{t}.abort(op.AbortUpload)
	case *pb.Command_PutUploadPart:
		return multipart{t}.putPart(op.PutUploadPart)
	case *pb.Command_CompleteParts:
		return wrapAttr(multipart{t}.complete(op.CompleteParts))
	case *pb.Command_UpdateLocations:
		return &pb.Empty{}, locations{t}.update(op.UpdateLocations)
	case *pb.Command_GarbageDone:
		return &pb.Empty{}, locations{t}.garbageDone(op.GarbageDone)
	case *pb.Command_PutCredential:
		return &pb.Empty{}, credentials{t}.put(op.PutCredential)
	case *pb.Command_DeleteCredential:
		return &pb.Empty{}, credentials{t}.remove(op.DeleteCredential)
	case *pb.Command_RotateSigningKey:
		return &pb.Empty{}, signingKeys{t}.rotate(op.RotateSigningKey)
	case *pb.Command_SetQuota:
		return wrapAttr(quotas{t}.set(op.SetQuota))
	case *pb.Command_ResealSecrets:
		return reseal{t}.apply(op.ResealSecrets)
	case *pb.Command_PutUser:
		if err := t.superOnly("user.put"); err != nil {
			return nil, err
		}
		return users{t}.put(op.PutUser)
	case *pb.Command_DeleteUser:
		if err := t.superOnly("user.delete"); err != nil {
			return nil, err
		}
		return &pb.Empty{}, users{t}.remove(op.DeleteUser)
	}
	return nil, cairn.E("meta.apply", cairn.Internal, fmt.Errorf("unknown command %T", cmd.Op))
}

// superOnly refuses a command that only the superuser may apply.
func (t *tx) superOnly(op string) error {
	if t.who.super() {
		return nil
	}
	return cairn.E(op, cairn.Permission, fmt.Errorf("%s may not manage namespace users; only the superuser may", t.who))
}

func wrapAttr(a *pb.Attr, err error) (proto.Message, error) {
	if err != nil {
		return nil, err
	}
	return &pb.StatResponse{Attr: a}, nil
}

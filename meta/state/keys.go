package state

import (
	"encoding/binary"

	"github.com/cairnfs/cairn"
)

// Pebble key layout. Every key starts with a one-byte table tag; numbers are
// big-endian so that keys sort numerically.
//
//	i<ino>            -> Attr                 inode attributes
//	d<parent><name>   -> Dirent               directory entry
//	f<ino><offset>    -> ChunkRef             a file's chunk at a file offset
//	l<chunk>          -> ChunkRecord          where a committed chunk lives
//	g<chunk>          -> GarbageRecord        chunk to delete from data nodes
//	u<upload>         -> UploadSession        an open upload session
//	v<upload>\0<idx>  -> StoredChunk          a chunk that landed for a session
//	                                          (multipart: idx = part<<32 | chunk)
//	w<upload>\0<part> -> UploadPart           a multipart session's part
//	s<access key>     -> Credential           an access key and its secret
//	k<key id>         -> SigningKey           a capability token signing key
//	n<node>           -> NodeRecord           a registered data node
//	p<peer>           -> PeerInfo             a metadata peer's API address
//	q<ino>            -> QuotaRecord          a directory's quota and usage
//	U<user name>      -> User                 a namespace user
//	G<group name>     -> Group                a namespace group
//	m<name>           -> uint64               counters: applied index, next inode,
//	                                          next uid and gid, users generation
//	r<client><seq>    -> RequestRecord        a client call's result, for its retries
//	x<at><client><seq> -> (empty)             the r table in expiry order
const (
	tagInode   = 'i'
	tagDirent  = 'd'
	tagChunk   = 'f'
	tagLoc     = 'l'
	tagGarbage = 'g'
	tagUpload  = 'u'
	tagPart    = 'v'
	tagPartInf = 'w'
	tagCred    = 's' // the byte S3 users had: stored credentials stay readable
	tagSignKey = 'k'
	tagNode    = 'n'
	tagPeer    = 'p'
	tagMeta    = 'm'
	tagQuota   = 'q' // quota.go
	tagUser    = 'U'
	tagGroup   = 'G'
	// requests.go
	tagRequest    = 'r'
	tagRequestExp = 'x'
)

// The counters in the m table.
const (
	keyApplied = "mapplied" // the last log index applied
	keyNextIno = "mnextino" // the next inode number to hand out
	keyQuotas  = "mquotas"  // how many directories have a quota
	keyNextUID = "mnextuid" // the next uid to hand out (from FirstID)
	keyNextGID = "mnextgid" // the next gid to hand out (from FirstID)
	keyUserGen = "muserGen" // bumped on every change to users or groups
)

func inodeKey(ino cairn.InodeID) []byte {
	k := make([]byte, 9)
	k[0] = tagInode
	binary.BigEndian.PutUint64(k[1:], uint64(ino))
	return k
}

func direntPrefix(parent cairn.InodeID) []byte {
	k := make([]byte, 9)
	k[0] = tagDirent
	binary.BigEndian.PutUint64(k[1:], uint64(parent))
	return k
}

func direntKey(parent cairn.InodeID, name string) []byte {
	return append(direntPrefix(parent), name...)
}

func chunkPrefix(ino cairn.InodeID) []byte {
	k := make([]byte, 9)
	k[0] = tagChunk
	binary.BigEndian.PutUint64(k[1:], uint64(ino))
	return k
}

func chunkKey(ino cairn.InodeID, off int64) []byte {
	return binary.BigEndian.AppendUint64(chunkPrefix(ino), uint64(off))
}

func locKey(id cairn.ChunkID) []byte { return append([]byte{tagLoc}, id[:]...) }

func garbageKey(id cairn.ChunkID) []byte { return append([]byte{tagGarbage}, id[:]...) }

func uploadKey(id string) []byte { return append([]byte{tagUpload}, id...) }

func partPrefix(id string) []byte {
	return append(append([]byte{tagPart}, id...), 0)
}

func partKey(id string, idx uint64) []byte {
	return binary.BigEndian.AppendUint64(partPrefix(id), idx)
}

func partInfoPrefix(id string) []byte {
	return append(append([]byte{tagPartInf}, id...), 0)
}

func partInfoKey(id string, number uint32) []byte {
	return binary.BigEndian.AppendUint32(partInfoPrefix(id), number)
}

// multipartChunkPrefix is where part number's chunks live in the v table.
func multipartChunkPrefix(id string, number uint32) []byte {
	return binary.BigEndian.AppendUint32(partPrefix(id), number)
}

func quotaKey(ino cairn.InodeID) []byte {
	k := inodeKey(ino)
	k[0] = tagQuota
	return k
}

func credentialKey(accessKey string) []byte { return append([]byte{tagCred}, accessKey...) }

func userKey(name string) []byte { return append([]byte{tagUser}, name...) }

func groupKey(name string) []byte { return append([]byte{tagGroup}, name...) }

func nodeKey(id cairn.NodeID) []byte { return append([]byte{tagNode}, id...) }

func peerKey(id string) []byte { return append([]byte{tagPeer}, id...) }

// prefixEnd returns the smallest key greater than every key with prefix p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

func signingKeyKey(id uint32) []byte { return binary.BigEndian.AppendUint32([]byte{tagSignKey}, id) }

package state

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/cockroachdb/pebble"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// Exactly-once mutations. A client call whose answer is lost (the leader
// changed after committing it) is retried by the SDK; without help the
// retry applies again and answers for the second application: a Remove
// that removed the file says "not found", an exclusive Create says
// "exists". So a command that carries a RequestID has its result kept in
// the r table, and a command with the same ID gets that result back
// without being applied again. The table is part of the replicated state:
// every peer answers a retry alike. Results are kept for RequestTTL after
// the command's time, then dropped by later commands (the x table orders
// them by time).
//
//	r<client><seq>          -> RequestRecord
//	x<at_ns><client><seq>   -> (empty)   expiry order of the r table

// RequestTTL is how long a result is kept for retries: far longer than the
// SDK retries a call (its RetryFor, 30s by default).
const RequestTTL = 10 * time.Minute

// expirePerCommand bounds the expired results one command removes, so
// that no single command carries a long cleanup.
const expirePerCommand = 16

func requestKey(id *pb.RequestID) []byte {
	k := append([]byte{tagRequest}, id.Client...)
	return binary.BigEndian.AppendUint64(k, id.Seq)
}

func requestExpiryKey(at int64, id *pb.RequestID) []byte {
	k := binary.BigEndian.AppendUint64([]byte{tagRequestExp}, uint64(at))
	k = append(k, id.Client...)
	return binary.BigEndian.AppendUint64(k, id.Seq)
}

// validRequestID reports whether id can key the table: a client ID of
// 8 to 32 bytes.
func validRequestID(id *pb.RequestID) bool {
	return id != nil && len(id.Client) >= 8 && len(id.Client) <= 32
}

// opNumber is the field number of cmd's operation.
func opNumber(cmd *pb.Command) uint32 {
	m := cmd.ProtoReflect()
	if f := m.WhichOneof(m.Descriptor().Oneofs().ByName("op")); f != nil {
		return uint32(f.Number())
	}
	return 0
}

// rememberedResult returns the kept result of cmd's request, if cmd
// carries one that was applied before as the same operation.
func rememberedResult(b *pebble.Batch, cmd *pb.Command) (Result, bool) {
	if !validRequestID(cmd.Request) {
		return Result{}, false
	}
	var rec pb.RequestRecord
	if ok, err := getProto(b, requestKey(cmd.Request), &rec); !ok || err != nil || rec.Op != opNumber(cmd) {
		return Result{}, false
	}
	var res Result
	if rec.ErrKind != 0 || rec.ErrMsg != "" {
		res.Err = cairn.E(cairn.Kind(rec.ErrKind), errors.New(rec.ErrMsg))
	}
	if rec.RespType != "" {
		mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(rec.RespType))
		if err != nil {
			return Result{}, false
		}
		m := mt.New().Interface()
		if err := proto.Unmarshal(rec.Resp, m); err != nil {
			return Result{}, false
		}
		res.Resp = m
	}
	return res, true
}

// rememberResult keeps cmd's result for its request and drops a few
// results that have expired by cmd's time.
func rememberResult(b *pebble.Batch, cmd *pb.Command, res Result) error {
	if !validRequestID(cmd.Request) {
		return nil
	}
	rec := &pb.RequestRecord{AtNs: cmd.NowNs, Op: opNumber(cmd)}
	if res.Resp != nil {
		raw, err := proto.Marshal(res.Resp)
		if err != nil {
			return err
		}
		rec.RespType, rec.Resp = string(res.Resp.ProtoReflect().Descriptor().FullName()), raw
	}
	if res.Err != nil {
		rec.ErrKind, rec.ErrMsg = uint32(cairn.KindOf(res.Err)), res.Err.Error()
	}
	if err := putProto(b, requestKey(cmd.Request), rec); err != nil {
		return err
	}
	if err := b.Set(requestExpiryKey(cmd.NowNs, cmd.Request), nil, nil); err != nil {
		return err
	}
	return expireResults(b, cmd.NowNs-int64(RequestTTL))
}

// expireResults removes up to expirePerCommand results kept from before
// cutoff.
func expireResults(b *pebble.Batch, cutoff int64) error {
	if cutoff <= 0 {
		return nil
	}
	it, err := b.NewIter(&pebble.IterOptions{LowerBound: []byte{tagRequestExp}, UpperBound: requestExpiryKey(cutoff, &pb.RequestID{})})
	if err != nil {
		return err
	}
	var drop [][]byte
	for ok := it.First(); ok && len(drop) < expirePerCommand; ok = it.Next() {
		drop = append(drop, append([]byte(nil), it.Key()...))
	}
	if err := it.Close(); err != nil {
		return err
	}
	for _, k := range drop {
		rest := k[9:] // <client><seq>
		if len(rest) < 8 {
			continue
		}
		id := &pb.RequestID{Client: rest[:len(rest)-8], Seq: binary.BigEndian.Uint64(rest[len(rest)-8:])}
		if err := b.Delete(requestKey(id), nil); err != nil {
			return err
		}
		if err := b.Delete(k, nil); err != nil {
			return err
		}
	}
	return nil
}

package node

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/cairnhttp"
	"github.com/cairnfs/cairn/checksum"
	"github.com/cairnfs/cairn/internal/bwlimit"
	"github.com/cairnfs/cairn/pki"
	"github.com/cairnfs/cairn/volume"
)

// replicateRequest is the body of POST /v1/chunks/{id}/replicate, sent by
// the metadata leader's repairer.
type replicateRequest struct {
	Source string `json:"source"`
	Length int64  `json:"length"`
}

// handleReplicate pulls a chunk from another node, verifies every sub-block
// and the whole-chunk CRC, and stores it durably before answering 200.
func (d *dataServer) handleReplicate(w http.ResponseWriter, r *http.Request) {
	err := d.replicate(r)
	if err != nil {
		cairnhttp.WriteError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (d *dataServer) replicate(r *http.Request) error {
	const op = "node.replicate"
	id, err := cairn.ParseChunkID(r.PathValue("id"))
	if err != nil {
		return cairn.E(op, err)
	}
	var req replicateRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil || req.Source == "" {
		return cairn.E(op, cairn.Invalid, fmt.Errorf("want a JSON body {source, length}: %v", err))
	}
	if req.Length < 0 || req.Length > d.cfg.MaxChunkSize {
		return cairn.E(op, cairn.Invalid, fmt.Errorf("length %d out of range", req.Length))
	}
	if _, err := d.store.Stat(id); err == nil {
		return nil // already here
	}
	data, crc, err := d.fetch(r.Context(), req.Source, id)
	if err != nil {
		return cairn.E(op, cairn.PathArg(id.String()), err)
	}
	if int64(len(data)) != req.Length {
		return cairn.E(op, cairn.PathArg(id.String()), cairn.Corrupt, fmt.Errorf("source sent %d bytes, metadata says %d", len(data), req.Length))
	}
	if err := bwlimit.Wait(r.Context(), d.repairLimit, int64(len(data))); err != nil {
		return cairn.E(op, cairn.Canceled, err)
	}
	return d.store.Put(r.Context(), id, data, crc)
}

// fetch reads a whole chunk from another data node and verifies it.
func (d *dataServer) fetch(ctx context.Context, source string, id cairn.ChunkID) ([]byte, uint32, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, pki.Scheme(d.cfg.TLS)+"://"+source+"/v1/chunks/"+id.String(), nil)
	if err != nil {
		return nil, 0, cairn.E(cairn.Invalid, err)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, 0, cairn.E(cairn.Unavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, cairnhttp.ReadError(resp)
	}
	blocks, err1 := strconv.Atoi(resp.Header.Get(cairnhttp.HeaderBlocks))
	bs, err2 := strconv.Atoi(resp.Header.Get(cairnhttp.HeaderBlockSize))
	length, err3 := strconv.ParseInt(resp.Header.Get(cairnhttp.HeaderChunkLength), 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil && length != 0 {
		return nil, 0, cairn.E(cairn.Unavailable, fmt.Errorf("malformed reply from %s: %v", source, err))
	}
	if length < 0 || length > d.cfg.MaxChunkSize || blocks < 0 || blocks > int(length/max(int64(bs), 1))+1 {
		return nil, 0, cairn.E(cairn.Unavailable, fmt.Errorf("malformed reply from %s", source))
	}
	raw := make([]byte, 4*blocks)
	data := make([]byte, length)
	if _, err := io.ReadFull(resp.Body, raw); err != nil {
		return nil, 0, cairn.E(cairn.Unavailable, err)
	}
	if _, err := io.ReadFull(resp.Body, data); err != nil {
		return nil, 0, cairn.E(cairn.Unavailable, err)
	}
	crcs := make([]uint32, blocks)
	for i := range crcs {
		crcs[i] = binary.LittleEndian.Uint32(raw[4*i:])
	}
	if length > 0 {
		if err := volume.VerifyBlocks(data, bs, crcs); err != nil {
			return nil, 0, err
		}
	}
	return data, checksum.CRC32C(data), nil
}

// handleVerify re-reads a chunk (a client saw a bad checksum from this
// node); if it is corrupt the replica is reported and dropped.
func (d *dataServer) handleVerify(w http.ResponseWriter, r *http.Request) {
	id, err := cairn.ParseChunkID(r.PathValue("id"))
	if err != nil {
		cairnhttp.WriteError(w, err)
		return
	}
	if err := d.store.Verify(id); err != nil {
		if cairn.KindOf(err) == cairn.Corrupt {
			d.dropCorrupt(r.Context(), id)
		}
		cairnhttp.WriteError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// dropCorrupt reports a corrupt replica to the leader and, unless it is the
// only replica, deletes it so it is repaired from a good one.
func (d *dataServer) dropCorrupt(ctx context.Context, id cairn.ChunkID) {
	d.metrics.corrupt.Inc()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := d.reportCorrupt(ctx, id)
	if err != nil {
		d.cfg.Logger.Error("corrupt replica kept", "chunk", id, "err", err)
		return
	}
	if err := d.store.Delete(ctx, id); err != nil && !errors.Is(err, cairn.NotFound) {
		d.cfg.Logger.Error("deleting a corrupt replica", "chunk", id, "err", err)
		return
	}
	d.cfg.Logger.Warn("dropped a corrupt replica; the metadata leader repairs it from another", "chunk", id)
}

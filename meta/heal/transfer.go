package heal

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/cairnhttp"
)

// HTTPTransfer moves chunks with the data protocol's repair endpoints
// (docs/protocol.md).
type HTTPTransfer struct {
	Client *http.Client
	Scheme string // "https" on a secured cluster; default "http"
}

func (t HTTPTransfer) chunkURL(addr string, id cairn.ChunkID) string {
	scheme := t.Scheme
	if scheme == "" {
		scheme = "http"
	}
	return scheme + "://" + addr + "/v1/chunks/" + id.String()
}

// ReplicateRequest is the JSON body of POST /v1/chunks/{id}/replicate on a
// data node: pull the chunk from Source, verify and store it.
type ReplicateRequest struct {
	Source string `json:"source"`
	Length int64  `json:"length"`
}

// Copy asks target to pull the chunk from source. A node that cannot be
// reached is Unavailable; a refusal carries the node's error kind.
func (t HTTPTransfer) Copy(ctx context.Context, id cairn.ChunkID, length int64, target, source string) error {
	body, _ := json.Marshal(ReplicateRequest{Source: source, Length: length})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.chunkURL(target, id)+"/replicate", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := t.Client.Do(req)
	if err != nil {
		return cairn.E("repair.copy", cairn.Unavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return cairnhttp.ReadError(resp)
	}
	return nil
}

// Delete removes the chunk from the node at addr; 404 counts as done. Any
// other failure is reported (Unavailable for a refusal).
func (t HTTPTransfer) Delete(ctx context.Context, addr string, id cairn.ChunkID) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, t.chunkURL(addr, id), nil)
	if err != nil {
		return err
	}
	resp, err := t.Client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNotFound {
		return cairn.E("gc.delete", cairn.Unavailable, nil)
	}
	return nil
}

package inprocess

import (
	"testing"

	"github.com/cairnfs/cairn/metarpc"
)

// TestMessageSizeMatchesClient: the service accepts and sends messages as
// large as the SDK's, like a metadata peer.
func TestMessageSizeMatchesClient(t *testing.T) {
	if maxMessageSize != metarpc.MaxMessageSize {
		t.Errorf("maxMessageSize is %d, the client's metarpc.MaxMessageSize %d", maxMessageSize, metarpc.MaxMessageSize)
	}
}

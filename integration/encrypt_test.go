package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairnfs/cairn/internal/await"
	"github.com/cairnfs/cairn/internal/testcluster"
)

// TestEncryptedCluster: a file written through nodes with an encryption
// key reads back, no volume file holds its bytes, and cluster status says
// the nodes encrypt (a node without a key says it does not).
func TestEncryptedCluster(t *testing.T) {
	for _, encrypted := range []bool{true, false} {
		t.Run(fmt.Sprint("encrypted=", encrypted), func(t *testing.T) {
			opts := testcluster.Options{Nodes: 1, ChunkSize: 64 << 10}
			if encrypted {
				opts.Volume.EncryptionKey = bytes.Repeat([]byte{3}, 32)
			}
			c := testcluster.NewInProcess(t, opts)
			cl := c.Client()
			data := bytes.Repeat([]byte("SECRET-FILE-BODY"), 10<<10)
			mustWrite(t, cl, "/enc", data)
			mustMatch(t, cl, "/enc", data)
			await.Until(t, 10*time.Second, func() error {
				st, err := cl.Admin().Status(context.Background())
				if err != nil {
					return err
				}
				if len(st.Nodes) != 1 || st.Nodes[0].Encrypted != encrypted || st.Nodes[0].LastHeartbeat.IsZero() {
					return fmt.Errorf("cluster status nodes %+v, want one with Encrypted %v", st.Nodes, encrypted)
				}
				return nil
			})
			vols, _ := filepath.Glob(filepath.Join(c.Nodes[0].Dir, "volumes", "*.vol"))
			found := false
			for _, v := range vols {
				b, err := os.ReadFile(v)
				if err != nil {
					t.Fatal(err)
				}
				found = found || bytes.Contains(b, []byte("SECRET-FILE-BODY"))
			}
			if found == encrypted {
				t.Fatalf("file bytes in the volume files: %v, encrypted: %v", found, encrypted)
			}
		})
	}
}

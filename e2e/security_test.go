package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/internal/await"
	"github.com/cairnfs/cairn/pki"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// TestOutsidersAreRefused starts a secured cluster of real processes (3
// metadata peers, 3 data nodes, a gateway; certificates made with `cairn
// cert`) and pokes every port it listens on as outsiders would: with no
// certificate, with a certificate from another CA, with an expired one,
// and as a user calling what only admins and data nodes may. Every attempt
// is refused with an error that says why, and the namespace, the S3 keys
// and the chunks' placement are the same before and after.
func TestOutsidersAreRefused(t *testing.T) {
	c := startClusterN(t, 3, 3)
	ca := filepath.Join(c.certs, "ca")
	mustCLI := func(args ...string) string {
		t.Helper()
		out, err := cli(t, c.meta, args...)
		if err != nil {
			t.Fatalf("cairn %v: %v\n%s", args, err, out)
		}
		return out
	}
	mustCLI("cert", "create-client", "--ca-dir", ca, "--out", filepath.Join(c.certs, "alice"), "--name", "alice")

	// Something to protect: files, an S3 key, a gateway.
	local := filepath.Join(c.dir, "payload")
	if err := os.WriteFile(local, bytes.Repeat([]byte("protect me "), 50000), 0o600); err != nil {
		t.Fatal(err)
	}
	mustCLI("mkdir", "-p", "/vault/deep")
	mustCLI("put", local, "/vault/deep/secret.bin")
	mustCLI("put", local, "/vault/other.bin")
	// alice is a namespace user; the vault is root's alone.
	mustCLI("user", "add", "alice")
	mustCLI("chmod", "700", "/vault")
	mustCLI("s3", "user", "add", "OWNERKEY", "owner-secret-key-1234")
	// Two users' S3 keys: alice's bucket is private to her.
	mustCLI("s3", "user", "add", "--user", "alice", "ALICEKEY", "alice-secret-key-1234")
	mustCLI("s3", "user", "add", "--user", "bob", "BOBKEY", "bob-secret-key-12345")
	gl := listener(t)
	start(t, c.dir, "gateway", []net.Listener{gl}, "gateway", "--addr", gl.Addr().String(), "--meta", c.meta,
		"--certs-dir", filepath.Join(c.certs, "gateway"))
	await.Until(t, time.Minute, func() error {
		resp, err := http.Get("http://" + gl.Addr().String() + "/-/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("gateway readyz %d", resp.StatusCode)
		}
		return nil
	})
	s3For := func(ak, sk string) *minio.Client {
		mc, err := minio.New(gl.Addr().String(), &minio.Options{Creds: credentials.NewStaticV4(ak, sk, ""), Region: "us-east-1", BucketLookup: minio.BucketLookupPath})
		if err != nil {
			t.Fatal(err)
		}
		return mc
	}
	aliceS3, bobS3 := s3For("ALICEKEY", "alice-secret-key-1234"), s3For("BOBKEY", "bob-secret-key-12345")
	if err := aliceS3.MakeBucket(t.Context(), "alices", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := aliceS3.PutObject(t.Context(), "alices", "diary.txt", strings.NewReader("dear diary"), 10, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	snapshot := func() string {
		t.Helper()
		return mustCLI("ls", "-l", "-r", "/") + mustCLI("s3", "user", "list") + mustCLI("user", "list") +
			mustCLI("locate", "/vault/deep/secret.bin") + mustCLI("locate", "/vault/other.bin")
	}
	before := snapshot()

	// The addresses to poke.
	admin := c.adminTLS(t)
	sdk, err := client.Dial(strings.Split(c.meta, ","), client.Options{TLS: admin})
	if err != nil {
		t.Fatal(err)
	}
	defer sdk.Close()
	st, err := sdk.Admin().Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	grpcAddr := strings.Split(c.meta, ",")[0]
	var raftAddr, httpAddr string
	for _, p := range st.Peers {
		if p.APIAddr == grpcAddr {
			raftAddr = p.RaftAddr
		}
	}
	httpAddr = metaHTTPAddr(t, c, grpcAddr)
	f, err := sdk.Open(t.Context(), "/vault/deep/secret.bin")
	if err != nil {
		t.Fatal(err)
	}
	chunk := f.Chunks()[0]
	nodeAddr := chunk.Replicas[0].Addr
	chunkURL := "https://" + nodeAddr + "/v1/chunks/" + chunk.ID.String()

	// Identities: none, another CA's admin, an expired certificate of this
	// CA, and a user of this CA.
	other := filepath.Join(c.dir, "other")
	mustCLI("cert", "create-ca", "--ca-dir", filepath.Join(other, "ca"))
	mustCLI("cert", "create-client", "--ca-dir", filepath.Join(other, "ca"), "--out", filepath.Join(other, "mallory"), "--name", "mallory", "--admin")
	mustCLI("cert", "create-node", "--ca-dir", filepath.Join(other, "ca"), "--out", filepath.Join(other, "node"), "--name", "node", "--roles", "node,meta", "--host", "127.0.0.1")
	cluCA, err := pki.LoadCA(ca)
	if err != nil {
		t.Fatal(err)
	}
	expiredDir := filepath.Join(c.dir, "expired")
	if err := cluCA.WriteCertDir(expiredDir, pki.CertSpec{Name: "root", Roles: []pki.Role{pki.Admin}, NotAfter: time.Now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	load := func(dir string) *pki.Source {
		src, err := pki.Load(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		return src
	}
	alice, rogueNode, expired := load(filepath.Join(c.certs, "alice")), load(filepath.Join(other, "node")), load(expiredDir)

	// CLI: without a certificate, with another CA's, with an expired one,
	// and as a user calling admin operations.
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"no certificate", []string{"CAIRN_INSECURE=1"}, []string{"ls", "/"}, "requires TLS"},
		{"another CA", []string{"CAIRN_CERTS_DIR=" + filepath.Join(other, "mallory")}, []string{"rm", "-r", "/vault"}, "TLS with the metadata peer"},
		{"expired", []string{"CAIRN_CERTS_DIR=" + expiredDir}, []string{"rm", "-r", "/vault"}, "expired at"},
		{"user removes a peer", []string{"CAIRN_CERTS_DIR=" + filepath.Join(c.certs, "alice")}, []string{"meta", "remove-peer", "m1"}, "alice (user) may not call /cairn.v1.Operator/RemovePeer"},
		{"user drains a node", []string{"CAIRN_CERTS_DIR=" + filepath.Join(c.certs, "alice")}, []string{"node", "drain", string(chunk.Replicas[0].Node)}, "may not call /cairn.v1.Operator/Drain"},
		{"user mints an S3 key", []string{"CAIRN_CERTS_DIR=" + filepath.Join(c.certs, "alice")}, []string{"s3", "user", "add", "MINE", "my-own-secret-key"}, "may not call /cairn.v1.Credentials/PutCredential"},
		{"user lists S3 keys", []string{"CAIRN_CERTS_DIR=" + filepath.Join(c.certs, "alice")}, []string{"s3", "user", "list"}, "may not call /cairn.v1.Credentials/ListCredentials"},
		{"user runs fsck", []string{"CAIRN_CERTS_DIR=" + filepath.Join(c.certs, "alice")}, []string{"fsck"}, "may not call /cairn.v1.Operator/Fsck"},
		{"user reads root's private file", []string{"CAIRN_CERTS_DIR=" + filepath.Join(c.certs, "alice")}, []string{"cat", "/vault/deep/secret.bin"}, "permission denied"},
		{"user removes root's tree", []string{"CAIRN_CERTS_DIR=" + filepath.Join(c.certs, "alice")}, []string{"rm", "-r", "/vault"}, "permission denied"},
		{"user takes root's tree", []string{"CAIRN_CERTS_DIR=" + filepath.Join(c.certs, "alice")}, []string{"chown", "alice", "/vault"}, "permission denied"},
		{"user makes a user", []string{"CAIRN_CERTS_DIR=" + filepath.Join(c.certs, "alice")}, []string{"user", "add", "mallory"}, "may not call /cairn.v1.Credentials/PutUser"},
		{"user acts as root", []string{"CAIRN_CERTS_DIR=" + filepath.Join(c.certs, "alice"), "CAIRN_AS=root"}, []string{"rm", "-r", "/vault"}, "may not act as"},
		{"user sets a quota", []string{"CAIRN_CERTS_DIR=" + filepath.Join(c.certs, "alice")}, []string{"quota", "set", "/vault", "--bytes", "1"}, "may not call /cairn.v1.Operator/SetQuota"},
	} {
		out, err := cliEnv(t, c.meta, tc.env, tc.args...)
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("%s: cairn %v: %v, want a refusal saying %q:\n%s", tc.name, tc.args, err, tc.want, out)
		}
	}

	// gRPC as a user: the data nodes' and the gateways' RPCs.
	cc, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(alice.GRPCClient()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = pb.NewNodesClient(cc).RegisterNode(ctx, &pb.RegisterNodeRequest{Id: "fake-node", Addr: "127.0.0.1:1"})
	wantDenied(t, "a user registering a data node", err)
	_, err = pb.NewCredentialsClient(cc).GetSecret(ctx, &pb.GetSecretRequest{AccessKey: "OWNERKEY"})
	wantDenied(t, "a user reading an S3 secret", err)
	// The admin may manage keys but not read their secrets either.
	acc, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(admin.GRPCClient()))
	if err != nil {
		t.Fatal(err)
	}
	defer acc.Close()
	_, err = pb.NewCredentialsClient(acc).GetSecret(ctx, &pb.GetSecretRequest{AccessKey: "OWNERKEY"})
	wantDenied(t, "an admin reading an S3 secret", err)

	// Raft: a stranger's certificate, even one claiming the meta role, is
	// refused in the handshake; this CA's user is refused for its role.
	for _, tc := range []struct {
		name string
		src  *pki.Source
	}{{"no certificate", nil}, {"another CA's meta certificate", rogueNode}, {"a user", alice}} {
		if err := tlsConversation(raftAddr, tc.src, []byte("raft")); err == nil {
			t.Errorf("Raft port: %s got a conversation", tc.name)
		}
	}

	// HTTP: REST without a certificate, with another CA's, cross-origin;
	// the data port: chunk routes without a certificate, deletes and repair
	// copies as a user.
	httpFor := func(src *pki.Source) *http.Client {
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} // as a scanner would
		if src != nil {
			tr = src.Transport(&http.Transport{})
		}
		return &http.Client{Transport: tr, Timeout: 10 * time.Second}
	}
	for _, tc := range []struct {
		name, method, url string
		who               *pki.Source
		header            map[string]string
		want              string
	}{
		{"REST read without a certificate", "GET", "https://" + httpAddr + "/v1/files/vault/deep/secret.bin", nil, nil, "no verified client certificate"},
		{"REST delete without a certificate", "DELETE", "https://" + httpAddr + "/v1/files/vault?recursive=true", nil, nil, "no verified client certificate"},
		{"REST read of root's private file by a user", "GET", "https://" + httpAddr + "/v1/files/vault/deep/secret.bin", alice, nil, "permission denied"},
		{"REST rename from a foreign web page", "POST", "https://" + httpAddr + "/v1/files/vault/other.bin?op=rename&to=/stolen.bin", admin,
			map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, "origin"},
		{"chunk read without a certificate", "GET", chunkURL, nil, nil, "no verified client certificate"},
		{"chunk read by a user without a token", "GET", chunkURL, alice, nil, "token"},
		{"chunk overwrite by a user without a token", "PUT", chunkURL, alice, map[string]string{"Cairn-Crc32c": "00000000"}, "token"},
		{"chunk read by a user with a made-up token", "GET", chunkURL, alice, map[string]string{"Cairn-Token": "AQEAAAABAAABk2x0AAA"}, "token"},
		{"chunk delete by a user", "DELETE", chunkURL, alice, nil, "only metadata peers and data nodes may"},
		{"chunk overwrite by a user (delete first)", "POST", chunkURL + "/replicate", alice, nil, "only metadata peers and data nodes may"},
		{"chunk delete by a node of another CA", "DELETE", chunkURL, rogueNode, nil, "tls"},
		{"chunk delete with an expired certificate", "DELETE", chunkURL, expired, nil, "tls"},
	} {
		req, _ := http.NewRequest(tc.method, tc.url, strings.NewReader(`{"source":"127.0.0.1:1","length":1}`))
		for k, v := range tc.header {
			req.Header.Set(k, v)
		}
		resp, err := httpFor(tc.who).Do(req)
		msg := ""
		if err != nil {
			msg = err.Error()
		} else {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			msg = fmt.Sprintf("%d %s", resp.StatusCode, b)
			if resp.StatusCode < 400 {
				t.Errorf("%s: %s %s answered %s", tc.name, tc.method, tc.url, msg)
				continue
			}
		}
		if !strings.Contains(strings.ToLower(msg), strings.ToLower(tc.want)) {
			t.Errorf("%s: %s %s: %s, want a refusal mentioning %q", tc.name, tc.method, tc.url, msg, tc.want)
		}
	}

	// S3: user B's key on user A's private bucket.
	{
		ctx := t.Context()
		_, err := bobS3.StatObject(ctx, "alices", "diary.txt", minio.StatObjectOptions{})
		wantS3Denied(t, "bob stats alice's object", err)
		obj, err := bobS3.GetObject(ctx, "alices", "diary.txt", minio.GetObjectOptions{})
		if err == nil {
			_, err = io.ReadAll(obj)
		}
		wantS3Denied(t, "bob reads alice's object", err)
		_, err = bobS3.PutObject(ctx, "alices", "diary.txt", strings.NewReader("forged"), 6, minio.PutObjectOptions{})
		wantS3Denied(t, "bob overwrites alice's object", err)
		wantS3Denied(t, "bob deletes alice's object", bobS3.RemoveObject(ctx, "alices", "diary.txt", minio.RemoveObjectOptions{}))
		for o := range bobS3.ListObjects(ctx, "alices", minio.ListObjectsOptions{}) {
			wantS3Denied(t, "bob lists alice's bucket", o.Err)
			break
		}
		wantS3Denied(t, "bob removes alice's bucket", bobS3.RemoveBucket(ctx, "alices"))
		wantS3Denied(t, "bob opens alice's bucket to everyone", bobS3.SetBucketPolicy(ctx, "alices",
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::alices/*"}]}`))
	}

	// The same cluster, untouched.
	if after := snapshot(); after != before {
		t.Errorf("the cluster changed under the refused attempts:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	// And the admin still reads its file.
	if out := mustCLI("cat", "/vault/deep/secret.bin"); !strings.HasPrefix(out, "protect me ") {
		t.Errorf("the file no longer reads back: %.40q", out)
	}
}

// wantS3Denied checks that err is S3's AccessDenied.
func wantS3Denied(t *testing.T, what string, err error) {
	t.Helper()
	if code := minio.ToErrorResponse(err).Code; code != "AccessDenied" {
		t.Errorf("%s: %v (code %q), want AccessDenied", what, err, code)
	}
}

// wantDenied checks that err is a gRPC PermissionDenied.
func wantDenied(t *testing.T, what string, err error) {
	t.Helper()
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("%s: %v, want PermissionDenied", what, err)
	}
}

// tlsConversation dials addr with src's client certificate (none when
// nil), writes msg and reads one byte: it fails unless the server took
// the handshake and kept the connection open.
func tlsConversation(addr string, src *pki.Source, msg []byte) error {
	cfg := &tls.Config{InsecureSkipVerify: true}
	if src != nil {
		cfg = src.ClientTLS()
		cfg.ServerName = "127.0.0.1"
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := conn.Write(msg); err != nil {
		return err
	}
	var b [1]byte
	_, err = conn.Read(b[:])
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return nil // still talking: the server kept the connection
	}
	return err
}

// cliEnv runs a client command with extra environment (which overrides
// the cluster's admin certificate that cli sets).
func cliEnv(t *testing.T, meta string, env []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := command(ctx, args...)
	cmd.Env = append(append(os.Environ(), "CAIRN_META="+meta), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// metaHTTPAddr is the HTTP address of the peer serving gRPC at grpcAddr,
// from the listeners startClusterN gave it.
func metaHTTPAddr(t *testing.T, c *cluster, grpcAddr string) string {
	t.Helper()
	if c.httpAddrs == nil || c.httpAddrs[grpcAddr] == "" {
		t.Fatalf("no HTTP address known for %s", grpcAddr)
	}
	return c.httpAddrs[grpcAddr]
}

package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"strings"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/pki"
)

// The example of the README: write a file, read it back, remove the tree.
func Example() {
	ctx := context.Background()
	certs, err := pki.Load("cairn-data/certs/admin", nil) // a certificate directory (docs/security.md)
	if err != nil {
		log.Fatal(err)
	}
	c, err := client.Dial(nil, client.Options{TLS: certs}) // $CAIRN_META, else 127.0.0.1:9090
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	body := strings.NewReader("hello\n")
	if _, err := c.WriteFile(ctx, "/docs/hello.txt", body, client.WriteOptions{Parents: true}); err != nil {
		log.Fatal(err)
	}
	f, err := c.Open(ctx, "/docs/hello.txt")
	if errors.Is(err, cairn.NotFound) {
		log.Fatal("gone already")
	}
	if err != nil {
		log.Fatal(err)
	}
	if _, err := io.Copy(os.Stdout, f); err != nil { // every byte is checked against its CRC32C
		log.Fatal(err)
	}
	res, err := c.Remove(ctx, "/docs", client.RemoveOptions{Recursive: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("removed", res.Files, "files and", res.Dirs, "directories")
}

// Cluster operations live on the admin handle.
func ExampleAdmin_Status() {
	c, err := client.Dial(nil, client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	st, err := c.Admin().Status(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("leader:", st.LeaderID)
	for _, n := range st.Nodes {
		fmt.Println(n.ID, n.Addr, n.State)
	}
}

// A credential that services such as the S3 gateway verify requests with.
func ExampleAdmin_PutCredential() {
	c, err := client.Dial(nil, client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	cred := client.Credential{AccessKey: "ANALYTICS", Secret: "a-long-secret-key", Description: "spark jobs"}
	err = c.Admin().PutCredential(context.Background(), cred, client.PutCredentialOptions{Exclusive: true})
	if errors.Is(err, cairn.Exists) {
		log.Fatal("the access key is taken; delete it first to change its secret")
	}
	if err != nil {
		log.Fatal(err)
	}
}

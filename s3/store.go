package s3

import (
	"context"
	"iter"

	"github.com/cairnfs/cairn/client"
)

// Store is everything the gateway asks of Cairn to keep objects: the
// namespace, file reads and writes, and multipart sessions. Buckets are
// top-level directories and keys are paths below them (see names.go).
// *client.Client satisfies it; the gateway reaches the cluster through
// nothing else for objects, so that it can be served by an in-process
// implementation in tests. The methods behave, and fail with the error
// kinds, as documented in package client.
type Store interface {
	Namespace
	Files
	Uploads
}

// Namespace is the directory tree: what the gateway lists, creates,
// removes and reshapes.
type Namespace interface {
	Stat(ctx context.Context, path string) (*client.FileInfo, error)
	List(ctx context.Context, dir string, opts client.ListOptions) iter.Seq2[*client.FileInfo, error]
	ReadDir(ctx context.Context, dir string) ([]*client.FileInfo, error)
	Mkdir(ctx context.Context, path string, opts client.MkdirOptions) (*client.FileInfo, error)
	Chattr(ctx context.Context, path string, sa client.SetAttr) (*client.FileInfo, error)
	Remove(ctx context.Context, path string, opts client.RemoveOptions) (client.RemoveResult, error)
	// WrapInDir turns the object file at path into a directory holding it
	// as name, so that its key can become a prefix of longer keys.
	WrapInDir(ctx context.Context, path, name string) (*client.FileInfo, error)
}

// Files writes and reads whole objects.
type Files interface {
	Create(ctx context.Context, path string, opts client.WriteOptions) (*client.Writer, error)
	Open(ctx context.Context, path string) (*client.File, error)
}

// Uploads are the multipart sessions behind S3 multipart uploads.
type Uploads interface {
	CreateMultipart(ctx context.Context, path string, opts client.WriteOptions) (*client.Upload, error)
	GetUpload(ctx context.Context, id string) (*client.Upload, error)
	ListUploads(ctx context.Context, prefix string) ([]*client.Upload, error)
	ListParts(ctx context.Context, id string) (*client.Upload, []client.Part, error)
	CreatePart(ctx context.Context, id string, number int, chunkSize int64, replication int) (*client.Writer, error)
	CompleteMultipart(ctx context.Context, id string, parts []client.CompletePart, opts client.CompleteOptions) (*client.FileInfo, error)
	AbortUpload(ctx context.Context, id string) error
}

// Cluster is what the gateway asks of Cairn beyond objects: the
// credentials it verifies request signatures against (and stores its root
// key in), and the cluster status its readiness check reads.
// *client.Admin satisfies it.
type Cluster interface {
	CredentialSecret(ctx context.Context, accessKey string) (*client.Credential, error)
	PutCredential(ctx context.Context, cred client.Credential, opts client.PutCredentialOptions) error
	Status(ctx context.Context) (*client.ClusterStatus, error)
}

// The SDK is the implementation the gateway is served with.
var (
	_ Store   = (*client.Client)(nil)
	_ Cluster = (*client.Admin)(nil)
)

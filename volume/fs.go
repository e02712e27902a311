package volume

import (
	"io"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// FS opens volume files. The store reaches the disk only through it (except
// for listing and syncing the directory), so tests can inject faults such as
// a full disk by wrapping the default implementation.
type FS interface {
	// OpenFile opens name like os.OpenFile. Failures are returned unchanged.
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
}

// File is an open volume file. Reads and writes are positional, so one File
// serves concurrent readers and the single appender without a shared offset.
type File interface {
	io.ReaderAt
	io.WriterAt
	io.Closer
	// Truncate changes the size of the file; the store uses it to cut off a
	// partial record after a failed write.
	Truncate(size int64) error
	// Sync makes every completed write durable (fdatasync). An error means
	// the durability of earlier writes is unknown.
	Sync() error
	// Stat returns the file's metadata; the store only uses the size.
	Stat() (fs.FileInfo, error)
}

// OSFS is the default FS: real files, synced with fdatasync.
type OSFS struct{}

// OpenFile opens name with os.OpenFile; errors are the *fs.PathError it returns.
func (OSFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

// osFile is an *os.File whose Sync is fdatasync: the store appends, and
// fdatasync still writes the size change, which is all the metadata it needs.
type osFile struct{ *os.File }

func (f osFile) Sync() error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if err != unix.EINTR {
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}

// osFileOf returns the *os.File behind f, if f came from OSFS.
func osFileOf(f File) (*os.File, bool) {
	of, ok := f.(osFile)
	return of.File, ok
}

// syncDir fsyncs a directory so that a created or renamed entry survives a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

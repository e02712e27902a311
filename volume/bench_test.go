package volume

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"testing"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/checksum"
)

func benchStore(b *testing.B) *Store {
	s, err := Open(Options{Dir: b.TempDir(), Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func benchID(n uint64) cairn.ChunkID {
	var id cairn.ChunkID
	for i := 0; i < 8; i++ {
		id[i] = byte(n >> (8 * i))
	}
	id[15] = 0xBB
	return id
}

func reportOps(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkPut4KParallel measures durable 4 KiB Puts from 32 writers per
// CPU sharing fsyncs through group commit.
func BenchmarkPut4KParallel(b *testing.B) {
	s := benchStore(b)
	data := testData(1, 4096)
	crc := checksum.CRC32C(data)
	var next atomic.Uint64
	b.SetBytes(int64(len(data)))
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.Put(context.Background(), benchID(next.Add(1)), data, crc); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportOps(b)
}

func BenchmarkPut8M(b *testing.B) {
	s := benchStore(b)
	data := testData(2, 8<<20)
	crc := checksum.CRC32C(data)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.Put(context.Background(), benchID(uint64(i)), data, crc); err != nil {
			b.Fatal(err)
		}
	}
	reportOps(b)
}

func benchRead(b *testing.B, chunkSize, readSize int) {
	s := benchStore(b)
	const chunks = 64
	for i := 0; i < chunks; i++ {
		mustPutB(b, s, benchID(uint64(i)), testData(byte(i), chunkSize))
	}
	p := make([]byte, readSize)
	b.SetBytes(int64(readSize))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.ReadAt(benchID(uint64(i%chunks)), p, 0); err != nil && err != io.EOF {
			b.Fatal(err)
		}
	}
	reportOps(b)
}

func mustPutB(b *testing.B, s *Store, id cairn.ChunkID, data []byte) {
	if err := s.Put(context.Background(), id, data, checksum.CRC32C(data)); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkReadAt4K(b *testing.B) { benchRead(b, 4096, 4096) }
func BenchmarkReadAt8M(b *testing.B) { benchRead(b, 8<<20, 8<<20) }

// BenchmarkOpenRangeWriteTo sends 8 MiB ranges over a loopback TCP
// connection, where io.Copy uses sendfile.
func BenchmarkOpenRangeWriteTo(b *testing.B) {
	s := benchStore(b)
	const size = 8 << 20
	mustPutB(b, s, benchID(1), testData(3, size))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		io.Copy(io.Discard, c)
		c.Close()
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := s.OpenRange(benchID(1), 0, size)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := r.WriteTo(conn); err != nil {
			b.Fatal(err)
		}
		r.Close()
	}
	reportOps(b)
}

// BenchmarkCrypt writes and reads 4 KiB and 64 MiB chunks with and without
// encryption at rest: the cost of AES-256-GCM (docs/benchmarks.md). Writes
// are durable (each Put waits for its fdatasync), reads come from the page
// cache.
func BenchmarkCrypt(b *testing.B) {
	key := []byte("0123456789abcdef0123456789abcdef")
	for _, enc := range []bool{false, true} {
		for _, size := range []int{4 << 10, 64 << 20} {
			name := fmt.Sprintf("enc=%v/size=%s", enc, map[int]string{4 << 10: "4KiB", 64 << 20: "64MiB"}[size])
			open := func(b *testing.B) *Store {
				o := Options{Dir: b.TempDir(), Logger: quiet(), CompactInterval: -1}
				if enc {
					o.EncryptionKey = key
				}
				s, err := Open(o)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { s.Close() })
				return s
			}
			data := testData(4, size)
			crc := checksum.CRC32C(data)
			b.Run("write/"+name, func(b *testing.B) {
				s := open(b)
				b.SetBytes(int64(size))
				for i := 0; i < b.N; i++ {
					if err := s.Put(context.Background(), benchID(uint64(i)), data, crc); err != nil {
						b.Fatal(err)
					}
					if size > 1<<20 { // keep the disk use bounded
						if err := s.Delete(context.Background(), benchID(uint64(i))); err != nil {
							b.Fatal(err)
						}
					}
				}
			})
			b.Run("read/"+name, func(b *testing.B) {
				s := open(b)
				mustPutB(b, s, benchID(1), data)
				p := make([]byte, size)
				b.SetBytes(int64(size))
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := s.ReadAt(benchID(1), p, 0); err != nil && err != io.EOF {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

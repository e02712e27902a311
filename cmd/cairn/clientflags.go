package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/cairnfs/cairn/client"
)

// clientFlags are the flags every client command takes.
type clientFlags struct {
	meta        string
	chunkSize   sizeFlag
	replication int
	concurrency int
	certsDir    string
	insecure    bool
	as          string
}

func addClientFlags(fs *flag.FlagSet) *clientFlags {
	cf := &clientFlags{chunkSize: sizeFlag(client.DefaultChunkSize)}
	fs.StringVar(&cf.meta, "meta", "", "metadata peers host:port[,host:port...] (env CAIRN_META; default "+client.DefaultMeta+")")
	fs.Var(&cf.chunkSize, "chunk-size", "chunk size for new files, e.g. 8M")
	fs.IntVar(&cf.replication, "replication", 0, "replicas per chunk (0 = the cluster's default)")
	fs.IntVar(&cf.concurrency, "concurrency", 4, "chunks transferred in parallel")
	fs.StringVar(&cf.certsDir, certsDirFlag, "", "client certificate `DIR` made by cairn cert create-client (env CAIRN_CERTS_DIR; default ./cairn-data/certs/admin, then ~/.cairn/certs)")
	fs.BoolVar(&cf.insecure, insecureFlag, false, "connect without TLS, to a cluster run with --insecure (env CAIRN_INSECURE)")
	fs.StringVar(&cf.as, "as", "", "act as namespace `USER` (env CAIRN_AS; admin certificates, or --insecure)")
	return cf
}

func (cf *clientFlags) dial() (*client.Client, error) {
	var addrs []string
	if cf.meta != "" {
		addrs = strings.Split(cf.meta, ",")
	}
	src, err := clientTLS(cf.certsDir, cf.insecure)
	if err != nil {
		return nil, err
	}
	c, err := client.Dial(addrs, client.Options{ChunkSize: int64(cf.chunkSize), Replication: cf.replication, Concurrency: cf.concurrency, TLS: src})
	if err != nil {
		return nil, err
	}
	if cf.as != "" {
		c = c.As(cf.as)
	}
	return c, nil
}

// sizeFlag parses sizes like 4096, 64K, 8M, 1G (powers of 1024).
type sizeFlag int64

func (s *sizeFlag) String() string { return fmt.Sprint(int64(*s)) }

func (s *sizeFlag) Set(v string) error {
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	*s = sizeFlag(n)
	return nil
}

func parseSize(v string) (int64, error) {
	mult := int64(1)
	v = strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(v)), "B"), "I")
	if v != "" {
		switch v[len(v)-1] {
		case 'K':
			mult, v = 1<<10, v[:len(v)-1]
		case 'M':
			mult, v = 1<<20, v[:len(v)-1]
		case 'G':
			mult, v = 1<<30, v[:len(v)-1]
		case 'T':
			mult, v = 1<<40, v[:len(v)-1]
		}
	}
	var n int64
	if _, err := fmt.Sscanf(v, "%d", &n); err != nil || n < 0 {
		return 0, fmt.Errorf("bad size %q: want a number with optional K, M, G or T", v)
	}
	return n * mult, nil
}

// human formats a byte count.
func human(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

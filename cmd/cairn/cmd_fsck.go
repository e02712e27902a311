package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
)

// runFsck lists chunks with fewer healthy replicas than their file wants
// and exits 1 if there are any.
func runFsck(ctx context.Context, args []string) error {
	fs := newFlags("fsck")
	cf := addClientFlags(fs)
	if err := parse(fs, args, nil); err != nil {
		return err
	}
	c, err := cf.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	entries, err := c.Admin().Fsck(ctx)
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		fmt.Println("ok: every chunk has its full number of healthy replicas")
		return nil
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tCHUNK\tFILE\tOFFSET\tHEALTHY/WANT\tREPLICAS")
	missing := 0
	for _, e := range entries {
		status := "under-replicated"
		if e.Healthy == 0 {
			status = "missing"
			missing++
		}
		var reps []string
		for _, r := range e.Replicas {
			reps = append(reps, string(r.Node)+"("+r.State.String()+")")
		}
		path := e.Path
		if path == "" {
			path = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d/%d\t%s\n", status, e.Chunk, path, e.Offset, e.Healthy, e.Want, strings.Join(reps, " "))
	}
	tw.Flush()
	return fmt.Errorf("%d chunks below their replication (%d with no healthy replica)", len(entries), missing)
}

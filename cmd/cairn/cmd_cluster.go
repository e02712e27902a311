package main

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"
	"time"
)

func runCluster(ctx context.Context, args []string) error {
	fs := newFlags("cluster")
	cf := addClientFlags(fs)
	if err := parse(fs, args, nil); err != nil {
		return err
	}
	if fs.NArg() != 1 || fs.Arg(0) != "status" {
		return usagef("usage: cairn cluster status")
	}
	c, err := cf.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	st, err := c.Admin().Status(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("leader: %s (%s)   commit index %d, applied %d\n\n", st.LeaderID, st.LeaderAddr, st.CommitIndex, st.AppliedIndex)
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PEER\tRAFT\tAPI\tROLE")
	for _, p := range st.Peers {
		role := "follower"
		if p.Leader {
			role = "leader"
		}
		if !p.Voter {
			role += " (non-voter)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.ID, p.RaftAddr, p.APIAddr, role)
	}
	tw.Flush()
	fmt.Println()
	fmt.Fprintln(tw, "NODE\tADDRESS\tZONE/RACK\tSTATE\tUSED\tFREE\tCAPACITY\tCHUNKS\tENCRYPTED\tLAST HEARTBEAT")
	for _, n := range st.Nodes {
		age := time.Since(n.LastHeartbeat).Round(time.Millisecond)
		state := n.State.String()
		if n.Full {
			state += ",full" // no new chunks; the detail says how full
		}
		if n.Slow {
			state += ",slow" // recently stalled a transfer; placement prefers others
		}
		if n.HealthDetail != "" {
			state += " (" + n.HealthDetail + ")"
		}
		enc := "no"
		if n.Encrypted {
			enc = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s/%s\t%s\t%s\t%s\t%s\t%d\t%s\t%v ago\n", n.ID, n.Addr, n.Zone, n.Rack, state, human(n.Used), human(n.Free), human(n.Capacity), n.Chunks, enc, age)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r := st.Repair; r != nil {
		eta := "-"
		if r.ETA > 0 {
			eta = r.ETA.Round(time.Second).String()
		}
		fmt.Printf("\nrepair: %d queued, %d in flight, %d repaired, %d failed, %s moved (%s/s), ETA %s\nrebalance: %d replicas to move, %d moved\ngarbage: %d chunks queued, %d deleted\n",
			r.Queued, r.InFlight, r.Repaired, r.Failed, human(int64(r.BytesMoved)), human(int64(r.BytesPerSecond)), eta,
			r.RebalanceQueued, r.RebalanceMoved, r.GarbageQueued, r.GarbageDeleted)
	}
	return nil
}

package main

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/cairnfs/cairn/client"
)

// runS3 is `cairn s3 user add|list|remove`: S3 access keys, stored in the
// metadata service and used by every gateway.
func runS3(ctx context.Context, args []string) error {
	const use = "usage: cairn s3 user add <access-key> <secret-key> | cairn s3 user list | cairn s3 user remove <access-key>"
	if len(args) < 2 || args[0] != "user" {
		return usagef(use)
	}
	fs := newFlags("s3 user " + args[1])
	cf := addClientFlags(fs)
	desc := fs.String("description", "", "a note kept with the key (add)")
	if err := parse(fs, args[2:], nil); err != nil {
		return err
	}
	c, err := cf.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	switch {
	case args[1] == "add" && fs.NArg() == 2:
		cred := client.Credential{AccessKey: fs.Arg(0), Secret: fs.Arg(1), Description: *desc}
		if err := c.Admin().PutCredential(ctx, cred, client.PutCredentialOptions{Exclusive: true}); err != nil {
			return err
		}
		fmt.Printf("added S3 access key %s\n", fs.Arg(0))
		return nil
	case args[1] == "list" && fs.NArg() == 0:
		creds, err := c.Admin().Credentials(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ACCESS KEY\tCREATED\tDESCRIPTION")
		for _, cr := range creds {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", cr.AccessKey, cr.Created.UTC().Format(time.RFC3339), cr.Description)
		}
		return tw.Flush()
	case args[1] == "remove" && fs.NArg() == 1:
		if err := c.Admin().DeleteCredential(ctx, fs.Arg(0)); err != nil {
			return err
		}
		fmt.Printf("removed S3 access key %s (gateways stop accepting it within 10 s)\n", fs.Arg(0))
		return nil
	}
	return usagef(use)
}

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/s3/policy"
)

// runS3 is `cairn s3 user add|list|remove`: S3 access keys, stored in the
// metadata service and used by every gateway.
func runS3(ctx context.Context, args []string) error {
	const use = "usage: cairn s3 user add [--user NAME] [--policy FILE] <access-key> <secret-key> | cairn s3 user list | " +
		"cairn s3 user remove <access-key>"
	if len(args) < 2 || args[0] != "user" {
		return usagef(use)
	}
	fs := newFlags("s3 user " + args[1])
	cf := addClientFlags(fs)
	desc := fs.String("description", "", "a note kept with the key (add)")
	user := fs.String("user", "", "the namespace user the key acts as; without it the access key is its own identity (add)")
	policyFile := fs.String("policy", "", "a file with an IAM identity policy (JSON) limiting what the key may do; - reads standard input (add)")
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
		cred := client.Credential{AccessKey: fs.Arg(0), Secret: fs.Arg(1), Description: *desc, User: *user}
		if *policyFile != "" {
			doc, err := readPolicy(*policyFile)
			if err != nil {
				return err
			}
			cred.Policy = doc
		}
		if cred.User != "" {
			// The key acts as its namespace user, which must exist: make
			// it if it does not (as `cairn user add` would).
			users, _, err := c.Admin().ListUsers(ctx)
			if err != nil {
				return err
			}
			if !slices.ContainsFunc(users, func(u client.User) bool { return u.Name == cred.User }) {
				u, err := c.Admin().PutUser(ctx, cred.User)
				if err != nil {
					return err
				}
				fmt.Printf("created namespace user %s (uid %d)\n", u.Name, u.UID)
			}
		}
		if err := c.Admin().PutCredential(ctx, cred, client.PutCredentialOptions{Exclusive: true}); err != nil {
			return err
		}
		switch {
		case cred.User == "" && cred.Policy == "":
			fmt.Printf("added S3 access key %s (an administrator key: it may do anything; give --user or --policy to limit a key)\n", fs.Arg(0))
		case cred.User != "":
			fmt.Printf("added S3 access key %s for user %s\n", fs.Arg(0), cred.User)
		default:
			fmt.Printf("added S3 access key %s\n", fs.Arg(0))
		}
		return nil
	case args[1] == "list" && fs.NArg() == 0:
		creds, err := c.Admin().Credentials(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ACCESS KEY\tUSER\tPOLICY\tCREATED\tDESCRIPTION")
		for _, cr := range creds {
			user, pol := cr.User, "-"
			switch {
			case cr.User == "" && cr.Policy == "":
				user = "(administrator)"
			case cr.User == "":
				user = "-"
			}
			if cr.Policy != "" {
				pol = "yes"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", cr.AccessKey, user, pol, cr.Created.UTC().Format(time.RFC3339), cr.Description)
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

// readPolicy reads and validates an identity policy file ("-" for
// standard input), so that a key is never stored with a policy the
// gateway would refuse.
func readPolicy(name string) (string, error) {
	var doc []byte
	var err error
	if name == "-" {
		doc, err = io.ReadAll(io.LimitReader(os.Stdin, policy.MaxSize+1))
	} else {
		doc, err = os.ReadFile(name)
	}
	if err != nil {
		return "", fmt.Errorf("--policy: %w", err)
	}
	if _, err := policy.Parse(doc, policy.Identity); err != nil {
		return "", usagef("--policy %s: %v", name, err)
	}
	return string(doc), nil
}

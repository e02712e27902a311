package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/cairnfs/cairn/client"
)

// runUser is `cairn user add|list|remove`: the namespace's users (an
// admin's job).
func runUser(ctx context.Context, args []string) error {
	const use = "usage: cairn user add NAME [--groups a,b] | cairn user list | cairn user remove NAME"
	if len(args) < 1 {
		return usagef(use)
	}
	fset := newFlags("user " + args[0])
	cf := addClientFlags(fset)
	groups := fset.String("groups", "", "supplementary groups, comma-separated (add; created if missing)")
	pos, err := parseInterleaved(fset, args[1:])
	if err != nil {
		return err
	}
	c, err := cf.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	switch {
	case args[0] == "add" && len(pos) == 1:
		var gs []string
		if *groups != "" {
			gs = strings.Split(*groups, ",")
		}
		u, err := c.Admin().PutUser(ctx, pos[0], gs...)
		if err != nil {
			return err
		}
		fmt.Printf("user %s: uid %d, gid %d, groups %s\n", u.Name, u.UID, u.GID, strings.Join(u.Groups, ","))
		return nil
	case args[0] == "list" && len(pos) == 0:
		users, groups, err := c.Admin().ListUsers(ctx)
		if err != nil {
			return err
		}
		gname := map[uint32]string{}
		for _, g := range groups {
			gname[g.GID] = g.Name
		}
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USER\tUID\tGROUP\tGROUPS")
		for _, u := range users {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", u.Name, u.UID, gname[u.GID], strings.Join(u.Groups, ","))
		}
		return tw.Flush()
	case args[0] == "remove" && len(pos) == 1:
		if err := c.Admin().DeleteUser(ctx, pos[0]); err != nil {
			return err
		}
		fmt.Printf("removed user %s (its files keep uid and group)\n", pos[0])
		return nil
	}
	return usagef(use)
}

// runWhoami prints the principal the CLI's calls act as.
func runWhoami(ctx context.Context, args []string) error {
	fset := newFlags("whoami")
	cf := addClientFlags(fset)
	if err := parse(fset, args, nil); err != nil {
		return err
	}
	c, err := cf.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	p, err := c.WhoAmI(ctx)
	if err != nil {
		return err
	}
	if p.Superuser {
		fmt.Printf("%s (superuser)", p.Name)
	} else {
		fmt.Printf("%s uid=%d gid=%d groups=%s", p.Name, p.UID, p.GID, strings.Join(p.Groups, ","))
	}
	if p.Identity != "" {
		fmt.Printf(" certificate=%s roles=%s", p.Identity, strings.Join(p.Roles, ","))
	}
	fmt.Println()
	return nil
}

// runChmod is `cairn chmod [-R] MODE PATH...` with an octal MODE.
func runChmod(ctx context.Context, args []string) error {
	return changeEach(ctx, "chmod", "MODE", args, func(arg string) (func(*client.Client, string) error, error) {
		n, err := strconv.ParseUint(arg, 8, 32)
		if err != nil || n > 0o7777 {
			return nil, usagef("chmod: mode %q is not octal bits like 0755, 2775 or 1777", arg)
		}
		bits := uint32(n)
		return func(c *client.Client, p string) error {
			_, err := c.Chattr(ctx, p, client.SetAttr{Mode: &bits})
			return err
		}, nil
	})
}

// runChown is `cairn chown [-R] USER[:GROUP] PATH...`.
func runChown(ctx context.Context, args []string) error {
	return changeEach(ctx, "chown", "USER[:GROUP]", args, func(arg string) (func(*client.Client, string) error, error) {
		owner, group, _ := strings.Cut(arg, ":")
		if owner == "" && group == "" {
			return nil, usagef("chown: name a user, USER:GROUP or :GROUP")
		}
		return func(c *client.Client, p string) error {
			_, err := c.Chown(ctx, p, owner, group)
			return err
		}, nil
	})
}

// runChgrp is `cairn chgrp [-R] GROUP PATH...`.
func runChgrp(ctx context.Context, args []string) error {
	return changeEach(ctx, "chgrp", "GROUP", args, func(arg string) (func(*client.Client, string) error, error) {
		return func(c *client.Client, p string) error {
			_, err := c.Chown(ctx, p, "", arg)
			return err
		}, nil
	})
}

// changeEach parses `NAME [-R] ARG PATH...` and applies the change that
// parseArg makes of ARG to every path (with -R, to everything below each
// directory too, parents before their entries).
func changeEach(ctx context.Context, name, argName string, args []string, parseArg func(string) (func(*client.Client, string) error, error)) error {
	fset := newFlags(name)
	cf := addClientFlags(fset)
	recursive := fset.Bool("R", false, "change directories and everything below them")
	pos, err := parseInterleaved(fset, args)
	if err != nil {
		return err
	}
	if len(pos) < 2 {
		return usagef("%s takes %s and one or more remote paths", name, argName)
	}
	change, err := parseArg(pos[0])
	if err != nil {
		return err
	}
	c, err := cf.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	for _, p := range pos[1:] {
		if err := change(c, p); err != nil {
			return err
		}
		if *recursive {
			if err := changeBelow(ctx, c, p, change); err != nil {
				return err
			}
		}
	}
	return nil
}

// changeBelow applies change to every entry below directory dir (nothing
// if dir is a file).
func changeBelow(ctx context.Context, c *client.Client, dir string, change func(*client.Client, string) error) error {
	fi, err := c.Stat(ctx, dir)
	if err != nil || !fi.IsDir() {
		return err
	}
	var subdirs []string
	for e, err := range c.List(ctx, fi.Path, client.ListOptions{}) {
		if err != nil {
			return err
		}
		if err := change(c, e.Path); err != nil {
			return err
		}
		if e.IsDir() {
			subdirs = append(subdirs, e.Path)
		}
	}
	for _, d := range subdirs {
		if err := changeBelow(ctx, c, d, change); err != nil {
			return err
		}
	}
	return nil
}

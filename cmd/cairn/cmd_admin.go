package main

import (
	"context"
	"fmt"
)

// runAdmin is `cairn admin <command>`: operator actions on the cluster
// that have no other home.
func runAdmin(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "reseal-secrets" {
		return usagef("usage: cairn admin reseal-secrets  (seal every stored secret with the metadata peers' current --secrets-key-file)")
	}
	return runResealSecrets(ctx, args[1:])
}

// runResealSecrets is `cairn admin reseal-secrets`: the second step of
// rotating the secrets key (docs/security.md, "Rotating the secrets key").
func runResealSecrets(ctx context.Context, args []string) error {
	fs := newFlags("admin reseal-secrets")
	cf := addClientFlags(fs)
	if err := parse(fs, args, nil); err != nil {
		return err
	}
	c, err := cf.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	r, err := c.Admin().ResealSecrets(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("resealed %d S3 secret(s) and %d token signing key(s) under secrets key %s\n", r.Credentials, r.SigningKeys, r.KeyID)
	if r.Skipped > 0 {
		fmt.Printf("%d secret(s) changed while resealing and were left as they are: run it again\n", r.Skipped)
		return fmt.Errorf("%d secret(s) not resealed", r.Skipped)
	}
	fmt.Println("every stored secret is sealed with the current key; the old key (--secrets-old-key-file) may be dropped after restarting every peer without it")
	return nil
}

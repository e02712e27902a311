// Command cairn is Cairn's one binary: every server role and the CLI.
// Run `cairn help` for the list of commands.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/server"
)

// command is one subcommand. run gets the arguments after the name.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string) error
}

// app is one run of the command line. The server roles are its methods:
// --print-config writes to its stdout.
type app struct {
	stdout io.Writer
}

func (a app) commands() []command {
	return []command{
		{"server", "run metadata, data node and HTTP API in one process (the quick start)", a.runServer},
		{"meta", "run a metadata peer", a.runMeta},
		{"node", "run a data node; `cairn node drain <id>` empties one", a.runNode},
		{"gateway", "run an S3-compatible gateway (port 9000)", a.runGateway},
		{"cert", "create a CA and certificates for a secured cluster: cairn cert create-ca|create-node|create-client|show", a.runCert},
		{"s3", "manage S3 access keys: cairn s3 user add|list|remove", runS3},
		{"user", "manage namespace users: cairn user add NAME [--groups a,b] | list | remove NAME", runUser},
		{"whoami", "show the namespace user the CLI acts as", runWhoami},
		{"chmod", "change permission bits: cairn chmod [-R] MODE PATH...", runChmod},
		{"chown", "change owner (superuser) and group: cairn chown [-R] USER[:GROUP] PATH...", runChown},
		{"chgrp", "change group: cairn chgrp [-R] GROUP PATH...", runChgrp},
		{"put", "upload a local file (--resume continues an interrupted upload)", runPut},
		{"get", "download a file", runGet},
		{"cat", "write a file to standard output", runCat},
		{"append", "append a local file or standard input to a file", runAppend},
		{"ls", "list a directory (-l long, -r recursive)", runLs},
		{"stat", "show a file's or directory's attributes (and a directory's quota)", runStat},
		{"du", "sum the bytes and entries below paths (-h human sizes)", a.runDu},
		{"quota", "directory quotas: cairn quota set PATH --bytes 10GiB --files 1000 | get PATH | clear PATH", a.runQuota},
		{"rm", "remove files or directories (-r recursive)", runRm},
		{"mv", "rename a file or directory", runMv},
		{"mkdir", "create a directory (-p with parents)", runMkdir},
		{"locate", "show which data nodes hold a file's chunks", runLocate},
		{"cluster", "cluster status: leader, peers, data nodes, repair progress", runCluster},
		{"fsck", "list chunks with fewer healthy replicas than wanted (exit 1 if any)", runFsck},
		{"admin", "operator actions: cairn admin reseal-secrets (after rotating the secrets key)", runAdmin},
		{"bench", "measure write and read throughput through the SDK", runBench},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(app{stdout: os.Stdout}.run(ctx, os.Args[1:]))
}

func (a app) run(ctx context.Context, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		a.usage()
		return 0
	}
	for _, c := range a.commands() {
		if c.name == args[0] {
			err := c.run(ctx, args[1:])
			if err == nil {
				return 0
			}
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			fmt.Fprintf(os.Stderr, "cairn %s: %v\n", c.name, err)
			return exitCode(err)
		}
	}
	fmt.Fprintf(os.Stderr, "cairn: unknown command %q; run 'cairn help'\n", args[0])
	return 2
}

// exitCode maps error kinds to exit statuses: 2 for usage and bad input,
// 3 for not found, 4 for the cluster being unavailable, 1 otherwise.
func exitCode(err error) int {
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	switch cairn.KindOf(err) {
	case cairn.Invalid:
		return 2
	case cairn.NotFound:
		return 3
	case cairn.Unavailable, cairn.NotLeader:
		return 4
	}
	return 1
}

type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

func (a app) usage() {
	fmt.Println("cairn — a distributed file storage system\n\nUsage: cairn <command> [flags] [args]\n\nCommands:")
	for _, c := range a.commands() {
		fmt.Printf("  %-8s %s\n", c.name, c.summary)
	}
	fmt.Println("\nClient commands find the cluster with --meta host:port[,host:port...] or $CAIRN_META,\ndefaulting to a `cairn server` on this machine (127.0.0.1:9090).\nRun `cairn <command> -h` for a command's flags.")
}

// newFlags returns a FlagSet whose flags also read CAIRN_<NAME> from the
// environment (dashes become underscores) when not given on the command
// line.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("cairn "+name, flag.ContinueOnError)
	return fs
}

// envFlag reports the client flags that read the environment. Server roles
// read every flag from the environment (see parseServer); client commands
// read only these, so that e.g. CAIRN_R never turns `rm` recursive.
func envFlag(name string) bool {
	switch name {
	case "meta", "chunk-size", "replication", "concurrency", certsDirFlag, insecureFlag, "as":
		return true
	}
	return false
}

// parse parses a client command's args, then fills the client flags not set
// on the command line from CAIRN_<FLAG>.
func parse(fs *flag.FlagSet, args []string, aliases map[string]string) error {
	return parseEnv(fs, args, aliases, envFlag)
}

// serverFlags is a server role's parsed command line: its flags and
// whether --print-config asked it to print instead of starting.
type serverFlags struct {
	fs     *flag.FlagSet
	stdout io.Writer
	print  bool // --print-config was given
}

// parseServer parses a server role's args; every flag not set on the
// command line is read from CAIRN_<FLAG> or its alias (Kubernetes style).
// It also gives every role a --print-config flag (command line only):
// after computing its derived settings, a role calls printConfig, which
// prints them and tells the role to return without starting.
func (a app) parseServer(fs *flag.FlagSet, args []string, aliases map[string]string) (*serverFlags, error) {
	addSecurityFlags(fs, strings.TrimPrefix(fs.Name(), "cairn "))
	if fs.Lookup(printConfigFlag) == nil {
		fs.Bool(printConfigFlag, false, "print the configuration (flags, environment and derived settings) as JSON and exit without starting")
	}
	err := parseEnv(fs, args, aliases, func(name string) bool { return name != printConfigFlag })
	return &serverFlags{fs: fs, stdout: a.stdout, print: fs.Lookup(printConfigFlag).Value.String() == "true"}, err
}

const printConfigFlag = "print-config"

// printConfig is the --print-config helper for server roles. A role
// parses its flags with parseServer, computes everything it derives from
// them without listening or touching the disk, and then calls
//
//	if done, err := sf.printConfig(derived); done {
//		return err
//	}
//
// When --print-config was given it writes one JSON object to stdout,
// {"role":"<role>","flags":{"<name>":"<value>",...},"derived":<derived>},
// where role is the FlagSet's name without "cairn " and every flag value
// is its string form after flags and environment were applied, and
// reports done; the role then returns the error (nil: exit 0). Otherwise
// it does nothing and the role starts.
func (sf *serverFlags) printConfig(derived any) (bool, error) {
	if !sf.print {
		return false, nil
	}
	flags := map[string]string{}
	sf.fs.VisitAll(func(f *flag.Flag) {
		switch {
		case f.Name == printConfigFlag:
		case strings.Contains(f.Name, "secret") && f.Value.String() != "":
			flags[f.Name] = "(redacted)"
		default:
			flags[f.Name] = f.Value.String()
		}
	})
	out := struct {
		Role    string            `json:"role"`
		Flags   map[string]string `json:"flags"`
		Derived any               `json:"derived"`
	}{strings.TrimPrefix(sf.fs.Name(), "cairn "), flags, derived}
	enc := json.NewEncoder(sf.stdout)
	enc.SetIndent("", "  ")
	return true, enc.Encode(out)
}

// serve runs a server role until ctx ends: it starts r, calls started,
// and when ctx ends logs stopping and shuts r down within timeout. With
// --print-config (a role that did not print its configuration) it
// refuses to start.
func (sf *serverFlags) serve(ctx context.Context, r server.Role, timeout time.Duration, log *slog.Logger, started func(), stopping string) error {
	if sf.print {
		return usagef("--print-config: this role does not print its configuration; run it without --print-config")
	}
	if err := r.Start(ctx); err != nil {
		return err
	}
	started()
	<-ctx.Done()
	log.Info(stopping, "timeout", timeout)
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return r.Shutdown(sctx)
}

func parseEnv(fs *flag.FlagSet, args []string, aliases map[string]string, fromEnv func(string) bool) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || !fromEnv(f.Name) {
			return
		}
		names := []string{"CAIRN_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))}
		if a, ok := aliases[f.Name]; ok {
			names = append(names, a)
		}
		for _, env := range names {
			if v, ok := os.LookupEnv(env); ok {
				if err := f.Value.Set(v); err != nil {
					errs = append(errs, fmt.Errorf("environment %s=%q: %w", env, v, err))
				}
				return
			}
		}
	})
	if len(errs) > 0 {
		return usageError{errors.Join(errs...).Error()}
	}
	return nil
}

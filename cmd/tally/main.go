// Command tally runs Tally: the server, the verifier, backups and restores.
//
//	tally serve   [--data DIR] [--addr HOST:PORT] [--demo]
//	tally verify  --data DIR | --export FILE | --url URL --token T [--checkpoint FILE]
//	tally backup  --url URL --token T --out FILE | --data DIR --out FILE
//	tally restore --in FILE --data DIR
//	tally reset-admin --data DIR
//
// Every flag also reads from an environment variable (TALLY_DATA, TALLY_ADDR, ...).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: tally <command> [flags]

commands:
  serve     run the server (tally serve --help)
  verify    verify the audit chain and balances
  backup    take a consistent backup
  restore   restore a backup into an empty data directory
  reset-admin  set a new password for the admin on a stopped server's data directory
  health    ask a running server's /healthz (exit 0 when healthy; a container's HEALTHCHECK)
  version   print the version (the source revision it was built from)
`

// stopSignals end a command gracefully: SIGHUP too, so that a server
// run in the foreground of a terminal that closes stops as on SIGTERM
// (final checkpoint, store closed) instead of dying at once.
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), stopSignals...)
	defer stop()
	if args[0] != "serve" { // serve logs JSON lines
		slog.SetDefault(slog.New(newCLIHandler(args[0], stderr)))
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], stdout, stderr)
	case "verify":
		return runVerify(ctx, args[1:], stdout, stderr)
	case "backup":
		return runBackup(ctx, args[1:], stdout, stderr)
	case "restore":
		return runRestore(ctx, args[1:], stdout, stderr)
	case "reset-admin":
		return runResetAdmin(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	case "health":
		return runHealth(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-version":
		if len(args) > 1 {
			if h := args[1]; len(args) == 2 && (h == "-h" || h == "--help" || h == "-help") {
				fmt.Fprintln(stdout, "usage: tally version\nprints the build: module version, source revision and Go version")
				return 0
			}
			fmt.Fprintf(stderr, "tally version: unexpected argument %q\n", args[1])
			return 2
		}
		fmt.Fprintln(stdout, version())
		return 0
	}
	fmt.Fprintf(stderr, "tally: unknown command %q\n%s", args[0], usage)
	return 2
}

// revision is the source revision given at link time (-ldflags
// "-X main.revision=…"), for builds without the git checkout: the Docker
// image's (docker build --build-arg REVISION=$(git rev-parse HEAD)).
var revision string

// version names the build: the module version and, for a build from a
// git checkout, its revision and commit time (and "+dirty" when the tree
// had changes), else the revision given at link time.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "tally (unknown build)"
	}
	v := "tally " + bi.Main.Version
	var rev, at, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	switch {
	case rev != "":
		v += " " + rev + dirty + " " + at
	case revision != "":
		v += " " + revision
	}
	return v + " " + bi.GoVersion
}

// envOr returns the environment variable name, or def when it is unset
// or empty (an empty TALLY_ADDR in a unit file must not mean every
// interface on a random port).
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// envBool reads a yes/no environment variable: 1, true, yes, on or 0,
// false, no, off, any case; empty is false; anything else is an error
// rather than a silent no.
func envBool(name string) (bool, error) {
	switch v := strings.ToLower(strings.TrimSpace(os.Getenv(name))); v {
	case "1", "true", "yes", "on":
		return true, nil
	case "", "0", "false", "no", "off":
		return false, nil
	default:
		return false, fmt.Errorf("%s=%q: give true or false", name, v)
	}
}

// newFlagSet is a subcommand's flag set, writing to stderr, whose help
// begins "usage: tally NAME SYNOPSIS" as serve's does.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: tally %s %s\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// helpOr2 is the exit code of a flag parse error: 0 for -help, else 2.
func helpOr2(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}

// noArgs refuses positional arguments: a stray word would otherwise stop
// the flag parser and silently drop every flag after it.
func noArgs(fs *flag.FlagSet) error {
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags are --name value)", fs.Arg(0))
	}
	return nil
}

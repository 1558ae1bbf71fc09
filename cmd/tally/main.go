// Command tally runs Tally: the server, the verifier, backups and restores.
//
//	tally serve   [--data DIR] [--addr HOST:PORT] [--demo]
//	tally verify  --data DIR | --export FILE | --url URL --token T [--checkpoint FILE]
//	tally backup  --url URL --token T --out FILE | --data DIR --out FILE
//	tally restore --in FILE --data DIR
//
// Every flag also reads from an environment variable (TALLY_DATA, TALLY_ADDR, ...).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
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
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], stdout, stderr)
	case "verify":
		return runVerify(ctx, args[1:], stdout, stderr)
	case "backup":
		return runBackup(ctx, args[1:], stdout, stderr)
	case "restore":
		return runRestore(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "tally: unknown command %q\n%s", args[0], usage)
	return 2
}

// envOr returns the environment variable name, or def when it is unset.
func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func envBool(name string) bool {
	v := os.Getenv(name)
	return v == "1" || v == "true" || v == "yes"
}

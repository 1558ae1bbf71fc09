package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"

	"tally/audit"
	"tally/ledger/store"
)

func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "", "base URL of a running server (TALLY_URL)")
	token := fs.String("token", envOr("TALLY_TOKEN", ""), "admin access token (TALLY_TOKEN)")
	data := fs.String("data", "", "data directory of a stopped server (TALLY_DATA)")
	out := fs.String("out", envOr("TALLY_OUT", ""), "backup file to write (TALLY_OUT)")
	if err := fs.Parse(args); err != nil {
		return helpOr2(err)
	}
	if err := noArgs(fs); err != nil {
		fmt.Fprintf(stderr, "tally backup: %v\n", err)
		return 2
	}
	// A source given by flag wins over the environment (TALLY_DATA is set
	// in the container image; a --url backup must still work there).
	if *url == "" && *data == "" {
		*url, *data = envOr("TALLY_URL", ""), envOr("TALLY_DATA", "")
	}
	if *out == "" || (*url == "") == (*data == "") {
		fmt.Fprintln(stderr, "tally backup: give --out and one of --url (with --token) or --data")
		return 2
	}
	// The file is created here, never replaced: a backup already at
	// --out is left alone, and only a file this run made is removed if
	// the backup fails.
	f, err := os.OpenFile(*out, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		fmt.Fprintf(stderr, "tally backup: %v\n", err)
		return 1
	}
	err = backup(ctx, *url, *token, *data, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintf(stderr, "tally backup: %v\n", err)
		os.Remove(*out)
		return 1
	}
	fmt.Fprintf(stdout, "backup written to %s\n", *out)
	return 0
}

func backup(ctx context.Context, url, token, data string, f *os.File) error {
	if err := fetchBackup(ctx, url, token, data, f); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	// What was written is read back whole: a backup is worth nothing if
	// the restore that needs it would refuse it.
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	return store.CheckBackup(f)
}

// fetchBackup writes the backup of a stopped store's directory (data) or
// of a running server (url, token) to f.
func fetchBackup(ctx context.Context, url, token, data string, f *os.File) error {
	if data != "" {
		st, err := store.Open(data, store.Options{Existing: true})
		if err != nil {
			return err
		}
		defer st.Close()
		return st.Backup(ctx, f)
	}
	resp, done, err := getStream(ctx, url, "/v1/admin/backup", token, StreamIdleTimeout)
	if err != nil {
		return err
	}
	defer done()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("server answered %s: %s", resp.Status, b)
	}
	_, err = io.Copy(f, resp.Body)
	return err
}

func runRestore(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := fs.String("in", envOr("TALLY_IN", ""), "backup file (TALLY_IN)")
	data := fs.String("data", envOr("TALLY_DATA", ""), "empty data directory to restore into (TALLY_DATA)")
	if err := fs.Parse(args); err != nil {
		return helpOr2(err)
	}
	if err := noArgs(fs); err != nil {
		fmt.Fprintf(stderr, "tally restore: %v\n", err)
		return 2
	}
	if *in == "" || *data == "" {
		fmt.Fprintln(stderr, "tally restore: give --in FILE and --data DIR")
		return 2
	}
	_, statErr := os.Stat(*data)
	existed := statErr == nil
	f, err := os.Open(*in)
	if err == nil {
		defer f.Close()
		err = store.Restore(f, *data)
	}
	if err != nil {
		fmt.Fprintf(stderr, "tally restore: %v\n", err)
		return 1
	}
	// A backup is only as good as the ledger it brings back: check the
	// copy as tally verify --data would before anyone serves from it.
	rep, err := verifySource(ctx, verifyFlags{data: *data}, audit.VerifyOptions{})
	if err != nil {
		// Nobody should serve from it by mistake: what was restored goes.
		os.RemoveAll(filepath.Join(*data, "db"))
		os.Remove(filepath.Join(*data, "master.key"))
		if !existed {
			os.Remove(*data)
		}
		fmt.Fprintf(stderr, "tally restore: restored %s into %s, but the copy does not verify, so it was removed: %v\n", *in, *data, err)
		return exitBad
	}
	fmt.Fprintf(stdout, "restored %s into %s and verified: %d records, %d accounts, %d history lines, %d transactions and %d documents and indexes match\n", *in, *data, rep.Records, rep.Accounts, rep.Entries, rep.Transactions, rep.Documents)
	return 0
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"

	"tally/api"
	"tally/audit"
	"tally/ledger"
	"tally/ledger/store"
)

func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("backup", "--out FILE (--url URL --token T | --data DIR)", stderr)
	url := fs.String("url", "", "base URL of a running server (TALLY_URL)")
	token := fs.String("token", "", "admin access token (TALLY_TOKEN)")
	data := fs.String("data", "", "data directory of a stopped server (TALLY_DATA)")
	out := fs.String("out", envOr("TALLY_OUT", ""), "backup file to write (TALLY_OUT)")
	if err := fs.Parse(args); err != nil {
		return helpOr2(err)
	}
	if err := noArgs(fs); err != nil {
		fmt.Fprintf(stderr, "tally backup: %v\n", err)
		return 2
	}
	// The token is read from the environment after parsing, never as the
	// flag's default: -help prints defaults, and would print the token.
	if *token == "" {
		*token = envOr("TALLY_TOKEN", "")
	}
	// A source given by flag wins over the environment (TALLY_DATA is set
	// in the container image; a --url backup must still work there).
	if *url == "" && *data == "" {
		*url, *data = envOr("TALLY_URL", ""), envOr("TALLY_DATA", "")
	}
	if *out == "" || (*url == "") == (*data == "") || *url != "" && *token == "" {
		fmt.Fprintln(stderr, "tally backup: give --out and one of --url (with --token) or --data")
		return 2
	}
	if err := writeBackup(ctx, *url, *token, *data, *out, stderr); errors.Is(err, errDamagedSource) {
		fmt.Fprintf(stderr, "tally backup: %s written, but the server's ledger is damaged (its /readyz answers ledger_damaged): the file keeps the evidence and will not restore, since restore verifies what it brings back; run tally verify --data on the server's directory\n", *out)
		return 1
	} else if err != nil {
		fmt.Fprintf(stderr, "tally backup: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "backup written to %s\n", *out)
	return 0
}

// verifiesStopped verifies a stopped server's directory as tally verify
// --data does; one that does not verify is refused with why (consequence
// says what that refusal spares), and any other error (in use,
// unreadable) is said as it is.
func verifiesStopped(ctx context.Context, data, consequence string) error {
	_, err := verifySource(ctx, verifyFlags{data: data}, audit.VerifyOptions{})
	if _, bad := audit.IsVerifyError(err); bad || errors.Is(err, store.ErrDamaged) {
		return fmt.Errorf("%s does not verify, %s: %w", data, consequence, err)
	}
	return err
}

// errDamagedSource: the backup was written whole, from a server that
// found its ledger damaged (api.LedgerDamagedHeader).
var errDamagedSource = errors.New("the server's ledger is damaged")

// writeBackup writes the backup to a temporary file beside out and gives
// it the name out only once it is whole and checked, never replacing a
// file already there: a backup killed half-way leaves no file under the
// name a restore would be given (only a "<out>.partial-*" to remove).
func writeBackup(ctx context.Context, url, token, data, out string, notes io.Writer) error {
	if _, err := os.Lstat(out); err == nil {
		return fmt.Errorf("%s exists: give a new file", out)
	}
	if data != "" {
		// The backup opens the directory in place (below), which a full
		// disk does not allow: say so before a verification that could
		// read it from a scratch copy.
		if err := store.CheckRoomToOpen(data); err != nil {
			return err
		}
		// A backup of a directory that does not verify would not restore
		// (restore verifies): say so now. The check reads a scratch copy
		// of a directory left by a crash; the backup then opens the
		// directory as a server would, replaying its log in place.
		if err := verifiesStopped(ctx, data, "so a backup of it would not restore (copy the directory itself to keep it as evidence)"); err != nil {
			return err
		}
	}
	f, err := os.CreateTemp(filepath.Dir(out), filepath.Base(out)+".partial-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	err = backup(ctx, url, token, data, f, notes)
	damaged := errors.Is(err, errDamagedSource)
	if damaged {
		err = nil // written whole, kept as evidence
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// A link, unlike a rename, never replaces a file made meanwhile.
		err = os.Link(tmp, out)
	}
	os.Remove(tmp)
	if err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(out)); err == nil {
		d.Sync()
		d.Close()
	}
	if damaged {
		return errDamagedSource
	}
	return nil
}

func backup(ctx context.Context, url, token, data string, f *os.File, notes io.Writer) error {
	damaged, err := fetchBackup(ctx, url, token, data, f, notes)
	if err != nil {
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
	if err := store.CheckBackup(f); err != nil {
		return err
	}
	if damaged {
		return errDamagedSource
	}
	return nil
}

// fetchBackup writes the backup of a stopped store's directory (data) or
// of a running server (url, token) to f, and reports whether the server
// marked its ledger damaged.
func fetchBackup(ctx context.Context, url, token, data string, f *os.File, notes io.Writer) (damaged bool, err error) {
	if data != "" {
		st, err := store.Open(data, store.Options{Existing: true, Restoring: true})
		if err != nil {
			return false, err
		}
		defer st.Close()
		return false, st.Backup(ctx, f)
	}
	resp, done, err := getStream(ctx, url, "/v1/admin/backup", token, StreamIdleTimeout, notes)
	if err != nil {
		return false, err
	}
	defer done()
	if resp.StatusCode != http.StatusOK {
		return false, statusError("/v1/admin/backup", resp)
	}
	body := &readErr{r: resp.Body}
	if _, err = io.Copy(f, body); err != nil && body.err != nil && ctx.Err() == nil {
		// The bare "unexpected EOF" of a server gone mid-stream names
		// neither the server nor what was lost (probe s27b); an error
		// writing the file here (a full disk) is this machine's, said
		// as it is (review s27e).
		err = fmt.Errorf("the backup stream from %s broke off before its end (the server stopped or the connection dropped; no backup written): %w", url, err)
	}
	return resp.Header.Get(api.LedgerDamagedHeader) != "", err
}

func runRestore(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("restore", "--in FILE --data EMPTY_DIR", stderr)
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
		var fi os.FileInfo
		if fi, err = f.Stat(); err == nil && fi.IsDir() {
			err = fmt.Errorf("--in %s is a directory: give the backup file", *in)
		} else if err == nil {
			err = store.CheckRoomToRestore(*data, fi.Size())
		}
	}
	if err == nil {
		err = store.RestoreHeld(f, *data)
	}
	if err != nil {
		fmt.Fprintf(stderr, "tally restore: %v\n", err)
		return 1
	}
	// Nobody should serve from a copy that failed a check by mistake:
	// what was restored goes, all of it (the directory was empty or
	// absent before: Restore takes no other), so that the same path takes
	// the next restore. Until the copy is finished it is marked RESTORING
	// and no server starts on it, so a restore killed in between leaves
	// nothing served either.
	discard := func() {
		// The mark goes last: a discard killed halfway leaves a directory
		// still refused, never a copy that serves.
		removeContents(*data, store.RestoringFile)
		os.Remove(filepath.Join(*data, store.RestoringFile))
		if !existed {
			os.Remove(*data)
		}
	}
	// A backup is only as good as the ledger it brings back: check the
	// copy as tally verify --data would before anyone serves from it.
	rep, err := verifySource(ctx, verifyFlags{data: *data, restoring: true}, audit.VerifyOptions{})
	if err != nil {
		discard()
		fmt.Fprintf(stderr, "tally restore: restored %s into %s, but the copy does not verify, so it was removed: %v\n", *in, *data, err)
		return exitBad
	}
	fmt.Fprintf(stdout, "restored %s into %s and verified: %d records, %d accounts, %d history lines, %d transactions and %d documents and indexes match\n", *in, *data, rep.Records, rep.Accounts, rep.Entries, rep.Transactions, rep.Documents)
	if err := retireTokenKey(ctx, *data); err != nil {
		discard()
		fmt.Fprintf(stderr, "tally restore: the copy verified, but its token key could not be rotated, so it was removed (a copy signing with the original's key would mint tokens the original accepts): %v\n", err)
		return 1
	}
	if err := store.FinishRestore(*data); err != nil {
		discard()
		fmt.Fprintf(stderr, "tally restore: %v; the copy was removed\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "rotated the copy's token signing key: tokens it issues are not valid on the server the backup came from; tokens signed with the keys the backup holds stay valid here until they expire (rotate with end_sessions to refuse them)\n")
	if rep.Latest < rep.Records {
		fmt.Fprintf(stderr, "note: the last %d records (from seq %d) are after the backup's latest checkpoint: no signature covers them; check the copy against checkpoints saved earlier (tally verify --data %s --checkpoint FILE)\n", rep.Records-rep.Latest, rep.Latest, *data)
	}
	return 0
}

// retireTokenKey rotates the token signing key of a restored copy
// ("jwt.key.rotate" with reason "restore"): the copy holds the keys of the
// server it was taken from, and a copy that went on signing with them
// (a restore drill, a staging copy) would mint tokens that server accepts.
// The inherited keys stay, retired, for the tokens they issued before.
func retireTokenKey(ctx context.Context, data string) error {
	op, err := api.RotateTokenKeyOp("restore")
	if err != nil {
		return err
	}
	st, err := store.Open(data, store.Options{Existing: true, Restoring: true})
	if err != nil {
		return err
	}
	_, err = st.Submit(ctx, ledger.Request{Actor: ledger.SystemActor, Op: op})
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	return err
}

// removeContents removes everything inside dir but the names kept, not
// dir itself.
func removeContents(dir string, keep ...string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !slices.Contains(keep, e.Name()) {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

// readErr remembers the error its reader returned, so that a copy's
// failure can be told apart from the writer's.
type readErr struct {
	r   io.Reader
	err error
}

func (e *readErr) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"tally/api"
	"tally/ledger"
	"tally/ledger/community"
	"tally/ledger/store"
)

// runResetAdmin sets a new password for the deployment's admin on a
// stopped server's data directory: the way back when the only global
// admin's password is lost (no one else may reset it). The password is
// TALLY_ADMIN_PASSWORD, or generated and printed before it is stored, so
// that a password no one saw is never the admin's. The change is an
// ordinary "member.password" record (the admin's tokens stop working),
// marked as made offline; whoever may run this on the data directory can
// read every key in it anyway.
func runResetAdmin(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("reset-admin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tally reset-admin [flags]   (the server stopped)")
		fs.PrintDefaults()
		fmt.Fprint(stderr, `environment:
  TALLY_ADMIN_PASSWORD  the admin's new password (8 to 72 bytes; else one is generated and printed once)
`)
	}
	data := fs.String("data", envOr("TALLY_DATA", "./tally-data"), "data directory of the stopped server (TALLY_DATA)")
	if err := fs.Parse(args); err != nil {
		return helpOr2(err)
	}
	if err := noArgs(fs); err != nil {
		fmt.Fprintf(stderr, "tally reset-admin: %v\n", err)
		return 2
	}
	if err := resetAdmin(ctx, *data, stdout); err != nil {
		fmt.Fprintf(stderr, "tally reset-admin: %v\n", err)
		return 1
	}
	return 0
}

func resetAdmin(ctx context.Context, data string, stdout io.Writer) error {
	// A record written into a damaged ledger would be signed over the
	// damage: check first, as tally backup --data does.
	if err := verifiesStopped(ctx, data, "so nothing was changed (run tally verify --data to see why)"); err != nil {
		return err
	}
	pw, generated := envOr("TALLY_ADMIN_PASSWORD", ""), false
	if pw == "" {
		pw, generated = newPassword(), true
	}
	hash, err := api.HashPassword(pw)
	if err != nil {
		return fmt.Errorf("TALLY_ADMIN_PASSWORD: %w", err)
	}
	st, err := store.Open(data, store.Options{Existing: true})
	if err != nil {
		return err
	}
	defer st.Close()
	var found bool
	if err := st.View(ctx, func(r ledger.Reader) error {
		u, err := community.GetUser(r, "admin")
		found = err == nil && u.Member == "admin"
		return nil
	}); err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%s has no admin login (member admin, username admin) to reset", data)
	}
	if generated {
		if err := printPassword(stdout, "New admin password for %s: username admin, password %s (shown once; set TALLY_ADMIN_PASSWORD to choose it)\n", data, pw); err != nil {
			return err
		}
	}
	_, err = st.Submit(ctx, ledger.Request{Actor: ledger.SystemActor, Op: func(tx ledger.Tx) (any, error) {
		if err := community.SetPassword(tx, "admin", "admin", hash, ""); err != nil {
			return nil, err
		}
		tx.AuditField("offline", true) // tally reset-admin, on the stopped server's directory
		return nil, nil
	}})
	if err != nil {
		return fmt.Errorf("reset: %w (the password printed above is not in force)", err)
	}
	if !generated {
		fmt.Fprintf(stdout, "The admin's password of %s is now TALLY_ADMIN_PASSWORD's.\n", data)
	}
	return nil
}

// newPassword generates an admin password: 120 random bits, 20
// characters (crypto/rand.Read does not fail: it ends the process rather
// than return weak bytes).
func newPassword() string {
	b := make([]byte, 15)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// printPassword writes a generated password before it is stored: a
// failed write (stdout closed, a full disk) stops the change, so that no
// password nobody saw is put in force.
func printPassword(w io.Writer, format string, a ...any) error {
	if f, ok := w.(*os.File); ok && discards(f) {
		// A closed stdout is /dev/null by the time Go runs: the write
		// would succeed and nobody would see the password.
		return errors.New("the generated password would go to /dev/null (stdout is closed or discarded); run with stdout visible, or set TALLY_ADMIN_PASSWORD; no password was set")
	}
	if _, err := fmt.Fprintf(w, format, a...); err != nil {
		return fmt.Errorf("the generated password could not be shown (%w); no password was set", err)
	}
	return nil
}

// discards reports whether f is /dev/null.
func discards(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err == nil && os.SameFile(fi, null)
}

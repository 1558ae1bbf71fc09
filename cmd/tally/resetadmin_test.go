package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"tally/audit"
	"tally/ledger"
	"tally/ledger/community"
	"tally/ledger/store"
)

type brokenWriter struct{}

func (brokenWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// adminLogin reads the admin's login of a stopped data directory.
func adminLogin(t *testing.T, dir string) *community.User {
	t.Helper()
	st, err := store.Open(dir, store.Options{Existing: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var u *community.User
	st.View(context.Background(), func(r ledger.Reader) error { u, _ = community.GetUser(r, "admin"); return nil })
	return u
}

var shownPassword = regexp.MustCompile(`password ([A-Za-z0-9_-]{20}) \(shown once`)

// TestAdminPasswordShownBeforeStored: a first start whose generated
// password cannot be shown creates no admin (a later start shows a new
// one), and reset-admin sets a new password for a lost one on the
// stopped directory, shown before it is stored, in an offline record.
func TestAdminPasswordShownBeforeStored(t *testing.T) {
	t.Setenv("TALLY_ADMIN_PASSWORD", "")
	dir := t.TempDir() + "/data"
	var errOut bytes.Buffer
	if code := run([]string{"serve", "--data", dir, "--addr", "127.0.0.1:0"}, brokenWriter{}, &errOut); code != 1 || !strings.Contains(errOut.String(), "could not be shown") {
		t.Fatalf("a first start that cannot show the password: exit %d %s", code, errOut.String())
	}
	if u := adminLogin(t, dir); u != nil {
		t.Fatal("an admin was created whose password nobody saw")
	}
	var out bytes.Buffer
	m := NewMain(&out, &errOut)
	if err := m.ParseFlags([]string{"--data", dir, "--addr", "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	m.Close()
	if shownPassword.FindStringSubmatch(out.String()) == nil || adminLogin(t, dir) == nil {
		t.Fatalf("the next start: %q", out.String())
	}

	// The password is lost: reset it offline.
	out.Reset()
	if code := run([]string{"reset-admin", "--data", dir}, brokenWriter{}, &errOut); code != 1 {
		t.Fatalf("a reset that cannot show the password: exit %d", code)
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if code := run([]string{"reset-admin", "--data", dir}, null, &errOut); code != 1 || !strings.Contains(errOut.String(), "/dev/null") {
		t.Fatalf("a reset whose stdout is /dev/null (a closed stdout, as Go opens it): exit %d %s", code, errOut.String())
	}
	before := adminLogin(t, dir).PasswordHash
	if code := run([]string{"reset-admin", "--data", dir}, &out, &errOut); code != 0 {
		t.Fatalf("reset-admin: exit %d %s", code, errOut.String())
	}
	pw := shownPassword.FindStringSubmatch(out.String())
	if pw == nil {
		t.Fatalf("reset-admin printed %q", out.String())
	}
	after := adminLogin(t, dir).PasswordHash
	if bytes.Equal(before, after) || bcrypt.CompareHashAndPassword(after, []byte(pw[1])) != nil {
		t.Fatal("the admin's password is not the one shown")
	}
	a, err := store.OpenAudit(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	rep, err := a.Verify(context.Background(), audit.VerifyOptions{})
	if err != nil {
		t.Fatalf("verify after the reset: %v", err)
	}
	raw, err := a.Record(rep.Records - 1)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := audit.Decode(raw.Record)
	if err != nil || rec.Action != "member.password" || rec.Content["offline"] != true {
		t.Fatalf("the reset's record: %v %s %v", err, rec.Action, rec.Content)
	}
}

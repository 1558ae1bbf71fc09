package store

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// TestFormatMark: a new ledger is marked with this build's storage
// format; one marked newer is refused by the server and by verify with
// what to do, before anything opens it; a garbled mark is refused; a
// ledger without a mark (last run before marks existed) opens and is
// marked once its log verifies.
func TestFormatMark(t *testing.T) {
	dir := fundedDir(t)
	mark := filepath.Join(dir, formatFile)
	raw, err := os.ReadFile(mark)
	if err != nil || strings.TrimSpace(string(raw)) != "tally storage format 1" {
		t.Fatalf("a new ledger's mark: %q %v", raw, err)
	}

	for _, bad := range []string{"tally storage format 2\n", "tally storage format x\n", "hello\n"} {
		if err := os.WriteFile(mark, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Open(dir, Options{})
		if err == nil || !strings.Contains(err.Error(), formatFile) {
			t.Fatalf("open with mark %q: %v, want a refusal naming the mark", bad, err)
		}
		if _, aerr := OpenAudit(dir); aerr == nil || aerr.Error() != err.Error() {
			t.Fatalf("verify with mark %q: %v, want %v", bad, aerr, err)
		}
		if newer := strings.HasSuffix(bad, "2\n"); newer != errors.Is(err, ErrNewerFormat) {
			t.Fatalf("mark %q: ErrNewerFormat %v", bad, !newer)
		}
	}

	// Unmarked and changed outside the ledger: the failed verification
	// leaves it unmarked (the hint of an older format stays true).
	if err := os.Remove(mark); err != nil {
		t.Fatal(err)
	}
	copyDir := t.TempDir()
	if err := os.CopyFS(copyDir, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	damageDir(t, copyDir, func(txn *badger.Txn) {
		// The balance itself (a bytes.Replace of "500" could hit a
		// timestamp holding those digits first, and change nothing the
		// verification compares).
		var a map[string]any
		if err := json.Unmarshal(get(t, txn, accountKey("alice")), &a); err != nil {
			t.Fatal(err)
		}
		a["credits_posted"] = a["credits_posted"].(float64) + 400
		v, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		set(t, txn, accountKey("alice"), v)
	})
	bad, err := Open(copyDir, Options{Existing: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.VerifyLog(context.Background()); err == nil {
		t.Fatal("the changed copy verified")
	}
	bad.Close()
	if HasFormatMark(copyDir) {
		t.Fatal("a directory that failed verification was marked")
	}

	st, err := Open(dir, Options{Existing: true})
	if err != nil {
		t.Fatalf("open without a mark: %v", err)
	}
	defer st.Close()
	if HasFormatMark(dir) {
		t.Fatal("marked before its log was verified")
	}
	if _, err := st.VerifyLog(context.Background()); err != nil {
		t.Fatal(err)
	}
	if raw, err := os.ReadFile(mark); err != nil || strings.TrimSpace(string(raw)) != "tally storage format 1" {
		t.Fatalf("the mark after verification: %q %v", raw, err)
	}
}

package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"tally/ledger/store"
)

// TestBackupRefusesWhatIsNotABackup: a server that answers 200 with
// something other than an intact backup gives a failed backup and no
// file, rather than "backup written".
func TestBackupRefusesWhatIsNotABackup(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "TALLY-BACKUP-2\ngarbage")
	}))
	defer srv.Close()
	out := filepath.Join(t.TempDir(), "b.bak")
	if code := runBackup(context.Background(), []string{"--url", srv.URL, "--token", "x", "--out", out}, io.Discard, io.Discard); code != 1 {
		t.Fatalf("backup of garbage: exit %d, want 1", code)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("a refused backup left %s (%v)", out, err)
	}
}

// TestBackupAndRestoreSayWhatWentWrong: a stream cut short names the
// server and that no backup was written, not a bare "unexpected EOF"; a
// directory given as the backup file is named as such, not as a damaged
// backup (probe s27b).
func TestBackupAndRestoreSayWhatWentWrong(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000000")
		io.WriteString(w, "TALLY-BACKUP-2\n")
		if hj, ok := w.(http.Hijacker); ok {
			w.(http.Flusher).Flush()
			c, _, _ := hj.Hijack()
			c.Close()
		}
	}))
	defer srv.Close()
	out := filepath.Join(t.TempDir(), "b.bak")
	var stderr bytes.Buffer
	if code := runBackup(context.Background(), []string{"--url", srv.URL, "--token", "x", "--out", out}, io.Discard, &stderr); code != 1 || !strings.Contains(stderr.String(), "broke off") || !strings.Contains(stderr.String(), srv.URL) {
		t.Fatalf("a cut stream: exit %d, %q", code, stderr.String())
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("a cut stream left %s (%v)", out, err)
	}
	dir, target := t.TempDir(), filepath.Join(t.TempDir(), "new")
	if code, msg := runTally(t, "restore", "--in", dir, "--data", target); code != 1 || !strings.Contains(msg, "is a directory") {
		t.Fatalf("a directory as --in: exit %d, %q", code, msg)
	}
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Fatalf("a refused restore left %s (%v)", target, err)
	}
}

// TestBackupAndRestoreOfDamage: a stopped directory that does not verify
// is not backed up (its backup would not restore); a backup whose content
// was changed and its checksum recomputed restores, fails verification,
// and leaves nothing behind, so the same path takes the next restore.
func TestBackupAndRestoreOfDamage(t *testing.T) {
	dir := stoppedDemo(t)
	tmp := t.TempDir()
	good := filepath.Join(tmp, "good.tally")
	if code, out := runTally(t, "backup", "--data", dir, "--out", good); code != 0 {
		t.Fatalf("backup: %d %s", code, out)
	}
	if code, out := runTally(t, "backup", "--data", dir, "--out", good); code != 1 || !strings.Contains(out, "exists") {
		t.Fatalf("a backup over an existing file: %d %s", code, out)
	}
	raw, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	body := raw[:len(raw)-sha256.Size]
	if bytes.Count(body, []byte(`"quorum":2`)) == 0 {
		t.Fatal("the demo fund's quorum is not in the backup (else the test shows nothing)")
	}
	body = bytes.Replace(body, []byte(`"quorum":2`), []byte(`"quorum":1`), 1)
	sum := sha256.Sum256(body)
	bad := filepath.Join(tmp, "bad.tally")
	if err := os.WriteFile(bad, append(body, sum[:]...), 0o600); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(tmp, "restored")
	if code, out := runTally(t, "restore", "--in", bad, "--data", target); code != 1 || !strings.Contains(out, "does not verify") {
		t.Fatalf("restore of a changed backup: %d %s", code, out)
	}
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		es, _ := os.ReadDir(target)
		t.Fatalf("a refused restore left %s: %v", target, es)
	}
	if code, out := runTally(t, "restore", "--in", good, "--data", target); code != 0 {
		t.Fatalf("restore into the same path: %d %s", code, out)
	}
	// The copy verified: it carries this build's format mark.
	if !store.HasFormatMark(target) {
		t.Fatal("a verified restore left no format mark")
	}
	// A balance changed behind the server's back: no backup of it.
	editDB(t, dir, func(txn *badger.Txn) error {
		k := []byte("a/li:HOUR")
		item, err := txn.Get(k)
		if err != nil {
			return err
		}
		v, _ := item.ValueCopy(nil)
		return txn.Set(k, bytes.Replace(v, []byte(`"credits_posted":`), []byte(`"credits_posted":1`), 1))
	})
	out2 := filepath.Join(tmp, "damaged.tally")
	if code, out := runTally(t, "backup", "--data", dir, "--out", out2); code != 1 || !strings.Contains(out, "does not verify") {
		t.Fatalf("backup of a damaged directory: %d %s", code, out)
	}
	if es, _ := filepath.Glob(filepath.Join(tmp, "damaged.tally*")); len(es) != 0 {
		t.Fatalf("a refused backup left %v", es)
	}
}

// TestBackupLocalWriteError: a file that cannot be written (a full
// disk) is said to be this machine's fault, not the server's (review
// s27e).
func TestBackupLocalWriteError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("TALLY-BACKUP-2\n", 1<<12))
	}))
	defer srv.Close()
	f, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip("no /dev/full here")
	}
	defer f.Close()
	_, err = fetchBackup(context.Background(), srv.URL, "x", "", f, io.Discard)
	if err == nil || strings.Contains(err.Error(), "broke off") || !strings.Contains(err.Error(), "no space") {
		t.Fatalf("a full disk: %v", err)
	}
}

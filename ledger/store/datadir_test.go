package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"tally/audit"
)

// TestDataDirChecks: a ledger without its master.key is refused (a new
// key was once written over the missing one, silently losing every
// member's personal data), as is a non-empty directory that is not a
// ledger's; an empty or missing directory is new, except for a backup,
// which opens only an existing ledger.
func TestDataDirChecks(t *testing.T) {
	dir := t.TempDir()
	ledgerDir := filepath.Join(dir, "ledger")
	s, err := Open(ledgerDir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(ledgerDir, Options{Existing: true})
	if err != nil {
		t.Fatalf("an existing ledger for a backup: %v", err)
	}
	s.Close()

	if err := os.Remove(filepath.Join(ledgerDir, "master.key")); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ledgerDir, Options{}); err == nil || !strings.Contains(err.Error(), "master.key") {
		t.Fatalf("a ledger without its master.key: %v, want a refusal naming master.key", err)
	}
	if _, err := os.Stat(filepath.Join(ledgerDir, "master.key")); !os.IsNotExist(err) {
		t.Fatalf("a new master.key was written over the missing one (%v)", err)
	}
	if _, err := OpenAudit(ledgerDir); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "master.key") {
		t.Fatalf("verifying a ledger without its master.key: %v, want damaged", err)
	}

	foreign := filepath.Join(dir, "photos")
	os.MkdirAll(foreign, 0o700)
	os.WriteFile(filepath.Join(foreign, "notes.txt"), []byte("x"), 0o600)
	for _, d := range []string{foreign, filepath.Join(ledgerDir, "db")} {
		if _, err := Open(d, Options{}); err == nil || !strings.Contains(err.Error(), "holds no ledger") {
			t.Fatalf("%s: %v, want a refusal", d, err)
		}
		if _, err := os.Stat(filepath.Join(d, "master.key")); !os.IsNotExist(err) {
			t.Fatalf("%s: a master.key was created", d)
		}
	}

	typo := filepath.Join(dir, "typo")
	if _, err := Open(typo, Options{Existing: true}); err == nil {
		t.Fatal("a backup of a missing directory opened it")
	}
	if _, err := os.Stat(typo); !os.IsNotExist(err) {
		t.Fatalf("a backup of a missing directory created it (%v)", err)
	}
	empty := filepath.Join(dir, "empty")
	os.MkdirAll(empty, 0o700)
	s, err = Open(empty, Options{})
	if err != nil {
		t.Fatalf("an empty directory: %v", err)
	}
	s.Close()
}

// TestDatabaseMissingRefused: a ledger whose db/MANIFEST is gone (or its
// db/ folder) is refused as damaged; Badger would have started an empty
// database and deleted the tables its MANIFEST no longer listed, and the
// server a new ledger under a new origin.
func TestDatabaseMissingRefused(t *testing.T) {
	dir := t.TempDir()
	s, submit := openSubmitter(t, dir)
	submit(createMemberOp("m1", "", "x"))
	s.Close()
	ssts := func() []string { m, _ := filepath.Glob(filepath.Join(dir, "db", "*.sst")); return m }
	before := ssts()
	if len(before) == 0 {
		t.Fatal("no table to lose: the test shows nothing")
	}
	manifest := filepath.Join(dir, "db", "MANIFEST")
	if err := os.Rename(manifest, manifest+".moved"); err != nil {
		t.Fatal(err)
	}
	wantDamaged(t, dir, "open without db/MANIFEST", false)
	if got := ssts(); len(got) != len(before) {
		t.Fatalf("tables after the refused open: %v, want %v", got, before)
	}
	if err := os.Rename(manifest+".moved", manifest); err != nil {
		t.Fatal(err)
	}
	openWith(t, dir, nil).Close()
	if err := os.RemoveAll(filepath.Join(dir, "db")); err != nil {
		t.Fatal(err)
	}
	wantDamaged(t, dir, "open without db/", false)
	if _, err := os.Stat(filepath.Join(dir, "db")); !os.IsNotExist(err) {
		t.Fatal("the refused open created a database")
	}
	// A first start stopped between writing master.key and creating the
	// database (nothing else exists yet) goes on at the next start.
	first := t.TempDir()
	if _, err := loadOrCreateKey(filepath.Join(first, "master.key")); err != nil {
		t.Fatal(err)
	}
	openWith(t, first, nil).Close()
}

// TestVerifyLeavesCrashedDirectoryAlone: a directory whose server died
// (copied while the store was open, its log not yet in tables) cannot be
// opened read-only; verifying it replays the log on a scratch copy and
// changes no byte of the directory, which may be the evidence of damage.
func TestVerifyLeavesCrashedDirectoryAlone(t *testing.T) {
	crashed := crashedCopy(t)
	before := treeSums(t, crashed)
	a, err := OpenAudit(crashed)
	if err != nil {
		t.Fatal(err)
	}
	if a.scratch == "" {
		t.Fatal("the crashed copy opened read-only: the test shows nothing")
	}
	if _, err := a.Verify(context.Background(), audit.VerifyOptions{}); err != nil {
		t.Fatalf("verify: %v", err)
	}
	scratch := a.scratch
	a.Close()
	if after := treeSums(t, crashed); !maps.Equal(after, before) {
		t.Fatalf("verify changed the directory:\nbefore %v\nafter  %v", before, after)
	}
	if _, err := os.Stat(scratch); !os.IsNotExist(err) {
		t.Fatalf("the scratch copy %s was left behind", scratch)
	}
}

// crashedCopy is a copy of a store's directory taken while the store was
// open, one member written (its log not yet in tables): the directory of
// a server that died.
func crashedCopy(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	s, submit := openSubmitter(t, dir)
	defer s.Close()
	submit(createMemberOp("m1", "", "x"))
	crashed := filepath.Join(t.TempDir(), "crashed")
	copyTree(t, dir, crashed)
	return crashed
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		if d.Name() == "LOCK" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// treeSums maps every file under dir to the SHA-256 of its bytes.
func treeSums(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = sha256.Sum256(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkpointedTwice makes a ledger in dir with a checkpoint, copies its
// db/ aside (returned), then adds a record and signs a second checkpoint;
// it returns the store, open.
func checkpointedTwice(t *testing.T, dir string) (*Store, string) {
	t.Helper()
	s, submit := openSubmitter(t, dir)
	ctx := context.Background()
	if _, err := s.EnsureCheckpointKey(ctx, "tally.test/twice"); err != nil {
		t.Fatal(err)
	}
	submit(createMemberOp("m1", "", "x"))
	if _, err := s.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	s.Close()
	old := filepath.Join(t.TempDir(), "db")
	copyTree(t, filepath.Join(dir, "db"), old)
	s, submit = openSubmitter(t, dir)
	submit(createMemberOp("m2", "", "y"))
	if n, err := s.Checkpoint(ctx); err != nil || n == 0 {
		t.Fatalf("second checkpoint: %d, %v", n, err)
	}
	return s, old
}

// TestRollbackRefused: a db/ put back to an older state (or a MANIFEST or
// log that lost acknowledged writes, which looks the same) is behind the
// checkpoint the server published; serve and verify refuse it as damaged
// — served, it would reuse record numbers and sign a tree contradicting
// the published one.
func TestRollbackRefused(t *testing.T) {
	dir := t.TempDir()
	s, old := checkpointedTwice(t, dir)
	s.Close()
	openWith(t, dir, nil).Close() // the witness agrees with the ledger
	// The published checkpoint deleted from the ledger: refused too.
	db, err := badger.Open(badgerOptions(filepath.Join(dir, "db"), false))
	if err != nil {
		t.Fatal(err)
	}
	var latest []byte
	err = db.Update(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(pCheckpt), Reverse: true})
		defer it.Close()
		it.Seek(append([]byte(pCheckpt), 0xff))
		latest = it.Item().KeyCopy(nil)
		return txn.Delete(latest)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrDamaged) {
		t.Fatalf("open without the published checkpoint %q: %v, want ErrDamaged", latest, err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "db")); err != nil {
		t.Fatal(err)
	}
	copyTree(t, old, filepath.Join(dir, "db"))
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "published") {
		t.Fatalf("open of a rolled-back db/: %v, want ErrDamaged naming the published checkpoint", err)
	}
	if _, err := OpenAudit(dir); !errors.Is(err, ErrDamaged) {
		t.Fatalf("verify of a rolled-back db/: %v, want ErrDamaged", err)
	}
}

// TestHalfCreatedTableIgnored: a SIGKILL while Badger writes a new table
// leaves a file the MANIFEST does not list (empty, or partly written);
// it is no part of the database, so serve and verify open the directory
// as Badger does, which removes it.
func TestHalfCreatedTableIgnored(t *testing.T) {
	dir := t.TempDir()
	s, submit := openSubmitter(t, dir)
	submit(createMemberOp("m1", "", "x"))
	s.Close()
	if err := os.WriteFile(filepath.Join(dir, "db", "000999.sst"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "db", "000998.sst"), []byte("partly written table"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := OpenAudit(dir)
	if err != nil {
		t.Fatalf("verify with a half-created table: %v", err)
	}
	if _, err := a.Verify(context.Background(), audit.VerifyOptions{}); err != nil {
		t.Fatalf("verify: %v", err)
	}
	a.Close()
	s = openWith(t, dir, nil)
	defer s.Close()
	if _, err := personalOf(t, s, "m1"); err != nil {
		t.Fatalf("after the open: %v", err)
	}
}

// TestUnfinishedRestoreRefused: a restore marks the directory until it is
// whole; one killed halfway leaves the mark, and serve, backup and verify
// refuse the directory (a server once started on a half-loaded ledger, or
// initialised a new one where nothing was loaded yet).
func TestUnfinishedRestoreRefused(t *testing.T) {
	dir := t.TempDir()
	s, submit := openSubmitter(t, dir)
	submit(createMemberOp("m1", "", "x"))
	s.Close()
	if err := os.WriteFile(filepath.Join(dir, restoringFile), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantDamaged(t, dir, "an unfinished restore", true)
	marked := t.TempDir()
	if err := os.WriteFile(filepath.Join(marked, restoringFile), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(marked, Options{}); !errors.Is(err, ErrDamaged) {
		t.Fatalf("open of a directory a restore had only begun: %v, want ErrDamaged", err)
	}
}

// TestStaleManifestKeepsTables: an older MANIFEST put back no longer
// lists the tables written since; Badger deletes unlisted tables at
// open, even read-only — those records would be gone for good. Verify
// leaves them in place (it opens a scratch copy) and serve moves them to
// unlisted-tables/ beside db/, from where they can be recovered.
func TestStaleManifestKeepsTables(t *testing.T) {
	dir := t.TempDir()
	s, submit := openSubmitter(t, dir)
	submit(createMemberOp("m1", "", "x"))
	s.Close()
	manifest := filepath.Join(dir, "db", "MANIFEST")
	old, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	before := map[string]bool{}
	ssts, _ := filepath.Glob(filepath.Join(dir, "db", "*.sst"))
	for _, p := range ssts {
		before[filepath.Base(p)] = true
	}
	s, submit = openSubmitter(t, dir)
	submit(createMemberOp("m2", "", "y"))
	s.Close() // flushes a new table
	var fresh []string
	ssts, _ = filepath.Glob(filepath.Join(dir, "db", "*.sst"))
	for _, p := range ssts {
		if !before[filepath.Base(p)] {
			fresh = append(fresh, filepath.Base(p))
		}
	}
	if len(fresh) == 0 {
		t.Fatal("no new table was written: the test shows nothing")
	}
	if err := os.WriteFile(manifest, old, 0o600); err != nil {
		t.Fatal(err)
	}
	if a, err := OpenAudit(dir); err == nil {
		a.Close()
	}
	for _, f := range fresh {
		if _, err := os.Stat(filepath.Join(dir, "db", f)); err != nil {
			t.Fatalf("verify removed the unlisted table %s: %v", f, err)
		}
	}
	if s, err := Open(dir, Options{}); err == nil {
		s.Close()
	}
	for _, f := range fresh {
		if _, err := os.Stat(filepath.Join(dir, unlistedDir, f)); err != nil {
			t.Fatalf("the unlisted table %s was not kept: %v", f, err)
		}
	}
}

// wantDamaged fails the test unless a store open of dir (and, with
// verify, an open for tally verify) is refused with ErrDamaged; a store
// that opened anyway is closed.
func wantDamaged(t *testing.T, dir, what string, verify bool) {
	t.Helper()
	if s, err := Open(dir, Options{}); !errors.Is(err, ErrDamaged) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("%s: Open: %v, want ErrDamaged", what, err)
	}
	if !verify {
		return
	}
	if a, err := OpenAudit(dir); !errors.Is(err, ErrDamaged) {
		if err == nil {
			a.Close()
		}
		t.Fatalf("%s: OpenAudit: %v, want ErrDamaged", what, err)
	}
}

// TestVerifyRefusesRunningDirectory: verifying the directory of a store
// that is open (a running server) is refused as in use, not as damage —
// a copy taken under a live writer once reported the published checkpoint
// missing — and works once the store is closed.
func TestVerifyRefusesRunningDirectory(t *testing.T) {
	dir := t.TempDir()
	s := openWith(t, dir, nil)
	if a, err := OpenAudit(dir); err == nil || errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "in use") {
		if err == nil {
			a.Close()
		}
		t.Fatalf("OpenAudit of an open store: %v, want refused as in use", err)
	}
	s.Close()
	a, err := OpenAudit(dir)
	if err != nil {
		t.Fatalf("OpenAudit after close: %v", err)
	}
	a.Close()
}

// TestRestoreWritesWitness: a restored directory holds its latest
// published checkpoint as the witness at once, so a db/ from before the
// backup put back into it is refused from the first start, not only after
// the restored server signs its next checkpoint.
func TestRestoreWritesWitness(t *testing.T) {
	dir := t.TempDir()
	s, old := checkpointedTwice(t, dir)
	ctx := context.Background()
	var buf bytes.Buffer
	if err := s.Backup(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	s.Close()
	restored := filepath.Join(t.TempDir(), "r")
	if err := Restore(&buf, restored); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(dir, witnessFile))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(restored, witnessFile)); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("restored witness %q (%v), want the source's latest checkpoint %q", got, err, want)
	}
	openWith(t, restored, nil).Close()
	if err := os.RemoveAll(filepath.Join(restored, "db")); err != nil {
		t.Fatal(err)
	}
	copyTree(t, old, filepath.Join(restored, "db"))
	wantDamaged(t, restored, "restored directory with an older db/", true)
}

// TestRestoreHeldUntilFinished: a restore held for its restorer's checks
// (RestoreHeld) is refused by a server's open and by a plain verification
// until FinishRestore, while the restorer's own opens take it; finished,
// it opens as any ledger.
func TestRestoreHeldUntilFinished(t *testing.T) {
	src := t.TempDir()
	s, submit := openSubmitter(t, src)
	submit(createMemberOp("m1", "", "x"))
	var buf bytes.Buffer
	if err := s.Backup(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	s.Close()
	dir := filepath.Join(t.TempDir(), "copy")
	if err := RestoreHeld(bytes.NewReader(buf.Bytes()), dir); err != nil {
		t.Fatal(err)
	}
	wantDamaged(t, dir, "a restore not yet finished", true)
	a, err := OpenAuditRestoring(dir)
	if err != nil {
		t.Fatalf("the restorer's verification: %v", err)
	}
	if _, err := a.Verify(context.Background(), audit.VerifyOptions{}); err != nil {
		t.Fatalf("verify of the held copy: %v", err)
	}
	a.Close()
	r, err := Open(dir, Options{Existing: true, Restoring: true})
	if err != nil {
		t.Fatalf("the restorer's open: %v", err)
	}
	r.Close()
	wantDamaged(t, dir, "a restore still not finished after the restorer's opens", true)
	if err := FinishRestore(dir); err != nil {
		t.Fatal(err)
	}
	r, err = Open(dir, Options{Existing: true})
	if err != nil {
		t.Fatalf("open of the finished copy: %v", err)
	}
	r.Close()
}

// TestNewLedgerDirectoryIsPrivate: a ledger first made, or restored, in an
// existing directory open to other users (an empty 0755 folder, a
// container's volume) closes it to them, as the store's own 0700 folder
// is; an existing ledger's directory is left as the operator set it.
func TestNewLedgerDirectoryIsPrivate(t *testing.T) {
	perm := func(dir string) os.FileMode {
		fi, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode().Perm()
	}
	dir := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755) // whatever the umask
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := perm(dir); got != 0o700 {
		t.Fatalf("a new ledger in a 0755 directory left it %v", got)
	}
	if _, err := s.EnsureCheckpointKey(context.Background(), "tally.test/private"); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.Backup(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	s.Close()
	os.Chmod(dir, 0o750)
	openWith(t, dir, nil).Close()
	if got := perm(dir); got != 0o750 {
		t.Fatalf("reopening an existing ledger changed its directory to %v", got)
	}
	restored := filepath.Join(t.TempDir(), "restored")
	if err := os.Mkdir(restored, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(restored, 0o755)
	if err := Restore(&buf, restored); err != nil {
		t.Fatal(err)
	}
	if got := perm(restored); got != 0o700 {
		t.Fatalf("a restore into a 0755 directory left it %v", got)
	}
}

package store

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"tally/audit"
	"tally/ledger"
	"tally/ledger/community"
)

// openSubmitter opens the store in dir and returns it with a function
// that submits an op as the system or fails the test.
func openSubmitter(t *testing.T, dir string) (*Store, func(ledger.Op)) {
	t.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s, func(op ledger.Op) {
		t.Helper()
		if _, err := s.Submit(context.Background(), ledger.Request{Actor: ledger.SystemActor, Op: op}); err != nil {
			t.Fatal(err)
		}
	}
}

// createMemberOp registers a global resident with personal data, and a
// login when username is set.
func createMemberOp(id, username, name string) ledger.Op {
	return func(tx ledger.Tx) (any, error) {
		nm := community.NewMember{ID: id, Global: true, Roles: []community.Role{community.RoleResident},
			Personal: map[string]string{"display_name": name}}
		if username != "" {
			nm.Username, nm.PasswordHash = username, []byte("hash")
		}
		return community.CreateMember(tx, nm)
	}
}

func personalOf(t *testing.T, s *Store, member string) (map[string]string, error) {
	t.Helper()
	var got map[string]string
	err := s.View(context.Background(), func(r ledger.Reader) error {
		var err error
		got, err = r.Personal(member)
		return err
	})
	return got, err
}

func keyFile(dir, member string) string {
	return filepath.Join(dir, keysDir, hex.EncodeToString([]byte(member)))
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// TestErasureDestroysDataKey: members' data keys live in files of their
// own and never in Badger (whose tables keep a deleted key's old versions
// until a compaction merges them); erasing a member removes their file,
// so the ciphertext that Badger still holds in older versions has no key
// left anywhere to open it. The others' personal data stays readable
// after a reopen and through a backup and restore, and both directories
// verify.
func TestErasureDestroysDataKey(t *testing.T) {
	dir := t.TempDir()
	s, submit := openSubmitter(t, dir)
	ctx := context.Background()
	for _, id := range []string{"m-x", "m-y"} {
		submit(createMemberOp(id, "", "QSECRET "+id))
	}
	// A second write of personal data keeps the member's key.
	before, err := os.ReadFile(keyFile(dir, "m-y"))
	if err != nil {
		t.Fatal(err)
	}
	submit(func(tx ledger.Tx) (any, error) {
		tx.Audit("member.update", map[string]any{"member": "m-y"})
		return nil, tx.PutPersonal("m-y", map[string]string{"display_name": "QSECRET m-y 2"})
	})
	if after, _ := os.ReadFile(keyFile(dir, "m-y")); !bytes.Equal(after, before) {
		t.Fatal("rewriting personal data replaced the member's data key")
	}
	if !exists(keyFile(dir, "m-x")) {
		t.Fatal("no data key file for m-x")
	}
	submit(func(tx ledger.Tx) (any, error) { return community.Erase(tx, "m-x", "") })
	if exists(keyFile(dir, "m-x")) {
		t.Fatal("the erased member's data key file is still there")
	}
	if _, err := personalOf(t, s, "m-x"); ledger.ErrorCode(err) != ledger.CodeNotFound {
		t.Fatalf("erased member's personal data: %v, want not_found", err)
	}
	var backup bytes.Buffer
	if err := s.Backup(ctx, &backup); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if got := keysEverStored(t, dir, pDataKey); len(got) != 0 {
		t.Fatalf("Badger holds data keys: %q", got)
	}
	if got := keysEverStored(t, dir, pPersonal+"m-x"); len(got) == 0 {
		t.Fatal("Badger holds no old version of the erased box: this test no longer shows what the key files are for")
	}
	restored := filepath.Join(t.TempDir(), "restored")
	if err := Restore(bytes.NewReader(backup.Bytes()), restored); err != nil {
		t.Fatal(err)
	}
	if got := keysEverStored(t, restored, pDataKey); len(got) != 0 {
		t.Fatalf("the restore put data keys into Badger: %q", got)
	}
	if exists(keyFile(restored, "m-x")) {
		t.Fatal("the backup carried the erased member's data key")
	}
	for _, d := range []string{dir, restored} {
		s := openWith(t, d, nil)
		got, err := personalOf(t, s, "m-y")
		if err != nil || got["display_name"] != "QSECRET m-y 2" {
			t.Fatalf("%s: m-y's personal data: %v, %v", d, got, err)
		}
		s.Close()
		a, err := OpenAudit(d)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Verify(ctx, audit.VerifyOptions{}); err != nil {
			t.Fatalf("%s does not verify: %v", d, err)
		}
		a.Close()
	}
}

// TestOrphanDataKeysRemovedAtOpen: a key written for a commit that then
// failed, and a key whose erasure committed but whose file stayed (a
// crash between), have no personal data; the next open removes them.
func TestOrphanDataKeysRemovedAtOpen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	create := func(id string) error {
		_, err := s.Submit(context.Background(), ledger.Request{Actor: ledger.SystemActor, Op: createMemberOp(id, "", id)})
		return err
	}
	if err := create("kept"); err != nil {
		t.Fatal(err)
	}
	s.commitTxn = func(*badger.Txn) error { return errors.New("injected: the disk refused the commit") }
	if err := create("lost"); ledger.ErrorCode(err) != ledger.CodeUnavailable {
		t.Fatalf("failed commit: %v", err)
	}
	if !exists(keyFile(dir, "lost")) {
		t.Fatal("no key file was written before the failed commit: the test shows nothing")
	}
	s.Close()
	stale := keyFile(dir, "erased-before")
	if err := os.WriteFile(stale, []byte("left by a crash"), 0o600); err != nil {
		t.Fatal(err)
	}
	s = openWith(t, dir, nil)
	defer s.Close()
	for _, f := range []string{keyFile(dir, "lost"), stale} {
		if exists(f) {
			t.Errorf("%s: an orphan data key survived the open", filepath.Base(f))
		}
	}
	if _, err := personalOf(t, s, "kept"); err != nil {
		t.Fatalf("kept: %v", err)
	}
}

// TestDataKeysMovedOutOfBadger: a directory from before key files keeps
// data keys in Badger (q/<member>); the open moves them to files and
// deletes them from Badger, and personal data stays readable.
func TestDataKeysMovedOutOfBadger(t *testing.T) {
	dir := t.TempDir()
	s := openWith(t, dir, nil)
	if _, err := s.Submit(context.Background(), ledger.Request{Actor: ledger.SystemActor, Op: createMemberOp("old", "", "old layout")}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	wrapped, err := os.ReadFile(keyFile(dir, "old"))
	if err != nil {
		t.Fatal(err)
	}
	// The layout before key files: no keys/ folder at all.
	os.RemoveAll(filepath.Join(dir, keysDir))
	db, err := badger.Open(badgerOptions(filepath.Join(dir, "db"), false))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(txn *badger.Txn) error { return txn.Set([]byte(pDataKey+"old"), wrapped) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s = openWith(t, dir, nil)
	got, err := personalOf(t, s, "old")
	if err != nil || got["display_name"] != "old layout" {
		t.Fatalf("after the move: %v, %v", got, err)
	}
	s.Close()
	if b, err := os.ReadFile(keyFile(dir, "old")); err != nil || !bytes.Equal(b, wrapped) {
		t.Fatalf("key file after the move: %v", err)
	}
	db, err = badger.Open(badgerOptions(filepath.Join(dir, "db"), false))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.View(func(txn *badger.Txn) error {
		_, err := txn.Get([]byte(pDataKey + "old"))
		return err
	}); !errors.Is(err, badger.ErrKeyNotFound) {
		t.Fatalf("Badger's q/old after the move: %v, want deleted", err)
	}
}

// TestMissingKeysFolderRefused: a ledger with personal data copied
// without its keys/ folder is refused as damaged (served, every member's
// personal data would be unreadable); one without personal data opens.
func TestMissingKeysFolderRefused(t *testing.T) {
	dir := t.TempDir()
	s := openWith(t, dir, nil)
	s.Close()
	if err := os.RemoveAll(filepath.Join(dir, keysDir)); err != nil {
		t.Fatal(err)
	}
	s = openWith(t, dir, nil) // no personal data: nothing lost
	if _, err := s.Submit(context.Background(), ledger.Request{Actor: ledger.SystemActor, Op: createMemberOp("p", "", "p")}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := os.RemoveAll(filepath.Join(dir, keysDir)); err != nil {
		t.Fatal(err)
	}
	wantDamaged(t, dir, "open without keys/", true)
	// Refused again: the refusal created nothing the next start accepts.
	wantDamaged(t, dir, "second open without keys/", true)
}

// TestMissingKeyFileRefused: a key folder that is there but lacks a
// member's key (files deleted, or a partial copy) is refused as damaged by
// the server and by verify; served, that member would look erased. Keys
// without personal data (an erased member's, left by a crash) are not.
func TestMissingKeyFileRefused(t *testing.T) {
	dir := twoMembers(t)
	for _, open := range []func() (io.Closer, error){
		func() (io.Closer, error) { return Open(dir, Options{}) },
		func() (io.Closer, error) { return OpenAudit(dir) },
	} {
		c, err := open()
		if err != nil {
			t.Fatalf("whole directory refused: %v", err)
		}
		c.Close()
	}
	path := filepath.Join(dir, keysDir, hex.EncodeToString([]byte("m2")))
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	wantDamaged(t, dir, "open without m2's key", true)
	wantDamaged(t, dir, "second open without m2's key", true)
}

// TestWrongMasterKeyRefused: a master.key that does not open the stored
// data keys (another directory's, or damaged) is refused as damaged;
// served, every member's personal data would vanish as if erased.
func TestWrongMasterKeyRefused(t *testing.T) {
	dir := t.TempDir()
	s, submit := openSubmitter(t, dir)
	submit(createMemberOp("m1", "", "x"))
	s.Close()
	other := make([]byte, 32)
	other[0] = 1
	if err := os.WriteFile(filepath.Join(dir, "master.key"), other, 0o600); err != nil {
		t.Fatal(err)
	}
	wantDamaged(t, dir, "open with another master.key", true)
}

// TestDamagedKeyFileNamed: one damaged data key file — the first or any
// other — is named as such, not blamed on master.key (which opens the
// others); served, its member would look erased (found by an outside
// probe: only the first file was tried).
func TestDamagedKeyFileNamed(t *testing.T) {
	for _, member := range []string{"m1", "m2"} {
		dir := twoMembers(t)
		damageKeyFile(t, dir, member)
		wantDamaged(t, dir, "a damaged key file", true)
		_, err := Open(dir, Options{})
		if err == nil || !strings.Contains(err.Error(), `member "`+member+`"`) || strings.Contains(err.Error(), "master.key") {
			t.Fatalf("open with %s's key file damaged: %v, want it named (not master.key)", member, err)
		}
	}
}

// twoMembers is a closed store with members m1 and m2, each with
// personal data (so each with a data key file); it returns its directory.
func twoMembers(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	s, submit := openSubmitter(t, dir)
	submit(createMemberOp("m1", "", "x"))
	submit(createMemberOp("m2", "", "y"))
	s.Close()
	return dir
}

// TestDamagedKeyRegistryNamed: a flipped byte in Badger's KEYREGISTRY is
// reported as that file's damage, by the server and by verify, not as
// Badger's "Encryption key mismatch" (Tally sets no encryption key).
func TestDamagedKeyRegistryNamed(t *testing.T) {
	dir := twoMembers(t)
	path := filepath.Join(dir, "db", "KEYREGISTRY")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 0xff // in its sanity text ("Hello Badger", after a 16-byte IV)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	wantDamaged(t, dir, "open with a damaged KEYREGISTRY", true)
	if _, err := Open(dir, Options{}); err == nil || !strings.Contains(err.Error(), "KEYREGISTRY") {
		t.Fatalf("the damage is not named: %v", err)
	}
}

// TestDamagedKeyFilesFirstNamed: the key files are read by several
// readers at once; with two damaged, the first in member order is named,
// whichever reader found which.
func TestDamagedKeyFilesFirstNamed(t *testing.T) {
	dir := t.TempDir()
	s, submit := openSubmitter(t, dir)
	for i := range 40 {
		submit(createMemberOp(fmt.Sprintf("m%02d", i), "", "x"))
	}
	s.Close()
	for _, member := range []string{"m31", "m07"} {
		damageKeyFile(t, dir, member)
	}
	for range 5 {
		_, err := Open(dir, Options{})
		if err == nil || !strings.Contains(err.Error(), `member "m07"`) {
			t.Fatalf("open with m07's and m31's key files damaged: %v, want m07 named", err)
		}
	}
}

// damageKeyFile flips the last byte of member's data key file in dir.
func damageKeyFile(t *testing.T, dir, member string) {
	t.Helper()
	path := filepath.Join(dir, keysDir, hex.EncodeToString([]byte(member)))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 1
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// keysThatFailAfterWriting is a key store whose next put writes its files
// and then reports a failure (a sync of keys/ that failed after the
// renames).
type keysThatFailAfterWriting struct {
	keyStore
	fail bool
}

func (k *keysThatFailAfterWriting) put(keys map[string][]byte) error {
	err := k.keyStore.put(keys)
	if k.fail && len(keys) > 0 {
		k.fail = false
		return errors.Join(err, errors.New("injected: sync of keys/ failed"))
	}
	return err
}

// TestFailedKeyWriteStopsStore: a data key whose write failed after its
// file was made leaves the store broken until a restart (not taking the
// next write, which would find the file and chain no q/<member> for it);
// the restart removes the orphan and the member's key, when written
// again, is in its record's state (review s22c).
func TestFailedKeyWriteStopsStore(t *testing.T) {
	dir, ctx := t.TempDir(), context.Background()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	fk := &keysThatFailAfterWriting{keyStore: s.keys, fail: true}
	s.keys = fk
	req := ledger.Request{Actor: ledger.SystemActor, Op: createMemberOp("m1", "", "Li")}
	if _, err := s.Submit(ctx, req); ledger.ErrorCode(err) != ledger.CodeUnavailable {
		t.Fatalf("write whose key failed: %v", err)
	}
	if _, err := s.Submit(ctx, req); ledger.ErrorCode(err) != ledger.CodeUnavailable || s.Broken() == nil {
		t.Fatalf("the next write on the store: %v (broken: %v)", err, s.Broken())
	}
	s.keys = fk.keyStore
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openWith(t, dir, nil)
	res, err := s.Submit(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	var raw []byte
	if err := s.db.View(func(txn *badger.Txn) error {
		var err error
		raw, err = badgerKV{txn}.get(recordKey(res.Seq))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	rec, err := audit.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	if state, _ := rec.Content["state"].(map[string]any); state[pDataKey+"m1"] == nil {
		t.Fatalf("the member's data key is not in its record's state: %v", rec.Content["state"])
	}
	if _, err := s.VerifyLog(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestDamagedLogHeaderNamed: a flipped byte in the header of Badger's
// value log, or of a crashed directory's write-ahead log, is damage to
// the directory (verify exits 1, FAILED), said as such and naming the
// user's file — not Badger's bare "Invalid datakey id" about a file in
// verify's scratch copy (probe s23c).
func TestDamagedLogHeaderNamed(t *testing.T) {
	flip := func(t *testing.T, path string) {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		b[0] ^= 1 // the key id at the start of the header
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("value log", func(t *testing.T) {
		dir := twoMembers(t)
		flip(t, filepath.Join(dir, "db", "000001.vlog"))
		wantDamaged(t, dir, "open with a damaged value log header", true)
		if _, err := OpenAudit(dir); err == nil || !strings.Contains(err.Error(), "header of a Badger log file") {
			t.Fatalf("the damage is not named: %v", err)
		}
	})
	t.Run("crashed write-ahead log", func(t *testing.T) {
		crashed := crashedCopy(t)
		mems, err := filepath.Glob(filepath.Join(crashed, "db", "*.mem"))
		if err != nil || len(mems) == 0 {
			t.Fatalf("no write-ahead log in the crashed copy (%v)", err)
		}
		flip(t, mems[0])
		_, err = OpenAudit(crashed)
		if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "header of a Badger log file") ||
			!strings.Contains(err.Error(), crashed) || strings.Contains(err.Error(), "tally-verify-") {
			t.Fatalf("verify of a crashed copy with a damaged log header: %v", err)
		}
	})
}

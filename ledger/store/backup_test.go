package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"tally/ledger"
)

// TestBackupUnderLoadIsConsistent takes backups while writers commit
// transfers and restores each: every copy must be one snapshot of the
// ledger — records, head, tree hashes, balances and history all in step —
// and open as a working store.
func TestBackupUnderLoadIsConsistent(t *testing.T) {
	s := openWith(t, t.TempDir(), nil)
	const members = 50
	fundedMembers(t, s, members, 1_000_000)

	// Enough data for several tables, so that Badger's stream splits the
	// key space into ranges.
	blob := strings.Repeat("x", 60<<10)
	for i := range 1600 {
		mustSubmit(t, s, func(tx ledger.Tx) (any, error) {
			tx.Audit("doc", nil)
			return nil, tx.PutDoc("blob", fmt.Sprintf("b%05d", i), blob)
		})
	}

	const writers, maxWrites = 16, 20_000
	var stop atomic.Bool
	var writes atomic.Int64
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewSource(int64(g)))
			for !stop.Load() && writes.Add(1) <= maxWrites {
				a, b := rng.Intn(members), rng.Intn(members-1)
				if b >= a {
					b++
				}
				if _, err := s.Submit(context.Background(), ledger.Request{Actor: ledger.Actor{ID: "load"},
					Op: transferOp(pay(fmt.Sprintf("m%d", a), fmt.Sprintf("m%d", b), 1+rng.Int63n(100)))}); err != nil {
					t.Errorf("transfer: %v", err)
					return
				}
			}
		})
	}
	var backups []*bytes.Buffer
	for range 3 {
		var buf bytes.Buffer
		if err := s.Backup(context.Background(), &buf); err != nil {
			t.Fatal(err)
		}
		backups = append(backups, &buf)
	}
	stop.Store(true)
	wg.Wait()
	if n := writes.Load(); n < writers {
		t.Fatalf("only %d writes ran; the backups were not taken under load", n)
	}
	var sizes []uint64
	for i, buf := range backups {
		dir := filepath.Join(t.TempDir(), "restored")
		if err := Restore(buf, dir); err != nil {
			t.Fatalf("restore %d: %v", i, err)
		}
		r := openWith(t, dir, nil)
		size, err := invariants(r.db)
		if err != nil {
			t.Fatalf("backup %d taken under load is not one snapshot: %v", i, err)
		}
		sizes = append(sizes, size)
		mustSubmit(t, r, transferOp(pay("m0", "m1", 1)))
		checkInvariants(t, r)
	}
	t.Logf("backups of %v records, %d writes", sizes, writes.Load())
}

// TestRestoreRefusesDamagedBackup: a bit flipped anywhere in a backup
// (header, master key, Badger's stream, the end, the checksum), a
// truncation, bytes appended and the format without a checksum are all
// refused with ErrBadBackup, and leave nothing behind in the directory.
func TestRestoreRefusesDamagedBackup(t *testing.T) {
	s := openWith(t, t.TempDir(), nil)
	mustSubmit(t, s, openOp(ledger.AccountSpec{ID: "issuance", Unit: ledger.HOUR, Guard: ledger.GuardNone},
		ledger.AccountSpec{ID: "m0", Unit: ledger.HOUR, Guard: ledger.GuardNoOverdraft}))
	for range 20 {
		mustSubmit(t, s, transferOp(pay("issuance", "m0", 100)))
	}
	var buf bytes.Buffer
	if err := s.Backup(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	refused := func(name string, r io.Reader) {
		t.Helper()
		dir := filepath.Join(t.TempDir(), "restored")
		err := Restore(r, dir)
		if !errors.Is(err, ErrBadBackup) {
			t.Fatalf("%s: got %v, want ErrBadBackup", name, err)
		}
		if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
			t.Fatalf("%s: a refused restore left %d entries in the directory", name, len(entries))
		}
	}
	step := max(1, len(good)/300)
	for off := 0; off < len(good); off += step {
		bad := bytes.Clone(good)
		bad[off] ^= 0x10
		refused(fmt.Sprintf("bit flipped at %d of %d", off, len(good)), bytes.NewReader(bad))
	}
	for _, n := range []int{0, 10, len(backupMagic) + 20, len(good) / 2, len(good) - 33, len(good) - 1} {
		refused(fmt.Sprintf("truncated to %d", n), bytes.NewReader(good[:n]))
	}
	refused("bytes appended", bytes.NewReader(append(bytes.Clone(good), 0)))
	old := append([]byte(backupMagicV1), good[len(backupMagic):]...)
	refused("format 1", bytes.NewReader(old))
	newer := append([]byte("TALLY-BACKUP-3\n"), good[len(backupMagic):]...)
	if err := Restore(bytes.NewReader(newer), filepath.Join(t.TempDir(), "newer")); err == nil || !strings.Contains(err.Error(), "backup format 3 was written by a newer Tally") {
		t.Fatalf("a backup of a later format: %v, want it named", err)
	}
	// A stream that cannot be read twice is checked as it loads.
	bad := bytes.Clone(good)
	bad[len(bad)-1] ^= 1
	refused("checksum flipped, unseekable", io.MultiReader(bytes.NewReader(bad)))
	refused("truncated, unseekable", io.MultiReader(bytes.NewReader(good[:len(good)-40])))

	// A target that is a file is refused and left as it was.
	file := filepath.Join(t.TempDir(), "precious")
	if err := os.WriteFile(file, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Restore(bytes.NewReader(good), file); err == nil {
		t.Fatal("restored into a regular file")
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "keep" {
		t.Fatalf("the file restored into was changed or removed: %v", err)
	}
	for _, r := range []io.Reader{bytes.NewReader(good), io.MultiReader(bytes.NewReader(good))} {
		dir := filepath.Join(t.TempDir(), "restored")
		if err := Restore(r, dir); err != nil {
			t.Fatal(err)
		}
		checkInvariants(t, openWith(t, dir, nil))
	}
}

// FuzzCheckBackup: the backup decoder never panics on any input, refuses
// with ErrBadBackup, and what it accepts restores. (Each fuzz worker makes
// its own backup, with its own keys, so acceptance cannot be compared
// with one file; TestRestoreRefusesDamagedBackup flips every region.)
func FuzzCheckBackup(f *testing.F) {
	s := openWith(f, f.TempDir(), nil)
	mustSubmit(f, s, openOp(ledger.AccountSpec{ID: "issuance", Unit: ledger.HOUR, Guard: ledger.GuardNone},
		ledger.AccountSpec{ID: "m0", Unit: ledger.HOUR, Guard: ledger.GuardNoOverdraft}))
	mustSubmit(f, s, transferOp(pay("issuance", "m0", 100)))
	var buf bytes.Buffer
	if err := s.Backup(context.Background(), &buf); err != nil {
		f.Fatal(err)
	}
	good := buf.Bytes()
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte(backupMagic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := CheckBackup(bytes.NewReader(b)); err != nil {
			if !errors.Is(err, ErrBadBackup) {
				t.Fatalf("refused with %v, want ErrBadBackup", err)
			}
			return
		}
		if err := Restore(bytes.NewReader(b), filepath.Join(t.TempDir(), "r")); err != nil {
			t.Fatalf("accepted but does not restore: %v", err)
		}
	})
}

// failWriter takes room bytes, then fails every write, as a disk
// filling up does.
type failWriter struct{ room int }

func (w *failWriter) Write(b []byte) (int, error) {
	if len(b) > w.room {
		return 0, errors.New("injected: no space left on device")
	}
	w.room -= len(b)
	return len(b), nil
}

// TestBackupSaysWhyItsWriteFailed: a backup whose output cannot be
// written says why (the disk is full), not Badger's stream cancellation
// that followed ("context canceled").
func TestBackupSaysWhyItsWriteFailed(t *testing.T) {
	s := openTest(t)
	for b := range 20 {
		specs := make([]ledger.AccountSpec, 1000)
		for i := range specs {
			specs[i] = ledger.AccountSpec{ID: fmt.Sprintf("member-%02d-%03d", b, i), Unit: ledger.HOUR, Guard: ledger.GuardNoOverdraft}
		}
		mustSubmit(t, s, openOp(specs...))
	}
	err := s.Backup(context.Background(), &failWriter{room: 64 << 10})
	if err == nil || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("backup to a full disk: %v", err)
	}
}

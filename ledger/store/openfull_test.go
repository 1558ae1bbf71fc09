package store

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestOpenRefusedOnAFullDisk: below MinFreeToOpen a store does not open
// (Badger would flush its WAL through memory maps onto a full disk and die
// of SIGBUS), says why, and leaves a new directory as new: no key file,
// not even a part of one.
func TestOpenRefusedOnAFullDisk(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	defer func(f func(string) (uint64, error)) { diskFree = f }(diskFree)
	diskFree = func(string) (uint64, error) { return MinFreeToOpen - 1, nil }
	if _, err := Open(dir, Options{}); err == nil || !strings.Contains(err.Error(), "MiB free") {
		t.Fatalf("open on a full disk: %v", err)
	}
	if es, _ := os.ReadDir(dir); len(es) != 0 {
		t.Fatalf("a refused open left %v", es)
	}
	// A first start killed while writing master.key left its temporary
	// file: the directory is still new.
	if err := os.WriteFile(filepath.Join(dir, masterKeyTmp), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	diskFree = freeBytes
	st, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("open after a first start stopped at master.key: %v", err)
	}
	st.Close()
	if _, err := os.Stat(filepath.Join(dir, masterKeyTmp)); !os.IsNotExist(err) {
		t.Fatalf("the temporary key file stayed: %v", err)
	}
}

// TestOpenAuditOnAFullDisk: reading the chain of a stopped store (tally
// verify --data, backup --data) also maps its WAL, which on a full disk
// ends the process with SIGBUS: a directory on a full disk — what a
// server stopped by one leaves — is read from a scratch copy in TMPDIR
// (probe s24b: it was refused, "free some space and start again"); with
// TMPDIR full as well, it says why instead of dying.
func TestOpenAuditOnAFullDisk(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	defer func(f func(string) (uint64, error)) { diskFree = f }(diskFree)
	diskFree = func(path string) (uint64, error) {
		if strings.HasPrefix(path, dir) {
			return MinFreeToOpen - 1, nil
		}
		return MinFreeToOpen + 1, nil
	}
	a, err := OpenAudit(dir)
	if err != nil {
		t.Fatalf("reading the chain of a directory on a full disk: %v", err)
	}
	// A backup --data, which opens the directory in place, is refused
	// before its verification (review s24R).
	if err := CheckRoomToOpen(dir); err == nil || !strings.Contains(err.Error(), "MiB free") {
		t.Fatalf("room to open a directory on a full disk: %v", err)
	}
	if a.scratch == "" || strings.HasPrefix(a.scratch, dir) {
		t.Fatalf("read in place, or from a copy on the full disk (%q)", a.scratch)
	}
	a.Close()
	diskFree = func(string) (uint64, error) { return MinFreeToOpen - 1, nil }
	if a, err := OpenAudit(dir); err == nil || !strings.Contains(err.Error(), "MiB free") || !strings.Contains(err.Error(), "TMPDIR") {
		if a != nil {
			a.Close()
		}
		t.Fatalf("reading the chain with TMPDIR full too: %v", err)
	}
	diskFree = freeBytes
	a, err = OpenAudit(dir)
	if err != nil {
		t.Fatal(err)
	}
	if a.scratch != "" {
		t.Fatalf("a cleanly closed directory on a disk with room was copied")
	}
	a.Close()
}

// TestOpenRefusedWithFewInodes: below MinFreeInodesToOpen creatable files
// a store does not open and says why (bytes may be free).
func TestOpenRefusedWithFewInodes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	defer func(f func(string) (uint64, error)) { diskFreeInodes = f }(diskFreeInodes)
	diskFreeInodes = func(string) (uint64, error) { return MinFreeInodesToOpen - 1, nil }
	if _, err := Open(dir, Options{}); err == nil || !strings.Contains(err.Error(), "inodes") {
		t.Fatalf("open with few inodes: %v", err)
	}
	if es, _ := os.ReadDir(dir); len(es) != 0 {
		t.Fatalf("a refused open left %v", es)
	}
	diskFreeInodes = func(string) (uint64, error) { return MinFreeInodesToOpen, nil }
	st, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	// A verification creates no file in the directory: it is not refused
	// when the filesystem has run out of them (when checking it matters).
	diskFreeInodes = func(string) (uint64, error) { return 0, nil }
	a, err := OpenAudit(dir)
	if err != nil {
		t.Fatalf("verification with no inodes free: %v", err)
	}
	a.Close()
}

// TestEmptyMemtableLogAfterCrash: a crash between Badger creating a
// memtable's log file and sizing it leaves an empty *.mem file; Badger's
// open refused it once ("Create a new file"), and a verification or
// backup, which do not change the directory, every time. The server's
// open removes it; a verification leaves it and reads a copy without it.
func TestEmptyMemtableLogAfterCrash(t *testing.T) {
	dir := fundedDir(t)
	empty := filepath.Join(dir, "db", "00099.mem")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := OpenAudit(dir)
	if err != nil {
		t.Fatalf("verification with an empty memtable log: %v", err)
	}
	a.Close()
	if _, err := os.Stat(empty); err != nil {
		t.Fatalf("the verification changed the directory: %v", err)
	}
	st, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("open with an empty memtable log: %v", err)
	}
	defer st.Close()
	if bal, _ := balance(t, st, "alice"); bal != 500 {
		t.Fatalf("alice %d after the reopen, want 500", bal)
	}
}

// fundedDir is a closed ledger in a new directory in which alice holds
// 500 (fund).
func fundedDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	st, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	fund(t, st, 500, "alice")
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestCopyFileSparse: the scratch copy of a crashed directory keeps a
// file's bytes exactly and its runs of zeros as holes (Badger's logs are
// sized ahead: a plain copy wrote them out in full).
func TestCopyFileSparse(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	data := make([]byte, 5*sparseBlock+123)
	copy(data[10:], "head")
	copy(data[2*sparseBlock+7:], "middle")
	copy(data[len(data)-3:], "end")
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tail := range []bool{false, true} {
		if tail { // a trailing hole
			data = append(data, make([]byte, 3*sparseBlock)...)
			if err := os.WriteFile(src, data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		dst := filepath.Join(dir, fmt.Sprint("dst", tail))
		if err := copyFile(src, dst); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(dst)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("copy (tail hole %v): %d bytes, equal %v, %v", tail, len(got), bytes.Equal(got, data), err)
		}
		var stt syscall.Stat_t
		if err := syscall.Stat(dst, &stt); err == nil && stt.Blocks*512 >= int64(len(data)) {
			t.Fatalf("copy (tail hole %v) is not sparse: %d bytes allocated for %d", tail, stt.Blocks*512, len(data))
		}
	}
}

// TestCheckRoomToRestore: a restore needs the backup's size and the write
// reserve free on the target's filesystem, measured at its nearest
// existing parent when the directory is yet to be made, and enough files.
func TestCheckRoomToRestore(t *testing.T) {
	defer func(f, g func(string) (uint64, error)) { diskFree, diskFreeInodes = f, g }(diskFree, diskFreeInodes)
	base := t.TempDir()
	var asked string
	diskFree = func(dir string) (uint64, error) { asked = dir; return 100 << 20, nil }
	diskFreeInodes = func(string) (uint64, error) { return MinFreeInodes, nil }
	target := filepath.Join(base, "new", "copy")
	if err := CheckRoomToRestore(target, 30<<20); err != nil {
		t.Fatalf("30 MiB into 100 MiB free: %v", err)
	}
	if asked != base {
		t.Fatalf("free space asked of %q, want the nearest existing parent %q", asked, base)
	}
	if err := CheckRoomToRestore(target, 40<<20); err == nil || !strings.Contains(err.Error(), "MiB free") {
		t.Fatalf("40 MiB and the 64 MiB reserve into 100 MiB free: %v", err)
	}
	diskFreeInodes = func(string) (uint64, error) { return MinFreeInodes - 1, nil }
	if err := CheckRoomToRestore(target, 1); err == nil || !strings.Contains(err.Error(), "inodes") {
		t.Fatalf("a restore with few inodes: %v", err)
	}
}

package store

import (
	"os"
	"path/filepath"
	"strings"
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

// TestOpenAuditRefusedOnAFullDisk: reading the chain of a stopped store
// (tally verify --data, backup --data) also maps its WAL: on a full disk
// it says why instead of dying of SIGBUS.
func TestOpenAuditRefusedOnAFullDisk(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	defer func(f func(string) (uint64, error)) { diskFree = f }(diskFree)
	diskFree = func(string) (uint64, error) { return MinFreeToOpen - 1, nil }
	if a, err := OpenAudit(dir); err == nil || !strings.Contains(err.Error(), "MiB free") {
		if a != nil {
			a.Close()
		}
		t.Fatalf("reading the chain on a full disk: %v", err)
	}
	diskFree = freeBytes
	a, err := OpenAudit(dir)
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
}

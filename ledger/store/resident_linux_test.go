//go:build linux

package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mapFile writes size bytes of a pattern to dir/name and maps it
// shared and read-only, as Badger maps a table, touching every page.
func mapFile(t *testing.T, dir, name string, size int) []byte {
	t.Helper()
	data := bytes.Repeat([]byte(name[:1]+"tally"), size/6+1)[:size]
	p := filepath.Join(dir, name)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Written and synced, as Badger writes a table before it reads it.
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(m) })
	var sum byte
	for i := 0; i < size; i += os.Getpagesize() {
		sum += m[i]
	}
	_ = sum
	if !bytes.Equal(m, data) {
		t.Fatalf("%s maps other bytes than were written", name)
	}
	return m
}

// residentPages counts the pages of m in memory (mincore).
func residentPages(t *testing.T, m []byte) int {
	t.Helper()
	vec := make([]byte, (len(m)+os.Getpagesize()-1)/os.Getpagesize())
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatal(errno)
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n
}

func TestPageOutTables(t *testing.T) {
	dir := t.TempDir()
	const size = 4 << 20
	pages := size / os.Getpagesize()
	tables := map[string][]byte{}
	for _, name := range []string{"000002.sst", "000010.sst", "000100.sst"} {
		tables[name] = mapFile(t, dir, name, size)
	}
	// Not a table: a write-ahead log and a value log stay resident.
	wal := mapFile(t, dir, "00001.mem", size)
	vlog := mapFile(t, dir, "000001.vlog", size)
	other := mapFile(t, t.TempDir(), "999999.sst", size) // another directory's table

	maps, err := tableMappings(mappedPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range maps {
		names = append(names, m.file)
	}
	if want := []string{"000002.sst", "000010.sst", "000100.sst"}; !slices.Equal(names, want) {
		t.Fatalf("tableMappings = %v, want %v (oldest first, this directory's tables only)", names, want)
	}

	// A target above the resident set pages out nothing.
	if n, err := pageOutTables(mappedPath(dir), 1<<62); err != nil || n != 0 {
		t.Fatalf("pageOutTables(huge target) = %d, %v; want 0 mappings advised", n, err)
	}
	for name, m := range tables {
		if got := residentPages(t, m); got < pages*9/10 {
			t.Fatalf("%s: %d of %d pages resident before any page-out", name, got, pages)
		}
	}

	n, err := pageOutTables(mappedPath(dir), 0)
	if errors.Is(err, errUnsupported) {
		t.Skip("MADV_PAGEOUT is not supported by this kernel")
	}
	if err != nil || n != len(tables) {
		t.Fatalf("pageOutTables(0) = %d, %v; want %d mappings advised", n, err, len(tables))
	}
	for name, m := range tables {
		if got := residentPages(t, m); got > pages/10 {
			t.Errorf("%s: %d of %d pages still resident after the page-out", name, got, pages)
		}
	}
	for name, m := range map[string][]byte{"wal": wal, "vlog": vlog, "other directory": other} {
		if got := residentPages(t, m); got < pages*9/10 {
			t.Errorf("%s: only %d of %d pages resident: paged out though not a table of the directory", name, got, pages)
		}
	}
	// Paged out is not lost: the pages read back from the files.
	for name, m := range tables {
		want := bytes.Repeat([]byte(name[:1]+"tally"), size/6+1)[:size]
		if !bytes.Equal(m, want) {
			t.Fatalf("%s reads other bytes after the page-out", name)
		}
	}
}

func TestResidentFileBytes(t *testing.T) {
	before := residentFileBytes()
	if before < 0 {
		t.Fatal("RssFile not read from /proc/self/status")
	}
	m := mapFile(t, t.TempDir(), "000001.sst", 8<<20)
	if after := residentFileBytes(); after-before < 6<<20 {
		t.Fatalf("RssFile grew by %d bytes after mapping and touching 8 MiB", after-before)
	}
	_ = m
}

package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMaxConnections: connections get at most half of the open files left
// after the store's reserve — FileReserve and twice the files the store
// holds open already — within [MinConnections, MaxConnections].
func TestMaxConnections(t *testing.T) {
	for _, c := range []struct {
		limit, held uint64
		want        int
	}{
		{0, 0, MaxConnections},
		{100, 0, MinConnections},
		{300, 0, (300 - FileReserve) / 2},
		{FileReserve + 2*MinConnections + 2, 0, MinConnections + 1},
		{1024, 0, (1024 - FileReserve) / 2},
		{1 << 20, 0, MaxConnections},
		{1400, 300, (1400 - 600 - FileReserve) / 2},
		{1400, 1158, MinConnections},
		{1 << 20, 1158, MaxConnections},
	} {
		if got := maxConnections(c.limit, c.held); got != c.want {
			t.Errorf("maxConnections(%d, %d) = %d, want %d", c.limit, c.held, got, c.want)
		}
	}
}

// TestStoreFiles counts the files of db/.
func TestStoreFiles(t *testing.T) {
	dir := t.TempDir()
	if n := storeFiles(dir); n != 0 {
		t.Fatalf("no db/: %d", n)
	}
	os.Mkdir(filepath.Join(dir, "db"), 0o700)
	for _, f := range []string{"000001.sst", "000002.sst", "00003.mem", "MANIFEST"} {
		os.WriteFile(filepath.Join(dir, "db", f), nil, 0o600)
	}
	if n := storeFiles(dir); n != 4 {
		t.Fatalf("%d files, want 4", n)
	}
}

// TestWatchOpenFilesWarns: descriptors past FileWarnPercent of the limit
// are warned about, naming both; well under it, nothing is said.
func TestWatchOpenFilesWarns(t *testing.T) {
	n, ok := openFiles()
	if !ok {
		t.Skip("no /proc/self/fd here")
	}
	var buf bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	defer slog.SetDefault(old)
	done, cancel := context.WithCancel(context.Background())
	cancel() // one look, then return
	watchOpenFiles(done, uint64(n)*100, FileWatchInterval)
	if buf.Len() != 0 {
		t.Fatalf("warned at 1%% of the limit: %s", buf.String())
	}
	watchOpenFiles(done, uint64(n)+1, FileWatchInterval)
	if out := buf.String(); !strings.Contains(out, "open files near the limit") || !strings.Contains(out, "limit=") {
		t.Fatalf("no warning near the limit: %q", out)
	}
}

package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// storeFiles counts the files in the store's db/ (Badger's tables and
// logs), each of which Badger keeps open: it grows about 2 per MB written.
func storeFiles(data string) uint64 {
	entries, _ := os.ReadDir(filepath.Join(data, "db"))
	return uint64(len(entries))
}

// openFiles counts the process's open descriptors, false where the
// system does not say (no /proc).
func openFiles() (int, bool) {
	entries, err := os.ReadDir("/proc/self/fd")
	return len(entries), err == nil
}

// watchOpenFiles warns, once, when the descriptors in use pass
// FileWarnPercent of the limit (again after they fell below
// FileRearmPercent): the store's tables take more as the ledger grows,
// and a store out of descriptors cannot open a new table or log. It
// returns when ctx ends, or at once when the limit or the count is not
// known.
func watchOpenFiles(ctx context.Context, limit uint64, every time.Duration) {
	if _, ok := openFiles(); !ok || limit == 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	warned := false
	for {
		n, ok := openFiles()
		if !ok {
			n = int(limit) // counting needs a descriptor: none is left
		}
		switch pct := uint64(n) * 100 / limit; {
		case !warned && pct >= FileWarnPercent:
			warned = true
			slog.Warn("open files near the limit: the store keeps each table open and takes more as the ledger grows (about 2 per MB); raise the limit (ulimit -n, LimitNOFILE=, docker run --ulimit nofile=…) before the store runs out",
				"open", n, "limit", limit)
		case warned && pct < FileRearmPercent:
			warned = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

package store

import (
	"errors"
	"time"
)

// Badger maps every table file into memory and has no option not to. A
// page of a table it writes (a memtable flush, a compaction) or reads
// stays mapped, and counted in the process's resident set, until the
// kernel needs the memory: under sustained writes a server's RSS grew by
// about 20 MB per 60,000 transfers, past 400 MB within a million of them,
// with its heap steady at about 220 MB (docs/BENCHMARKS.md). Those pages
// are clean copies of files on disk; the data Tally reads often is in
// Badger's block and index caches on the heap, and the accounts in the
// writer's cache. So the store watches the file-backed part of its
// resident set and, past FileResidentLimit, pages out table mappings
// (oldest first, see pageOutTables) until it is down to
// FileResidentTarget. The memtables' write-ahead logs are never paged
// out.
const (
	// FileResidentLimit is the file-backed resident set above which
	// table pages are given back.
	FileResidentLimit = 96 << 20
	// FileResidentTarget is what a page-out aims for.
	FileResidentTarget = 48 << 20
	// ResidentCheckInterval is how often the resident set is read
	// (a read of /proc/self/status, a few microseconds). A reader of
	// every table — the start-up verification, ~140 MB/s — maps that
	// much between two checks: at once a second it peaked 70–80 MB
	// higher (docs/OPERATIONS.md).
	ResidentCheckInterval = 250 * time.Millisecond
)

var errUnsupported = errors.New("store: paging out is not supported here")

// runResident keeps table pages within FileResidentLimit until the store
// closes, or stops at once where paging out is not supported.
func (s *Store) runResident(dbDir string) {
	s.every(ResidentCheckInterval, s.rdone, func() bool {
		if residentFileBytes() <= FileResidentLimit {
			return true
		}
		_, err := pageOutTables(dbDir, FileResidentTarget)
		return !errors.Is(err, errUnsupported)
	})
}

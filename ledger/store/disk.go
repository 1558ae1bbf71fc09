package store

import (
	"errors"
	"fmt"

	"tally/ledger"
)

// MinFreeDisk is the free space on the data directory's filesystem below
// which the store refuses writes. Badger writes its WAL and tables through
// memory maps: on a full disk a write to a mapped page kills the process
// with SIGBUS instead of returning an error. Nothing acknowledged is lost
// then (the WAL replays whole transactions only), but the server is gone.
// The reserve covers the rest of the current WAL file and the next one
// (2 × MemTableSize each) and the flush of a full memtable, so a filling
// disk turns into refused writes instead; it is kept small because a
// district server may run on a small volume.
const MinFreeDisk = 64 << 20

// MinFreeToOpen is the free space below which the store does not open,
// nor close Badger (which flushes its memtable to a new table): opening
// replays the WAL and flushes up to two memtables (2 × MemTableSize), and
// on a full disk Badger's writes through memory maps end the process
// with SIGBUS. Below it a start fails with a message saying so, and a
// close leaves the WAL for the next start to replay, as after a crash
// (nothing acknowledged is lost: every commit's WAL was synced). It is
// below MinFreeDisk, so a server that refuses writes for want of space
// still starts and serves reads.
const MinFreeToOpen = 40 << 20

// diskFree measures the free space checked against MinFreeToOpen (a
// variable for the tests).
var diskFree = freeBytes

// checkFreeToOpen refuses to open the database in dir with less than
// MinFreeToOpen free: even a read-only open replays the WAL through
// memory maps, which on a full tmpfs end the process with SIGBUS.
func checkFreeToOpen(dir string) error {
	if free, err := diskFree(dir); err == nil && free < MinFreeToOpen {
		return fmt.Errorf("store: the disk holding %s has %d MiB free; the store needs at least %d MiB to open (Badger reads and writes its tables through memory maps, and a full disk would crash it): free some space and start again",
			dir, free>>20, MinFreeToOpen>>20)
	}
	return nil
}

var errStorageFull = ledger.Errorf(ledger.CodeStorageFull,
	"the server's disk is nearly full; writes are refused until an operator frees space")

// roomOnDisk reports whether the data directory has at least MinFreeDisk
// free. It is asked once per batch (one statfs). If the free space cannot
// be read, writes go on: the check protects, it must not itself stop the
// ledger.
func (s *Store) roomOnDisk() bool {
	if s.freeSpace == nil {
		return true
	}
	free, err := s.freeSpace()
	return err != nil || free >= MinFreeDisk
}

// FreeSpace reports the bytes free on the data directory's filesystem (an
// error in memory or where it cannot be measured).
func (s *Store) FreeSpace() (uint64, error) {
	if s.freeSpace == nil {
		return 0, errors.New("store: in memory")
	}
	return s.freeSpace()
}

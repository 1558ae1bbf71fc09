package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

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

// MinFreeInodes is the number of files that must still be creatable on
// the data directory's filesystem for writes to go on. A filesystem can
// run out of inodes with bytes to spare (each member and person donor
// has a data key file; Badger writes a file per table): Badger then
// cannot create its next memtable, its reads fail from then on, and the
// server needs a restart that cannot succeed until files are freed. The
// reserve covers a full batch's key files (MaxBatchOps) and Badger's
// files several times over.
const MinFreeInodes = 4096

// MinFreeInodesToOpen is the number of creatable files below which the
// store does not open (Badger creates its memtable log and flushes tables
// at open); below MinFreeInodes, so a server refusing writes for want of
// files still starts and serves reads.
const MinFreeInodesToOpen = 1024

// diskFree and diskFreeInodes measure what checkFreeToOpen checks
// (variables for the tests).
var (
	diskFree       = freeBytes
	diskFreeInodes = freeInodes
)

// checkFreeToOpen refuses to open the database in dir with less than
// MinFreeToOpen free: even a read-only open replays the WAL through
// memory maps, which on a full tmpfs end the process with SIGBUS. A
// store that will write (files) also needs MinFreeInodesToOpen files; a
// verification creates none in dir (a crashed directory is replayed on a
// scratch copy elsewhere).
// CheckRoomToOpen refuses, as Open would, a directory whose disk has no
// room to open the store in place (tally backup --data asks it before
// verifying, so that it does not verify what it cannot then open).
func CheckRoomToOpen(dir string) error { return checkFreeToOpen(dir, true) }

func checkFreeToOpen(dir string, files bool) error {
	if free, err := diskFree(dir); err == nil && free < MinFreeToOpen {
		return fmt.Errorf("store: the disk holding %s has %d MiB free; the store needs at least %d MiB to open (Badger reads and writes its tables through memory maps, and a full disk would crash it): free some space and start again",
			dir, free>>20, MinFreeToOpen>>20)
	}
	if free, err := diskFreeInodes(dir); files && err == nil && free < MinFreeInodesToOpen {
		return fmt.Errorf("store: the filesystem holding %s can create only %d more files (inodes), though it may have bytes free; the store needs at least %d to open: remove files from it (df -i shows the count) and start again",
			dir, free, MinFreeInodesToOpen)
	}
	return nil
}

var (
	errStorageFull = ledger.Errorf(ledger.CodeStorageFull,
		"the server's disk is nearly full (writes need %d MiB free); writes are refused until an operator frees space", MinFreeDisk>>20)
	errInodesFull = ledger.Errorf(ledger.CodeStorageFull,
		"the server's filesystem can create almost no more files (writes need %d inodes free, though bytes may be free); writes are refused until an operator frees some", MinFreeInodes)
)

// roomOnDisk reports whether the data directory has at least MinFreeDisk
// bytes and MinFreeInodes files free, or the storage_full error saying
// which is short. It is asked once per batch (a statfs each). If what is
// free cannot be read, writes go on: the check protects, it must not
// itself stop the ledger.
func (s *Store) roomOnDisk() error {
	if s.freeSpace != nil {
		if free, err := s.freeSpace(); err == nil && free < MinFreeDisk {
			return errStorageFull
		}
	}
	if s.freeInodes != nil {
		if free, err := s.freeInodes(); err == nil && free < MinFreeInodes {
			return errInodesFull
		}
	}
	return nil
}

// FreeInodes reports the files that can still be created on the data
// directory's filesystem (an error in memory or where it is not counted).
func (s *Store) FreeInodes() (uint64, error) {
	if s.freeInodes == nil {
		return 0, errors.New("store: in memory")
	}
	return s.freeInodes()
}

// FreeSpace reports the bytes free on the data directory's filesystem (an
// error in memory or where it cannot be measured).
func (s *Store) FreeSpace() (uint64, error) {
	if s.freeSpace == nil {
		return 0, errors.New("store: in memory")
	}
	return s.freeSpace()
}

// CheckRoomToRestore refuses a restore of a backup of size bytes into dir
// when dir's filesystem (that of its nearest existing parent, for a
// directory yet to be made) lacks room for it and the write reserve: the
// tables a restore writes are about the backup's size, and a restore that
// ran out of space ended in SIGBUS in Badger's memory-mapped log, or in a
// copy refused afterwards for want of the space to check it.
func CheckRoomToRestore(dir string, size int64) error {
	at := dir
	for {
		if _, err := os.Stat(at); err == nil {
			break
		}
		parent := filepath.Dir(at)
		if parent == at {
			return nil
		}
		at = parent
	}
	need := uint64(max(size, 0)) + MinFreeDisk
	if free, err := diskFree(at); err == nil && free < need {
		return fmt.Errorf("store: the disk holding %s has %d MiB free; restoring this backup of %d MiB needs at least %d MiB (its size and the %d MiB a server keeps free): free some space or restore elsewhere",
			dir, free>>20, size>>20, need>>20, MinFreeDisk>>20)
	}
	if free, err := diskFreeInodes(at); err == nil && free < MinFreeInodes {
		return fmt.Errorf("store: the filesystem holding %s can create only %d more files (inodes); a restore needs at least %d: remove files from it or restore elsewhere",
			dir, free, MinFreeInodes)
	}
	return nil
}

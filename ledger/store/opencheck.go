package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/ristretto/v2/z"

	"tally/audit"
)

// ErrDamaged wraps what checkHead finds: the store's head and its records
// or checkpoints disagree, so writing on would overwrite or orphan audit
// records. The operator restores a backup or inspects the store with
// tally verify; the server does not start.
var ErrDamaged = errors.New("store: the data directory is damaged")

// recordTimeEnd is where a record's commit time ends: version (1), seq
// (8), prev (32), time (8) — docs/AUDIT.md §1.1.
const recordTimeEnd = 1 + 8 + 32 + 8

// checkHead compares the writer's head (m/head) with what is stored
// around it, in a few reads, before the writer may append anything:
//   - no record at or after the head's size (a lost or rolled-back head
//     would make the next write replace a record, maybe one a signed
//     checkpoint covers);
//   - the record before it exists and hashes to the head's last leaf;
//   - no checkpoint of a tree larger than the head;
//   - signed checkpoints imply a checkpoint signing key (a missing key
//     would be replaced by a new one under another origin), and the
//     latest one verifies with a stored key (a swapped key would sign
//     on under a name no key record gives).
//
// A full check of every record is tally verify's job.
func checkHead(k kv, h head) error {
	if _, err := k.get(recordKey(h.Size)); err == nil {
		return fmt.Errorf("%w: the head counts %d records, but record %d exists", ErrDamaged, h.Size, h.Size)
	} else if !errors.Is(err, errNotFound) {
		return err
	}
	if h.Size > 0 {
		rec, err := k.get(recordKey(h.Size - 1))
		if errors.Is(err, errNotFound) {
			// Say whether the head or the records are wrong: the log's
			// last record and its latest checkpoint tell.
			var present uint64
			if err := k.scan([]byte(pRecord), nil, true, func(key, _ []byte) (bool, error) {
				if len(key) == len(pRecord)+8 {
					present = binary.BigEndian.Uint64(key[len(pRecord):]) + 1
				}
				return false, nil
			}); err != nil {
				return err
			}
			return fmt.Errorf("%w: the head counts %d records, but record %d is missing: the log holds records up to %d (%d records); "+
				"if its latest checkpoint covers no more than that, the head is what is damaged (tally verify --data says which)", ErrDamaged, h.Size, h.Size-1, int64(present)-1, present)
		}
		if err != nil {
			return err
		}
		if audit.LeafHash(rec) != audit.Hash(h.Last) {
			return fmt.Errorf("%w: record %d does not hash to the head's last leaf", ErrDamaged, h.Size-1)
		}
		// The writer stamps the next record after the head's time: one
		// moved would date every later record wrongly.
		if len(rec) < recordTimeEnd || int64(binary.BigEndian.Uint64(rec[recordTimeEnd-8:recordTimeEnd])) != h.LastTime {
			return fmt.Errorf("%w: the head's last time is not record %d's time", ErrDamaged, h.Size-1)
		}
	}
	var latest uint64
	var found bool
	err := k.scan([]byte(pCheckpt), nil, true, func(key, _ []byte) (bool, error) {
		if len(key) == len(pCheckpt)+8 {
			latest, found = binary.BigEndian.Uint64(key[len(pCheckpt):]), true
		}
		return false, nil
	})
	if err != nil {
		return err
	}
	if !found {
		return nil
	}
	if latest > h.Size {
		return fmt.Errorf("%w: a checkpoint signs a tree of %d records, the head counts %d", ErrDamaged, latest, h.Size)
	}
	ck, err := loadCheckpointKey(k)
	if err != nil {
		return fmt.Errorf("%w: signed checkpoints exist but the checkpoint key is missing or unreadable", ErrDamaged)
	}
	// The latest checkpoint was signed by the current key or one before
	// it: a key swapped in would sign the next checkpoints under a name
	// no key record gives.
	note, err := k.get(checkpointKey(latest))
	if err != nil {
		return err
	}
	for _, vkey := range append([]string{ck.Verifier}, ck.Previous...) {
		if _, err := audit.OpenCheckpoint(note, vkey); err == nil {
			return nil
		}
	}
	return fmt.Errorf("%w: the latest checkpoint (size %d) is signed by none of the stored checkpoint keys: the key was replaced", ErrDamaged, latest)
}

// openBadger opens Badger with o after checkTables, and after moving
// aside the whole tables its MANIFEST does not list (keepUnlisted).
func openBadger(o badger.Options) (*badger.DB, error) {
	if !o.InMemory {
		if err := checkTables(o.Dir, o); err != nil {
			return nil, err
		}
		if err := keepUnlisted(o.Dir, o); err != nil {
			return nil, err
		}
		if err := removeEmptyMemtables(o.Dir); err != nil {
			return nil, err
		}
	}
	db, err := badger.Open(o)
	return db, openErr(err)
}

// emptyMemtables lists the memtable logs (*.mem) of dir that are empty
// files. Badger creates a memtable's log, then sizes and maps it: a crash
// between the two leaves an empty file, which holds nothing, and which
// Badger's next open refuses ("while opening fid: N err: Create a new
// file") while making it whole, so that only a second start succeeded.
func emptyMemtables(dir string) ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.mem"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Size() == 0 {
			out = append(out, p)
		}
	}
	return out, nil
}

// removeEmptyMemtables removes the empty memtable logs a crash left in
// dir (emptyMemtables) before Badger opens it.
func removeEmptyMemtables(dir string) error {
	paths, err := emptyMemtables(dir)
	if err != nil || len(paths) == 0 {
		return err
	}
	for _, p := range paths {
		if err := os.Remove(p); err != nil {
			return fmt.Errorf("store: remove the empty memtable log a crash left: %w", err)
		}
	}
	return syncDir(dir)
}

// openErr names the damage behind a Badger open error that would mislead:
// Tally sets no encryption key, so "Encryption key mismatch" means the
// KEYREGISTRY file cannot be read.
func openErr(err error) error {
	if err != nil && strings.Contains(err.Error(), "Encryption key mismatch") {
		return fmt.Errorf("%w: db/KEYREGISTRY cannot be read (Badger: %v); restore the directory from a backup", ErrDamaged, err)
	}
	if err != nil && strings.Contains(err.Error(), "Invalid datakey id") {
		// A log file's header names its data key: a header that names
		// none the registry holds is a damaged file, not a bad request.
		return fmt.Errorf("%w: the header of a Badger log file (a write-ahead .mem or the .vlog) is damaged (Badger: %v); restore the directory from a backup", ErrDamaged, err)
	}
	return err
}

// unlistedDir, beside db/, keeps whole tables the MANIFEST did not list.
const unlistedDir = "unlisted-tables"

// unlistedTables returns the whole tables (they open and check) in dir
// that its MANIFEST does not list. Badger deletes every unlisted table at
// open: a half-written one a crash left is garbage, but a whole one may
// hold acknowledged records an older MANIFEST put back no longer names.
func unlistedTables(dir string, o badger.Options) ([]string, error) {
	ids, err := manifestTables(dir, o)
	if err != nil {
		return nil, err
	}
	listed := map[string]bool{}
	for _, id := range ids {
		listed[filepath.Base(table.NewFilename(id, dir))] = true
	}
	paths, err := filepath.Glob(filepath.Join(dir, "*.sst"))
	if err != nil {
		return nil, err
	}
	topt := table.Options{BlockSize: o.BlockSize, Compression: o.Compression, ChkMode: o.ChecksumVerificationMode,
		BloomFalsePositive: o.BloomFalsePositive, ReadOnly: true}
	var out []string
	for _, p := range paths {
		if !listed[filepath.Base(p)] && checkTable(p, topt) == nil {
			out = append(out, p)
		}
	}
	return out, nil
}

// keepUnlisted moves the whole unlisted tables of dir into
// ../unlisted-tables before Badger would delete them, so that records a
// stale MANIFEST lost can still be recovered (a table a compaction
// replaced just before a crash is moved too, and is harmless there).
func keepUnlisted(dir string, o badger.Options) error {
	tables, err := unlistedTables(dir, o)
	if err != nil || len(tables) == 0 {
		return err
	}
	keep := filepath.Join(filepath.Dir(dir), unlistedDir)
	if err := os.MkdirAll(keep, 0o700); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	for _, p := range tables {
		if err := os.Rename(p, filepath.Join(keep, filepath.Base(p))); err != nil {
			return fmt.Errorf("store: keep unlisted table: %w", err)
		}
	}
	return syncDir(keep)
}

// checkTables opens every table in dir the way Badger's start-up does
// (its index, and its first and last keys) and checks every block's
// checksum, here, before Badger (about 1.3 s cold, 0.7 s warm, for the
// 700 tables of 10^6 transactions): Badger
// opens tables in goroutines of its own, and a damaged one can make it
// panic there (a block's entry count is read before its checksum is
// checked), which no recover can catch — the process would end with a
// stack dump instead of saying the directory is damaged.
//
// Only the tables the MANIFEST lists are the database's: a table file a
// crash left half-created (Badger writes it, then lists it) is not, and
// Badger removes it at open.
func checkTables(dir string, o badger.Options) error {
	ids, err := manifestTables(dir, o)
	if err != nil {
		return err
	}
	topt := table.Options{BlockSize: o.BlockSize, Compression: o.Compression, ChkMode: o.ChecksumVerificationMode,
		BloomFalsePositive: o.BloomFalsePositive, ReadOnly: true}
	for _, id := range ids {
		p := table.NewFilename(id, dir)
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%w: table %s, listed in the MANIFEST, is missing: %v", ErrDamaged, filepath.Base(p), err)
		}
		if err := checkTable(p, topt); err != nil {
			return fmt.Errorf("%w: table %s cannot be opened: %v", ErrDamaged, filepath.Base(p), err)
		}
	}
	return nil
}

// manifestTables lists the ids of the tables dir's MANIFEST holds (none
// for a new database).
func manifestTables(dir string, o badger.Options) ([]uint64, error) {
	f, err := os.Open(filepath.Join(dir, "MANIFEST"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	m, _, err := badger.ReplayManifestFile(f, o.ExternalMagicVersion, o)
	if err != nil {
		return nil, fmt.Errorf("%w: the MANIFEST cannot be read: %v", ErrDamaged, err)
	}
	ids := make([]uint64, 0, len(m.Tables))
	for id := range m.Tables {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

func checkTable(path string, topt table.Options) (err error) {
	mf, err := z.OpenMmapFile(path, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	if _, err := mf.Fd.Stat(); err != nil {
		mf.Close(-1)
		return err
	}
	// From here OpenTable closes the file only if it cannot stat it,
	// which it now can.
	defer func() {
		if r := recover(); r != nil {
			// Badger's message holds the whole index: keep the first line.
			msg, _, _ := strings.Cut(strings.TrimSpace(fmt.Sprint(r)), "\n")
			if _, ok := r.(runtime.Error); ok {
				msg = "its contents are not a valid table" // Badger tripped over them
			}
			if msg == "" {
				msg = "Badger could not read it"
			}
			err = fmt.Errorf("reading it failed: %s", msg)
			mf.Close(-1)
		}
	}()
	t, err := table.OpenTable(mf, topt)
	if err != nil {
		mf.Close(-1)
		return err
	}
	// Every block's checksum: a damaged block is otherwise found only
	// when read, and Badger's iterators can stop at it without an error
	// (a list or an export would end early and look whole).
	if err := t.VerifyChecksum(); err != nil {
		t.MmapFile.Close(-1)
		return err
	}
	return t.MmapFile.Close(-1)
}

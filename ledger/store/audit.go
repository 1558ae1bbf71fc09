package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"golang.org/x/mod/sumdb/tlog"

	"tally/audit"
	"tally/ledger"
)

// MaxRecordsPage bounds the records one Records call returns.
const MaxRecordsPage = 1000

// AuditDB reads the audit chain of a store over consistent snapshots:
// records, proofs, checkpoints, receipts, exports, and the verifier's
// walk. A running Store serves it through its own methods; OpenAudit
// opens it over a stopped server's data directory.
type AuditDB struct {
	db      *badger.DB
	st      *Store // the running store it reads, which signs an export's tail (nil: OpenAudit)
	own     bool   // opened by OpenAudit, closed by Close
	scratch string // the copy it opened, for a directory not closed cleanly
	// witness is the published checkpoint (the witness file) when the
	// stored tree does not match it (witnessErr): Verify holds the walk
	// to it, and fails with witnessErr if the walk found nothing else.
	witness    []byte
	witnessErr error
}

// OpenAudit opens the database in dir for reading the audit chain, with
// no writer and no timers, and changes nothing in dir. It opens read-only
// when Badger allows (a cleanly closed database); after a crash Badger
// must replay its log first, which writes, so it opens a scratch copy
// (in TMPDIR) instead. The server must be stopped.
func OpenAudit(dir string) (a *AuditDB, err error) { return openAudit(dir, false) }

// OpenAuditRestoring is OpenAudit of a directory a restore has loaded but
// not finished (RestoreHeld), which OpenAudit refuses as damaged.
func OpenAuditRestoring(dir string) (a *AuditDB, err error) { return openAudit(dir, true) }

func openAudit(dir string, restoring bool) (a *AuditDB, err error) {
	defer unpanic(&err)
	path := filepath.Join(dir, "db")
	// Badger would create an empty database, which verifies: a mistyped
	// directory must fail instead.
	if _, err := os.Stat(filepath.Join(path, "MANIFEST")); err != nil {
		if _, kerr := os.Stat(filepath.Join(dir, "master.key")); kerr == nil {
			return nil, fmt.Errorf("%w: %s holds master.key but no database (db/MANIFEST)", ErrDamaged, dir)
		}
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("store: %s cannot be read by this user: %w", dir, err)
		}
		return nil, fmt.Errorf("store: %s holds no database: %w", dir, err)
	}
	// A running server's directory changes under the copy a verify would
	// take of it, and a half-copied state could be reported as damage (an
	// operator told to restore a backup would lose acknowledged writes).
	if busy, err := inUse(path); err != nil {
		return nil, fmt.Errorf("store: %s: %w", path, err)
	} else if busy {
		return nil, fmt.Errorf("store: %s is in use by a running server: stop it first (verify and backup can ask a running server instead, with --url)", dir)
	}
	// Even a read-only open replays the log through memory maps, which on
	// a full disk end the process (checkFreeToOpen): a directory on one —
	// what a server stopped by a full disk leaves — is verified on a
	// scratch copy elsewhere instead, as a crashed one is.
	lowOnDisk := checkFreeToOpen(dir, false)
	// A ledger without its master.key cannot open anyone's personal data:
	// damaged, whatever the chain says (a server refuses it too).
	if err := checkDataDir(dir, true, restoring); errors.Is(err, ErrDamaged) {
		return nil, err
	} else if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	if err := checkFormat(dir); err != nil {
		return nil, err
	}
	if err := checkMasterKey(dir); err != nil {
		return nil, err
	}
	ro := badgerOptions(path, false).WithReadOnly(true)
	if err := checkTables(path, ro); err != nil {
		return nil, err
	}
	// Badger deletes the tables its MANIFEST does not list, even opening
	// read-only: with any whole one there, open a scratch copy instead.
	unlisted, err := unlistedTables(path, ro)
	if err != nil {
		return nil, err
	}
	var db *badger.DB
	if len(unlisted) == 0 && lowOnDisk == nil {
		if db, err = badger.Open(ro); err == nil {
			return witnessed(dir, &AuditDB{db: db, own: true})
		}
	}
	// Not closed cleanly (a crash): Badger must replay its log, which
	// rewrites the log, the MANIFEST and the tables. That is done on a
	// scratch copy, so the directory being verified — maybe the evidence
	// of damage — is left exactly as it was.
	why := "was not closed cleanly and replaying its log"
	if lowOnDisk != nil {
		why = "is on a disk too full to open it in place (" + lowOnDisk.Error() + "), and verifying it"
	}
	scratch, err := scratchCopy(path)
	if err != nil {
		return nil, fmt.Errorf("store: %s %s needs a scratch copy (set TMPDIR to a folder with room): %w", dir, why, err)
	}
	if err := checkFreeToOpen(scratch, false); err != nil {
		os.RemoveAll(scratch)
		return nil, fmt.Errorf("store: %s %s needs a scratch copy, and the disk holding it is too full as well (set TMPDIR to a folder with room): %w", dir, why, err)
	}
	db, err = badger.Open(badgerOptions(scratch, false))
	if err != nil {
		os.RemoveAll(scratch)
		// Badger names the scratch copy's files: name the user's.
		err = openErr(err)
		msg := strings.ReplaceAll(err.Error(), scratch, path)
		if errors.Is(err, ErrDamaged) {
			return nil, fmt.Errorf("%w: %s", ErrDamaged, strings.TrimPrefix(msg, ErrDamaged.Error()+": "))
		}
		return nil, fmt.Errorf("store: open %s: %w", path, renamedErr{msg: msg, err: err})
	}
	return witnessed(dir, &AuditDB{db: db, own: true, scratch: scratch})
}

// renamedErr is err said otherwise (the user's paths for a scratch
// copy's), still unwrapping to it.
type renamedErr struct {
	msg string
	err error
}

func (e renamedErr) Error() string { return e.msg }
func (e renamedErr) Unwrap() error { return e.err }

// witnessed checks a against dir's published-checkpoint witness (as a
// server's open does), closing it if the ledger was rolled back.
func witnessed(dir string, a *AuditDB) (*AuditDB, error) {
	err := a.view(func(k badgerKV) error {
		h, err := loadHead(k)
		if err != nil {
			return fmt.Errorf("%w: m/head: %v", ErrDamaged, err)
		}
		var rw *witnessRewritten
		if err := checkPublished(dir, k, h); errors.As(err, &rw) {
			a.witness, a.witnessErr = rw.note, rw.err
		} else if err != nil {
			return err
		}
		var ks keyStore = &memKeys{keys: map[string][]byte{}} // no folder: the layout before it, keys in Badger
		if _, err := os.Stat(filepath.Join(dir, keysDir)); err == nil {
			ks = &fileKeys{dir: filepath.Join(dir, keysDir)}
		}
		return checkKeysPresent(k, ks)
	})
	if err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// checkPublished holds the ledger to the checkpoint it published last
// (checkWitness). What that comparison would misread as records lost or
// rewritten is named for what it is first: a head that lost count, a
// witness file that is not a checkpoint this log signed, a stored tree
// hash missing. A server's start and tally verify --data both run it.
func checkPublished(dir string, k badgerKV, h head) error {
	if err := checkHeadCount(k, h); err != nil {
		return err
	}
	if err := checkWitnessSigned(dir, k, h); err != nil {
		return err
	}
	if err := checkWitnessHashes(dir, k, h); err != nil {
		return err
	}
	return checkWitness(dir, k, h)
}

// checkHeadCount refuses a head (m/head) that counts fewer records than
// the log holds: the records are there, the head is damaged.
func checkHeadCount(k badgerKV, h head) error {
	if _, err := k.get(recordKey(h.Size)); errors.Is(err, errNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	what := fmt.Sprintf("the head (m/head) counts %d records", h.Size)
	if _, err := k.get([]byte(pHead)); errors.Is(err, errNotFound) {
		what = "the head (m/head) is missing"
	}
	ve := &audit.VerifyError{Seq: h.Size, Reason: audit.ReasonHead,
		Detail: fmt.Sprintf("%s, but record %d exists: the head is damaged, not the records", what, h.Size)}
	return fmt.Errorf("%w: %w", ErrDamaged, ve)
}

// readWitness returns the witness note in dir, nil if there is none or it
// is not a checkpoint (checkWitness says so).
func readWitness(dir string) (audit.Checkpoint, []byte, error) {
	note, err := os.ReadFile(filepath.Join(dir, witnessFile))
	if errors.Is(err, os.ErrNotExist) {
		return audit.Checkpoint{}, nil, nil
	}
	if err != nil {
		return audit.Checkpoint{}, nil, fmt.Errorf("store: checkpoint witness: %w", err)
	}
	c, err := audit.CheckpointBody(note)
	if err != nil {
		return c, nil, nil
	}
	return c, note, nil
}

// checkWitnessSigned refuses a witness whose signature verifies with none
// of the log's checkpoint keys: the file is damaged (or the stored keys
// were replaced), which says nothing of the records — unless it names
// more records than the ledger holds: then records were lost, and with
// them the key record and key that signed it (a write-ahead log damaged
// near its start replays only what comes before the damage).
func checkWitnessSigned(dir string, k badgerKV, h head) error {
	c, note, err := readWitness(dir)
	if err != nil || note == nil {
		return err
	}
	keys, err := verifierKeys(k)
	if err != nil {
		return err
	}
	for _, vkey := range keys {
		if _, err := audit.OpenCheckpoint(note, vkey); err == nil {
			return nil
		}
	}
	if uint64(c.Size) > h.Size && audit.SignedByNoneOf(note, keys) {
		return fmt.Errorf("%w: the ledger holds %d records and %d checkpoint keys, but the checkpoint witness file (%s) names a published log of %d records signed by a key the store does not hold: "+
			"acknowledged records were lost, and the key that signed it with them (a stale or damaged db/; restore from a backup taken after it) — unless the witness file itself is damaged",
			ErrDamaged, h.Size, len(keys), filepath.Join(dir, witnessFile), c.Size)
	}
	return fmt.Errorf("%w: the checkpoint witness file (%s) is damaged: its signature verifies with none of the log's checkpoint keys, "+
		"so it is not a checkpoint this server published (or the stored keys were replaced); nothing was compared with it",
		ErrDamaged, filepath.Join(dir, witnessFile))
}

// checkWitnessHashes names a stored tree hash that the root at the
// witnessed size needs but that is missing, by the record it belongs to.
func checkWitnessHashes(dir string, k badgerKV, h head) error {
	c, note, err := readWitness(dir)
	if err != nil || note == nil || uint64(c.Size) > h.Size {
		return err
	}
	var need indexRecorder
	if _, err := tlog.TreeHash(c.Size, &need); err != nil {
		return nil // checkWitness says why
	}
	for _, idx := range need {
		if bad, err := wrongStoredHash(k, idx); err != nil {
			return err
		} else if bad >= 0 {
			seq := audit.StoredHashRecord(bad)
			reason := audit.ReasonTreeHash
			if level, _ := tlog.SplitStoredHashIndex(bad); level == 0 {
				reason = audit.ReasonLeafHash
			}
			ve := &audit.VerifyError{Seq: seq, Reason: reason, Detail: audit.StoredHashFault(bad, "wrong") +
				fmt.Sprintf(" (it does not hash from what it covers; the published checkpoint of %d records needs it)", c.Size)}
			return fmt.Errorf("%w: %w", ErrDamaged, ve)
		}
		if _, err := k.get(hashKey(idx)); errors.Is(err, errNotFound) {
			seq := audit.StoredHashRecord(idx)
			detail := audit.StoredHashFault(idx, "missing")
			reason := audit.ReasonTreeHash
			if level, _ := tlog.SplitStoredHashIndex(idx); level == 0 {
				reason = audit.ReasonLeafHash
			}
			if _, err := k.get(recordKey(seq)); errors.Is(err, errNotFound) {
				detail, reason = fmt.Sprintf("record %d is missing, and %s", seq, detail), audit.ReasonSeq
			}
			ve := &audit.VerifyError{Seq: seq, Reason: reason, Detail: detail + fmt.Sprintf(" (the published checkpoint of %d records needs it)", c.Size)}
			return fmt.Errorf("%w: %w", ErrDamaged, ve)
		} else if err != nil {
			return err
		}
	}
	return nil
}

// wrongStoredHash checks the stored tree hash at idx against what it
// covers — a leaf hash against its record, an interior hash against its
// two children — descending into a child that is itself wrong, and
// returns the index of the deepest stored hash that does not hash from
// what is below it, or -1 when none does (or some are missing: named
// elsewhere). It reads O(log n) keys.
func wrongStoredHash(k badgerKV, idx int64) (int64, error) {
	get := func(i int64) (audit.Hash, bool, error) {
		var h audit.Hash
		b, err := k.get(hashKey(i))
		if errors.Is(err, errNotFound) || err == nil && len(b) != len(h) {
			return h, false, nil
		}
		if err != nil {
			return h, false, err
		}
		copy(h[:], b)
		return h, true, nil
	}
	h, ok, err := get(idx)
	if err != nil || !ok {
		return -1, err
	}
	level, n := tlog.SplitStoredHashIndex(idx)
	if level == 0 {
		rec, err := k.get(recordKey(uint64(n)))
		if errors.Is(err, errNotFound) {
			return -1, nil
		}
		if err != nil {
			return -1, err
		}
		if audit.LeafHash(rec) != h {
			return idx, nil
		}
		return -1, nil
	}
	li, ri := tlog.StoredHashIndex(level-1, 2*n), tlog.StoredHashIndex(level-1, 2*n+1)
	l, lok, err := get(li)
	if err != nil || !lok {
		return -1, err
	}
	r, rok, err := get(ri)
	if err != nil || !rok {
		return -1, err
	}
	if tlog.NodeHash(l, r) == h {
		return -1, nil
	}
	// This hash or one below it is wrong: a child that does not hash
	// from its own children is the deeper fault.
	if bad, err := wrongStoredHash(k, li); err != nil || bad >= 0 {
		return bad, err
	}
	if bad, err := wrongStoredHash(k, ri); err != nil || bad >= 0 {
		return bad, err
	}
	return idx, nil
}

// indexRecorder is a tlog.HashReader that records the indexes asked for.
type indexRecorder []int64

func (r *indexRecorder) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	*r = append(*r, idx...)
	return make([]tlog.Hash, len(idx)), nil
}

// scratchCopy copies the Badger directory src into a new temporary one
// (not its LOCK) and returns it.
func scratchCopy(src string) (string, error) {
	entries, err := os.ReadDir(src)
	if err != nil {
		return "", err
	}
	dst, err := os.MkdirTemp("", "tally-verify-")
	if err != nil {
		return "", err
	}
	empty, err := emptyMemtables(src)
	if err != nil {
		os.RemoveAll(dst)
		return "", err
	}
	for _, e := range entries {
		if e.Name() == "LOCK" || !e.Type().IsRegular() || slices.Contains(empty, filepath.Join(src, e.Name())) {
			continue
		}
		if err := copyFile(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			os.RemoveAll(dst)
			return "", err
		}
	}
	return dst, nil
}

// copyFile copies src to dst sparsely: blocks of zeros are skipped, not
// written. Badger sizes its logs (memtable WALs of 2 × MemTableSize, the
// value log) ahead and fills them as it goes, so a crashed directory's
// files are mostly holes, and a plain copy wrote them out in full — 312
// MB of scratch space for a 23 MB database.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		out.Close()
		return err
	}
	buf := make([]byte, sparseBlock)
	var size int64
	for {
		n, err := io.ReadFull(in, buf)
		if n > 0 {
			if allZero(buf[:n]) {
				if _, err := out.Seek(int64(n), io.SeekCurrent); err != nil {
					return fail(err)
				}
			} else if _, err := out.Write(buf[:n]); err != nil {
				return fail(err)
			}
			size += int64(n)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return fail(err)
		}
	}
	if err := out.Truncate(size); err != nil { // a trailing hole
		return fail(err)
	}
	return out.Close()
}

// sparseBlock is the unit copyFile reads and skips when it is all zeros.
const sparseBlock = 64 << 10

func allZero(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// Close closes a database opened by OpenAudit, removing its scratch copy.
func (a *AuditDB) Close() error {
	if !a.own {
		return nil
	}
	err := a.db.Close()
	if a.scratch != "" {
		os.RemoveAll(a.scratch)
	}
	return err
}

// Audit returns the store's audit reader.
func (s *Store) Audit() *AuditDB { return &AuditDB{db: s.db, st: s} }

func (a *AuditDB) view(fn func(k badgerKV) error) (err error) {
	if a.st != nil {
		if a.st.uncertain.Load() {
			return errUncertainRead
		}
		defer a.st.readFailed(&err)
	}
	return a.db.View(func(txn *badger.Txn) error { return fn(badgerKV{txn}) })
}

// AuditRecord is one record with its leaf hash.
type AuditRecord struct {
	Seq    uint64
	Hash   audit.Hash
	Record []byte
}

// Record returns the record at seq. Errors: not_found.
func (a *AuditDB) Record(seq uint64) (AuditRecord, error) {
	var r AuditRecord
	err := a.view(func(k badgerKV) error {
		b, err := k.get(recordKey(seq))
		if errors.Is(err, errNotFound) {
			return ledger.Errorf(ledger.CodeNotFound, "record %d not found", seq)
		}
		r = AuditRecord{Seq: seq, Hash: audit.LeafHash(b), Record: b}
		return err
	})
	return r, err
}

// Records returns up to limit records from seq from (at most
// MaxRecordsPage; ledger.DefaultPageSize when limit <= 0), and the seq to
// ask for next, or 0 when there are no more.
func (a *AuditDB) Records(from uint64, limit int) ([]AuditRecord, uint64, error) {
	if limit <= 0 {
		limit = ledger.DefaultPageSize
	}
	limit = min(limit, MaxRecordsPage)
	var out []AuditRecord
	var next uint64
	err := a.view(func(k badgerKV) error {
		h, err := loadHead(k)
		if err != nil {
			return err
		}
		end := from + min(uint64(limit), h.Size-min(from, h.Size))
		add := func(seq uint64, b []byte) {
			out = append(out, AuditRecord{Seq: seq, Hash: audit.LeafHash(b), Record: b})
		}
		if end-from < recordsScanMin {
			for seq := from; seq < end; seq++ {
				b, err := k.get(recordKey(seq))
				if err != nil {
					return fmt.Errorf("store: record %d: %w", seq, err)
				}
				add(seq, b)
			}
		} else if err := scanRecords(k, from, end, add); err != nil {
			return err
		}
		if end := from + uint64(len(out)); end < h.Size {
			next = end
		}
		return nil
	})
	return out, next, err
}

// recordsScanMin is the shortest run of records read by one iterator
// rather than a Get each: a Get searches every level's tables for its
// key, an iterator walks them once (3.5× faster over a district's log).
const recordsScanMin = 8

// scanRecords reads records [from, end) in order with one iterator; a
// record missing in the range is an error, as its Get would be.
func scanRecords(k badgerKV, from, end uint64, fn func(seq uint64, b []byte)) error {
	opt := badger.DefaultIteratorOptions
	opt.Prefix, opt.PrefetchValues = []byte(pRecord), false
	it := k.txn.NewIterator(opt)
	defer it.Close()
	seq := from
	for it.Seek(recordKey(from)); seq < end && it.ValidForPrefix(opt.Prefix); it.Next() {
		if !bytes.Equal(it.Item().Key(), recordKey(seq)) {
			break
		}
		b, err := it.Item().ValueCopy(nil)
		if err != nil {
			return fmt.Errorf("store: record %d: %w", seq, err)
		}
		fn(seq, b)
		seq++
	}
	if seq < end {
		return fmt.Errorf("store: record %d: %w", seq, errNotFound)
	}
	return nil
}

// Size returns the number of records and the root of their tree.
func (a *AuditDB) Size() (uint64, audit.Hash, error) {
	var size uint64
	var root audit.Hash
	err := a.view(func(k badgerKV) error {
		h, err := loadHead(k)
		if err != nil {
			return err
		}
		size = h.Size
		root, err = audit.TreeHash(int64(size), hashReader{k})
		return err
	})
	return size, root, err
}

// InclusionProof proves record seq is in the tree of size records; size 0
// means the tree of the latest checkpoint, so that the proof checks
// against it. Errors: invalid_request (seq not below size, or size beyond
// the log), not_found (size 0 and no checkpoint yet).
func (a *AuditDB) InclusionProof(seq, size uint64) ([]audit.Hash, uint64, error) {
	var proof []audit.Hash
	err := a.view(func(k badgerKV) error {
		var err error
		if size, err = treeSize(k, size); err != nil {
			return err
		}
		if seq >= size {
			return ledger.Errorf(ledger.CodeInvalidRequest, "record %d is not in a tree of size %d", seq, size)
		}
		proof, err = audit.ProveInclusion(int64(size), int64(seq), hashReader{k})
		return err
	})
	return proof, size, err
}

// treeSize checks a tree size against the log, or picks the latest
// checkpoint's when size is 0.
func treeSize(k badgerKV, size uint64) (uint64, error) {
	if size == 0 {
		c, _, err := latestCheckpoint(k)
		if err != nil {
			return 0, err
		}
		return uint64(c.Size), nil
	}
	h, err := loadHead(k)
	if err != nil {
		return 0, err
	}
	if size > h.Size {
		return 0, ledger.Errorf(ledger.CodeInvalidRequest, "the log has %d records, not %d", h.Size, size)
	}
	return size, nil
}

// ConsistencyProof proves the tree of size from is a prefix of the tree
// of size to. Errors: invalid_request (from > to, or to beyond the log).
func (a *AuditDB) ConsistencyProof(from, to uint64) ([]audit.Hash, error) {
	var proof []audit.Hash
	err := a.view(func(k badgerKV) error {
		if from > to {
			return ledger.Errorf(ledger.CodeInvalidRequest, "from %d is after to %d", from, to)
		}
		if to > 0 {
			if _, err := treeSize(k, to); err != nil {
				return err
			}
		}
		var err error
		proof, err = audit.ProveConsistency(int64(from), int64(to), hashReader{k})
		return err
	})
	return proof, err
}

// StoredCheckpoint is a signed checkpoint as stored at c/<size>.
type StoredCheckpoint struct {
	Size uint64
	Note []byte
}

// LatestCheckpoint returns the newest signed checkpoint. Errors: not_found.
func (a *AuditDB) LatestCheckpoint() (StoredCheckpoint, error) {
	var sc StoredCheckpoint
	err := a.view(func(k badgerKV) error {
		c, note, err := latestCheckpoint(k)
		sc = StoredCheckpoint{Size: uint64(c.Size), Note: note}
		return err
	})
	return sc, err
}

func latestCheckpoint(k badgerKV) (audit.Checkpoint, []byte, error) {
	var note []byte
	err := k.scan([]byte(pCheckpt), nil, true, func(_, v []byte) (bool, error) {
		note = v
		return false, nil
	})
	if err != nil {
		return audit.Checkpoint{}, nil, err
	}
	if note == nil {
		return audit.Checkpoint{}, nil, ledger.Errorf(ledger.CodeNotFound, "no checkpoint yet")
	}
	c, err := audit.CheckpointBody(note)
	if err != nil {
		return c, nil, fmt.Errorf("store: latest checkpoint: %w", err)
	}
	return c, note, nil
}

// Checkpoints returns up to limit checkpoints of sizes after after, in
// size order (at most MaxRecordsPage; ledger.DefaultPageSize when limit
// <= 0).
func (a *AuditDB) Checkpoints(after uint64, limit int) ([]StoredCheckpoint, error) {
	if limit <= 0 {
		limit = ledger.DefaultPageSize
	}
	limit = min(limit, MaxRecordsPage)
	var out []StoredCheckpoint
	err := a.view(func(k badgerKV) error {
		return k.scan([]byte(pCheckpt), checkpointKey(after), false, func(key, v []byte) (bool, error) {
			out = append(out, StoredCheckpoint{Size: binary.BigEndian.Uint64(key[len(pCheckpt):]), Note: v})
			return len(out) < limit, nil
		})
	})
	return out, err
}

// Receipt returns the proof a resident keeps of record seq: the record,
// its inclusion proof and the latest checkpoint, which covers it.
// Errors: not_found (no such record), unavailable (not in a checkpoint
// yet: ask again after CheckpointInterval).
func (a *AuditDB) Receipt(seq uint64) (*audit.Receipt, error) {
	var rc *audit.Receipt
	err := a.view(func(k badgerKV) error {
		b, err := k.get(recordKey(seq))
		if errors.Is(err, errNotFound) {
			return ledger.Errorf(ledger.CodeNotFound, "record %d not found", seq)
		} else if err != nil {
			return err
		}
		c, note, err := latestCheckpoint(k)
		if ledger.IsCode(err, ledger.CodeNotFound) || err == nil && uint64(c.Size) <= seq {
			return &ledger.Error{Code: ledger.CodeUnavailable, RetryAfter: CheckpointInterval,
				Message: fmt.Sprintf("record %d is not in a signed checkpoint yet: one is signed within about a second, ask again after Retry-After", seq)}
		} else if err != nil {
			return err
		}
		proof, err := audit.ProveInclusion(c.Size, int64(seq), hashReader{k})
		rc = &audit.Receipt{Record: b, Index: int64(seq), Proof: proof, Checkpoint: string(note)}
		return err
	})
	return rc, err
}

// VerifierKeys returns every checkpoint verifier key the store has used,
// oldest first; the last is the current one. It is empty before
// EnsureCheckpointKey.
func (a *AuditDB) VerifierKeys() ([]string, error) {
	var keys []string
	err := a.view(func(k badgerKV) error {
		var err error
		keys, err = verifierKeys(k)
		return err
	})
	return keys, err
}

func verifierKeys(k badgerKV) ([]string, error) {
	ck, err := loadCheckpointKey(k)
	if ledger.IsCode(err, ledger.CodeNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return append(append([]string{}, ck.Previous...), ck.Verifier), nil
}

// Export writes the export format (docs/AUDIT.md) of one snapshot to w:
// all records with their tree hashes, all checkpoints, the verifier keys
// and every account. It holds a read snapshot for as long as w takes.
//
// Over a running store the export is signed to its end: when the latest
// checkpoint does not cover the snapshot's whole log, a checkpoint of it
// is signed (and stored, as the checkpointer would) first, so that no
// record of an honest export is signed by no one (tally verify --key
// refuses records after the latest checkpoint of an export). Errors:
// unavailable while the store verifies its log at start (nothing is
// signed before that ends), storage_full; a store whose tree does not
// extend its latest checkpoint is exported as it is, as evidence.
func (a *AuditDB) Export(ctx context.Context, w io.Writer) (err error) {
	defer unpanic(&err)
	txn := a.db.NewTransaction(false)
	defer txn.Discard()
	var tail *StoredCheckpoint
	if a.st != nil {
		if tail, err = a.st.signSnapshot(badgerKV{txn}); err != nil {
			return err
		}
	}
	x := audit.NewExportWriter(w)
	if err := a.walkTxn(ctx, txn, x, tail); err != nil {
		return err
	}
	return x.Close()
}

// errExportVerifying: see signSnapshot.
var errExportVerifying = ledger.Errorf(ledger.CodeUnavailable,
	"the ledger is verifying its stored log after a start and signs no checkpoint before that is done; an export is signed to its end, so ask again shortly")

// signSnapshot signs and stores the checkpoint of the tree in k's
// snapshot, and returns it, when the latest stored checkpoint does not
// cover it; nil when it does, when there is no checkpoint key, or when
// the stored tree does not extend the latest checkpoint (the store is
// then marked damaged, as the checkpointer would, and the export shows
// the damage).
func (s *Store) signSnapshot(k badgerKV) (_ *StoredCheckpoint, err error) {
	defer s.contain(&err)
	if s.broken.Load() {
		return nil, nil // nothing is signed on a broken store (Checkpoint)
	}
	if s.verifying.Load() {
		h, err := loadHead(k)
		if err != nil {
			return nil, err
		}
		c, _, err := latestCheckpoint(k)
		if err != nil && !ledger.IsCode(err, ledger.CodeNotFound) {
			return nil, err
		}
		if uint64(c.Size) < h.Size {
			return nil, errExportVerifying
		}
		return nil, nil
	}
	size, note, err := s.nextCheckpoint(k)
	switch {
	case errors.Is(err, ErrNoCheckpointKey):
		return nil, nil
	case errors.Is(err, ErrDamaged):
		s.damaged.CompareAndSwap(nil, &err)
		return nil, nil
	case err != nil || note == nil:
		return nil, err
	}
	if s.roomOnDisk() != nil {
		// Reads go on with the disk nearly full: the export carries the
		// note it signed without storing it (the checkpointer stores one
		// once there is room).
		return &StoredCheckpoint{Size: size, Note: note}, nil
	}
	if err := s.keepCheckpoint(size, note); err != nil {
		return nil, err
	}
	return &StoredCheckpoint{Size: size, Note: note}, nil
}

// Verify runs audit.Verify over one snapshot of the store.
func (a *AuditDB) Verify(ctx context.Context, opt audit.VerifyOptions) (audit.Report, error) {
	// The table checksums are read beside the walk, on the other core.
	tables := make(chan error, 1)
	go func() { tables <- verifyTables(a.db) }()
	// A data directory may end with records no checkpoint covers yet (a
	// server killed before its next one), and may hold a key rotation
	// written before rotations were endorsed; its signing key is in it
	// anyway.
	opt.TailMayBeUnsigned = true
	opt.HoldsItsKeys = true
	if a.witness != nil {
		// The published checkpoint the stored tree no longer matches
		// (OpenAudit): the walk names where the records differ from it.
		opt.Trusted = append(slices.Clip(opt.Trusted), a.witness)
	}
	rep, err := audit.Verify(ctx, a, opt)
	if terr := <-tables; terr != nil {
		return audit.Report{}, terr // the damage explains whatever the walk saw
	}
	if err == nil && a.witnessErr != nil {
		return audit.Report{}, a.witnessErr
	}
	return rep, err
}

// walkCheckInterval is how many records pass between checks of the walk's
// context.
const walkCheckInterval = 4096

// Walk implements audit.Source over one snapshot: the head and keys, then
// the records (each with the tree hashes stored beside it) interleaved
// with the checkpoints, then the accounts, then (to a visitor that takes
// them) every account's history lines.
func (a *AuditDB) Walk(ctx context.Context, v audit.Visitor) (err error) {
	defer unpanic(&err)
	return a.db.View(func(txn *badger.Txn) error { return a.walkTxn(ctx, txn, v, nil) })
}

// walkTxn is Walk over txn's snapshot; tail, if not nil, is a checkpoint
// of the snapshot's whole log signed after it was taken, handed over
// after the last record.
func (a *AuditDB) walkTxn(ctx context.Context, txn *badger.Txn, v audit.Visitor, tail *StoredCheckpoint) error {
	k := badgerKV{txn}
	h, err := loadHead(k)
	if err != nil {
		return err
	}
	keys, err := verifierKeys(k)
	if err != nil {
		return err
	}
	if err := v.Begin(audit.Head{Size: h.Size, Last: h.Last, LastTime: h.LastTime}, keys); err != nil {
		return err
	}
	// The stored history lines, transactions and documents are read
	// beside the records, each walk in a goroutine of its own, from the
	// same read-only snapshot (Badger allows several iterators on one).
	ectx, stop := context.WithCancel(ctx)
	defer stop()
	var walks []func() error
	if ev, ok := v.(audit.EntryVisitor); ok {
		if sink := ev.Entries(); sink != nil {
			walks = append(walks, func() error { return walkEntries(ectx, txn, sink) })
		}
	}
	if tv, ok := v.(audit.TxVisitor); ok {
		if sink := tv.Transactions(); sink != nil {
			walks = append(walks, func() error { return walkTransactions(ectx, txn, sink) })
		}
	}
	if dv, ok := v.(audit.DocVisitor); ok {
		if sink := dv.Documents(); sink != nil {
			walks = append(walks, func() error { return walkDocuments(ectx, txn, sink) })
		}
	}
	done := make(chan error, len(walks))
	for _, w := range walks {
		go func() {
			var err error
			defer func() { done <- err }()
			defer unpanic(&err)
			err = w()
		}()
	}
	err = walkRecords(ctx, txn, v)
	if err == nil && tail != nil {
		err = v.Checkpoint(tail.Size, tail.Note)
	}
	if err == nil {
		err = walkAccounts(k, v)
	}
	if err != nil {
		stop()
	}
	for range walks {
		if werr := <-done; err == nil {
			err = werr
		}
	}
	return err
}

// verifyTables checks the checksum of every block of every table first:
// Badger's iterators stop without an error at a block that fails its
// checksum, so a damaged block holding only superseded versions would
// pass a walk of the live keys, and a backup would end early and look
// whole.
func verifyTables(db *badger.DB) (err error) {
	defer unpanic(&err)
	if err := db.VerifyChecksum(); err != nil {
		return fmt.Errorf("%w: a table fails its checksum: %v", ErrDamaged, err)
	}
	return nil
}

// unpanic turns a panic of Badger's readers (a damaged table can make its
// block iterator index out of range) into an error of the walk, so that
// verify reports a damaged store instead of crashing.
func unpanic(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%w: reading the store failed (a damaged table?): %v", ErrDamaged, r)
	}
}

// iter is a Badger iterator over one prefix with a reused value buffer.
type iter struct {
	it     *badger.Iterator
	prefix []byte
	val    []byte
}

// newIter does not prefetch: records and hashes are small and live in the
// LSM tree beside their keys, and prefetching costs a goroutine hand-off
// per item (measured: verification ~1.7× faster without).
func newIter(txn *badger.Txn, prefix string) *iter {
	opt := badger.DefaultIteratorOptions
	opt.Prefix, opt.PrefetchValues = []byte(prefix), false
	it := &iter{it: txn.NewIterator(opt), prefix: []byte(prefix)}
	it.it.Rewind()
	return it
}

func (i *iter) valid() bool { return i.it.ValidForPrefix(i.prefix) }

// num is the u64 after the prefix; keys of another shape read as the
// largest number, so they sort last and are reported missing.
func (i *iter) num() uint64 {
	k := i.it.Item().Key()[len(i.prefix):]
	if len(k) != 8 {
		return ^uint64(0)
	}
	return binary.BigEndian.Uint64(k)
}

func (i *iter) value() ([]byte, error) {
	var err error
	i.val, err = i.it.Item().ValueCopy(i.val[:0])
	if err != nil {
		return nil, fmt.Errorf("store: read %s: %w", i.prefix, err)
	}
	return i.val, nil
}

func walkRecords(ctx context.Context, txn *badger.Txn, v audit.Visitor) error {
	recs, hashes, cks := newIter(txn, pRecord), newIter(txn, pHash), newIter(txn, pCheckpt)
	defer recs.it.Close()
	defer hashes.it.Close()
	defer cks.it.Close()
	var stored []audit.Hash
	for n := 0; recs.valid(); recs.it.Next() {
		if n++; n%walkCheckInterval == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		seq := recs.num()
		if err := walkCheckpoints(cks, seq, v); err != nil {
			return err
		}
		var err error
		if stored, err = storedHashes(hashes, seq, stored); err != nil {
			return err
		}
		data, err := recs.value()
		if err != nil {
			return err
		}
		if err := v.Record(seq, data, stored); err != nil {
			return err
		}
	}
	return walkCheckpoints(cks, ^uint64(0), v)
}

// walkCheckpoints hands v the checkpoints of tree sizes up to upto: those
// that must come before the record at upto.
func walkCheckpoints(cks *iter, upto uint64, v audit.Visitor) error {
	for ; cks.valid() && cks.num() <= upto; cks.it.Next() {
		note, err := cks.value()
		if err != nil {
			return err
		}
		if err := v.Checkpoint(cks.num(), note); err != nil {
			return err
		}
	}
	return nil
}

// storedHashes collects the tree hashes stored with record seq: storage
// indexes StoredHashIndex(0, seq) up to the first index of record seq+1.
// A missing one is left zero, which the verifier reports.
func storedHashes(hashes *iter, seq uint64, buf []audit.Hash) ([]audit.Hash, error) {
	if seq >= 1<<62 {
		return buf[:0], nil
	}
	lo, hi := uint64(audit.StoredHashIndex(0, int64(seq))), uint64(audit.StoredHashIndex(0, int64(seq)+1))
	buf = buf[:0]
	for i := lo; i < hi; i++ {
		buf = append(buf, audit.Hash{})
	}
	for ; hashes.valid() && hashes.num() < hi; hashes.it.Next() {
		idx := hashes.num()
		if idx < lo {
			continue
		}
		b, err := hashes.value()
		if err != nil {
			return nil, err
		}
		copy(buf[idx-lo][:], b)
	}
	return buf, nil
}

func walkAccounts(k badgerKV, v audit.Visitor) error {
	return k.scan([]byte(pAccount), nil, false, func(key, raw []byte) (bool, error) {
		var la ledger.Account
		if err := json.Unmarshal(raw, &la); err != nil {
			// Handed over as an account that matches no replay, so the
			// verifier names it (and the record that last changed it).
			id := string(key[len(pAccount):])
			la = ledger.Account{ID: id, Status: ledger.Status("(stored value does not decode: " + err.Error() + ")")}
		}
		// The account is the one its key names, which is what the API
		// serves: a value copied under another key is an account the
		// chain never opened, or another account's balances; a value
		// naming another account than its key differs from the replay
		// (a write to it would land on the account it names).
		id, status := string(key[len(pAccount):]), string(la.Status)
		if la.ID != id {
			status += " (names account " + la.ID + ")"
		}
		return true, v.Account(&audit.Account{
			ID: id, Unit: string(la.Unit), Guard: string(la.Guard), Status: status,
			OwnerKind: string(la.OwnerKind), Owner: la.Owner, Kind: la.Kind, Community: la.Community,
			CreditLimit: la.CreditLimit, MaxBalance: la.MaxBalance,
			DebitsPosted: la.DebitsPosted, CreditsPosted: la.CreditsPosted,
			DebitsPending: la.DebitsPending, CreditsPending: la.CreditsPending,
		})
	})
}

// walkEntries hands over every stored history line in key order. A key or
// value that does not decode is handed over as a line that matches no
// effect, so the verifier reports it as history the chain does not give.
func walkEntries(ctx context.Context, txn *badger.Txn, v audit.EntrySink) error {
	var d entryLineDecoder
	return walkPrefix(ctx, txn, pEntry, func(key, raw []byte) error { return v.Entry(d.decode(key, raw)) })
}

// walkPrefix calls fn with every key and value under prefix, in key
// order, checking ctx every walkCheckInterval items; both slices are
// valid only during the call.
func walkPrefix(ctx context.Context, txn *badger.Txn, prefix string, fn func(key, val []byte) error) error {
	it := newIter(txn, prefix)
	defer it.it.Close()
	for n := 0; it.valid(); it.it.Next() {
		if n++; n%walkCheckInterval == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		raw, err := it.value()
		if err != nil {
			return err
		}
		if err := fn(it.it.Item().Key(), raw); err != nil {
			return err
		}
	}
	return nil
}

// entrySuffix is the fixed tail of an h/ key: '/', seq u64, n u16.
const entrySuffix = 1 + 8 + 2

// entryLineDecoder turns h/ keys and values into audit entries, reusing
// the entry (visitors copy it) and the account id of consecutive lines.
type entryLineDecoder struct {
	e  audit.Entry
	le ledger.Entry
}

func (d *entryLineDecoder) decode(key, raw []byte) *audit.Entry {
	e := &d.e
	account := e.Account
	*e = audit.Entry{Seq: ^uint64(0)}
	rest := key[len(pEntry):]
	if len(rest) <= entrySuffix || rest[len(rest)-entrySuffix] != '/' {
		e.Account, e.Kind, e.BadKey = string(rest), "undecodable key", true
		return e
	}
	cut := len(rest) - entrySuffix
	if e.Account = account; account != string(rest[:cut]) {
		e.Account = string(rest[:cut])
	}
	e.Seq = binary.BigEndian.Uint64(rest[cut+1:])
	e.N = binary.BigEndian.Uint16(rest[cut+9:])
	e.ValueSeq = e.Seq
	le := &d.le
	if err := decodeEntry(raw, le); err != nil {
		e.Kind = "undecodable value"
		return e
	}
	e.ValueSeq, e.Time, e.Kind, e.Amount = le.Seq, le.Time.UnixNano(), le.Kind, le.Amount
	e.Unit, e.Counterparty, e.Tx, e.Memo = string(le.Unit), le.Counterparty, le.Tx, le.Memo
	if le.Balance != nil {
		e.Balance, e.HasBalance = *le.Balance, true
	}
	return e
}

// walkTransactions hands over every stored transaction. One that does not
// decode is handed over empty under its key's id, which no record creates.
func walkTransactions(ctx context.Context, txn *badger.Txn, v audit.TxSink) error {
	var t audit.Transaction
	var lt ledger.Transaction // its postings slice is reused
	return walkPrefix(ctx, txn, pTx, func(key, raw []byte) error {
		id := string(key[len(pTx):])
		t = audit.Transaction{Postings: t.Postings[:0]}
		// The transaction is the one its key names (what GET
		// /v1/transfers/{id} serves): a value naming another id, or none,
		// differs from what the record that created this id says.
		if err := decodeTransaction(raw, &lt); err != nil {
			t.ID, t.Status = id, "undecodable"
		} else {
			t.ID, t.Seq, t.Time, t.Kind, t.Status = id, lt.Seq, lt.Time.UnixNano(), lt.Kind, string(lt.Status)
			t.Memo, t.Actor, t.OnBehalf, t.PendingID = lt.Memo, lt.Actor, lt.OnBehalf, lt.PendingID
			t.Reverses, t.ResolvedBy = lt.Reverses, lt.ResolvedBy
			if !lt.Deadline.IsZero() {
				t.Deadline = lt.Deadline.UnixNano()
			}
			for _, p := range lt.Postings {
				t.Postings = append(t.Postings, audit.Posting{From: p.From, To: p.To, Unit: string(p.Unit), Amount: p.Amount})
			}
			if lt.ID != id {
				t.Kind += " (names another id: " + lt.ID + ")" // part of its creation
			}
		}
		return v.Transaction(&t)
	})
}

// walkDocuments hands over every stored key of the chained state
// (chainedKey): workflow documents but logins and signing keys, indexes,
// personal-data boxes; not the data keys, which live outside the database
// and which the documents check leaves out (audit.DataKeyPrefix).
func walkDocuments(ctx context.Context, txn *badger.Txn, v audit.DocSink) error {
	var d audit.Document
	for _, prefix := range []string{pDoc, pIndex, pPersonal, pIdem} {
		err := walkPrefix(ctx, txn, prefix, func(key, raw []byte) error {
			if !chainedKey(string(key)) {
				return nil
			}
			d.Name, d.Value = stateName(string(key)), raw
			return v.Document(&d)
		})
		if err != nil {
			return err
		}
	}
	// A key under none of the store's prefixes was written by no record
	// either: handed over as a document, it fails the check as one.
	return strayKeys(txn, func(key, raw []byte) error {
		d.Name, d.Value = string(key), raw
		return v.Document(&d)
	})
}

// knownPrefixes are the first letters of the store's "x/" prefixes
// (keys.go); m/head is the one m/ key.
var knownPrefixes = [256]bool{'r': true, 't': true, 'c': true, 'a': true, 'x': true, 'h': true,
	'k': true, 'e': true, 'p': true, 'd': true, 'i': true}

// strayKeys calls fn for every key outside the store's layout
// (docs/STORAGE.md): it seeks past each known prefix, so it reads only
// the keys that are not the store's, however large the rest.
func strayKeys(txn *badger.Txn, fn func(key, val []byte) error) error {
	it := txn.NewIterator(badger.IteratorOptions{})
	defer it.Close()
	for it.Rewind(); it.Valid(); {
		k := it.Item().Key()
		switch {
		case string(k) == pHead:
			it.Next()
		case len(k) >= 2 && k[1] == '/' && knownPrefixes[k[0]]:
			it.Seek([]byte{k[0], '/' + 1})
		default:
			raw, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			if err := fn(it.Item().KeyCopy(nil), raw); err != nil {
				return err
			}
			it.Next()
		}
	}
	return nil
}

// Package store is Tally's Badger storage: the key layout (docs/STORAGE.md),
// the single writer with group commit, balances, history indexes,
// idempotency records, timers, encrypted personal data, and the audit
// records and Merkle tree hashes written in the same transaction as the
// change they record. It is the only importer of Badger.
package store

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"tally/audit"
	"tally/ledger"
)

// Limits of the writer.
const (
	// maxCachedAccounts bounds the writer's account cache.
	maxCachedAccounts = 1 << 16
	// MaxBatchOps bounds the requests committed by one fsync.
	MaxBatchOps = 1024
	// MaxBatchBytes bounds the approximate size of one Badger transaction;
	// it is kept well under Badger's limit (15% of MemTableSize, 2.4 MiB)
	// so a batch is split before ErrTxnTooBig can happen. A batch of 1024
	// two-posting transfers takes about 3 MiB, so large batches split.
	MaxBatchBytes = 1 << 20
	// QueueDepth bounds requests waiting for the writer.
	QueueDepth = 4096
	// TimerInterval is how often due timers (hold expiry, deadlines) run.
	TimerInterval = time.Second
)

// Options configure a Store. Zero values take defaults.
type Options struct {
	// Clock returns the wall time; commit times never go backwards even if
	// it does. Tests replace it.
	Clock func() time.Time
	// InMemory runs Badger without disk, for fuzzing and unit tests only.
	InMemory bool
	// Existing opens only a directory that already holds a ledger (a
	// backup of a stopped server must not create one where a path was
	// mistyped).
	Existing bool
	// Restoring opens a directory a restore has loaded but not finished
	// (RestoreHeld): tally restore rotates the copy's token key so.
	Restoring bool
	// FreeSpace, when set, replaces the check of the bytes free on the
	// data directory's filesystem (tests fill the disk with it).
	FreeSpace func() (uint64, error)
	// FreeInodes, when set, replaces the count of files the filesystem
	// can still create (tests run out of inodes with it).
	FreeInodes func() (uint64, error)
	// HoldUntilVerified opens a store that already holds records with
	// its writes, timers and checkpoints held (HoldWrites) from the
	// start, before its timer loop runs, until VerifyLog passes: a server
	// signs, fires and writes nothing over a log edited while it was down.
	// An empty store is not held (there is nothing to verify; a first
	// start initialises it).
	HoldUntilVerified bool
}

// checkDataDir refuses a directory that is not a ledger's to open: one
// that holds a ledger (db/) but not its master.key — a new key would make
// every member's personal data unreadable, an erasure nobody decided —
// one that holds master.key but not its database's MANIFEST (db/ removed,
// emptied or damaged), and a non-empty one holding neither (another
// program's files, or a ledger's db/ folder itself). A missing or empty
// directory is new, unless existing is set.
// masterKeyTmp is the name master.key is written under before its rename.
const masterKeyTmp = "master.key.tmp"

func checkDataDir(dir string, existing, restoring bool) error {
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("store: %w", err)
	}
	has := map[string]bool{}
	for _, e := range entries {
		has[e.Name()] = true
	}
	if has[masterKeyTmp] && !has["master.key"] && len(entries) == 1 {
		// A first start stopped (killed, or the disk full) while it wrote
		// the master key, before anything was encrypted under it: the
		// directory is as new.
		if err := os.Remove(filepath.Join(dir, masterKeyTmp)); err != nil {
			return fmt.Errorf("store: %w", err)
		}
		entries, has = nil, map[string]bool{}
	}
	switch {
	case has[restoringFile] && !restoring:
		return fmt.Errorf("%w: %s holds an unfinished restore (%s): remove the directory and restore again", ErrDamaged, dir, restoringFile)
	case has["master.key"]:
		// A ledger's database: without its MANIFEST, Badger would start
		// an empty database and delete the tables it does not list —
		// the whole ledger, replaced by a new one under a new origin.
		// Unless nothing was ever opened here (no keys/ folder, no
		// published checkpoint): a first start stopped between writing
		// master.key and creating the database goes on.
		if _, err := os.Stat(filepath.Join(dir, "db", "MANIFEST")); err != nil && (has[keysDir] || has[witnessFile]) {
			return fmt.Errorf("%w: %s holds master.key but its database (db/MANIFEST) is missing or unreadable; restore the directory from a backup (tally restore) — starting here would create a new, empty ledger", ErrDamaged, dir)
		}
		return nil
	case has["db"]:
		return fmt.Errorf("store: %s holds a ledger but not its master.key; restore master.key from a backup of this directory (without it every member's personal data is unreadable)", dir)
	case len(entries) > 0:
		return fmt.Errorf("store: %s is not empty and holds no ledger; give an empty or new directory", dir)
	case existing:
		return fmt.Errorf("store: %s holds no ledger", dir)
	}
	return nil
}

// Store is a ledger.Committer over Badger.
type Store struct {
	db   *badger.DB
	pk   *personalKeys
	keys keyStore // the members' data keys (keystore.go)
	dir  string   // the data directory ("" in memory)
	// witnessMu guards witnessed, the size of the checkpoint last written
	// to the witness file (witness.go): concurrent checkpointers must not
	// replace a newer one with an older one.
	witnessMu sync.Mutex
	witnessed uint64
	master    []byte
	fpKey     []byte // keys request fingerprints (keyedFingerprint)
	clock     func() time.Time
	reqs      chan *pending
	mu        sync.RWMutex // guards closed against concurrent Submit
	closed    bool
	quit      chan struct{}
	done      chan struct{} // closed when the writer has stopped
	tdone     chan struct{} // closed when the timer goroutine has stopped
	rdone     chan struct{} // closed when the resident-set watcher has stopped
	head      head          // committed writer state; owned by the writer goroutine
	// broken is set when a commit fails. Badger may by then have put part
	// of the batch into its memtable, so the writer's state and the
	// database's can no longer be trusted to agree: every later write is
	// refused until the store is reopened, which replays only whole
	// transactions from the WAL.
	broken atomic.Bool
	// uncertain is set when Badger's commit failed: its memtable may hold
	// the batch although the disk may not, so nothing is read (nor signed)
	// until a restart shows what the disk kept.
	uncertain atomic.Bool
	// damaged holds what the checkpointer found wrong with the stored
	// log (ErrDamaged); once set, writes are refused and Damaged reports
	// it, until an operator checks the directory and restarts.
	damaged atomic.Pointer[error]
	// verifying holds writes, timers and checkpoints while VerifyLog
	// checks the stored log after a start (HoldWrites).
	verifying atomic.Bool
	stats     stats // for monitoring (Stats)
	// accounts caches committed accounts for the writer (owned by it): an
	// account is cached when an op reads it from the database or when a
	// batch that wrote it commits. Only PutAccount writes accounts, so the
	// cache cannot go stale. It is dropped whole when it reaches
	// maxCachedAccounts, which bounds its memory (about 300 bytes each).
	accounts map[string]*ledger.Account
	// docs caches decoded documents for the writer (owned by it), keyed
	// by d/<kind>/<id>: filled from committed reads (ledger.DocCache),
	// and a key any committed group wrote is dropped.
	docs map[string]any
	// commitTxn commits one batch; tests replace it to inject disk failures.
	commitTxn func(*badger.Txn) error
	// freeSpace reports the bytes free on the data directory's filesystem
	// (nil in memory); tests replace it to fill the disk.
	freeSpace  func() (uint64, error)
	freeInodes func() (uint64, error) // files the filesystem can still create

	timerMu sync.Mutex
	retryMu sync.Mutex            // guards retry
	retry   map[string]timerRetry // failing timers by stored key (timer.go)
	timers  map[string]ledger.TimerHandler
}

type pending struct {
	req  ledger.Request
	done chan outcome
}

type outcome struct {
	res ledger.Result
	err error
}

// idemRecord is what an idempotency key remembers. Fingerprint is the
// request's fingerprint keyed with the store's secret (keyedFingerprint),
// never the bare SHA-256 of the request: the record's hash is in the
// chain, and a bare hash of the body would let anyone holding the chain
// and the answer test guesses at what the request carried (a donor's
// erased name, a member's personal data, a password).
//
// A request that wrote someone's personal data (a member's fields, a
// donor's name) is keyed with each such person's data key as well
// (subjectFingerprint), and Subjects names them: erasing the person
// destroys the key, and with it any way to test guesses at what the
// request carried — even for someone holding the directory and
// master.key. A retry of it after the erasure is idempotency_conflict.
type idemRecord struct {
	Fingerprint [32]byte        `json:"fp"`
	Seq         uint64          `json:"seq"`
	Result      json.RawMessage `json:"result"`
	Subjects    []string        `json:"subjects,omitempty"`
}

// badgerOptions are set explicitly so that a district's server with 10^6
// transactions stays under 400 MB RSS while keeping writes fast. Each
// memtable costs an arena on the Go heap (MemTableSize plus Badger's
// largest transaction, about 1.3 × MemTableSize) and a mmap'd WAL of
// 2 × MemTableSize; up to NumMemtables + 1 of them live at once. Badger's
// defaults (64 MiB × 5, 256 MiB block cache) would need over 1 GB.
//   - MemTableSize 16 MiB × NumMemtables 2: about 65 MB of arenas and
//     96 MB of WAL at most; a transaction may be 15% of a memtable
//     (2.4 MiB), above MaxBatchBytes.
//   - BlockCacheSize 32 MiB, IndexCacheSize 16 MiB: hot balances and recent
//     history stay cached; tables stay mmap'd, so the rest of what is read
//     is page cache the kernel can reclaim.
//   - ValueLogFileSize 128 MiB: smaller vlog files mmap less memory.
//   - DetectConflicts off: one writer means no conflicts, and tracking read
//     keys costs memory and time on every commit.
//   - SyncWrites on: an acknowledged write is on disk (the contract).
//   - Snappy compression (Badger's default, named here): measured against
//     none and ZSTD (docs/BENCHMARKS.md); uncompressed tables double the
//     bytes each memtable flush writes and the commit tail with them.
//   - Metrics off: Badger's expvar counters are not exported by Tally and
//     cost atomic updates on every write.
//   - ChecksumVerificationMode OnBlockRead: a table block whose checksum
//     fails is an error, not data served or a panic in Badger's block
//     iterator (a damaged table once crashed verify); CRC32-C of a 4 KiB
//     block is cheap beside reading it.
//   - BaseTableSize 512 KiB (TableSizeMultiplier 1, below): a compaction
//     runs up to 8 table builders at once, and each holds its table's
//     uncompressed blocks and their compressed copies on the Go heap until
//     the table is written (the size counts compressed bytes, so about
//     8 × the table size each). With 2 MiB tables, two compactions and a
//     memtable flush kept about 260 MB live under sustained writes, above
//     the server's soft memory limit, and the garbage collector ran without
//     pause: sustained gifts fell to half the burst rate. 512 KiB tables
//     keep them under it (docs/BENCHMARKS.md, "Sustained writes").
//
// BaseTableSize is the size of Badger's SSTables (compressed bytes).
const BaseTableSize = 512 << 10

func badgerOptions(dir string, inMemory bool) badger.Options {
	o := badger.DefaultOptions(dir).
		WithSyncWrites(true).
		WithLogger(nil).
		WithDetectConflicts(false).
		WithMemTableSize(16 << 20).
		WithNumMemtables(2).
		WithBlockCacheSize(32 << 20).
		WithIndexCacheSize(16 << 20).
		WithValueLogFileSize(128 << 20).
		WithNumCompactors(2).
		WithNumVersionsToKeep(1).
		WithCompression(options.Snappy).
		WithMetricsEnabled(false).
		WithBaseTableSize(BaseTableSize).
		WithChecksumVerificationMode(options.OnBlockRead)
	// Every level's tables the same small size: with the default
	// multiplier of 2, bottom-level tables reach 64 MiB and each
	// compaction builder allocates twice the table size, hundreds of MB.
	o.TableSizeMultiplier = 1
	if inMemory {
		o = o.WithDir("").WithValueDir("").WithInMemory(true)
	}
	return o
}

// Open opens (creating if needed) the store in dir. The master key for
// personal data lives in dir/master.key, created on first open.
func Open(dir string, opt Options) (s *Store, err error) {
	// A damaged table can make Badger's readers panic during the start-up
	// checks: the directory is damaged, said as an error.
	defer unpanic(&err)
	return openStore(dir, opt)
}

func openStore(dir string, opt Options) (*Store, error) {
	steady := opt.Clock == nil
	if steady {
		opt.Clock = time.Now
	}
	var master []byte
	if opt.InMemory {
		master = make([]byte, 32)
		if _, err := rand.Read(master); err != nil {
			return nil, err
		}
	} else {
		if err := checkDataDir(dir, opt.Existing, opt.Restoring); err != nil {
			return nil, err
		}
		if err := checkFormat(dir); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		if err := checkFreeToOpen(dir, true); err != nil {
			return nil, err
		}
		var err error
		if master, err = loadOrCreateKey(filepath.Join(dir, "master.key")); err != nil {
			return nil, err
		}
	}
	pk, err := newPersonalKeys(master)
	if err != nil {
		return nil, err
	}
	if !opt.InMemory {
		if busy, _ := inUse(filepath.Join(dir, "db")); busy {
			return nil, fmt.Errorf("store: %s is in use by a running server: stop it first (a running server is backed up with tally backup --url)", dir)
		}
	}
	db, err := openBadger(badgerOptions(filepath.Join(dir, "db"), opt.InMemory))
	if errors.Is(err, ErrDamaged) {
		return nil, err
	} else if err != nil {
		return nil, fmt.Errorf("store: open badger: %w", err)
	}
	s := &Store{db: db, pk: pk, dir: storeDir(dir, opt.InMemory), master: master, fpKey: fingerprintKey(master), clock: opt.Clock, reqs: make(chan *pending, QueueDepth),
		quit: make(chan struct{}), done: make(chan struct{}), tdone: make(chan struct{}),
		rdone: make(chan struct{}), timers: map[string]ledger.TimerHandler{}, commitTxn: (*badger.Txn).Commit,
		accounts: map[string]*ledger.Account{}, docs: map[string]any{}, retry: map[string]timerRetry{}}
	if err := db.View(func(txn *badger.Txn) error {
		var err error
		if s.head, err = loadHead(badgerKV{txn}); err != nil {
			return fmt.Errorf("%w: m/head: %v", ErrDamaged, err)
		}
		if err := checkHead(badgerKV{txn}, s.head); err != nil {
			return err
		}
		s.stats.records.Store(s.head.Size)
		if c, _, err := latestCheckpoint(badgerKV{txn}); err == nil {
			s.stats.checkpointed.Store(uint64(c.Size))
		}
		if opt.InMemory {
			return nil
		}
		if s.stats.checkpointed.Load() > 0 && !HasWitness(dir) {
			slog.Warn("the published checkpoint file is missing though the ledger has signed checkpoints: it is written again at the next checkpoint, and until then a rollback of the directory to an earlier copy cannot be told; if nobody removed it on purpose (a directory last run by an early build may never have had it), check the directory with tally verify --data --checkpoint SAVED",
				"path", filepath.Join(dir, witnessFile))
		}
		return checkPublished(dir, badgerKV{txn}, s.head)
	}); err != nil {
		db.Close()
		return nil, err
	}
	if steady {
		start := time.Now()
		s.clock = steadyClock(time.Unix(0, s.head.LastTime), func() time.Time { return time.Now().Round(0) },
			func() time.Duration { return time.Since(start) })
	}
	if opt.InMemory {
		s.keys = &memKeys{keys: map[string][]byte{}}
	} else {
		// Refused before the folder is created, or the next start would
		// find it (empty) and serve everyone as if erased.
		if _, err := os.Stat(filepath.Join(dir, keysDir)); errors.Is(err, fs.ErrNotExist) {
			if err := checkKeysLost(db); err != nil {
				db.Close()
				return nil, err
			}
		}
		if s.keys, err = openFileKeys(filepath.Join(dir, keysDir)); err != nil {
			db.Close()
			return nil, err
		}
	}
	if err := settleKeys(db, s.keys); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.View(func(txn *badger.Txn) error { return checkKeysPresent(badgerKV{txn}, s.keys) }); err != nil {
		db.Close()
		return nil, err
	}
	if _, err := foldLogins(db); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.pk.opens(s.keys); err != nil {
		db.Close()
		return nil, err
	}
	if !opt.InMemory && s.head.Size == 0 {
		// A new ledger is of this build's format (an existing one is
		// marked once this build has verified its log: VerifyLog).
		if err := markFormat(dir); err != nil {
			db.Close()
			return nil, err
		}
	}
	dbDir := filepath.Join(dir, "db")
	if !opt.InMemory {
		s.freeSpace = func() (uint64, error) { return freeBytes(dbDir) }
		s.freeInodes = func() (uint64, error) { return freeInodes(dbDir) }
	}
	if opt.FreeSpace != nil {
		s.freeSpace = opt.FreeSpace
	}
	if opt.FreeInodes != nil {
		s.freeInodes = opt.FreeInodes
	}
	s.timers[ledger.ExpiryKindHold] = ledger.ExpireHold
	if opt.HoldUntilVerified && s.head.Size > 0 {
		s.HoldWrites()
	}
	go s.run()
	go s.runTimers()
	if opt.InMemory {
		close(s.rdone)
	} else {
		go s.runResident(mappedPath(dbDir))
	}
	return s, nil
}

// mappedPath is dir as /proc/self/maps names it: absolute, without
// symbolic links.
func mappedPath(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return dir
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		return real
	}
	return abs
}

func loadOrCreateKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) != 32 {
			return nil, fmt.Errorf("store: %s is not a 32-byte key", path)
		}
		// Created 0600; a copy or an unpacked archive may have widened it.
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
			slog.Warn("the master key can be read by other users of this machine (it decrypts every member's personal data): chmod 600 it", "path", path, "mode", fi.Mode().Perm().String())
		}
		// The directory is created 0700, which guards the files Badger
		// writes 0644 (the signing keys among them).
		if fi, err := os.Stat(filepath.Dir(path)); err == nil && fi.Mode().Perm()&0o077 != 0 {
			slog.Warn("the data directory can be entered by other users of this machine (its database holds the signing keys; Badger writes its files readable by all): chmod 700 it", "path", filepath.Dir(path), "mode", fi.Mode().Perm().String())
		}
		return b, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("store: %w", err)
	}
	makePrivate(filepath.Dir(path))
	b = make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	// Synced before anything is encrypted under it: a key lost to a power
	// cut would leave every member's personal data unreadable.
	if err := replaceFile(filepath.Dir(path), filepath.Base(path), b); err != nil {
		return nil, err
	}
	return b, nil
}

// makePrivate closes dir to other users when a ledger is first made in
// it (an existing empty directory, a container's volume, is often 0755):
// as when the store creates it 0700, for the files Badger writes 0644.
// A directory that cannot be changed is warned about, as at every start.
func makePrivate(dir string) {
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm()&0o077 == 0 {
		return
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		slog.Warn("the data directory can be entered by other users of this machine and could not be closed to them: chmod 700 it", "path", dir, "error", err.Error())
	}
}

// OnTimer registers the handler of a timer kind. Register before the
// first timer of that kind can fall due.
func (s *Store) OnTimer(kind string, h ledger.TimerHandler) {
	s.timerMu.Lock()
	defer s.timerMu.Unlock()
	s.timers[kind] = h
}

// Close stops accepting requests, commits what is queued, and closes the
// database.
func (s *Store) Close() (err error) {
	// Badger broken under the store (a file it could not open) can panic
	// while it closes: the process ends with an error, not a crash.
	defer s.contain(&err)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.quit)
	<-s.done
	// The timer goroutine reads the database; it must be gone before the
	// database closes under it.
	<-s.tdone
	<-s.rdone
	if s.dir != "" {
		if free, err := diskFree(s.dir); err == nil && free < MinFreeToOpen {
			// Badger's close would flush the memtable through a memory
			// map onto a full disk (SIGBUS). The WAL holds every commit.
			return fmt.Errorf("store: the disk holding %s has %d MiB free, under %d MiB: the database was left for the next start to replay its log (nothing acknowledged is lost)",
				s.dir, free>>20, MinFreeToOpen>>20)
		}
	}
	return s.db.Close()
}

var errDamagedLog = ledger.Errorf(ledger.CodeLedgerDamaged,
	"the ledger found its stored audit log damaged and takes no writes until an operator checks it (tally verify)")

// Damaged reports what the checkpointer found wrong with the stored log,
// or nil: a server answers not ready while it is set.
func (s *Store) Damaged() error {
	if e := s.damaged.Load(); e != nil {
		return *e
	}
	return nil
}

var errVerifying = ledger.Errorf(ledger.CodeUnavailable,
	"the ledger is verifying its stored log after a start and takes writes once that is done; retry shortly")

// HoldWrites refuses writes (unavailable), fires no timers and signs no
// checkpoints from now until VerifyLog has finished: nothing is written
// or signed over a log not yet checked.
func (s *Store) HoldWrites() { s.verifying.Store(true) }

// errBroken: see Broken.
var errBroken = ledger.Errorf(ledger.CodeUnavailable,
	"the store failed (a commit the disk refused, or Badger broken by a file it could not open) and needs a restart")

// Broken reports whether the store failed in a way only a restart mends
// (a commit that failed part-way, a panic inside Badger): a server is
// then no longer alive, so that a supervisor restarts it.
func (s *Store) Broken() error {
	if s.broken.Load() {
		return errBroken
	}
	return nil
}

// Verifying reports whether the stored log is still being verified after
// the store opened (writes wait for it; the API shows no figures).
func (s *Store) Verifying() bool { return s.verifying.Load() }

// Ready reports whether the store takes writes: nil, the damage found,
// the failure that needs a restart, or that it is still verifying its log.
func (s *Store) Ready() error {
	if err := s.Damaged(); err != nil {
		return err
	}
	if err := s.Broken(); err != nil {
		return err
	}
	if s.verifying.Load() {
		return errVerifying
	}
	return nil
}

// VerifyLog verifies the stored log and state from one snapshot, as
// tally verify --data does but beside a running writer (without the table
// checksums, which compactions move under it). A verification failure
// (tampering, disk damage) marks the store damaged: no more writes, the
// server answers not ready. It returns what it found.
func (s *Store) VerifyLog(ctx context.Context) (audit.Report, error) {
	s.verifying.Store(true)
	rep, err := audit.Verify(ctx, s.Audit(), audit.VerifyOptions{HoldsItsKeys: true})
	// Stopped before the end (the server is stopping): the log stays
	// unverified, so nothing is signed or fired over it while the store
	// closes — not the last checkpoint of the stop either.
	if ctx.Err() == nil {
		defer s.verifying.Store(false)
	}
	if err != nil && ctx.Err() == nil {
		// Not only a record or figure found wrong: a store that could not
		// be read through (a damaged table) is not shown either.
		e := err
		if !errors.Is(e, ErrDamaged) {
			e = fmt.Errorf("%w: %w", ErrDamaged, err)
		}
		s.damaged.CompareAndSwap(nil, &e)
		return rep, e
	}
	if err == nil && s.dir != "" {
		if merr := markFormat(s.dir); merr != nil {
			slog.Warn("the stored log verified, but its format mark could not be written", "error", merr.Error())
		}
	}
	if err == nil {
		if terr := s.restoreHoldTimers(rep.Pending); terr != nil {
			// The log verified; a timer that could not be put back is
			// said, and the hold is voided by hand if need be.
			slog.Error("the stored log verified, but holds without their expiry timer could not get it back", "error", terr.Error())
		}
	}
	return rep, err
}

// restoreHoldTimers gives every hold the verified log leaves outstanding
// its expiry timer back if the timer is gone (timers are not chained: a
// deleted one left a hold pending for good, refusing post and void as
// expired while nothing voided it). Nothing chained changes; a restored
// timer is logged.
func (s *Store) restoreHoldTimers(pending []string) error {
	var missing [][]byte
	var ids []string
	err := s.db.View(func(txn *badger.Txn) error {
		r := reader{kv: badgerKV{txn}}
		for _, id := range pending {
			t, err := r.Transaction(id)
			if err != nil || t.Status != ledger.TxPending || t.Deadline.IsZero() {
				continue // the verification compared every transaction with the chain
			}
			k := timerKey(t.Deadline, ledger.ExpiryKindHold, id)
			if _, err := txn.Get(k); errors.Is(err, badger.ErrKeyNotFound) {
				missing, ids = append(missing, k), append(ids, id)
			} else if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || len(missing) == 0 {
		return err
	}
	slog.Warn("holds without their expiry timer (deleted from the data directory?): timers restored", "count", len(ids), "first", ids[0])
	return s.db.Update(func(txn *badger.Txn) error {
		for _, k := range missing {
			if err := txn.Set(k, nil); err != nil {
				return err
			}
		}
		return nil
	})
}

var errClosed = ledger.Errorf(ledger.CodeUnavailable, "the ledger is shutting down")

// Submit implements ledger.Committer. Besides the Op's own errors it
// returns invalid_request (an idempotency key longer than
// ledger.MaxIdempotencyKeyLen, or one from an actor whose id is not a
// valid id, which could collide with another actor's key), limit_exceeded
// (an op too large for one commit), idempotency_conflict, and unavailable
// (closed, or the disk refused a commit).
func (s *Store) Submit(ctx context.Context, req ledger.Request) (ledger.Result, error) {
	if req.Op == nil {
		return ledger.Result{}, fmt.Errorf("store: nil op")
	}
	if req.IdemKey != "" {
		// The key is stored as k/<actor>/<key>: an actor id with a '/'
		// could claim another actor's key.
		if len(req.IdemKey) > ledger.MaxIdempotencyKeyLen || !ledger.ValidID(req.Actor.ID) {
			return ledger.Result{}, ledger.Errorf(ledger.CodeInvalidRequest,
				"an idempotency key has at most %d bytes and needs an actor with a valid id", ledger.MaxIdempotencyKeyLen)
		}
	}
	if s.broken.Load() {
		return ledger.Result{}, errBroken
	}
	if s.damaged.Load() != nil {
		return ledger.Result{}, errDamagedLog
	}
	if s.verifying.Load() {
		return ledger.Result{}, errVerifying
	}
	p := &pending{req: req, done: make(chan outcome, 1)}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ledger.Result{}, errClosed
	}
	select {
	case s.reqs <- p:
	case <-ctx.Done():
		s.mu.RUnlock()
		return ledger.Result{}, ctx.Err()
	}
	s.mu.RUnlock()
	// Once queued the request will be decided; wait for it even if the
	// caller goes away, so a 201 is never sent for an unknown outcome.
	o := <-p.done
	if o.err == nil && o.res.JSON == nil && !o.res.Replayed {
		// Encoded here, in the caller's goroutine, rather than in the
		// single writer, which only encodes results it must remember.
		b, err := encodeJSON(o.res.Value)
		if err != nil {
			return o.res, fmt.Errorf("store: encode result: %w", err)
		}
		o.res.JSON = b
	}
	return o.res, o.err
}

// View implements ledger.Committer.
func (s *Store) View(ctx context.Context, fn func(ledger.Reader) error) (err error) {
	if s.uncertain.Load() {
		return errUncertainRead
	}
	defer s.readFailed(&err)
	return s.db.View(func(txn *badger.Txn) error {
		return fn(reader{kv: keyed{badgerKV{txn}, s.keys}, pk: s.pk})
	})
}

// errUncertainRead answers every read after a commit whose outcome is
// unknown (errCommitUnknown): Badger's memory may show a write the disk
// lost, and no figure, record or signature may rest on it.
var errUncertainRead = ledger.Errorf(ledger.CodeUnavailable,
	"a commit's outcome is unknown after a disk failure: nothing is shown until the server is restarted and reads what the disk kept")

// errBrokenRead answers a read of a store broken under it.
var errBrokenRead = ledger.Errorf(ledger.CodeUnavailable, "the store failed and cannot be read until the server is restarted")

// readFailed, deferred by a read, turns a panic of Badger into
// errBrokenRead once the store is broken: a commit that could not create
// Badger's next memtable (no inode or space left for its file) leaves
// Badger without one, and every read then panics inside it. On a store
// not broken a panic goes on as before (the server answers 500).
func (s *Store) readFailed(err *error) {
	if !s.broken.Load() {
		return
	}
	if r := recover(); r != nil {
		*err = errBrokenRead
	}
}

// run is the single writer: it takes every request waiting, applies them
// one after another inside one Badger transaction, and commits them with
// one fsync (group commit).
func (s *Store) run() {
	defer close(s.done)
	batch := make([]*pending, 0, MaxBatchOps)
	quitting := false
	for {
		batch = batch[:0]
		if !quitting {
			select {
			case p := <-s.reqs:
				batch = append(batch, p)
			case <-s.quit:
				// What is queued still commits, in groups as ever.
				quitting = true
			}
		}
	fill:
		for len(batch) < MaxBatchOps {
			select {
			case p := <-s.reqs:
				batch = append(batch, p)
			default:
				break fill
			}
		}
		if len(batch) == 0 {
			return // quitting, and nothing left queued
		}
		s.commitContained(batch)
	}
}

// commitContained commits a batch; a panic inside Badger (its state
// broken by a disk that refused a new file, say) breaks the store — every
// later write is refused until a restart — and fails the batch's
// requests not yet answered, instead of ending the process and the reads
// with it.
func (s *Store) commitContained(batch []*pending) {
	var err error
	defer func() {
		if err == nil {
			return
		}
		for _, p := range batch {
			select {
			case p.done <- outcome{err: errWrite}:
			default: // answered already
			}
		}
	}()
	defer s.contain(&err)
	s.commit(batch)
}

// contain turns a panic in the calling goroutine into *err and breaks the
// store. Use: defer s.contain(&err).
func (s *Store) contain(err *error) {
	if r := recover(); r != nil {
		s.broken.Store(true)
		*err = fmt.Errorf("store: internal failure (the store takes no more writes until restarted): %v", r)
	}
}

// group is the part of a batch sharing one Badger transaction.
type group struct {
	txn    *badger.Txn
	state  head // tentative state after the group's ops
	bytes  int
	staged []*applied // the ops whose writes are in txn, to restage them
	// accounts are the accounts written by the staged ops, latest first
	// to be read; they move to the writer's cache when the group commits.
	accounts map[string]*ledger.Account
	// docs are the document keys the staged ops wrote: the writer's
	// document cache is not used for them, and drops them at the commit.
	docs map[string]bool
	// keys are the staged ops' data-key writes (q/<member>), which go to
	// the key store rather than txn: sets before the commit, deletions
	// after it.
	keys    map[string]write
	decided []*pending
	// outs are the answers of decided, sent once the group is durable:
	// results, and the refusals judged over state the group's staged ops
	// wrote (an account a batch-mate opened, a key it took, its debit).
	outs []outcome
}

func (s *Store) commit(batch []*pending) {
	if full := s.roomOnDisk(); full != nil {
		s.answerReadOnly(batch, full)
		return
	}
	g := s.newGroup()
	for _, p := range batch {
		if s.broken.Load() {
			p.done <- outcome{err: errBroken}
			continue
		}
		o, res, err := s.apply(g, p)
		if err != nil {
			if len(g.staged) == 0 {
				p.done <- outcome{err: err} // judged on committed state only
				continue
			}
			// Judged over writes not yet durable: answered with the group,
			// and as a failed write if the group fails (the caller must
			// not hear "already exists" of what never was).
			g.decided = append(g.decided, p)
			g.outs = append(g.outs, outcome{err: err})
			continue
		}
		if o != nil && g.bytes+o.bytes > MaxBatchBytes && len(g.decided) > 0 {
			// Split: what is applied so far commits first; o read only
			// state that this commit makes durable, so it stays valid
			// unless the commit fails, which breaks the store.
			ok := s.finish(g)
			g = s.newGroup()
			if !ok {
				p.done <- outcome{err: errWrite}
				continue
			}
		}
		if o != nil {
			if err := s.stage(g, o); err != nil {
				p.done <- outcome{err: err}
				continue
			}
		}
		g.decided = append(g.decided, p)
		g.outs = append(g.outs, outcome{res: res})
	}
	s.finish(g)
}

// answerReadOnly runs a batch while the disk is nearly full: a request that
// would write is refused (storage_full), but one that writes nothing still
// gets its answer — bad input its own error, an idempotent retry its
// original result, a start-up check that finds its key in place its value
// — so a server on a full disk starts and keeps answering what it can.
func (s *Store) answerReadOnly(batch []*pending, full error) {
	g := s.newGroup()
	defer g.txn.Discard()
	for _, p := range batch {
		o, res, err := s.apply(g, p)
		switch {
		case err != nil:
			p.done <- outcome{err: err}
		case o != nil && len(o.tx.order) > 0:
			p.done <- outcome{err: full}
		default:
			p.done <- outcome{res: res}
		}
	}
}

func (s *Store) newGroup() *group {
	return &group{txn: s.db.NewTransaction(true), state: s.head, accounts: map[string]*ledger.Account{},
		docs: map[string]bool{}, keys: map[string]write{}}
}

// cachedAccount is the opTx's view of accounts the batch wrote, then of
// committed accounts the writer has cached.
func (s *Store) cachedAccount(g *group, id string) (*ledger.Account, bool) {
	if a, ok := g.accounts[id]; ok {
		return a, true
	}
	a, ok := s.accounts[id]
	return a, ok
}

// remember caches an account read from the database, the committed state
// when neither the op nor its batch wrote it.
func (s *Store) remember(g *group, a *ledger.Account) {
	if _, ok := g.accounts[a.ID]; ok {
		return
	}
	if len(s.accounts) >= maxCachedAccounts {
		clear(s.accounts)
	}
	c := *a
	s.accounts[a.ID] = &c
}

// stageAccounts notes the accounts o wrote as the group's latest, and
// the documents it wrote.
func stageAccounts(g *group, o *applied) {
	for id, a := range o.tx.puts {
		c := a
		g.accounts[id] = &c
	}
	for _, k := range o.tx.order {
		if strings.HasPrefix(k, pDoc) {
			g.docs[k] = true
		}
	}
}

// maxCachedDocs bounds the writer's cache of decoded documents (members:
// about 1 KB each); it is dropped whole when full, like the accounts'.
const maxCachedDocs = 16384

// cachedDoc is the writer's decoded document at key, unless the group
// wrote it.
func (s *Store) cachedDoc(g *group, key string) (any, bool) {
	if g.docs[key] {
		return nil, false
	}
	v, ok := s.docs[key]
	return v, ok
}

// keepDoc caches a document read from the committed state.
func (s *Store) keepDoc(g *group, key string, v any) {
	if g.docs[key] {
		return
	}
	if len(s.docs) >= maxCachedDocs {
		clear(s.docs)
	}
	s.docs[key] = v
}

// stage puts o's writes into the group's transaction. If Badger refuses
// them, the transaction holds part of o: it is replaced by a fresh one
// holding only the ops staged before, so o fails alone.
func (s *Store) stage(g *group, o *applied) error {
	err := flush(g, o)
	if err == nil {
		g.bytes += o.bytes
		g.state = o.next
		g.staged = append(g.staged, o)
		stageAccounts(g, o)
		return nil
	}
	g.txn.Discard()
	g.txn = s.db.NewTransaction(true)
	clear(g.accounts)
	clear(g.keys)
	for _, prev := range g.staged {
		stageAccounts(g, prev)
		if err := flush(g, prev); err != nil {
			s.fail(g)
			g.txn = s.db.NewTransaction(true)
			return errWrite
		}
	}
	if errors.Is(err, badger.ErrTxnTooBig) {
		return ledger.Errorf(ledger.CodeLimitExceeded, "the change is too large for one commit")
	}
	return errWrite
}

// errWrite is what callers see when the disk refuses a batch (full disk,
// I/O error); the cause is internal, the code is stable.
var errWrite = ledger.Errorf(ledger.CodeUnavailable, "the ledger could not write; try again")

// errCommitUnknown is what callers see when Badger's commit of their
// batch fails: the disk may have taken it (the write reached the WAL, its
// fsync failed) or not, so a plain "try again" could pay twice. The
// store is broken until a restart, which shows what the disk kept.
var errCommitUnknown = ledger.Errorf(ledger.CodeUnavailable,
	"the ledger could not confirm this write: the disk failed during its commit, so it may have been made or not; after the server restarts, retry with the same Idempotency-Key (the original answer comes back if it was made) or read before writing again")

// finish commits the group's transaction (one fsync) and answers its
// requests, or fails them all if the commit fails. It reports success.
func (s *Store) finish(g *group) bool {
	defer g.txn.Discard()
	if len(g.decided) == 0 {
		return true
	}
	if g.state != s.head {
		raw, err := json.Marshal(g.state)
		if err == nil {
			err = g.txn.Set([]byte(pHead), raw)
		}
		if err != nil {
			s.fail(g)
			return false // nothing was written; the store is whole
		}
	}
	// New data keys are on disk before the commit that uses them.
	var fresh map[string][]byte
	var erased []string
	for k, w := range g.keys {
		member := k[len(pDataKey):]
		if w.del {
			erased = append(erased, member)
			continue
		}
		if fresh == nil {
			fresh = map[string][]byte{}
		}
		fresh[member] = w.val
	}
	if err := s.keys.put(fresh); err != nil {
		// Nothing was committed, but a key file may be written (a sync of
		// keys/ that failed after its rename): the store stops until a
		// restart, whose open removes the orphan — a later write for the
		// member must not adopt it without its q/<member> in a record.
		s.broken.Store(true)
		s.fail(g)
		return false
	}
	if err := s.commitUncertain(g.txn); err != nil {
		s.uncertain.Store(true)
		s.broken.Store(true)
		s.failWith(g, errCommitUnknown)
		return false
	}
	// An erased member's key goes once the erasure is durable. If the
	// removal fails, the key has no personal data left and the next
	// open removes it (settleKeys).
	_ = s.keys.del(erased)
	if appended := g.state.Size - s.head.Size; appended > 0 {
		// Replays and refusals answered in the group wrote nothing.
		s.stats.commits.Add(1)
		s.stats.requests.Add(appended)
	}
	s.head = g.state
	s.stats.records.Store(g.state.Size)
	if len(s.accounts)+len(g.accounts) > maxCachedAccounts {
		clear(s.accounts)
	}
	for id, a := range g.accounts {
		s.accounts[id] = a
	}
	for k := range g.docs {
		delete(s.docs, k)
	}
	for i, p := range g.decided {
		p.done <- g.outs[i]
	}
	g.decided, g.outs, g.staged = nil, nil, nil
	return true
}

// commitUncertain is commitTxn with a panic inside Badger's commit made an
// error: what the disk took of it is as unknown as after a failed fsync.
func (s *Store) commitUncertain(txn *badger.Txn) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("store: badger panicked in a commit: %v", r)
		}
	}()
	return s.commitTxn(txn)
}

// fail answers every request of the group with errWrite and discards its
// transaction; nothing of it was acknowledged, and the writer state stays
// at the last commit.
func (s *Store) fail(g *group) { s.failWith(g, errWrite) }

// failWith is fail answering err.
func (s *Store) failWith(g *group, err error) {
	for _, p := range g.decided {
		p.done <- outcome{err: err}
	}
	g.decided, g.outs, g.staged, g.bytes = nil, nil, nil, 0
	clear(g.accounts)
	clear(g.keys)
	g.state = s.head
	g.txn.Discard()
}

// flush puts o's writes into the group: data keys aside, the rest into
// its transaction.
func flush(g *group, o *applied) error {
	for _, k := range o.tx.order {
		w := o.tx.writes[k]
		var err error
		switch {
		case isDataKey(k):
			g.keys[k] = w
		case w.del:
			err = g.txn.Delete([]byte(k))
		default:
			err = g.txn.Set([]byte(k), w.val)
		}
		if err != nil {
			return fmt.Errorf("store: stage write: %w", err)
		}
	}
	return nil
}

// applied is an op that succeeded, with its writes and the writer state
// that follows it.
type applied struct {
	tx    *opTx
	bytes int
	next  head
}

// apply runs one request against the group. It returns the op's writes
// (nil for an idempotent replay, which writes nothing) and its result.
func (s *Store) apply(g *group, p *pending) (*applied, ledger.Result, error) {
	base := overlay{g.keys, keyed{badgerKV{g.txn}, s.keys}}
	req := p.req
	var ik []byte
	if req.IdemKey != "" {
		ik = idemKey(req.Actor.ID, req.IdemKey)
		if raw, err := base.get(ik); err == nil {
			var rec idemRecord
			if err := json.Unmarshal(raw, &rec); err != nil {
				return nil, ledger.Result{}, fmt.Errorf("store: idempotency record: %w", err)
			}
			fp, err := s.subjectFingerprint(base, s.keyedFingerprint(req.Fingerprint), rec.Subjects)
			if err != nil {
				return nil, ledger.Result{}, err
			}
			if subtle.ConstantTimeCompare(rec.Fingerprint[:], fp[:]) != 1 {
				return nil, ledger.Result{}, ledger.Errorf(ledger.CodeIdempotencyConflict,
					"this Idempotency-Key was used with a different request")
			}
			return nil, ledger.Result{JSON: rec.Result, Seq: rec.Seq, Replayed: true}, nil
		} else if !errors.Is(err, errNotFound) {
			return nil, ledger.Result{}, err
		}
	}
	st := g.state
	now := s.clock().UTC()
	if last := time.Unix(0, st.LastTime); !now.After(last) {
		now = last.Add(time.Nanosecond).UTC()
	}
	o := newOpTx(base, s.pk, st.Size, now, req.Actor)
	o.head = st
	o.cached = func(id string) (*ledger.Account, bool) {
		if a, ok := s.cachedAccount(g, id); ok {
			return a, true
		}
		a, err := o.reader.Account(id)
		if err != nil {
			return nil, false
		}
		s.remember(g, a)
		return a, true
	}
	o.docs = func(key string) (any, bool) { return s.cachedDoc(g, key) }
	o.keep = func(key string, v any) { s.keepDoc(g, key, v) }
	val, err := runOp(req.Op, o)
	if err != nil {
		return nil, ledger.Result{}, err
	}
	if err := o.checkSize(); err != nil {
		return nil, ledger.Result{}, err
	}
	if o.action == "" {
		if !o.onlyTimerDeletes() {
			return nil, ledger.Result{}, fmt.Errorf("store: op changed state without an audit record")
		}
		return &applied{tx: o, bytes: o.bytes, next: st}, ledger.Result{Value: val}, nil
	}
	res := ledger.Result{Value: val, Seq: st.Size}
	if ik != nil {
		// Written before the record is made: its state lists it.
		if res.JSON, err = encodeJSON(val); err != nil {
			return nil, ledger.Result{}, fmt.Errorf("store: encode result: %w", err)
		}
		// Keyed with the data keys of the people it concerns that have one
		// (a member with no personal data stored has none to destroy).
		var subjects []string
		for _, who := range o.subjects {
			if _, err := s.pk.dataKey(o, who); err == nil {
				subjects = append(subjects, who)
			} else if !ledger.IsCode(err, ledger.CodeNotFound) {
				return nil, ledger.Result{}, err
			}
		}
		fp, err := s.subjectFingerprint(o, s.keyedFingerprint(req.Fingerprint), subjects)
		if err != nil {
			return nil, ledger.Result{}, err
		}
		if err := o.putJSON(ik, idemRecord{Fingerprint: fp, Seq: st.Size, Result: res.JSON, Subjects: subjects}); err != nil {
			return nil, ledger.Result{}, err
		}
	}
	content := map[string]any{}
	for k, v := range o.fields {
		content[k] = v
	}
	if o.stateErr != nil {
		return nil, ledger.Result{}, fmt.Errorf("store: read chained state: %w", o.stateErr)
	}
	if st := o.stateFields(); len(st) > 0 {
		content["state"] = st
	}
	if len(o.effects) > 0 {
		effects := make([]any, len(o.effects))
		for i, e := range o.effects {
			effects[i] = e.Fields()
		}
		content["effects"] = effects
	}
	rec := &audit.Record{Seq: st.Size, Prev: st.Last, Time: now.UnixNano(),
		Actor: req.Actor.ID, OnBehalf: req.Actor.OnBehalf, Action: o.action, Content: content}
	data, err := audit.Encode(rec)
	if err != nil {
		return nil, ledger.Result{}, err
	}
	hashes, err := audit.StoredHashes(int64(st.Size), data, hashReader{o})
	if err != nil {
		return nil, ledger.Result{}, fmt.Errorf("store: tree hashes: %w", err)
	}
	o.set(recordKey(st.Size), data)
	first := audit.StoredHashIndex(0, int64(st.Size))
	for i, h := range hashes {
		o.set(hashKey(first+int64(i)), append([]byte{}, h[:]...))
	}
	// m/head is written once per group, by finish, not by every op.
	next := head{Size: st.Size + 1, Last: audit.LeafHash(data), LastTime: now.UnixNano()}
	return &applied{tx: o, bytes: o.bytes, next: next}, res, nil
}

// runOp runs op, turning a panic into an internal error of this op alone:
// a bug in one workflow must not take down the writer and every request
// waiting on it.
func runOp(op ledger.Op, tx *opTx) (val any, err error) {
	defer func() {
		if r := recover(); r != nil {
			val, err = nil, fmt.Errorf("store: op panicked: %v", r)
		}
	}()
	return op(tx)
}

// hashReader reads stored tree hashes through a kv (the op's overlay, so
// the hashes of earlier records in the same batch are seen).
type hashReader struct{ k kv }

func (h hashReader) ReadHashes(indexes []int64) ([]audit.Hash, error) {
	out := make([]audit.Hash, len(indexes))
	for i, idx := range indexes {
		b, err := h.k.get(hashKey(idx))
		if err != nil {
			return nil, fmt.Errorf("store: tree hash %d: %w", idx, err)
		}
		copy(out[i][:], b)
	}
	return out, nil
}

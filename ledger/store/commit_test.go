package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"tally/ledger"
)

// TestInvariantCheckerCatchesDamage makes sure the checker the other tests
// rely on can fail: a balance changed behind the ledger's back, and a
// record removed, are both caught.
func TestInvariantCheckerCatchesDamage(t *testing.T) {
	s := openTest(t)
	fund(t, s, 500, "alice", "bob")
	mustSubmit(t, s, transferOp(pay("alice", "bob", 200)))
	if _, err := invariants(s.db); err != nil {
		t.Fatalf("healthy store: %v", err)
	}
	damage := func(fn func(*badger.Txn) error) {
		t.Helper()
		if err := s.db.Update(fn); err != nil {
			t.Fatal(err)
		}
		if _, err := invariants(s.db); err == nil {
			t.Fatal("damaged store: invariants passed, want an error")
		}
	}
	var saved []byte
	damage(func(txn *badger.Txn) error {
		item, err := txn.Get(accountKey("bob"))
		if err != nil {
			return err
		}
		saved, _ = item.ValueCopy(nil)
		return txn.Set(accountKey("bob"), []byte(strings.Replace(string(saved), `"credits_posted":200`, `"credits_posted":201`, 1)))
	})
	damage(func(txn *badger.Txn) error {
		if err := txn.Set(accountKey("bob"), saved); err != nil {
			return err
		}
		return txn.Delete(recordKey(1))
	})
}

// TestCommitFailureBreaksStore injects a commit that reaches Badger's
// memtable but reports failure (fsync error after the write): the callers
// get unavailable, and no later write may build on a writer state that no
// longer matches the database, so every later write is refused until the
// store is reopened; the reopened store is whole.
// commitThenFail commits to Badger and then reports a failure, as an
// fsync error after the write reached the WAL does.
func commitThenFail(txn *badger.Txn) error {
	if err := txn.Commit(); err != nil {
		return err
	}
	return errors.New("injected: fsync failed")
}

func TestCommitFailureBreaksStore(t *testing.T) {
	dir := t.TempDir()
	s := openFunded(t, dir)
	s.commitTxn = commitThenFail
	_, err := submit(t, s, transferOp(pay("alice", "bob", 100)))
	wantCode(t, "failed commit", err, ledger.CodeUnavailable)
	// The disk may have kept it (it did here): the caller is not told to
	// simply try again, which would pay twice (review s22c).
	if !strings.Contains(err.Error(), "may have been made or not") || !strings.Contains(err.Error(), "Idempotency-Key") {
		t.Fatalf("a failed commit's answer: %v", err)
	}
	s.commitTxn = (*badger.Txn).Commit
	_, err = submit(t, s, transferOp(pay("alice", "bob", 100)))
	wantCode(t, "write after failed commit", err, ledger.CodeUnavailable)
	if !strings.Contains(err.Error(), "needs a restart") {
		t.Fatalf("a write on the broken store is told %v, not that it needs a restart", err)
	}
	// Only a restart mends it: the store says so, and is not ready.
	if s.Broken() == nil || s.Ready() == nil {
		t.Fatalf("after a failed commit: Broken %v, Ready %v", s.Broken(), s.Ready())
	}
	if _, err := invariants(s.db); err != nil {
		t.Fatalf("after failed commit: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openWith(t, dir, nil)
	checkInvariants(t, s)
	mustSubmit(t, s, transferOp(pay("alice", "bob", 100)))
	checkInvariants(t, s)
}

// TestFailingOpsLeaveBatchMates puts, in one batch, good transfers around
// an op whose key Badger would refuse, an op too large for any batch, an
// op that panics and an op that fails: only those fail, with their own
// codes, and the others commit.
func TestFailingOpsLeaveBatchMates(t *testing.T) {
	s := openTest(t)
	fund(t, s, 1000, "alice", "bob")
	bad := map[string]struct {
		op   ledger.Op
		want ledger.Code
	}{
		"long key": {func(tx ledger.Tx) (any, error) {
			tx.Audit("doc", nil)
			return nil, tx.PutIndex(strings.Repeat("k", 70000), []byte("v"))
		}, ledger.CodeLimitExceeded},
		"too large": {func(tx ledger.Tx) (any, error) {
			tx.Audit("doc", nil)
			for i := range 40 {
				if err := tx.PutDoc("blob", string(rune('a'+i)), strings.Repeat("x", 64<<10)); err != nil {
					return nil, err
				}
			}
			return nil, nil
		}, ledger.CodeLimitExceeded},
		"panic":     {func(tx ledger.Tx) (any, error) { panic("boom") }, ledger.CodeInternal},
		"overdraft": {transferOp(pay("bob", "alice", 100000)), ledger.CodeInsufficientFunds},
	}
	release := gate(t, s)
	var wg sync.WaitGroup
	good := make([]error, 6)
	for i := range good {
		wg.Go(func() { _, good[i] = submit(t, s, transferOp(pay("alice", "bob", 10))) })
	}
	for name, b := range bad {
		wg.Go(func() {
			_, err := submit(t, s, b.op)
			if got := ledger.ErrorCode(err); got != b.want {
				t.Errorf("%s: got %q (%v), want %q", name, got, err, b.want)
			}
		})
	}
	release(len(good) + len(bad))
	wg.Wait()
	for i, err := range good {
		if err != nil {
			t.Fatalf("good transfer %d: %v, want success", i, err)
		}
	}
	if bal, _ := balance(t, s, "bob"); bal != 60 {
		t.Fatalf("bob: got %d, want 60", bal)
	}
	checkInvariants(t, s)
}

// TestBatchSplit commits one batch of requests larger than MaxBatchBytes:
// it is split into several Badger transactions, every request commits,
// sequence numbers stay gap-free, and an idempotent retry in a later part
// of the batch sees its original in an earlier part.
func TestBatchSplit(t *testing.T) {
	s := openTest(t)
	fund(t, s, 100000, "alice", "bob")
	before := headSize(t, s)
	const n = 120 // 120 × 48 KiB ≈ 5.6 MiB: six parts
	release := gate(t, s)
	var wg sync.WaitGroup
	results := make([]ledger.Result, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			op := func(tx ledger.Tx) (any, error) {
				if err := tx.PutDoc("blob", tx.NewID("b"), strings.Repeat("x", 48<<10)); err != nil {
					return nil, err
				}
				return transferOp(pay("alice", "bob", 1))(tx)
			}
			req := ledger.Request{Actor: ledger.Actor{ID: "u"}, Op: op}
			if i%40 == 0 || i%40 == 39 {
				req.IdemKey = "same" // the first and last of each 40 share a key
			}
			results[i], errs[i] = s.Submit(context.Background(), req)
		})
	}
	release(n)
	wg.Wait()
	fresh := 0
	for i, err := range errs {
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if !results[i].Replayed {
			fresh++
		}
	}
	if want := n - 5; fresh != want {
		t.Fatalf("fresh commits: got %d, want %d (5 replays of one key)", fresh, want)
	}
	if got := headSize(t, s); got != before+uint64(fresh) {
		t.Fatalf("head: got %d, want %d", got, before+uint64(fresh))
	}
	checkInvariants(t, s)
}

func headSize(t testing.TB, s *Store) uint64 {
	t.Helper()
	var n uint64
	if err := s.View(context.Background(), func(r ledger.Reader) error {
		n, _ = r.Head()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCommitTimeMonotonic turns the clock back: commit times still rise,
// and the sequence stays gap-free across the failures in between.
func TestCommitTimeMonotonic(t *testing.T) {
	clock := newFakeClock()
	dir := t.TempDir()
	s := openWith(t, dir, clock)
	fund(t, s, 1000, "alice", "bob")
	var times []time.Time
	var seqs []uint64
	for i := range 6 {
		if i%2 == 1 {
			clock.Advance(-time.Hour)
		}
		_, err := submit(t, s, transferOp(pay("bob", "alice", 5000)))
		wantCode(t, "overdraft", err, ledger.CodeInsufficientFunds)
		tr := txOf(t, mustSubmit(t, s, transferOp(pay("alice", "bob", 1))))
		times, seqs = append(times, tr.Time), append(seqs, tr.Seq)
	}
	for i := 1; i < len(times); i++ {
		if !times[i].After(times[i-1]) || seqs[i] != seqs[i-1]+1 {
			t.Fatalf("commit %d: time %v seq %d after time %v seq %d; want later time, next seq", i, times[i], seqs[i], times[i-1], seqs[i-1])
		}
	}
	// And across a restart with the clock far behind.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	clock.Advance(-24 * time.Hour)
	s = openWith(t, dir, clock)
	tr := txOf(t, mustSubmit(t, s, transferOp(pay("alice", "bob", 1))))
	if !tr.Time.After(times[len(times)-1]) || tr.Seq != seqs[len(seqs)-1]+1 {
		t.Fatalf("after reopen: time %v seq %d, want after %v and seq %d", tr.Time, tr.Seq, times[len(times)-1], seqs[len(seqs)-1]+1)
	}
	checkInvariants(t, s)
}

// TestClosedStore refuses writes with unavailable and answers everything
// that was queued before Close.
func TestClosedStore(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	fund(t, s, 1000, "alice", "bob")
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			_, err := submit(t, s, transferOp(pay("alice", "bob", 1)))
			if c := ledger.ErrorCode(err); c != "" && c != ledger.CodeUnavailable {
				t.Errorf("submit during close: got %q, want success or unavailable", c)
			}
		})
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	_, err = submit(t, s, transferOp(pay("alice", "bob", 1)))
	wantCode(t, "after close", err, ledger.CodeUnavailable)
}

// TestNearlyFullDiskRefusesWrites fills the disk (as the writer sees it):
// every write, checkpoints included, is refused with storage_full and
// writes nothing; reads go on; once space is freed, writes resume.
func TestNearlyFullDiskRefusesWrites(t *testing.T) {
	s := openWith(t, t.TempDir(), nil)
	if s.freeSpace == nil {
		t.Fatal("a store on disk must watch its free space")
	}
	if free, err := s.freeSpace(); err != nil || free == 0 {
		t.Fatalf("free space of the test directory: %d, %v", free, err)
	}
	fund(t, s, 1000, "alice", "bob")
	if _, err := s.EnsureCheckpointKey(context.Background(), "test"); err != nil {
		t.Fatal(err)
	}
	keyed := ledger.Request{Actor: ledger.Actor{ID: "t"}, IdemKey: "k1", Fingerprint: sha256.Sum256([]byte("k1")), Op: transferOp(pay("alice", "bob", 10))}
	first, err := s.Submit(context.Background(), keyed)
	if err != nil {
		t.Fatal(err)
	}
	before := checkInvariants(t, s)
	s.freeSpace = func() (uint64, error) { return MinFreeDisk - 1, nil }
	_, err = submit(t, s, transferOp(pay("alice", "bob", 100)))
	wantCode(t, "write on a full disk", err, ledger.CodeStorageFull)
	// What writes nothing is still answered: bad input its own error, a
	// retry its original result, a start-up check its key.
	_, err = submit(t, s, transferOp(pay("alice", "nobody", 100)))
	wantCode(t, "bad input on a full disk", err, ledger.CodeNotFound)
	again, err := s.Submit(context.Background(), keyed)
	if err != nil || !again.Replayed || again.Seq != first.Seq {
		t.Fatalf("retry on a full disk: %+v %v, want the original result", again, err)
	}
	if _, err := s.EnsureCheckpointKey(context.Background(), "test"); err != nil {
		t.Fatalf("start-up key check on a full disk: %v", err)
	}
	if _, err := s.Checkpoint(context.Background()); !ledger.IsCode(err, ledger.CodeStorageFull) {
		t.Errorf("checkpoint on a full disk: %v, want storage_full", err)
	}
	if after := checkInvariants(t, s); after != before {
		t.Fatalf("records %d → %d on a full disk", before, after)
	}
	if bal, _ := balance(t, s, "alice"); bal != 990 {
		t.Fatalf("alice %d after a refused write, want 990", bal)
	}
	// A statfs that fails does not stop the ledger.
	s.freeSpace = func() (uint64, error) { return 0, errors.New("injected: statfs failed") }
	mustSubmit(t, s, transferOp(pay("alice", "bob", 100)))
	s.freeSpace = func() (uint64, error) { return MinFreeDisk, nil }
	mustSubmit(t, s, transferOp(pay("alice", "bob", 100)))
	if bal, _ := balance(t, s, "alice"); bal != 790 {
		t.Fatalf("alice %d after space was freed, want 790", bal)
	}
	checkInvariants(t, s)
}

// TestPanicInCommitBreaksStoreNotProcess: a panic inside Badger's commit
// (its state broken by a disk that refused a new file) fails the batch's
// requests with unavailable and breaks the store — later writes refused
// until a restart — instead of ending the process. What Badger took of
// the batch is unknown, so reads answer unavailable too until the restart
// (TestUncertainCommitShowsAndSignsNothing), which shows what was kept.
func TestPanicInCommitBreaksStoreNotProcess(t *testing.T) {
	s := openTest(t)
	fund(t, s, 1000, "alice", "bob")
	s.commitTxn = func(*badger.Txn) error { panic("injected: Badger's memtable is nil") }
	_, err := submit(t, s, transferOp(pay("alice", "bob", 100)))
	wantCode(t, "commit that panicked", err, ledger.CodeUnavailable)
	s.commitTxn = (*badger.Txn).Commit
	_, err = submit(t, s, transferOp(pay("alice", "bob", 100)))
	wantCode(t, "write after the panic", err, ledger.CodeUnavailable)
	err = s.View(context.Background(), func(r ledger.Reader) error { _, err := r.Account("alice"); return err })
	wantCode(t, "read after the panic", err, ledger.CodeUnavailable)
}

// TestFewInodesRefuseWrites: a filesystem out of files (inodes) with bytes
// to spare refuses writes with storage_full as a full disk does, and
// writes nothing — without the reserve Badger could not create its next
// memtable file and broke; files freed, writes resume.
func TestFewInodesRefuseWrites(t *testing.T) {
	s := openWith(t, t.TempDir(), nil)
	if s.freeInodes == nil {
		t.Fatal("a store on disk must watch its free files")
	}
	if free, err := s.freeInodes(); err != nil || free == 0 {
		t.Fatalf("free files of the test directory: %d, %v", free, err)
	}
	fund(t, s, 1000, "alice", "bob")
	before := checkInvariants(t, s)
	s.freeInodes = func() (uint64, error) { return MinFreeInodes - 1, nil }
	_, err := submit(t, s, transferOp(pay("alice", "bob", 100)))
	wantCode(t, "write with few inodes", err, ledger.CodeStorageFull)
	if !strings.Contains(err.Error(), "inodes") {
		t.Fatalf("a refusal for want of files does not say so: %v", err)
	}
	if after := checkInvariants(t, s); after != before {
		t.Fatalf("records %d → %d with few inodes", before, after)
	}
	s.freeInodes = func() (uint64, error) { return MinFreeInodes, nil }
	mustSubmit(t, s, transferOp(pay("alice", "bob", 100)))
	if bal, _ := balance(t, s, "alice"); bal != 900 {
		t.Fatalf("alice %d after files were freed, want 900", bal)
	}
}

// TestBrokenStoreReadsAnswerUnavailable: once the store is broken, a read
// that panics inside Badger (left without a memtable by a file it could
// not create) answers unavailable instead of a panic (a 500 on every
// login, checkpoint and public page); on a store not broken a panic is
// not hidden.
func TestBrokenStoreReadsAnswerUnavailable(t *testing.T) {
	s := openTest(t)
	boom := func(ledger.Reader) error { panic("injected: Badger's memtable is nil") }
	func() {
		defer func() {
			if recover() == nil {
				t.Error("a panic in a read of a sound store was hidden")
			}
		}()
		s.View(context.Background(), boom)
	}()
	s.broken.Store(true)
	if err := s.View(context.Background(), boom); !ledger.IsCode(err, ledger.CodeUnavailable) {
		t.Fatalf("a read of a broken store: %v, want unavailable", err)
	}
	a := s.Audit()
	if err := a.view(func(badgerKV) error { panic("injected") }); !ledger.IsCode(err, ledger.CodeUnavailable) {
		t.Fatalf("an audit read of a broken store: %v, want unavailable", err)
	}
	if n := s.FireTimers(context.Background()); n != 0 {
		t.Fatalf("a broken store fired %d timers", n)
	}
	if n := s.FailingTimers(); n != 0 {
		t.Fatalf("failing timers %d", n)
	}
}

// TestRefusalsAnsweredWithTheirBatch: a request refused because of what a
// batch-mate wrote (the account it opened, the idempotency key it took)
// is answered with the batch: when the batch's commit fails, the refusal
// never stood, and the caller hears the failed write, not "already
// exists" of an account that never was (review s22c).
func TestRefusalsAnsweredWithTheirBatch(t *testing.T) {
	dir := t.TempDir()
	s := openFunded(t, dir)
	ctx := context.Background()
	release := gate(t, s)
	calls := 0
	s.commitTxn = func(txn *badger.Txn) error {
		if calls++; calls == 1 { // the gate's own batch
			return txn.Commit()
		}
		return errors.New("injected: the disk refused the commit")
	}
	open := openOp(ledger.AccountSpec{ID: "carol", Unit: ledger.HOUR, Guard: ledger.GuardNoOverdraft})
	reqs := []ledger.Request{
		{Actor: ledger.Actor{ID: "admin"}, Op: open},
		{Actor: ledger.Actor{ID: "admin"}, Op: open},
		idemReq("alice", "K", "pay 1", transferOp(pay("alice", "bob", 1))),
		idemReq("alice", "K", "pay 2", transferOp(pay("alice", "bob", 2))),
	}
	errs := make([]error, len(reqs))
	var wg sync.WaitGroup
	for i, req := range reqs {
		n := len(s.reqs)
		wg.Go(func() { _, errs[i] = s.Submit(ctx, req) })
		for len(s.reqs) == n { // queued in this order
			runtime.Gosched()
		}
	}
	release(len(reqs))
	wg.Wait()
	for i, err := range errs {
		wantCode(t, fmt.Sprintf("request %d of the failed batch", i), err, ledger.CodeUnavailable)
	}
	s.commitTxn = (*badger.Txn).Commit
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openWith(t, dir, nil)
	mustSubmit(t, s, open)
	if _, err := s.Submit(ctx, idemReq("alice", "K", "pay 2", transferOp(pay("alice", "bob", 2)))); err != nil {
		t.Fatalf("the key no write took: %v", err)
	}
}

// TestCloseCommitsQueueInGroups: requests still queued when the store
// closes are committed in groups, as ever, not one fsync each (review
// s22c: 200 queued transfers took 200 commits at a stop).
func TestCloseCommitsQueueInGroups(t *testing.T) {
	const queued = 200
	for range 4 { // the writer sees the queue or the stop first, at random
		s, err := Open(t.TempDir(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		fund(t, s, 100000, "alice", "bob")
		before := s.Stats().Commits
		release := gate(t, s)
		var wg sync.WaitGroup
		for range queued {
			wg.Go(func() { submit(t, s, transferOp(pay("alice", "bob", 1))) })
		}
		for len(s.reqs) < queued {
			runtime.Gosched()
		}
		closed := make(chan error, 1)
		go func() { closed <- s.Close() }()
		for stopping := false; !stopping; {
			select {
			case <-s.quit:
				stopping = true
			default:
				runtime.Gosched()
			}
		}
		release(0)
		wg.Wait()
		if err := <-closed; err != nil {
			t.Fatal(err)
		}
		if n := s.Stats().Commits - before; n > 3 {
			t.Fatalf("%d queued transfers at a stop took %d commits", queued, n)
		}
	}
}

// TestCommitPanicIsUncertain: Badger panicking inside its commit leaves
// the outcome as unknown as a failed fsync: the callers are told so, not
// "try again" (review s22R).
func TestCommitPanicIsUncertain(t *testing.T) {
	s := openTest(t)
	fund(t, s, 1000, "alice", "bob")
	s.commitTxn = func(txn *badger.Txn) error { panic("injected: badger broke in its commit") }
	_, err := submit(t, s, transferOp(pay("alice", "bob", 100)))
	wantCode(t, "panicking commit", err, ledger.CodeUnavailable)
	if !strings.Contains(err.Error(), "may have been made or not") || s.Broken() == nil {
		t.Fatalf("a panicking commit: %v (broken: %v)", err, s.Broken())
	}
}

// TestUncertainCommitShowsAndSignsNothing: after a commit whose outcome is
// unknown (Badger's memory holds the batch, the disk may not), the store
// signs no checkpoint over it and shows it in no read — a signed
// checkpoint of a record the disk then lost is a provable fork (probe
// s22e: the checkpointer signed it within a second) — until a restart
// reads what the disk kept.
func TestUncertainCommitShowsAndSignsNothing(t *testing.T) {
	dir, ctx := t.TempDir(), context.Background()
	s := openFunded(t, dir)
	if _, err := s.EnsureCheckpointKey(ctx, ""); err != nil {
		t.Fatal(err)
	}
	signed, err := s.Checkpoint(ctx)
	if err != nil || signed == 0 {
		t.Fatalf("checkpoint: %d %v", signed, err)
	}
	s.commitTxn = commitThenFail
	_, err = submit(t, s, transferOp(pay("alice", "bob", 100)))
	wantCode(t, "failed commit", err, ledger.CodeUnavailable)
	if n, err := s.Checkpoint(ctx); n != 0 || err != nil {
		t.Fatalf("a checkpoint after an uncertain commit: signed %d (%v)", n, err)
	}
	err = s.View(ctx, func(r ledger.Reader) error { _, err := r.Account("bob"); return err })
	wantCode(t, "a read after an uncertain commit", err, ledger.CodeUnavailable)
	_, _, err = s.Audit().Records(0, 10)
	wantCode(t, "the log after an uncertain commit", err, ledger.CodeUnavailable)
	s.commitTxn = (*badger.Txn).Commit
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openWith(t, dir, nil)
	if n, err := s.Checkpoint(ctx); err != nil || n <= signed {
		t.Fatalf("the restart signs what the disk kept: %d %v (before: %d)", n, err, signed)
	}
}

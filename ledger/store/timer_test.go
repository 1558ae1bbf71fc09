package store

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"tally/ledger"
)

func timerCount(t testing.TB, s *Store) int {
	t.Helper()
	n := 0
	if err := s.db.View(func(txn *badger.Txn) error {
		return badgerKV{txn}.scan([]byte(pTimer), nil, false, func(_, _ []byte) (bool, error) { n++; return true, nil })
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

func txByID(t testing.TB, s *Store, id string) *ledger.Transaction {
	t.Helper()
	var tr *ledger.Transaction
	if err := s.View(context.Background(), func(r ledger.Reader) error {
		var err error
		tr, err = r.Transaction(id)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestHoldExpiry drives hold timeouts with an injected clock and
// FireTimers: nothing expires early, a hold cannot be posted at its
// deadline, expiry voids it exactly once, and settled holds leave no timer.
func TestHoldExpiry(t *testing.T) {
	clock := newFakeClock()
	s := openWith(t, t.TempDir(), clock)
	ctx := context.Background()
	fund(t, s, 1000, "alice", "bob")
	hold := func(amt int64, timeout time.Duration) *ledger.Transaction {
		sp := pay("alice", "bob", amt)
		sp.Pending, sp.Timeout = true, timeout
		return txOf(t, mustSubmit(t, s, transferOp(sp)))
	}
	a, b, c := hold(100, time.Hour), hold(200, time.Hour), hold(300, 2*time.Hour)
	posted := hold(50, time.Hour)
	mustSubmit(t, s, postOp(posted.ID, nil))
	if n := timerCount(t, s); n != 3 {
		t.Fatalf("timers after one hold posted: got %d, want 3", n)
	}
	if _, avail := balance(t, s, "alice"); avail != 1000-50-600 {
		t.Fatalf("alice available: got %d, want %d", avail, 1000-50-600)
	}

	// Commit times of a stopped clock advance by a nanosecond per commit,
	// so each hold has its own deadline; the clock is set to them exactly.
	clock.Set(a.Deadline.Add(-time.Nanosecond))
	if n := s.FireTimers(ctx); n != 0 {
		t.Fatalf("just before the deadline: fired %d, want 0", n)
	}
	clock.Set(a.Deadline)
	_, err := submit(t, s, postOp(a.ID, nil))
	wantCode(t, "post at the deadline", err, ledger.CodeHoldExpired)
	_, err = submit(t, s, func(tx ledger.Tx) (any, error) { return ledger.VoidBeforeDeadline(tx, a.ID, "") })
	wantCode(t, "a caller's void at the deadline", err, ledger.CodeHoldExpired)
	clock.Set(b.Deadline)
	if n := s.FireTimers(ctx); n != 2 {
		t.Fatalf("at the deadline: fired %d, want 2", n)
	}
	for _, h := range []*ledger.Transaction{a, b} {
		got := txByID(t, s, h.ID)
		if got.Status != ledger.TxVoided || got.ResolvedBy == "" {
			t.Fatalf("hold %s after expiry: status %s resolved_by %q, want voided", h.ID, got.Status, got.ResolvedBy)
		}
		if r := txByID(t, s, got.ResolvedBy); r.Kind != "void" || r.Actor != ledger.SystemActor.ID {
			t.Fatalf("expiry of %s: kind %s actor %s, want a void by the system", h.ID, r.Kind, r.Actor)
		}
	}
	if n := s.FireTimers(ctx); n != 0 {
		t.Fatalf("firing again: fired %d, want 0", n)
	}
	_, err = submit(t, s, voidOp(a.ID))
	wantCode(t, "void after expiry", err, ledger.CodeNotPending)
	_, err = submit(t, s, func(tx ledger.Tx) (any, error) { return ledger.VoidBeforeDeadline(tx, a.ID, "") })
	wantCode(t, "a caller's void after the ledger voided it", err, ledger.CodeHoldExpired)
	_, err = submit(t, s, postOp(a.ID, nil))
	wantCode(t, "post after the ledger voided it", err, ledger.CodeHoldExpired)
	d := hold(10, time.Hour)
	mustSubmit(t, s, voidOp(d.ID))
	_, err = submit(t, s, postOp(d.ID, nil))
	wantCode(t, "post after a caller's void", err, ledger.CodeNotPending)
	if got := txByID(t, s, c.ID); got.Status != ledger.TxPending {
		t.Fatalf("later hold: status %s, want pending", got.Status)
	}
	clock.Set(c.Deadline)
	if n := s.FireTimers(ctx); n != 1 {
		t.Fatalf("second deadline: fired %d, want 1", n)
	}
	if n := timerCount(t, s); n != 0 {
		t.Fatalf("timers left: got %d, want 0", n)
	}
	if bal, avail := balance(t, s, "alice"); bal != 950 || avail != 950 {
		t.Fatalf("alice: balance %d available %d, want 950 950", bal, avail)
	}
	checkInvariants(t, s)
	checkHolds(t, s)
}

// TestExpiryRacesSettlement fires many due holds while posts and voids of
// the same holds race them: each hold is settled exactly once.
func TestExpiryRacesSettlement(t *testing.T) {
	clock := newFakeClock()
	s := openWith(t, t.TempDir(), clock)
	fund(t, s, 100000, "alice", "bob")
	var ids []string
	for range 100 {
		sp := pay("alice", "bob", 10)
		sp.Pending, sp.Timeout = true, time.Hour
		ids = append(ids, txOf(t, mustSubmit(t, s, transferOp(sp))).ID)
	}
	clock.Advance(time.Hour)
	done := make(chan struct{})
	go func() { s.FireTimers(context.Background()); close(done) }()
	for i, id := range ids {
		op := voidOp(id)
		if i%2 == 0 {
			op = postOp(id, nil)
		}
		_, err := submit(t, s, op)
		if c := ledger.ErrorCode(err); c != "" && c != ledger.CodeNotPending && c != ledger.CodeHoldExpired {
			t.Fatalf("settle %s: got %q, want success, not_pending or hold_expired", id, c)
		}
	}
	<-done
	s.FireTimers(context.Background())
	checkInvariants(t, s)
	if n := checkHolds(t, s); n != 0 {
		t.Fatalf("pending holds: got %d, want 0", n)
	}
}

// TestVerifyLogRestoresHoldTimers: a hold whose expiry timer was deleted
// from the data directory (timers are not chained) gets it back when the
// stored log is verified at a start, so the ledger still voids it (found
// by an outside probe: the hold stayed pending for good).
func TestVerifyLogRestoresHoldTimers(t *testing.T) {
	clock := newFakeClock()
	s := openWith(t, t.TempDir(), clock)
	ctx := context.Background()
	fund(t, s, 1000, "alice", "bob")
	sp := pay("alice", "bob", 100)
	sp.Pending, sp.Timeout = true, time.Hour
	h := txOf(t, mustSubmit(t, s, transferOp(sp)))
	if err := s.db.Update(func(txn *badger.Txn) error {
		return txn.Delete(timerKey(h.Deadline, ledger.ExpiryKindHold, h.ID))
	}); err != nil {
		t.Fatal(err)
	}
	if n := timerCount(t, s); n != 0 {
		t.Fatalf("timers after the deletion: %d", n)
	}
	s.HoldWrites()
	if _, err := s.VerifyLog(ctx); err != nil {
		t.Fatal(err)
	}
	if n := timerCount(t, s); n != 1 {
		t.Fatalf("timers after verifying: %d, want the hold's back", n)
	}
	clock.Set(h.Deadline)
	if n := s.FireTimers(ctx); n != 1 {
		t.Fatalf("at the deadline: fired %d, want 1", n)
	}
	if got := txByID(t, s, h.ID); got.Status != ledger.TxVoided {
		t.Fatalf("the hold after its deadline: %s, want voided", got.Status)
	}
	checkInvariants(t, s)
}

// TestFailingTimersDoNotStarveOthers: more due timers than a tick fires,
// all of whose ops fail (a held credit to a frozen account, say), must not
// keep a later hold from expiring: a failing timer is put off with a
// growing delay, and tried again when it is due.
func TestFailingTimersDoNotStarveOthers(t *testing.T) {
	clock := newFakeClock()
	s := openWith(t, t.TempDir(), clock)
	ctx := context.Background()
	fund(t, s, 1000, "alice", "bob")
	var tries atomic.Int64
	var broken atomic.Bool
	broken.Store(true)
	s.OnTimer("test.fail", func(id string, at time.Time) ledger.Op {
		return func(tx ledger.Tx) (any, error) {
			tries.Add(1)
			if broken.Load() {
				return nil, ledger.Errorf(ledger.CodeAccountFrozen, "frozen")
			}
			tx.Audit("test.done", map[string]any{"id": id})
			return nil, tx.Unschedule(at, "test.fail", id)
		}
	})
	const failing = maxTimersPerTick + 200
	mustSubmit(t, s, func(tx ledger.Tx) (any, error) {
		tx.Audit("test.schedule", nil)
		for i := range failing {
			if err := tx.Schedule(clock.Now().Add(-time.Hour), "test.fail", fmt.Sprintf("f%05d", i)); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
	sp := pay("alice", "bob", 100)
	sp.Pending, sp.Timeout = true, time.Second
	h := txOf(t, mustSubmit(t, s, transferOp(sp)))
	clock.Set(h.Deadline.Add(time.Millisecond))
	s.FireTimers(ctx) // the first maxTimersPerTick failing ones fail
	clock.Advance(time.Millisecond)
	s.FireTimers(ctx) // those are put off: the rest fail, the hold expires
	if got := txByID(t, s, h.ID); got.Status != ledger.TxVoided {
		t.Fatalf("a hold behind %d failing timers: %s after two ticks, want voided", failing, got.Status)
	}
	if n := s.FailingTimers(); n != failing {
		t.Fatalf("failing timers: %d, want %d", n, failing)
	}
	// Not tried again before their delay; then done once they work.
	before := tries.Load()
	s.FireTimers(ctx)
	if tries.Load() != before {
		t.Fatalf("failing timers tried again before their delay: %d tries", tries.Load()-before)
	}
	// Their retries fall due: a hold due now fires first, not after them.
	clock.Advance(TimerRetryMin)
	h2 := txOf(t, mustSubmit(t, s, transferOp(sp)))
	clock.Set(h2.Deadline.Add(time.Millisecond))
	s.FireTimers(ctx)
	if got := txByID(t, s, h2.ID); got.Status != ledger.TxVoided {
		t.Fatalf("a hold due beside %d failing timers due for a retry: %s after one tick, want voided", failing, got.Status)
	}
	broken.Store(false)
	for range 2 {
		clock.Advance(TimerRetryMin)
		s.FireTimers(ctx)
	}
	if n, left := s.FailingTimers(), timerCount(t, s); n != 0 || left != 0 {
		t.Fatalf("after the retry delay: %d failing, %d timers left", n, left)
	}
}

package timebank

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"tally/ledger"
	"tally/ledger/store"
)

// TestBalanceAtReadsTheLineBefore: the balance of an account at a past
// instant is the balance its last line before it states, found without
// walking what came after (a budget of zero would refuse any walk), and
// it equals the sum of the posted lines up to then, for random instants
// between, on and around the lines' times, holds and releases included.
func TestBalanceAtReadsTheLineBefore(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	st, err := store.Open("", store.Options{InMemory: true, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	submit := func(op func(tx ledger.Tx) (any, error)) any {
		t.Helper()
		res, err := st.Submit(context.Background(), ledger.Request{Actor: ledger.Actor{ID: "admin"}, Op: func(tx ledger.Tx) (any, error) {
			v, err := op(tx)
			if t, ok := v.(*ledger.Transaction); ok && err == nil {
				tx.Audit("tx."+t.Kind, ledger.TxFields(t))
			} else if err == nil {
				tx.Audit("account.open", nil)
			}
			return v, err
		}})
		if err != nil {
			t.Fatal(err)
		}
		return res.Value
	}
	for _, id := range []string{"src", "dst"} {
		submit(func(tx ledger.Tx) (any, error) {
			return ledger.OpenAccount(tx, ledger.AccountSpec{ID: id, Unit: ledger.HOUR, OwnerKind: ledger.OwnerCommunity, Owner: "c", Guard: ledger.GuardNone})
		})
	}
	r := rand.New(rand.NewPCG(1, 2))
	type point struct {
		at  time.Time
		bal int64 // dst's posted balance from at on
	}
	var points []point
	var bal int64
	for i := range 300 {
		mu.Lock()
		now = now.Add(time.Duration(r.IntN(3)) * time.Hour) // some lines share an instant
		mu.Unlock()
		amt := int64(1 + r.IntN(500))
		pending := i%5 == 0
		tr := submit(func(tx ledger.Tx) (any, error) {
			return ledger.Transfer(tx, ledger.TransferSpec{Postings: []ledger.Posting{{From: "src", To: "dst", Amount: amt, Unit: ledger.HOUR}}, Pending: pending})
		}).(*ledger.Transaction)
		// Each commit has its own time (the store keeps them apart when
		// the clock stands still): a point is the balance from then on.
		if !pending {
			bal += amt
		}
		points = append(points, point{tr.Time, bal})
		if pending {
			var res *ledger.Transaction
			if r.IntN(2) == 0 {
				res = submit(func(tx ledger.Tx) (any, error) { return ledger.VoidPending(tx, tr.ID, "") }).(*ledger.Transaction)
			} else {
				res = submit(func(tx ledger.Tx) (any, error) { return ledger.PostPending(tx, tr.ID, nil, "") }).(*ledger.Transaction)
				bal += amt
			}
			points = append(points, point{res.Time, bal})
		}
	}
	err = st.View(context.Background(), func(rd ledger.Reader) error {
		a, err := rd.Account("dst")
		if err != nil {
			return err
		}
		want := func(end time.Time) int64 {
			var b int64
			for _, p := range points {
				if p.at.Before(end) {
					b = p.bal
				}
			}
			return b
		}
		ends := []time.Time{points[0].at.Add(-time.Hour), points[0].at, points[len(points)-1].at.Add(time.Hour)}
		for _, p := range points {
			ends = append(ends, p.at, p.at.Add(time.Nanosecond), p.at.Add(-time.Nanosecond))
		}
		for _, end := range ends {
			budget := 0
			got, err := balanceAt(rd, a, end, &budget)
			if err != nil {
				t.Fatalf("balance at %s: %v (a walk was needed)", end, err)
			}
			if got != want(end) {
				t.Fatalf("balance at %s: %d, want %d", end, got, want(end))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

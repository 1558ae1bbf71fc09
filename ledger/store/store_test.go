package store

import (
	"context"
	"runtime"
	"testing"

	"tally/ledger"
)

func openTest(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func submit(t *testing.T, s *Store, op ledger.Op) (ledger.Result, error) {
	t.Helper()
	return s.Submit(context.Background(), ledger.Request{Actor: ledger.Actor{ID: "admin"}, Op: op})
}

func openOp(specs ...ledger.AccountSpec) ledger.Op {
	return func(tx ledger.Tx) (any, error) {
		for _, sp := range specs {
			if _, err := ledger.OpenAccount(tx, sp); err != nil {
				return nil, err
			}
		}
		tx.Audit("account.open", map[string]any{"count": len(specs)})
		return nil, nil
	}
}

func transferOp(s ledger.TransferSpec) ledger.Op {
	return func(tx ledger.Tx) (any, error) {
		t, err := ledger.Transfer(tx, s)
		if err != nil {
			return nil, err
		}
		tx.Audit("tx.transfer", ledger.TxFields(t))
		return t, nil
	}
}

func balance(t *testing.T, s *Store, id string) (bal, avail int64) {
	t.Helper()
	err := s.View(context.Background(), func(r ledger.Reader) error {
		a, err := r.Account(id)
		if err != nil {
			return err
		}
		bal, avail = a.Balance(), a.Available()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return
}

func TestTransferHoldPostVoid(t *testing.T) {
	s := openTest(t)
	if _, err := submit(t, s, openOp(
		ledger.AccountSpec{ID: "issuance", Unit: ledger.HOUR, Guard: ledger.GuardNone},
		ledger.AccountSpec{ID: "alice", Unit: ledger.HOUR, Guard: ledger.GuardNoOverdraft},
		ledger.AccountSpec{ID: "bob", Unit: ledger.HOUR, Guard: ledger.GuardNoOverdraft},
	)); err != nil {
		t.Fatal(err)
	}
	if _, err := submit(t, s, transferOp(ledger.TransferSpec{Postings: []ledger.Posting{{From: "issuance", To: "alice", Amount: 500, Unit: ledger.HOUR}}})); err != nil {
		t.Fatal(err)
	}
	_, err := submit(t, s, transferOp(ledger.TransferSpec{Postings: []ledger.Posting{{From: "alice", To: "bob", Amount: 501, Unit: ledger.HOUR}}}))
	if got := ledger.ErrorCode(err); got != ledger.CodeInsufficientFunds {
		t.Fatalf("overdraft: got %q, want insufficient_funds", got)
	}
	res, err := submit(t, s, transferOp(ledger.TransferSpec{Pending: true, Postings: []ledger.Posting{{From: "alice", To: "bob", Amount: 300, Unit: ledger.HOUR}}}))
	if err != nil {
		t.Fatal(err)
	}
	hold := res.Value.(*ledger.Transaction)
	if bal, avail := balance(t, s, "alice"); bal != 500 || avail != 200 {
		t.Fatalf("after hold: balance %d available %d, want 500 200", bal, avail)
	}
	amt := int64(100)
	if _, err := submit(t, s, postOp(hold.ID, &amt)); err != nil {
		t.Fatal(err)
	}
	if bal, avail := balance(t, s, "alice"); bal != 400 || avail != 400 {
		t.Fatalf("after partial post: balance %d available %d, want 400 400", bal, avail)
	}
	if bal, _ := balance(t, s, "bob"); bal != 100 {
		t.Fatalf("bob: balance %d, want 100", bal)
	}
	_, err = submit(t, s, func(tx ledger.Tx) (any, error) { return ledger.VoidPending(tx, hold.ID, "") })
	if got := ledger.ErrorCode(err); got != ledger.CodeNotPending {
		t.Fatalf("void after post: got %q, want not_pending", got)
	}
	var entries []ledger.Entry
	s.View(context.Background(), func(r ledger.Reader) error {
		entries, _, err = r.Entries("alice", ledger.Page{})
		return err
	})
	if len(entries) != 4 {
		t.Fatalf("alice history: %d entries, want 4 (credit, hold, release, post): %+v", len(entries), entries)
	}
}

// openWith opens a store in dir with an injected clock (nil: wall time).
func openWith(t testing.TB, dir string, c *fakeClock) *Store {
	t.Helper()
	opt := Options{}
	if c != nil {
		opt.Clock = c.Now
	}
	s, err := Open(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustSubmit(t testing.TB, s *Store, op ledger.Op) ledger.Result {
	t.Helper()
	res, err := s.Submit(context.Background(), ledger.Request{Actor: ledger.Actor{ID: "admin"}, Op: op})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	return res
}

func wantCode(t testing.TB, what string, err error, want ledger.Code) {
	t.Helper()
	if got := ledger.ErrorCode(err); got != want {
		t.Fatalf("%s: got code %q (%v), want %q", what, got, err, want)
	}
}

func pay(from, to string, amt int64) ledger.TransferSpec {
	return ledger.TransferSpec{Postings: []ledger.Posting{{From: from, To: to, Amount: amt, Unit: ledger.HOUR}}}
}

func postOp(id string, amt *int64) ledger.Op {
	return func(tx ledger.Tx) (any, error) {
		r, err := ledger.PostPending(tx, id, amt, "")
		if err != nil {
			return nil, err
		}
		tx.Audit("tx.post", ledger.TxFields(r))
		return r, nil
	}
}

func voidOp(id string) ledger.Op {
	return func(tx ledger.Tx) (any, error) {
		r, err := ledger.VoidPending(tx, id, "")
		if err != nil {
			return nil, err
		}
		tx.Audit("tx.void", ledger.TxFields(r))
		return r, nil
	}
}

func reverseOp(id string) ledger.Op {
	return func(tx ledger.Tx) (any, error) {
		r, err := ledger.Reverse(tx, id, "entered twice")
		if err != nil {
			return nil, err
		}
		tx.Audit("tx.reverse", ledger.TxFields(r))
		return r, nil
	}
}

// gate holds the writer inside an op so that the requests submitted
// meanwhile queue up and are then taken as one batch. It returns a
// function that waits until n requests are queued and lets the writer go.
func gate(t testing.TB, s *Store) (release func(n int)) {
	t.Helper()
	in, out := make(chan struct{}), make(chan struct{})
	go s.Submit(context.Background(), ledger.Request{Actor: ledger.Actor{ID: "gate"}, Op: func(ledger.Tx) (any, error) {
		close(in)
		<-out
		return nil, nil
	}})
	<-in
	return func(n int) {
		for len(s.reqs) < n {
			runtime.Gosched()
		}
		close(out)
	}
}

func txOf(t testing.TB, res ledger.Result) *ledger.Transaction {
	t.Helper()
	tr, ok := res.Value.(*ledger.Transaction)
	if !ok {
		t.Fatalf("result is %T, want *ledger.Transaction", res.Value)
	}
	return tr
}

// TestPostMultiPostingHoldWithItsTotal: an amount equal to the whole of a
// multi-posting hold posts it in full; any other amount is still refused
// (partial posts are for single-posting holds).
func TestPostMultiPostingHoldWithItsTotal(t *testing.T) {
	s := openTest(t)
	if _, err := submit(t, s, openOp(
		ledger.AccountSpec{ID: "issuance", Unit: ledger.HOUR, Guard: ledger.GuardNone},
		ledger.AccountSpec{ID: "alice", Unit: ledger.HOUR, Guard: ledger.GuardNoOverdraft},
		ledger.AccountSpec{ID: "bob", Unit: ledger.HOUR, Guard: ledger.GuardNoOverdraft},
		ledger.AccountSpec{ID: "carol", Unit: ledger.HOUR, Guard: ledger.GuardNoOverdraft},
	)); err != nil {
		t.Fatal(err)
	}
	if _, err := submit(t, s, transferOp(ledger.TransferSpec{Postings: []ledger.Posting{{From: "issuance", To: "alice", Amount: 500, Unit: ledger.HOUR}}})); err != nil {
		t.Fatal(err)
	}
	res, err := submit(t, s, transferOp(ledger.TransferSpec{Pending: true, Postings: []ledger.Posting{
		{From: "alice", To: "bob", Amount: 100, Unit: ledger.HOUR}, {From: "alice", To: "carol", Amount: 50, Unit: ledger.HOUR}}}))
	if err != nil {
		t.Fatal(err)
	}
	hold := res.Value.(*ledger.Transaction)
	post := func(amt int64) error {
		_, err := submit(t, s, postOp(hold.ID, &amt))
		return err
	}
	if err := post(120); ledger.ErrorCode(err) != ledger.CodeInvalidRequest {
		t.Fatalf("a part of a multi-posting hold: %v, want invalid_request", err)
	}
	if err := post(150); err != nil {
		t.Fatalf("the whole of a multi-posting hold: %v", err)
	}
	for id, want := range map[string]int64{"alice": 350, "bob": 100, "carol": 50} {
		if bal, avail := balance(t, s, id); bal != want || avail != want {
			t.Errorf("%s: balance %d available %d, want %d", id, bal, avail, want)
		}
	}
}

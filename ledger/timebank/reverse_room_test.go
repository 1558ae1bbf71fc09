package timebank_test

import (
	"testing"

	"tally/ledger"
	"tally/ledger/community"
	"tally/ledger/timebank"
)

// TestReverseMovePassThroughRoom (review s27h): what a reversal's earlier
// leg takes from a member is room for a later leg to give back; no workflow's
// transaction has that shape today (ReverseMove is called directly on a
// raw one here); before, the member lost to the pool what fitted.
func TestReverseMovePassThroughRoom(t *testing.T) {
	e := newEnv(t)
	e.community("c1", "", community.Policy{Earning: community.EarningDeposit, MaxBalance: 200})
	e.member("li", "c1", nil, nil, community.RoleResident)
	e.member("x", "c1", nil, nil, community.RoleResident)
	e.member("y", "c1", nil, nil, community.RoleResident)
	raw := func(ps ...ledger.Posting) string {
		return e.must("admin", func(tx ledger.Tx) (any, error) {
			r, err := ledger.Transfer(tx, ledger.TransferSpec{Postings: ps})
			if err == nil {
				tx.Audit("tx.transfer", ledger.TxFields(r))
			}
			return r, err
		}).(*ledger.Transaction).ID
	}
	p := func(f, to string, a int64) ledger.Posting {
		return ledger.Posting{From: f, To: to, Amount: a, Unit: ledger.HOUR}
	}
	raw(p("c1:issuance", "li:HOUR", 200), p("c1:issuance", "x:HOUR", 50))
	id := raw(p("li:HOUR", "y:HOUR", 100), p("x:HOUR", "li:HOUR", 50)) // li 150
	e.must("admin", func(tx ledger.Tx) (any, error) {
		r, err := timebank.ReverseMove(tx, id, "误操作")
		if err == nil {
			tx.Audit("tx.reverse", ledger.TxFields(r))
		}
		return r, err
	})
	if got := e.account("li:HOUR").Balance(); got != 200 {
		t.Errorf("li %d after the reversal, want 200 (within the cap once the first leg took 50)", got)
	}
}

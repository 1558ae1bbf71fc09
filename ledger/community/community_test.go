package community_test

import (
	"context"
	"testing"
	"time"

	"tally/audit"
	"tally/ledger"
	"tally/ledger/community"
	"tally/ledger/store"
)

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func submit(st *store.Store, op ledger.Op) (any, error) {
	res, err := st.Submit(context.Background(), ledger.Request{Actor: ledger.Actor{ID: "admin"}, Op: op})
	return res.Value, err
}

func TestPolicyValidate(t *testing.T) {
	cases := []struct {
		name string
		p    community.Policy
		want ledger.Code
	}{
		{"default is deposit", community.Policy{}, ""},
		{"mutual credit with limit", community.Policy{Earning: community.EarningMutualCredit, CreditLimit: 1000}, ""},
		{"unknown earning", community.Policy{Earning: "magic"}, ledger.CodeInvalidRequest},
		{"credit limit under deposit", community.Policy{Earning: community.EarningDeposit, CreditLimit: 1}, ledger.CodeInvalidRequest},
		{"negative cap", community.Policy{MaxBalance: -1}, ledger.CodeInvalidAmount},
		{"delay too long", community.Policy{SettlementDelay: community.MaxSettlementDelay + time.Second}, ledger.CodeInvalidRequest},
		{"delay under a second", community.Policy{SettlementDelay: time.Millisecond}, ledger.CodeInvalidRequest},
		{"zero weight", community.Policy{Weights: map[string]int64{"elder_care": 0}}, ledger.CodeInvalidRequest},
		{"bad category", community.Policy{Weights: map[string]int64{"a/b": 100}}, ledger.CodeInvalidID},
		{"age out of range", community.Policy{MinAge: community.MaxAge + 1}, ledger.CodeInvalidRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := c.p
			if got := ledger.ErrorCode(p.Validate()); got != c.want {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
}

// TestTreeScopesAndIDs: a subtree contains its descendants only; ids are
// one namespace across communities and members; members get a HOUR
// account guarded by their community's policy.
func TestTreeScopesAndIDs(t *testing.T) {
	st := openStore(t)
	mk := func(id, parent string, p community.Policy) (*community.Community, error) {
		v, err := submit(st, func(tx ledger.Tx) (any, error) {
			return community.Create(tx, community.NewCommunity{ID: id, Name: "社区 " + id, Parent: parent, Policy: p})
		})
		c, _ := v.(*community.Community)
		return c, err
	}
	if _, err := mk("d", "", community.Policy{}); err != nil {
		t.Fatal(err)
	}
	if _, err := mk("s", "d", community.Policy{}); err != nil {
		t.Fatal(err)
	}
	c, err := mk("c", "s", community.Policy{Earning: community.EarningMutualCredit, CreditLimit: 500, MaxBalance: 150000})
	if err != nil {
		t.Fatal(err)
	}
	for scope, want := range map[string]bool{"": true, "d": true, "s": true, "c": true, "other": false} {
		if got := c.Within(scope); got != want {
			t.Fatalf("Within(%q) = %v, want %v", scope, got, want)
		}
	}
	if _, err := mk("x", "nowhere", community.Policy{}); ledger.ErrorCode(err) != ledger.CodeNotFound {
		t.Fatalf("unknown parent: got %v, want not_found", err)
	}
	v, err := submit(st, func(tx ledger.Tx) (any, error) {
		return community.CreateMember(tx, community.NewMember{ID: "m1", Community: "c",
			Roles: []community.Role{community.RoleResident}, Personal: map[string]string{"display_name": "张三"}})
	})
	if err != nil {
		t.Fatal(err)
	}
	m := v.(*community.Member)
	_, err = submit(st, func(tx ledger.Tx) (any, error) {
		return community.CreateMember(tx, community.NewMember{ID: "c", Community: "c", Roles: []community.Role{community.RoleResident}})
	})
	if ledger.ErrorCode(err) != ledger.CodeAlreadyExists {
		t.Fatalf("member id equal to a community id: got %v, want already_exists", err)
	}
	_, err = submit(st, func(tx ledger.Tx) (any, error) {
		return community.CreateMember(tx, community.NewMember{ID: "m2", Community: "c", Roles: []community.Role{"emperor"}})
	})
	if ledger.ErrorCode(err) != ledger.CodeInvalidRequest {
		t.Fatalf("unknown role: got %v, want invalid_request", err)
	}
	st.View(context.Background(), func(r ledger.Reader) error {
		a, err := r.Account(m.Accounts["HOUR"])
		if err != nil {
			t.Fatal(err)
		}
		if a.Guard != ledger.GuardCreditLimit || a.CreditLimit != 500 || a.MaxBalance != 150000 || a.Community != "c" {
			t.Fatalf("member account guard %s limit %d cap %d community %q", a.Guard, a.CreditLimit, a.MaxBalance, a.Community)
		}
		if p, err := r.Personal("m1"); err != nil || p["display_name"] != "张三" {
			t.Fatalf("personal data: %v %v", p, err)
		}
		return nil
	})
	// Erasure destroys the personal data; the member stays, flagged.
	if _, err := submit(st, func(tx ledger.Tx) (any, error) { return community.Erase(tx, "m1", "") }); err != nil {
		t.Fatal(err)
	}
	st.View(context.Background(), func(r ledger.Reader) error {
		if _, err := r.Personal("m1"); ledger.ErrorCode(err) != ledger.CodeNotFound {
			t.Fatalf("personal data after erasure: got %v, want not_found", err)
		}
		if m, err := community.GetMember(r, "m1"); err != nil || !m.Erased {
			t.Fatalf("member after erasure: %+v %v", m, err)
		}
		return nil
	})
	if rep, err := st.Audit().Verify(context.Background(), audit.VerifyOptions{}); err != nil {
		t.Fatalf("chain after erasure: %v %+v", err, rep)
	}
}

// TestStoredCategoryUnscreened: a category read back from a stored need
// (carried into the service that completes it) is not screened again for
// personal numbers, so a need stored before the screen still completes;
// a new category is screened.
func TestStoredCategoryUnscreened(t *testing.T) {
	if err := community.CheckCategory("n-13912345678"); !ledger.IsCode(err, ledger.CodeInvalidID) {
		t.Fatalf("a new phone-like category: %v, want invalid_id", err)
	}
	if err := community.CheckStoredCategory("n-13912345678"); err != nil {
		t.Fatalf("a stored one: %v", err)
	}
	if err := community.CheckStoredCategory("total"); err == nil {
		t.Fatal("the reserved category passed")
	}
}

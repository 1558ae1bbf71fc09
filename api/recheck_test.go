package api

import (
	"context"
	"testing"

	"tally/ledger"
	"tally/ledger/community"
)

// TestRolesRecheckedInsideTheCommit: a write authorized on roles that a
// commit withdrew before the write's own commit is refused (409 conflict)
// and writes nothing — it once went through, so a coordinator whose role
// was just removed confirmed services and a committee member removed from
// the committee cast the deciding vote; on the roles it was authorized
// with it runs; acting for a member who became staff meanwhile is refused.
func TestRolesRecheckedInsideTheCommit(t *testing.T) {
	ts := newTestServer(t)
	ts.community("c1", "", nil)
	ts.member("co", "c1", "coordinator")
	ts.member("co2", "c1", "coordinator")
	ts.member("res", "c1", "resident")
	ran := 0
	op := func(tx ledger.Tx) (any, error) {
		ran++
		tx.Audit("test.op", nil)
		return nil, nil
	}
	submit := func(p *Principal) error {
		_, err := ts.store.Submit(context.Background(), ledger.Request{Actor: p.actor(), Op: authorized(p, op)})
		return err
	}
	coord := []community.Role{community.RoleCoordinator}
	co := &Principal{Member: "co", Community: "c1", Roles: coord}
	if err := submit(co); err != nil || ran != 1 {
		t.Fatalf("on the roles it was authorized with: %v, ran %d", err, ran)
	}
	forRes := &Principal{Member: "co2", Community: "c1", Roles: coord, OnBehalf: "res"}
	if err := submit(forRes); err != nil || ran != 2 {
		t.Fatalf("acting for a resident: %v, ran %d", err, ran)
	}

	ts.must(200, "PUT", "/v1/members/co/roles", ts.admin, map[string]any{"roles": []string{"resident"}})
	size := ts.auditSize()
	if err := submit(co); ledger.ErrorCode(err) != ledger.CodeConflict || ran != 2 {
		t.Fatalf("after the role was withdrawn: %v (ran %d), want conflict and nothing run", err, ran)
	}
	if got := ts.auditSize(); got != size {
		t.Fatalf("a refused write added %d audit records", got-size)
	}
	ts.must(200, "PUT", "/v1/members/res/roles", ts.admin, map[string]any{"roles": []string{"coordinator"}})
	size = ts.auditSize()
	// Checked when the request was read, so a change since is a
	// conflict: sent again, the request is judged as things are now.
	if err := submit(forRes); ledger.ErrorCode(err) != ledger.CodeConflict || ran != 2 {
		t.Fatalf("acting for a member who became staff: %v (ran %d), want conflict", err, ran)
	}
	if got := ts.auditSize(); got != size {
		t.Fatalf("a refused write added %d audit records", got-size)
	}
}

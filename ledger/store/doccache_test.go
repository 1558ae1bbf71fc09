package store

import (
	"runtime"
	"slices"
	"testing"

	"tally/ledger"
	"tally/ledger/community"
)

// TestWriterDocCache: members read through the writer's document cache
// are never stale and never shared: a change committed by an earlier
// batch, by an earlier op of the same batch or by the op itself is seen;
// a failed op's change is not; changing a member read from the cache
// without saving it changes nothing for later ops.
func TestWriterDocCache(t *testing.T) {
	s := openTest(t)
	roles := func(op ledger.Op) []community.Role {
		t.Helper()
		res, err := submit(t, s, op)
		if err != nil {
			t.Fatal(err)
		}
		return res.Value.([]community.Role)
	}
	read := func(tx ledger.Tx) (any, error) {
		m, err := community.GetMember(tx, "m1")
		if err != nil {
			return nil, err
		}
		return m.Roles, nil
	}
	setRoles := func(r community.Role, fail bool) ledger.Op {
		return func(tx ledger.Tx) (any, error) {
			m, err := community.GetMember(tx, "m1")
			if err != nil {
				return nil, err
			}
			m.Roles = []community.Role{r}
			if err := tx.PutDoc(community.KindMember, m.ID, m); err != nil {
				return nil, err
			}
			tx.Audit("member.update", map[string]any{"id": m.ID})
			if fail {
				return nil, ledger.Errorf(ledger.CodeConflict, "refused after the write")
			}
			return read(tx) // the op's own write
		}
	}
	want := func(name string, got []community.Role, r community.Role) {
		t.Helper()
		if !slices.Equal(got, []community.Role{r}) {
			t.Fatalf("%s: roles %v, want [%s]", name, got, r)
		}
	}

	mustSubmit(t, s, func(tx ledger.Tx) (any, error) {
		tx.Audit("member.register", map[string]any{"id": "m1"})
		return nil, tx.PutDoc(community.KindMember, "m1", &community.Member{ID: "m1", Community: "c1",
			Roles: []community.Role{community.RoleResident}, Relatives: []string{"m2"}, Accounts: map[string]string{"HOUR": "m1:HOUR"}})
	})
	want("first read", roles(read), community.RoleResident)
	want("second read (cached)", roles(read), community.RoleResident)

	// Changing the returned member in place, without saving it.
	_, err := submit(t, s, func(tx ledger.Tx) (any, error) {
		m, err := community.GetMember(tx, "m1")
		if err != nil {
			return nil, err
		}
		m.Roles[0] = community.RoleAdmin
		m.Relatives[0] = "intruder"
		m.Accounts["HOUR"] = "elsewhere"
		return nil, ledger.Errorf(ledger.CodeConflict, "not saved")
	})
	if ledger.ErrorCode(err) != ledger.CodeConflict {
		t.Fatalf("in-place change: %v", err)
	}
	res, err := submit(t, s, func(tx ledger.Tx) (any, error) { return community.GetMember(tx, "m1") })
	if err != nil {
		t.Fatal(err)
	}
	if m := res.Value.(*community.Member); m.Roles[0] != community.RoleResident || m.Relatives[0] != "m2" || m.Accounts["HOUR"] != "m1:HOUR" {
		t.Fatalf("an unsaved change in place reached the next op: %+v", m)
	}

	want("an op's own write", roles(setRoles(community.RoleVolunteer, false)), community.RoleVolunteer)
	want("after an earlier batch's write", roles(read), community.RoleVolunteer)

	if _, err := submit(t, s, setRoles(community.RoleAuditor, true)); ledger.ErrorCode(err) != ledger.CodeConflict {
		t.Fatalf("failing op: %v", err)
	}
	want("after a failed op's write", roles(read), community.RoleVolunteer)

	// One batch: the first op changes the member, the second reads it.
	release := gate(t, s)
	type answer struct {
		res ledger.Result
		err error
	}
	first, second := make(chan answer, 1), make(chan answer, 1)
	go func() {
		res, err := submit(t, s, setRoles(community.RoleCoordinator, false))
		first <- answer{res, err}
	}()
	for len(s.reqs) < 1 {
		runtime.Gosched() // the change is queued first
	}
	go func() { res, err := submit(t, s, read); second <- answer{res, err} }()
	release(2)
	a, b := <-first, <-second
	if a.err != nil || b.err != nil {
		t.Fatalf("same batch: %v, %v", a.err, b.err)
	}
	want("a later op of the same batch", b.res.Value.([]community.Role), community.RoleCoordinator)
	want("after that batch", roles(read), community.RoleCoordinator)
}

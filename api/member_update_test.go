package api

import (
	"slices"
	"strings"
	"testing"
)

// TestUpdateMember: a member changes their own personal data (recorded
// as which fields changed, never their values); staff in scope change a
// staff in scope change a member's personal data and an admin their relatives, both sides of each link at once; a member cannot
// change another's data or their own relatives, nobody makes themself a
// relative, and an erased member cannot be changed. Refusals write
// nothing.
func TestUpdateMember(t *testing.T) {
	ts := newTestServer(t)
	ts.community("c1", "", nil)
	wang := ts.member("wang", "c1", "coordinator")
	li := ts.member("li", "c1", "resident")
	ts.member("zhang", "c1", "resident")
	ts.member("zhao", "c1", "resident")

	// Eligibility fields are the staff's to record, not the member's.
	if r := ts.do("PATCH", "/v1/members/li", li, map[string]any{"personal": map[string]any{"birth_date": "1950-05-01"}}); r.Status != 403 {
		t.Fatalf("a resident sets their own birth date: %d %s, want 403", r.Status, r.Raw)
	}
	ts.must(200, "PATCH", "/v1/members/li", wang, map[string]any{"personal": map[string]any{"birth_date": "1950-05-01"}})
	// Nor does staff qualify themself.
	for _, field := range []string{"birth_date", "hardship"} {
		if r := ts.do("PATCH", "/v1/members/wang", wang, map[string]any{"personal": map[string]any{field: "1950-05-01"}}); r.Status != 403 {
			t.Fatalf("a coordinator sets their own %s: %d %s, want 403", field, r.Status, r.Raw)
		}
	}
	// Nor their family: a relative's eligibility is another coordinator's
	// to record (conflict of interest), while other fields are not.
	ts.member("sun", "c1", "resident")
	ts.must(200, "PATCH", "/v1/members/sun", ts.admin, map[string]any{"relatives": []string{"wang"}})
	for _, field := range []map[string]any{{"birth_date": "1950-05-01"}, {"hardship": "true"}} {
		size := ts.auditSize()
		if r := ts.do("PATCH", "/v1/members/sun", wang, map[string]any{"personal": field}); r.Status != 403 || r.Code() != "conflict_of_interest" || ts.auditSize() != size {
			t.Fatalf("a coordinator qualifies their relative (%v): %d %s, want 403 conflict_of_interest, nothing written", field, r.Status, r.Raw)
		}
	}
	ts.must(200, "PATCH", "/v1/members/sun", wang, map[string]any{"personal": map[string]any{"notes": "行动不便"}})
	r := ts.must(200, "PATCH", "/v1/members/li", li, map[string]any{"personal": map[string]any{"phone": "x"}})
	if r.Str("id") != "li" {
		t.Fatalf("update: %s", r.Raw)
	}
	rec := ts.lastRecord()
	if rec.Action != "member.update" || rec.Actor != "li" {
		t.Fatalf("record: %s by %s", rec.Action, rec.Actor)
	}
	if raw, _ := rec.Content["personal_fields"].([]any); len(raw) != 1 || raw[0] != "phone" {
		t.Fatalf("record names %v, want [phone]", rec.Content["personal_fields"])
	}
	if _, leaked := rec.Content["personal"]; leaked {
		t.Fatalf("the record holds personal values: %v", rec.Content)
	}
	got := ts.must(200, "GET", "/v1/members/li", li, nil)
	if pers, _ := got.Body["personal"].(map[string]any); pers["birth_date"] != "1950-05-01" || got.Str("display_name") != "居民 li" {
		t.Fatalf("after the update: %s", got.Raw)
	}

	ts.must(200, "PATCH", "/v1/members/li", ts.admin, map[string]any{"relatives": []string{"zhang"}})
	relsOf := func(id string) []string {
		var out []string
		for _, x := range ts.must(200, "GET", "/v1/members/"+id, ts.admin, nil).Body["relatives"].([]any) {
			out = append(out, x.(string))
		}
		return out
	}
	if !slices.Equal(relsOf("li"), []string{"zhang"}) || !slices.Equal(relsOf("zhang"), []string{"li"}) {
		t.Fatalf("relatives: li %v, zhang %v", relsOf("li"), relsOf("zhang"))
	}
	ts.must(200, "PATCH", "/v1/members/li", ts.admin, map[string]any{"relatives": []string{"zhao"}})
	if !slices.Equal(relsOf("li"), []string{"zhao"}) || len(relsOf("zhang")) != 0 || !slices.Equal(relsOf("zhao"), []string{"li"}) {
		t.Fatalf("replaced relatives: li %v, zhang %v, zhao %v", relsOf("li"), relsOf("zhang"), relsOf("zhao"))
	}

	size := ts.auditSize()
	for _, c := range []struct {
		name, path, token string
		body              any
		status            int
	}{
		{"a resident changes another", "/v1/members/zhang", li, map[string]any{"display_name": "x"}, 404},
		{"a resident sets their own relatives", "/v1/members/li", li, map[string]any{"relatives": []string{"zhang"}}, 403},
		{"a coordinator makes themself a relative", "/v1/members/li", wang, map[string]any{"relatives": []string{"wang"}}, 403},
		{"a coordinator changes relatives (could drop their own link, or a voter's)", "/v1/members/li", wang, map[string]any{"relatives": []string{}}, 403},
		{"an admin makes themself a relative", "/v1/members/li", ts.admin, map[string]any{"relatives": []string{"admin"}}, 403},
		{"a display name removed", "/v1/members/li", li, map[string]any{"personal": map[string]any{"display_name": ""}}, 400},
		{"an unknown personal field", "/v1/members/li", li, map[string]any{"personal": map[string]any{"salary": "1"}}, 400},
		{"nothing to change", "/v1/members/li", li, map[string]any{}, 400},
		{"an unknown member", "/v1/members/nobody", wang, map[string]any{"display_name": "x"}, 404},
	} {
		if r := ts.do("PATCH", c.path, c.token, c.body); r.Status != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, r.Status, r.Raw, c.status)
		}
	}
	ts.must(200, "POST", "/v1/members/zhang/erase", ts.admin, map[string]any{})
	size++
	if r := ts.do("PATCH", "/v1/members/zhang", wang, map[string]any{"display_name": "x"}); r.Status != 409 {
		t.Errorf("an erased member changed: %d %s, want 409", r.Status, r.Raw)
	}
	if got := ts.auditSize(); got != size {
		t.Fatalf("refused updates wrote %d records", got-size)
	}
	// The ledger's own actor name is no member's id.
	for _, id := range []string{"system", "System"} {
		if r := ts.do("POST", "/v1/members", wang, map[string]any{"id": id, "community": "c1", "display_name": "x", "roles": []string{"resident"}}); r.Status != 400 || r.Code() != "invalid_id" {
			t.Errorf("member id %q: %d %s, want 400 invalid_id", id, r.Status, r.Raw)
		}
	}
}

// TestCoordinatorRegistersRelatives: a coordinator registers members
// with relatives (SPEC §7a), residents and volunteers of their scope, both
// sides linked; naming a staff member someone's relative is an admin's.
func TestCoordinatorRegistersRelatives(t *testing.T) {
	ts := newTestServer(t)
	ts.community("c1", "", nil)
	wang := ts.member("wang", "c1", "coordinator")
	ts.member("li", "c1", "resident")
	ts.member("wu", "c1", "coordinator")
	ts.must(201, "POST", "/v1/members", wang, map[string]any{"id": "li-mum", "community": "c1", "display_name": "李母",
		"roles": []string{"resident"}, "relatives": []string{"li"}})
	ts.must(201, "POST", "/v1/members", wang, map[string]any{"id": "li-son", "community": "c1", "display_name": "李子",
		"roles": []string{"resident"}, "relatives": []string{"li"}, "username": "lison", "password": "password-lison"})
	if r := ts.must(200, "GET", "/v1/members/li", ts.admin, nil); !strings.Contains(string(r.Raw), `"li-mum"`) || !strings.Contains(string(r.Raw), `"li-son"`) {
		t.Fatalf("li's relatives after the registrations: %s", r.Raw)
	}
	size := ts.auditSize()
	if r := ts.do("POST", "/v1/members", wang, map[string]any{"id": "wu-mum", "community": "c1", "display_name": "吴母",
		"roles": []string{"resident"}, "relatives": []string{"wu"}}); r.Status != 403 || r.Code() != "forbidden" {
		t.Fatalf("a coordinator naming a colleague someone's relative: %d %s, want 403 forbidden", r.Status, r.Raw)
	}
	if ts.auditSize() != size {
		t.Fatal("a refused registration wrote a record")
	}
}

package api

import (
	"fmt"
	"slices"
	"testing"
)

// listIDs reads every page of a list (limit 2, so paging is exercised)
// and returns the items' ids and the field named in order.
func (tb *tbServer) listIDs(path, token, field string) (ids, fields []string) {
	tb.t.Helper()
	sep := "?"
	if slices.Contains([]byte(path), '?') {
		sep = "&"
	}
	after := ""
	for range 100 {
		url := path + sep + "limit=2"
		if after != "" {
			url += "&after=" + after
		}
		r := tb.must(200, "GET", url, token, nil)
		items, _ := r.Body["items"].([]any)
		for _, it := range items {
			m := it.(map[string]any)
			ids = append(ids, fmt.Sprint(m["id"]))
			fields = append(fields, fmt.Sprint(m[field]))
		}
		next, ok := r.Body["next"].(string)
		if !ok {
			return ids, fields
		}
		after = next
	}
	tb.t.Fatalf("%s: no end after 100 pages", path)
	return nil, nil
}

// TestRedemptionLists: the clerk where credits are redeemed lists the
// bookings awaiting completion; the member lists their own, wherever made;
// nobody else sees them.
func TestRedemptionLists(t *testing.T) {
	tb, coordA, coordB, li := twoCommunities(t)
	tb.fund("a", "li", "9.00")
	zhao := tb.resident("zhao", "a", nil, nil, "resident")
	tb.fund("a", "zhao", "1.00")
	at := map[string]string{}
	for i, v := range []struct {
		name, c string
		book    bool
	}{{"x1", "b", true}, {"x2", "a", false}, {"x3", "b", true}, {"x4", "b", false}, {"x5", "b", true}} {
		r := tb.must(201, "POST", "/v1/redemptions", li, map[string]any{"member": "li", "community": v.c, "hours": "1.00", "item": fmt.Sprint("item ", i), "book": v.book})
		at[v.name] = r.Str("id")
	}
	z := tb.must(201, "POST", "/v1/redemptions", zhao, map[string]any{"member": "zhao", "community": "b", "hours": "1.00", "item": "助浴", "book": true}).Str("id")
	tb.must(200, "POST", "/v1/redemptions/"+at["x3"]+"/complete", coordB, nil)
	tb.must(200, "POST", "/v1/redemptions/"+at["x5"]+"/cancel", li, nil)

	ids, st := tb.listIDs("/v1/redemptions?community=b&order=oldest", coordB, "status")
	if want := []string{at["x1"], at["x3"], at["x4"], at["x5"], z}; !slices.Equal(ids, want) {
		t.Fatalf("b's redemptions: got %v, want %v", ids, want)
	}
	if want := []string{"booked", "completed", "redeemed", "cancelled", "booked"}; !slices.Equal(st, want) {
		t.Fatalf("b's statuses: got %v, want %v", st, want)
	}
	if ids, _ = tb.listIDs("/v1/redemptions?community=b&status=booked&order=oldest", coordB, "status"); !slices.Equal(ids, []string{at["x1"], z}) {
		t.Fatalf("b's bookings: got %v", ids)
	}
	// Newest first.
	if ids, _ = tb.listIDs("/v1/redemptions?community=b&status=booked", coordB, "status"); !slices.Equal(ids, []string{z, at["x1"]}) {
		t.Fatalf("b's bookings newest first: got %v", ids)
	}
	if ids, _ = tb.listIDs("/v1/members/li/redemptions?order=oldest", li, "community"); len(ids) != 5 || ids[1] != at["x2"] {
		t.Fatalf("li's own redemptions: got %v", ids)
	}
	if ids, _ = tb.listIDs("/v1/members/li/redemptions?status=booked", coordA, "status"); !slices.Equal(ids, []string{at["x1"]}) {
		t.Fatalf("li's bookings read by a's coordinator: got %v", ids)
	}
	// A booking the ledger voided at its timeout lists as expired.
	tb.advance(2 * 24 * 365 * 3600e9)
	if ids, _ = tb.listIDs("/v1/redemptions?community=b&status=expired&order=oldest", coordB, "status"); !slices.Equal(ids, []string{at["x1"], z}) {
		t.Fatalf("b's expired bookings: got %v", ids)
	}
	// Others: a's coordinator is not b's; a resident reads no community
	// list and no one else's; an unknown status is refused.
	tbProblem(t, tb.do("GET", "/v1/redemptions?community=b", coordA, nil), 403, "forbidden")
	tbProblem(t, tb.do("GET", "/v1/redemptions?community=a", li, nil), 403, "forbidden")
	tbProblem(t, tb.do("GET", "/v1/members/li/redemptions", zhao, nil), 404, "not_found")
	tbProblem(t, tb.do("GET", "/v1/members/li/redemptions", coordB, nil), 404, "not_found")
	tbProblem(t, tb.do("GET", "/v1/redemptions?community=b&status=paid", coordB, nil), 400, "invalid_request")
	tbProblem(t, tb.do("GET", "/v1/redemptions", coordB, nil), 400, "invalid_request")
}

// TestRoster: a community's roster for its readers, filtered by role,
// display names for staff only.
func TestRoster(t *testing.T) {
	tb, coordA, coordB, li := twoCommunities(t)
	tb.resident("zhao", "a", nil, nil, "volunteer", "resident")
	tb.resident("qian", "a", nil, nil, "volunteer")
	tb.resident("sun", "b", nil, nil, "volunteer")
	tb.must(201, "POST", "/v1/members", tb.admin, map[string]any{"id": "aud", "community": "a", "display_name": "审计", "roles": []string{"auditor"},
		"username": "aud", "password": "password-aud"})
	aud := tb.login("aud", "password-aud")

	ids, names := tb.listIDs("/v1/members?community=a&order=oldest", coordA, "display_name")
	if want := []string{"wang", "li", "zhao", "qian", "aud"}; !slices.Equal(ids, want) {
		t.Fatalf("a's roster: got %v, want %v", ids, want)
	}
	if names[2] != "居民zhao" {
		t.Fatalf("a's roster names for its coordinator: got %v", names)
	}
	if ids, _ = tb.listIDs("/v1/members?community=a&role=volunteer&order=oldest", tb.admin, "id"); !slices.Equal(ids, []string{"zhao", "qian"}) {
		t.Fatalf("a's volunteers: got %v", ids)
	}
	if ids, _ = tb.listIDs("/v1/members?community=a&role=coordinator,auditor", coordA, "id"); !slices.Equal(ids, []string{"aud", "wang"}) {
		t.Fatalf("a's staff, newest first: got %v", ids)
	}
	// An auditor reads the roster without names.
	_, names = tb.listIDs("/v1/members?community=a", aud, "display_name")
	for _, n := range names {
		if n != "<nil>" {
			t.Fatalf("a's roster for an auditor shows a name: %v", names)
		}
	}
	// Erased members stay listed, as erased, with no name.
	tb.must(200, "POST", "/v1/members/qian/erase", tb.admin, map[string]any{"reason": "PIPL request"})
	ids, erased := tb.listIDs("/v1/members?community=a&role=volunteer&order=oldest", coordA, "erased")
	if !slices.Equal(ids, []string{"zhao", "qian"}) || erased[1] != "true" {
		t.Fatalf("roster after an erasure: got %v %v", ids, erased)
	}
	tbProblem(t, tb.do("GET", "/v1/members?community=a", coordB, nil), 403, "forbidden")
	tbProblem(t, tb.do("GET", "/v1/members?community=a", li, nil), 403, "forbidden")
	tbProblem(t, tb.do("GET", "/v1/members?community=a&role=mayor", coordA, nil), 400, "invalid_request")
	tbProblem(t, tb.do("GET", "/v1/members?community=a&role=volunteer,volunteer", coordA, nil), 400, "invalid_request")
	// Acting for a member, a coordinator has the member's rights only.
	tbProblem(t, tb.do("GET", "/v1/members?community=a", coordA, nil, "X-On-Behalf-Of", "li"), 403, "forbidden")
}

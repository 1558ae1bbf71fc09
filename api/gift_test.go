package api

import (
	"strings"
	"testing"
)

// TestGiftToPoolAliases: the community pool can be named by its account id,
// by "pool", or by the community's id.
func TestGiftToPoolAliases(t *testing.T) {
	ts := newTestServer(t)
	ts.community("c1", "", nil)
	li := ts.member("li", "c1", "resident", "volunteer")
	ts.must(201, "POST", "/v1/transfers", ts.admin, map[string]any{"postings": []any{
		map[string]any{"from": "c1:issuance", "to": "li:HOUR", "amount": "4.00", "unit": "HOUR"}}})
	for _, to := range []string{"c1:pool", "pool", "c1"} {
		ts.must(201, "POST", "/v1/gifts", li, map[string]any{"from": "li", "to": to, "hours": "1.00"})
	}
	// A member's HOUR account id names the member, in from and in to.
	ts.must(201, "POST", "/v1/gifts", li, map[string]any{"from": "li:HOUR", "to": "pool", "hours": "1.00"})
	if got := ts.balance("c1:pool"); got != "4.00" {
		t.Fatalf("pool balance %s, want 4.00", got)
	}
	// A gift sent without a memo says what it is in the history.
	if e := ts.must(200, "GET", "/v1/accounts/li:HOUR/entries?limit=1", li, nil); !strings.Contains(string(e.Raw), `"memo":"gift from li"`) {
		t.Fatalf("the giver's history line of a gift: %s", e.Raw)
	}
	// One made for the giver (代办) names who made it.
	ts.member("wang", "c1", "coordinator")
	ts.must(201, "POST", "/v1/transfers", ts.admin, map[string]any{"postings": []any{
		map[string]any{"from": "c1:issuance", "to": "li:HOUR", "amount": "0.50", "unit": "HOUR"}}})
	ts.must(201, "POST", "/v1/gifts", ts.login("wang", "password-wang"), map[string]any{"from": "li", "to": "pool", "hours": "0.50", "memo": "  "},
		HeaderOnBehalf, "li")
	if e := ts.must(200, "GET", "/v1/accounts/li:HOUR/entries?limit=1", li, nil); !strings.Contains(string(e.Raw), `"memo":"gift from li, made for them by wang"`) {
		t.Fatalf("the history line of a gift made for the giver: %s", e.Raw)
	}
	if r := ts.do("POST", "/v1/gifts", li, map[string]any{"from": "li", "to": "pool", "hours": "0.01"}); r.Status != 422 || r.Code() != "insufficient_funds" {
		t.Fatalf("gift beyond balance: %d %s, want 422 insufficient_funds", r.Status, r.Raw)
	}
}

// TestGiftStaysInDistrict: a gift to a relative registered in another
// district is 422 not_in_community and writes nothing, as a redemption
// there is: that district's staff could not correct it, and this one's
// settlement would name a community outside it. Within the district it
// goes through clearing.
func TestGiftStaysInDistrict(t *testing.T) {
	tb := newTBServer(t)
	tb.community("d1", "", nil)
	tb.community("a", "d1", nil)
	tb.community("b", "d1", nil)
	tb.community("d2", "", nil)
	tb.community("x", "d2", nil)
	tb.resident("far", "x", nil, nil, "resident")
	tb.resident("near", "b", nil, nil, "resident")
	giver := tb.resident("giver", "a", nil, []string{"far", "near"}, "resident")
	tb.fund("a", "giver", "3.00")
	size := tb.auditSize()
	tbProblem(t, tb.do("POST", "/v1/gifts", giver, map[string]any{"from": "giver", "to": "far", "hours": "1.00"}), 422, "not_in_community")
	if tb.auditSize() != size {
		t.Fatal("a refused gift wrote a record")
	}
	tb.must(201, "POST", "/v1/gifts", giver, map[string]any{"from": "giver", "to": "near", "hours": "1.00"})
	if got := tb.balance("near:HOUR"); got != "1.00" {
		t.Fatalf("a gift within the district: %s", got)
	}
}

// TestEntriesShowRunningBalance: each line of a history states the
// account's balance after it, as a passbook does; a hold's line leaves
// it as it was.
func TestEntriesShowRunningBalance(t *testing.T) {
	ts := newTestServer(t)
	ts.community("c1", "", nil)
	ts.member("li", "c1", "resident")
	for _, amt := range []string{"5.00", "2.50"} {
		ts.must(201, "POST", "/v1/transfers", ts.admin, map[string]any{"postings": []any{
			map[string]any{"from": "c1:issuance", "to": "li:HOUR", "amount": amt, "unit": "HOUR"}}})
	}
	ts.must(201, "POST", "/v1/transfers", ts.admin, map[string]any{"pending": true, "postings": []any{
		map[string]any{"from": "li:HOUR", "to": "c1:pool", "amount": "1.00", "unit": "HOUR"}}})
	ts.must(201, "POST", "/v1/transfers", ts.admin, map[string]any{"postings": []any{
		map[string]any{"from": "li:HOUR", "to": "c1:pool", "amount": "0.75", "unit": "HOUR"}}})
	page := ts.must(200, "GET", "/v1/accounts/li:HOUR/entries", ts.admin, nil)
	var got []string
	for _, it := range page.Body["items"].([]any) {
		e := it.(map[string]any)
		got = append(got, e["kind"].(string)+" "+e["amount"].(string)+" → "+e["balance"].(string))
	}
	want := []string{"posted -0.75 → 6.75", "pending -1.00 → 7.50", "posted 2.50 → 7.50", "posted 5.00 → 5.00"} // newest first
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Fatalf("history %q, want %q", got, want)
	}
	issuance := ts.must(200, "GET", "/v1/accounts/c1:issuance/entries", ts.admin, nil)
	if e := issuance.Body["items"].([]any)[0].(map[string]any); e["balance"] != "-7.50" {
		t.Fatalf("the issuance account's newest line %v, want balance -7.50", e)
	}
}

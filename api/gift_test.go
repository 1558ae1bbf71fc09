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

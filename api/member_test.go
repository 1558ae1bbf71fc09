package api

import "testing"

func TestCommunityMemberAccountFlow(t *testing.T) {
	ts := newTestServer(t)
	ts.community("district", "", nil)
	ts.community("c1", "district", map[string]any{"earning": "deposit", "max_balance": "1500.00"})
	tok := ts.member("li", "c1", "resident", "volunteer")
	r := ts.must(200, "GET", "/v1/accounts/li:HOUR", tok, nil)
	if r.Str("balance") != "0.00" || r.Str("unit") != "HOUR" {
		t.Fatalf("new account: got %s", r.Raw)
	}
	coord := ts.member("wang", "c1", "coordinator")
	ts.must(201, "POST", "/v1/transfers", coord, map[string]any{"postings": []any{
		map[string]any{"from": "c1:issuance", "to": "li:HOUR", "amount": "2.50", "unit": "HOUR"}}})
	if got := ts.balance("li:HOUR"); got != "2.50" {
		t.Fatalf("balance: got %s, want 2.50", got)
	}
	// A resident cannot see someone else's account.
	other := ts.member("zhao", "c1", "resident")
	if r := ts.do("GET", "/v1/accounts/li:HOUR", other, nil); r.Status != 404 || r.Code() != "not_found" {
		t.Fatalf("foreign account: got %d %s, want 404 not_found", r.Status, r.Raw)
	}
}

// TestPasswordWithoutUsername: SPEC §7a makes username and password each
// optional; a password alone logs in as the member's id, a username alone
// is refused (it could never log in) and writes nothing.
func TestPasswordWithoutUsername(t *testing.T) {
	ts := newTestServer(t)
	ts.community("c1", "", nil)
	ts.must(201, "POST", "/v1/members", ts.admin, map[string]any{"id": "wu", "community": "c1",
		"display_name": "吴", "roles": []string{"resident"}, "password": "password-wu"})
	if tok := ts.login("wu", "password-wu"); tok == "" {
		t.Fatal("no token")
	}
	before := ts.auditSize()
	r := ts.do("POST", "/v1/members", ts.admin, map[string]any{"id": "xu", "community": "c1",
		"display_name": "徐", "roles": []string{"resident"}, "username": "xu"})
	if r.Status != 400 || r.Code() != "invalid_request" || ts.auditSize() != before {
		t.Fatalf("username alone: %d %s, records %d → %d", r.Status, r.Raw, before, ts.auditSize())
	}
}

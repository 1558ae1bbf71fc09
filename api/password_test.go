package api

import (
	"fmt"
	"strings"
	"testing"
)

// TestPasswordChangeAndReset: a member changes their own password with
// the current one (checked like a login: a wrong one is 401 and counts
// toward the throttle); an admin in scope sets a forgotten one; the
// record names the member and nothing of the login.
func TestPasswordChangeAndReset(t *testing.T) {
	ts := newTestServer(t)
	ts.community("c1", "", nil)
	li := ts.member("li", "c1", "resident")
	ts.member("wang", "c1", "resident")
	coord := ts.member("co", "c1", "coordinator")
	change := func(user, current, next string) map[string]any {
		return map[string]any{"username": user, "current_password": current, "new_password": next}
	}
	wantProblem(t, ts.do("POST", "/v1/auth/password", li, change("li", "wrong-password", "new-password-li")), 401, "unauthorized")
	wantProblem(t, ts.do("POST", "/v1/auth/password", li, change("wang", "password-wang", "new-password-li")), 401, "unauthorized")
	wantProblem(t, ts.do("POST", "/v1/auth/password", li, change("li", "password-li", "short")), 400, "invalid_request")
	wantProblem(t, ts.do("POST", "/v1/auth/password", "", change("li", "password-li", "new-password-li")), 401, "unauthorized")
	if r := ts.must(200, "POST", "/v1/auth/password", li, change("li", "password-li", "new-password-li")); r.Body["changed"] != true {
		t.Fatalf("change: %s", r.Raw)
	}
	rec := ts.lastRecord()
	if rec.Action != "member.password" || fmt.Sprint(rec.Content) != "map[member:li]" {
		t.Fatalf("record: %s %v", rec.Action, rec.Content)
	}
	wantProblem(t, ts.do("POST", "/v1/auth/token", "", map[string]any{"username": "li", "password": "password-li"}), 401, "unauthorized")
	ts.login("li", "new-password-li")
	// wang's password was not touched by li's attempt.
	ts.login("wang", "password-wang")

	reset := map[string]any{"username": "li", "new_password": "reset-by-admin-1"}
	wantProblem(t, ts.do("PUT", "/v1/members/li/password", coord, reset), 403, "forbidden")
	wantProblem(t, ts.do("PUT", "/v1/members/wang/password", ts.admin, reset), 404, "not_found")
	ts.must(200, "PUT", "/v1/members/li/password", ts.admin, reset)
	ts.login("li", "reset-by-admin-1")
	if strings.Contains(fmt.Sprint(ts.lastRecord().Content), "reset-by-admin") {
		t.Fatal("the record holds the password")
	}
}

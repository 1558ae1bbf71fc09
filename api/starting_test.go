package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestStartingAnswers: while the server opens its directory, /healthz
// says starting, every other request is a 503 problem with Retry-After;
// once Set, the API answers.
func TestStartingAnswers(t *testing.T) {
	var s Starting
	get := func(method, path string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest(method, path, strings.NewReader(`{}`)))
		return w
	}
	if w := get("GET", "/healthz"); w.Code != 200 || !strings.Contains(w.Body.String(), `"starting"`) {
		t.Fatalf("healthz while starting: %d %s", w.Code, w.Body)
	}
	for _, path := range []string{"/readyz", "/v1/accounts/x", "/v1/public/funds", "/openapi.json"} {
		w := get("GET", path)
		var p Problem
		if w.Code != 503 || w.Header().Get("Retry-After") == "" || json.Unmarshal(w.Body.Bytes(), &p) != nil || p.Code != "unavailable" ||
			!strings.HasPrefix(w.Header().Get("Content-Type"), "application/problem+json") {
			t.Fatalf("%s while starting: %d %v %s", path, w.Code, w.Header(), w.Body)
		}
	}
	if w := get("POST", "/v1/gifts"); w.Code != 503 {
		t.Fatalf("a write while starting: %d", w.Code)
	}
	s.Set(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	if w := get("GET", "/healthz"); w.Code != http.StatusTeapot {
		t.Fatalf("after Set: %d, want the API's answer", w.Code)
	}
}

// TestNoFiguresWhileVerifying: while the stored log is still being
// verified after a start, every route that shows ledger figures answers
// 503 unavailable with Retry-After — an edit of the data directory must
// not be shown before the verification has compared it with the chain —
// while logins, health and the audit log are served; once verified,
// figures are shown.
func TestNoFiguresWhileVerifying(t *testing.T) {
	var verifying atomic.Bool
	ts := newTestServerWith(t, Config{Verifying: verifying.Load})
	ts.community("c1", "", nil)
	ts.member("m1", "c1", "resident")
	verifying.Store(true)
	for _, path := range []string{"/v1/accounts/m1:HOUR", "/v1/accounts/m1:HOUR/entries", "/v1/members/m1", "/v1/public/funds", "/v1/communities/c1",
		"/v1/reports/services?community=c1"} {
		r := ts.do("GET", path, ts.admin, nil)
		if r.Status != 503 || r.Code() != "unavailable" || r.Header.Get("Retry-After") == "" {
			t.Fatalf("GET %s while verifying: %d %s", path, r.Status, r.Raw)
		}
	}
	ts.login("admin", testAdminPassword)
	// (This server has no audit log; the audit routes are open as on a
	// damaged ledger: openWhenDamaged.)
	for _, path := range []string{"/healthz", "/openapi.json"} {
		if r := ts.do("GET", path, ts.admin, nil); r.Status != 200 {
			t.Fatalf("GET %s while verifying: %d %s", path, r.Status, r.Raw)
		}
	}
	verifying.Store(false)
	ts.must(200, "GET", "/v1/accounts/m1:HOUR", ts.admin, nil)
}

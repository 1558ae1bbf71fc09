package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
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

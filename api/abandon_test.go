package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
)

// TestFailAbandoned: a request whose context ended before it reached the
// ledger (its client hung up, a deadline passed) is a 503 that asks for
// a retry, not a 500 logged as an internal error; other errors that are
// not the ledger's are still 500 with no detail.
func TestFailAbandoned(t *testing.T) {
	cases := []struct {
		err        error
		status     int
		code       string
		noDetailOf string
	}{
		{context.Canceled, http.StatusServiceUnavailable, "unavailable", ""},
		{fmt.Errorf("submit: %w", context.DeadlineExceeded), http.StatusServiceUnavailable, "unavailable", ""},
		{fmt.Errorf("disk on fire"), http.StatusInternalServerError, "internal", "fire"},
	}
	for _, tc := range cases {
		w := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(w)
		c.Request = httptest.NewRequest("POST", "/v1/gifts", nil)
		fail(c, tc.err)
		var p Problem
		if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
			t.Fatalf("%v: %v", tc.err, err)
		}
		if w.Code != tc.status || string(p.Code) != tc.code {
			t.Errorf("%v: %d %s, want %d %s", tc.err, w.Code, p.Code, tc.status, tc.code)
		}
		if tc.noDetailOf != "" && (p.Detail != "internal error") {
			t.Errorf("%v: detail %q leaks", tc.err, p.Detail)
		}
	}
}

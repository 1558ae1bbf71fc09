package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync/atomic"

	"tally/ledger"
)

// Starting is the listener's handler while the server opens its data
// directory (a large one takes seconds: every member's data key is
// opened and the stored log checked): /healthz answers that the process
// is alive and starting, everything else 503 unavailable with
// Retry-After, rather than leaving connections unanswered in the listen
// queue. Set swaps in the API once it is ready.
type Starting struct {
	h atomic.Pointer[http.Handler]
}

// Set makes h answer every request from now on.
func (s *Starting) Set(h http.Handler) { s.h.Store(&h) }

func (s *Starting) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := s.h.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if closesAfter(r) {
		w.Header().Set("Connection", "close") // as framing does, once serving
	}
	if r.URL.Path == "/healthz" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		json.NewEncoder(w).Encode(Health{Status: "starting"})
		return
	}
	body, _ := json.Marshal(Problem{Type: problemTypeBase + string(ledger.CodeUnavailable), Title: http.StatusText(http.StatusServiceUnavailable),
		Status: http.StatusServiceUnavailable, Code: ledger.CodeUnavailable,
		Detail: "the server is starting: it checks its stored data before serving; retry shortly"})
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Retry-After", strconv.Itoa(int(UnavailableRetryAfter.Seconds())))
	w.WriteHeader(http.StatusServiceUnavailable)
	w.Write(body)
}

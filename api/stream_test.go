package api

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"tally/ledger"
)

// TestStreamOutlivesWriteTimeout: a backup (or export) that streams for
// longer than the server's WriteTimeout — gigabytes over a slow link —
// is not cut while bytes keep flowing: each write moves the deadline on.
func TestStreamOutlivesWriteTimeout(t *testing.T) {
	const chunks, gap, timeout = 8, 100 * time.Millisecond, 300 * time.Millisecond
	chunk := strings.Repeat("x", 1024)
	ts := newTestServerWith(t, Config{Backup: func(ctx context.Context, w io.Writer) error {
		for range chunks {
			if _, err := io.WriteString(w, chunk); err != nil {
				return err
			}
			if f, ok := w.(interface{ Flush() }); ok {
				f.Flush()
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(gap):
			}
		}
		return nil
	}})
	srv := httptest.NewUnstartedServer(ts.api.Handler())
	srv.Config.WriteTimeout = timeout
	srv.Start()
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/v1/admin/backup", nil)
	req.Header.Set("Authorization", "Bearer "+ts.admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || err != nil || len(b) != chunks*len(chunk) {
		t.Fatalf("a stream of %v with a write timeout of %v: status %d, %d of %d bytes, %v", chunks*gap, timeout, resp.StatusCode, len(b), chunks*len(chunk), err)
	}
}

// TestHealthzFailsWhenNotLive: a store failure only a restart mends fails
// the liveness check, so that a supervisor restarts the server (it stayed
// "ok" while every other route answered 500).
func TestHealthzFailsWhenNotLive(t *testing.T) {
	var broken atomic.Bool
	ts := newTestServerWith(t, Config{Live: func() error {
		if broken.Load() {
			return ledger.Errorf(ledger.CodeUnavailable, "the store failed")
		}
		return nil
	}})
	ts.must(200, "GET", "/healthz", "", nil)
	broken.Store(true)
	if r := ts.do("GET", "/healthz", "", nil); r.Status != 503 || r.Code() != "unavailable" {
		t.Fatalf("healthz of a broken store: %d %s", r.Status, r.Raw)
	}
}

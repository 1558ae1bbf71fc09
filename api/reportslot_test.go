package api

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"
)

// TestReportsRunInSlots: reports are computed at most len(reports) at
// once; a report that finds every slot taken waits up to ReportWait, then
// is 503 with Retry-After, and runs once a slot is free (probe s24h:
// reports beside other traffic took both cores). Other routes never wait.
func TestReportsRunInSlots(t *testing.T) {
	ts := newTestServerWith(t, Config{ReportWait: 50 * time.Millisecond})
	ts.community("c1", "", nil)
	for range cap(ts.api.reports) {
		ts.api.reports <- struct{}{}
	}
	for _, path := range []string{"/v1/reports/services?community=c1", "/v1/settlements?community=c1", "/v1/reports/postings?community=c1"} {
		r := ts.do("GET", path, ts.admin, nil)
		wantProblem(t, r, 503, "unavailable")
		if r.Header.Get("Retry-After") == "" {
			t.Fatalf("%s: 503 without Retry-After", path)
		}
	}
	ts.must(200, "GET", "/v1/communities/c1", ts.admin, nil)
	<-ts.api.reports
	ts.must(200, "GET", "/v1/reports/services?community=c1", ts.admin, nil)
	if len(ts.api.reports) != cap(ts.api.reports)-1 {
		t.Fatalf("a finished report kept its slot: %d of %d taken", len(ts.api.reports), cap(ts.api.reports))
	}
}

// TestStreamsRunInSlots: at most MaxBackups backups and MaxExports audit
// exports are sent at once, each kind in its own slots (an auditor's
// exports never hold a backup's: review s25R); one more is refused at
// once, 503 with Retry-After StreamRetryAfter, and a finished stream
// frees its slot (probe s24h: backups had no bound). Other routes,
// reports included, never wait; a scoped admin's backup is 403 without
// a slot.
func TestStreamsRunInSlots(t *testing.T) {
	ts := newTestServerWith(t, Config{Backup: func(_ context.Context, w io.Writer) error {
		_, err := io.WriteString(w, "backup")
		return err
	}})
	ts.community("c1", "", nil)
	for range MaxExports {
		ts.api.exports <- struct{}{}
	}
	ts.must(200, "GET", "/v1/admin/backup", ts.admin, nil) // exports full: a backup still goes
	for range MaxBackups {
		ts.api.backups <- struct{}{}
	}
	for _, path := range []string{"/v1/admin/backup", "/v1/audit/export"} {
		r := ts.do("GET", path, ts.admin, nil)
		wantProblem(t, r, 503, "unavailable")
		if got, want := r.Header.Get("Retry-After"), "60"; got != want {
			t.Fatalf("%s: Retry-After %q, want %q", path, got, want)
		}
	}
	scoped := ts.member("scoped", "c1", "admin")
	wantProblem(t, ts.do("GET", "/v1/admin/backup", scoped, nil), 403, "forbidden")
	ts.must(200, "GET", "/v1/reports/services?community=c1", ts.admin, nil)
	ts.must(200, "GET", "/v1/communities/c1", ts.admin, nil)
	<-ts.api.backups
	ts.must(200, "GET", "/v1/admin/backup", ts.admin, nil)
	if len(ts.api.backups) != MaxBackups-1 {
		t.Fatalf("a finished backup kept its slot: %d of %d taken", len(ts.api.backups), MaxBackups)
	}
}

// TestHeadOfAStreamSendsNothing: HEAD on a backup answers the GET's
// status and headers, and the stream ends at its first write instead of
// reading the whole ledger for a body net/http drops (review s25R); with
// the slots taken it is the GET's 503.
func TestHeadOfAStreamSendsNothing(t *testing.T) {
	writes := 0
	ts := newTestServerWith(t, Config{Backup: func(_ context.Context, w io.Writer) error {
		for range 1000 {
			writes++
			if _, err := io.WriteString(w, "backup"); err != nil {
				return fmt.Errorf("backup: %w", err)
			}
		}
		return nil
	}})
	r := ts.do("HEAD", "/v1/admin/backup", ts.admin, nil)
	if r.Status != 200 || r.Header.Get("Content-Type") != "application/octet-stream" || writes != 1 {
		t.Fatalf("HEAD of a backup: %d %q after %d writes, want 200 octet-stream after 1", r.Status, r.Header.Get("Content-Type"), writes)
	}
	for _, path := range []string{"/v1/admin/backup", "/v1/audit/export"} {
		if g, h := ts.do("GET", path, "", nil), ts.do("HEAD", path, "", nil); h.Status != g.Status || h.Status != 401 {
			t.Fatalf("%s without a token: GET %d, HEAD %d", path, g.Status, h.Status)
		}
		if g, h := ts.do("GET", "/v1/audit/export", ts.admin, nil), ts.do("HEAD", "/v1/audit/export", ts.admin, nil); h.Status != g.Status {
			t.Fatalf("an export with no audit log: GET %d, HEAD %d", g.Status, h.Status)
		}
	}
	for range MaxBackups {
		ts.api.backups <- struct{}{}
	}
	if r := ts.do("HEAD", "/v1/admin/backup", ts.admin, nil); r.Status != 503 || r.Header.Get("Retry-After") != "60" {
		t.Fatalf("HEAD of a backup with the slots taken: %d, Retry-After %q", r.Status, r.Header.Get("Retry-After"))
	}
}

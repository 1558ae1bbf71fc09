package api

import (
	"context"
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

// TestHeadOfAStreamSendsNothing: HEAD on a backup or an audit export
// answers its headers without running the stream or taking a slot
// (review s25R: it read the whole ledger for nothing).
func TestHeadOfAStreamSendsNothing(t *testing.T) {
	ran := 0
	ts := newTestServerWith(t, Config{Backup: func(_ context.Context, w io.Writer) error {
		ran++
		_, err := io.WriteString(w, "backup")
		return err
	}})
	for range MaxBackups {
		ts.api.backups <- struct{}{}
	}
	for _, path := range []string{"/v1/admin/backup", "/v1/audit/export"} {
		r := ts.do("HEAD", path, ts.admin, nil)
		if r.Status != 200 || r.Header.Get("Content-Type") != "application/octet-stream" {
			t.Fatalf("HEAD %s: %d %q", path, r.Status, r.Header.Get("Content-Type"))
		}
	}
	if r := ts.do("HEAD", "/v1/admin/backup", "", nil); r.Status != 401 {
		t.Fatalf("HEAD of a backup without a token: %d", r.Status)
	}
	if ran != 0 {
		t.Fatalf("HEAD ran the backup %d times", ran)
	}
}

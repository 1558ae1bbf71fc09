package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"tally/ledger"
	"tally/ledger/store"
)

// TestVerifyURLServerDamaged: a server whose /readyz answers 503
// ledger_damaged (it found a history line, transaction or document
// damaged, which its export does not carry) fails verify --url, however
// well its export verifies.
func TestVerifyURLServerDamaged(t *testing.T) {
	_, _, export := verifyFixture(t)
	damaged := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/readyz" && damaged:
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"type":"https://tally.community/problems/ledger_damaged","title":"Service Unavailable","status":503,"code":"ledger_damaged","detail":"not ready: the stored data failed verification"}`))
		case r.URL.Path == "/readyz":
			w.Write([]byte(`{"status":"ready","audit_size":10}`))
		case r.URL.Path == exportPath:
			w.Write(export)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	code, out, errs := runV(t, "--url", srv.URL, "--token", "t")
	if code != exitBad || !strings.Contains(errs, "FAILED") || !strings.Contains(errs, "damaged") || strings.HasPrefix(out, "ok") {
		t.Fatalf("a server reporting its store damaged: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	damaged = false
	code, out, errs = runV(t, "--url", srv.URL, "--token", "t")
	if code != exitVerified || !strings.HasPrefix(out, "ok: 10 records") || !strings.Contains(errs, "not checked") || strings.Contains(errs, "/readyz could not be read") {
		t.Fatalf("a ready server: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	// A /readyz that cannot be read (a proxy hiding it) is no evidence
	// either way: the chain verifies, and a note says what is unknown.
	for _, page := range []struct {
		status int
		body   string
	}{{404, "not found"}, {200, "<html>welcome</html>"}, {503, "<html>maintenance</html>"}} {
		hidden := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == exportPath {
				w.Write(export)
				return
			}
			w.WriteHeader(page.status)
			w.Write([]byte(page.body))
		}))
		code, out, errs = runV(t, "--url", hidden.URL, "--token", "t")
		hidden.Close()
		if code != exitVerified || !strings.HasPrefix(out, "ok: 10 records") || !strings.Contains(errs, "/readyz could not be read") {
			t.Fatalf("a proxy answering /readyz %d %q: exit %d, stdout %q, stderr %q", page.status, page.body, code, out, errs)
		}
	}
}

// TestVerifyExportUnsignedTail: an export whose last records follow its
// latest checkpoint (checkpoints left out: a forger's, whatever times its
// records carry) fails verify --export --key at the first of them; the
// data directory it came from may end so (a server killed before its
// next checkpoint) and verifies, saying so.
func TestVerifyExportUnsignedTail(t *testing.T) {
	dir, _, _ := verifyFixture(t)
	s, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := s.EnsureCheckpointKey(context.Background(), "")
	if err == nil {
		_, err = s.Submit(context.Background(), ledger.Request{Actor: ledger.Actor{ID: "admin"}, Op: func(tx ledger.Tx) (any, error) {
			tr, err := ledger.Transfer(tx, ledger.TransferSpec{Postings: []ledger.Posting{{From: "issuance", To: "alice", Amount: 1, Unit: ledger.HOUR}}})
			if err == nil {
				tx.Audit("tx.transfer", ledger.TxFields(tr))
			}
			return tr, err
		}})
	}
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	a, err := store.OpenAudit(dir) // a stopped directory's reader signs nothing
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	err = a.Export(context.Background(), &buf)
	a.Close()
	if err != nil {
		t.Fatal(err)
	}
	exp := writeFile(t, "tail.bin", buf.Bytes())
	if code, _, errs := runV(t, "--export", exp, "--key", vkey); code != exitBad || !strings.Contains(errs, "first bad seq 10:") || !strings.Contains(errs, "trusted_key") {
		t.Fatalf("an export with an unsigned record: exit %d %q", code, errs)
	}
	if code, _, errs := runV(t, "--data", dir, "--key", vkey); code != exitVerified || !strings.Contains(errs, "after the latest checkpoint") {
		t.Fatalf("the directory: exit %d %q", code, errs)
	}
}

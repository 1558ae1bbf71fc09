package api

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"tally/ledger"
	"tally/ledger/store"
	"tally/ledger/timebank"
)

// recordsLog serves the store's audit records to the API; the export
// needs nothing else of the audit log.
type recordsLog struct{ a *store.AuditDB }

func (l recordsLog) Records(_ context.Context, from uint64, limit int) ([]AuditRecord, error) {
	recs, _, err := l.a.Records(from, limit)
	out := make([]AuditRecord, len(recs))
	for i, r := range recs {
		out[i] = AuditRecord{Seq: r.Seq, Hash: r.Hash[:], Record: r.Record}
	}
	return out, err
}

var errNoAudit = ledger.Errorf(ledger.CodeUnavailable, "not in this test")

func (recordsLog) Checkpoint(context.Context) ([]byte, error)   { return nil, errNoAudit }
func (recordsLog) VerifierKey(context.Context) (string, error)  { return "", errNoAudit }
func (recordsLog) Receipt(context.Context, uint64) (any, error) { return nil, errNoAudit }
func (recordsLog) Export(context.Context, io.Writer) error      { return errNoAudit }
func (recordsLog) Consistency(context.Context, uint64, uint64) ([][]byte, error) {
	return nil, errNoAudit
}
func (recordsLog) Inclusion(context.Context, uint64, uint64) ([][]byte, uint64, error) {
	return nil, 0, errNoAudit
}
func (recordsLog) Checkpoints(context.Context, uint64, int) ([]CheckpointNote, error) {
	return nil, errNoAudit
}

// TestPostingsExport: the accounting export lists each posted move of the
// subtree's accounts as a debit row and a credit row, debits equal
// credits where both sides are in scope, pages cover every row once, the
// CSV holds the same rows, and residents may not read it.
func TestPostingsExport(t *testing.T) {
	tb := newTBServer(t)
	tb.serveWith(Config{Audit: recordsLog{tb.store.Audit()}})
	tb.community("d", "", nil)
	tb.community("a", "d", nil)
	tb.community("b", "d", nil)
	aud := tb.resident("aud", "d", nil, nil, "auditor")
	li := tb.resident("li", "a", nil, nil, "resident")
	tb.resident("sun", "b", nil, nil, "resident")
	tb.fund("a", "li", "3.00")
	tb.fund("b", "sun", "2.00")
	tb.must(201, "POST", "/v1/gifts", li, map[string]any{"from": "li", "to": "a:pool", "hours": "0.50"})

	day := tb.clock().In(timebank.DayZone).Format(time.DateOnly) // reports count China days
	q := "/v1/reports/postings?community=a&from=" + day + "&to=" + day
	r := tb.must(200, "GET", q+"&limit=500", aud, nil)
	d0, _ := time.ParseInLocation(time.DateOnly, day, timebank.DayZone)
	if r.Str("community") != "a" || r.Str("from") != d0.UTC().Format(time.RFC3339) || r.Str("to") != d0.AddDate(0, 0, 1).UTC().Format(time.RFC3339) {
		t.Fatalf("the period echoed: %s %s %s", r.Str("community"), r.Str("from"), r.Str("to"))
	}
	items, _ := r.Body["items"].([]any)
	var debits, credits int64
	for _, it := range items {
		row := it.(map[string]any)
		if acct := row["account"].(string); !strings.HasPrefix(acct, "a:") && acct != "li:HOUR" {
			t.Fatalf("row of an account outside community a: %v", row)
		}
		d, c := row["debit"], row["credit"]
		if (d == nil) == (c == nil) {
			t.Fatalf("a row needs exactly one of debit and credit: %v", row)
		}
		for _, v := range []any{d, c} {
			if s, ok := v.(string); ok {
				n, err := ledger.ParseAmount(s, ledger.HOUR)
				if err != nil {
					t.Fatal(err)
				}
				if v == d {
					debits += n
				} else {
					credits += n
				}
			}
		}
	}
	// Two moves inside a (issuance → li, li → pool), two rows each.
	if len(items) != 4 || debits != credits || debits != 350 {
		t.Fatalf("community a: %d rows, debits %d, credits %d; want 4 rows of 3.50 each way: %s", len(items), debits, credits, r.Raw)
	}
	// Pages of one record each cover the same rows.
	seen, after := 0, ""
	for range 100 {
		page := tb.must(200, "GET", q+"&limit=1"+after, aud, nil)
		its, _ := page.Body["items"].([]any)
		seen += len(its)
		next, ok := page.Body["next"].(float64)
		if !ok {
			break
		}
		after = fmt.Sprintf("&after=%d", uint64(next))
	}
	if seen != len(items) {
		t.Fatalf("paged export gave %d rows, whole %d", seen, len(items))
	}
	req, _ := http.NewRequest("GET", tb.http.URL+q, nil)
	req.Header.Set("Authorization", "Bearer "+aud)
	req.Header.Set("Accept", "text/csv")
	resp, err := tb.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(resp.Body).ReadAll()
	resp.Body.Close()
	if err != nil || len(rows) != len(items)+1 || rows[0][6] != "debit" {
		t.Fatalf("csv: %d rows (%v), want %d and a header", len(rows), err, len(items)+1)
	}
	// Days past 2262 or before 1678 (beyond nanosecond times) still work.
	wide := "/v1/reports/postings?community=a&from=1600-01-01&to=9999-12-31&limit=500"
	if w := tb.must(200, "GET", wide, aud, nil); len(w.Body["items"].([]any)) != len(items) {
		t.Fatalf("a period from 1600 to 9999: %s", w.Raw)
	}
	// An after past the period's end leaves nothing, in JSON and CSV.
	if e := tb.must(200, "GET", q+"&after=100000", aud, nil); len(e.Body["items"].([]any)) != 0 {
		t.Fatalf("after past the end: %s", e.Raw)
	}
	tb.must(200, "GET", q+"&after=100000", aud, nil, "Accept", "text/csv")
	tbProblem(t, tb.do("GET", q, li, nil), 403, "forbidden")
	tbProblem(t, tb.do("GET", "/v1/reports/postings?community=a&limit=0", aud, nil), 400, "invalid_request")
}

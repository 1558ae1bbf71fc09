package fund_test

import (
	"testing"
	"time"

	"tally/ledger"
	"tally/ledger/fund"
	"tally/ledger/ledgertest"
)

// FuzzStoredDocs: the fund readers of stored documents and index values
// (funds, donations, proposals, reports, disclosure) answer any stored
// bytes with a value or an error, never a panic.
func FuzzStoredDocs(f *testing.F) {
	for _, v := range []string{`{"id":"f","community":"c","accounts":{"pool":"f:pool"},"committee":["a","b"],"quorum":2}`,
		`{"id":"p1","fund":"f","amount":100,"status":"open","votes":{"a":"approve"}}`,
		`{"id":"d1","fund":"f","amount":100,"donor":"x","seq":3,"time":"2026-03-01T08:00:00Z"}`, `"d1"`, `3`, `null`, `{bad`, `[]`} {
		f.Add([]byte(v), "00000000000000000003")
		f.Add([]byte(v), "f2")
	}
	from, to := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, val []byte, key string) {
		r := ledgertest.StoredReader{Val: val, Key: key}
		pg := ledger.Page{Limit: 10}
		if fd, err := fund.Get(r, "f"); err == nil {
			fund.Inactive(r, fd)
			if p, err := fund.GetProposal(r, "p"); err == nil {
				fund.Current(r, fd, p)
			}
		}
		if ds, _, err := fund.Donations(r, "f", pg); err == nil {
			for _, d := range ds {
				fund.DonorName(r, d)
			}
		}
		fund.Proposals(r, "f", pg)
		fund.Disclosed(r, "f", 3)
		fund.BuildReport(r, "f", from, to)
		fund.BuildReport(r, "f", time.Time{}, time.Time{})
		fund.BuildSubtreeReport(r, "c", from, to)
	})
}

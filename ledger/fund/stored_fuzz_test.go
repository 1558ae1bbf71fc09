package fund_test

import (
	"encoding/json"
	"testing"
	"time"

	"tally/ledger"
	"tally/ledger/fund"
)

// storedReader serves the same stored bytes as every document, index
// value, account and transaction it is asked for, and one index key
// besides the exact one: what a damaged or hand-edited store could hold.
type storedReader struct {
	val []byte
	key string
}

func (s storedReader) Account(id string) (*ledger.Account, error) {
	a := &ledger.Account{}
	return a, json.Unmarshal(s.val, a)
}

func (s storedReader) Transaction(id string) (*ledger.Transaction, error) {
	t := &ledger.Transaction{}
	return t, json.Unmarshal(s.val, t)
}

func (s storedReader) Entries(account string, p ledger.Page) ([]ledger.Entry, string, error) {
	var e ledger.Entry
	if err := json.Unmarshal(s.val, &e); err != nil {
		return nil, "", err
	}
	return []ledger.Entry{e}, "", nil
}

func (s storedReader) Doc(kind, id string, v any) error { return json.Unmarshal(s.val, v) }

func (s storedReader) Docs(kind string, p ledger.Page, each func(id string, raw []byte) error) (string, error) {
	if p.After != "" {
		return "", nil
	}
	return "", each("x", s.val)
}

func (s storedReader) Index(prefix string, p ledger.Page, each func(key string, val []byte) error) (string, error) {
	if p.After == "" {
		if err := each("", s.val); err != nil {
			return "", err
		}
	}
	if s.key > p.After && s.key != "" {
		return "", each(s.key, s.val)
	}
	return "", nil
}

func (s storedReader) Personal(member string) (map[string]string, error) {
	return nil, ledger.Errorf(ledger.CodeNotFound, "no personal data")
}

func (s storedReader) Head() (uint64, time.Time) { return 1, time.Unix(0, 0) }

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
		r := storedReader{val: val, key: key}
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

package timebank_test

import (
	"encoding/json"
	"testing"
	"time"

	"tally/ledger"
	"tally/ledger/community"
	"tally/ledger/timebank"
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

// FuzzStoredDocs: the time bank's and the communities' readers of stored
// documents and index values (communities, members, services, needs,
// offers, redemptions, the catalogue, what communities owe each other)
// answer any stored bytes with a value or an error, never a panic.
func FuzzStoredDocs(f *testing.F) {
	for _, v := range []string{`{"id":"c","accounts":{"clearing":"c:clr","pool":"c:pool"},"parent":""}`,
		`{"id":"s1","community":"c","volunteer":"v","recipient":"r","hours":150,"status":"pending","occurred_at":"2026-03-01T08:00:00Z"}`,
		`{"id":"x","roles":["resident"],"community":"c","accounts":{"hours":"h"}}`, `150`, `-9223372036854775808`, `null`, `{bad`, `[]`, `"s"`} {
		f.Add([]byte(v), "20260301/s1")
		f.Add([]byte(v), "c2")
	}
	from, to := time.Date(2026, 3, 1, 0, 0, 0, 0, timebank.DayZone), time.Date(2026, 3, 31, 0, 0, 0, 0, timebank.DayZone)
	f.Fuzz(func(t *testing.T, val []byte, key string) {
		r := storedReader{val: val, key: key}
		pg := ledger.Page{Limit: 10}
		community.Get(r, "c")
		community.GetMember(r, "m")
		community.GetUser(r, "u")
		community.ListMembers(r, "c", nil, pg)
		timebank.Subtree(r, "c")
		timebank.ServiceReport(r, "c", from, to)
		timebank.CollusionSignals(r, "c", from, to)
		timebank.Settlement(r, "c")
		timebank.Catalogue(r, "c", pg)
		timebank.GetService(r, "s")
		timebank.GetNeed(r, "n")
		timebank.GetOffer(r, "o")
		timebank.GetRedemption(r, "d")
		timebank.ListServices(r, "c", "", pg)
		timebank.ListNeeds(r, "c", "", pg)
		timebank.ListOffers(r, "c", "", pg)
		timebank.ListRedemptions(r, "c", "", pg)
		timebank.MemberServices(r, "m", "", pg)
		timebank.MemberRedemptions(r, "m", "", pg)
	})
}

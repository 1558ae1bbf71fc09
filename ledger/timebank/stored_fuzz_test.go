package timebank_test

import (
	"testing"
	"time"

	"tally/ledger"
	"tally/ledger/community"
	"tally/ledger/ledgertest"
	"tally/ledger/timebank"
)

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
		r := ledgertest.StoredReader{Val: val, Key: key}
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

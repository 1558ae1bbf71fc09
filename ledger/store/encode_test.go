package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"math/rand"
	"testing"
	"time"

	"tally/ledger"
)

// encodeSamples are strings that take both paths of appendString.
var encodeSamples = []string{"", "m1", "tx-12.1", "bench", "a\"b", `back\slash`, "<script>&", "\x00\x1f\n\t",
	"张三", "\u2028", "\xff\xfe", "emoji 😀", "HOUR", "CNY", "no_overdraft", "open"}

func randString(r *rand.Rand) string {
	if r.Intn(3) == 0 {
		b := make([]byte, r.Intn(12))
		for i := range b {
			b[i] = byte(r.Intn(256))
		}
		return string(b)
	}
	return encodeSamples[r.Intn(len(encodeSamples))]
}

func randTime(r *rand.Rand) time.Time {
	switch r.Intn(6) {
	case 0:
		return time.Time{}
	case 1:
		return time.Unix(r.Int63n(1<<40), 0).UTC()
	case 2:
		return time.Unix(r.Int63n(1<<33), r.Int63n(1e9)).In(time.FixedZone("CST", 8*3600))
	case 3:
		return time.Date(10000+r.Intn(100), 1, 1, 0, 0, 0, 0, time.UTC) // json.Marshal fails
	}
	return time.Unix(r.Int63n(1<<33), r.Int63n(1e9)).UTC()
}

func randInt(r *rand.Rand) int64 {
	switch r.Intn(4) {
	case 0:
		return 0
	case 1:
		return -r.Int63()
	}
	return r.Int63()
}

// sameAsJSON checks that encodeJSON gives json.Marshal's bytes, or fails
// where it fails.
func sameAsJSON(t *testing.T, v any) {
	t.Helper()
	want, werr := json.Marshal(v)
	got, gerr := encodeJSON(v)
	if (werr != nil) != (gerr != nil) || !bytes.Equal(got, want) {
		t.Fatalf("encodeJSON(%#v)\n got %s (%v)\nwant %s (%v)", v, got, gerr, want, werr)
	}
}

func TestEncodeJSONMatches(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for range 3000 {
		a := &ledger.Account{ID: randString(r), Unit: ledger.Unit(randString(r)), OwnerKind: ledger.OwnerKind(randString(r)),
			Owner: randString(r), Kind: randString(r), Community: randString(r), Guard: ledger.Guard(randString(r)),
			CreditLimit: randInt(r), MaxBalance: randInt(r), Status: ledger.Status(randString(r)), Created: randTime(r),
			Seq: r.Uint64(), DebitsPosted: randInt(r), CreditsPosted: randInt(r), DebitsPending: randInt(r), CreditsPending: randInt(r)}
		sameAsJSON(t, a)
		e := ledger.Entry{Seq: r.Uint64(), Tx: randString(r), Time: randTime(r), Kind: randString(r), Amount: randInt(r),
			Unit: ledger.Unit(randString(r)), Counterparty: randString(r), Memo: randString(r)}
		sameAsJSON(t, e)
		bal := randInt(r)
		e.Balance = &bal
		sameAsJSON(t, e)
		tx := &ledger.Transaction{ID: randString(r), Seq: r.Uint64(), Time: randTime(r), Kind: randString(r),
			Status: ledger.TxStatus(randString(r)), Memo: randString(r), Actor: randString(r), OnBehalf: randString(r),
			Deadline: randTime(r), PendingID: randString(r), Reverses: randString(r), ResolvedBy: randString(r)}
		if n := r.Intn(4); n > 0 { // n == 0: nil postings encode as null
			tx.Postings = []ledger.Posting{}
			for range n - 1 {
				tx.Postings = append(tx.Postings, ledger.Posting{From: randString(r), To: randString(r),
					Amount: randInt(r), Unit: ledger.Unit(randString(r))})
			}
		}
		sameAsJSON(t, tx)
		res, err := json.Marshal(tx)
		if err != nil {
			res = nil
		}
		sameAsJSON(t, idemRecord{Fingerprint: sha256.Sum256([]byte(tx.ID)), Seq: r.Uint64(), Result: res})
		sameAsJSON(t, idemRecord{Seq: r.Uint64(), Result: res, Subjects: []string{randString(r), tx.ID}})
	}
	sameAsJSON(t, map[string]int{"other": 1}) // the fallback
}

func FuzzEncodeJSON(f *testing.F) {
	f.Add("m1", "HOUR", "memo", int64(5), int64(1795391639957750139), uint64(7))
	f.Add("<&>", "\u2028", "\xff", int64(-1), int64(0), uint64(0))
	f.Fuzz(func(t *testing.T, id, unit, memo string, amount, ns int64, seq uint64) {
		tm := time.Unix(0, ns).UTC()
		sameAsJSON(t, &ledger.Account{ID: id, Unit: ledger.Unit(unit), Owner: memo, Created: tm, Seq: seq,
			CreditLimit: amount, DebitsPosted: amount})
		sameAsJSON(t, ledger.Entry{Seq: seq, Tx: id, Time: tm, Kind: memo, Amount: amount, Unit: ledger.Unit(unit), Memo: memo})
		sameAsJSON(t, ledger.Entry{Seq: seq, Tx: id, Time: tm, Kind: memo, Amount: amount, Unit: ledger.Unit(unit), Balance: &amount})
		tx := &ledger.Transaction{ID: id, Seq: seq, Time: tm, Memo: memo, Deadline: tm,
			Postings: []ledger.Posting{{From: id, To: memo, Amount: amount, Unit: ledger.Unit(unit)}}}
		sameAsJSON(t, tx)
		res, _ := json.Marshal(tx)
		sameAsJSON(t, idemRecord{Seq: seq, Result: res})
		sameAsJSON(t, idemRecord{Seq: seq, Result: res, Subjects: []string{id, memo}})
	})
}

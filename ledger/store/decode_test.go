package store

import (
	"encoding/json"
	"math/rand"
	"reflect"
	"testing"
	"time"

	"tally/ledger"
)

// sameDecode checks decodeEntry and json.Unmarshal agree on raw.
func sameDecode(t *testing.T, raw []byte) {
	t.Helper()
	var got, want ledger.Entry
	gerr := decodeEntry(raw, &got)
	werr := json.Unmarshal(raw, &want)
	if (gerr == nil) != (werr == nil) {
		t.Fatalf("decodeEntry(%q): error %v, json.Unmarshal: %v", raw, gerr, werr)
	}
	if werr != nil {
		return
	}
	if !got.Time.Equal(want.Time) || got.Time.Location().String() != want.Time.Location().String() {
		t.Fatalf("decodeEntry(%q): time %v, want %v", raw, got.Time, want.Time)
	}
	got.Time, want.Time = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decodeEntry(%q)\n got %+v\nwant %+v", raw, got, want)
	}
}

func TestDecodeEntryMatches(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	// Lines as the ledger writes them all take the fast path.
	for i := range 1000 {
		e := ledger.Entry{Seq: r.Uint64(), Tx: "tx-" + string(rune('a'+i%26)), Time: time.Unix(r.Int63n(1<<33), r.Int63n(1e9)).UTC(),
			Kind: "posted", Amount: randInt(r), Unit: ledger.HOUR, Counterparty: "li:HOUR", Memo: []string{"", "礼物 gift"}[i%2]}
		if i%3 > 0 { // lines from before balances were kept have none
			b := randInt(r)
			e.Balance = &b
		}
		raw, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		var x ledger.Entry
		if !fastEntry(raw, &x) {
			t.Fatalf("%s did not take the fast path", raw)
		}
		sameDecode(t, raw)
	}
	for range 5000 {
		e := ledger.Entry{Seq: r.Uint64(), Tx: randString(r), Time: randTime(r), Kind: randString(r), Amount: randInt(r),
			Unit: ledger.Unit(randString(r)), Counterparty: randString(r), Memo: randString(r)}
		if r.Intn(2) == 0 {
			b := randInt(r)
			e.Balance = &b
		}
		raw, err := json.Marshal(e)
		if err != nil {
			continue
		}
		sameDecode(t, raw)
		// and damaged or reshaped forms of it
		sameDecode(t, raw[:r.Intn(len(raw))])
		b := append([]byte{}, raw...)
		b[r.Intn(len(b))] = byte(r.Intn(256))
		sameDecode(t, b)
	}
	for _, s := range []string{
		`{"seq":1,"tx":"t","time":"2026-01-01T00:00:00Z","kind":"posted","amount":-5,"unit":"HOUR","counterparty":"a"}`,
		`{"seq":01,"tx":"t","time":"2026-01-01T00:00:00Z","kind":"posted","amount":-5,"unit":"HOUR","counterparty":"a"}`,
		`{"seq":1,"tx":"t","time":"2026-01-01T00:00:00Z","kind":"posted","amount":-0,"unit":"HOUR","counterparty":"a"}`,
		`{"seq":1,"tx":"t","time":"2026-01-01T00:00:00Z","kind":"posted","amount":1e3,"unit":"HOUR","counterparty":"a"}`,
		`{"seq":18446744073709551616,"tx":"t","time":"2026-01-01T00:00:00Z","kind":"posted","amount":1,"unit":"HOUR","counterparty":"a"}`,
		`{"seq":1,"tx":"t","time":"2026-01-01T00:00:00+08:00","kind":"posted","amount":1,"unit":"HOUR","counterparty":"a","memo":""}`,
		`{"seq":1,"tx":"t","time":"2026-01-01T00:00:00.500Z","kind":"posted","amount":1,"unit":"HOUR","counterparty":"a","memo":"x"}`,
		`{"seq":1,"tx":"t","time":"2026-01-01T00:00:00Z","kind":"posted","amount":1,"unit":"HOUR","counterparty":"a","memo":"x"} `,
		`{"seq":1,"tx":"t","time":"2026-01-01T00:00:00Z","kind":"posted","amount":1,"unit":"HOUR","counterparty":"a","memo":"x","x":1}`,
	} {
		sameDecode(t, []byte(s))
	}
	for _, tm := range []string{"2026-02-29T00:00:00Z", "2024-02-29T23:59:59Z", "2026-11-31T00:00:00Z", "2026-01-01T24:00:00Z",
		"2026-01-01T00:00:60Z", "2026-01-01T00:00:00.1Z", "2026-01-01T00:00:00.10Z", "2026-01-01T00:00:00.Z",
		"2026-01-01T00:00:00.1234567891Z", "2026-1-01T00:00:00Z", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z",
		"2026-01-01t00:00:00z", "+2026-01-01T00:00:00Z", "2026-01-01T00:00:00+00:00"} {
		sameDecode(t, []byte(`{"seq":1,"tx":"t","time":"`+tm+`","kind":"posted","amount":1,"unit":"HOUR","counterparty":"a"}`))
	}
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add([]byte(`{"seq":1,"tx":"t","time":"2026-01-01T00:00:00Z","kind":"posted","amount":-5,"unit":"HOUR","counterparty":"a","memo":"m"}`))
	f.Add([]byte(`{"seq":1,"tx":"t","time":"2026-01-01T00:00:00Z","kind":"posted","amount":-5,"unit":"HOUR","counterparty":"a","balance":-5}`))
	f.Add([]byte(`{"seq":1,"tx":"t\u003c","time":"2026-01-01T00:00:00.1+08:00","kind":"","amount":0,"unit":"","counterparty":""}`))
	f.Fuzz(func(t *testing.T, raw []byte) { sameDecode(t, raw) })
}

// sameTxDecode checks decodeTransaction and json.Unmarshal agree on raw.
func sameTxDecode(t *testing.T, raw []byte) {
	t.Helper()
	var got, want ledger.Transaction
	gerr := decodeTransaction(raw, &got)
	werr := json.Unmarshal(raw, &want)
	if (gerr == nil) != (werr == nil) {
		t.Fatalf("decodeTransaction(%q): error %v, json.Unmarshal: %v", raw, gerr, werr)
	}
	if werr != nil {
		return
	}
	for _, p := range [][2]*time.Time{{&got.Time, &want.Time}, {&got.Deadline, &want.Deadline}} {
		if !p[0].Equal(*p[1]) || p[0].Location().String() != p[1].Location().String() {
			t.Fatalf("decodeTransaction(%q): time %v, want %v", raw, *p[0], *p[1])
		}
		*p[0], *p[1] = time.Time{}, time.Time{}
	}
	if len(got.Postings) == 0 && len(want.Postings) == 0 {
		got.Postings, want.Postings = nil, nil // [] and null read alike here
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decodeTransaction(%q)\n got %+v\nwant %+v", raw, got, want)
	}
}

func TestDecodeTransactionMatches(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for i := range 1000 { // as the ledger writes them: the fast path
		tx := ledger.Transaction{ID: "tx-" + string(rune('a'+i%26)), Seq: r.Uint64(), Time: time.Unix(r.Int63n(1<<33), r.Int63n(1e9)).UTC(),
			Kind: "transfer", Status: ledger.TxPosted, Memo: []string{"", "礼物"}[i%2], Actor: "wang", OnBehalf: []string{"", "zhang"}[i%2],
			Postings: []ledger.Posting{{From: "a", To: "b", Amount: randInt(r), Unit: ledger.HOUR}}}
		if i%3 == 0 {
			tx.Deadline, tx.Status, tx.ResolvedBy = tx.Time.Add(time.Hour), ledger.TxVoided, "tx-9"
		}
		raw, err := json.Marshal(tx)
		if err != nil {
			t.Fatal(err)
		}
		var x ledger.Transaction
		if !fastTransaction(raw, &x) {
			t.Fatalf("%s did not take the fast path", raw)
		}
		sameTxDecode(t, raw)
	}
	for range 3000 {
		tx := ledger.Transaction{ID: randString(r), Seq: r.Uint64(), Time: randTime(r), Kind: randString(r),
			Status: ledger.TxStatus(randString(r)), Memo: randString(r), Actor: randString(r), OnBehalf: randString(r),
			Deadline: randTime(r), PendingID: randString(r), Reverses: randString(r), ResolvedBy: randString(r)}
		for range r.Intn(4) {
			tx.Postings = append(tx.Postings, ledger.Posting{From: randString(r), To: randString(r), Amount: randInt(r), Unit: ledger.Unit(randString(r))})
		}
		raw, err := json.Marshal(tx)
		if err != nil {
			continue
		}
		sameTxDecode(t, raw)
		sameTxDecode(t, raw[:r.Intn(len(raw))])
		b := append([]byte{}, raw...)
		b[r.Intn(len(b))] = byte(r.Intn(256))
		sameTxDecode(t, b)
	}
}

func FuzzDecodeTransaction(f *testing.F) {
	f.Add([]byte(`{"id":"tx-1","seq":1,"time":"2026-01-01T00:00:00Z","kind":"transfer","status":"posted","postings":[{"from":"a","to":"b","amount":5,"unit":"HOUR"}],"memo":"m","actor":"x","deadline":"2026-01-02T00:00:00Z","resolved_by":"tx-2"}`))
	f.Add([]byte(`{"id":"tx-1","seq":1,"time":"2026-01-01T00:00:00Z","kind":"","status":"","postings":[],"actor":""}`))
	f.Add([]byte(`{"id":"tx-1","seq":1,"time":"2026-01-01T00:00:00Z","kind":"","status":"","postings":null,"actor":""}`))
	f.Fuzz(func(t *testing.T, raw []byte) { sameTxDecode(t, raw) })
}

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
	f.Add([]byte(`{"seq":1,"tx":"t\u003c","time":"2026-01-01T00:00:00.1+08:00","kind":"","amount":0,"unit":"","counterparty":""}`))
	f.Fuzz(func(t *testing.T, raw []byte) { sameDecode(t, raw) })
}

package store

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"tally/ledger"
)

// decodeEntry reads a stored history line. The writer stores exactly
// json.Marshal's bytes (appendEntry), so the common line is read by a
// scanner of that one layout; anything else (escapes in a string, another
// field order, a damaged value) goes to encoding/json, and the two agree
// on every input (TestDecodeEntryMatches, FuzzDecodeEntry). The verifier
// reads every line of a data directory, where this is most of its work.
func decodeEntry(raw []byte, e *ledger.Entry) error {
	if fastEntry(raw, e) {
		return nil
	}
	*e = ledger.Entry{}
	return json.Unmarshal(raw, e)
}

func fastEntry(raw []byte, e *ledger.Entry) bool {
	d := fastDec{b: raw}
	var seq uint64
	var amount int64
	var tx, tm, kind, unit, cp, memo []byte
	ok := d.lit(`{"seq":`) && d.uint(&seq) &&
		d.lit(`,"tx":`) && d.str(&tx) &&
		d.lit(`,"time":`) && d.str(&tm) &&
		d.lit(`,"kind":`) && d.str(&kind) &&
		d.lit(`,"amount":`) && d.int(&amount) &&
		d.lit(`,"unit":`) && d.str(&unit) &&
		d.lit(`,"counterparty":`) && d.str(&cp)
	if !ok {
		return false
	}
	if d.lit(`,"memo":`) && (!d.str(&memo) || len(memo) == 0) {
		return false // json.Marshal omits an empty memo
	}
	var balance *int64
	if d.lit(`,"balance":`) {
		var b int64
		if !d.int(&b) {
			return false
		}
		balance = &b
	}
	if !d.lit("}") || d.off != len(raw) {
		return false
	}
	t, ok := utcTime(tm)
	if !ok {
		return false // only the canonical UTC form; the rest to encoding/json
	}
	*e = ledger.Entry{Seq: seq, Tx: string(tx), Time: t, Kind: intern(kind), Amount: amount,
		Unit: ledger.Unit(intern(unit)), Counterparty: string(cp), Memo: string(memo), Balance: balance}
	return true
}

// interned are the words most lines repeat, kept as one string each.
var interned = map[string]string{"posted": "posted", "pending": "pending", "released": "released",
	"voided": "voided", "transfer": "transfer", "post": "post", "void": "void",
	string(ledger.HOUR): string(ledger.HOUR), string(ledger.CNY): string(ledger.CNY)}

func intern(b []byte) string {
	if s, ok := interned[string(b)]; ok {
		return s
	}
	return string(b)
}

// fastDec scans one fixed JSON layout; every method reports whether the
// input had the expected shape there.
type fastDec struct {
	b   []byte
	off int
}

func (d *fastDec) lit(s string) bool {
	if !bytes.HasPrefix(d.b[d.off:], []byte(s)) {
		return false
	}
	d.off += len(s)
	return true
}

// str reads a string with no escapes, control characters or invalid
// UTF-8 (json.Unmarshal would rewrite those).
func (d *fastDec) str(out *[]byte) bool {
	if d.off >= len(d.b) || d.b[d.off] != '"' {
		return false
	}
	i := d.off + 1
	for ; i < len(d.b) && d.b[i] != '"'; i++ {
		if c := d.b[i]; c == '\\' || c < 0x20 {
			return false
		}
	}
	if i == len(d.b) || !utf8.Valid(d.b[d.off+1:i]) {
		return false
	}
	*out = d.b[d.off+1 : i]
	d.off = i + 1
	return true
}

// number reads the digits of a JSON integer (canonical: no leading zero,
// no fraction or exponent).
func (d *fastDec) number(signed bool) ([]byte, bool) {
	start := d.off
	if signed && d.off < len(d.b) && d.b[d.off] == '-' {
		d.off++
	}
	digits := d.off
	for d.off < len(d.b) && d.b[d.off] >= '0' && d.b[d.off] <= '9' {
		d.off++
	}
	n := d.off - digits
	if n == 0 || (n > 1 && d.b[digits] == '0') {
		return nil, false
	}
	return d.b[start:d.off], true
}

func (d *fastDec) uint(out *uint64) bool {
	s, ok := d.number(false)
	if !ok {
		return false
	}
	v, err := strconv.ParseUint(string(s), 10, 64)
	*out = v
	return err == nil
}

func (d *fastDec) int(out *int64) bool {
	s, ok := d.number(true)
	if !ok {
		return false
	}
	v, err := strconv.ParseInt(string(s), 10, 64)
	*out = v
	return err == nil
}

// utcTime reads the form the ledger writes, RFC 3339 in UTC with the
// fraction of time.RFC3339Nano ("2026-11-23T02:32:13.648083519Z": no
// trailing zeros, no fraction when whole), refusing anything else.
func utcTime(b []byte) (time.Time, bool) {
	if len(b) < 20 || b[len(b)-1] != 'Z' || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	num := func(i, n int) (int, bool) {
		v := 0
		for _, c := range b[i : i+n] {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	year, ok1 := num(0, 4)
	month, ok2 := num(5, 2)
	day, ok3 := num(8, 2)
	hour, ok4 := num(11, 2)
	minute, ok5 := num(14, 2)
	sec, ok6 := num(17, 2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	ns := 0
	if frac := b[19 : len(b)-1]; len(frac) > 0 {
		if len(frac) < 2 || len(frac) > 10 || frac[0] != '.' || frac[len(frac)-1] == '0' {
			return time.Time{}, false
		}
		v, ok := num(20, len(frac)-1)
		if !ok {
			return time.Time{}, false
		}
		for range 10 - len(frac) {
			v *= 10
		}
		ns = v
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, ns, time.UTC)
	if t.Day() != day { // 31 November, 29 February of a common year
		return time.Time{}, false
	}
	return t, true
}

// decodeTransaction reads a stored transaction like decodeEntry: the one
// layout appendTransaction writes by a scanner, anything else by
// encoding/json (TestDecodeTransactionMatches, FuzzDecodeTransaction).
func decodeTransaction(raw []byte, t *ledger.Transaction) error {
	if fastTransaction(raw, t) {
		return nil
	}
	*t = ledger.Transaction{}
	return json.Unmarshal(raw, t)
}

func fastTransaction(raw []byte, t *ledger.Transaction) bool {
	d := fastDec{b: raw}
	var id, tm, kind, status, actor []byte
	var seq uint64
	ok := d.lit(`{"id":`) && d.str(&id) && d.lit(`,"seq":`) && d.uint(&seq) &&
		d.lit(`,"time":`) && d.str(&tm) && d.lit(`,"kind":`) && d.str(&kind) &&
		d.lit(`,"status":`) && d.str(&status) && d.lit(`,"postings":[`)
	if !ok {
		return false
	}
	ps := t.Postings[:0]
	for i := 0; ; i++ {
		if d.lit("]") {
			break
		}
		if i > 0 && !d.lit(",") {
			return false
		}
		var from, to, unit []byte
		var amount int64
		if !(d.lit(`{"from":`) && d.str(&from) && d.lit(`,"to":`) && d.str(&to) &&
			d.lit(`,"amount":`) && d.int(&amount) && d.lit(`,"unit":`) && d.str(&unit) && d.lit("}")) {
			return false
		}
		ps = append(ps, ledger.Posting{From: string(from), To: string(to), Amount: amount, Unit: ledger.Unit(intern(unit))})
	}
	var memo, onBehalf, deadline, pending, reverses, resolved []byte
	if !d.opt(`,"memo":`, &memo) || !d.lit(`,"actor":`) || !d.str(&actor) || !d.opt(`,"on_behalf":`, &onBehalf) ||
		!d.opt(`,"deadline":`, &deadline) || !d.opt(`,"pending_id":`, &pending) ||
		!d.opt(`,"reverses":`, &reverses) || !d.opt(`,"resolved_by":`, &resolved) ||
		!d.lit("}") || d.off != len(raw) {
		return false
	}
	at, ok := utcTime(tm)
	if !ok {
		return false
	}
	var dl time.Time
	if deadline != nil {
		if dl, ok = utcTime(deadline); !ok || dl.IsZero() {
			return false
		}
	}
	*t = ledger.Transaction{ID: string(id), Seq: seq, Time: at, Kind: intern(kind), Status: ledger.TxStatus(intern(status)),
		Postings: ps, Memo: string(memo), Actor: string(actor), OnBehalf: string(onBehalf), Deadline: dl,
		PendingID: string(pending), Reverses: string(reverses), ResolvedBy: string(resolved)}
	return true
}

// opt reads an omitempty string field if it is there: it must then be a
// non-empty string (encoding/json would omit an empty one).
func (d *fastDec) opt(prefix string, out *[]byte) bool {
	if !d.lit(prefix) {
		return true
	}
	return d.str(out) && len(*out) > 0
}

package store

import (
	"encoding/json"
	"strconv"
	"time"

	"tally/ledger"
)

// encodeJSON is json.Marshal with hand-written encoders for the values the
// writer stores on every transfer (accounts, history entries,
// transactions, idempotency records). It produces exactly the bytes
// json.Marshal does — FuzzEncodeJSON and TestEncodeJSONMatches check it —
// so the stored format and every reader stay as they are; it only spares
// the single writer reflection, which was half of its CPU per transfer.
// Anything else, or a value the fast path does not cover (a time outside
// years 0–9999), goes to json.Marshal.
func encodeJSON(v any) ([]byte, error) {
	var b []byte
	ok := true
	switch x := v.(type) {
	case *ledger.Account:
		b, ok = appendAccount(make([]byte, 0, 256), x)
	case ledger.Entry:
		b, ok = appendEntry(make([]byte, 0, 160), &x)
	case *ledger.Transaction:
		b, ok = appendTransaction(make([]byte, 0, 256), x)
	case idemRecord:
		b = appendIdem(make([]byte, 0, 160+len(x.Result)), &x)
	default:
		return json.Marshal(v)
	}
	if !ok {
		return json.Marshal(v)
	}
	return b, nil
}

// appendString appends s as encoding/json would. Strings of printable
// ASCII without the characters json escapes (", \, <, >, &) are copied;
// any other string is left to encoding/json.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendTime appends t as time.Time.MarshalJSON does; it reports false
// where MarshalJSON would fail or differ (years outside 0–9999, odd
// offsets), so the caller falls back to encoding/json.
func appendTime(b []byte, t time.Time) ([]byte, bool) {
	if y := t.Year(); y < 0 || y > 9999 {
		return b, false
	}
	if _, off := t.Zone(); off%60 != 0 {
		return b, false
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), true
}

func appendInt(b []byte, name string, v int64) []byte {
	b = append(b, name...)
	return strconv.AppendInt(b, v, 10)
}

func appendUint(b []byte, name string, v uint64) []byte {
	b = append(b, name...)
	return strconv.AppendUint(b, v, 10)
}

func appendField(b []byte, name, v string) []byte {
	return appendString(append(b, name...), v)
}

func appendAccount(b []byte, a *ledger.Account) ([]byte, bool) {
	b = appendField(b, `{"id":`, a.ID)
	b = appendField(b, `,"unit":`, string(a.Unit))
	b = appendField(b, `,"owner_kind":`, string(a.OwnerKind))
	b = appendField(b, `,"owner":`, a.Owner)
	b = appendField(b, `,"kind":`, a.Kind)
	if a.Community != "" {
		b = appendField(b, `,"community":`, a.Community)
	}
	b = appendField(b, `,"guard":`, string(a.Guard))
	if a.CreditLimit != 0 {
		b = appendInt(b, `,"credit_limit":`, a.CreditLimit)
	}
	if a.MaxBalance != 0 {
		b = appendInt(b, `,"max_balance":`, a.MaxBalance)
	}
	b = appendField(b, `,"status":`, string(a.Status))
	b = append(b, `,"created":`...)
	b, ok := appendTime(b, a.Created)
	b = appendUint(b, `,"seq":`, a.Seq)
	b = appendInt(b, `,"debits_posted":`, a.DebitsPosted)
	b = appendInt(b, `,"credits_posted":`, a.CreditsPosted)
	b = appendInt(b, `,"debits_pending":`, a.DebitsPending)
	b = appendInt(b, `,"credits_pending":`, a.CreditsPending)
	return append(b, '}'), ok
}

func appendEntry(b []byte, e *ledger.Entry) ([]byte, bool) {
	b = appendUint(b, `{"seq":`, e.Seq)
	b = appendField(b, `,"tx":`, e.Tx)
	b = append(b, `,"time":`...)
	b, ok := appendTime(b, e.Time)
	b = appendField(b, `,"kind":`, e.Kind)
	b = appendInt(b, `,"amount":`, e.Amount)
	b = appendField(b, `,"unit":`, string(e.Unit))
	b = appendField(b, `,"counterparty":`, e.Counterparty)
	if e.Memo != "" {
		b = appendField(b, `,"memo":`, e.Memo)
	}
	if e.Balance != nil {
		b = appendInt(b, `,"balance":`, *e.Balance)
	}
	return append(b, '}'), ok
}

func appendTransaction(b []byte, t *ledger.Transaction) ([]byte, bool) {
	b = appendField(b, `{"id":`, t.ID)
	b = appendUint(b, `,"seq":`, t.Seq)
	b = append(b, `,"time":`...)
	b, ok := appendTime(b, t.Time)
	b = appendField(b, `,"kind":`, t.Kind)
	b = appendField(b, `,"status":`, string(t.Status))
	b = append(b, `,"postings":`...)
	if t.Postings == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, p := range t.Postings {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendField(b, `{"from":`, p.From)
			b = appendField(b, `,"to":`, p.To)
			b = appendInt(b, `,"amount":`, p.Amount)
			b = appendField(b, `,"unit":`, string(p.Unit))
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if t.Memo != "" {
		b = appendField(b, `,"memo":`, t.Memo)
	}
	b = appendField(b, `,"actor":`, t.Actor)
	if t.OnBehalf != "" {
		b = appendField(b, `,"on_behalf":`, t.OnBehalf)
	}
	if !t.Deadline.IsZero() {
		var dok bool
		b = append(b, `,"deadline":`...)
		b, dok = appendTime(b, t.Deadline)
		ok = ok && dok
	}
	if t.PendingID != "" {
		b = appendField(b, `,"pending_id":`, t.PendingID)
	}
	if t.Reverses != "" {
		b = appendField(b, `,"reverses":`, t.Reverses)
	}
	if t.ResolvedBy != "" {
		b = appendField(b, `,"resolved_by":`, t.ResolvedBy)
	}
	return append(b, '}'), ok
}

// appendIdem encodes an idempotency record. Its Result is always the
// output of encodeJSON (compact, valid JSON), which encoding/json would
// copy unchanged; an empty one encodes as null, as encoding/json does.
func appendIdem(b []byte, r *idemRecord) []byte {
	b = append(b, `{"fp":[`...)
	for i, c := range r.Fingerprint {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(c), 10)
	}
	b = appendUint(b, `],"seq":`, r.Seq)
	b = append(b, `,"result":`...)
	if len(r.Result) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, r.Result...)
	}
	if len(r.Subjects) > 0 {
		b = append(b, `,"subjects":[`...)
		for i, s := range r.Subjects {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, s)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

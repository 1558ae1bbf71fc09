package audit

import (
	"context"
	"encoding/binary"
	"hash/maphash"
	"sort"
)

// Entry is one stored history line of an account, as a data directory
// keeps it (h/<account>/<seq><n>): what a resident sees as their history.
// Every line follows from one effect of record Seq: a move or a hold
// gives its source a line of −amount and its destination one of +amount
// (kinds "posted" and "pending"); a release gives them back (+amount to
// the source, −amount to the destination, kind "released"). N orders an
// account's lines within one record, in the order of the effects.
type Entry struct {
	Account      string
	Seq          uint64 // from the key
	N            uint16 // from the key
	ValueSeq     uint64 // the seq the stored line names
	Time         int64  // ns
	Kind         string
	Amount       int64
	Unit         string
	Counterparty string
	// Tx is the transaction the line belongs to (a release's: the one that
	// resolved the hold, its effect's "by"), Memo that transaction's memo.
	Tx   string
	Memo string
	// Balance is the account's posted balance after the line, as the
	// line states it (HasBalance: lines written before balances were kept
	// state none). It is not part of the canonical line: the stored side
	// checks it against the sum of the account's posted lines so far.
	Balance    int64
	HasBalance bool
	// BadKey marks a key outside the layout h/<account>/<seq u64><n u16>:
	// Account is then the whole key after "h/", Seq and N are meaningless,
	// and no record gives the line.
	BadKey bool
}

// EntryVisitor is a Visitor that also takes the stored history lines. A
// source that keeps them (a data directory) asks it once for a sink and
// hands the sink every line of the same snapshot, in key order (account
// id, then seq, then n), from a goroutine of its own that may run beside
// the other Visitor calls; every sink call ends before Walk returns.
type EntryVisitor interface {
	Entries() EntrySink
}

// EntrySink takes stored history lines. The Entry is the caller's to
// reuse after the call.
type EntrySink interface {
	Entry(e *Entry) error
}

// Entry kinds, as the ledger writes them.
const (
	entryPosted   = "posted"
	entryPending  = "pending"
	entryReleased = "released"
)

// MaxHistoryRecheck bounds how many accounts whose history differs from
// the chain are looked at again, line by line, to name the first bad
// sequence number.
const MaxHistoryRecheck = 16

// history is an account's lines folded into one 64-bit digest, in order,
// with their count: the replay keeps one per account and the stored side
// one for the account being read, so checking every line costs
// O(accounts) memory. The digest is keyed with a seed drawn for each
// verification (hash/maphash), which whoever changed a data directory
// cannot know: a changed line goes unnoticed with probability 2⁻⁶⁴.
// Where the digests differ, the lines are compared one by one
// (recheckHistory), so a report never rests on the digest alone.
type history struct {
	sum uint64
	n   uint64
}

// add folds line in with d, the verification's seeded hash.
func (h *history) add(d *maphash.Hash, line []byte) {
	d.Reset()
	var prev [8]byte
	binary.BigEndian.PutUint64(prev[:], h.sum)
	d.Write(prev[:])
	d.Write(line)
	h.sum = d.Sum64()
	h.n++
}

// appendLine is the canonical form of a line that both sides digest.
func appendLine(b []byte, seq uint64, n uint16, time int64, kind string, amount int64, unit, counterparty, tx, memo string) []byte {
	b = binary.BigEndian.AppendUint64(b, seq)
	b = binary.BigEndian.AppendUint16(b, n)
	b = binary.BigEndian.AppendUint64(b, uint64(time))
	b = binary.BigEndian.AppendUint64(b, uint64(amount))
	for _, s := range [...]string{kind, unit, counterparty, tx, memo} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	return b
}

// lineOf is a stored line's canonical form.
func lineOf(b []byte, e *Entry) []byte {
	return appendLine(b, e.ValueSeq, e.N, e.Time, e.Kind, e.Amount, e.Unit, e.Counterparty, e.Tx, e.Memo)
}

// expectedLines calls fn with the lines a record's effects give, in
// order, numbering each account's lines from 0.
func expectedLines(buf *[]byte, seq uint64, time int64, effects []effect, counts map[string]uint16, fn func(account string, n uint16, line []byte)) {
	clear(counts)
	for i := range effects {
		e := &effects[i]
		var kind string
		sign := int64(1)
		tx := e.tx
		switch string(e.op) {
		case effectMove:
			kind = entryPosted
		case effectHold:
			kind = entryPending
		case effectRelease:
			kind, sign, tx = entryReleased, -1, e.by
		default:
			continue
		}
		for _, side := range [2]struct {
			acct, other []byte
			amount      int64
		}{{e.from, e.to, -sign * e.amount}, {e.to, e.from, sign * e.amount}} {
			a := string(side.acct)
			n := counts[a]
			counts[a] = n + 1
			*buf = appendLine((*buf)[:0], seq, n, time, kind, side.amount, string(e.unit), string(side.other), string(tx), string(e.memo))
			fn(a, n, *buf)
		}
	}
}

// storedSink is the stored side: it folds each account's stored lines
// into a digest of its own (in the source's goroutine), and the verifier
// compares the two sides once both are complete.
type storedSink struct {
	digest   maphash.Hash
	accounts map[string]history
	cur      string
	h        history
	started  bool
	line     []byte
	lines    uint64
	moved    []string // accounts with a line whose key and value name other records
	// posted is the sum of the current account's posted lines so far: a
	// line stating a balance must state this (badBalance: the first that
	// did not, by the seq of its key).
	balAccount string
	posted     int64
	balSeen    bool // a line of the account so far stated a balance
	badBalance *VerifyError
	// unstated counts lines without a balance after one with a balance
	// in their account (Report.Unstated), the first at unstatedFirst.
	unstated      uint64
	unstatedFirst uint64
}

func newStoredSink(seed maphash.Seed) *storedSink {
	s := &storedSink{accounts: map[string]history{}}
	s.digest.SetSeed(seed)
	return s
}

func (s *storedSink) Entry(e *Entry) error {
	if !s.started || e.Account != s.cur {
		s.end()
		s.cur, s.h, s.started = e.Account, history{}, true
	}
	s.checkBalance(e)
	if e.ValueSeq != e.Seq && len(s.moved) < MaxHistoryRecheck {
		s.moved = append(s.moved, e.Account)
	}
	s.line = lineOf(s.line[:0], e)
	s.h.add(&s.digest, s.line)
	s.lines++
	return nil
}

// checkBalance adds a line to its account's sum of posted lines and
// compares the balance the line states with it. A key outside the layout
// names no account: it neither counts nor breaks the account around it.
func (s *storedSink) checkBalance(e *Entry) {
	if e.BadKey {
		return
	}
	if e.Account != s.balAccount {
		s.balAccount, s.posted, s.balSeen = e.Account, 0, false
	}
	if e.Kind == entryPosted {
		s.posted += e.Amount // wraps as the ledger's checked sums never do: then the balance differs
	}
	if !e.HasBalance && s.balSeen {
		// Lines are written with their balance since the version that
		// began stating it, and older lines come first — unless that
		// older version ran again after it (a rollback), or the balance
		// was removed: reported, since no figure depends on it.
		if s.unstated == 0 || e.Seq < s.unstatedFirst {
			s.unstatedFirst = e.Seq
		}
		s.unstated++
	}
	s.balSeen = s.balSeen || e.HasBalance
	if e.HasBalance && e.Balance != s.posted && (s.badBalance == nil || e.Seq < s.badBalance.Seq) {
		s.badBalance = failAt(e.Seq, ReasonHistory, "stored history line %d/%d states a balance of %d, its account's lines so far sum to %d", e.Seq, e.N, e.Balance, s.posted)
		s.badBalance.Account = e.Account
	}
}

func (s *storedSink) end() {
	if s.started {
		s.accounts[s.cur] = s.h
		s.started = false
	}
}

// Entries is the verifier's sink of stored lines.
func (v *verifier) Entries() EntrySink { return v.sink }

func (v *verifier) historyFail(account string) {
	if len(v.badHistory) < MaxHistoryRecheck && !v.badHistorySet[account] {
		v.badHistorySet[account] = true
		v.badHistory = append(v.badHistory, account)
	}
}

// finishHistory compares the stored lines with the chain's, account by
// account, once both sides are complete. A source that keeps no history
// (an export) handed over no lines: then nothing is compared.
func (v *verifier) finishHistory() {
	s := v.sink
	s.end()
	if s.lines == 0 {
		return
	}
	v.report.Entries = s.lines
	var bad []string
	for id, h := range s.accounts {
		if r, ok := v.rp.accounts[id]; !ok || r.hist != h {
			bad = append(bad, id)
		}
	}
	for id, r := range v.rp.accounts {
		if _, ok := s.accounts[id]; !ok && r.hist.n > 0 {
			bad = append(bad, id)
		}
	}
	sort.Strings(bad)
	for _, id := range append(s.moved, bad...) {
		v.historyFail(id)
	}
}

// recheckHistory walks src again for the accounts whose history differs,
// and names the first record where a stored line and the chain part ways:
// always a seq a key or the chain gives, never one read from a stored
// value (which whoever damaged it chose). A key outside the layout, or
// naming a record beyond the log, is named at the log's size (records).
func recheckHistory(ctx context.Context, src Source, accounts []string, records uint64) (*VerifyError, error) {
	p := &historyProbe{want: map[string]*probeLines{}, counts: map[string]uint16{}}
	for _, a := range accounts {
		p.want[a] = &probeLines{}
	}
	if err := src.Walk(ctx, p); err != nil {
		return nil, err
	}
	var worst *VerifyError
	keep := func(ve *VerifyError) {
		if ve != nil && (worst == nil || ve.Seq < worst.Seq) {
			worst = ve
		}
	}
	for _, a := range accounts {
		pl := p.want[a]
		keep(firstDifference(a, pl.expected, pl.stored, records))
		if len(pl.badKeys) > 0 {
			ve := failAt(records, ReasonHistory, "stored history key %q is not in the layout h/<account>/<seq u64><n u16>: no record gives it", "h/"+pl.badKeys[0])
			ve.Account = a
			keep(ve)
		}
	}
	return worst, nil
}

type probeLine struct {
	seq  uint64
	line string
}

type probeLines struct {
	expected, stored []probeLine
	badKeys          []string // keys outside the layout (after "h/"), the first few
}

// historyProbe collects, for a few accounts, the lines the chain gives
// and the lines the store holds.
type historyProbe struct {
	probeVisitor
	want   map[string]*probeLines
	counts map[string]uint16
	s      scan
	line   []byte // Record's
	sline  []byte // the sink's
}

func (p *historyProbe) Record(key uint64, data []byte, _ []Hash) error {
	if !p.s.read(data) {
		return nil // the first pass reported it
	}
	expectedLines(&p.line, p.s.seq, p.s.time, p.s.effects, p.counts, func(account string, _ uint16, line []byte) {
		if pl, ok := p.want[account]; ok {
			pl.expected = append(pl.expected, probeLine{p.s.seq, string(line)})
		}
	})
	return nil
}

// Entries: the probe is its own sink. Its sink writes only the stored
// lists, its Record only the expected ones.
func (p *historyProbe) Entries() EntrySink { return probeSink{p} }

type probeSink struct{ p *historyProbe }

func (ps probeSink) Entry(e *Entry) error {
	p := ps.p
	if pl, ok := p.want[e.Account]; ok {
		if e.BadKey {
			if len(pl.badKeys) < MaxHistoryRecheck {
				pl.badKeys = append(pl.badKeys, e.Account)
			}
			return nil
		}
		p.sline = lineOf(p.sline[:0], e)
		// The key names the record: the seq inside the value is part of
		// the line, compared with the chain's, never the record named.
		if e.ValueSeq != e.Seq { // a line whose value names another record matches nothing
			p.sline = append(p.sline, "moved"...)
		}
		pl.stored = append(pl.stored, probeLine{e.Seq, string(p.sline)})
	}
	return nil
}

// firstDifference compares an account's lines in order; a stored line
// whose key names a record beyond the log is named at the log's size.
func firstDifference(account string, expected, stored []probeLine, records uint64) *VerifyError {
	fail := func(seq uint64, format string, args ...any) *VerifyError {
		ve := failAt(min(seq, records), ReasonHistory, format, args...)
		ve.Account = account
		return ve
	}
	for i := 0; ; i++ {
		switch {
		case i == len(expected) && i == len(stored):
			return nil
		case i == len(expected):
			return fail(stored[i].seq, "a stored history line of record %d follows from no effect of the chain", stored[i].seq)
		case i == len(stored):
			return fail(expected[i].seq, "the history line of record %d is missing from the store", expected[i].seq)
		case stored[i].seq < expected[i].seq:
			return fail(stored[i].seq, "a stored history line of record %d follows from no effect of the chain", stored[i].seq)
		case stored[i].seq > expected[i].seq:
			return fail(expected[i].seq, "the history line of record %d is missing from the store", expected[i].seq)
		case expected[i] != stored[i]:
			return fail(expected[i].seq, "the stored history line differs from what record %d says", expected[i].seq)
		}
	}
}

// probeVisitor is what the second passes of the checks (they look at
// records and stored state again, not at the head, checkpoints or
// accounts) need of a Visitor besides Record.
type probeVisitor struct{}

func (probeVisitor) Begin(Head, []string) error      { return nil }
func (probeVisitor) Checkpoint(uint64, []byte) error { return nil }
func (probeVisitor) Account(*Account) error          { return nil }

// earliestDifference compares, key by key in sorted order, what the chain
// gives (want) and what the store holds (got), and returns the failure
// with the smallest sequence number that compare finds, if any.
func earliestDifference[W, G any](want map[string]W, got map[string]G, compare func(key string, w W, wok bool, g G, gok bool) *VerifyError) *VerifyError {
	keys := make([]string, 0, len(want)+len(got))
	for k := range want {
		keys = append(keys, k)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var worst *VerifyError
	for _, k := range keys {
		w, wok := want[k]
		g, gok := got[k]
		if ve := compare(k, w, wok, g, gok); ve != nil && (worst == nil || ve.Seq < worst.Seq) {
			worst = ve
		}
	}
	return worst
}

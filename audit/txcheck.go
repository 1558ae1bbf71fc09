package audit

import (
	"context"
	"encoding/binary"
	"hash/maphash"
	"sort"
)

// Transaction is a stored transaction document, as a data directory keeps
// it (x/<id>): what GET /v1/transfers/{id} shows.
type Transaction struct {
	ID         string
	Seq        uint64
	Time       int64 // ns
	Status     string
	Postings   []Posting
	Memo       string
	Actor      string
	OnBehalf   string
	PendingID  string // a post or void: the hold it settles
	Hold       bool   // created pending (it has a deadline)
	ResolvedBy string // a hold: the post or void that settled it
}

// Posting is one posting of a stored transaction.
type Posting struct {
	From, To, Unit string
	Amount         int64
}

// TxVisitor is a Visitor that also takes the stored transactions, like
// EntryVisitor: from the source's own goroutine, in any order, every call
// ending before Walk returns.
type TxVisitor interface {
	Transactions() TxSink
}

// TxSink takes stored transactions; the Transaction is the caller's to
// reuse after the call.
type TxSink interface {
	Transaction(t *Transaction) error
}

// Transaction statuses, as the ledger writes them.
const (
	txPending = "pending"
	txPosted  = "posted"
	txVoided  = "voided"
)

// txBuckets splits the log into ranges of records; each side sums, per
// range, a keyed hash of every transaction created in it, so a difference
// is found in O(buckets) memory and then looked for in one range only.
const txBuckets = 4096

// txSums is one side's sums. Sums of keyed 64-bit hashes form a multiset
// hash: order does not matter (transactions are stored by id, created by
// seq), a transaction's later resolution is a subtraction and an
// addition, and with a seed drawn per verification a changed document
// goes unnoticed with probability about 2⁻⁶⁴.
type txSums struct {
	width uint64 // records per bucket
	sum   [txBuckets]uint64
	h     maphash.Hash
	buf   []byte
	n     uint64
}

func (s *txSums) init(seed maphash.Seed, records uint64) {
	s.h.SetSeed(seed)
	s.width = max(1, (records+txBuckets-1)/txBuckets)
}

func (s *txSums) bucket(seq uint64) *uint64 {
	return &s.sum[min(seq/s.width, txBuckets-1)]
}

func (s *txSums) hash(b []byte) uint64 {
	s.h.Reset()
	s.h.Write(b)
	return s.h.Sum64()
}

// appendStrings appends length-prefixed strings.
func appendStrings(b []byte, ss ...string) []byte {
	for _, s := range ss {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	return b
}

// txCreation is the canonical form of what a transaction's creating
// record determines: everything but a hold's outcome. class is the status
// a non-hold is created with, or "hold".
func txCreation(b []byte, id string, seq uint64, time int64, class string, ps []Posting, memo, actor, onBehalf, pending string) []byte {
	b = append(b, 'c')
	b = appendStrings(b, id)
	b = binary.BigEndian.AppendUint64(b, seq)
	b = binary.BigEndian.AppendUint64(b, uint64(time))
	b = appendStrings(b, class, memo, actor, onBehalf, pending)
	b = binary.BigEndian.AppendUint32(b, uint32(len(ps)))
	for _, p := range ps {
		b = appendStrings(b, p.From, p.To, p.Unit)
		b = binary.BigEndian.AppendUint64(b, uint64(p.Amount))
	}
	return b
}

// txOutcome is a hold's outcome: pending, or posted/voided by another.
func txOutcome(b []byte, id, status, by string) []byte {
	return appendStrings(append(b, 'o'), id, status, by)
}

// storedTxSink sums the stored documents.
type storedTxSink struct {
	txSums
	ids []string // for the report: a few ids, to recheck
}

func (s *storedTxSink) Transaction(t *Transaction) error {
	class := t.Status
	if t.Hold {
		class = "hold"
		s.buf = txOutcome(s.buf[:0], t.ID, t.Status, t.ResolvedBy)
		*s.bucket(t.Seq) += s.hash(s.buf)
	}
	s.buf = txCreation(s.buf[:0], t.ID, t.Seq, t.Time, class, t.Postings, t.Memo, t.Actor, t.OnBehalf, t.PendingID)
	*s.bucket(t.Seq) += s.hash(s.buf)
	s.n++
	return nil
}

// chainTxs is the chain's side: the transactions each record creates,
// read from its effects, and the holds still open.
type chainTxs struct {
	txSums
	holdSeq map[string]uint64 // open hold → the seq that created it
	views   []*txView
	index   map[string]*txView
}

type txView struct {
	id                   string
	postings, releases   []Posting
	moved, held          bool
	memo, pending, class string
}

// record folds in the transactions record seq creates and the holds it
// settles. fn, if not nil, also receives each creation and outcome with
// the seq it belongs to (the recheck pass).
func (c *chainTxs) record(seq uint64, time int64, actor, onBehalf string, effects []effect, fn func(id string, seq uint64, canon []byte)) {
	c.views = c.views[:0]
	clear(c.index)
	view := func(id []byte) *txView {
		if v, ok := c.index[string(id)]; ok {
			return v
		}
		v := &txView{id: string(id)}
		c.index[v.id] = v
		c.views = append(c.views, v)
		return v
	}
	type settle struct{ hold, by string }
	var settles []settle
	for i := range effects {
		e := &effects[i]
		p := Posting{From: string(e.from), To: string(e.to), Unit: string(e.unit), Amount: e.amount}
		switch string(e.op) {
		case effectMove, effectHold:
			v := view(e.tx)
			v.postings = append(v.postings, p)
			v.memo = string(e.memo)
			if string(e.op) == effectMove {
				v.moved = true
			} else {
				v.held = true
			}
		case effectRelease:
			v := view(e.by)
			v.releases = append(v.releases, p)
			v.memo, v.pending = string(e.memo), string(e.tx)
			if len(settles) == 0 || settles[len(settles)-1].hold != string(e.tx) {
				settles = append(settles, settle{string(e.tx), string(e.by)})
			}
		}
	}
	add := func(seq uint64, canon []byte, sign int) {
		h := c.hash(canon)
		if sign < 0 {
			h = -h
		}
		*c.bucket(seq) += h
		if fn != nil && sign > 0 {
			fn(string(canon[1+4:1+4+binary.BigEndian.Uint32(canon[1:])]), seq, canon)
		}
	}
	for _, v := range c.views {
		ps, class := v.postings, txPosted
		switch {
		case v.held:
			class = "hold"
			c.holdSeq[v.id] = seq
			c.buf = txOutcome(c.buf[:0], v.id, txPending, "")
			add(seq, c.buf, 1)
		case !v.moved:
			ps, class = v.releases, txVoided
		}
		c.buf = txCreation(c.buf[:0], v.id, seq, time, class, ps, v.memo, actor, onBehalf, v.pending)
		add(seq, c.buf, 1)
	}
	for _, st := range settles {
		hs, ok := c.holdSeq[st.hold]
		if !ok {
			continue // the replay reports a release of no open hold
		}
		delete(c.holdSeq, st.hold)
		status := txVoided
		if v := c.index[st.by]; v != nil && v.moved {
			status = txPosted
		}
		c.buf = txOutcome(c.buf[:0], st.hold, txPending, "")
		add(hs, c.buf, -1)
		c.buf = txOutcome(c.buf[:0], st.hold, status, st.by)
		add(hs, c.buf, 1)
	}
}

func newChainTxs() *chainTxs {
	return &chainTxs{holdSeq: map[string]uint64{}, index: map[string]*txView{}}
}

// Transactions is the verifier's sink of stored transactions.
func (v *verifier) Transactions() TxSink { return v.txStored }

// finishTransactions names the first range of records whose transactions
// differ, if any; the recheck pass then names the transaction.
func (v *verifier) badTxBucket() (uint64, bool) {
	if v.txStored.n == 0 {
		return 0, false // the source keeps no transactions (an export)
	}
	v.report.Transactions = v.txStored.n
	for i := range v.txChain.sum {
		if v.txChain.sum[i] != v.txStored.sum[i] {
			return uint64(i), true
		}
	}
	return 0, false
}

// recheckTransactions walks src again and compares, one by one, the
// transactions created in records [lo, hi).
func recheckTransactions(ctx context.Context, src Source, lo, hi uint64) (*VerifyError, error) {
	p := &txProbe{lo: lo, hi: hi, chain: newChainTxs(), expected: map[string]txCanon{}, stored: map[string]txCanon{}}
	p.chain.init(maphash.MakeSeed(), 1)
	p.sink.init(maphash.MakeSeed(), 1)
	p.sink.p = p
	if err := src.Walk(ctx, p); err != nil {
		return nil, err
	}
	var worst *VerifyError
	consider := func(seq uint64, format string, args ...any) {
		if worst == nil || seq < worst.Seq {
			worst = failAt(seq, ReasonTransaction, format, args...)
		}
	}
	ids := make([]string, 0, len(p.expected)+len(p.stored))
	for id := range p.expected {
		ids = append(ids, id)
	}
	for id := range p.stored {
		if _, ok := p.expected[id]; !ok {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		e, eok := p.expected[id]
		s, sok := p.stored[id]
		switch {
		case !sok:
			consider(e.seq, "transaction %s is missing from the store", id)
		case !eok:
			consider(s.seq, "stored transaction %s was created by no record (it names record %d)", id, s.seq)
		case e != s:
			consider(min(e.seq, s.seq), "stored transaction %s differs from what record %d says", id, e.seq)
		}
	}
	return worst, nil
}

type txCanon struct {
	seq               uint64
	creation, outcome string
}

// txProbe collects, for records [lo, hi), the transactions the chain
// creates and the stored documents that claim those records.
type txProbe struct {
	probeVisitor
	lo, hi   uint64
	s        scan
	chain    *chainTxs
	sink     txProbeSink
	expected map[string]txCanon
	stored   map[string]txCanon
}

type txProbeSink struct {
	storedTxSink
	p *txProbe
}

func (p *txProbe) Transactions() TxSink { return &p.sink }

func (p *txProbe) Record(key uint64, data []byte, _ []Hash) error {
	if !p.s.read(data) {
		return nil // the first pass reported it
	}
	p.chain.record(p.s.seq, p.s.time, string(p.s.actor), string(p.s.onBehalf), p.s.effects, func(id string, seq uint64, canon []byte) {
		if seq < p.lo || seq >= p.hi {
			return
		}
		e := p.expected[id]
		e.seq = seq
		if canon[0] == 'c' {
			e.creation = string(canon)
		} else {
			e.outcome = string(canon) // a hold's later outcome replaces "pending"
		}
		p.expected[id] = e
	})
	return nil
}

func (ps *txProbeSink) Transaction(t *Transaction) error {
	p := ps.p
	if t.Seq < p.lo || t.Seq >= p.hi {
		return nil
	}
	c := txCanon{seq: t.Seq}
	class := t.Status
	if t.Hold {
		class = "hold"
		c.outcome = string(txOutcome(nil, t.ID, t.Status, t.ResolvedBy))
	}
	c.creation = string(txCreation(nil, t.ID, t.Seq, t.Time, class, t.Postings, t.Memo, t.Actor, t.OnBehalf, t.PendingID))
	p.stored[t.ID] = c
	return nil
}

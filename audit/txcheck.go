package audit

import (
	"context"
	"encoding/binary"
	"hash/maphash"
)

// Transaction is a stored transaction document, as a data directory keeps
// it (x/<id>): what GET /v1/transfers/{id} shows.
type Transaction struct {
	ID         string
	Seq        uint64
	Time       int64 // ns
	Kind       string
	Status     string
	Postings   []Posting
	Memo       string
	Actor      string
	OnBehalf   string
	Deadline   int64  // a hold's, ns; 0 for others
	PendingID  string // a post or void: the hold it settles
	Reverses   string // a reversal: the transaction it undoes
	ResolvedBy string // a hold: the post or void that settled it; a posted one: its reversal
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

// txBuckets splits transactions by a keyed hash of their id; each side
// sums, per bucket, a keyed hash of every transaction, so a difference is
// found in O(buckets) memory and then looked for in the buckets that differ.
const txBuckets = 4096

// txSums is one side's sums. Sums of keyed 64-bit hashes form a multiset
// hash: order does not matter, a transaction's later outcome (a hold
// settled, a transfer reversed) is a subtraction and an addition in its
// own bucket, and with a seed drawn per verification a changed document
// goes unnoticed with probability about 2⁻⁶⁴.
type txSums struct {
	seed maphash.Seed
	sum  [txBuckets]uint64
	h    maphash.Hash
	buf  []byte
	n    uint64
}

func (s *txSums) init(seed maphash.Seed) {
	s.seed = seed
	s.h.SetSeed(seed)
}

func (s *txSums) bucket(id string) int {
	return int(maphash.String(s.seed, id) % txBuckets)
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
// record determines: everything but its later outcome. class is the
// status a transaction is created with (a hold: "hold").
func txCreation(b []byte, t *Transaction, class string) []byte {
	b = append(b, 'c')
	b = appendStrings(b, t.ID)
	b = binary.BigEndian.AppendUint64(b, t.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(t.Time))
	b = binary.BigEndian.AppendUint64(b, uint64(t.Deadline))
	b = appendStrings(b, class, t.Kind, t.Memo, t.Actor, t.OnBehalf, t.PendingID, t.Reverses)
	b = binary.BigEndian.AppendUint32(b, uint32(len(t.Postings)))
	for _, p := range t.Postings {
		b = appendStrings(b, p.From, p.To, p.Unit)
		b = binary.BigEndian.AppendUint64(b, uint64(p.Amount))
	}
	return b
}

// txOutcome is what may change later: the status and the resolver.
func txOutcome(b []byte, id, status, by string) []byte {
	return appendStrings(append(b, 'o'), id, status, by)
}

// parts are a stored document's two canonical parts.
func txParts(b []byte, t *Transaction) (creation, outcome []byte) {
	class := t.Status
	if t.Deadline != 0 {
		class = "hold"
	}
	b = txCreation(b, t, class)
	n := len(b)
	b = txOutcome(b, t.ID, t.Status, t.ResolvedBy)
	return b[:n], b[n:]
}

// storedTxSink sums the stored documents.
type storedTxSink struct{ txSums }

func (s *storedTxSink) Transaction(t *Transaction) error {
	c, o := txParts(s.buf[:0], t)
	s.buf = c[:0]
	b := &s.sum[s.bucket(t.ID)]
	*b += s.hash(c) + s.hash(o)
	s.n++
	return nil
}

// chainTxs is the chain's side: the transactions each record creates,
// read from its effects, and the outcomes later records give them.
type chainTxs struct {
	txSums
	views []*txView
	free  []*txView
	index map[string]*txView
}

type txView struct {
	t                  Transaction
	releases           []Posting
	moved, held, named bool
}

func newChainTxs() *chainTxs { return &chainTxs{index: map[string]*txView{}} }

// record folds in the transactions record seq creates and the outcomes it
// gives earlier ones. fn, if not nil, also receives each part with the
// transaction's id and the seq of the record that gave it (the recheck).
func (c *chainTxs) record(seq uint64, time int64, actor, onBehalf string, effects []effect, fn func(id string, seq uint64, part []byte)) {
	c.free = append(c.free, c.views...)
	c.views = c.views[:0]
	clear(c.index)
	view := func(id []byte) *txView {
		if v, ok := c.index[string(id)]; ok {
			return v
		}
		var v *txView
		if n := len(c.free); n > 0 {
			v, c.free = c.free[n-1], c.free[:n-1]
			*v = txView{t: Transaction{Postings: v.t.Postings[:0]}, releases: v.releases[:0]}
		} else {
			v = &txView{}
		}
		v.t.ID, v.t.Seq, v.t.Time, v.t.Actor, v.t.OnBehalf = string(id), seq, time, actor, onBehalf
		c.index[v.t.ID] = v
		c.views = append(c.views, v)
		return v
	}
	type change struct{ id, status, by string }
	var outcomes []change
	for i := range effects {
		e := &effects[i]
		p := Posting{From: string(e.from), To: string(e.to), Unit: string(e.unit), Amount: e.amount}
		switch string(e.op) {
		case effectMove, effectHold:
			v := view(e.tx)
			v.t.Postings = append(v.t.Postings, p)
			v.t.Memo, v.t.Kind, v.t.Reverses = string(e.memo), string(e.kind), string(e.reverses)
			if string(e.op) == effectMove {
				v.moved = true
			} else {
				v.held, v.t.Deadline = true, e.deadline
			}
		case effectRelease:
			v := view(e.by)
			v.releases = append(v.releases, p)
			v.t.Memo, v.t.Kind, v.t.PendingID = string(e.memo), string(e.kind), string(e.tx)
			if n := len(outcomes); n == 0 || outcomes[n-1].id != string(e.tx) {
				outcomes = append(outcomes, change{id: string(e.tx), by: string(e.by)})
			}
		}
	}
	add := func(id string, seq uint64, part []byte, sign int) {
		h := c.hash(part)
		if sign < 0 {
			h = -h
		}
		c.sum[c.bucket(id)] += h
		if fn != nil && sign > 0 {
			fn(id, seq, part)
		}
	}
	for _, v := range c.views {
		class, status := txPosted, txPosted
		switch {
		case v.held:
			class, status = "hold", txPending
		case !v.moved:
			v.t.Postings, class, status = append(v.t.Postings, v.releases...), txVoided, txVoided
		}
		c.buf = txCreation(c.buf[:0], &v.t, class)
		add(v.t.ID, seq, c.buf, 1)
		c.buf = txOutcome(c.buf[:0], v.t.ID, status, "")
		add(v.t.ID, seq, c.buf, 1)
		if v.t.Reverses != "" && !v.named {
			v.named = true
			outcomes = append(outcomes, change{id: v.t.Reverses, status: txPosted, by: v.t.ID})
		}
	}
	for _, o := range outcomes {
		before, after := txPending, o.status
		if o.status == "" { // a hold settled: posted if its resolver moves value
			after = txVoided
			if r := c.index[o.by]; r != nil && r.moved {
				after = txPosted
			}
		} else {
			before = txPosted // a posted transaction reversed
		}
		c.buf = txOutcome(c.buf[:0], o.id, before, "")
		add(o.id, seq, c.buf, -1)
		c.buf = txOutcome(c.buf[:0], o.id, after, o.by)
		add(o.id, seq, c.buf, 1)
	}
}

// Transactions is the verifier's sink of stored transactions.
func (v *verifier) Transactions() TxSink { return v.txStored }

// badTxBuckets are the buckets whose sums differ, if any.
func (v *verifier) badTxBuckets() bucketSet {
	if v.txStored.n == 0 {
		return nil // the source keeps no transactions (an export)
	}
	v.report.Transactions = v.txStored.n
	return badBuckets(v.txChain.sum[:], v.txStored.sum[:])
}

// maxRecheckBuckets bounds the buckets a recheck holds in memory at once
// (about 1/64 of the store's transactions or documents): more damage than
// that is reported at the earliest sequence number among the first
// maxRecheckBuckets buckets, which is still a damaged one.
const maxRecheckBuckets = 64

// bucketSet holds the buckets a recheck compares one by one.
type bucketSet map[int]bool

// badBuckets returns the buckets whose sums differ (at most
// maxRecheckBuckets, lowest first), or nil.
func badBuckets(chain, stored []uint64) bucketSet {
	var bad bucketSet
	for i := range chain {
		if chain[i] != stored[i] {
			if bad == nil {
				bad = bucketSet{}
			}
			if bad[i] = true; len(bad) == maxRecheckBuckets {
				break
			}
		}
	}
	return bad
}

// recheckTransactions walks src again and compares, one by one, the
// transactions of the given buckets.
func recheckTransactions(ctx context.Context, src Source, seed maphash.Seed, buckets bucketSet, records uint64) (*VerifyError, error) {
	p := &txProbe{buckets: buckets, chain: newChainTxs(), expected: map[string]txCanon{}, stored: map[string]txCanon{}}
	p.chain.init(seed)
	p.sink.init(seed)
	p.sink.p = p
	if err := src.Walk(ctx, p); err != nil {
		return nil, err
	}
	return earliestDifference(p.expected, p.stored, func(id string, e txCanon, eok bool, s txCanon, sok bool) *VerifyError {
		switch {
		case !sok:
			return failAt(e.seq, ReasonTransaction, "transaction %s is missing from the store", Printable(id))
		case !eok:
			// No record created this id: the document itself is all that
			// names a record (bounded by the log).
			return failAt(min(s.seq, records), ReasonTransaction, "stored transaction %s was created by no record (its document names record %d)", Printable(id), s.seq)
		case e.creation != s.creation:
			// Named at the record that created the id, never at a seq
			// read from the stored document, which may be the damage.
			return failAt(e.seq, ReasonTransaction, "stored transaction %s differs from what record %d says", Printable(id), e.seq)
		case e.outcome != s.outcome:
			return failAt(e.outcomeSeq, ReasonTransaction, "the outcome of stored transaction %s differs from what record %d says", Printable(id), e.outcomeSeq)
		}
		return nil
	}), nil
}

type txCanon struct {
	seq, outcomeSeq   uint64
	creation, outcome string
}

// txProbe collects, for the transactions of some buckets, what the chain
// gives them and what the store holds.
type txProbe struct {
	probeVisitor
	buckets  bucketSet
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
	p.chain.record(p.s.seq, p.s.time, string(p.s.actor), string(p.s.onBehalf), p.s.effects, func(id string, seq uint64, part []byte) {
		if !p.buckets[p.chain.bucket(id)] {
			return
		}
		e := p.expected[id]
		if part[0] == 'c' {
			e.seq, e.creation = seq, string(part)
		} else {
			e.outcomeSeq, e.outcome = seq, string(part) // a later outcome replaces the first
		}
		p.expected[id] = e
	})
	return nil
}

func (ps *txProbeSink) Transaction(t *Transaction) error {
	p := ps.p
	if !p.buckets[p.chain.bucket(t.ID)] {
		return nil
	}
	c, o := txParts(nil, t)
	p.stored[t.ID] = txCanon{seq: t.Seq, creation: string(c), outcome: string(o)}
	return nil
}

package ledger

import (
	"encoding/binary"
	"encoding/hex"
	"time"
)

// TxStatus is the state of a transaction.
type TxStatus string

const (
	TxPosted  TxStatus = "posted"
	TxPending TxStatus = "pending"
	TxVoided  TxStatus = "voided"
)

// Posting moves Amount minor units of Unit from one account (debited) to
// another (credited). Debits equal credits per unit by construction.
type Posting struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Amount int64  `json:"amount"`
	Unit   Unit   `json:"unit"`
}

// Transaction is one atomic change of value. A post or void of a pending
// transaction is a new Transaction naming it in PendingID; a reversal names
// the transaction it reverses in Reverses.
type Transaction struct {
	ID        string    `json:"id"`
	Seq       uint64    `json:"seq"`
	Time      time.Time `json:"time"`
	Kind      string    `json:"kind"` // transfer, post, void, reversal, service, gift, ...
	Status    TxStatus  `json:"status"`
	Postings  []Posting `json:"postings"`
	Memo      string    `json:"memo,omitempty"`
	Actor     string    `json:"actor"`
	OnBehalf  string    `json:"on_behalf,omitempty"`
	Deadline  time.Time `json:"deadline,omitzero"`    // pending only
	PendingID string    `json:"pending_id,omitempty"` // post/void: the hold
	Reverses  string    `json:"reverses,omitempty"`   // reversal: the original
	// Resolution: on a pending transaction, the post/void that settled it;
	// on a posted one, the reversal that reversed it.
	ResolvedBy string `json:"resolved_by,omitempty"`
}

// Entry is one line of an account's history.
type Entry struct {
	Seq          uint64    `json:"seq"`
	Tx           string    `json:"tx"`
	Time         time.Time `json:"time"`
	Kind         string    `json:"kind"`   // posted, pending, voided (release of a hold)
	Amount       int64     `json:"amount"` // signed: + credit, - debit
	Unit         Unit      `json:"unit"`
	Counterparty string    `json:"counterparty"`
	Memo         string    `json:"memo,omitempty"`
	// Balance is the account's posted balance after this line (a pending
	// or released line leaves it as it was): a passbook's running
	// balance, and what a report reads for the balance at a past time.
	// Lines written before it was kept have none (nil).
	Balance *int64 `json:"balance,omitempty"`
}

// EntryCursor is the cursor of the history line n of record seq: a page
// After it starts at the next line (Reverse: at the line before).
func EntryCursor(seq uint64, n uint16) string {
	var b [10]byte
	binary.BigEndian.PutUint64(b[:8], seq)
	binary.BigEndian.PutUint16(b[8:], n)
	return hex.EncodeToString(b[:])
}

// EffectOp names a balance change in an audit record. Replaying the effects
// of every record rebuilds every balance.
type EffectOp string

const (
	EffectOpen    EffectOp = "open"    // account opened
	EffectMove    EffectOp = "move"    // posted: From debited, To credited
	EffectHold    EffectOp = "hold"    // pending: From pending debit, To pending credit
	EffectRelease EffectOp = "release" // a hold's pending amounts removed
	EffectStatus  EffectOp = "status"  // account frozen/closed/reopened
)

// Effect is one balance change, carried in the audit record of the change.
type Effect struct {
	Op      EffectOp
	Tx      string
	From    string
	To      string
	Account *Account // EffectOpen/EffectStatus: the account as opened/changed
	Unit    Unit
	Amount  int64
	// Memo is the memo of the transaction the history lines of a move,
	// hold or release belong to, and By (releases only) that
	// transaction's id: the hold's post, void or expiry. With them every
	// history line follows from the chain alone.
	Memo string
	By   string
	// Kind is that transaction's kind; Deadline (holds) its deadline;
	// Reverses (a reversal's moves) the transaction it undoes. With them
	// every stored transaction document follows from the chain.
	Kind     string
	Deadline time.Time
	Reverses string
}

// Fields returns the effect as an audit map: only strings, int64 and maps.
func (e Effect) Fields() map[string]any {
	m := map[string]any{"op": string(e.Op)}
	switch e.Op {
	case EffectOpen, EffectStatus:
		a := e.Account
		m["account"] = a.ID
		m["unit"] = string(a.Unit)
		m["owner_kind"] = string(a.OwnerKind)
		m["owner"] = a.Owner
		m["kind"] = a.Kind
		m["community"] = a.Community
		m["guard"] = string(a.Guard)
		m["credit_limit"] = a.CreditLimit
		m["max_balance"] = a.MaxBalance
		m["status"] = string(a.Status)
	default:
		m["tx"] = e.Tx
		m["from"] = e.From
		m["to"] = e.To
		m["unit"] = string(e.Unit)
		m["amount"] = e.Amount
		m["memo"] = e.Memo
		m["kind"] = e.Kind
		switch {
		case e.Op == EffectRelease:
			m["by"] = e.By
		case e.Op == EffectHold:
			m["deadline"] = e.Deadline.UnixNano()
		case e.Reverses != "":
			m["reverses"] = e.Reverses
		}
	}
	return m
}

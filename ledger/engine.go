package ledger

import (
	"fmt"
	"time"
)

// OpenAccount creates an account inside tx. Errors: invalid_id,
// unknown_unit, invalid_request (bad guard), already_exists.
func OpenAccount(tx Tx, s AccountSpec) (*Account, error) {
	if err := CheckAccountID(s.ID); err != nil {
		return nil, err
	}
	if _, ok := s.Unit.Scale(); !ok {
		return nil, Errorf(CodeUnknownUnit, "unknown unit %q", truncate(string(s.Unit), 16))
	}
	switch s.Guard {
	case GuardNoOverdraft, GuardNone:
		s.CreditLimit = 0
	case GuardCreditLimit:
		if s.CreditLimit < 0 || s.CreditLimit > MaxAmountMinor {
			return nil, Errorf(CodeInvalidAmount, "credit limit out of range")
		}
	default:
		return nil, Errorf(CodeInvalidRequest, "unknown guard %q", truncate(string(s.Guard), 16))
	}
	if s.MaxBalance < 0 || s.MaxBalance > MaxAmountMinor {
		return nil, Errorf(CodeInvalidAmount, "max balance out of range")
	}
	if _, err := tx.Account(s.ID); err == nil {
		return nil, Errorf(CodeAlreadyExists, "account %s already exists", s.ID)
	} else if !IsCode(err, CodeNotFound) {
		return nil, err
	}
	a := &Account{
		ID: s.ID, Unit: s.Unit, OwnerKind: s.OwnerKind, Owner: s.Owner, Kind: s.Kind, Community: s.Community,
		Guard: s.Guard, CreditLimit: s.CreditLimit, MaxBalance: s.MaxBalance,
		Status: StatusOpen, Created: tx.Now(), Seq: tx.Seq(),
	}
	if err := tx.PutAccount(a); err != nil {
		return nil, err
	}
	tx.Effect(Effect{Op: EffectOpen, Account: a})
	return a, nil
}

// SetAccountStatus freezes, closes or reopens an account. A closed account
// stays closed. Errors: not_found, account_closed, invalid_request,
// conflict (already in that status, or closing with money on it).
func SetAccountStatus(tx Tx, id string, st Status) (*Account, error) {
	a, err := tx.Account(id)
	if err != nil {
		return nil, err
	}
	switch {
	case st != StatusOpen && st != StatusFrozen && st != StatusClosed:
		return nil, Errorf(CodeInvalidRequest, "unknown status %q", truncate(string(st), 16))
	case a.Status == StatusClosed:
		return nil, Errorf(CodeAccountClosed, "account %s is closed", id)
	case a.Status == st:
		// Nothing would change; a record saying it did would be noise.
		return nil, Errorf(CodeConflict, "account %s is already %s", id, st)
	case st == StatusClosed && (a.Balance() != 0 || a.DebitsPending != 0 || a.CreditsPending != 0):
		return nil, Errorf(CodeConflict, "account %s has a balance or holds and cannot be closed", id)
	}
	a.Status = st
	if err := tx.PutAccount(a); err != nil {
		return nil, err
	}
	tx.Effect(Effect{Op: EffectStatus, Account: a})
	return a, nil
}

// TransferSpec describes a new transaction.
type TransferSpec struct {
	Kind     string // "transfer" when empty
	Postings []Posting
	Memo     string
	Pending  bool
	Timeout  time.Duration // pending only; DefaultHoldTimeout when zero
	Reverses string        // a reversal: the transaction it undoes
}

// accounts is the set of accounts one transaction touches, loaded once and
// changed in memory so that repeated accounts see each other's postings.
type accounts map[string]*Account

func (as accounts) get(tx Tx, id string) (*Account, error) {
	if a, ok := as[id]; ok {
		return a, nil
	}
	a, err := tx.Account(id)
	if err != nil {
		if IsCode(err, CodeNotFound) {
			return nil, Errorf(CodeNotFound, "account %s not found", id)
		}
		return nil, err
	}
	if err := followCap(tx, a); err != nil {
		return nil, err
	}
	as[id] = a
	return a, nil
}

// CapPolicy, when set, says which storage cap (max_balance, 0 = none) an
// account must carry now, or ok false to leave the account's own. Package
// community sets it: a member's time account follows its community's
// current policy, so a cap raised or lowered applies to members registered
// before the change too.
var CapPolicy func(r Reader, a *Account) (maxBalance int64, ok bool, err error)

// CurrentCap sets a's MaxBalance to the cap CapPolicy gives it now (what
// its next transaction will carry), for showing the account; nothing is
// written.
func CurrentCap(r Reader, a *Account) error {
	if CapPolicy == nil {
		return nil
	}
	want, ok, err := CapPolicy(r, a)
	if err == nil && ok {
		a.MaxBalance = want
	}
	return err
}

// followCap brings a, just loaded for a transaction, to the cap CapPolicy
// gives, before any posting is checked against it; the change is recorded
// as a status effect (the account as changed) ahead of the postings, so a
// replay applies it in the same order. a is saved with the transaction.
func followCap(tx Tx, a *Account) error {
	had := a.MaxBalance
	if err := CurrentCap(tx, a); err != nil || a.MaxBalance == had {
		return err
	}
	if a.MaxBalance < 0 || a.MaxBalance > MaxAmountMinor {
		return Errorf(CodeInvalidAmount, "max_balance out of range")
	}
	changed := *a
	if err := tx.PutAccount(&changed); err != nil {
		return err
	}
	tx.Effect(Effect{Op: EffectStatus, Account: &changed})
	return nil
}

func (as accounts) save(tx Tx) error {
	for _, a := range as {
		if err := a.checkFigures(); err != nil {
			return err
		}
		if err := tx.PutAccount(a); err != nil {
			return err
		}
	}
	return nil
}

// checkPostings validates shape only: count, ids, amounts, units.
func checkPostings(ps []Posting) error {
	if len(ps) == 0 {
		return Errorf(CodeInvalidRequest, "a transaction has 1 to %d postings", MaxPostings)
	}
	if len(ps) > MaxPostings {
		return Errorf(CodeLimitExceeded, "a transaction has 1 to %d postings", MaxPostings)
	}
	for i, p := range ps {
		if !ValidID(p.From) || !ValidID(p.To) {
			return Errorf(CodeInvalidID, "posting %d: from and to must be account ids", i)
		}
		if p.From == p.To {
			return Errorf(CodeSameAccount, "posting %d: from and to are the same account", i)
		}
		if _, ok := p.Unit.Scale(); !ok {
			return Errorf(CodeUnknownUnit, "posting %d: unknown unit", i)
		}
		if p.Amount <= 0 || p.Amount > MaxAmountMinor {
			return Errorf(CodeInvalidAmount, "posting %d: amount out of range", i)
		}
	}
	return nil
}

// Transfer records a posted or pending transaction inside tx and returns
// it. Errors: invalid_request, invalid_id, invalid_amount, unknown_unit,
// same_account, not_found, unit_mismatch, insufficient_funds,
// max_balance_exceeded, account_frozen, account_closed, overflow.
func Transfer(tx Tx, s TransferSpec) (*Transaction, error) {
	if err := checkPostings(s.Postings); err != nil {
		return nil, err
	}
	if err := CheckChainText("memo", s.Memo, MaxMemoLen); err != nil {
		return nil, err
	}
	t := &Transaction{
		ID: tx.NewID("tx"), Seq: tx.Seq(), Time: tx.Now(), Kind: s.Kind, Status: TxPosted,
		Postings: s.Postings, Memo: s.Memo, Actor: tx.Actor().ID, OnBehalf: tx.Actor().OnBehalf, Reverses: s.Reverses,
	}
	if t.Kind == "" {
		t.Kind = "transfer"
	}
	if s.Pending {
		timeout := s.Timeout
		if timeout == 0 {
			timeout = DefaultHoldTimeout
		}
		if timeout < MinHoldTimeout || timeout > MaxHoldTimeout {
			return nil, Errorf(CodeInvalidRequest, "timeout must be between 1s and %s", MaxHoldTimeout)
		}
		t.Status = TxPending
		t.Deadline = tx.Now().Add(timeout)
	}
	as := accounts{}
	// Every posting's accounts and unit first: a request that can never
	// succeed is refused as such (not_found, unit_mismatch) whatever
	// posting holds the fault, not as insufficient funds that a later
	// retry would then find to be a unit mismatch.
	for i, p := range s.Postings {
		if err := checkPostingUnit(tx, as, i, p); err != nil {
			return nil, err
		}
	}
	for _, p := range s.Postings {
		if err := applyPosting(tx, as, t, p, s.Pending); err != nil {
			return nil, err
		}
	}
	if err := as.save(tx); err != nil {
		return nil, err
	}
	if err := tx.PutTransaction(t); err != nil {
		return nil, err
	}
	if s.Pending {
		if err := tx.Schedule(t.Deadline, ExpiryKindHold, t.ID); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// checkPostingUnit loads posting i's accounts into as and checks that
// both are in its unit.
func checkPostingUnit(tx Tx, as accounts, i int, p Posting) error {
	from, err := as.get(tx, p.From)
	if err != nil {
		return err
	}
	to, err := as.get(tx, p.To)
	if err != nil {
		return err
	}
	if from.Unit != p.Unit || to.Unit != p.Unit {
		return Errorf(CodeUnitMismatch, "posting %d: unit %s does not match the accounts' units", i, p.Unit)
	}
	return nil
}

// applyPosting applies p, whose accounts checkPostingUnit has loaded
// into as.
func applyPosting(tx Tx, as accounts, t *Transaction, p Posting, pending bool) error {
	from, to := as[p.From], as[p.To]
	var err error
	if err := from.canDebit(p.Amount); err != nil {
		return err
	}
	if err := to.canCredit(p.Amount); err != nil {
		return err
	}
	kind, op := "posted", EffectMove
	if pending {
		kind, op = "pending", EffectHold
		if from.DebitsPending, err = addChecked(from.DebitsPending, p.Amount); err != nil {
			return err
		}
		if to.CreditsPending, err = addChecked(to.CreditsPending, p.Amount); err != nil {
			return err
		}
	} else {
		if from.DebitsPosted, err = addChecked(from.DebitsPosted, p.Amount); err != nil {
			return err
		}
		if to.CreditsPosted, err = addChecked(to.CreditsPosted, p.Amount); err != nil {
			return err
		}
	}
	tx.Effect(Effect{Op: op, Tx: t.ID, From: p.From, To: p.To, Unit: p.Unit, Amount: p.Amount, Memo: t.Memo,
		Kind: t.Kind, Deadline: t.Deadline, Reverses: t.Reverses})
	return addEntries(tx, t, kind, p, p.Amount, from, to)
}

// addEntries adds a posting's two history lines, each with its account's
// posted balance as it stands after the posting (from and to, already
// changed by it).
func addEntries(tx Tx, t *Transaction, kind string, p Posting, amt int64, from, to *Account) error {
	base := Entry{Seq: t.Seq, Tx: t.ID, Time: t.Time, Kind: kind, Unit: p.Unit, Memo: t.Memo}
	out, in := base, base
	fromBal, toBal := from.Balance(), to.Balance()
	out.Amount, out.Counterparty, out.Balance = -amt, p.To, &fromBal
	in.Amount, in.Counterparty, in.Balance = amt, p.From, &toBal
	if err := tx.AddEntry(p.From, out); err != nil {
		return err
	}
	return tx.AddEntry(p.To, in)
}

// expiredByLedger reports whether t is a hold the ledger voided at its
// deadline (ExpireHold), so that a late post is told why.
func expiredByLedger(tx Tx, t *Transaction) bool {
	if t == nil || t.Status != TxVoided || t.Deadline.IsZero() || t.ResolvedBy == "" {
		return false
	}
	r, err := tx.Transaction(t.ResolvedBy)
	return err == nil && r.Actor == SystemActor.ID && r.Memo == expiredMemo && !r.Time.Before(t.Deadline)
}

// pendingTx loads a transaction that must still be pending.
func pendingTx(tx Tx, id string) (*Transaction, error) {
	t, err := tx.Transaction(id)
	if err != nil {
		return nil, err
	}
	if t.Status != TxPending {
		return nil, Errorf(CodeNotPending, "transaction %s is %s, not pending", id, t.Status)
	}
	return t, nil
}

// release removes a hold's pending amounts from its accounts.
func release(tx Tx, as accounts, t *Transaction, resolver *Transaction) error {
	for _, p := range t.Postings {
		from, err := as.get(tx, p.From)
		if err != nil {
			return err
		}
		to, err := as.get(tx, p.To)
		if err != nil {
			return err
		}
		if from.DebitsPending < p.Amount || to.CreditsPending < p.Amount {
			return fmt.Errorf("ledger: hold %s exceeds the pending balances of its accounts", t.ID)
		}
		from.DebitsPending -= p.Amount
		to.CreditsPending -= p.Amount
		tx.Effect(Effect{Op: EffectRelease, Tx: t.ID, From: p.From, To: p.To, Unit: p.Unit, Amount: p.Amount,
			Memo: resolver.Memo, By: resolver.ID, Kind: resolver.Kind})
		if err := addEntries(tx, resolver, "released", p, -p.Amount, from, to); err != nil {
			return err
		}
	}
	return nil
}

// HeldTotal is the sum of a hold's postings when they share one unit,
// else -1 (no amount equals it).
func HeldTotal(ps []Posting) int64 {
	var sum int64
	for _, p := range ps {
		if p.Unit != ps[0].Unit || sum > MaxAmountMinor {
			return -1
		}
		sum += p.Amount
	}
	return sum
}

// PostPending settles a hold: in full when amount is nil (or, for a
// multi-posting hold in one unit, its whole total), or for a smaller
// amount (single-posting holds only); the rest is released. Errors:
// not_found, not_pending, hold_expired, invalid_amount, account_frozen,
// account_closed.
func PostPending(tx Tx, id string, amount *int64, memo string) (*Transaction, error) {
	return PostPendingDue(tx, id, tx.Now(), amount, memo)
}

// PostPendingDue is PostPending for a workflow's own timer whose post fell
// due at due: the hold's deadline is judged at due (or now, if earlier),
// not at the moment the timer runs, so a settlement or payment that was
// due before the deadline still happens when the server was stopped
// across both (timers fire late, and a tick runs the workflows' timers
// before the ledger's expiries). A hold the ledger already voided stays
// voided (not_pending, hold_expired).
func PostPendingDue(tx Tx, id string, due time.Time, amount *int64, memo string) (*Transaction, error) {
	asOf := tx.Now()
	if due.Before(asOf) {
		asOf = due
	}
	t, err := pendingTx(tx, id)
	if IsCode(err, CodeNotPending) {
		if v, _ := tx.Transaction(id); expiredByLedger(tx, v) {
			return nil, Errorf(CodeHoldExpired, "hold %s expired at %s; the ledger voided it", id, v.Deadline.UTC().Format(time.RFC3339Nano))
		}
	}
	if err != nil {
		return nil, err
	}
	if !asOf.Before(t.Deadline) {
		return nil, Errorf(CodeHoldExpired, "hold %s expired at %s", id, t.Deadline.UTC().Format(time.RFC3339Nano))
	}
	if err := CheckChainText("memo", memo, MaxMemoLen); err != nil {
		return nil, err
	}
	posted := append([]Posting(nil), t.Postings...)
	if amount != nil && len(posted) > 1 && *amount == HeldTotal(posted) {
		amount = nil // the whole of a multi-posting hold: a full post
	}
	if amount != nil {
		if len(posted) != 1 {
			return nil, Errorf(CodeInvalidRequest, "a partial amount needs a single-posting hold")
		}
		if *amount <= 0 || *amount > posted[0].Amount {
			return nil, Errorf(CodeInvalidAmount, "amount must be above zero and at most the held %s", FormatAmount(posted[0].Amount, posted[0].Unit))
		}
		posted[0].Amount = *amount
	}
	r := &Transaction{ID: tx.NewID("tx"), Seq: tx.Seq(), Time: tx.Now(), Kind: "post", Status: TxPosted,
		Postings: posted, Memo: memo, Actor: tx.Actor().ID, OnBehalf: tx.Actor().OnBehalf, PendingID: t.ID}
	as := accounts{}
	if err := release(tx, as, t, r); err != nil {
		return nil, err
	}
	for _, p := range posted {
		from, to := as[p.From], as[p.To]
		if err := from.open(); err != nil {
			return nil, err
		}
		if err := to.open(); err != nil {
			return nil, err
		}
		if from.DebitsPosted, err = addChecked(from.DebitsPosted, p.Amount); err != nil {
			return nil, err
		}
		if to.CreditsPosted, err = addChecked(to.CreditsPosted, p.Amount); err != nil {
			return nil, err
		}
		tx.Effect(Effect{Op: EffectMove, Tx: r.ID, From: p.From, To: p.To, Unit: p.Unit, Amount: p.Amount, Memo: r.Memo, Kind: r.Kind})
		if err := addEntries(tx, r, "posted", p, p.Amount, from, to); err != nil {
			return nil, err
		}
	}
	return r, settle(tx, as, t, r)
}

// VoidPending releases a hold without moving anything. It is allowed on a
// frozen account: it only gives back what was reserved. Errors: not_found,
// not_pending.
func VoidPending(tx Tx, id string, memo string) (*Transaction, error) {
	t, err := pendingTx(tx, id)
	if err != nil {
		return nil, err
	}
	if err := CheckChainText("memo", memo, MaxMemoLen); err != nil {
		return nil, err
	}
	r := &Transaction{ID: tx.NewID("tx"), Seq: tx.Seq(), Time: tx.Now(), Kind: "void", Status: TxVoided,
		Postings: t.Postings, Memo: memo, Actor: tx.Actor().ID, OnBehalf: tx.Actor().OnBehalf, PendingID: t.ID}
	as := accounts{}
	if err := release(tx, as, t, r); err != nil {
		return nil, err
	}
	return r, settle(tx, as, t, r)
}

// VoidBeforeDeadline is a caller's void of a hold (POST
// /v1/transfers/{id}/void): like a post, it is refused once the hold's
// deadline has passed (hold_expired), since the ledger itself voids an
// expired hold and records it as its expiry. Workflows that void their own
// holds (a rejected proposal, a cancelled booking) use VoidPending.
func VoidBeforeDeadline(tx Tx, id string, memo string) (*Transaction, error) {
	t, err := pendingTx(tx, id)
	if IsCode(err, CodeNotPending) {
		// Once the ledger has voided it, the same answer as before.
		if v, _ := tx.Transaction(id); expiredByLedger(tx, v) {
			return nil, Errorf(CodeHoldExpired, "hold %s expired at %s; the ledger voided it", id, v.Deadline.UTC().Format(time.RFC3339Nano))
		}
	}
	if err != nil {
		return nil, err
	}
	if !tx.Now().Before(t.Deadline) {
		return nil, Errorf(CodeHoldExpired, "hold %s expired at %s; the ledger voids it", id, t.Deadline.UTC().Format(time.RFC3339Nano))
	}
	return VoidPending(tx, id, memo)
}

// settle saves the accounts, the resolving transaction, and the hold marked
// with its outcome, and cancels the hold's expiry timer.
func settle(tx Tx, as accounts, hold, r *Transaction) error {
	if err := as.save(tx); err != nil {
		return err
	}
	if err := tx.PutTransaction(r); err != nil {
		return err
	}
	hold.Status, hold.ResolvedBy = r.Status, r.ID
	if err := tx.PutTransaction(hold); err != nil {
		return err
	}
	return tx.Unschedule(hold.Deadline, ExpiryKindHold, hold.ID)
}

// Reverse records a new transaction that undoes a posted one, naming it and
// why. Guards apply: a reversal cannot overdraw. Errors: not_found,
// conflict (a pending hold: void it instead), already_reversed, invalid_request
// (no reason), and Transfer's errors.
func Reverse(tx Tx, id, reason string) (*Transaction, error) {
	return ReverseDiverted(tx, id, reason, nil)
}

// Diverter sends part of a reversal's posting elsewhere: it returns the
// postings that replace p, which must each debit p.From in p.Unit, with
// amounts that add up to p.Amount; a part "to" p.From itself stays where
// it is and is not posted. It is called for each posting in the order
// they apply, so it can count what it has already sent to an account.
type Diverter func(p Posting) ([]Posting, error)

// ReverseDiverted is Reverse with the reversal's postings passed through
// divert (nil: none diverted) — a workflow whose payee may take only so
// much (a storage cap) sends the rest where its rule says.
func ReverseDiverted(tx Tx, id, reason string, divert Diverter) (*Transaction, error) {
	t, err := tx.Transaction(id)
	if err != nil {
		return nil, err
	}
	switch {
	case t.Status == TxPending:
		return nil, Errorf(CodeConflict, "transaction %s is a hold still pending: void it (or post it) instead of reversing it", id)
	case !t.Deadline.IsZero() && t.Status == TxVoided:
		return nil, Errorf(CodeInvalidRequest, "transaction %s was a hold that was voided (by %s) and moved nothing", id, t.ResolvedBy)
	case !t.Deadline.IsZero():
		return nil, Errorf(CodeInvalidRequest, "transaction %s was a hold; reverse its post %s instead", id, t.ResolvedBy)
	case t.Status != TxPosted:
		return nil, Errorf(CodeInvalidRequest, "transaction %s is %s and moved nothing", id, t.Status)
	case t.Kind == "reversal":
		return nil, Errorf(CodeInvalidRequest, "a reversal is not reversed; make a new transfer")
	case t.ResolvedBy != "":
		return nil, Errorf(CodeAlreadyReversed, "transaction %s was already reversed by %s", id, t.ResolvedBy)
	case Blank(reason):
		return nil, Errorf(CodeInvalidRequest, "a reversal needs a reason")
	}
	if err := CheckChainText("reason", reason, MaxMemoLen); err != nil {
		return nil, err // checked here, so that the error names the reason, not the memo it becomes
	}
	// Last posting first: each posting is judged against the balances
	// the earlier ones left, so undoing them in reverse order passes
	// through the same states as the original (a posting that credited
	// an empty account which a later one debited is undone after that
	// one), and a reversal of a legal transfer is legal unless the
	// accounts have moved since.
	back := make([]Posting, len(t.Postings))
	for i, p := range t.Postings {
		back[len(back)-1-i] = Posting{From: p.To, To: p.From, Amount: p.Amount, Unit: p.Unit}
	}
	if divert != nil {
		if back, err = diverted(back, divert); err != nil {
			return nil, err
		}
	}
	r, err := Transfer(tx, TransferSpec{Kind: "reversal", Postings: back, Memo: reason, Reverses: t.ID})
	if err != nil {
		return nil, err
	}
	t.ResolvedBy = r.ID
	return r, tx.PutTransaction(t)
}

// diverted passes each of back through divert, checking that what
// replaces a posting debits the same account, in the same unit, the same
// amount in all.
func diverted(back []Posting, divert Diverter) ([]Posting, error) {
	var out []Posting
	for _, p := range back {
		ps, err := divert(p)
		if err != nil {
			return nil, err
		}
		var sum int64
		for _, q := range ps {
			if q.From != p.From || q.Unit != p.Unit || q.Amount <= 0 || q.Amount > p.Amount-sum {
				return nil, Errorf(CodeInternal, "reversal of a posting from %s diverted wrongly", p.From)
			}
			sum += q.Amount
			if q.To != q.From {
				out = append(out, q)
			}
		}
		if sum != p.Amount {
			return nil, Errorf(CodeInternal, "reversal of a posting from %s diverted wrongly", p.From)
		}
	}
	if len(out) == 0 {
		return nil, Errorf(CodeInternal, "a diverted reversal moves nothing")
	}
	return out, nil
}

// ExpireHold is the timer handler of pending transactions: it voids the
// hold if it is still pending once its deadline has passed.
// expiredMemo is the memo of the void ExpireHold makes.
const expiredMemo = "expired"

func ExpireHold(id string, at time.Time) Op {
	return func(tx Tx) (any, error) {
		t, err := tx.Transaction(id)
		if err != nil && !IsCode(err, CodeNotFound) {
			return nil, err
		}
		if err != nil || t.Status != TxPending || !t.Deadline.Equal(at) {
			return nil, tx.Unschedule(at, ExpiryKindHold, id)
		}
		r, err := VoidPending(tx, id, expiredMemo)
		if err != nil {
			return nil, err
		}
		tx.Audit("tx.expire", TxFields(r))
		return r, nil
	}
}

// TxFields returns a transaction as audit content.
func TxFields(t *Transaction) map[string]any {
	ps := make([]any, len(t.Postings))
	for i, p := range t.Postings {
		ps[i] = map[string]any{"from": p.From, "to": p.To, "amount": p.Amount, "unit": string(p.Unit)}
	}
	m := map[string]any{"id": t.ID, "kind": t.Kind, "status": string(t.Status), "postings": ps}
	if t.Memo != "" {
		m["memo"] = t.Memo
	}
	if !t.Deadline.IsZero() {
		m["deadline"] = t.Deadline.UnixNano()
	}
	if t.PendingID != "" {
		m["pending_id"] = t.PendingID
	}
	if t.Reverses != "" {
		m["reverses"] = t.Reverses
	}
	return m
}

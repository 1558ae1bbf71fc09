package audit

import (
	"bytes"
	"math"
)

// Effect ops, as ledger.Effect writes them.
const (
	effectOpen    = "open"
	effectStatus  = "status"
	effectMove    = "move"
	effectHold    = "hold"
	effectRelease = "release"
)

// Guards and statuses an account can have, as the ledger writes them.
const (
	guardNoOverdraft = "no_overdraft"
	guardCreditLimit = "credit_limit"
	guardNone        = "none"
	statusOpen       = "open"
	statusFrozen     = "frozen"
	statusClosed     = "closed"
)

// checkParams refuses an open or status effect with a guard or status the
// ledger never writes: an unknown guard would lift every floor.
func checkParams(seq uint64, e *effect) *VerifyError {
	switch string(e.guard) {
	case guardNoOverdraft, guardCreditLimit, guardNone:
	default:
		return failAt(seq, ReasonEffects, "account %s: unknown guard %q", e.account, e.guard)
	}
	switch string(e.status) {
	case statusOpen, statusFrozen, statusClosed:
	default:
		return failAt(seq, ReasonEffects, "account %s: unknown status %q", e.account, e.status)
	}
	// The ledger opens no account with a negative limit or cap (a
	// negative credit limit would raise its floor above zero).
	if e.creditLimit < 0 || e.maxBal < 0 {
		return failAt(seq, ReasonEffects, "account %s: negative credit_limit or max_balance", e.account)
	}
	return nil
}

// Account is an account's stored state as far as the chain determines
// it: the verifier rebuilds it by replay and compares it with the store.
type Account struct {
	ID             string
	Unit           string
	Guard          string
	Status         string
	OwnerKind      string // member, community, fund, external: who may read it
	Owner          string
	Kind           string
	Community      string // the community whose staff may read it
	CreditLimit    int64
	MaxBalance     int64
	DebitsPosted   int64
	CreditsPosted  int64
	DebitsPending  int64
	CreditsPending int64
}

// replayed is an account as the replay knows it, with the last record
// that changed it (where a stored difference is reported).
type replayed struct {
	Account
	last uint64
	hist history // the history lines the chain gives the account
}

func (a *replayed) balance() int64   { return a.CreditsPosted - a.DebitsPosted }
func (a *replayed) available() int64 { return a.balance() - a.DebitsPending }

// holdLeg is one posting of an outstanding hold.
type holdLeg struct {
	from, to, unit string
	amount         int64
}

// replay rebuilds every account from records' effects and checks, as the
// ledger does before each change, that guards held: no overdraft below
// the floor, no credit above the storage cap, no posting to a frozen or
// closed account, no hold released twice or for more than it held.
type replay struct {
	accounts map[string]*replayed
	holds    map[string][]holdLeg
	released []releasedLeg // the current record's
}

func newReplay() *replay {
	return &replay{accounts: map[string]*replayed{}, holds: map[string][]holdLeg{}}
}

// apply replays one record's effects; it returns the failure, if any.
func (r *replay) apply(seq uint64, effects []effect) *VerifyError {
	r.released = r.released[:0]
	for i := range effects {
		e := &effects[i]
		var err *VerifyError
		switch string(e.op) {
		case effectOpen:
			err = r.open(seq, e)
		case effectStatus:
			err = r.status(seq, e)
		case effectHold:
			err = r.move(seq, e, true, false)
		case effectMove:
			err = r.move(seq, e, false, r.posts(e))
		case effectRelease:
			if err = r.release(seq, e); err == nil {
				r.released = append(r.released, releasedLeg{string(e.from), string(e.to), string(e.by), e.amount})
			}
		default:
			err = failAt(seq, ReasonEffects, "unknown effect op %q", e.op)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// releasedLeg is an amount a record released from a hold between two
// accounts, which a move of the same record may post without guard
// checks (it was checked when held).
type releasedLeg struct {
	from, to, by string
	amount       int64
}

// posts reports whether move e posts what a release of the same record
// freed: the same accounts, at most the amount released, and (in records
// that name it) the transaction the release names as its resolver. The
// amount it covers is used up, so no other move rides on it.
func (r *replay) posts(e *effect) bool {
	for i := range r.released {
		l := &r.released[i]
		if l.from == string(e.from) && l.to == string(e.to) && e.amount <= l.amount &&
			(l.by == "" || l.by == string(e.tx)) {
			l.amount -= e.amount
			return true
		}
	}
	return false
}

func (r *replay) open(seq uint64, e *effect) *VerifyError {
	if _, ok := r.accounts[string(e.account)]; ok || len(e.account) == 0 {
		return failAt(seq, ReasonEffects, "account %q opened twice or unnamed", e.account)
	}
	if err := checkParams(seq, e); err != nil {
		return err
	}
	a := &replayed{last: seq}
	a.ID = string(e.account)
	a.Unit = string(e.unit)
	r.setParams(a, e)
	r.accounts[a.ID] = a
	return nil
}

func (r *replay) status(seq uint64, e *effect) *VerifyError {
	a, ok := r.accounts[string(e.account)]
	if !ok {
		return failAt(seq, ReasonEffects, "status of unknown account %q", e.account)
	}
	if !bytes.Equal(e.unit, []byte(a.Unit)) {
		return failAt(seq, ReasonEffects, "account %s changed unit", a.ID)
	}
	if err := checkParams(seq, e); err != nil {
		return err
	}
	r.setParams(a, e)
	a.last = seq
	return nil
}

// setParams copies an open or status effect's guard and status, reusing
// the strings already held when they are unchanged (the common case).
func (r *replay) setParams(a *replayed, e *effect) {
	if a.Guard != string(e.guard) {
		a.Guard = string(e.guard)
	}
	if a.Status != string(e.status) {
		a.Status = string(e.status)
	}
	a.CreditLimit, a.MaxBalance = e.creditLimit, e.maxBal
	a.OwnerKind, a.Owner, a.Kind, a.Community = string(e.ownerKind), string(e.owner), string(e.kind), string(e.community)
}

func (r *replay) pair(seq uint64, e *effect) (from, to *replayed, err *VerifyError) {
	from, ok1 := r.accounts[string(e.from)]
	to, ok2 := r.accounts[string(e.to)]
	switch {
	case !ok1 || !ok2:
		return nil, nil, failAt(seq, ReasonEffects, "%s names an unknown account", e.op)
	case e.amount <= 0:
		return nil, nil, failAt(seq, ReasonEffects, "%s of %d", e.op, e.amount)
	case from.Unit != string(e.unit) || to.Unit != string(e.unit):
		return nil, nil, failAt(seq, ReasonEffects, "%s in %s between accounts of other units", e.op, e.unit)
	}
	return from, to, nil
}

// move replays a move (posted) or a hold (pending). A transfer's move and
// every hold are checked against both accounts' guards before they apply,
// as the ledger checks them; a post's move only needs open accounts,
// since it turns an already-checked hold into a posting.
func (r *replay) move(seq uint64, e *effect, pending, posting bool) *VerifyError {
	from, to, err := r.pair(seq, e)
	if err != nil {
		return err
	}
	if from.Status != statusOpen || to.Status != statusOpen {
		return r.guardFail(seq, from, to, "posting to or from an account that is not open")
	}
	if !posting {
		if floor, ok := floorOf(from); ok && from.available()-e.amount < floor {
			return r.guardFail(seq, from, nil, "overdraft below %d", floor)
		}
		if to.MaxBalance > 0 && to.balance()+to.CreditsPending+e.amount > to.MaxBalance {
			return r.guardFail(seq, to, nil, "credit above the maximum balance %d", to.MaxBalance)
		}
	}
	df, ct := &from.DebitsPosted, &to.CreditsPosted
	if pending {
		df, ct = &from.DebitsPending, &to.CreditsPending
		r.holds[string(e.tx)] = append(r.holds[string(e.tx)], holdLeg{from.ID, to.ID, from.Unit, e.amount})
	}
	if !addTo(df, e.amount) || !addTo(ct, e.amount) {
		return r.guardFail(seq, from, to, "overflow")
	}
	from.last, to.last = seq, seq
	return nil
}

func (r *replay) release(seq uint64, e *effect) *VerifyError {
	from, to, err := r.pair(seq, e)
	if err != nil {
		return err
	}
	legs := r.holds[string(e.tx)]
	i := 0
	for i < len(legs) && (legs[i].from != from.ID || legs[i].to != to.ID || legs[i].amount != e.amount) {
		i++
	}
	if i == len(legs) {
		return failAt(seq, ReasonEffects, "release of %s matches no outstanding hold", e.tx)
	}
	if len(legs) == 1 {
		delete(r.holds, string(e.tx))
	} else {
		r.holds[string(e.tx)] = append(legs[:i], legs[i+1:]...)
	}
	from.DebitsPending -= e.amount
	to.CreditsPending -= e.amount
	from.last, to.last = seq, seq
	return nil
}

func (r *replay) guardFail(seq uint64, a, b *replayed, format string, args ...any) *VerifyError {
	err := failAt(seq, ReasonGuard, format, args...)
	err.Account = a.ID
	if b != nil {
		err.Account += "," + b.ID
	}
	return err
}

func floorOf(a *replayed) (int64, bool) {
	switch a.Guard {
	case guardNoOverdraft:
		return 0, true
	case guardCreditLimit:
		return -a.CreditLimit, true
	}
	return 0, false
}

func addTo(p *int64, v int64) bool {
	if v > 0 && *p > math.MaxInt64-v {
		return false
	}
	*p += v
	return true
}

package timebank

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"tally/ledger"
	"tally/ledger/community"
)

// move is a change of value a workflow builds: its postings, what the
// payer's community owes the payee's by it when it crosses communities,
// and how much went to the pool above the payee's storage cap.
type move struct {
	postings []ledger.Posting
	owedBy   string
	owedTo   string
	owed     int64
	overflow int64
}

func (mv *move) add(from, to string, amt int64) {
	if amt > 0 {
		mv.postings = append(mv.postings, ledger.Posting{From: from, To: to, Amount: amt, Unit: ledger.HOUR})
	}
}

// between moves amt from one account to another. Across communities it
// goes through both clearing accounts (通存通兑): payer → its community's
// clearing, the payee community's clearing → payee. Each community's
// accounts then still sum to zero, and the payer community's clearing
// balance is what it owes the others.
func between(from, to *ledger.Account, amt int64) move {
	mv := move{}
	if from.Community == to.Community {
		mv.add(from.ID, to.ID, amt)
		return mv
	}
	mv.add(from.ID, community.AccountID(from.Community, community.AcctClearing), amt)
	mv.add(community.AccountID(to.Community, community.AcctClearing), to.ID, amt)
	mv.owedBy, mv.owedTo, mv.owed = from.Community, to.Community, amt
	return mv
}

// headroom is how much more member account a of c can take before the
// storage cap of c's current policy (which the ledger brings a's own cap
// to before the transaction's postings: ledger.CapPolicy); -1 when the
// policy has none.
func headroom(a *ledger.Account, c *community.Community) int64 {
	limit := c.Policy.MaxBalance
	if limit <= 0 {
		return -1
	}
	return max(limit-a.Balance()-a.CreditsPending, 0)
}

// toMember moves amt from payer to member m's HOUR account; the part above
// m's storage cap goes to the pool of m's community instead (the overflow
// rule), by the same transaction. Errors: not_found, and
// max_balance_exceeded when the payer is that pool itself.
func toMember(r ledger.Reader, payer *ledger.Account, m *community.Member, amt int64) (move, error) {
	acct, err := hourAccount(r, m)
	if err != nil {
		return move{}, err
	}
	// A frozen (or closed) member earns and receives nothing, also when
	// all of it would overflow to the pool and no posting touches them.
	if err := acct.CheckOpen(); err != nil {
		return move{}, err
	}
	c, err := communityOf(r, acct.Community)
	if err != nil {
		return move{}, err
	}
	keep, over := amt, int64(0)
	if room := headroom(acct, c); room >= 0 && room < amt {
		keep, over = room, amt-room
	}
	pool := community.AccountID(acct.Community, community.AcctPool)
	if over > 0 && payer.ID == pool {
		return move{}, ledger.Errorf(ledger.CodeMaxBalanceExceeded, "timebank: member %s can take at most %s more", m.ID, ledger.FormatAmount(keep, ledger.HOUR))
	}
	mv := move{overflow: over}
	if payer.Community == acct.Community {
		mv.add(payer.ID, acct.ID, keep)
		mv.add(payer.ID, pool, over)
		return mv, nil
	}
	clearing := community.AccountID(acct.Community, community.AcctClearing)
	mv.add(payer.ID, community.AccountID(payer.Community, community.AcctClearing), amt)
	mv.add(clearing, acct.ID, keep)
	mv.add(clearing, pool, over)
	mv.owedBy, mv.owedTo, mv.owed = payer.Community, acct.Community, amt
	return mv, nil
}

// commit records the move as a transaction, pending for hold when hold
// is above zero, and, when it posts at once, what one community owes the
// other by it (a hold counts when it posts: see settleOwed).
func (mv move) commit(tx ledger.Tx, kind, memo string, hold time.Duration) (*ledger.Transaction, error) {
	t, err := ledger.Transfer(tx, ledger.TransferSpec{Kind: kind, Postings: mv.postings, Memo: memo,
		Pending: hold > 0, Timeout: hold})
	if err != nil {
		return nil, err
	}
	if hold > 0 {
		return t, nil
	}
	return t, addOwed(tx, mv.owedBy, mv.owedTo, mv.owed)
}

// Kinds of the transactions of gifts and pool grants.
const (
	KindGift  = "gift"
	KindGrant = "grant"
)

// ReverseMove reverses a gift's, a grant's, a redemption's or a service
// credit's transaction (the correction names it and why) and takes what it
// made one community owe another back off the settlement view. What it
// pays back to a member above their storage cap goes to the pool of
// their community instead, as the overflow rule would have sent it had
// the corrected move never been made (capDiverter). An erased member's
// account is settled only towards zero (community.ErasedAccountsSettle).
// Errors: ledger.Reverse's, conflict.
func ReverseMove(tx ledger.Tx, id, reason string) (*ledger.Transaction, error) {
	t, err := tx.Transaction(id)
	if err != nil {
		return nil, err
	}
	r, err := ledger.ReverseDiverted(tx, id, reason, capDiverter(tx, t.Postings))
	if err != nil {
		return nil, err
	}
	if err := community.ErasedAccountsSettle(tx, r.Postings); err != nil {
		return nil, err
	}
	by, to, amt, err := owedOf(tx, r)
	if err != nil {
		return nil, err
	}
	return r, addOwed(tx, by, to, amt)
}

// capDiverter splits each posting of the reversal of orig to a member's
// time account at the member's storage cap: the member gets what fits
// (counting what the reversal's earlier postings gave or took), the pool
// of their community the rest — and where that pool is the payer (a gift
// to it, or the overflow of one, given back), the rest stays in it, the
// member's room going first to the reversal's other legs (review s27h:
// the pool's leg comes first, and paid out what the relative's leg then
// sent back, refused when the pool had granted it away); when nothing
// would move at all, max_balance_exceeded. A frozen or
// closed member's posting is refused even when none of it would reach
// them, as toMember does; an erased member's is left whole, to be judged
// as before (community.ErasedAccountsSettle: only towards zero).
func capDiverter(r ledger.Reader, orig []ledger.Posting) ledger.Diverter {
	n := len(orig)
	given := map[string]int64{}
	// A member's room goes first to the legs that are not their own
	// pool's: a pool leg gets only what they leave, so the pool never
	// pays out what another leg of the same reversal would send it back.
	others := map[string]int64{}
	for _, p := range orig {
		if a, err := r.Account(p.From); err == nil && p.To != community.AccountID(a.Community, community.AcctPool) {
			others[a.ID] += p.Amount
		}
	}
	calls, moved := 0, false
	return func(p ledger.Posting) ([]ledger.Posting, error) {
		calls++
		ps, err := capSplit(r, p, given, others)
		if err != nil {
			return nil, err
		}
		// What this leg takes from an account is room for a later leg
		// to give back (the ledger judges each leg after the earlier).
		given[p.From] -= p.Amount
		for _, q := range ps {
			moved = moved || q.To != q.From
		}
		if calls == n && !moved {
			return nil, ledger.Errorf(ledger.CodeMaxBalanceExceeded, "timebank: %s is at its storage cap: what the reversal would give back stays in the pool that paid it", p.To)
		}
		return ps, nil
	}
}

// capSplit is capDiverter's split of one posting; given counts what the
// reversal gave each member so far, others what its legs not from the
// member's pool have still to give them.
func capSplit(r ledger.Reader, p ledger.Posting, given, others map[string]int64) ([]ledger.Posting, error) {
	whole := []ledger.Posting{p}
	a, err := r.Account(p.To)
	if err != nil || a.OwnerKind != ledger.OwnerMember || a.Kind != "member" || a.Unit != ledger.HOUR {
		return whole, nil // the ledger names a missing account
	}
	c, err := communityOf(r, a.Community)
	if err != nil {
		return nil, err
	}
	room := headroom(a, c)
	if room < 0 {
		return whole, nil
	}
	if m, err := community.GetMember(r, a.Owner); err != nil || m.Erased {
		return whole, err
	}
	pool := community.AccountID(a.Community, community.AcctPool)
	reserved := int64(0)
	if p.From == pool {
		reserved = others[a.ID]
	} else {
		others[a.ID] -= p.Amount
	}
	keep := min(max(room-given[a.ID]-reserved, 0), p.Amount)
	given[a.ID] += keep
	if keep == p.Amount {
		return whole, nil
	}
	if err := a.CheckOpen(); err != nil {
		return nil, err
	}
	var mv move
	mv.add(p.From, a.ID, keep)
	mv.add(p.From, pool, p.Amount-keep)
	return mv.postings, nil
}

// settleMemo is the memo of the post or void that settles a workflow's
// hold: what it was, so the member's history says why the credits moved
// (probe s27d: a completed booking's lines had no memo), with the
// caller's reason after it when one was given and the two fit in a memo
// (the reason is in the record's chain entry either way).
func settleMemo(what, reason string) string {
	m := what + ": " + reason
	if ledger.Blank(reason) || ledger.CheckChainText("memo", m, ledger.MaxMemoLen) != nil {
		return what
	}
	return m
}

// postHold posts a hold a workflow made and counts its clearing legs.
func postHold(tx ledger.Tx, id, memo string) (*ledger.Transaction, error) {
	return postHoldDue(tx, id, tx.Now(), memo)
}

// postHoldDue is postHold for a timer whose post fell due at due
// (ledger.PostPendingDue).
func postHoldDue(tx ledger.Tx, id string, due time.Time, memo string) (*ledger.Transaction, error) {
	t, err := ledger.PostPendingDue(tx, id, due, nil, memo)
	if err != nil {
		return nil, err
	}
	by, to, amt, err := owedOf(tx, t)
	if err != nil {
		return nil, err
	}
	return t, addOwed(tx, by, to, amt)
}

// owedOf returns what the postings of t make one community owe another:
// the sum of the legs into one community's clearing account, owed to the
// community whose clearing account pays out.
func owedOf(r ledger.Reader, t *ledger.Transaction) (by, to string, amt int64, err error) {
	for _, p := range t.Postings {
		a, err := r.Account(p.To)
		if err != nil {
			return "", "", 0, err
		}
		if a.Kind == community.AcctClearing && (by == "" || by == a.Community) {
			// Every leg into the paying community's clearing account counts:
			// a reversal of a credit that overflowed the cap pays it back
			// from the volunteer and from the pool, in two legs.
			by, amt = a.Community, amt+p.Amount
		}
		f, err := r.Account(p.From)
		if err != nil {
			return "", "", 0, err
		}
		if f.Kind == community.AcctClearing {
			to = f.Community
		}
	}
	return by, to, amt, nil
}

// addOwed adds amt to what community a owes community b, keeping both
// directions so either community's settlement view is one prefix scan.
func addOwed(tx ledger.Tx, a, b string, amt int64) error {
	if amt == 0 || a == "" || b == "" {
		return nil
	}
	if err := bumpOwed(tx, a, b, amt); err != nil {
		return err
	}
	return bumpOwed(tx, b, a, -amt)
}

func bumpOwed(tx ledger.Tx, a, b string, amt int64) error {
	key := owedKey(a, b)
	cur, err := readOwed(tx, key)
	if err != nil {
		return err
	}
	return putJSON(tx, key, cur+amt)
}

func owedKey(a, b string) string { return "tb/owe/" + a + "/" + b }

func readOwed(r ledger.Reader, key string) (int64, error) {
	raw, ok, err := indexGet(r, key)
	if err != nil || !ok {
		return 0, err
	}
	var v int64
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, fmt.Errorf("timebank: owed %s: %w", key, err)
	}
	return v, nil
}

// Owed is what one community owes another in HOUR minor units.
type Owed struct {
	From  string `json:"from"`
	To    string `json:"to"`
	Hours int64  `json:"hours"`
}

// Settlement lists what community c and the communities under it (a
// street's or a town's view covers its communities) owe other
// communities and are owed, netted per pair (positive Hours from From to
// To), each pair once, with the sum of their clearing accounts' balances,
// which equals what they owe minus what they are owed. Errors: not_found.
func Settlement(r ledger.Reader, c string) ([]Owed, int64, error) {
	tree, err := Subtree(r, c)
	if err != nil {
		return nil, 0, err
	}
	var out []Owed
	seen := map[[2]string]bool{}
	var clearing int64
	for _, cm := range tree {
		err = scan(r, "tb/owe/"+cm.ID+"/", "", MaxCommunities, func(other string, v []byte) (bool, error) {
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil {
				return false, fmt.Errorf("timebank: owed %s/%s: %w", cm.ID, other, err)
			}
			o := Owed{From: cm.ID, To: other, Hours: n}
			if n < 0 {
				o = Owed{From: other, To: cm.ID, Hours: -n}
			}
			// Both sides keep the pair; within the tree it is listed once.
			if n != 0 && !seen[[2]string{o.From, o.To}] {
				seen[[2]string{o.From, o.To}] = true
				out = append(out, o)
			}
			return true, nil
		})
		if err != nil {
			return nil, 0, err
		}
		clr, err := r.Account(cm.Accounts[community.AcctClearing])
		if err != nil {
			return nil, 0, err
		}
		clearing += clr.Balance()
	}
	return out, clearing, nil
}

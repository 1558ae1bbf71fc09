package timebank

import (
	"strings"
	"tally/ledger"
	"tally/ledger/community"
)

// Transfer is the result of a gift or a pool grant.
type Transfer struct {
	ID          string `json:"id"`
	From        string `json:"from"`
	To          string `json:"to"`
	Hours       int64  `json:"hours"`
	Overflow    int64  `json:"overflow,omitempty"` // went to the pool above the storage cap
	Transaction string `json:"transaction"`
	Memo        string `json:"memo,omitempty"`
}

// Gift gives a member's credits (转赠) to a registered relative, or to
// their community's pool (爱心池) when to is that pool's account id
// ("gift.create"). Only earned credits are given: a mutual-credit member
// cannot give away their credit line. A relative in another community is
// reached through clearing; above the relative's storage cap the gift
// goes to their pool. Errors: invalid_id, invalid_amount, not_found,
// forbidden, not_relative, insufficient_funds, account_frozen.
func Gift(tx ledger.Tx, by Caller, from, to string, hours int64, memo string) (*Transfer, error) {
	if err := checkHours("hours", hours, ledger.MaxAmountMinor); err != nil {
		return nil, err
	}
	if err := ledger.CheckChainText("memo", memo, ledger.MaxMemoLen); err != nil {
		return nil, err
	}
	if err := ledger.CheckID("from", from); err != nil {
		return nil, err
	}
	// Whose credits these are is checked before anything about from:
	// naming someone else's says nothing of whether they exist.
	// A member's HOUR account id names the member (an entity id never
	// extends another's, so "li:HOUR" can only be li's account).
	from = memberOfHourAccount(from)
	if by.Member != from {
		return nil, ledger.Errorf(ledger.CodeForbidden, "timebank: members give their own credits; a coordinator acts on their behalf")
	}
	giver, err := member(tx, from)
	if err != nil {
		return nil, err
	}
	src, err := hourAccount(tx, giver)
	if err != nil {
		return nil, err
	}
	to = poolAlias(giver, memberOfHourAccount(to))
	mv, err := giftMove(tx, giver, src, to, hours) // not_relative first: whom else to relates to is no answer's business
	if err != nil {
		return nil, err
	}
	// A coordinator making a gift for a resident (代办) does not make it
	// to themself or their own family: someone else does.
	if a := tx.Actor(); a.ID != giver.ID && to != community.AccountID(giver.Community, community.AcctPool) {
		if err := community.NoConflict(tx, a.ID, to, "a gift made for a resident"); err != nil {
			return nil, err
		}
	}
	if src.Available() < hours {
		return nil, ledger.Errorf(ledger.CodeInsufficientFunds, "timebank: %s has %s hours to give", giver.ID, ledger.FormatAmount(max(src.Available(), 0), ledger.HOUR))
	}
	// The giver's and the receiver's history say what the line is even
	// when the gift came without a memo.
	if ledger.Blank(memo) {
		memo = ""
	}
	lineMemo := memo
	if lineMemo == "" {
		lineMemo = "gift from " + giver.ID
		if a := tx.Actor(); a.ID != giver.ID {
			lineMemo += ", made for them by " + a.ID // 代办: the histories name who moved it
		}
	}
	t, err := mv.commit(tx, KindGift, lineMemo, 0)
	if err != nil {
		return nil, err
	}
	g := &Transfer{ID: t.ID, From: giver.ID, To: to, Hours: hours, Overflow: mv.overflow, Transaction: t.ID, Memo: memo}
	tx.Audit("gift.create", withOptional(map[string]any{"from": g.From, "to": g.To, "hours": hours,
		"overflow": mv.overflow, "transaction": t.ID}, "memo", memo))
	return g, nil
}

// PoolAlias, like the community's id, names the giver's own community
// pool in a gift, beside the pool's account id "<community>:pool".
const PoolAlias = "pool"

// memberOfHourAccount returns the member whose HOUR account id is id, or
// id itself.
// MemberOfHourAccount is the member a gift's from or to names: a member
// id, or a member's HOUR account id ("li:HOUR").
func MemberOfHourAccount(id string) string { return memberOfHourAccount(id) }

func memberOfHourAccount(id string) string {
	if owner, ok := strings.CutSuffix(id, ":"+string(ledger.HOUR)); ok && owner != "" {
		return owner
	}
	return id
}

func poolAlias(giver *community.Member, to string) string {
	if to == PoolAlias || (to == giver.Community && to != "") {
		return community.AccountID(giver.Community, community.AcctPool)
	}
	return to
}

func giftMove(r ledger.Reader, giver *community.Member, src *ledger.Account, to string, hours int64) (move, error) {
	if to == community.AccountID(giver.Community, community.AcctPool) {
		pool, err := r.Account(to)
		if err != nil {
			return move{}, err
		}
		return between(src, pool, hours), nil
	}
	// Anyone but a registered relative (or the pool) gets the same answer,
	// whether the id is a member elsewhere or nobody: a gift is no way to
	// learn who exists. Only a relative's erasure is
	// told (409).
	if err := ledger.CheckID("to", to); err != nil {
		return move{}, err // bad input, whoever exists
	}
	notRelative := ledger.Errorf(CodeNotRelative, "timebank: %s is neither a registered relative of %s nor the pool of their community (%s:pool, or \"pool\")", to, giver.ID, giver.Community)
	rel, err := community.GetMember(r, to)
	if ledger.IsCode(err, ledger.CodeNotFound) || (err == nil && (rel.ID == giver.ID || !community.AreRelatives(giver, rel))) {
		return move{}, notRelative
	}
	if err != nil {
		return move{}, err
	}
	if err := community.NotErased(rel); err != nil {
		return move{}, err
	}
	// Clearing (通存通兑) runs within a district, as redemptions and
	// services do: another district's staff could not correct the gift,
	// and this one's settlement would name a community outside it.
	if rel.Community != giver.Community {
		home, err := communityOf(r, giver.Community)
		if err != nil {
			return move{}, err
		}
		there, err := communityOf(r, rel.Community)
		if err != nil {
			return move{}, err
		}
		if district(home) != district(there) {
			return move{}, ledger.Errorf(CodeNotInCommunity, "timebank: %s is in another district (%s) than %s (%s): credits move between the communities of one district", rel.ID, district(there), giver.ID, district(home))
		}
	}
	return toMember(r, src, rel, hours)
}

// Grant gives credits from community c's pool to a member of c in need
// ("pool.grant"); the API lets only staff of c call it. The reason is
// about the grant, not the person. Errors: invalid_id, invalid_amount,
// invalid_request, not_found, not_in_community, insufficient_funds
// (the pool), max_balance_exceeded.
func Grant(tx ledger.Tx, c, to string, hours int64, reason string) (*Transfer, error) {
	if err := checkHours("hours", hours, ledger.MaxAmountMinor); err != nil {
		return nil, err
	}
	if err := checkReason(reason); err != nil {
		return nil, err
	}
	if ledger.Blank(reason) {
		return nil, ledger.Errorf(ledger.CodeInvalidRequest, "timebank: a grant needs a reason")
	}
	if a := tx.Actor(); a.OnBehalf == to {
		return nil, ledger.Errorf(ledger.CodeForbidden, "timebank: nobody grants pool credits to themself; another coordinator does")
	} else if err := community.NoConflict(tx, a.ID, to, "a pool grant"); err != nil {
		return nil, err
	}
	cm, err := communityOf(tx, c)
	if err != nil {
		return nil, err
	}
	m, err := member(tx, to)
	if err != nil {
		return nil, err
	}
	if m.Community != c {
		return nil, ledger.Errorf(CodeNotInCommunity, "timebank: member %s is not a member of community %s", m.ID, c)
	}
	pool, err := tx.Account(cm.Accounts[community.AcctPool])
	if err != nil {
		return nil, err
	}
	mv, err := toMember(tx, pool, m, hours)
	if err != nil {
		return nil, err
	}
	t, err := mv.commit(tx, KindGrant, reason, 0)
	if err != nil {
		return nil, err
	}
	tx.Audit("pool.grant", map[string]any{"community": c, "member": m.ID, "hours": hours, "reason": reason, "transaction": t.ID})
	return &Transfer{ID: t.ID, From: pool.ID, To: m.ID, Hours: hours, Transaction: t.ID, Memo: reason}, nil
}

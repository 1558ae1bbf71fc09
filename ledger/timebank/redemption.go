package timebank

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"tally/ledger"
	"tally/ledger/community"
)

// Catalogue item kinds.
const (
	ItemService = "service"
	ItemGoods   = "goods" // the charity supermarket (爱心超市)
)

// Item is an entry of a community's redemption catalogue. Name is about
// the goods or service and enters the chain.
type Item struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Hours int64  `json:"hours"` // price per unit, HOUR minor units
	Kind  string `json:"kind"`
	// Withdrawn: no longer offered ("catalogue.withdraw"); kept, so that
	// the community still keeps a catalogue and the id its history. A PUT
	// of the item offers it again.
	Withdrawn bool `json:"withdrawn,omitempty"`
}

func catKey(c, item string) string { return "tb/cat/" + c + "/" + item }

// PutItem adds or replaces a catalogue item of community c
// ("catalogue.put"). Errors: invalid_id, invalid_request, invalid_amount,
// not_found, limit_exceeded.
func PutItem(tx ledger.Tx, c string, it Item) (*Item, error) {
	if _, err := communityOf(tx, c); err != nil {
		return nil, err
	}
	if err := checkItem(it); err != nil {
		return nil, err
	}
	if _, ok, err := indexGet(tx, catKey(c, it.ID)); err != nil {
		return nil, err
	} else if !ok {
		if err := checkCatalogueRoom(tx, c); err != nil {
			return nil, err
		}
	}
	if err := putJSON(tx, catKey(c, it.ID), it); err != nil {
		return nil, err
	}
	tx.Audit("catalogue.put", map[string]any{"community": c, "item": it.ID, "name": it.Name, "hours": it.Hours, "kind": it.Kind})
	return &it, nil
}

// WithdrawItem stops community c offering an item of its catalogue
// ("catalogue.withdraw"): redemptions of it are refused (item_withdrawn);
// bookings already made stand. Errors: not_found, wrong_state (withdrawn
// already), invalid_request (the reason).
func WithdrawItem(tx ledger.Tx, c, item, reason string) (*Item, error) {
	if _, err := communityOf(tx, c); err != nil {
		return nil, err
	}
	if err := checkReason(reason); err != nil {
		return nil, err
	}
	it, err := getItem(tx, c, item)
	if err != nil {
		return nil, err
	}
	if it.Withdrawn {
		return nil, ledger.Errorf(CodeWrongState, "timebank: item %s is withdrawn already", item)
	}
	it.Withdrawn = true
	if err := putJSON(tx, catKey(c, it.ID), it); err != nil {
		return nil, err
	}
	tx.Audit("catalogue.withdraw", withOptional(map[string]any{"community": c, "item": it.ID}, "reason", reason))
	return it, nil
}

// getItem reads an item of community c's catalogue, or not_found (an id
// of the wrong shape too, named only in part).
func getItem(r ledger.Reader, c, item string) (*Item, error) {
	missing := ledger.Errorf(ledger.CodeNotFound, "timebank: community %s has no catalogue item %s", c, truncate(item, ledger.MaxIDLen))
	if ledger.CheckID("item", item) != nil {
		return nil, missing
	}
	raw, ok, err := indexGet(r, catKey(c, item))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, missing
	}
	var it Item
	if err := json.Unmarshal(raw, &it); err != nil {
		return nil, fmt.Errorf("timebank: catalogue item %s: %w", item, err)
	}
	return &it, nil
}

func checkItem(it Item) error {
	if err := ledger.CheckEntityID("item", it.ID); err != nil { // in the chain
		return err
	}
	if err := ledger.CheckChainName("name", it.Name, ledger.MaxNameLen); err != nil {
		return err
	}
	if ledger.Blank(it.Name) {
		return ledger.Errorf(ledger.CodeInvalidRequest, "timebank: an item needs a name")
	}
	if it.Kind != ItemService && it.Kind != ItemGoods {
		return ledger.Errorf(ledger.CodeInvalidRequest, "timebank: item kind is service or goods")
	}
	return checkHours("price", it.Hours, MaxItemPrice)
}

func checkCatalogueRoom(r ledger.Reader, c string) error {
	n := 0
	err := scan(r, "tb/cat/"+c+"/", "", MaxCatalogueItems, func(string, []byte) (bool, error) { n++; return true, nil })
	if ledger.IsCode(err, ledger.CodeLimitExceeded) || n >= MaxCatalogueItems {
		return ledger.Errorf(ledger.CodeLimitExceeded, "timebank: a catalogue holds at most %d items", MaxCatalogueItems)
	}
	return err
}

// Catalogue lists community c's items in id order.
func Catalogue(r ledger.Reader, c string, p ledger.Page) ([]Item, string, error) {
	var out []Item
	next, err := r.Index("tb/cat/"+c+"/", p, func(_ string, v []byte) error {
		var it Item
		if err := json.Unmarshal(v, &it); err != nil {
			return fmt.Errorf("timebank: catalogue of %s: %w", c, err)
		}
		out = append(out, it)
		return nil
	})
	return out, next, err
}

// hasCatalogue reports whether community c keeps a catalogue at all.
func hasCatalogue(r ledger.Reader, c string) (bool, error) {
	found := false
	_, err := r.Index("tb/cat/"+c+"/", ledger.Page{Limit: 1}, func(string, []byte) error { found = true; return nil })
	return found, err
}

// Redemption states.
const (
	RedeemRedeemed  = "redeemed"  // posted at once
	RedeemBooked    = "booked"    // credits held
	RedeemCompleted = "completed" // the booking's hold posted
	RedeemCancelled = "cancelled" // the booking's hold voided
	RedeemExpired   = "expired"   // the ledger voided the hold at its timeout
	RedeemReversed  = "reversed"  // posted, then corrected by staff with a reversal
)

// Redemption spends a member's credits in a community (the member's own,
// or another through clearing: 通存通兑).
type Redemption struct {
	ID          string `json:"id"`
	Member      string `json:"member"`
	Community   string `json:"community"` // where redeemed
	Home        string `json:"home"`      // the member's community
	Item        string `json:"item"`      // catalogue id, or free text where there is no catalogue
	ItemName    string `json:"item_name,omitempty"`
	Kind        string `json:"kind,omitempty"`
	Quantity    int64  `json:"quantity"`
	Hours       int64  `json:"hours"`
	Status      string `json:"status"`
	Transaction string `json:"transaction"`
	Settlement  string `json:"settlement,omitempty"`
	Reversal    string `json:"reversal,omitempty"` // the reversal that corrected a posted redemption
	Reason      string `json:"reason,omitempty"`
	// RefundedToPool: what a reversal paid back to the member's pool
	// instead, above their storage cap (since b3afc40).
	RefundedToPool int64 `json:"refunded_to_pool,omitempty"`
	// MadeBy: the coordinator who redeemed for the member (代办), kept
	// since 86e41a0.
	MadeBy  string    `json:"made_by,omitempty"`
	Seq     uint64    `json:"seq"`
	Created time.Time `json:"created"`
}

// NewRedemption describes a redemption.
type NewRedemption struct {
	Member    string
	Community string
	Hours     int64
	Item      string
	Quantity  int64 // 0 means 1
	Book      bool
}

func (d *Redemption) fields() map[string]any {
	m := map[string]any{"id": d.ID, "member": d.Member, "community": d.Community, "home": d.Home,
		"item": d.Item, "quantity": d.Quantity, "hours": d.Hours, "status": d.Status, "transaction": d.Transaction}
	withOptional(m, "settlement", d.Settlement)
	withOptional(m, "reversal", d.Reversal)
	return withOptional(m, "reason", d.Reason)
}

// GetRedemption returns a redemption or not_found; a booking whose hold
// the ledger voided at its timeout reads as expired.
func GetRedemption(r ledger.Reader, id string) (*Redemption, error) {
	d, err := ledger.GetDoc[Redemption](r, KindRedemption, "timebank: redemption", id)
	if err != nil || d.Status != RedeemBooked {
		return d, err
	}
	if by, voided, err := holdVoided(r, d.Transaction); err != nil {
		return nil, err
	} else if voided {
		d.Status, d.Settlement = RedeemExpired, by
	}
	return d, nil
}

// Redeem spends the member's credits on an item of community n.Community
// ("redemption.create"), at once or, with Book, as a hold until
// CompleteRedemption or CancelRedemption. Where the community keeps a
// catalogue the item is one of its ids and Hours must be its price times
// the quantity; elsewhere the item is free text. Eligibility follows the
// redeeming community's policy. Errors: invalid_id, invalid_request,
// invalid_amount, not_found, forbidden, price_mismatch, not_eligible,
// insufficient_funds, account_frozen.
func Redeem(tx ledger.Tx, by Caller, n NewRedemption) (*Redemption, error) {
	m, c, err := checkRedeemer(tx, by, n)
	if err != nil {
		return nil, err
	}
	d := &Redemption{ID: tx.NewID("red"), Member: m.ID, Community: c.ID, Home: m.Community, Item: n.Item,
		Quantity: max(n.Quantity, 1), Hours: n.Hours, Status: RedeemRedeemed, Seq: tx.Seq(), Created: tx.Now()}
	if a := tx.Actor().ID; a != m.ID {
		d.MadeBy = a
	}
	if err := priceItem(tx, d); err != nil {
		return nil, err
	}
	if err := eligible(tx, m, c.Policy, tx.Now()); err != nil {
		return nil, err
	}
	from, err := hourAccount(tx, m)
	if err != nil {
		return nil, err
	}
	// Under mutual credit a member may go into debt within the limit in
	// their own community, whose members carry the debt; another
	// community (通存通兑) takes only credits earned, as a gift does: its
	// claim on the member's community must not rest on a debt.
	if c.ID != m.Community && from.Available() < d.Hours {
		return nil, ledger.Errorf(ledger.CodeInsufficientFunds, "timebank: %s has %s hours earned to spend in another community (a credit limit applies only in their own)", m.ID, ledger.FormatAmount(max(from.Available(), 0), ledger.HOUR))
	}
	to, err := tx.Account(c.Accounts[community.AcctRedemptions])
	if err != nil {
		return nil, err
	}
	var hold time.Duration
	if n.Book {
		hold, d.Status = BookingHold, RedeemBooked
	}
	t, err := between(from, to, d.Hours).commit(tx, "redemption", "redemption "+d.ID, hold)
	if err != nil {
		return nil, err
	}
	d.Transaction = t.ID
	if err := saveRedemption(tx, d); err != nil {
		return nil, err
	}
	// Listed where it was redeemed (the clerk completing a booking) and
	// under its member (their own bookings).
	if err := tx.PutIndex(redListKey(d.Community, d.Seq), []byte(d.ID)); err != nil {
		return nil, err
	}
	if err := tx.PutIndex(redMineKey(d.Member, d.Seq), []byte(d.ID)); err != nil {
		return nil, err
	}
	tx.Audit("redemption.create", d.fields())
	return d, nil
}

func redListKey(c string, seq uint64) string { return "tb/rdm/" + c + "/" + seqKey(seq) }
func redMineKey(m string, seq uint64) string { return "tb/rdmine/" + m + "/" + seqKey(seq) }

// RedemptionStatuses are the states a redemption list may be filtered by.
var RedemptionStatuses = []string{RedeemRedeemed, RedeemBooked, RedeemCompleted, RedeemCancelled, RedeemExpired, RedeemReversed}

// ListRedemptions lists the redemptions made in community c in order,
// optionally only those with a status (a booking the ledger voided at its
// timeout is expired). Errors: invalid_request.
func ListRedemptions(r ledger.Reader, c, status string, p ledger.Page) ([]*Redemption, string, error) {
	return listRedemptions(r, "tb/rdm/"+c+"/", status, p)
}

// MemberRedemptions lists a member's redemptions, wherever made, like
// ListRedemptions.
func MemberRedemptions(r ledger.Reader, member, status string, p ledger.Page) ([]*Redemption, string, error) {
	return listRedemptions(r, "tb/rdmine/"+member+"/", status, p)
}

func listRedemptions(r ledger.Reader, prefix, status string, p ledger.Page) ([]*Redemption, string, error) {
	if status != "" && !slices.Contains(RedemptionStatuses, status) {
		return nil, "", ledger.Errorf(ledger.CodeInvalidRequest, "timebank: status is one of %s", strings.Join(RedemptionStatuses, ", "))
	}
	return listDocs(r, prefix, p, func(id string) (*Redemption, bool, error) {
		d, err := GetRedemption(r, id)
		if err != nil {
			return nil, false, err
		}
		return d, status == "" || d.Status == status, nil
	})
}

func checkRedeemer(tx ledger.Tx, by Caller, n NewRedemption) (*community.Member, *community.Community, error) {
	if err := checkHours("hours", n.Hours, ledger.MaxAmountMinor); err != nil {
		return nil, nil, err
	}
	if n.Quantity < 0 || n.Quantity > MaxQuantity {
		return nil, nil, ledger.Errorf(ledger.CodeInvalidRequest, "timebank: quantity is 1 to %d", MaxQuantity)
	}
	c, err := communityOf(tx, n.Community)
	if err != nil {
		return nil, nil, err
	}
	m, err := member(tx, n.Member)
	if err != nil {
		return nil, nil, err
	}
	// Spending a member's credits is theirs to do: a coordinator does it
	// on their behalf (代办), so the record names both, as for gifts.
	if by.Member != m.ID {
		return nil, nil, ledger.Errorf(ledger.CodeForbidden, "timebank: members redeem their own credits; a coordinator acts on their behalf")
	}
	// 通存通兑 runs within a district (the root of the community tree),
	// as services do: another district's coordinators, who would complete,
	// cancel or reverse the redemption, have no say over this member.
	home, err := communityOf(tx, m.Community)
	if err != nil {
		return nil, nil, err
	}
	if district(home) != district(c) {
		return nil, nil, ledger.Errorf(CodeNotInCommunity, "timebank: member %s redeems in the communities of their own district (%s), not in %s", m.ID, district(home), c.ID)
	}
	return m, c, nil
}

// priceItem checks the item against the catalogue, if the community has one.
func priceItem(r ledger.Reader, d *Redemption) error {
	has, err := hasCatalogue(r, d.Community)
	if err != nil {
		return err
	}
	if !has {
		if err := ledger.CheckChainName("item", d.Item, ledger.MaxNameLen); err != nil || d.Item == "" {
			return ledger.Errorf(ledger.CodeInvalidRequest, "timebank: item is required, at most %d bytes", ledger.MaxNameLen)
		}
		if d.Quantity > 1 {
			// Nothing prices a free-text item: hours are the whole price,
			// and a quantity beside them would be recorded but mean nothing.
			return ledger.Errorf(ledger.CodeInvalidRequest, "timebank: quantity applies to catalogue items; community %s keeps no catalogue, so hours are the whole price (name the quantity in item)", d.Community)
		}
		return nil
	}
	if d.Item == "" {
		return ledger.Errorf(ledger.CodeInvalidRequest, "timebank: item is required: an item id of community %s's catalogue", d.Community)
	}
	it, err := getItem(r, d.Community, d.Item)
	if err != nil {
		return err
	}
	if it.Withdrawn {
		return ledger.Errorf(CodeItemWithdrawn, "timebank: community %s no longer offers %s", d.Community, it.ID)
	}
	if it.Hours*d.Quantity != d.Hours {
		return ledger.Errorf(CodePriceMismatch, "timebank: %d × %s costs %s hours", d.Quantity, it.ID, ledger.FormatAmount(it.Hours*d.Quantity, ledger.HOUR))
	}
	d.ItemName, d.Kind = it.Name, it.Kind
	return nil
}

// eligible applies the policy's minimum age, from the member's birth date
// in the encrypted store, with the lower age for a member marked hardship.
// Errors: not_eligible.
func eligible(r ledger.Reader, m *community.Member, p community.Policy, now time.Time) error {
	if p.MinAge == 0 {
		return nil
	}
	personal, err := r.Personal(m.ID)
	if err != nil && !ledger.IsCode(err, ledger.CodeNotFound) {
		return err
	}
	born, err := time.ParseInLocation("2006-01-02", personal["birth_date"], DayZone)
	if err != nil {
		return ledger.Errorf(CodeNotEligible, "timebank: redemption here needs a birth date on record")
	}
	age := ageAt(born, now)
	hardship := personal["hardship"] == "true"
	if age >= p.MinAge || hardship && p.HardshipMinAge > 0 && age >= p.HardshipMinAge {
		return nil
	}
	if hardship && p.HardshipMinAge > 0 {
		return ledger.Errorf(CodeNotEligible, "timebank: redemption here needs age %d or over (%d for members in hardship)", p.MinAge, p.HardshipMinAge)
	}
	return ledger.Errorf(CodeNotEligible, "timebank: redemption here needs age %d or over", p.MinAge)
}

// ageAt is the age in whole years on the calendar day of now.
func ageAt(born, now time.Time) int {
	n := now.In(DayZone)
	age := n.Year() - born.Year()
	if n.Month() < born.Month() || n.Month() == born.Month() && n.Day() < born.Day() {
		age--
	}
	return age
}

func saveRedemption(tx ledger.Tx, d *Redemption) error {
	if err := tx.PutDoc(KindRedemption, d.ID, d); err != nil {
		return err
	}
	if d.Status != RedeemRedeemed && d.Status != RedeemCompleted {
		return nil
	}
	return putJSON(tx, redKey(d, tx.Now()), d.Hours)
}

// redKey is the redemptions report's entry of d, posted at t.
func redKey(d *Redemption, t time.Time) string {
	return "tb/red/" + d.Community + "/" + dayKey(t) + "/" + d.ID
}

// ReverseRedemption corrects a posted redemption — redeemed at once, or a
// completed booking — recorded in error (the wrong member, hours or
// item): staff of the redeeming community reverse the transaction that
// moved the credits, naming it and the reason, so the member has them
// back, what the communities owe each other is corrected and the
// redemptions report no longer counts it ("redemption.reverse"). Nobody
// reverses a redemption of their own or a relative's.
// Errors: not_found, forbidden, conflict_of_interest, invalid_request,
// wrong_state, already_reversed.
func ReverseRedemption(tx ledger.Tx, by Caller, id, reason string) (*Redemption, error) {
	d, err := GetRedemption(tx, id)
	if err != nil {
		return nil, err
	}
	if !by.Staff {
		return nil, ledger.Errorf(ledger.CodeForbidden, "timebank: a coordinator of the community where it was redeemed reverses a redemption")
	}
	if err := community.NoConflict(tx, tx.Actor().ID, d.Member, "reversing a redemption"); err != nil {
		return nil, err
	}
	if err := checkReason(reason); err != nil {
		return nil, err
	}
	if ledger.Blank(reason) {
		return nil, ledger.Errorf(ledger.CodeInvalidRequest, "timebank: reversing a redemption needs a reason")
	}
	posted := d.Transaction
	switch d.Status {
	case RedeemRedeemed:
	case RedeemCompleted:
		posted = d.Settlement // the post of the booking's hold moved the credits
	case RedeemReversed:
		return nil, ledger.Errorf(ledger.CodeAlreadyReversed, "timebank: redemption %s was already reversed by %s", id, d.Reversal)
	default:
		return nil, ledger.Errorf(CodeWrongState, "timebank: redemption %s is %s: only a posted redemption is reversed (a booking is cancelled)", id, d.Status)
	}
	t, err := tx.Transaction(posted)
	if err != nil {
		return nil, err
	}
	r, err := ReverseMove(tx, posted, settleMemo("redemption "+d.ID+" reversed", reason))
	if err != nil {
		return nil, err
	}
	if err := tx.DeleteIndex(redKey(d, t.Time)); err != nil {
		return nil, err
	}
	d.Status, d.Reversal, d.Reason = RedeemReversed, r.ID, reason
	pool := community.AccountID(d.Home, community.AcctPool)
	for _, p := range r.Postings {
		if p.To == pool {
			d.RefundedToPool += p.Amount
		}
	}
	if err := tx.PutDoc(KindRedemption, d.ID, d); err != nil {
		return nil, err
	}
	f := d.fields()
	f["tx"] = ledger.TxFields(r)
	tx.Audit("redemption.reverse", f)
	return d, nil
}

// CompleteRedemption posts a booking's hold: staff of the redeeming
// community, when the service is done or the goods handed over
// ("redemption.complete"). Errors: not_found, forbidden, wrong_state,
// hold_expired.
func CompleteRedemption(tx ledger.Tx, by Caller, id, reason string) (*Redemption, error) {
	d, err := booked(tx, id, reason, func(d *Redemption) error {
		if !by.Staff {
			return ledger.Errorf(ledger.CodeForbidden, "timebank: a coordinator of %s, where it was booked, completes a booking", d.Community)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	t, err := postHold(tx, d.Transaction, settleMemo("redemption "+d.ID+" completed", reason))
	if err != nil {
		return nil, err
	}
	d.Status, d.Settlement, d.Reason = RedeemCompleted, t.ID, reason
	if err := saveRedemption(tx, d); err != nil {
		return nil, err
	}
	tx.Audit("redemption.complete", d.fields())
	return d, nil
}

// CancelRedemption voids a booking's hold: the member or staff
// ("redemption.cancel"). Errors: not_found, forbidden, wrong_state,
// hold_expired.
func CancelRedemption(tx ledger.Tx, by Caller, id, reason string) (*Redemption, error) {
	d, err := booked(tx, id, reason, func(d *Redemption) error {
		if by.Member != d.Member && !by.Staff {
			return ledger.Errorf(ledger.CodeForbidden, "timebank: the member, or a coordinator of %s where it was booked, cancels a booking", d.Community)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// A cancellation gives the member their credits back: staff do not
	// make it for themselves or a relative (who could then keep both the
	// goods and the credits); the member themself may.
	if a := tx.Actor(); a.ID != d.Member {
		if err := community.NoConflict(tx, a.ID, d.Member, "cancelling a booking"); err != nil {
			return nil, err
		}
	}
	// Past the booking's deadline the ledger expires it (a second later
	// at most): answered as a completion would be, hold_expired, so the
	// booking reads expired, not cancelled.
	t, err := ledger.VoidBeforeDeadline(tx, d.Transaction, settleMemo("redemption "+d.ID+" cancelled", reason))
	if err != nil {
		return nil, err
	}
	d.Status, d.Settlement, d.Reason = RedeemCancelled, t.ID, reason
	if err := saveRedemption(tx, d); err != nil {
		return nil, err
	}
	tx.Audit("redemption.cancel", d.fields())
	return d, nil
}

// booked returns redemption id if may allows the caller to act on it
// (checked before its state, which a caller without the right does not
// learn) and it is still booked.
func booked(tx ledger.Tx, id, reason string, may func(*Redemption) error) (*Redemption, error) {
	d, err := GetRedemption(tx, id)
	if err != nil {
		return nil, err
	}
	if err := may(d); err != nil {
		return nil, err
	}
	if err := checkReason(reason); err != nil {
		return nil, err
	}
	if d.Status != RedeemBooked {
		return nil, ledger.Errorf(CodeWrongState, "timebank: redemption %s is %s, not booked", id, d.Status)
	}
	return d, nil
}

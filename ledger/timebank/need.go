package timebank

import (
	"math"
	"slices"
	"time"

	"tally/ledger"
	"tally/ledger/community"
)

// Need states.
const (
	NeedOpen      = "open"
	NeedClaimed   = "claimed"
	NeedCompleted = "completed"
	NeedCancelled = "cancelled"
)

// Need is an entry of the needs list (需求清单). Title says what is needed
// (陪同就医, 修水管): it is about the task, enters the chain, and must not
// describe the person.
type Need struct {
	ID        string `json:"id"`
	Community string `json:"community"`
	Requester string `json:"requester"`
	Category  string `json:"category"`
	Title     string `json:"title"`
	Hours     int64  `json:"hours,omitempty"` // estimate
	Status    string `json:"status"`
	Volunteer string `json:"volunteer,omitempty"`
	Service   string `json:"service,omitempty"`
	// PostedBy: the coordinator who posted it for the requester (代办),
	// kept since 86e41a0.
	PostedBy string    `json:"posted_by,omitempty"`
	Seq      uint64    `json:"seq"`
	Created  time.Time `json:"created"`
}

// Offer is an entry of the service list (服务清单): what a volunteer
// offers to do. Title is about the service, not a person.
type Offer struct {
	ID        string    `json:"id"`
	Community string    `json:"community"`
	Volunteer string    `json:"volunteer"`
	Category  string    `json:"category"`
	Title     string    `json:"title"`
	Hours     int64     `json:"hours,omitempty"`
	Seq       uint64    `json:"seq"`
	Created   time.Time `json:"created"`
	// Withdrawn: taken off the list by the volunteer or staff
	// ("offer.withdraw"), or by the volunteer's erasure.
	Withdrawn bool `json:"withdrawn,omitempty"`
}

func (n *Need) fields() map[string]any {
	m := map[string]any{"id": n.ID, "community": n.Community, "requester": n.Requester,
		"category": n.Category, "title": n.Title, "hours": n.Hours, "status": n.Status}
	withOptional(m, "volunteer", n.Volunteer)
	return withOptional(m, "service", n.Service)
}

// GetNeed returns a need or not_found.
func GetNeed(r ledger.Reader, id string) (*Need, error) {
	return ledger.GetDoc[Need](r, KindNeed, "timebank: need", id)
}

// GetOffer returns an offer or not_found.
func GetOffer(r ledger.Reader, id string) (*Offer, error) {
	return ledger.GetDoc[Offer](r, KindOffer, "timebank: offer", id)
}

func checkListing(category, title string, hours int64) error {
	if err := community.CheckCategory(category); err != nil {
		return err
	}
	if err := ledger.CheckChainName("title", title, ledger.MaxNameLen); err != nil {
		return err
	}
	if ledger.Blank(title) {
		return ledger.Errorf(ledger.CodeInvalidRequest, "timebank: title is required")
	}
	if hours != 0 {
		return checkHours("hours", hours, MaxServiceHours)
	}
	return nil
}

// PostNeed adds a need of a resident of community c ("need.post"): the
// resident themself or staff for them. Errors: invalid_id,
// invalid_request, invalid_amount, not_found, forbidden, not_in_community.
func PostNeed(tx ledger.Tx, by Caller, c, requester, category, title string, hours int64) (*Need, error) {
	if err := checkListing(category, title, hours); err != nil {
		return nil, err
	}
	if _, err := communityOf(tx, c); err != nil {
		return nil, err
	}
	m, err := member(tx, requester)
	if err != nil {
		return nil, err
	}
	if m.Community != c {
		return nil, ledger.Errorf(CodeNotInCommunity, "timebank: member %s is not a member of community %s", m.ID, c)
	}
	if by.Member != m.ID && !by.Staff {
		return nil, ledger.Errorf(ledger.CodeForbidden, "timebank: a resident posts their own needs, or a coordinator for them")
	}
	if !m.Has(community.RoleResident, community.RoleVolunteer) { // a volunteer is a resident who serves (SPEC §1)
		return nil, ledger.Errorf(ledger.CodeForbidden, "timebank: needs are residents' (shared/SPEC.md §4); %s is not a resident", m.ID)
	}
	n := &Need{ID: tx.NewID("need"), Community: c, Requester: m.ID, Category: category, Title: title,
		Hours: hours, Status: NeedOpen, Seq: tx.Seq(), Created: tx.Now()}
	if a := tx.Actor().ID; a != m.ID {
		n.PostedBy = a
	}
	if err := saveNeed(tx, n, true); err != nil {
		return nil, err
	}
	tx.Audit("need.post", n.fields())
	return n, nil
}

func saveNeed(tx ledger.Tx, n *Need, isNew bool) error {
	if err := tx.PutDoc(KindNeed, n.ID, n); err != nil {
		return err
	}
	if !isNew {
		return nil
	}
	return tx.PutIndex("tb/need/"+n.Community+"/"+seqKey(n.Seq), []byte(n.ID))
}

// ClaimNeed lets a volunteer of the need's community claim an open need
// (认领, "need.claim"); staff may assign it to a volunteer. Errors:
// not_found, forbidden, not_volunteer, not_in_community, self_service,
// wrong_state.
func ClaimNeed(tx ledger.Tx, by Caller, id, volunteer string) (*Need, error) {
	n, err := GetNeed(tx, id)
	if err != nil {
		return nil, err
	}
	if volunteer == "" {
		volunteer = by.Member
	}
	if volunteer != by.Member && !by.Staff {
		return nil, ledger.Errorf(ledger.CodeForbidden, "timebank: a volunteer claims for themself, or a coordinator assigns")
	}
	v, err := member(tx, volunteer)
	if err != nil {
		return nil, err
	}
	if err := volunteerIn(v, n.Community); err != nil {
		return nil, err
	}
	if v.ID == n.Requester {
		return nil, ledger.Errorf(CodeSelfService, "timebank: a resident does not claim their own need")
	}
	// Staff may hand a claimed need to another volunteer (the first one
	// cannot come after all); nobody else claims a claimed need.
	reassign := n.Status == NeedClaimed && by.Staff && v.ID != n.Volunteer
	if n.Status != NeedOpen && !reassign {
		return nil, ledger.Errorf(CodeWrongState, "timebank: need %s is %s, not open", id, n.Status)
	}
	previous := n.Volunteer
	n.Status, n.Volunteer = NeedClaimed, v.ID
	if err := saveNeed(tx, n, false); err != nil {
		return nil, err
	}
	tx.Audit("need.claim", withOptional(n.fields(), "previous_volunteer", previous))
	return n, nil
}

// ReleaseNeed gives a claimed need back to the open list ("need.release"):
// the claiming volunteer, who cannot do it after all, or staff. Errors:
// not_found, forbidden, wrong_state.
func ReleaseNeed(tx ledger.Tx, by Caller, id, reason string) (*Need, error) {
	n, err := GetNeed(tx, id)
	if err != nil {
		return nil, err
	}
	if err := checkReason(reason); err != nil {
		return nil, err
	}
	if n.Status != NeedClaimed {
		return nil, ledger.Errorf(CodeWrongState, "timebank: need %s is %s, not claimed", id, n.Status)
	}
	if by.Member != n.Volunteer && !by.Staff {
		return nil, ledger.Errorf(ledger.CodeForbidden, "timebank: the claiming volunteer or a coordinator releases a need")
	}
	f := withOptional(n.fields(), "reason", reason)
	n.Status, n.Volunteer = NeedOpen, ""
	if err := saveNeed(tx, n, false); err != nil {
		return nil, err
	}
	f["status"] = n.Status
	tx.Audit("need.release", f)
	return n, nil
}

// reopenNeed puts the need a rejected service record completed back to
// claimed, by the same volunteer: the need was not met, so the volunteer
// may complete it again (a corrected record) or the requester cancel it.
// As an erasure would have (MemberErased): a need whose requester was
// erased since is cancelled, and one whose volunteer was goes back to the
// open list.
func reopenNeed(tx ledger.Tx, s *Service) (*Need, error) {
	if s.Need == "" {
		return nil, nil
	}
	n, err := GetNeed(tx, s.Need)
	if err != nil || n.Status != NeedCompleted || n.Service != s.ID {
		return nil, err
	}
	n.Status, n.Service = NeedClaimed, ""
	erased := func(id string) (bool, error) {
		m, err := community.GetMember(tx, id)
		return err == nil && m.Erased, err
	}
	if gone, err := erased(n.Requester); err != nil {
		return nil, err
	} else if gone {
		n.Status = NeedCancelled
	} else if gone, err := erased(n.Volunteer); err != nil {
		return nil, err
	} else if gone {
		n.Status, n.Volunteer = NeedOpen, ""
	}
	return n, saveNeed(tx, n, false)
}

// CompleteNeed closes a claimed need and logs its service record for
// confirmation, in one audit event ("need.complete"): the claiming
// volunteer or staff. Errors: not_found, forbidden, wrong_state, and
// LogService's.
func CompleteNeed(tx ledger.Tx, by Caller, id string, hours int64, at time.Time) (*Need, *Service, error) {
	n, err := GetNeed(tx, id)
	if err != nil {
		return nil, nil, err
	}
	if n.Status != NeedClaimed {
		return nil, nil, ledger.Errorf(CodeWrongState, "timebank: need %s is %s, not claimed", id, n.Status)
	}
	if by.Member != n.Volunteer && !by.Staff {
		return nil, nil, ledger.Errorf(ledger.CodeForbidden, "timebank: the claiming volunteer or a coordinator completes a need")
	}
	if at.Before(n.Created.Add(-MaxClockSkew)) {
		// The service met this need: it cannot have happened before the
		// need was posted (an earlier service is logged on its own),
		// give or take a client's clock a little behind.
		return nil, nil, ledger.Errorf(ledger.CodeInvalidRequest, "timebank: occurred_at %s is before need %s was posted (%s)",
			at.UTC().Format(time.RFC3339), id, n.Created.UTC().Format(time.RFC3339))
	}
	s, err := logService(tx, by, NewService{Community: n.Community, Volunteer: n.Volunteer, Recipient: n.Requester,
		RecipientKind: RecipientMember, Category: n.Category, Hours: hours, OccurredAt: at, Need: n.ID})
	if err != nil {
		return nil, nil, err
	}
	n.Status, n.Service = NeedCompleted, s.ID
	if err := saveNeed(tx, n, false); err != nil {
		return nil, nil, err
	}
	f := n.fields()
	f["service_record"] = s.Fields()
	tx.Audit("need.complete", f)
	return n, s, nil
}

// CancelNeed withdraws an open or claimed need ("need.cancel"): the
// requester or staff. Errors: not_found, forbidden, wrong_state.
func CancelNeed(tx ledger.Tx, by Caller, id, reason string) (*Need, error) {
	n, err := GetNeed(tx, id)
	if err != nil {
		return nil, err
	}
	if err := checkReason(reason); err != nil {
		return nil, err
	}
	if by.Member != n.Requester && !by.Staff {
		return nil, ledger.Errorf(ledger.CodeForbidden, "timebank: the requester or a coordinator cancels a need")
	}
	if n.Status != NeedOpen && n.Status != NeedClaimed {
		return nil, ledger.Errorf(CodeWrongState, "timebank: need %s is %s", id, n.Status)
	}
	n.Status = NeedCancelled
	if err := saveNeed(tx, n, false); err != nil {
		return nil, err
	}
	tx.Audit("need.cancel", withOptional(n.fields(), "reason", reason))
	return n, nil
}

// ListNeeds lists a community's needs, oldest first, optionally by status.
// NeedStatuses are the states a needs list may be filtered by.
var NeedStatuses = []string{NeedOpen, NeedClaimed, NeedCompleted, NeedCancelled}

func ListNeeds(r ledger.Reader, c, status string, p ledger.Page) ([]*Need, string, error) {
	if status != "" && !slices.Contains(NeedStatuses, status) {
		return nil, "", ledger.Errorf(ledger.CodeInvalidRequest, "timebank: status is open, claimed, completed or cancelled")
	}
	return listDocs(r, "tb/need/"+c+"/", p, func(id string) (*Need, bool, error) {
		n, err := GetNeed(r, id)
		if err != nil {
			return nil, false, err
		}
		return n, status == "" || n.Status == status, nil
	})
}

// PostOffer adds a volunteer's offer in their community ("offer.post"):
// the volunteer or staff for them. Errors: invalid_id, invalid_request,
// invalid_amount, not_found, forbidden, not_volunteer, not_in_community.
func PostOffer(tx ledger.Tx, by Caller, c, volunteer, category, title string, hours int64) (*Offer, error) {
	if err := checkListing(category, title, hours); err != nil {
		return nil, err
	}
	if _, err := communityOf(tx, c); err != nil {
		return nil, err
	}
	// Who may post is checked before anything about the volunteer named:
	// a resident naming someone else learns nothing of them.
	if err := ledger.CheckID("volunteer", volunteer); err != nil {
		return nil, err
	}
	if by.Member != volunteer && !by.Staff {
		return nil, ledger.Errorf(ledger.CodeForbidden, "timebank: a volunteer posts their own offers, or a coordinator for them")
	}
	v, err := member(tx, volunteer)
	if err != nil {
		return nil, err
	}
	if err := volunteerIn(v, c); err != nil {
		return nil, err
	}
	o := &Offer{ID: tx.NewID("offer"), Community: c, Volunteer: v.ID, Category: category, Title: title,
		Hours: hours, Seq: tx.Seq(), Created: tx.Now()}
	if err := tx.PutDoc(KindOffer, o.ID, o); err != nil {
		return nil, err
	}
	if err := tx.PutIndex("tb/offer/"+c+"/"+seqKey(o.Seq), []byte(o.ID)); err != nil {
		return nil, err
	}
	tx.Audit("offer.post", map[string]any{"id": o.ID, "community": c, "volunteer": v.ID,
		"category": category, "title": title, "hours": hours})
	return o, nil
}

// Offer states, as ListOffers filters them.
const (
	OfferOpen      = "open"
	OfferWithdrawn = "withdrawn"
)

// ListOffers lists a community's offers, oldest first, optionally by
// status (open or withdrawn).
// OfferStatuses are the states an offers list may be filtered by.
var OfferStatuses = []string{OfferOpen, OfferWithdrawn}

func ListOffers(r ledger.Reader, c, status string, p ledger.Page) ([]*Offer, string, error) {
	if status != "" && !slices.Contains(OfferStatuses, status) {
		return nil, "", ledger.Errorf(ledger.CodeInvalidRequest, "timebank: status is open or withdrawn")
	}
	return listDocs(r, "tb/offer/"+c+"/", p, func(id string) (*Offer, bool, error) {
		o, err := GetOffer(r, id)
		if err != nil {
			return nil, false, err
		}
		return o, status == "" || o.Withdrawn == (status == OfferWithdrawn), nil
	})
}

// WithdrawOffer takes an offer off the list ("offer.withdraw"): the
// volunteer who posted it, or staff. Errors: not_found, forbidden,
// wrong_state (withdrawn already), invalid_request (the reason).
func WithdrawOffer(tx ledger.Tx, by Caller, id, reason string) (*Offer, error) {
	o, err := GetOffer(tx, id)
	if err != nil {
		return nil, err
	}
	if err := checkReason(reason); err != nil {
		return nil, err
	}
	if by.Member != o.Volunteer && !by.Staff {
		return nil, ledger.Errorf(ledger.CodeForbidden, "timebank: the volunteer or a coordinator withdraws an offer")
	}
	if o.Withdrawn {
		return nil, ledger.Errorf(CodeWrongState, "timebank: offer %s is withdrawn already", id)
	}
	o.Withdrawn = true
	if err := tx.PutDoc(KindOffer, o.ID, o); err != nil {
		return nil, err
	}
	tx.Audit("offer.withdraw", withOptional(map[string]any{"id": o.ID, "community": o.Community, "volunteer": o.Volunteer}, "reason", reason))
	return o, nil
}

// MemberErased closes, in the erasure's own record, what an erased member
// left open in the time bank of their community: the needs they posted
// that are open or claimed are cancelled (no one can serve or be credited
// for them now), the needs they had claimed go back to the open list for
// another volunteer, and their offers are withdrawn. The record lists
// each (needs_cancelled, needs_released, offers_withdrawn). Every need
// and offer of the community is read: erasure is rare.
func MemberErased(tx ledger.Tx, id string) error {
	m, err := community.GetMember(tx, id)
	if err != nil {
		return err
	}
	var cancelled, released, withdrawn []any
	err = scan(tx, "tb/need/"+m.Community+"/", "", math.MaxInt, func(_ string, v []byte) (bool, error) {
		n, err := GetNeed(tx, string(v))
		if err != nil {
			return false, err
		}
		switch {
		case n.Requester == id && (n.Status == NeedOpen || n.Status == NeedClaimed):
			n.Status = NeedCancelled
			cancelled = append(cancelled, n.ID)
		case n.Volunteer == id && n.Status == NeedClaimed:
			n.Status, n.Volunteer = NeedOpen, ""
			released = append(released, n.ID)
		default:
			return true, nil
		}
		return true, saveNeed(tx, n, false)
	})
	if err != nil {
		return err
	}
	err = scan(tx, "tb/offer/"+m.Community+"/", "", math.MaxInt, func(_ string, v []byte) (bool, error) {
		o, err := GetOffer(tx, string(v))
		if err != nil || o.Volunteer != id || o.Withdrawn {
			return err == nil, err
		}
		o.Withdrawn = true
		withdrawn = append(withdrawn, o.ID)
		return true, tx.PutDoc(KindOffer, o.ID, o)
	})
	if err != nil {
		return err
	}
	for k, ids := range map[string][]any{"needs_cancelled": cancelled, "needs_released": released, "offers_withdrawn": withdrawn} {
		if len(ids) > 0 {
			tx.AuditField(k, ids)
		}
	}
	return nil
}

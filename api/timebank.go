package api

import (
	"encoding/csv"
	"errors"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"tally/ledger"
	"tally/ledger/community"
	"tally/ledger/timebank"
)

// tbReaders may read a community's time-bank lists, reports and signals.
var tbReaders = []community.Role{community.RoleCoordinator, community.RoleAdmin, community.RoleAuditor}

// timebankRoutes are the time bank's routes (services, needs, offers,
// redemptions, gifts, pool grants, settlement, reports).
func (s *Server) timebankRoutes() []route {
	vol := []community.Role{community.RoleVolunteer, community.RoleCoordinator, community.RoleAdmin}
	// A volunteer is a resident who serves (SPEC §1): they post needs too.
	res := []community.Role{community.RoleResident, community.RoleVolunteer, community.RoleCoordinator, community.RoleAdmin}
	tag := "timebank"
	return []route{
		{method: "POST", path: "/v1/services", summary: "Log a service for confirmation (volunteer, or a coordinator for them)", tag: tag, auth: authenticated, roles: vol, req: ServiceRequest{}, resp: ServiceView{}, status: 201, handle: s.logService},
		{method: "GET", path: "/v1/members/:id/services", summary: "The service records naming a member, as volunteer or recipient (the member, or staff and auditors of their community); status=pending lists what awaits confirmation", tag: tag, auth: authenticated, statuses: timebank.ServiceStatuses, query: []string{"status", "after", "limit:int", "order"}, resp: List[ServiceView]{}, status: 200, handle: s.memberServices},
		{method: "GET", path: "/v1/services", summary: "A community's service records (status=pending|confirmed|rejected)", tag: tag, auth: authenticated, roles: tbReaders, statuses: timebank.ServiceStatuses, query: []string{"community!", "status", "after", "limit:int", "order"}, resp: List[ServiceView]{}, status: 200, handle: s.listServices},
		{method: "GET", path: "/v1/services/:id", summary: "A service record", tag: tag, auth: authenticated, resp: ServiceView{}, status: 200, handle: s.getService},
		{method: "POST", path: "/v1/services/:id/confirm", summary: "Confirm a service and credit the volunteer (recipient or coordinator, never the volunteer)", tag: tag, auth: authenticated, req: DecisionRequest{}, resp: ServiceView{}, status: 200, handle: s.confirmService},
		{method: "POST", path: "/v1/services/:id/reject", summary: "Reject a pending service, or dispute one whose credit is still held", tag: tag, auth: authenticated, req: DecisionRequest{}, resp: ServiceView{}, status: 200, handle: s.rejectService},
		{method: "POST", path: "/v1/needs", summary: "Post a need (需求清单): a resident, or a coordinator for them", tag: tag, auth: authenticated, roles: res, req: NeedRequest{}, resp: NeedView{}, status: 201, handle: s.postNeed},
		{method: "GET", path: "/v1/needs", summary: "A community's needs (status=open|claimed|completed|cancelled)", tag: tag, auth: authenticated, statuses: timebank.NeedStatuses, query: []string{"community!", "status", "after", "limit:int", "order"}, resp: List[NeedView]{}, status: 200, handle: s.listNeeds},
		{method: "GET", path: "/v1/needs/:id", summary: "A need", tag: tag, auth: authenticated, resp: NeedView{}, status: 200, handle: s.getNeed},
		{method: "POST", path: "/v1/needs/:id/claim", summary: "Claim an open need (认领); a coordinator may assign a volunteer, or hand a claimed need to another", tag: tag, auth: authenticated, roles: vol, req: ClaimRequest{}, resp: NeedView{}, status: 200, handle: s.claimNeed},
		{method: "POST", path: "/v1/needs/:id/complete", summary: "Complete a claimed need, logging its service record", tag: tag, auth: authenticated, roles: vol, req: CompleteNeedRequest{}, resp: NeedCompletion{}, status: 201, handle: s.completeNeed},
		{method: "POST", path: "/v1/needs/:id/release", summary: "Give a claimed need back to the open list: the claiming volunteer or a coordinator (an optional reason)", tag: tag, auth: authenticated, roles: vol, req: DecisionRequest{}, resp: NeedView{}, status: 200, handle: s.needDecision(timebank.ReleaseNeed)},
		{method: "POST", path: "/v1/needs/:id/cancel", summary: "Cancel an open or claimed need (an optional reason)", tag: tag, auth: authenticated, req: DecisionRequest{}, resp: NeedView{}, status: 200, handle: s.needDecision(timebank.CancelNeed)},
		{method: "POST", path: "/v1/offers", summary: "Post an offer (服务清单)", tag: tag, auth: authenticated, roles: vol, req: OfferRequest{}, resp: OfferView{}, status: 201, handle: s.postOffer},
		{method: "GET", path: "/v1/offers", summary: "A community's offers (status=open|withdrawn)", tag: tag, auth: authenticated, statuses: timebank.OfferStatuses, query: []string{"community!", "status", "after", "limit:int", "order"}, resp: List[OfferView]{}, status: 200, handle: s.listOffers},
		{method: "POST", path: "/v1/offers/:id/withdraw", summary: "Take an offer off the list: its volunteer, or a coordinator (an optional reason)", tag: tag, auth: authenticated, req: DecisionRequest{}, resp: OfferView{}, status: 200, handle: s.withdrawOffer},
		{method: "PUT", path: "/v1/communities/:id/catalogue/:item", summary: "Add or replace a catalogue item", tag: tag, auth: authenticated, roles: staff, req: ItemRequest{}, resp: ItemView{}, status: 200, handle: s.putItem},
		{method: "POST", path: "/v1/communities/:id/catalogue/:item/withdraw", summary: "Stop offering a catalogue item (bookings already made stand; a PUT offers it again)", tag: tag, auth: authenticated, roles: staff, req: DecisionRequest{}, resp: ItemView{}, status: 200, handle: s.withdrawItem},
		{method: "GET", path: "/v1/communities/:id/catalogue", summary: "A community's redemption catalogue", tag: tag, auth: authenticated, query: []string{"after", "limit:int"}, resp: List[ItemView]{}, status: 200, handle: s.getCatalogue},
		{method: "POST", path: "/v1/redemptions", summary: "Redeem credits, at once or booked with a hold (book: true)", tag: tag, auth: authenticated, req: RedemptionRequest{}, resp: RedemptionView{}, status: 201, handle: s.redeem},
		{method: "GET", path: "/v1/redemptions", summary: "The redemptions made in a community, newest first (status=redeemed|booked|completed|cancelled|expired|reversed: booked lists what awaits completion)", tag: tag, auth: authenticated, roles: tbReaders, statuses: timebank.RedemptionStatuses, query: []string{"community!", "status", "after", "limit:int", "order"}, resp: List[RedemptionView]{}, status: 200, handle: s.listRedemptions},
		{method: "GET", path: "/v1/members/:id/redemptions", summary: "A member's redemptions, wherever made (the member, or staff and auditors of their community); status as for /v1/redemptions", tag: tag, auth: authenticated, statuses: timebank.RedemptionStatuses, query: []string{"status", "after", "limit:int", "order"}, resp: List[RedemptionView]{}, status: 200, handle: s.memberRedemptions},
		{method: "GET", path: "/v1/redemptions/:id", summary: "A redemption", tag: tag, auth: authenticated, resp: RedemptionView{}, status: 200, handle: s.getRedemption},
		{method: "POST", path: "/v1/redemptions/:id/complete", summary: "Complete a booking: post its hold (coordinator)", tag: tag, auth: authenticated, roles: staff, req: DecisionRequest{}, resp: RedemptionView{}, status: 200, handle: s.completeRedemption},
		{method: "POST", path: "/v1/redemptions/:id/cancel", summary: "Cancel a booking: void its hold", tag: tag, auth: authenticated, req: DecisionRequest{}, resp: RedemptionView{}, status: 200, handle: s.cancelRedemption},
		{method: "POST", path: "/v1/redemptions/:id/reverse", summary: "Correct a posted redemption: reverse it, with a reason (coordinator)", tag: tag, auth: authenticated, roles: staff, req: ReverseRequest{}, resp: RedemptionView{}, status: 200, handle: s.reverseRedemption},
		{method: "POST", path: "/v1/gifts", summary: "Give credits (转赠) to a registered relative or to your community's pool (<community>:pool)", tag: tag, auth: authenticated, req: GiftRequest{}, resp: TransferResult{}, status: 201, handle: s.gift},
		{method: "POST", path: "/v1/grants", summary: "Grant pool credits to a member in need (coordinator)", tag: tag, auth: authenticated, roles: staff, req: GrantRequest{}, resp: TransferResult{}, status: 201, handle: s.grant},
		{method: "GET", path: "/v1/settlements", summary: "What a community, with the communities under it, owes other communities and is owed (通存通兑), each pair once", tag: tag, auth: authenticated, roles: tbReaders, query: []string{"community!"}, resp: SettlementView{}, csv: true, status: 200, handle: s.settlement},
		{method: "GET", path: "/v1/signals", summary: "Collusion signals for coordinators: reciprocal loops, mutual pairs far above the norm, overlaps, records logged and confirmed by one person", tag: tag, auth: authenticated, roles: tbReaders, query: []string{"community!", "from", "to"}, resp: SignalsView{}, status: 200, handle: s.signals},
		{method: "GET", path: "/v1/reports/services", summary: "Service report of a community subtree; Accept: text/csv for CSV", tag: "reports", auth: authenticated, roles: tbReaders, query: []string{"community!", "from", "to"}, resp: ServiceReportView{}, csv: true, status: 200, handle: s.serviceReport},
	}
}

// tbCaller is the time bank's view of the principal over community c. A
// coordinator acting for a resident (代办) has that resident's rights and
// no more, so Staff holds only when acting as themself.
func tbCaller(r ledger.Reader, p *Principal, c string) timebank.Caller {
	return timebank.Caller{Member: p.Acting(), Staff: p.OnBehalf == "" && Authorize(r, p, c, staff...) == nil}
}

// tbCanRead lets staff and auditors of one of the communities read.
func tbCanRead(r ledger.Reader, p *Principal, communities ...string) error {
	err := ledger.Errorf(ledger.CodeForbidden, "outside your scope")
	for _, c := range communities {
		if err = Authorize(r, p, c, tbReaders...); err == nil {
			return nil
		}
	}
	return err
}

func tbHours(what, s string) (int64, error) {
	if s == "" {
		return 0, ledger.Errorf(ledger.CodeInvalidAmount, `%s is required: give hours like "1.50"`, what)
	}
	h, err := ledger.ParseAmount(s, ledger.HOUR)
	if err != nil {
		// The amount parser's reason (too many decimals, too large, a
		// sign...), named by the field.
		why := "is not a positive decimal"
		var e *ledger.Error
		if errors.As(err, &e) {
			why = strings.TrimPrefix(e.Message, "amount ")
			why = strings.TrimPrefix(why, strconv.Quote(s)+" ")
		}
		if !strings.Contains(why, "like") {
			why += `; give hours like "1.50"`
		}
		return 0, ledger.Errorf(ledger.CodeInvalidAmount, "%s %s", what, why)
	}
	return h, nil
}

func tbOptionalHours(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	return tbHours("hours", s)
}

func tbHoursStr(h int64) string { return ledger.FormatAmount(h, ledger.HOUR) }

func tbTime(what, s string) (time.Time, error) {
	t, err := ledger.ParseRFC3339(s)
	if err != nil {
		return time.Time{}, ledger.Errorf(ledger.CodeInvalidRequest, "%s must be an RFC 3339 time", what)
	}
	return t, nil
}

// ServiceRequest logs a service. Hours are decimal hours ("1.50");
// occurred_at is RFC 3339. recipient_kind is member, group or community;
// when absent the recipient is a member, or the community when it names
// it.
type ServiceRequest struct {
	Volunteer     string `json:"volunteer" id:"entity"`
	Recipient     string `json:"recipient" id:"entity" doc:"a member id, a group id (kept in the chain for good: an opaque name, never a phone number) or the community id"`
	RecipientKind string `json:"recipient_kind,omitempty" empty:"invalid_request;late" enum:"member|group|community"`
	Community     string `json:"community" id:"entity"`
	Category      string `json:"category" doc:"kind of service (case_work, group_work, community_activity, elder_care, child_care, ...), kept in the chain"`
	Hours         string `json:"hours"`
	OccurredAt    string `json:"occurred_at"`
}

// ToDomain parses hours and time. Errors: invalid_amount, invalid_request.
func (r *ServiceRequest) ToDomain() (timebank.NewService, error) {
	n := timebank.NewService{Community: r.Community, Volunteer: r.Volunteer, Recipient: r.Recipient,
		RecipientKind: r.RecipientKind, Category: r.Category}
	var err error
	if n.Hours, err = tbHours("hours", r.Hours); err != nil {
		return n, err
	}
	n.OccurredAt, err = tbTime("occurred_at", r.OccurredAt)
	return n, err
}

// DecisionRequest confirms, rejects, completes or cancels. The reason is
// about the record, not a person: it enters the audit chain.
type DecisionRequest struct {
	Reason string `json:"reason,omitempty" doc:"kept in the audit chain for good, never erased: about the decision, never personal data (names, phone numbers, health details belong in a member's personal fields)"`
}

// ServiceView shows a service record. Status is pending, confirmed or
// rejected; credit (once confirmed) is held, posted or voided.
type ServiceView struct {
	ID            string     `json:"id"`
	Status        string     `json:"status" enum:"pending|confirmed|rejected"`
	Community     string     `json:"community"`
	Volunteer     string     `json:"volunteer"`
	Recipient     string     `json:"recipient"`
	RecipientKind string     `json:"recipient_kind"`
	Category      string     `json:"category"`
	Hours         string     `json:"hours"`
	Credits       string     `json:"credits,omitempty"`
	OccurredAt    time.Time  `json:"occurred_at"`
	Credit        string     `json:"credit,omitempty"`
	Transaction   string     `json:"transaction,omitempty"`
	Settlement    string     `json:"settlement,omitempty"`
	Reversal      string     `json:"reversal,omitempty"` // the reversal of a posted credit rejected by staff
	SettlesAt     *time.Time `json:"settles_at,omitempty"`
	Overlaps      []string   `json:"overlaps,omitempty"`
	// Flagged: when logged, the record overlapped others of the
	// volunteer's (overlaps); while one of them is pending or confirmed,
	// only a coordinator confirms it (422 flagged_overlap).
	Flagged bool `json:"flagged"`
	// Overflow: the credits the confirmation sent to the pool above the
	// volunteer's storage cap.
	Overflow string `json:"overflow,omitempty"`
	Need     string `json:"need,omitempty"`
	Reason   string `json:"reason,omitempty"`
	LoggedBy string `json:"logged_by"`
	// LoggedFor: the volunteer, when a coordinator logged it for them
	// (代办); records logged by builds before 86e41a0 do not show it.
	LoggedFor string `json:"logged_for,omitempty"`
	DecidedBy string `json:"decided_by,omitempty"`
	// DecidedFor: the member a coordinator confirmed or rejected for (代办).
	DecidedFor string `json:"decided_for,omitempty"`
	// Withdrawn: rejected by its volunteer while pending (logged by
	// mistake), not by the recipient or a coordinator.
	Withdrawn bool `json:"withdrawn,omitempty"`
	// ConfirmedBy and ConfirmReason: the confirmation of a record rejected
	// after it (a dispute, a correction); reason and decided_by are then
	// the rejection's.
	ConfirmedBy   string `json:"confirmed_by,omitempty"`
	ConfirmedFor  string `json:"confirmed_for,omitempty"`
	ConfirmReason string `json:"confirm_reason,omitempty"`
	Seq           uint64 `json:"seq"`
}

func serviceView(sv *timebank.Service) ServiceView {
	v := ServiceView{ID: sv.ID, Status: sv.Status, Community: sv.Community, Volunteer: sv.Volunteer, Recipient: sv.Recipient,
		RecipientKind: sv.RecipientKind, Category: sv.Category, Hours: tbHoursStr(sv.Hours), OccurredAt: sv.OccurredAt,
		Credit: sv.Credit, Transaction: sv.Transaction, Settlement: sv.Settlement, Reversal: sv.Reversal, Overlaps: sv.Overlaps, Flagged: len(sv.Overlaps) > 0, Need: sv.Need,
		Reason: sv.Reason, LoggedBy: sv.LoggedBy, LoggedFor: sv.LoggedFor, DecidedBy: sv.DecidedBy, DecidedFor: sv.DecidedFor, ConfirmedBy: sv.ConfirmedBy, ConfirmedFor: sv.ConfirmedFor, ConfirmReason: sv.ConfirmReason, Seq: sv.Seq,
		// Nobody else decides a volunteer's own record: one they decided
		// is one they withdrew.
		Withdrawn: sv.Status == timebank.StatusRejected && sv.DecidedBy == sv.Volunteer && sv.ConfirmedBy == ""}
	if sv.Credits > 0 {
		v.Credits = tbHoursStr(sv.Credits)
	}
	if sv.Overflow > 0 {
		v.Overflow = tbHoursStr(sv.Overflow)
	}
	if !sv.SettlesAt.IsZero() {
		t := sv.SettlesAt
		v.SettlesAt = &t
	}
	return v
}

func (s *Server) logService(c *gin.Context) {
	bindThen(c, false, func(req *ServiceRequest) {
		n, err := req.ToDomain()
		if err != nil {
			fail(c, err)
			return
		}
		p := principal(c)
		s.commit(c, http.StatusCreated, func(tx ledger.Tx) (any, error) {
			if err := inScope(tx, p, n.Community); err != nil {
				return nil, err
			}
			if n.Volunteer != p.Acting() && p.Has(community.RoleCoordinator, community.RoleAdmin) {
				if err := memberOutOfScope(tx, p, n.Volunteer); err != nil {
					return nil, err
				}
			}
			sv, err := timebank.LogService(tx, tbCaller(tx, p, n.Community), n)
			if err != nil {
				return nil, err
			}
			return serviceView(sv), nil
		})
	})
}

func (s *Server) listServices(c *gin.Context) {
	readersList(s, c, timebank.ListServices, serviceView)
}

// readersList serves a ?community= list kept for the community's
// readers (tbReaders in scope): one page of list, filtered by ?status=.
func readersList[T, V any](s *Server, c *gin.Context, list func(r ledger.Reader, cm, status string, p ledger.Page) ([]T, string, error), view func(T) V) {
	pagedList(s, c, c.Query("community"), func(r ledger.Reader, p *Principal, cm string) error {
		if err := requiredCommunity(cm); err != nil {
			return err
		}
		return tbCanRead(r, p, cm)
	}, list, view)
}

// pagedList serves one page (?after=&limit=&order=) of the list kept under
// key (a community, a member), filtered by ?status=, once allowed says
// the caller may read it.
func pagedList[T, V any](s *Server, c *gin.Context, key string, allowed func(r ledger.Reader, p *Principal, key string) error,
	list func(r ledger.Reader, key, status string, p ledger.Page) ([]T, string, error), view func(T) V) {
	pg, err := seqPage(c)
	if err != nil {
		fail(c, err)
		return
	}
	p := principal(c)
	viewJSON(s, c, func(r ledger.Reader) (List[V], error) {
		if err := allowed(r, p, key); err != nil {
			return List[V]{}, err
		}
		return pageOf(view)(list(r, key, c.Query("status"), pg))
	})
}

// pageOf turns a page of items into a page of their views.
func pageOf[T, V any](view func(T) V) func(items []T, next string, err error) (List[V], error) {
	return func(items []T, next string, err error) (List[V], error) {
		views := make([]V, len(items))
		for i, it := range items {
			views[i] = view(it)
		}
		return newList(views, next), err
	}
}

// memberServices lists a member's own service records: for the member
// (or whoever acts for them), and readers of the member's community.
func (s *Server) memberServices(c *gin.Context) {
	memberList(s, c, timebank.MemberServices, serviceView)
}

// memberRedemptions lists a member's redemptions, wherever made, to the
// same readers.
func (s *Server) memberRedemptions(c *gin.Context) {
	memberList(s, c, timebank.MemberRedemptions, redemptionView)
}

// listRedemptions lists the redemptions made in a community (the
// charity supermarket's clerk finds the bookings to complete).
func (s *Server) listRedemptions(c *gin.Context) {
	readersList(s, c, timebank.ListRedemptions, redemptionView)
}

// memberList serves a list of a member's own records (filtered by
// ?status=) to the member, whoever acts for them, and the readers of the
// member's community; to anyone else the member is unknown.
func memberList[T, V any](s *Server, c *gin.Context, list func(r ledger.Reader, member, status string, p ledger.Page) ([]T, string, error), view func(T) V) {
	pagedList(s, c, c.Param("id"), func(r ledger.Reader, p *Principal, id string) error {
		if err := ledger.CheckID("member", id); err != nil {
			return err
		}
		if p.Acting() != id && !tbCanReadMember(r, p, id) {
			return ledger.Errorf(ledger.CodeNotFound, "member %s not found", id)
		}
		return nil
	}, list, view)
}

// getService: the volunteer, the recipient, or readers of its community.
func (s *Server) getService(c *gin.Context) {
	viewOne(s, c, timebank.GetService, serviceVisible, serviceView)
}

// serviceVisible: a service is seen by its volunteer, its recipient, those
// who may read its community, and those who may read its volunteer's or
// member recipient's records (where the member's list of services shows
// it); to anyone else it is as unknown as a missing one (a refusal would
// tell that the id exists).
func serviceVisible(r ledger.Reader, p *Principal, sv *timebank.Service) error {
	me := p.Acting()
	switch {
	case me == sv.Volunteer || me == sv.Recipient, tbCanRead(r, p, sv.Community) == nil, tbCanReadMember(r, p, sv.Volunteer),
		sv.RecipientKind == timebank.RecipientMember && tbCanReadMember(r, p, sv.Recipient):
		return nil
	}
	return ledger.Errorf(ledger.CodeNotFound, "service %s not found", sv.ID)
}

// tbCanReadMember: staff who may read a member's community may read their
// time-bank records.
func tbCanReadMember(r ledger.Reader, p *Principal, id string) bool {
	m, err := community.GetMember(r, id)
	return err == nil && m.Community != "" && tbCanRead(r, p, m.Community) == nil
}

// decideService confirms or rejects; the domain decides who may.
func (s *Server) decideService(c *gin.Context, pays bool, fn func(tx ledger.Tx, by timebank.Caller, id, reason string) (*timebank.Service, error)) {
	bindThen(c, true, func(req *DecisionRequest) {
		p, id := principal(c), c.Param("id")
		s.commit(c, http.StatusOK, func(tx ledger.Tx) (any, error) {
			sv, err := timebank.GetService(tx, id)
			if err != nil {
				return nil, err
			}
			if err := serviceVisible(tx, p, sv); err != nil {
				return nil, err
			}
			by := tbCaller(tx, p, sv.Community)
			if pays && by.Staff {
				if by.Staff, err = staffOverPayer(tx, p, sv); err != nil {
					return nil, err
				}
				if !by.Staff && by.Member != sv.Recipient {
					return nil, ledger.Errorf(ledger.CodeForbidden, "under mutual credit the recipient pays, and recipient %s is outside your scope: the recipient (or a coordinator acting for them), or a coordinator over both the service's community and theirs, confirms or rejects", sv.Recipient)
				}
			}
			sv, err = fn(tx, by, id, req.Reason)
			if err != nil {
				return nil, err
			}
			return serviceView(sv), nil
		})
	})
}

// staffOverPayer: under mutual credit a member recipient pays the
// volunteer, so staff deciding for them must have scope over the
// recipient's community too; a coordinator of community A cannot make a
// member of community B pay for a service logged in A.
func staffOverPayer(r ledger.Reader, p *Principal, sv *timebank.Service) (bool, error) {
	if sv.RecipientKind != timebank.RecipientMember {
		return true, nil
	}
	cm, err := community.Get(r, sv.Community)
	if err != nil {
		return false, err
	}
	if cm.Policy.Earning != community.EarningMutualCredit {
		return true, nil
	}
	m, err := community.GetMember(r, sv.Recipient)
	if err != nil {
		return false, err
	}
	return m.Community == sv.Community || Authorize(r, p, m.Community, staff...) == nil, nil
}

func (s *Server) confirmService(c *gin.Context) { s.decideService(c, true, timebank.ConfirmService) }
func (s *Server) rejectService(c *gin.Context)  { s.decideService(c, false, timebank.RejectService) }

// NeedRequest posts a need. requester defaults to the member acted for.
// The title says what is needed and enters the audit chain: it is about
// the task, never a description of the person.
type NeedRequest struct {
	Community string `json:"community" id:"entity"`
	Requester string `json:"requester,omitempty" id:"entity"`
	Category  string `json:"category"`
	Title     string `json:"title" doc:"kept in the audit chain for good, never erased: about the need, never personal data (names, phone numbers, health details belong in a member's personal fields)"`
	Hours     string `json:"hours,omitempty" empty:"invalid_amount"`
}

// NeedView shows a need.
type NeedView struct {
	ID        string `json:"id"`
	Status    string `json:"status" enum:"open|claimed|completed|cancelled"`
	Community string `json:"community"`
	Requester string `json:"requester"`
	Category  string `json:"category"`
	Title     string `json:"title"`
	Hours     string `json:"hours,omitempty"`
	Volunteer string `json:"volunteer,omitempty"`
	Service   string `json:"service,omitempty"`
	// PostedBy: the coordinator who posted it for the requester (代办);
	// needs posted by builds before 86e41a0 do not show it.
	PostedBy string    `json:"posted_by,omitempty"`
	Created  time.Time `json:"created"`
}

// needViewFor shows needs to p: who posted a need for its requester
// (posted_by) only to staff and the requester — in the community's list
// it would tell every neighbour which residents a coordinator speaks for
// (the offline, often the frail; review s27e).
func needViewFor(p *Principal) func(*timebank.Need) NeedView {
	return func(n *timebank.Need) NeedView {
		v := needView(n)
		if !p.Has(community.RoleCoordinator, community.RoleAdmin, community.RoleAuditor) && p.Acting() != n.Requester {
			v.PostedBy = ""
		}
		return v
	}
}

func needView(n *timebank.Need) NeedView {
	v := NeedView{ID: n.ID, Status: n.Status, Community: n.Community, Requester: n.Requester, Category: n.Category,
		Title: n.Title, Volunteer: n.Volunteer, Service: n.Service, PostedBy: n.PostedBy, Created: n.Created}
	if n.Hours > 0 {
		v.Hours = tbHoursStr(n.Hours)
	}
	return v
}

// ClaimRequest claims a need; a coordinator may name the volunteer.
type ClaimRequest struct {
	Volunteer string `json:"volunteer,omitempty" id:"entity"`
}

// CompleteNeedRequest says how long the service took and when.
type CompleteNeedRequest struct {
	Hours      string `json:"hours"`
	OccurredAt string `json:"occurred_at"`
}

// NeedCompletion is a completed need and the service record it logged.
type NeedCompletion struct {
	Need    NeedView    `json:"need"`
	Service ServiceView `json:"service"`
}

func (s *Server) postNeed(c *gin.Context) {
	bindThen(c, false, func(req *NeedRequest) {
		s.postListing(c, req.Community, "requester", &req.Requester, req.Hours, func(tx ledger.Tx, by timebank.Caller, hours int64) (any, error) {
			n, err := timebank.PostNeed(tx, by, req.Community, req.Requester, req.Category, req.Title, hours)
			if err != nil {
				return nil, err
			}
			return needViewFor(principal(c))(n), nil
		})
	})
}

// actFor makes staff who name a member other than themselves act for
// that member (代办) whether or not X-On-Behalf-Of says so, so that the
// record names both. It reports whether the request goes on (false: the
// problem was sent; an unknown or out-of-scope member is not_found).
func (s *Server) actFor(c *gin.Context, p *Principal, field, member string) bool {
	if member == p.Acting() || p.OnBehalf != "" {
		return true
	}
	if err := ledger.CheckID(field, member); err != nil {
		fail(c, err)
		return false
	}
	if !p.Has(community.RoleCoordinator, community.RoleAdmin) {
		// A resident acts for themself: refused before the id is looked
		// up, so the answer says nothing of who it names.
		failCode(c, ledger.CodeForbidden, "you act for yourself; a coordinator acts for others")
		return false
	}
	return s.view(c, func(r ledger.Reader) error {
		// The rules of X-On-Behalf-Of: in scope (else not_found), not
		// erased (conflict), a resident or volunteer, not staff.
		if err := actableFor(r, p, member); err != nil && !replayable(c, err) {
			return err
		}
		p.OnBehalf = member
		return nil
	})
}

// postListing posts a need or an offer, which share a shape: a community,
// the member it is for (the acting member unless named), and optional
// hours; post runs in the op once the community is in the caller's scope.
func (s *Server) postListing(c *gin.Context, cm, field string, member *string, hoursText string,
	post func(tx ledger.Tx, by timebank.Caller, hours int64) (any, error)) {
	hours, err := tbOptionalHours(hoursText)
	if err != nil {
		fail(c, err)
		return
	}
	p := principal(c)
	if *member == "" {
		*member = p.Acting()
	}
	if !s.actFor(c, p, field, *member) {
		return
	}
	s.commit(c, http.StatusCreated, func(tx ledger.Tx) (any, error) {
		if err := inScope(tx, p, cm); err != nil {
			return nil, err
		}
		return post(tx, tbCaller(tx, p, cm), hours)
	})
}

// listNeeds: the needs list is open to everyone in the community's scope,
// so volunteers can find what to claim.
func (s *Server) listNeeds(c *gin.Context) {
	listInCommunity(s, c, func(r ledger.Reader, cm string, pg ledger.Page) ([]*timebank.Need, string, error) {
		return timebank.ListNeeds(r, cm, c.Query("status"), pg)
	}, needViewFor(principal(c)))
}

// listInCommunity serves a ?community= list open to everyone in the
// community's scope: one page of list, each item shown through view.
func listInCommunity[T, V any](s *Server, c *gin.Context, list func(ledger.Reader, string, ledger.Page) ([]T, string, error), view func(T) V) {
	pagedList(s, c, c.Query("community"), tbCommunityInScope, func(r ledger.Reader, cm, _ string, pg ledger.Page) ([]T, string, error) {
		return list(r, cm, pg)
	}, view)
}

// tbCommunityInScope checks a required ?community= against the caller's scope.
func tbCommunityInScope(r ledger.Reader, p *Principal, cm string) error {
	if err := requiredCommunity(cm); err != nil {
		return err
	}
	return inScope(r, p, cm)
}

func (s *Server) getNeed(c *gin.Context) {
	viewOne(s, c, timebank.GetNeed, needVisible, needViewFor(principal(c)))
}

// needVisible: a need is seen in the caller's scope; outside it, it is not
// revealed to exist.
func needVisible(r ledger.Reader, p *Principal, n *timebank.Need) error {
	if inScope(r, p, n.Community) != nil {
		return ledger.Errorf(ledger.CodeNotFound, "need %s not found", n.ID)
	}
	return nil
}

// needOp runs a step on a need in the caller's scope.
func (s *Server) needOp(c *gin.Context, status int, fn func(tx ledger.Tx, by timebank.Caller, id string) (any, error)) {
	p, id := principal(c), c.Param("id")
	s.commit(c, status, func(tx ledger.Tx) (any, error) {
		n, err := timebank.GetNeed(tx, id)
		if err != nil {
			return nil, err
		}
		if err := needVisible(tx, p, n); err != nil {
			return nil, err
		}
		return fn(tx, tbCaller(tx, p, n.Community), id)
	})
}

func (s *Server) claimNeed(c *gin.Context) {
	bindThen(c, true, func(req *ClaimRequest) {
		s.needOp(c, http.StatusOK, func(tx ledger.Tx, by timebank.Caller, id string) (any, error) {
			if by.Staff && req.Volunteer != "" && req.Volunteer != by.Member {
				// A volunteer outside the coordinator's scope is not found,
				// as an unknown one is (not "not a member of" the need's
				// community, which would confirm they exist).
				if err := memberOutOfScope(tx, principal(c), req.Volunteer); err != nil {
					return nil, err
				}
			}
			n, err := timebank.ClaimNeed(tx, by, id, req.Volunteer)
			if err != nil {
				return nil, err
			}
			return needViewFor(principal(c))(n), nil
		})
	})
}

func (s *Server) completeNeed(c *gin.Context) {
	bindThen(c, false, func(req *CompleteNeedRequest) {
		hours, err := tbHours("hours", req.Hours)
		if err != nil {
			fail(c, err)
			return
		}
		at, err := tbTime("occurred_at", req.OccurredAt)
		if err != nil {
			fail(c, err)
			return
		}
		s.needOp(c, http.StatusCreated, func(tx ledger.Tx, by timebank.Caller, id string) (any, error) {
			n, sv, err := timebank.CompleteNeed(tx, by, id, hours, at)
			if err != nil {
				return nil, err
			}
			return NeedCompletion{Need: needViewFor(principal(c))(n), Service: serviceView(sv)}, nil
		})
	})
}

// needDecision answers a release or a cancellation of a need: both take
// an optional reason and answer the need.
func (s *Server) needDecision(decide func(ledger.Tx, timebank.Caller, string, string) (*timebank.Need, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		bindThen(c, true, func(req *DecisionRequest) {
			s.needOp(c, http.StatusOK, func(tx ledger.Tx, by timebank.Caller, id string) (any, error) {
				n, err := decide(tx, by, id, req.Reason)
				if err != nil {
					return nil, err
				}
				return needViewFor(principal(c))(n), nil
			})
		})
	}
}

// OfferRequest posts an offer; volunteer defaults to the member acted
// for. The title is about the service offered.
type OfferRequest struct {
	Community string `json:"community" id:"entity"`
	Volunteer string `json:"volunteer,omitempty" id:"entity"`
	Category  string `json:"category"`
	Title     string `json:"title" doc:"kept in the audit chain for good, never erased: about the offer, never personal data (names, phone numbers, health details belong in a member's personal fields)"`
	Hours     string `json:"hours,omitempty" empty:"invalid_amount"`
}

// OfferView shows an offer.
type OfferView struct {
	ID        string    `json:"id"`
	Community string    `json:"community"`
	Volunteer string    `json:"volunteer"`
	Category  string    `json:"category"`
	Title     string    `json:"title"`
	Hours     string    `json:"hours,omitempty"`
	Created   time.Time `json:"created"`
	Withdrawn bool      `json:"withdrawn"`
}

func offerView(o *timebank.Offer) OfferView {
	v := OfferView{ID: o.ID, Community: o.Community, Volunteer: o.Volunteer, Category: o.Category, Title: o.Title, Created: o.Created, Withdrawn: o.Withdrawn}
	if o.Hours > 0 {
		v.Hours = tbHoursStr(o.Hours)
	}
	return v
}

func (s *Server) postOffer(c *gin.Context) {
	bindThen(c, false, func(req *OfferRequest) {
		s.postListing(c, req.Community, "volunteer", &req.Volunteer, req.Hours, func(tx ledger.Tx, by timebank.Caller, hours int64) (any, error) {
			o, err := timebank.PostOffer(tx, by, req.Community, req.Volunteer, req.Category, req.Title, hours)
			if err != nil {
				return nil, err
			}
			return offerView(o), nil
		})
	})
}

func (s *Server) listOffers(c *gin.Context) {
	listInCommunity(s, c, func(r ledger.Reader, cm string, pg ledger.Page) ([]*timebank.Offer, string, error) {
		return timebank.ListOffers(r, cm, c.Query("status"), pg)
	}, offerView)
}

// withdrawOffer takes an offer off the list: its volunteer, or staff.
func (s *Server) withdrawOffer(c *gin.Context) {
	bindThen(c, true, func(req *DecisionRequest) {
		p, id := principal(c), c.Param("id")
		s.commit(c, http.StatusOK, func(tx ledger.Tx) (any, error) {
			o, err := timebank.GetOffer(tx, id)
			if err != nil {
				return nil, err
			}
			if err := inScope(tx, p, o.Community); err != nil {
				return nil, ledger.Errorf(ledger.CodeNotFound, "offer %s not found", o.ID) // as listing it
			}
			o, err = timebank.WithdrawOffer(tx, tbCaller(tx, p, o.Community), id, req.Reason)
			if err != nil {
				return nil, err
			}
			return offerView(o), nil
		})
	})
}

// ItemRequest adds or replaces a catalogue item: its name (about the
// goods or service; it enters the audit chain), its price in hours, and
// its kind, service or goods.
type ItemRequest struct {
	Name  string `json:"name"`
	Hours string `json:"hours"`
	Kind  string `json:"kind" enum:"service|goods"`
}

// ItemView shows a catalogue item; a withdrawn one is no longer offered.
type ItemView struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Hours     string `json:"hours"`
	Kind      string `json:"kind"`
	Withdrawn bool   `json:"withdrawn"`
}

func itemView(it timebank.Item) ItemView {
	return ItemView{ID: it.ID, Name: it.Name, Hours: tbHoursStr(it.Hours), Kind: it.Kind, Withdrawn: it.Withdrawn}
}

func (s *Server) putItem(c *gin.Context) {
	bindThen(c, false, func(req *ItemRequest) {
		hours, err := tbHours("hours", req.Hours)
		if err != nil {
			fail(c, err)
			return
		}
		it := timebank.Item{ID: c.Param("item"), Name: req.Name, Hours: hours, Kind: req.Kind}
		s.catalogueOp(c, func(tx ledger.Tx, cm string) (*timebank.Item, error) { return timebank.PutItem(tx, cm, it) })
	})
}

// withdrawItem takes an optional reason (about the item: it enters the
// chain).
func (s *Server) withdrawItem(c *gin.Context) {
	bindThen(c, true, func(req *DecisionRequest) {
		s.catalogueOp(c, func(tx ledger.Tx, cm string) (*timebank.Item, error) {
			return timebank.WithdrawItem(tx, cm, c.Param("item"), req.Reason)
		})
	})
}

// catalogueOp commits fn on the catalogue of the path's community, for
// its staff.
func (s *Server) catalogueOp(c *gin.Context, fn func(tx ledger.Tx, cm string) (*timebank.Item, error)) {
	p, cm := principal(c), c.Param("id")
	s.commit(c, http.StatusOK, func(tx ledger.Tx) (any, error) {
		if _, err := community.Get(tx, cm); err != nil {
			return nil, err // an unknown community is not_found, whoever asks
		}
		if !tbCaller(tx, p, cm).Staff {
			return nil, ledger.Errorf(ledger.CodeForbidden, "a coordinator of community %s keeps its catalogue", cm)
		}
		out, err := fn(tx, cm)
		if err != nil {
			return nil, err
		}
		return itemView(*out), nil
	})
}

// getCatalogue: any member may browse any catalogue, since credits are
// redeemed across communities (通存通兑).
func (s *Server) getCatalogue(c *gin.Context) {
	pg, err := idPage(c)
	if err != nil {
		fail(c, err)
		return
	}
	pg.Reverse = false // catalogues read in id order
	viewJSON(s, c, func(r ledger.Reader) (List[ItemView], error) {
		if _, err := community.Get(r, c.Param("id")); err != nil {
			return List[ItemView]{}, ledger.Errorf(ledger.CodeNotFound, "community %s not found", c.Param("id"))
		}
		return pageOf(itemView)(timebank.Catalogue(r, c.Param("id"), pg))
	})
}

// RedemptionRequest spends credits in a community: item is a catalogue
// item id where the community keeps a catalogue (then hours must be its
// price × quantity), else free text about what is redeemed. With book the
// credits are held until complete or cancel.
type RedemptionRequest struct {
	Member    string `json:"member" id:"entity"`
	Community string `json:"community" id:"entity"`
	Hours     string `json:"hours"`
	Item      string `json:"item"`
	Book      bool   `json:"book,omitempty"`
	Quantity  *int64 `json:"quantity,omitempty"` // 1 when absent
}

// RedemptionView shows a redemption. Status is redeemed, booked,
// completed, cancelled, expired or reversed (reversal names the
// correcting transaction); home is the member's community, which
// owes community through clearing when they differ.
type RedemptionView struct {
	ID          string `json:"id"`
	Status      string `json:"status" enum:"redeemed|booked|completed|cancelled|expired|reversed"`
	Member      string `json:"member"`
	Community   string `json:"community"`
	Home        string `json:"home"`
	Item        string `json:"item"`
	ItemName    string `json:"item_name,omitempty"`
	Kind        string `json:"kind,omitempty"`
	Quantity    int64  `json:"quantity"`
	Hours       string `json:"hours"`
	Transaction string `json:"transaction"`
	Settlement  string `json:"settlement,omitempty"`
	Reversal    string `json:"reversal,omitempty"`
	Reason      string `json:"reason,omitempty"`
	// RefundedToPool: the part of a reversal's refund that went to the
	// member's community pool, above their storage cap.
	RefundedToPool string `json:"refunded_to_pool,omitempty"`
	// MadeBy: the coordinator who redeemed for the member (代办);
	// redemptions made by builds before 86e41a0 do not show it.
	MadeBy  string    `json:"made_by,omitempty"`
	Created time.Time `json:"created"`
}

func redemptionView(d *timebank.Redemption) RedemptionView {
	v := RedemptionView{ID: d.ID, Status: d.Status, Member: d.Member, Community: d.Community, Home: d.Home, Item: d.Item,
		ItemName: d.ItemName, Kind: d.Kind, Quantity: d.Quantity, Hours: tbHoursStr(d.Hours), Transaction: d.Transaction,
		Settlement: d.Settlement, Reversal: d.Reversal, Reason: d.Reason, MadeBy: d.MadeBy, Created: d.Created}
	if d.RefundedToPool > 0 {
		v.RefundedToPool = tbHoursStr(d.RefundedToPool)
	}
	return v
}

func (s *Server) redeem(c *gin.Context) {
	bindThen(c, false, func(req *RedemptionRequest) {
		hours, err := tbHours("hours", req.Hours)
		if err != nil {
			fail(c, err)
			return
		}
		quantity := int64(1)
		if req.Quantity != nil {
			if quantity = *req.Quantity; quantity < 1 {
				failCode(c, ledger.CodeInvalidRequest, "quantity is at least 1 (leave it out for 1)")
				return
			}
		}
		p := principal(c)
		// Staff redeeming a member's credits act for them (代办) whether or
		// not X-On-Behalf-Of says so: the record names both.
		if !s.actFor(c, p, "member", req.Member) {
			return
		}
		n := timebank.NewRedemption{Member: req.Member, Community: req.Community, Hours: hours, Item: req.Item,
			Quantity: quantity, Book: req.Book}
		s.commit(c, http.StatusCreated, func(tx ledger.Tx) (any, error) {
			m, err := community.GetMember(tx, req.Member)
			if err != nil {
				return nil, err
			}
			// Staff spend a member's credits for them only over the
			// member's own community: a coordinator of the community
			// where credits are redeemed has no say over a visitor's
			// account (通存通兑 is the member's choice, not theirs).
			d, err := timebank.Redeem(tx, tbCaller(tx, p, m.Community), n)
			if err != nil {
				return nil, err
			}
			return redemptionView(d), nil
		})
	})
}

func (s *Server) getRedemption(c *gin.Context) {
	viewOne(s, c, timebank.GetRedemption, redemptionVisible, redemptionView)
}

// redemptionVisible hides a redemption from everyone but its member and
// the staff and auditors of the communities involved: to them it does not
// exist, whatever its state.
func redemptionVisible(r ledger.Reader, p *Principal, d *timebank.Redemption) error {
	if p.Acting() != d.Member && tbCanRead(r, p, d.Community, d.Home) != nil {
		return ledger.Errorf(ledger.CodeNotFound, "redemption %s not found", d.ID)
	}
	return nil
}

// settleBooking completes or cancels a booking; staff means staff of the
// community where it was redeemed.
func (s *Server) settleBooking(c *gin.Context, fn func(tx ledger.Tx, by timebank.Caller, id, reason string) (*timebank.Redemption, error), reason string) {
	p, id := principal(c), c.Param("id")
	s.commit(c, http.StatusOK, func(tx ledger.Tx) (any, error) {
		d, err := timebank.GetRedemption(tx, id)
		if err != nil {
			return nil, err
		}
		if err := redemptionVisible(tx, p, d); err != nil {
			return nil, err
		}
		d, err = fn(tx, tbCaller(tx, p, d.Community), id, reason)
		if err != nil {
			return nil, err
		}
		return redemptionView(d), nil
	})
}

func (s *Server) completeRedemption(c *gin.Context) {
	bindThen(c, true, func(req *DecisionRequest) { s.settleBooking(c, timebank.CompleteRedemption, req.Reason) })
}

func (s *Server) cancelRedemption(c *gin.Context) {
	bindThen(c, true, func(req *DecisionRequest) { s.settleBooking(c, timebank.CancelRedemption, req.Reason) })
}

// reverseRedemption binds what the route documents (ReverseRequest: a
// reason is required, refused before the redemption is looked up, as on
// every route; probe s25c found it refused after, 404 before 400).
func (s *Server) reverseRedemption(c *gin.Context) {
	if req, ok := bindReverse(c); ok {
		s.settleBooking(c, timebank.ReverseRedemption, req.Reason)
	}
}

// GiftRequest gives credits: from is the giver's member id, to a
// registered relative's member id, or the giver's community pool account
// ("<community>:pool", "pool" or the community's id); a member's HOUR
// account id ("li:HOUR") names that member in either. A coordinator
// gives for an offline resident with X-On-Behalf-Of.
type GiftRequest struct {
	From  string `json:"from" id:"account"`
	To    string `json:"to" id:"account"`
	Hours string `json:"hours"`
	Memo  string `json:"memo,omitempty" doc:"kept in the audit chain for good, never erased: about the gift, never personal data (names, phone numbers, health details belong in a member's personal fields)"`
}

// GrantRequest grants pool credits to a member; the reason is about the
// grant (it enters the chain), never a description of the person.
type GrantRequest struct {
	Community string `json:"community" id:"entity"`
	Member    string `json:"member" id:"entity"`
	Hours     string `json:"hours"`
	Reason    string `json:"reason" doc:"kept in the audit chain for good, never erased: about the grant, never personal data (names, phone numbers, health details belong in a member's personal fields)"`
}

// TransferResult is a gift or grant; overflow is what went to the pool
// above the receiver's storage cap.
type TransferResult struct {
	ID          string `json:"id"`
	From        string `json:"from"`
	To          string `json:"to"`
	Hours       string `json:"hours"`
	Overflow    string `json:"overflow,omitempty" doc:"hours over the recipient's storage cap (max_balance) that went to the community pool instead"`
	Transaction string `json:"transaction"`
	Memo        string `json:"memo,omitempty"`
}

func transferResult(t *timebank.Transfer) TransferResult {
	v := TransferResult{ID: t.ID, From: t.From, To: t.To, Hours: tbHoursStr(t.Hours), Transaction: t.Transaction, Memo: t.Memo}
	if t.Overflow > 0 {
		v.Overflow = tbHoursStr(t.Overflow)
	}
	return v
}

func (s *Server) gift(c *gin.Context) {
	bindThen(c, false, func(req *GiftRequest) {
		hours, err := tbHours("hours", req.Hours)
		if err != nil {
			fail(c, err)
			return
		}
		p := principal(c)
		// A coordinator giving a resident's credits acts for them (代办)
		// whether or not X-On-Behalf-Of says so, as for redemptions.
		if !s.actFor(c, p, "from", timebank.MemberOfHourAccount(req.From)) {
			return
		}
		s.commit(c, http.StatusCreated, func(tx ledger.Tx) (any, error) {
			t, err := timebank.Gift(tx, timebank.Caller{Member: p.Acting()}, req.From, req.To, hours, req.Memo)
			if err != nil {
				return nil, err
			}
			return transferResult(t), nil
		})
	})
}

func (s *Server) grant(c *gin.Context) {
	bindThen(c, false, func(req *GrantRequest) {
		hours, err := tbHours("hours", req.Hours)
		if err != nil {
			fail(c, err)
			return
		}
		p := principal(c)
		s.commit(c, http.StatusCreated, func(tx ledger.Tx) (any, error) {
			if err := ledger.CheckID("community", req.Community); err != nil {
				return nil, err
			}
			if !tbCaller(tx, p, req.Community).Staff {
				return nil, ledger.Errorf(ledger.CodeForbidden, "a coordinator of community %s grants from its pool", req.Community)
			}
			// A member outside the caller's scope is as unknown as a
			// missing one (not_in_community would confirm they exist).
			if err := memberOutOfScope(tx, p, req.Member); err != nil {
				return nil, err
			}
			t, err := timebank.Grant(tx, req.Community, req.Member, hours, req.Reason)
			if err != nil {
				return nil, err
			}
			return transferResult(t), nil
		})
	})
}

// OwedView is what one community owes another, in hours.
type OwedView struct {
	From  string `json:"from" doc:"the community that owes: credits its members earned were spent in to (redemptions, gifts to relatives there, services paid under mutual credit), net of the other way"`
	To    string `json:"to" doc:"the community owed"`
	Hours string `json:"hours" doc:"hours from owes to, netted over the pair"`
}

// SettlementView lists, for a community, what it owes each other
// community and what each owes it, netted per pair. clearing_balance is
// its clearing account: what it owes less what it is owed.
type SettlementView struct {
	Community       string     `json:"community"`
	ClearingBalance string     `json:"clearing_balance" doc:"the community subtree's clearing account: what it owes other communities less what it is owed"`
	Items           []OwedView `json:"items" doc:"each pair of communities once, netted"`
}

func (s *Server) settlement(c *gin.Context) {
	p, cm := principal(c), c.Query("community")
	var v SettlementView
	if !s.view(c, func(r ledger.Reader) error {
		if err := tbCanReadQuery(r, p, cm); err != nil {
			return err
		}
		owes, clearing, err := timebank.Settlement(r, cm)
		v = SettlementView{Community: cm, ClearingBalance: tbHoursStr(clearing), Items: []OwedView{}}
		for _, o := range owes {
			v.Items = append(v.Items, OwedView{From: o.From, To: o.To, Hours: tbHoursStr(o.Hours)})
		}
		return err
	}) {
		return
	}
	if !tbWantsCSV(c) {
		c.JSON(http.StatusOK, v)
		return
	}
	// One table: each row names the community asked about and its
	// clearing balance beside the pair it settles.
	rows := [][]string{{"from", "to", "hours", "community", "clearing_balance"}}
	for _, it := range v.Items {
		rows = append(rows, []string{csvText(it.From), csvText(it.To), it.Hours, csvText(v.Community), v.ClearingBalance})
	}
	if len(v.Items) == 0 {
		// Nothing owed either way: one row without a pair still names the
		// community and its clearing balance, so that a file with no pairs
		// says which community it settles (the JSON always does).
		rows = append(rows, []string{"", "", tbHoursStr(0), csvText(v.Community), v.ClearingBalance})
	}
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Status(http.StatusOK)
	w := csv.NewWriter(c.Writer)
	_ = w.WriteAll(rows) // the status is sent; a broken connection has no one to tell
}

func tbCanReadQuery(r ledger.Reader, p *Principal, cm string) error {
	if err := requiredCommunity(cm); err != nil {
		return err
	}
	return tbCanRead(r, p, cm)
}

// requiredCommunity checks a required ?community= query parameter.
func requiredCommunity(cm string) error {
	if cm == "" {
		return ledger.Errorf(ledger.CodeInvalidRequest, "the community query parameter is required (?community=ID)")
	}
	return ledger.CheckID("community", cm)
}

// tbDayRange reads ?from=&to= (YYYY-MM-DD, China Standard Time days,
// inclusive); missing from is the start of to's year, missing to today.
func (s *Server) tbDayRange(c *gin.Context) (time.Time, time.Time, error) {
	to := s.now().In(timebank.DayZone)
	if q := c.Query("to"); q != "" {
		var err error
		if to, err = timebank.ParseDay(q); err != nil {
			return to, to, err
		}
	}
	from := time.Date(to.Year(), 1, 1, 0, 0, 0, 0, timebank.DayZone)
	if q := c.Query("from"); q != "" {
		var err error
		if from, err = timebank.ParseDay(q); err != nil {
			return from, to, err
		}
	}
	return from, to, nil
}

// LoopView is a reciprocal service loop.
type LoopView struct {
	Members []string `json:"members"`
	Records int64    `json:"records"`
	Hours   string   `json:"hours"`
}

// PairView is a pair confirming each other far above the norm (the mean
// records of the other pairs).
type PairView struct {
	Members [2]string `json:"members"`
	Records int64     `json:"records"`
	Norm    string    `json:"norm"`
}

// SignalsView lists what a coordinator should look at; nothing here is
// refused by the server.
type SignalsView struct {
	Community string        `json:"community"`
	From      string        `json:"from"`
	To        string        `json:"to"`
	Loops     []LoopView    `json:"loops"`
	Pairs     []PairView    `json:"pairs"`
	Overlaps  []ServiceView `json:"overlaps"`
	// SingleHanded: confirmed records whose confirmer also logged them.
	SingleHanded []ServiceView `json:"single_handed"`
}

func (s *Server) signals(c *gin.Context) {
	from, to, err := s.tbDayRange(c)
	if err != nil {
		fail(c, err)
		return
	}
	p, cm := principal(c), c.Query("community")
	viewJSON(s, c, func(r ledger.Reader) (SignalsView, error) {
		if err := tbCanReadQuery(r, p, cm); err != nil {
			return SignalsView{}, err
		}
		sig, err := timebank.CollusionSignals(r, cm, from, to)
		if err != nil {
			return SignalsView{}, err
		}
		v := SignalsView{Community: cm, From: from.Format(time.DateOnly), To: to.Format(time.DateOnly),
			Loops: []LoopView{}, Pairs: []PairView{}, Overlaps: []ServiceView{}, SingleHanded: []ServiceView{}}
		for _, l := range sig.Loops {
			v.Loops = append(v.Loops, LoopView{Members: l.Members, Records: l.Records, Hours: tbHoursStr(l.Hours)})
		}
		for _, pr := range sig.Pairs {
			v.Pairs = append(v.Pairs, PairView{Members: pr.Members, Records: pr.Records, Norm: tbHoursStr(pr.Norm)})
		}
		for _, sv := range sig.Overlaps {
			v.Overlaps = append(v.Overlaps, serviceView(sv))
		}
		for _, sv := range sig.SingleHanded {
			v.SingleHanded = append(v.SingleHanded, serviceView(sv))
		}
		return v, nil
	})
}

// CategoryView sums one category's confirmed records.
type CategoryView struct {
	Records int64  `json:"records"`
	Hours   string `json:"hours"`
	Credits string `json:"credits"`
}

// ServiceReportView is the service report of a community subtree over a
// period of days: hours_credited are hours of confirmed service (credits
// after category weights in credits_earned, of which credits_held await
// their settlement delay); turn_outs count distinct volunteer-days;
// credits_outstanding (held by members and pools) and pool_balance are
// balances at the end of the period.
type ServiceReportView struct {
	Community          string                  `json:"community"`
	From               string                  `json:"from"`
	To                 string                  `json:"to"`
	Communities        []string                `json:"communities" doc:"the community and every community under it that the report covers"`
	HoursCredited      string                  `json:"hours_credited" doc:"hours of confirmed service in the period"`
	CreditsEarned      string                  `json:"credits_earned" doc:"credits earned for them after category weights"`
	CreditsHeld        string                  `json:"credits_held" doc:"of credits_earned, those still held in their settlement delay"`
	Records            int64                   `json:"records" doc:"confirmed service records"`
	Volunteers         int64                   `json:"volunteers"`
	Recipients         int64                   `json:"recipients"`
	GroupsServed       int64                   `json:"groups_served"`
	TurnOuts           int64                   `json:"turn_outs" doc:"distinct volunteer-days"`
	ByCategory         map[string]CategoryView `json:"by_category"`
	CreditsRedeemed    string                  `json:"credits_redeemed"`
	Redemptions        int64                   `json:"redemptions"`
	CreditsOutstanding string                  `json:"credits_outstanding" doc:"credits held by members and pools at the end of the period"`
	PoolBalance        string                  `json:"pool_balance" doc:"community pools (爱心池) at the end of the period"`
}

func tbReportView(r *timebank.Report) ServiceReportView {
	v := ServiceReportView{Community: r.Community, From: r.From, To: r.To, Communities: r.Communities,
		HoursCredited: tbHoursStr(r.HoursCredited), CreditsEarned: tbHoursStr(r.CreditsEarned), CreditsHeld: tbHoursStr(r.CreditsHeld),
		Records: r.Records, Volunteers: r.Volunteers, Recipients: r.Recipients, GroupsServed: r.GroupsServed, TurnOuts: r.TurnOuts,
		ByCategory: map[string]CategoryView{}, CreditsRedeemed: tbHoursStr(r.CreditsRedeemed), Redemptions: r.Redemptions,
		CreditsOutstanding: tbHoursStr(r.CreditsOutstanding), PoolBalance: tbHoursStr(r.PoolBalance)}
	for k, ct := range r.ByCategory {
		v.ByCategory[k] = CategoryView{Records: ct.Records, Hours: tbHoursStr(ct.Hours), Credits: tbHoursStr(ct.Credits)}
	}
	return v
}

func (s *Server) serviceReport(c *gin.Context) {
	from, to, err := s.tbDayRange(c)
	if err != nil {
		fail(c, err)
		return
	}
	p, cm := principal(c), c.Query("community")
	var out ServiceReportView
	if !s.view(c, func(r ledger.Reader) error {
		if err := tbCanReadQuery(r, p, cm); err != nil {
			return err
		}
		rep, err := timebank.ServiceReport(r, cm, from, to)
		if err == nil {
			out = tbReportView(rep)
		}
		return err
	}) {
		return
	}
	if tbWantsCSV(c) {
		tbWriteReportCSV(c, out)
		return
	}
	c.JSON(http.StatusOK, out)
}

// tbWantsCSV negotiates a report's format; the answer varies by Accept
// (caches must not hand one format to a client asking for the other).
func tbWantsCSV(c *gin.Context) bool {
	c.Header("Vary", "Accept")
	return prefersCSV(c.Request.Header.Values("Accept"))
}

// prefersCSV reports whether Accept prefers text/csv to JSON (RFC 9110
// §12.5.1): each type takes the quality of the most specific range that
// matches it (text/csv over text/* over */*), the higher quality wins,
// and at equal quality the range listed first. JSON is the default.
func prefersCSV(accept []string) bool {
	type match struct {
		q         float64
		spec, pos int // spec: 0 none, 1 */*, 2 type/*, 3 exact
	}
	var csv, js match
	pos := 0
	for _, h := range accept {
		for part := range strings.SplitSeq(h, ",") {
			pos++
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			q := 1.0
			if v, ok := params["q"]; ok {
				if q, err = strconv.ParseFloat(v, 64); err != nil || !(q >= 0 && q <= 1) { // NaN too
					continue
				}
			}
			for _, t := range []struct {
				m    *match
				full string
			}{{&csv, "text/csv"}, {&js, "application/json"}} {
				typ, _, _ := strings.Cut(t.full, "/")
				spec := 0
				switch mt {
				case t.full:
					spec = 3
				case typ + "/*":
					spec = 2
				case "*/*":
					spec = 1
				}
				if spec > t.m.spec {
					*t.m = match{q: q, spec: spec, pos: pos}
				}
			}
		}
	}
	if csv.spec == 0 || csv.q == 0 {
		return false
	}
	return js.spec == 0 || csv.q > js.q || csv.q == js.q && csv.pos < js.pos
}

// tbWriteReportCSV writes the report as one table: a "total" row with
// every figure of the subtree, then one row per category in name order
// with that category's records, hours and credits (the subtree-wide
// columns empty); every row names the community and the period, so a
// row copied elsewhere still says what it counts (as the fund report's).
func tbWriteReportCSV(c *gin.Context, v ServiceReportView) {
	header := []string{"category", "records", "hours", "credits", "community", "from", "to", "credits_held", "volunteers",
		"recipients", "groups_served", "turn_outs", "credits_redeemed", "redemptions", "credits_outstanding", "pool_balance"}
	rows := [][]string{header, {community.ReservedCategory, tbItoa(v.Records), v.HoursCredited, v.CreditsEarned, csvText(v.Community), v.From, v.To,
		v.CreditsHeld, tbItoa(v.Volunteers), tbItoa(v.Recipients), tbItoa(v.GroupsServed), tbItoa(v.TurnOuts),
		v.CreditsRedeemed, tbItoa(v.Redemptions), v.CreditsOutstanding, v.PoolBalance}}
	for _, k := range slices.Sorted(maps.Keys(v.ByCategory)) {
		ct := v.ByCategory[k]
		row := make([]string, len(header))
		copy(row, []string{csvText(k), tbItoa(ct.Records), ct.Hours, ct.Credits, csvText(v.Community), v.From, v.To})
		rows = append(rows, row)
	}
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Status(http.StatusOK)
	w := csv.NewWriter(c.Writer)
	_ = w.WriteAll(rows) // the status is sent; a broken connection has no one to tell
}

func tbItoa(n int64) string { return strconv.FormatInt(n, 10) }

// csvText guards a text cell of a CSV report against spreadsheet formula
// injection (these reports are opened in Excel and WPS): a cell that a
// spreadsheet would read as a formula (=, +, -, @, tab, CR first) is
// prefixed with an apostrophe, which spreadsheets show as text.
func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

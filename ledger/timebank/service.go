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

// Service record states.
const (
	StatusPending   = "pending"   // logged, awaiting confirmation
	StatusConfirmed = "confirmed" // credited (Credit says whether held or posted)
	StatusRejected  = "rejected"  // refused, or disputed while its credit was held
)

// Credit states of a confirmed record.
const (
	CreditHeld   = "held"   // pending until the settlement delay ends
	CreditPosted = "posted" // earned
	CreditVoided = "voided" // disputed in the window
	// CreditReversed: posted, then corrected by staff with a reversal that
	// names the credit and the reason (SPEC §2).
	CreditReversed = "reversed"
)

// Recipient kinds: a service is for a member, a group (an id naming the
// group, e.g. an activity), or the whole community.
const (
	RecipientMember    = "member"
	RecipientGroup     = "group"
	RecipientCommunity = "community"
)

// Service is a service record. Hours are what was served; Credits what
// the volunteer earns for it after the category weight.
type Service struct {
	ID            string    `json:"id"`
	Community     string    `json:"community"`
	Volunteer     string    `json:"volunteer"`
	Recipient     string    `json:"recipient"`
	RecipientKind string    `json:"recipient_kind"`
	Category      string    `json:"category"`
	Hours         int64     `json:"hours"`
	Credits       int64     `json:"credits,omitempty"`
	OccurredAt    time.Time `json:"occurred_at"`
	Status        string    `json:"status"`
	Credit        string    `json:"credit,omitempty"`
	LoggedBy      string    `json:"logged_by"`
	LoggedFor     string    `json:"logged_for,omitempty"` // the volunteer, when someone else logged it (代办), kept since 86e41a0
	DecidedBy     string    `json:"decided_by,omitempty"`
	DecidedFor    string    `json:"decided_for,omitempty"` // the member DecidedBy acted for (代办)
	Reason        string    `json:"reason,omitempty"`
	// ConfirmedBy and ConfirmReason keep the confirmation of a record
	// rejected after it (a dispute, a correction): DecidedBy and Reason
	// are then the rejection's.
	ConfirmedBy   string    `json:"confirmed_by,omitempty"`
	ConfirmedFor  string    `json:"confirmed_for,omitempty"`
	ConfirmReason string    `json:"confirm_reason,omitempty"`
	Transaction   string    `json:"transaction,omitempty"`
	Settlement    string    `json:"settlement,omitempty"` // the post or void of a held credit
	Reversal      string    `json:"reversal,omitempty"`   // the reversal of a posted credit
	SettlesAt     time.Time `json:"settles_at,omitzero"`
	Overlaps      []string  `json:"overlaps,omitempty"`
	Need          string    `json:"need,omitempty"`
	Seq           uint64    `json:"seq"`
	Created       time.Time `json:"created"`
	// Overflow is what the confirmation sent to the pool above the
	// volunteer's storage cap (kept since 2026-11-24; the transaction's
	// postings show it for records confirmed before).
	Overflow int64 `json:"overflow,omitempty"`
}

// NewService describes a service to log.
type NewService struct {
	Community     string
	Volunteer     string
	Recipient     string
	RecipientKind string // inferred when empty: a member, else the community
	Category      string
	Hours         int64
	OccurredAt    time.Time
	Need          string
}

// GetService returns a service record or not_found. A held credit whose
// hold the ledger voided at its timeout (the settlement timer never ran
// within SettleGrace) reads as voided.
func GetService(r ledger.Reader, id string) (*Service, error) {
	s, err := ledger.GetDoc[Service](r, KindService, "timebank: service", id)
	if err != nil || s.Credit != CreditHeld {
		return s, err
	}
	if by, voided, err := holdVoided(r, s.Transaction); err != nil {
		return nil, err
	} else if voided {
		s.Credit, s.Settlement = CreditVoided, by
	}
	return s, nil
}

// holdVoided reports whether the hold tx is voided (by the ledger at its
// timeout, when a document still calls it held) and the entry that did.
func holdVoided(r ledger.Reader, tx string) (by string, voided bool, err error) {
	t, err := r.Transaction(tx)
	if err != nil {
		return "", false, err
	}
	return t.ResolvedBy, t.Status == ledger.TxVoided, nil
}

// Fields returns the record as audit content: ids, amounts and times.
func (s *Service) Fields() map[string]any {
	m := map[string]any{"id": s.ID, "community": s.Community, "volunteer": s.Volunteer,
		"recipient": s.Recipient, "recipient_kind": s.RecipientKind, "category": s.Category,
		"hours": s.Hours, "occurred_at": s.OccurredAt.UnixNano(), "status": s.Status}
	if len(s.Overlaps) > 0 {
		m["overlaps"] = s.Overlaps
	}
	if s.Credits > 0 {
		m["credits"] = s.Credits
	}
	withOptional(m, "credit", s.Credit)
	withOptional(m, "transaction", s.Transaction)
	withOptional(m, "need", s.Need)
	return withOptional(m, "reason", s.Reason)
}

// LogService records a service for confirmation ("service.log"). The
// volunteer logs their own, or staff log it for them. Errors:
// invalid_id, invalid_amount, invalid_request, not_found, forbidden,
// not_volunteer, not_in_community, self_service, occurred_in_future,
// daily_limit_exceeded.
func LogService(tx ledger.Tx, by Caller, n NewService) (*Service, error) {
	s, err := logService(tx, by, n)
	if err != nil {
		return nil, err
	}
	tx.Audit("service.log", s.Fields())
	return s, nil
}

// logService is LogService without the audit event, for need completion.
func logService(tx ledger.Tx, by Caller, n NewService) (*Service, error) {
	if err := checkNewService(tx, by, &n); err != nil {
		return nil, err
	}
	s := &Service{ID: tx.NewID("svc"), Community: n.Community, Volunteer: n.Volunteer, Recipient: n.Recipient,
		RecipientKind: n.RecipientKind, Category: n.Category, Hours: n.Hours, OccurredAt: n.OccurredAt.UTC(),
		Status: StatusPending, LoggedBy: tx.Actor().ID, Need: n.Need, Seq: tx.Seq(), Created: tx.Now()}
	if s.LoggedBy != s.Volunteer {
		s.LoggedFor = s.Volunteer
	}
	var err error
	if s.Overlaps, err = dayCheck(tx, s); err != nil {
		return nil, err
	}
	if err := tx.PutDoc(KindService, s.ID, s); err != nil {
		return nil, err
	}
	if err := putJSON(tx, vdayKey(s), span{Start: s.OccurredAt.UnixNano(), Hours: s.Hours}); err != nil {
		return nil, err
	}
	if len(s.Overlaps) > 0 {
		if err := tx.PutIndex("tb/flag/"+s.Community+"/"+seqKey(s.Seq), []byte(s.ID)); err != nil {
			return nil, err
		}
	}
	// An overlap flags both records: the earlier one, still pending, now
	// also needs a coordinator to confirm it.
	for _, id := range s.Overlaps {
		o, err := GetService(tx, id)
		if err != nil {
			return nil, err
		}
		if o.Status != StatusPending || slices.Contains(o.Overlaps, s.ID) {
			continue
		}
		o.Overlaps = append(o.Overlaps, s.ID)
		if err := tx.PutDoc(KindService, o.ID, o); err != nil {
			return nil, err
		}
		if err := tx.PutIndex("tb/flag/"+o.Community+"/"+seqKey(o.Seq), []byte(o.ID)); err != nil {
			return nil, err
		}
	}
	// Each member the record names finds it in their own list: the
	// volunteer, and a member recipient who is to confirm it.
	for _, m := range memberParties(s) {
		if err := tx.PutIndex(mineKey(m, s.Seq), []byte(s.ID)); err != nil {
			return nil, err
		}
	}
	return s, tx.PutIndex("tb/svc/"+s.Community+"/"+seqKey(s.Seq), []byte(s.ID))
}

// memberParties are the members a service record names.
func memberParties(s *Service) []string {
	if s.RecipientKind == RecipientMember && s.Recipient != s.Volunteer {
		return []string{s.Volunteer, s.Recipient}
	}
	return []string{s.Volunteer}
}

func mineKey(member string, seq uint64) string { return "tb/mine/" + member + "/" + seqKey(seq) }

// MemberServices lists the service records that name member, as
// volunteer or as recipient, in the order they were logged (filtered by
// status when not ""), and the next cursor.
func MemberServices(r ledger.Reader, member, status string, p ledger.Page) ([]*Service, string, error) {
	return listServices(r, "tb/mine/"+member+"/", status, p)
}

func checkNewService(tx ledger.Tx, by Caller, n *NewService) error {
	check := community.CheckCategory
	if n.Need != "" {
		// The need's own category, checked when the need was posted: a
		// need stored before a stricter screen must still complete.
		check = community.CheckStoredCategory
	}
	if err := check(n.Category); err != nil {
		return err
	}
	if err := checkHours("hours", n.Hours, MaxServiceHours); err != nil {
		return err
	}
	if err := checkWhen(tx.Now(), n.OccurredAt); err != nil {
		return err
	}
	// occurred_at is when the service began: it must also have ended.
	if end := time.Unix(0, span{Start: n.OccurredAt.UnixNano(), Hours: n.Hours}.end()); end.After(tx.Now().Add(MaxClockSkew)) {
		return ledger.Errorf(CodeFutureOccurrence, "timebank: %s from occurred_at ends in the future (%s); log a service once it is over",
			ledger.FormatAmount(n.Hours, ledger.HOUR), end.UTC().Format(time.RFC3339))
	}
	c, err := communityOf(tx, n.Community)
	if err != nil {
		return err
	}
	// A record that would earn nothing at the community's weight is
	// refused now, not at its confirmation, which would then always fail.
	if n.Hours*c.Policy.Weight(n.Category)/100 <= 0 {
		return ledger.Errorf(ledger.CodeInvalidAmount, "timebank: %s of %s earns nothing at its weight", ledger.FormatAmount(n.Hours, ledger.HOUR), n.Category)
	}
	// Who may log is checked before anything about the volunteer named:
	// a resident naming someone else learns nothing of them.
	if err := ledger.CheckID("volunteer", n.Volunteer); err != nil {
		return err
	}
	if by.Member != n.Volunteer && !by.Staff {
		return ledger.Errorf(ledger.CodeForbidden, "timebank: only the volunteer or a coordinator logs a service")
	}
	v, err := member(tx, n.Volunteer)
	if err != nil {
		return err
	}
	if err := volunteerIn(v, n.Community); err != nil {
		return err
	}
	return checkRecipient(tx, c, n)
}

func checkWhen(now, at time.Time) error {
	// The zero time (0001-01-01T00:00:00Z, or none given) is one more
	// time long ago, told as such.
	switch {
	case at.After(now.Add(MaxClockSkew)):
		return ledger.Errorf(CodeFutureOccurrence, "timebank: occurred_at is in the future")
	case at.Before(now.Add(-MaxBackdate)):
		return ledger.Errorf(ledger.CodeInvalidRequest, "timebank: occurred_at is more than %d days ago; older services are not logged", MaxBackdate/(24*time.Hour))
	}
	return nil
}

// checkRecipient resolves and checks the recipient kind. A member
// recipient is a member of the service community's district (the root of
// its tree): the recipient's confirmation pays the volunteer, and someone
// from an unrelated district — over whom nobody in this one has a say —
// must not be able to. Anyone else answers as unknown.
func checkRecipient(r ledger.Reader, c *community.Community, n *NewService) error {
	if err := ledger.CheckID("recipient", n.Recipient); err != nil {
		return err
	}
	if n.RecipientKind == "" {
		n.RecipientKind = RecipientMember
		if n.Recipient == n.Community {
			n.RecipientKind = RecipientCommunity
		}
	}
	switch n.RecipientKind {
	case RecipientMember:
		if n.Recipient == n.Volunteer {
			return ledger.Errorf(CodeSelfService, "timebank: a volunteer does not serve themself")
		}
		m, err := member(r, n.Recipient)
		if err != nil {
			return err
		}
		if home, err := communityOf(r, m.Community); err != nil || district(home) != district(c) {
			return ledger.Errorf(ledger.CodeNotFound, "timebank: member %s not found", truncate(n.Recipient, ledger.MaxIDLen))
		}
		return nil
	case RecipientCommunity:
		if n.Recipient != n.Community {
			return ledger.Errorf(ledger.CodeInvalidRequest, "timebank: a community recipient is the service's community")
		}
	case RecipientGroup:
		// A group's id is typed in when the service is logged, and the
		// chain keeps it: not someone's phone number (a volunteer serving
		// someone not registered might write it there).
		return ledger.CheckEntityID("recipient", n.Recipient)
	default:
		return ledger.Errorf(ledger.CodeInvalidRequest, "timebank: recipient_kind is member, group or community")
	}
	return nil
}

// span is a volunteer's logged time in the per-day index.
type span struct {
	Start int64 `json:"s"` // Unix ns
	Hours int64 `json:"h"`
}

func (sp span) end() int64 { return sp.Start + sp.Hours*int64(time.Hour)/100 }

func vdayKey(s *Service) string {
	return "tb/vday/" + s.Volunteer + "/" + dayKey(s.OccurredAt) + "/" + s.ID
}

// dayCheck refuses a record that takes its volunteer above MaxDailyHours
// in a day, and returns the records it overlaps. A day is a calendar day
// in DayZone, counted two ways: the hours of the records that start on
// it, and the time the records actually cover within it (so overlapping
// records reaching into a day from the one before count too). The days
// either side are read, since records of at most 24 h reach into them.
func dayCheck(r ledger.Reader, s *Service) ([]string, error) {
	me := span{Start: s.OccurredAt.UnixNano(), Hours: s.Hours}
	day := dayKey(s.OccurredAt)
	var total int64
	var overlaps []string
	spans := []span{me}
	for _, d := range []string{dayKey(s.OccurredAt.Add(-24 * time.Hour)), day, dayKey(s.OccurredAt.Add(24 * time.Hour))} {
		err := scan(r, "tb/vday/"+s.Volunteer+"/"+d+"/", "", MaxScan, func(id string, v []byte) (bool, error) {
			var sp span
			if err := json.Unmarshal(v, &sp); err != nil {
				return false, fmt.Errorf("timebank: day index of %s: %w", id, err)
			}
			if d == day {
				total += sp.Hours
			}
			if sp.Start < me.end() && me.Start < sp.end() {
				overlaps = append(overlaps, id)
			}
			spans = append(spans, sp)
			return true, nil
		})
		if err != nil {
			return nil, err
		}
	}
	tooMuch := func(on time.Time) error {
		return ledger.Errorf(CodeDailyLimitExceeded, "timebank: volunteer %s would log more than %s hours on %s",
			s.Volunteer, ledger.FormatAmount(MaxDailyHours, ledger.HOUR), on.In(DayZone).Format("2006-01-02"))
	}
	if total+s.Hours > MaxDailyHours {
		return nil, tooMuch(s.OccurredAt)
	}
	limit := MaxDailyHours * int64(time.Hour) / 100
	for _, at := range []int64{me.Start, me.end() - 1} {
		y, m, d := time.Unix(0, at).In(DayZone).Date()
		from := time.Date(y, m, d, 0, 0, 0, 0, DayZone).UnixNano()
		to := time.Date(y, m, d+1, 0, 0, 0, 0, DayZone).UnixNano()
		var covered int64
		for _, sp := range spans {
			covered += max(0, min(sp.end(), to)-max(sp.Start, from))
		}
		if covered > limit {
			return nil, tooMuch(time.Unix(0, at))
		}
	}
	return overlaps, nil
}

// decide checks who may confirm or reject s: the recipient or staff of
// its community, never the volunteer, even when staff, and not a
// volunteer acting for someone else (a coordinator who is also the
// volunteer, acting for the recipient).
func decide(tx ledger.Tx, s *Service, by Caller) error {
	if by.Member == s.Volunteer || tx.Actor().ID == s.Volunteer {
		return ledger.Errorf(CodeSelfConfirmation, "timebank: nobody confirms or rejects their own service")
	}
	if by.Staff || s.RecipientKind == RecipientMember && by.Member == s.Recipient {
		return nil
	}
	return ledger.Errorf(ledger.CodeForbidden, "timebank: only the recipient or a coordinator confirms or rejects a service")
}

// ConfirmService confirms a pending record and credits the volunteer per
// the community's policy ("service.confirm"). An overlapping record needs
// staff: a recipient may not know the volunteer claimed the same time
// elsewhere. Errors: not_found, forbidden, self_confirmation, not_pending,
// flagged_overlap, invalid_amount (weighted to nothing), and the
// transfer's errors (insufficient_funds past the recipient's credit limit).
func ConfirmService(tx ledger.Tx, by Caller, id, reason string) (*Service, error) {
	s, err := GetService(tx, id)
	if err != nil {
		return nil, err
	}
	if err := decide(tx, s, by); err != nil {
		return nil, err
	}
	// Nobody credits their own family's hours — staff in their own name or
	// for the recipient, nor a recipient (a coordinator logged as one
	// could otherwise credit a relative alone): someone else confirms. A
	// coordinator acting for the recipient has the recipient's rights and
	// none of their own, so the recipient's relation counts too.
	for _, who := range []string{tx.Actor().ID, tx.Actor().OnBehalf} {
		if err := community.NoConflict(tx, who, s.Volunteer, "confirming service hours"); err != nil {
			return nil, err
		}
	}
	if s.Status != StatusPending {
		return nil, ledger.Errorf(ledger.CodeNotPending, "timebank: service %s is %s, not pending", id, s.Status)
	}
	live, err := liveOverlaps(tx, s)
	if err != nil {
		return nil, err
	}
	if len(live) > 0 && !by.Staff {
		return nil, ledger.Errorf(CodeFlaggedOverlap, "timebank: service %s overlaps %v; a coordinator confirms it in their own name", id, live)
	}
	if err := checkReason(reason); err != nil {
		return nil, err
	}
	if err := credit(tx, s); err != nil {
		return nil, err
	}
	s.Status, s.DecidedBy, s.DecidedFor, s.Reason = StatusConfirmed, tx.Actor().ID, tx.Actor().OnBehalf, reason
	if err := saveConfirmed(tx, s); err != nil {
		return nil, err
	}
	tx.Audit("service.confirm", s.Fields())
	return s, nil
}

// liveOverlaps lists the records s was flagged against that still stand:
// one rejected since (a duplicate entry, a service that never happened),
// or whose credit was voided (its volunteer erased, or expired unsettled:
// a coordinator logs it again), no longer casts doubt on s.
func liveOverlaps(r ledger.Reader, s *Service) ([]string, error) {
	var live []string
	for _, id := range s.Overlaps {
		o, err := GetService(r, id)
		if err != nil {
			return nil, err
		}
		if o.Status != StatusRejected && o.Credit != CreditVoided {
			live = append(live, id)
		}
	}
	return live, nil
}

// credit pays the volunteer: under deposit (and for group or community
// recipients, who hold no account) from the community's issuance, under
// mutual credit from the recipient within their credit limit. With a
// settlement delay the credit is a hold that SettleTimer posts.
func credit(tx ledger.Tx, s *Service) error {
	c, err := communityOf(tx, s.Community)
	if err != nil {
		return err
	}
	s.Credits = s.Hours * c.Policy.Weight(s.Category) / 100 // weights round down to 0.01 h
	if s.Credits <= 0 {
		return ledger.Errorf(ledger.CodeInvalidAmount, "timebank: %s of %s earns nothing at its weight", ledger.FormatAmount(s.Hours, ledger.HOUR), s.Category)
	}
	payer, err := payerOf(tx, c, s)
	if err != nil {
		return err
	}
	v, err := member(tx, s.Volunteer)
	if err != nil {
		return err
	}
	mv, err := toMember(tx, payer, v, s.Credits)
	if err != nil {
		return err
	}
	delay := c.Policy.SettlementDelay
	var hold time.Duration
	if delay > 0 {
		hold = delay + SettleGrace
	}
	t, err := mv.commit(tx, "service", "service "+s.ID, hold)
	if err != nil {
		return err
	}
	s.Transaction, s.Credit, s.Overflow = t.ID, CreditPosted, mv.overflow
	if delay > 0 {
		s.Credit, s.SettlesAt = CreditHeld, tx.Now().Add(delay)
		return tx.Schedule(s.SettlesAt, TimerSettle, s.ID)
	}
	return nil
}

func payerOf(r ledger.Reader, c *community.Community, s *Service) (*ledger.Account, error) {
	if c.Policy.Earning == community.EarningMutualCredit && s.RecipientKind == RecipientMember {
		m, err := member(r, s.Recipient)
		if ledger.IsCode(err, ledger.CodeConflict) {
			return nil, ledger.Errorf(ledger.CodeConflict, "timebank: recipient %s was erased, and under mutual credit the recipient pays: this record cannot be credited; "+
				"reject it, and a coordinator may grant the volunteer pool credits instead", s.Recipient)
		}
		if err != nil {
			return nil, err
		}
		a, err := hourAccount(r, m)
		if err != nil {
			return nil, err
		}
		// A recipient from another community pays from credits earned:
		// their credit line is their own community's, whose members carry
		// it, and must not back what clearing then owes this community
		// (as for redemptions elsewhere).
		if m.Community != c.ID && a.Available() < s.Credits {
			return nil, ledger.Errorf(ledger.CodeInsufficientFunds, "timebank: %s has %s hours earned to pay for a service of another community (a credit limit applies only in their own)", m.ID, ledger.FormatAmount(max(a.Available(), 0), ledger.HOUR))
		}
		return a, nil
	}
	return r.Account(c.Accounts[community.AcctIssuance])
}

// repEntry is a confirmed record in the report index.
type repEntry struct {
	Volunteer string `json:"v"`
	Recipient string `json:"r"`
	Kind      string `json:"k"`
	By        string `json:"b"` // who confirmed (the member acted for)
	Category  string `json:"c"`
	Hours     int64  `json:"h"`
	Credits   int64  `json:"cr"`
	Held      bool   `json:"p,omitempty"`
	// Single: the person who confirmed it is the one who logged it (a
	// coordinator may do both; a collusion signal lists it).
	Single bool `json:"s,omitempty"`
	// Agent: a coordinator confirmed it for the recipient (By).
	Agent bool `json:"ag,omitempty"`
}

func repKey(s *Service) string {
	return "tb/rep/" + s.Community + "/" + dayKey(s.OccurredAt) + "/" + s.ID
}

// saveConfirmed stores a confirmed record and its report entry. Who
// confirmed it comes from the record (DecidedBy, DecidedFor), not from
// the transaction's actor: the settlement timer that posts a held credit
// later rewrites the entry, and must not name the system as the confirmer
// (the collusion signals read it).
func saveConfirmed(tx ledger.Tx, s *Service) error {
	if err := tx.PutDoc(KindService, s.ID, s); err != nil {
		return err
	}
	by := s.DecidedFor
	if by == "" {
		by = s.DecidedBy
	}
	return putJSON(tx, repKey(s), repEntry{Volunteer: s.Volunteer, Recipient: s.Recipient, Kind: s.RecipientKind,
		By: by, Category: s.Category, Hours: s.Hours, Credits: s.Credits, Held: s.Credit == CreditHeld,
		Single: s.DecidedBy == s.LoggedBy, Agent: s.DecidedFor != ""})
}

// RejectService rejects a pending record, or disputes a confirmed one
// whose credit is still held, voiding the hold ("service.reject"). A
// posted credit is corrected by staff alone: the rejection reverses it
// with a reversal naming the credit and the reason (which fails, writing
// nothing, if the volunteer's account cannot cover it: spent credits
// under no_overdraft, or past a mutual-credit limit).
// Errors: not_found, forbidden, self_confirmation, not_pending,
// wrong_state.
func RejectService(tx ledger.Tx, by Caller, id, reason string) (*Service, error) {
	s, err := GetService(tx, id)
	if err != nil {
		return nil, err
	}
	// The volunteer may withdraw a record of their own still pending (one
	// logged by mistake): it earns nothing, and a wrong one would block
	// their real record of the same hours as an overlap.
	own := tx.Actor().ID == s.Volunteer && tx.Actor().OnBehalf == ""
	withdrawn := own && s.Status == StatusPending
	if own && !withdrawn {
		return nil, ledger.Errorf(ledger.CodeNotPending, "timebank: service %s is %s; a volunteer withdraws only a pending record of their own (a confirmed credit is disputed by the recipient or corrected by a coordinator)", s.ID, s.Status)
	}
	if !withdrawn {
		if err := decide(tx, s, by); err != nil {
			return nil, err
		}
	}
	if err := checkReason(reason); err != nil {
		return nil, err
	}
	disputed, err := undo(tx, s, by, reason)
	if err != nil {
		return nil, err
	}
	if s.Status == StatusConfirmed {
		s.ConfirmedBy, s.ConfirmedFor, s.ConfirmReason = s.DecidedBy, s.DecidedFor, s.Reason
	}
	s.Status, s.DecidedBy, s.DecidedFor, s.Reason = StatusRejected, tx.Actor().ID, tx.Actor().OnBehalf, reason
	if err := tx.PutDoc(KindService, s.ID, s); err != nil {
		return nil, err
	}
	// A rejected record frees its volunteer's day.
	if err := tx.DeleteIndex(vdayKey(s)); err != nil {
		return nil, err
	}
	need, err := reopenNeed(tx, s)
	if err != nil {
		return nil, err
	}
	f := s.Fields()
	f["disputed"] = disputed
	if withdrawn {
		f["withdrawn"] = true
	}
	if need != nil {
		f["need_status"] = need.Status
	}
	withOptional(f, "settlement", s.Settlement)
	withOptional(f, "reversal", s.Reversal)
	tx.Audit("service.reject", f)
	return s, nil
}

// settlementStuck: the held credit cannot settle now — an account of its
// hold is frozen or closed, so the settlement timer fails and retries and
// the credit stays held (a second later too): staff then void it, as a
// dispute would (probe s22b: a freeze, the safeguard while a fraud is
// checked, left the suspect credit impossible to void).
func settlementStuck(r ledger.Reader, s *Service) bool {
	t, err := r.Transaction(s.Transaction)
	if err != nil {
		return false
	}
	for _, p := range t.Postings {
		for _, id := range []string{p.From, p.To} {
			if a, err := r.Account(id); err == nil && a.Status != ledger.StatusOpen {
				return true
			}
		}
	}
	return false
}

// undo voids a held credit (a dispute) and reports whether it did; staff
// reverse a posted one.
func undo(tx ledger.Tx, s *Service, by Caller, reason string) (bool, error) {
	switch {
	case s.Status == StatusPending:
		return false, nil
	case s.Status == StatusConfirmed && s.Credit == CreditHeld && !by.Staff && !tx.Now().Before(s.SettlesAt):
		// The dispute window closed at SettlesAt, whether or not the
		// settlement timer has posted the credit yet: the same answer as
		// after it has.
		return false, ledger.Errorf(CodeWrongState, "timebank: the dispute window of service %s closed at %s (its credit settles then); a coordinator corrects it", s.ID, s.SettlesAt.UTC().Format(time.RFC3339))
	case s.Status == StatusConfirmed && s.Credit == CreditHeld && by.Staff && !tx.Now().Before(s.SettlesAt) && !settlementStuck(tx, s):
		// Staff after the window, before the settlement timer's tick:
		// settle now, as the tick would, and reverse the posted credit —
		// the same outcome and record as a second later, not a dispute.
		t, err := postHoldDue(tx, s.Transaction, s.SettlesAt, "service "+s.ID+" settled")
		if err != nil {
			return false, err
		}
		s.Credit, s.Settlement = CreditPosted, t.ID
		if err := tx.Unschedule(s.SettlesAt, TimerSettle, s.ID); err != nil {
			return false, err
		}
		return undo(tx, s, by, reason)
	case s.Status == StatusConfirmed && s.Credit == CreditHeld:
		// The recipient disputing in the window is the dispute itself;
		// staff voiding it otherwise must not refund themselves or a
		// relative (the payer, where the recipient pays).
		asRecipient := s.RecipientKind == RecipientMember && by.Member == s.Recipient && tx.Now().Before(s.SettlesAt)
		// Acting for the recipient (代办) is staff at work too: not for a
		// relative (by.Member is then the recipient, the actor is staff).
		if (by.Staff && !asRecipient) || tx.Actor().OnBehalf != "" {
			if err := noConflictUndo(tx, s.Transaction); err != nil {
				return false, err
			}
		}
		v, err := ledger.VoidPending(tx, s.Transaction, settleMemo("service "+s.ID+" disputed", reason))
		if err != nil {
			return false, err
		}
		s.Credit, s.Settlement = CreditVoided, v.ID
		if err := tx.Unschedule(s.SettlesAt, TimerSettle, s.ID); err != nil {
			return false, err
		}
		return true, tx.DeleteIndex(repKey(s))
	case s.Status == StatusConfirmed && s.Credit == CreditPosted && by.Staff:
		if strings.TrimSpace(reason) == "" {
			return false, ledger.Errorf(ledger.CodeInvalidRequest, "timebank: reversing a posted credit needs a reason")
		}
		posted := s.Transaction
		if s.Settlement != "" {
			posted = s.Settlement // a held credit that settled: its post moved the credits
		}
		if err := noConflictUndo(tx, posted); err != nil {
			return false, err
		}
		// A credit paid across communities made one owe the other; its
		// reversal takes that back (the clearing legs run the other way).
		// A recipient erased since is refunded only towards zero.
		r, err := ReverseMove(tx, posted, settleMemo("service "+s.ID+" reversed", reason))
		if err != nil {
			return false, err
		}
		s.Credit, s.Reversal = CreditReversed, r.ID
		return false, tx.DeleteIndex(repKey(s))
	case s.Status == StatusConfirmed && s.Credit == CreditVoided:
		return false, ledger.Errorf(CodeWrongState, "timebank: the credit of service %s was voided (disputed, its volunteer erased, or expired unsettled): nothing is left to dispute or reverse", s.ID)
	case s.Status == StatusConfirmed && s.Credit == CreditReversed:
		return false, ledger.Errorf(CodeWrongState, "timebank: the credit of service %s was already reversed", s.ID)
	case s.Status == StatusConfirmed:
		return false, ledger.Errorf(CodeWrongState, "timebank: the credit of service %s is posted and can no longer be disputed; a coordinator reverses it", s.ID)
	}
	return false, ledger.Errorf(ledger.CodeNotPending, "timebank: service %s is %s", s.ID, s.Status)
}

// noConflictUndo refuses the caller undoing transaction id — a void or a
// reversal gives each payer back what it paid — when a payer is the
// caller or the caller's relative (the recipient, where the recipient
// pays): someone else corrects that credit.
func noConflictUndo(tx ledger.Tx, id string) error {
	t, err := tx.Transaction(id)
	if err != nil {
		return err
	}
	for _, p := range t.Postings {
		a, err := tx.Account(p.From)
		if err != nil {
			return err
		}
		if a.OwnerKind != ledger.OwnerMember {
			continue
		}
		if err := community.NoConflict(tx, tx.Actor().ID, a.Owner, "undoing a service credit that refunds it"); err != nil {
			return err
		}
	}
	return nil
}

// SettleTimer posts the held credit of service id when its settlement
// delay ends ("service.settle"). A record disputed, settled or gone by
// then leaves nothing to do, and no audit event — except a credit the
// ledger voided at its hold's deadline while its settlement kept failing
// (the volunteer's account frozen past SettleGrace): the record is marked
// voided and leaves the reports, which still counted it as held.
func SettleTimer(id string, at time.Time) ledger.Op {
	return func(tx ledger.Tx) (any, error) {
		s, err := GetService(tx, id)
		if err == nil && s.Status == StatusConfirmed && s.Credit == CreditVoided && s.SettlesAt.Equal(at) {
			if err := expiredCredit(tx, s); err != nil {
				return nil, err
			}
		}
		if err != nil || s.Status != StatusConfirmed || s.Credit != CreditHeld || !s.SettlesAt.Equal(at) {
			return nil, tx.Unschedule(at, TimerSettle, id)
		}
		if err := tx.Unschedule(at, TimerSettle, id); err != nil {
			return nil, err
		}
		hold, err := tx.Transaction(s.Transaction)
		if err != nil {
			return nil, err
		}
		// A volunteer (or, under mutual credit, a paying recipient) erased
		// during the window: their account is settled only towards zero
		// (community.ErasedAccountsSettle), so the credit is voided, not
		// posted into an account nobody can use or as a debt in their name.
		gone, err := community.ErasedOwner(tx, hold.Postings)
		if err != nil {
			return nil, err
		}
		if gone == "" {
			// A credit that all went to the pool (the volunteer at the
			// storage cap) touches no account of theirs: still theirs.
			if v, err := community.GetMember(tx, s.Volunteer); err != nil {
				return nil, err
			} else if v.Erased {
				gone = v.ID
			}
		}
		if gone != "" {
			v, err := ledger.VoidPending(tx, s.Transaction, "service "+s.ID+": member "+gone+" erased")
			if err != nil {
				return nil, err
			}
			s.Credit, s.Settlement = CreditVoided, v.ID
			if err := tx.PutDoc(KindService, s.ID, s); err != nil {
				return nil, err
			}
			if err := dropVoided(tx, s); err != nil {
				return nil, err
			}
			f := s.Fields()
			f["settlement"], f["erased"] = v.ID, gone
			tx.Audit("service.settle", f)
			return s, nil
		}
		t, err := postHoldDue(tx, s.Transaction, at, "service "+s.ID+" settled")
		if err != nil {
			return nil, err
		}
		s.Credit, s.Settlement = CreditPosted, t.ID
		if err := saveConfirmed(tx, s); err != nil {
			return nil, err
		}
		f := s.Fields()
		f["settlement"] = t.ID
		tx.Audit("service.settle", f)
		return s, nil
	}
}

// ListServices lists a community's records, oldest first, optionally only
// those with a status. Errors: not_found.
func ListServices(r ledger.Reader, c, status string, p ledger.Page) ([]*Service, string, error) {
	return listServices(r, "tb/svc/"+c+"/", status, p)
}

// ServiceStatuses are the states a services list may be filtered by.
var ServiceStatuses = []string{StatusPending, StatusConfirmed, StatusRejected}

// listServices pages through a service id index under prefix.
func listServices(r ledger.Reader, prefix, status string, p ledger.Page) ([]*Service, string, error) {
	if status != "" && !slices.Contains(ServiceStatuses, status) {
		return nil, "", ledger.Errorf(ledger.CodeInvalidRequest, "timebank: status is pending, confirmed or rejected")
	}
	return listDocs(r, prefix, p, func(id string) (*Service, bool, error) {
		s, err := GetService(r, id)
		if err != nil {
			return nil, false, err
		}
		return s, status == "" || s.Status == status, nil
	})
}

// listDocs pages through a per-community id index, loading and filtering
// each document; the page counts index entries so a filter that matches
// few cannot make one call read the whole index.
func listDocs[T any](r ledger.Reader, prefix string, p ledger.Page, load func(id string) (T, bool, error)) ([]T, string, error) {
	var out []T
	next, err := r.Index(prefix, p, func(_ string, v []byte) error {
		d, keep, err := load(string(v))
		if err == nil && keep {
			out = append(out, d)
		}
		return err
	})
	return out, next, err
}

// expiredCredit records a held credit the ledger voided at its deadline
// (GetService already reads it as voided; the stored record still says
// held): the record is saved as voided and its report entry removed, with
// a "service.settle" event naming the expiry.
func expiredCredit(tx ledger.Tx, s *Service) error {
	stored := &Service{}
	if err := tx.Doc(KindService, s.ID, stored); err != nil || stored.Credit != CreditHeld {
		return err // already recorded (a dispute, an erasure)
	}
	if err := tx.PutDoc(KindService, s.ID, s); err != nil {
		return err
	}
	if err := dropVoided(tx, s); err != nil {
		return err
	}
	f := s.Fields()
	f["settlement"], f["expired"] = s.Settlement, true
	tx.Audit("service.settle", f)
	return nil
}

// dropVoided takes a confirmed record whose held credit was voided by the
// ledger (expired unsettled, or its volunteer erased) out of the reports
// and out of its volunteer's day: it earned nothing, and a coordinator
// logging the service again must not meet it as the daily limit or an
// overlap (a rejected record frees its day the same way).
func dropVoided(tx ledger.Tx, s *Service) error {
	if err := tx.DeleteIndex(repKey(s)); err != nil {
		return err
	}
	return tx.DeleteIndex(vdayKey(s))
}

package fund

import (
	"time"

	"tally/ledger"
	"tally/ledger/community"
)

// Cast records a committee member's vote inside tx. The vote that reaches
// the quorum approves the proposal (and pays it at once when it has no
// objection window); the vote after which the quorum can no longer be
// reached rejects it and voids the hold. The one audit record is named
// after the outcome: "vote.cast", "proposal.approve", "proposal.pay" or
// "proposal.reject", and always carries the vote.
// Errors: not_found, proposal_closed, not_committee,
// proposer_cannot_vote, already_voted, conflict_of_interest,
// invalid_request.
func Cast(tx ledger.Tx, id, voter, decision, reason string) (*Proposal, error) {
	if decision != Approve && decision != Reject {
		return nil, ledger.Errorf(ledger.CodeInvalidRequest, "fund: decision must be approve or reject")
	}
	if err := ledger.CheckChainText("reason", reason, ledger.MaxMemoLen); err != nil {
		return nil, err
	}
	p, f, err := votable(tx, id, voter)
	if err != nil {
		return nil, err
	}
	if err := checkConflict(tx, p, voter); err != nil {
		return nil, err
	}
	v := Vote{Member: voter, Decision: decision, Reason: reason, Round: p.Round, Time: tx.Now(), Seq: tx.Seq()}
	p.Votes = append(p.Votes, v)
	fields := map[string]any{"vote": map[string]any{"member": voter, "decision": decision, "reason": reason, "round": int64(p.Round)}}
	return p, decide(tx, f, p, "vote.cast", fields)
}

// Recuse records a committee member's declared conflict of interest: they
// no longer count towards the quorum, in this round or later ones. When
// the quorum can no longer be reached the proposal is rejected
// ("proposal.reject"), otherwise "vote.recuse" is recorded. Errors:
// not_found, proposal_closed, not_committee, proposer_cannot_vote,
// already_voted, invalid_request.
func Recuse(tx ledger.Tx, id, member, reason string) (*Proposal, error) {
	if err := ledger.CheckChainText("reason", reason, ledger.MaxMemoLen); err != nil {
		return nil, err
	}
	p, f, err := votable(tx, id, member)
	if err != nil {
		return nil, err
	}
	p.Recusals = append(p.Recusals, Recusal{Member: member, Reason: reason, Time: tx.Now(), Seq: tx.Seq()})
	fields := map[string]any{"recusal": map[string]any{"member": member, "reason": reason}}
	return p, decide(tx, f, p, "vote.recuse", fields)
}

// votable loads a proposal open for votes and checks that member may
// take part in it.
func votable(tx ledger.Tx, id, member string) (*Proposal, *Fund, error) {
	p, err := GetProposal(tx, id)
	if err != nil {
		return nil, nil, err
	}
	f, err := Get(tx, p.Fund)
	if err != nil {
		return nil, nil, err
	}
	// Who may vote is checked before the proposal's state: someone who
	// may not vote learns nothing of it.
	switch {
	case !f.IsCommittee(member):
		return nil, nil, ledger.Errorf(CodeNotCommittee, "fund: %s is not on the committee of fund %s", member, f.ID)
	case !votingMember(tx, member):
		return nil, nil, ledger.Errorf(CodeNotCommittee, "fund: %s no longer holds the committee role", member)
	case member == p.Proposer:
		return nil, nil, ledger.Errorf(CodeProposerCannotVote, "fund: the proposer does not vote on their own proposal")
	case p.Status != StatusVoting:
		return nil, nil, ledger.Errorf(CodeProposalClosed, "fund: proposal %s is %s, not voting", id, p.Status)
	case !tx.Now().Before(p.Deadline):
		return nil, nil, ledger.Errorf(CodeProposalClosed, "fund: voting on proposal %s ended at %s", id, p.Deadline.Format(time.RFC3339))
	case p.voted(member) || p.recused(member):
		return nil, nil, ledger.Errorf(CodeAlreadyVoted, "fund: %s has already voted or recused on proposal %s", member, id)
	}
	// A committee change settled it and left the outcome to a timer
	// (more than MaxDecidedAtOnce settled at once): it is decided as of
	// the change, and a vote in the second before the timer records it
	// would be counted on a closed vote and named as its decision.
	if !p.DecideDue.IsZero() && settled(tx, f, p) {
		if due, err := tx.Scheduled(p.DecideDue, TimerDecide, p.ID); err != nil {
			return nil, nil, err
		} else if due {
			return nil, nil, ledger.Errorf(CodeProposalClosed, "fund: proposal %s was decided by the committee change of %s; its outcome is being recorded (read it again in a moment)",
				id, p.DecideDue.UTC().Format(time.RFC3339))
		}
	}
	return p, f, nil
}

// checkConflict refuses a vote by the beneficiary or a relative of the
// beneficiary (when the beneficiary's pseudonym is a member id), or by a
// relative of the proposer: they must recuse instead. Other conflicts are
// declared by the member.
func checkConflict(r ledger.Reader, p *Proposal, voter string) error {
	if voter == p.Beneficiary {
		return ledger.Errorf(CodeConflictOfInterest, "fund: the beneficiary must recuse")
	}
	v, err := community.GetMember(r, voter)
	if err != nil {
		return err
	}
	if b, err := community.GetMember(r, p.Beneficiary); err == nil && community.AreRelatives(v, b) {
		return ledger.Errorf(CodeConflictOfInterest, "fund: a relative of the beneficiary must recuse")
	}
	// A beneficiary that is the voter's id, or a relative's, but for case
	// names them all the same, a member registered under it or not.
	if community.NameConflict(v, p.Beneficiary, "") != nil {
		return ledger.Errorf(CodeConflictOfInterest, "fund: the beneficiary %s names %s or a relative (ids differ only in case): they must recuse", p.Beneficiary, voter)
	}
	if pr, err := community.GetMember(r, p.Proposer); err == nil && community.AreRelatives(v, pr) {
		return ledger.Errorf(CodeConflictOfInterest, "fund: a relative of the proposer must recuse")
	}
	return nil
}

// decide applies the quorum rule after a vote or recusal, saves p and
// records the op's one audit event.
func decide(tx ledger.Tx, f *Fund, p *Proposal, action string, fields map[string]any) error {
	decided, extra, err := outcome(tx, f, p)
	if err != nil {
		return err
	}
	if decided != "" {
		action = decided
	}
	for k, v := range fields {
		extra = setField(extra, k, v)
	}
	extra = setField(extra, "eligible", int64(p.Eligible(f)))
	return record(tx, p, action, extra)
}

// outcome applies the quorum rule to p as f's committee stands now: it
// approves (or pays) p when its approvals reach the quorum, rejects it
// when the quorum can no longer be reached, and returns the outcome's
// action and fields, or "" when p goes on voting. p is not saved.
func outcome(tx ledger.Tx, f *Fund, p *Proposal) (string, map[string]any, error) {
	return outcomeAt(tx, f, p, tx.Now())
}

// outcomeAt is outcome for a decision that fell due at asOf (a timer run
// late): an approval's objection window, or its payment, counts from then.
func outcomeAt(tx ledger.Tx, f *Fund, p *Proposal, asOf time.Time) (string, map[string]any, error) {
	// Relatives named since the proposal opened change who may vote:
	// eligibility is as of this vote, and a vote a conflict now bars is
	// void (also one a version before Void was kept left unmarked).
	voided := voidConflicted(tx, f, p)
	p.Conflicted = conflicted(tx, f, p)
	var (
		action string
		extra  map[string]any
		err    error
	)
	switch verdict(f, p) {
	case Approve:
		p.ended(tx, f)
		action, extra, err = approve(tx, p, asOf)
	case Reject:
		p.ended(tx, f)
		action, extra, err = reject(tx, p)
	}
	if err == nil && len(voided) > 0 {
		// Counted, not named: a vote's record is disclosed, and a void
		// names a voter and a family tie (the proposal's votes show it).
		extra = setField(extra, "votes_void", int64(len(voided)))
	}
	return action, extra, err
}

// verdict is the quorum rule on p with its Conflicted as they are:
// Approve when its approvals reach the quorum, Reject when they and the
// members who may still vote fall short of it, "" while it is open.
func verdict(f *Fund, p *Proposal) string {
	approvals, _ := p.Tally()
	switch {
	case approvals >= f.Quorum:
		return Approve
	case approvals+p.Waiting(f) < f.Quorum:
		return Reject
	}
	return ""
}

// settled reports whether outcome would decide p now, changing nothing.
func settled(r ledger.Reader, f *Fund, p *Proposal) bool {
	return verdict(f, judged(r, f, p)) != ""
}

func setField(m map[string]any, k string, v any) map[string]any {
	if m == nil {
		m = map[string]any{}
	}
	m[k] = v
	return m
}

// approve ends voting: with an objection window the proposal waits in
// approved until it ends; without one it is paid at once.
func approve(tx ledger.Tx, p *Proposal, asOf time.Time) (string, map[string]any, error) {
	if err := tx.Unschedule(p.Deadline, TimerDeadline, p.ID); err != nil {
		return "", nil, err
	}
	if p.ObjectionWindow == 0 {
		return pay(tx, p, asOf)
	}
	p.Status = StatusApproved
	p.WindowEnds = asOf.Add(p.ObjectionWindow)
	p.event(tx, "proposal.approve")
	if !p.WindowEnds.After(tx.Now()) {
		// Decided late (a timer run after an outage) with its window
		// already over: paid now, as the window's timer would have paid
		// it — in a later tick the ledger may have expired its hold.
		action, extra, err := pay(tx, p, p.WindowEnds)
		return action, setField(extra, "window_ends", p.WindowEnds.UnixNano()), err
	}
	if err := tx.Schedule(p.WindowEnds, TimerWindow, p.ID); err != nil {
		return "", nil, err
	}
	return "proposal.approve", map[string]any{"window_ends": p.WindowEnds.UnixNano()}, nil
}

// pay posts the hold: the money moves to the paid account.
// due is when the payment fell due (the objection window's end, or the
// approval without one): the server may have been stopped past the hold's
// deadline since, and the payment is judged as of then.
func pay(tx ledger.Tx, p *Proposal, due time.Time) (string, map[string]any, error) {
	t, err := ledger.PostPendingDue(tx, p.Hold, due, nil, "proposal "+p.ID)
	if err != nil {
		return "", nil, err
	}
	p.Status, p.Payment, p.Resolved = StatusPaid, t.ID, tx.Now()
	p.event(tx, "proposal.pay")
	return "proposal.pay", map[string]any{"payment_tx": ledger.TxFields(t)}, nil
}

// reject ends voting and gives the held amount back.
func reject(tx ledger.Tx, p *Proposal) (string, map[string]any, error) {
	if err := tx.Unschedule(p.Deadline, TimerDeadline, p.ID); err != nil {
		return "", nil, err
	}
	extra, err := finish(tx, p, StatusRejected, "proposal.reject")
	return "proposal.reject", extra, err
}

// finish voids the hold if it is still pending and ends the proposal.
func finish(tx ledger.Tx, p *Proposal, st Status, action string) (map[string]any, error) {
	extra := map[string]any{}
	t, err := voidIfPending(tx, p.Hold, "proposal "+p.ID+" "+string(st))
	if err != nil {
		return nil, err
	}
	if t != nil {
		extra["void_tx"] = ledger.TxFields(t)
	}
	p.Status, p.Resolved = st, tx.Now()
	p.event(tx, action)
	return extra, nil
}

// voidIfPending voids a hold, or returns nil if the ledger has already
// settled it (its own expiry ran first).
func voidIfPending(tx ledger.Tx, hold, memo string) (*ledger.Transaction, error) {
	t, err := ledger.VoidPending(tx, hold, memo)
	if ledger.IsCode(err, ledger.CodeNotPending) {
		return nil, nil
	}
	return t, err
}

// Object returns an approved proposal in its objection window to voting:
// a new round with a fresh voting period, the old votes kept but no
// longer counted, and the hold renewed (void and hold again in the same
// commit, so the money stays reserved) to outlive the new round. It
// records "proposal.object". Who may object (a committee member or a
// coordinator of the fund's community) is the caller's check.
// Each person objects at most once to a proposal. Errors: not_found,
// proposal_closed, limit_exceeded, conflict (objected already),
// invalid_request.
func Object(tx ledger.Tx, id, by, reason string) (*Proposal, error) {
	if err := ledger.CheckChainText("reason", reason, ledger.MaxMemoLen); err != nil {
		return nil, err
	}
	if ledger.Blank(reason) {
		return nil, ledger.Errorf(ledger.CodeInvalidRequest, "fund: an objection needs a reason")
	}
	p, err := objectable(tx, id)
	if err != nil {
		return nil, err
	}
	for _, o := range p.Objections {
		if o.By == by {
			// Each objection restarts the vote and renews the hold for a
			// new round: one person may not hold a proposal up alone.
			return nil, ledger.Errorf(ledger.CodeConflict, "fund: %s has objected to proposal %s already", by, id)
		}
	}
	f, err := Get(tx, p.Fund)
	if err != nil {
		return nil, err
	}
	p.Objections = append(p.Objections, Objection{By: by, Reason: reason, Time: tx.Now(), Seq: tx.Seq()})
	p.Round++
	p.Conflicted = conflicted(tx, f, p) // the new round's voters, as of now
	if p.Waiting(f) < f.Quorum {
		// The committee as it stands now (a role withdrawn, a member
		// erased or replaced since the approval) cannot reach the quorum
		// in a new round: the objection rejects the proposal at once.
		return p, objectRejects(tx, f, p, by, reason)
	}
	void, hold, err := renewHold(tx, f, p)
	if err != nil {
		return nil, err
	}
	p.WindowEnds = time.Time{}
	if err := startVoting(tx, p); err != nil {
		return nil, err
	}
	p.event(tx, "proposal.object")
	if err := saveProposal(tx, p); err != nil {
		return nil, err
	}
	fields := proposalFields(p)
	fields["objection"] = map[string]any{"by": by, "reason": reason}
	fields["void_tx"], fields["hold_tx"] = ledger.TxFields(void), ledger.TxFields(hold)
	tx.Audit("proposal.object", fields)
	return p, nil
}

// objectRejects ends a proposal an objection sent back to a vote that
// cannot reach its quorum: rejected, its hold voided, recorded as
// "proposal.object" with status rejected.
func objectRejects(tx ledger.Tx, f *Fund, p *Proposal, by, reason string) error {
	if err := tx.Unschedule(p.WindowEnds, TimerWindow, p.ID); err != nil {
		return err
	}
	p.WindowEnds = time.Time{}
	p.event(tx, "proposal.object")
	p.ended(tx, f)
	extra, err := finish(tx, p, StatusRejected, "proposal.reject")
	if err != nil {
		return err
	}
	extra["objection"] = map[string]any{"by": by, "reason": reason}
	return record(tx, p, "proposal.object", extra)
}

func objectable(tx ledger.Tx, id string) (*Proposal, error) {
	p, err := GetProposal(tx, id)
	if err != nil {
		return nil, err
	}
	if p.Status != StatusApproved || !tx.Now().Before(p.WindowEnds) {
		return nil, ledger.Errorf(CodeProposalClosed, "fund: proposal %s is not in its objection window", id)
	}
	if len(p.Objections) >= MaxObjections {
		return nil, ledger.Errorf(ledger.CodeLimitExceeded, "fund: a proposal takes at most %d objections", MaxObjections)
	}
	return p, nil
}

// renewHold replaces the proposal's hold by one of the same amount that
// lasts a new round; the window timer is cancelled.
func renewHold(tx ledger.Tx, f *Fund, p *Proposal) (void, hold *ledger.Transaction, err error) {
	if err := tx.Unschedule(p.WindowEnds, TimerWindow, p.ID); err != nil {
		return nil, nil, err
	}
	old, err := tx.Transaction(p.Hold)
	if err != nil {
		return nil, nil, err
	}
	if void, err = ledger.VoidPending(tx, p.Hold, "proposal "+p.ID+" objected"); err != nil {
		return nil, nil, err
	}
	if hold, err = holdAmount(tx, f, p, old.Postings[0].From); err != nil {
		return nil, nil, err
	}
	return void, hold, nil
}

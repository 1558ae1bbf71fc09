package fund

import (
	"encoding/hex"
	"slices"
	"strings"
	"time"

	"tally/ledger"
	"tally/ledger/community"
)

// Status of a proposal.
type Status string

const (
	StatusVoting   Status = "voting"
	StatusApproved Status = "approved" // in the objection window
	StatusPaid     Status = "paid"
	StatusRejected Status = "rejected"
	StatusExpired  Status = "expired"
)

// Vote decisions.
const (
	Approve = "approve"
	Reject  = "reject"
)

// Vote is one committee member's decision in one round. An objection
// starts a new round; only the current round's votes count.
type Vote struct {
	Member   string    `json:"member"`
	Decision string    `json:"decision"`
	Reason   string    `json:"reason,omitempty"`
	Round    int       `json:"round"`
	Time     time.Time `json:"time"`
	Seq      uint64    `json:"seq"`
	// Void: a conflict of interest registered after the vote (the
	// beneficiary named the voter's relative) took it back for good; it
	// counts for nothing, and the member votes again only once the
	// conflict is gone (voidConflicted).
	Void bool `json:"void,omitempty"`
}

// Recusal is a committee member's declared conflict of interest; it holds
// for every round.
type Recusal struct {
	Member string    `json:"member"`
	Reason string    `json:"reason,omitempty"`
	Time   time.Time `json:"time"`
	Seq    uint64    `json:"seq"`
}

// Objection returns an approved proposal to voting during its window.
type Objection struct {
	By     string    `json:"by"`
	Reason string    `json:"reason"`
	Time   time.Time `json:"time"`
	Seq    uint64    `json:"seq"`
}

// Event is one change of a proposal's status, with the audit record that
// made it: what the public page lists with a receipt.
type Event struct {
	Action string    `json:"action"`
	Time   time.Time `json:"time"`
	Seq    uint64    `json:"seq"`
	// Withheld: the record is a member's change that decided the proposal
	// (a committee role withdrawn, relatives named, an erasure); it names
	// members' roles and family ties, so it is not disclosed and the
	// public sees the event without a receipt.
	Withheld bool `json:"withheld,omitempty"`
}

// Proposal is a disbursement proposal. Its amount is held (Hold, a
// pending transaction from the fund or project account to the paid
// account) from creation until it is paid (Payment posts the hold) or
// rejected or expired (the hold is voided).
type Proposal struct {
	ID          string    `json:"id"`
	Fund        string    `json:"fund"`
	Project     string    `json:"project,omitempty"`
	Amount      int64     `json:"amount"` // fen
	Beneficiary string    `json:"beneficiary"`
	Purpose     string    `json:"purpose"`
	Evidence    []string  `json:"evidence,omitempty"` // hex SHA-256 of documents
	Proposer    string    `json:"proposer"`
	Status      Status    `json:"status"`
	Round       int       `json:"round"`
	Votes       []Vote    `json:"votes,omitempty"`
	Recusals    []Recusal `json:"recusals,omitempty"`
	// Conflicted are the committee members who may not vote on it (the
	// beneficiary and the beneficiary's or proposer's relatives, and
	// members whose committee role was withdrawn or who were erased, as of
	// the last vote): they do not count towards reaching the quorum.
	Conflicted      []string      `json:"conflicted,omitempty"`
	Objections      []Objection   `json:"objections,omitempty"`
	Events          []Event       `json:"events"`
	VotingPeriod    time.Duration `json:"voting_period"`
	ObjectionWindow time.Duration `json:"objection_window,omitempty"`
	Deadline        time.Time     `json:"deadline"`
	WindowEnds      time.Time     `json:"window_ends,omitzero"`
	Hold            string        `json:"hold"`
	Payment         string        `json:"payment,omitempty"`
	Created         time.Time     `json:"created"`
	Resolved        time.Time     `json:"resolved,omitzero"` // paid, rejected or expired
	// DecideDue is when a committee change settled it and left the
	// outcome to a TimerDecide (more than MaxDecidedAtOnce settled at
	// once): the outcome is judged as of then, also by the deadline's
	// timer should it run first.
	DecideDue time.Time `json:"decide_due,omitzero"`
	Seq       uint64    `json:"seq"`
	// DecidedQuorum and DecidedEligible are the quorum and the eligible
	// voters when voting last ended (approved, rejected or expired): a
	// later committee change does not rewrite how it was decided.
	DecidedQuorum   int `json:"decided_quorum,omitempty"`
	DecidedEligible int `json:"decided_eligible,omitempty"`
}

// QuorumOf returns the quorum and the eligible voters to show with p: as
// they stood when its voting ended, or, while it votes, as they stand now.
func (p *Proposal) QuorumOf(f *Fund) (quorum, eligible int) {
	if p.Status != StatusVoting && p.DecidedQuorum > 0 {
		return p.DecidedQuorum, p.DecidedEligible
	}
	return f.Quorum, p.Eligible(f)
}

// ended notes the quorum and eligible voters as voting ends, who may
// vote judged as of now (a role withdrawn since the last vote: the
// eligible voters it shows from now on; review s26R3). Votes are not
// voided here (voidConflicted): an expiry counts what was cast.
func (p *Proposal) ended(r ledger.Reader, f *Fund) {
	p.Conflicted = conflicted(r, f, p)
	p.DecidedQuorum, p.DecidedEligible = f.Quorum, p.Eligible(f)
}

// Tally counts the current round's approvals and rejections, void votes
// left out.
func (p *Proposal) Tally() (approvals, rejections int) {
	for _, v := range p.Votes {
		if v.Round != p.Round || v.Void {
			continue
		}
		if v.Decision == Approve {
			approvals++
		} else {
			rejections++
		}
	}
	return approvals, rejections
}

// Eligible counts the committee members who may vote: all but the
// proposer and those who recused.
func (p *Proposal) Eligible(f *Fund) int {
	n := 0
	for _, m := range f.Committee {
		if p.mayVote(m) {
			n++
		}
	}
	return n
}

// mayVote: committee member m counts towards the quorum (not the
// proposer, not recused, not conflicted).
func (p *Proposal) mayVote(m string) bool {
	return m != p.Proposer && !p.recused(m) && !slices.Contains(p.Conflicted, m)
}

// Waiting counts the committee members who may still vote in this round:
// eligible (Eligible) and not voted yet. A proposal whose approvals and
// waiting voters together fall short of the quorum is rejected: votes
// cast by members no longer on the committee stand, but their rejections
// take nothing away from what the present committee can still approve.
func (p *Proposal) Waiting(f *Fund) int {
	n := 0
	for _, m := range f.Committee {
		if p.mayVote(m) && !p.voted(m) {
			n++
		}
	}
	return n
}

// conflicted lists the committee members who may not vote on p now (the
// beneficiary, the beneficiary's or the proposer's relatives, and those
// whose committee role was withdrawn or who were erased), except those
// who voted before: their vote stands, unless a conflict of interest
// found since voided it (voidConflicted).
func conflicted(r ledger.Reader, f *Fund, p *Proposal) []string {
	var out []string
	for _, m := range f.Committee {
		if m != p.Proposer && !p.voted(m) && (checkConflict(r, p, m) != nil || !votingMember(r, m)) {
			out = append(out, m)
		}
	}
	return out
}

// voidConflicted takes back, for good, this round's votes of committee
// members a conflict of interest now bars (a member with a conflict must
// recuse, SPEC §5; probe s26f: a vote cast before the beneficiary was
// registered as the voter's relative still counted), and returns who
// they were. Persisted on the vote, so that neither a later committee
// replacement nor the link dropped again gives it back (review s26R2):
// once the conflict is gone the member may vote again.
func voidConflicted(r ledger.Reader, f *Fund, p *Proposal) []string {
	var out []string
	for i := range p.Votes {
		v := &p.Votes[i]
		if v.Round == p.Round && !v.Void && f.IsCommittee(v.Member) && ledger.IsCode(checkConflict(r, p, v.Member), CodeConflictOfInterest) {
			v.Void = true
			out = append(out, v.Member)
		}
	}
	return out
}

// Current returns p as a view should show it now: while it is voting,
// who may vote is judged as of now (a role withdrawn, a relative named or
// the committee replaced since its last vote), as its next vote would.
// Nothing is saved.
func Current(r ledger.Reader, f *Fund, p *Proposal) *Proposal {
	if p.Status != StatusVoting {
		return p
	}
	return judged(r, f, p)
}

// judged returns a copy of p judged as its next decision would judge it:
// votes a conflict now bars void, and who may vote as of now. Nothing is
// saved, and p is not changed.
func judged(r ledger.Reader, f *Fund, p *Proposal) *Proposal {
	q := *p
	q.Votes = slices.Clone(p.Votes)
	voidConflicted(r, f, &q)
	q.Conflicted = conflicted(r, f, &q)
	return &q
}

// Inactive lists the members of f's committee who cannot vote now: their
// committee role withdrawn, or erased (they count towards no quorum until
// the committee is replaced).
func Inactive(r ledger.Reader, f *Fund) []string {
	var out []string
	for _, m := range f.Committee {
		if !votingMember(r, m) {
			out = append(out, m)
		}
	}
	return out
}

// votingMember: m holds the committee role and was not erased (what a
// withdrawal of the role or an erasure takes away at once).
func votingMember(r ledger.Reader, id string) bool {
	m, err := community.GetMember(r, id)
	return err == nil && !m.Erased && m.Has(community.RoleCommittee)
}

func (p *Proposal) recused(member string) bool {
	for _, r := range p.Recusals {
		if r.Member == member {
			return true
		}
	}
	return false
}

func (p *Proposal) voted(member string) bool {
	for _, v := range p.Votes {
		if v.Round == p.Round && v.Member == member && !v.Void {
			return true
		}
	}
	return false
}

// GetProposal returns a proposal or not_found.
func GetProposal(r ledger.Reader, id string) (*Proposal, error) {
	return ledger.GetDoc[Proposal](r, KindProposal, "fund: proposal", id)
}

// Proposals lists one page of a fund's proposals in creation order
// (newest first with p.Reverse) and the next cursor.
func Proposals(r ledger.Reader, fund string, pg ledger.Page) ([]*Proposal, string, error) {
	var out []*Proposal
	next, err := r.Index(indexPrefix(fund)+idxProposal+"/", pg, func(_ string, id []byte) error {
		p, err := GetProposal(r, string(id))
		if err != nil {
			return err
		}
		out = append(out, p)
		return nil
	})
	return out, next, err
}

// NewProposal describes a disbursement proposal. Deadline, when set,
// overrides VotingPeriod; a zero VotingPeriod takes DefaultVotingPeriod; a
// zero ObjectionWindow pays at approval.
type NewProposal struct {
	Fund            string
	Project         string
	Amount          int64
	Beneficiary     string
	Purpose         string
	Evidence        []string
	Proposer        string
	Deadline        time.Time
	VotingPeriod    time.Duration
	ObjectionWindow time.Duration
	// NoObjectionWindow: a zero ObjectionWindow was asked for, not left
	// to the fund's (refused where the fund has one).
	NoObjectionWindow bool
}

// Propose records a proposal inside tx, holds its amount from the fund's
// unrestricted account (or the project's), starts its voting deadline,
// and records "proposal.create". A project's money pays only that
// project's proposals, unrestricted money only unrestricted ones.
// Errors: conflict_of_interest (a payment to the proposer or a relative),
// not_found (fund, project), invalid_id, invalid_request,
// invalid_amount, quorum_unreachable, insufficient_funds,
// restricted_funds (enough money, but restricted to other purposes), and
// ledger.Transfer's errors.
func Propose(tx ledger.Tx, n NewProposal) (*Proposal, error) {
	if b, err := community.GetMember(tx, n.Beneficiary); err == nil {
		// A beneficiary may be a pseudonym; one that names a member names
		// one who was not erased.
		if err := community.NotErased(b); err != nil {
			return nil, err
		}
	}
	// The proposer is held to the voters' rule: no payment to themself or
	// a relative.
	if n.Proposer != "" && ledger.IsCode(checkConflict(tx, &Proposal{Beneficiary: n.Beneficiary}, n.Proposer), CodeConflictOfInterest) {
		return nil, ledger.Errorf(CodeConflictOfInterest, "fund: nobody proposes a payment to themself or a relative")
	}
	f, err := Get(tx, n.Fund)
	if err != nil {
		return nil, err
	}
	if err := n.check(tx.Now()); err != nil {
		return nil, err
	}
	// The fund's objection window is the least a proposal gets: the
	// proposer may lengthen the public's say, not skip it.
	switch {
	case n.ObjectionWindow == 0 && !n.NoObjectionWindow:
		n.ObjectionWindow = f.ObjectionWindow
	case n.ObjectionWindow < f.ObjectionWindow:
		return nil, ledger.Errorf(ledger.CodeInvalidRequest, "fund: fund %s gives every proposal an objection window of at least %s", f.ID, f.ObjectionWindow)
	}
	if n.Project != "" {
		// As a donation naming it would be (probe s25e: a project id
		// too long for any project was not_found here, invalid_id there).
		if err := checkProjectID(n.Project); err != nil {
			return nil, err
		}
	}
	source, err := f.Source(n.Project)
	if err != nil {
		return nil, err
	}
	p := &Proposal{ID: tx.NewID("prop"), Fund: f.ID, Project: n.Project, Amount: n.Amount, Beneficiary: n.Beneficiary,
		Purpose: n.Purpose, Evidence: n.Evidence, Proposer: n.Proposer, Status: StatusVoting, Round: 1,
		VotingPeriod: n.VotingPeriod, ObjectionWindow: n.ObjectionWindow, Created: tx.Now(), Seq: tx.Seq()}
	p.Conflicted = conflicted(tx, f, p)
	if e := p.Eligible(f); e < f.Quorum {
		return nil, ledger.Errorf(CodeQuorumUnreachable, "fund: %d eligible voters cannot reach the quorum of %d", e, f.Quorum)
	}
	hold, err := holdAmount(tx, f, p, source)
	if err != nil {
		return nil, err
	}
	if err := startVoting(tx, p); err != nil {
		return nil, err
	}
	p.event(tx, "proposal.create")
	if err := saveNewProposal(tx, f, p); err != nil {
		return nil, err
	}
	fields := proposalFields(p)
	fields["hold_tx"] = ledger.TxFields(hold)
	tx.Audit("proposal.create", fields)
	return p, nil
}

// check validates a proposal's fields and settles its voting period.
func (n *NewProposal) check(now time.Time) error {
	if err := ledger.CheckPseudonym("beneficiary", n.Beneficiary); err != nil {
		return err
	}
	if strings.EqualFold(n.Beneficiary, ledger.SystemActor.ID) {
		return ledger.Errorf(ledger.CodeInvalidID, "beneficiary %q is reserved for the ledger itself: the public page would show the ledger as paid", n.Beneficiary)
	}
	if err := ledger.CheckID("proposer", n.Proposer); err != nil {
		return err
	}
	if n.Amount <= 0 || n.Amount > ledger.MaxAmountMinor {
		return ledger.Errorf(ledger.CodeInvalidAmount, "fund: amount out of range")
	}
	if err := ledger.CheckChainText("purpose", n.Purpose, ledger.MaxMemoLen); err != nil {
		return err
	}
	if ledger.Blank(n.Purpose) {
		return ledger.Errorf(ledger.CodeInvalidRequest, "fund: purpose is required")
	}
	if err := checkEvidence(n.Evidence); err != nil {
		return err
	}
	for i, h := range n.Evidence {
		// One spelling of a digest, each document once.
		n.Evidence[i] = strings.ToLower(h)
		if slices.Contains(n.Evidence[:i], n.Evidence[i]) {
			return ledger.Errorf(ledger.CodeInvalidRequest, "fund: evidence %s is listed twice", n.Evidence[i])
		}
	}
	return n.checkTimes(now)
}

func (n *NewProposal) checkTimes(now time.Time) error {
	if !n.Deadline.IsZero() {
		n.VotingPeriod = n.Deadline.Sub(now)
	}
	if n.VotingPeriod == 0 {
		n.VotingPeriod = DefaultVotingPeriod
	}
	if n.VotingPeriod < MinVotingPeriod || n.VotingPeriod > MaxVotingPeriod {
		return ledger.Errorf(ledger.CodeInvalidRequest, "fund: voting must last between %s and %s", MinVotingPeriod, MaxVotingPeriod)
	}
	return checkObjectionWindow(n.ObjectionWindow)
}

// sha256HexLen is the length of a hex SHA-256 digest.
const sha256HexLen = 64

func checkEvidence(ev []string) error {
	if len(ev) > MaxEvidence {
		return ledger.Errorf(ledger.CodeLimitExceeded, "fund: at most %d evidence hashes", MaxEvidence)
	}
	for _, h := range ev {
		if _, err := hex.DecodeString(h); err != nil || len(h) != sha256HexLen {
			return ledger.Errorf(ledger.CodeInvalidRequest, "fund: evidence must be hex SHA-256 digests")
		}
	}
	return nil
}

// holdAmount holds the proposal's amount from source to the paid account
// until the voting period and window have passed, with HoldGrace to spare.
func holdAmount(tx ledger.Tx, f *Fund, p *Proposal, source string) (*ledger.Transaction, error) {
	t, err := ledger.Transfer(tx, ledger.TransferSpec{Kind: "disbursement", Memo: "proposal " + p.ID, Pending: true,
		Timeout:  p.VotingPeriod + p.ObjectionWindow + HoldGrace,
		Postings: []ledger.Posting{{From: source, To: f.Accounts[AcctPaid], Amount: p.Amount, Unit: ledger.CNY}}})
	if ledger.IsCode(err, ledger.CodeInsufficientFunds) && restrictedElsewhere(tx, f, p.Amount) {
		if p.Project != "" {
			return nil, ledger.Errorf(CodeRestrictedFunds, "fund: project %s of fund %s is short; a project's proposal is paid only from money given to that project, not from unrestricted money or other projects'", p.Project, f.ID)
		}
		return nil, ledger.Errorf(CodeRestrictedFunds, "fund: the unrestricted money of fund %s is short; the fund holds enough only counting money given to its projects, which pays only their proposals", f.ID)
	}
	if ledger.IsCode(err, ledger.CodeInsufficientFunds) {
		// Said as the fund's money, not as the account that holds it
		// (probe s27i: "account cf:balance has …" read as the whole fund).
		what := "the unrestricted money of fund " + f.ID
		if p.Project != "" {
			what = "project " + p.Project + " of fund " + f.ID
		}
		var avail int64
		if a, aerr := tx.Account(source); aerr == nil {
			avail = max(a.Available(), 0)
		}
		return nil, ledger.Errorf(ledger.CodeInsufficientFunds, "fund: %s has %s available", what, ledger.FormatAmount(avail, ledger.CNY))
	}
	if err != nil {
		return nil, err
	}
	p.Hold = t.ID
	return t, nil
}

// restrictedElsewhere reports whether the fund's accounts together have
// amount available.
func restrictedElsewhere(r ledger.Reader, f *Fund, amount int64) bool {
	var total int64
	for _, id := range f.Spendable() {
		if a, err := r.Account(id); err == nil && a.Available() > 0 {
			total += a.Available()
		}
	}
	return total >= amount
}

// startVoting opens a round that ends at now + the voting period.
func startVoting(tx ledger.Tx, p *Proposal) error {
	p.Status = StatusVoting
	p.Deadline = tx.Now().Add(p.VotingPeriod)
	return tx.Schedule(p.Deadline, TimerDeadline, p.ID)
}

func (p *Proposal) event(tx ledger.Tx, action string) {
	p.Events = append(p.Events, Event{Action: action, Time: tx.Now(), Seq: tx.Seq()})
}

func saveNewProposal(tx ledger.Tx, f *Fund, p *Proposal) error {
	if err := tx.PutIndex(indexKey(f.ID, idxProposal, p.Seq), []byte(p.ID)); err != nil {
		return err
	}
	return saveProposal(tx, p)
}

// saveProposal stores p and, when this op changed its status, marks the
// record as disclosed.
func saveProposal(tx ledger.Tx, p *Proposal) error {
	if err := tx.PutDoc(KindProposal, p.ID, p); err != nil {
		return err
	}
	if e := p.Events; len(e) > 0 && e[len(e)-1].Seq == tx.Seq() && !e[len(e)-1].Withheld {
		return disclose(tx, p.Fund)
	}
	return nil
}

func proposalFields(p *Proposal) map[string]any {
	approvals, rejections := p.Tally()
	m := map[string]any{"id": p.ID, "fund": p.Fund, "project": p.Project, "amount": p.Amount, "unit": string(ledger.CNY),
		"beneficiary": p.Beneficiary, "purpose": p.Purpose, "evidence": p.Evidence, "proposer": p.Proposer,
		"status": string(p.Status), "round": int64(p.Round), "approvals": int64(approvals), "rejections": int64(rejections),
		"deadline": p.Deadline.UnixNano(), "objection_window_s": int64(p.ObjectionWindow / time.Second), "hold": p.Hold}
	if p.Evidence == nil {
		m["evidence"] = []string{}
	}
	return m
}

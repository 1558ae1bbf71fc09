// Package fund is the community fund (社区基金, shared/SPEC.md §5): funds
// owned by a community with a committee and a quorum, restricted projects
// (定向) each with its own CNY account, donations, disbursement proposals
// whose amount is held at once, committee votes with recusal, an optional
// objection window (公示期) before payment, and the figures the public page
// and the fund report show.
//
// Every function that changes state runs inside a ledger.Op and records
// exactly one audit event; people are named by opaque ids only.
package fund

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"tally/ledger"
	"tally/ledger/community"
)

// Error codes of the fund workflows. The api maps them to HTTP statuses.
const (
	// CodeNotCommittee: the voter is not on the fund's committee.
	CodeNotCommittee ledger.Code = "not_committee"
	// CodeProposerCannotVote: the proposer votes on their own proposal.
	CodeProposerCannotVote ledger.Code = "proposer_cannot_vote"
	// CodeAlreadyVoted: one vote (or recusal) per member per round.
	CodeAlreadyVoted ledger.Code = "already_voted"
	// CodeConflictOfInterest: the voter is the beneficiary or a relative
	// of the beneficiary and must recuse.
	CodeConflictOfInterest = ledger.CodeConflictOfInterest
	// CodeProposalClosed: the proposal is not in a state that takes this
	// (a vote after the decision, an objection outside the window).
	CodeProposalClosed ledger.Code = "proposal_closed"
	// CodeRestrictedFunds: the fund holds enough, but only as money
	// restricted to other projects, which this proposal may not spend.
	CodeRestrictedFunds ledger.Code = "restricted_funds"
	// CodeQuorumUnreachable: fewer eligible voters than the quorum.
	CodeQuorumUnreachable ledger.Code = "quorum_unreachable"
)

// Limits of the fund workflows.
const (
	// MaxCommittee bounds the committee of a fund.
	MaxCommittee = 25
	// MaxProjects bounds the restricted projects of a fund.
	MaxProjects = 64
	// MaxProjectIDLen keeps "<fund>:proj.<project>" within
	// ledger.MaxAccountIDLen (64 + 6 + 24 = 94 ≤ 96).
	MaxProjectIDLen = 24
	// MaxEvidence bounds the evidence document hashes of a proposal.
	MaxEvidence = 16
	// DefaultVotingPeriod applies when a proposal names no deadline.
	DefaultVotingPeriod = 7 * 24 * time.Hour
	// MinVotingPeriod and MaxVotingPeriod bound a proposal's voting time.
	MinVotingPeriod = time.Hour
	MaxVotingPeriod = 90 * 24 * time.Hour
	// MaxObjectionWindow bounds the objection window (公示期); zero means
	// no window: approval pays at once.
	MinObjectionWindow = time.Hour
	MaxObjectionWindow = 30 * 24 * time.Hour
	// HoldGrace is how much longer a proposal's hold lives than its
	// voting period and objection window, so that the fund's own timers,
	// not the ledger's hold expiry, decide the outcome.
	HoldGrace = 7 * 24 * time.Hour
	// MaxObjections bounds the rounds an objection can restart, so a
	// proposal cannot be kept open for ever.
	MaxObjections = 3
	// MaxReportScan bounds the documents one report reads.
	MaxReportScan = 1_000_000
)

// A proposal's hold must fit the ledger's bound: this constant does not
// compile if the limits above outgrow ledger.MaxHoldTimeout.
const _ = uint64(ledger.MaxHoldTimeout - (MaxVotingPeriod + MaxObjectionWindow + HoldGrace))

// Document kinds and timer kinds.
const (
	KindFund     = "fund"
	KindDonation = "fund.donation"
	KindProposal = "fund.proposal"
	// TimerDeadline ends voting (→ expired); TimerWindow ends the
	// objection window (→ paid).
	TimerDeadline = "fund.deadline"
	TimerWindow   = "fund.window"
	// TimerDecide applies the quorum rule to a proposal that a committee
	// change settled beyond MaxDecidedAtOnce.
	TimerDecide = "fund.decide"
)

// MaxDecidedAtOnce bounds the open proposals a committee change (or a
// committee member's role withdrawn, or erased) decides in its own commit;
// any more it settles are decided by a TimerDecide each, one commit per
// proposal, within a second or so: hundreds of payments in one commit
// would pass the batch and record limits and refuse the change itself.
const MaxDecidedAtOnce = 32

// Account suffixes of a fund.
const (
	// AcctBalance holds unrestricted money.
	AcctBalance = "balance"
	// AcctDonations is the external source of donations (GuardNone): its
	// negative balance is everything ever donated.
	AcctDonations = "donations"
	// AcctPaid is the sink of disbursements: its balance is everything
	// ever paid out.
	AcctPaid = "paid"
	// projectPrefix prefixes a project's account suffix.
	projectPrefix = "proj."
	// Unrestricted names unrestricted money where projects are listed
	// (reports); no project may take this id.
	Unrestricted = "unrestricted"
)

// Project is a restricted purpose (定向) with its own account.
type Project struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Account string `json:"account"`
}

// Fund is a community fund. Committee members are member ids.
type Fund struct {
	ID        string             `json:"id"`
	Community string             `json:"community"`
	Name      string             `json:"name"`
	Committee []string           `json:"committee"`
	Quorum    int                `json:"quorum"`
	Projects  map[string]Project `json:"projects"`
	Accounts  map[string]string  `json:"accounts"` // balance, donations, paid
	// ObjectionWindow: every proposal's objection period is at least this.
	ObjectionWindow time.Duration `json:"objection_window,omitempty"`
	Receipts        int64         `json:"receipts"` // donations recorded: the last receipt number
	Created         time.Time     `json:"created"`
	Seq             uint64        `json:"seq"`
	// ReversalsIndexed: every reversal of the fund's donations is in the
	// index fund/<id>/r/<seq>, so a report finds those of a period without
	// reading every donation. Funds created before the index was kept
	// lack it (their reports read every donation).
	ReversalsIndexed bool `json:"reversals_indexed,omitempty"`
}

// IsCommittee reports whether member sits on the fund's committee.
func (f *Fund) IsCommittee(member string) bool { return slices.Contains(f.Committee, member) }

// Source returns the account a proposal for project ("" = unrestricted)
// spends from, or not_found for an unknown project.
func (f *Fund) Source(project string) (string, error) {
	if project == "" {
		return f.Accounts[AcctBalance], nil
	}
	p, ok := f.Projects[project]
	if !ok {
		return "", ledger.Errorf(ledger.CodeNotFound, "fund: project %s not found in fund %s", project, f.ID)
	}
	return p.Account, nil
}

// Spendable lists every account holding the fund's money: unrestricted
// first, then the projects.
func (f *Fund) Spendable() []string {
	out := []string{f.Accounts[AcctBalance]}
	for _, id := range slices.Sorted(maps.Keys(f.Projects)) {
		out = append(out, f.Projects[id].Account)
	}
	return out
}

// Get returns a fund or not_found.
func Get(r ledger.Reader, id string) (*Fund, error) {
	return ledger.GetDoc[Fund](r, KindFund, "fund: fund", id)
}

// NewProject describes a restricted project.
type NewProject struct {
	ID   string
	Name string
}

// NewFund describes a fund to create.
type NewFund struct {
	ID        string
	Community string
	Name      string
	Committee []string
	Quorum    int
	Projects  []NewProject
	// ObjectionWindow is the fund's public objection period (公示期)
	// after an approval: 0 (none) or MinObjectionWindow to
	// MaxObjectionWindow. A proposal may ask for a longer one, never a
	// shorter, so the proposer cannot skip the public's say.
	ObjectionWindow time.Duration
}

// Create opens a fund with its CNY accounts and projects inside tx and
// records "fund.create". Committee members must be registered members
// (being on the committee is what lets them vote; the committee role is
// descriptive) whose community contains, or lies inside, the fund's
// community (a street-level committee may oversee a community's
// fund). Errors: invalid_id, invalid_request, not_found (community,
// member), already_exists, limit_exceeded.
func Create(tx ledger.Tx, n NewFund) (*Fund, error) {
	if err := checkName(n.Name); err != nil {
		return nil, err
	}
	c, err := community.Get(tx, n.Community)
	if err != nil {
		return nil, ledger.Errorf(ledger.CodeNotFound, "fund: community %s not found", n.Community)
	}
	if err := checkCommittee(tx, c, n.Committee, n.Quorum); err != nil {
		return nil, err
	}
	if err := checkObjectionWindow(n.ObjectionWindow); err != nil {
		return nil, err
	}
	if len(n.Projects) > MaxProjects {
		return nil, ledger.Errorf(ledger.CodeLimitExceeded, "fund: at most %d projects", MaxProjects)
	}
	if err := caseTwin(tx, n.ID); err != nil {
		return nil, err
	}
	if err := community.Reserve(tx, KindFund, n.ID); err != nil {
		return nil, err
	}
	f := &Fund{ID: n.ID, Community: n.Community, Name: n.Name, Committee: n.Committee, Quorum: n.Quorum, ReversalsIndexed: true,
		ObjectionWindow: n.ObjectionWindow, Projects: map[string]Project{}, Accounts: map[string]string{}, Created: tx.Now(), Seq: tx.Seq()}
	if err := openAccounts(tx, f); err != nil {
		return nil, err
	}
	for i, p := range n.Projects {
		if slices.ContainsFunc(n.Projects[:i], func(q NewProject) bool { return q.ID == p.ID }) {
			return nil, ledger.Errorf(ledger.CodeInvalidRequest, "fund: project %s is named twice", p.ID)
		}
		if err := addProject(tx, f, p); err != nil {
			return nil, err
		}
	}
	if err := save(tx, f); err != nil {
		return nil, err
	}
	tx.Audit("fund.create", fundFields(f))
	return f, nil
}

func checkName(name string) error {
	if err := ledger.CheckChainName("name", name, ledger.MaxNameLen); err != nil {
		return err
	}
	if ledger.Blank(name) {
		return ledger.Errorf(ledger.CodeInvalidRequest, "fund: name is required")
	}
	return nil
}

// checkCommittee validates the committee and quorum (1 ≤ M ≤ N).
func checkCommittee(r ledger.Reader, c *community.Community, ids []string, quorum int) error {
	if len(ids) == 0 {
		return ledger.Errorf(ledger.CodeInvalidRequest, "fund: a committee has 1 to %d members", MaxCommittee)
	}
	if len(ids) > MaxCommittee {
		return ledger.Errorf(ledger.CodeLimitExceeded, "fund: a committee has 1 to %d members", MaxCommittee)
	}
	if quorum < 1 || quorum > len(ids) {
		return ledger.Errorf(ledger.CodeInvalidRequest, "fund: quorum must be between 1 and the committee size %d", len(ids))
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			return ledger.Errorf(ledger.CodeInvalidRequest, "fund: member %s is listed twice", id)
		}
		seen[id] = true
		if err := checkCommitteeMember(r, c, id); err != nil {
			return err
		}
	}
	return nil
}

func checkCommitteeMember(r ledger.Reader, c *community.Community, id string) error {
	if err := ledger.CheckID("committee member", id); err != nil {
		return err
	}
	m, err := community.GetMember(r, id)
	if err != nil {
		return err
	}
	// The role is what a withdrawal takes away: a committee member who
	// loses it stops voting at once (the API checks it on every vote).
	if m.Erased {
		return ledger.Errorf(ledger.CodeInvalidRequest, "fund: member %s was erased and sits on no committee", id)
	}
	if !m.Has(community.RoleCommittee) {
		return ledger.Errorf(ledger.CodeInvalidRequest, "fund: member %s does not hold the committee role", id)
	}
	if m.Community == "" || slices.Contains(c.Path, m.Community) {
		return nil
	}
	mc, err := community.Get(r, m.Community)
	if err != nil || !mc.Within(c.ID) {
		return ledger.Errorf(ledger.CodeInvalidRequest, "fund: member %s belongs to an unrelated community", id)
	}
	return nil
}

func openAccounts(tx ledger.Tx, f *Fund) error {
	for _, spec := range []struct {
		suffix string
		guard  ledger.Guard
	}{{AcctBalance, ledger.GuardNoOverdraft}, {AcctDonations, ledger.GuardNone}, {AcctPaid, ledger.GuardNoOverdraft}} {
		id, err := openAccount(tx, f, spec.suffix, spec.guard)
		if err != nil {
			return err
		}
		f.Accounts[spec.suffix] = id
	}
	return nil
}

func openAccount(tx ledger.Tx, f *Fund, suffix string, guard ledger.Guard) (string, error) {
	owner, kind := ledger.OwnerFund, suffix
	if suffix == AcctDonations {
		owner = ledger.OwnerExternal
	}
	if strings.HasPrefix(suffix, projectPrefix) {
		kind = "project"
	}
	a, err := ledger.OpenAccount(tx, ledger.AccountSpec{ID: community.AccountID(f.ID, suffix), Unit: ledger.CNY,
		OwnerKind: owner, Owner: f.ID, Kind: kind, Community: f.Community, Guard: guard})
	if err != nil {
		return "", err
	}
	return a.ID, nil
}

// caseTwin refuses a fund id that differs from an existing fund's only
// in case: the public list would show two funds a donor cannot tell
// apart ("FA" beside "fA"), as a project's case twin is refused.
func caseTwin(r ledger.Reader, id string) error {
	return eachFundID(r, func(other string) error {
		if other != id && strings.EqualFold(other, id) {
			return ledger.Errorf(ledger.CodeAlreadyExists, "fund: %s differs from fund %s only in case", id, other)
		}
		return nil
	})
}

// eachFundID calls fn with every fund's id, in id order, a page of ids
// read before fn sees them (fn may write through the reader's Tx).
func eachFundID(r ledger.Reader, fn func(id string) error) error {
	return ledger.EachDocID(r, KindFund, fn)
}

// eachFund calls fn with every fund, in id order (see eachFundID).
func eachFund(r ledger.Reader, fn func(f *Fund) error) error {
	return eachFundID(r, func(id string) error {
		f, err := Get(r, id)
		if err != nil {
			return err
		}
		return fn(f)
	})
}

// reservedProjectIDs name the fund's own lines in its reports: the money
// of no project, and the sum of all (the report's CSV rows).
var reservedProjectIDs = []string{Unrestricted, "total"}

// checkProjectID judges the shape of a project id, wherever one is
// named: one that no project can have is invalid_id, not not_found.
func checkProjectID(id string) error {
	if len(id) > MaxProjectIDLen { // checked first: one message for every id too long
		return ledger.Errorf(ledger.CodeInvalidID, "fund: a project id is at most %d characters", MaxProjectIDLen)
	}
	return ledger.CheckEntityID("project id", id) // public, and in the chain
}

func addProject(tx ledger.Tx, f *Fund, n NewProject) error {
	if err := checkProjectID(n.ID); err != nil {
		return err
	}
	if slices.ContainsFunc(reservedProjectIDs, func(r string) bool { return strings.EqualFold(n.ID, r) }) {
		return ledger.Errorf(ledger.CodeInvalidID, "fund: a project id is not one of %q (in any case): they name the report's own rows", reservedProjectIDs)
	}
	if err := checkName(n.Name); err != nil {
		return err
	}
	if _, ok := f.Projects[n.ID]; ok {
		return ledger.Errorf(ledger.CodeAlreadyExists, "fund: project %s already exists", n.ID)
	}
	// "Elder" beside "elder" would be a second restricted project that a
	// typo opens (a donation naming a project opens it): refused.
	for id := range f.Projects {
		if strings.EqualFold(id, n.ID) {
			return ledger.Errorf(ledger.CodeAlreadyExists, "fund: project %s differs from project %s only in case; name that one", n.ID, id)
		}
	}
	if len(f.Projects) >= MaxProjects {
		return ledger.Errorf(ledger.CodeLimitExceeded, "fund: at most %d projects", MaxProjects)
	}
	acct, err := openAccount(tx, f, projectPrefix+n.ID, ledger.GuardNoOverdraft)
	if err != nil {
		return err
	}
	f.Projects[n.ID] = Project{ID: n.ID, Name: n.Name, Account: acct}
	return nil
}

// AddProject adds a restricted project to a fund and records
// "project.create". Errors: not_found, invalid_id, invalid_request,
// already_exists, limit_exceeded.
func AddProject(tx ledger.Tx, fundID string, n NewProject) (*Fund, error) {
	f, err := Get(tx, fundID)
	if err != nil {
		return nil, err
	}
	if err := addProject(tx, f, n); err != nil {
		return nil, err
	}
	if err := save(tx, f); err != nil {
		return nil, err
	}
	p := f.Projects[n.ID]
	tx.Audit("project.create", map[string]any{"fund": f.ID, "id": p.ID, "name": p.Name, "account": p.Account})
	return f, nil
}

// SetCommittee replaces a fund's committee and quorum (members leave,
// others join) and records "fund.committee". The rules are those of a
// new fund: registered members holding the committee role, of the fund's
// community or above or below it, 1 ≤ quorum ≤ the committee's size.
// Open proposals are judged by the new committee at once: a vote already
// cast stands, and who may vote, and the quorum, are the new ones, so a
// proposal whose approvals now reach the quorum is approved (or paid),
// and one that can no longer reach it is rejected and its hold voided, in
// the same commit; the record lists them under "decided". The others go
// on voting. Errors: not_found, invalid_id, invalid_request.
func SetCommittee(tx ledger.Tx, fundID string, committee []string, quorum int) (*Fund, error) {
	f, err := Get(tx, fundID)
	if err != nil {
		return nil, err
	}
	c, err := community.Get(tx, f.Community)
	if err != nil {
		return nil, err
	}
	if err := checkCommittee(tx, c, committee, quorum); err != nil {
		return nil, err
	}
	// Who proposes does not choose who approves: an admin with a
	// proposal of this fund still open (voting, or in its objection
	// window) would pick its voters or lower its quorum to the approvals
	// it has (probe s26c); another admin changes the committee.
	if open, err := OpenProposalOf(tx, f.ID, tx.Actor().ID); err != nil {
		return nil, err
	} else if open != "" {
		return nil, ledger.Errorf(CodeConflictOfInterest, "you proposed %s, still open on fund %s: another admin changes its committee", open, f.ID)
	}
	f.Committee, f.Quorum = committee, quorum
	if err := save(tx, f); err != nil {
		return nil, err
	}
	budget := MaxDecidedAtOnce
	decided, err := redecide(tx, f, &budget, true)
	if err != nil {
		return nil, err
	}
	fields := map[string]any{"fund": f.ID, "committee": f.Committee, "quorum": int64(f.Quorum)}
	if len(decided) > 0 {
		fields["decided"] = decided
	}
	tx.Audit("fund.committee", fields)
	return f, nil
}

// OpenProposalOf returns the id of a proposal of fund that member made
// and that is still open (voting, or approved in its objection window),
// or "".
func OpenProposalOf(r ledger.Reader, fund, member string) (string, error) {
	var open string
	err := eachIndexed(r, indexPrefix(fund)+idxProposal+"/", func(id string) error {
		p, err := GetProposal(r, id)
		if err == nil && open == "" && p.Proposer == member && (p.Status == StatusVoting || p.Status == StatusApproved) {
			open = p.ID
		}
		return err
	})
	return open, err
}

// OpenProposalIn returns a proposal member made and still open on a fund
// whose community in accepts, or "".
func OpenProposalIn(r ledger.Reader, member string, in func(community string) bool) (string, error) {
	var open string
	err := eachFund(r, func(f *Fund) error {
		if open != "" || !in(f.Community) {
			return nil
		}
		var err error
		open, err = OpenProposalOf(r, f.ID, member)
		return err
	})
	return open, err
}

// Committees returns the funds whose committee names any of members.
func Committees(r ledger.Reader, members []string) ([]*Fund, error) {
	var fs []*Fund
	err := eachFund(r, func(f *Fund) error {
		if slices.ContainsFunc(members, f.IsCommittee) {
			fs = append(fs, f)
		}
		return nil
	})
	return fs, err
}

// MemberChanged applies the quorum rule again to the open proposals of
// every fund whose committee names member, after a change that may take
// their vote away (a committee role withdrawn, an erasure): a proposal
// that can no longer reach its quorum is rejected and its hold voided at
// once, in the op's commit, and the op's record lists it under "decided".
// Call it after the change, inside the same op.
func MemberChanged(tx ledger.Tx, member string) error { return MembersChanged(tx, []string{member}) }

// MembersChanged is MemberChanged for several members at once (a change
// of relatives touches both sides): each fund whose committee names any
// of them is judged once.
func MembersChanged(tx ledger.Tx, members []string) error {
	var decided []any
	budget := MaxDecidedAtOnce // for the whole change, across funds
	err := eachFund(tx, func(f *Fund) error {
		if !slices.ContainsFunc(members, f.IsCommittee) {
			return nil
		}
		// The record is a member's change (roles, relatives, an
		// erasure): not the public's, so the proposals' events it
		// makes carry no public receipt.
		d, err := redecide(tx, f, &budget, false)
		decided = append(decided, d...)
		return err
	})
	if err != nil {
		return err
	}
	if len(decided) > 0 {
		tx.AuditField("decided", decided)
	}
	return nil
}

// redecide applies the quorum rule of f's new committee to each of its
// proposals still voting, and returns what it decided: per proposal its
// id, the outcome's action and the outcome's fields (payment or void).
// It decides at most *budget (what is left of the change's
// MaxDecidedAtOnce, shared by the funds a change judges) and leaves each
// further settled proposal to a TimerDecide. With public false the
// change's record is not disclosed (its events are Withheld).
func redecide(tx ledger.Tx, f *Fund, budget *int, public bool) ([]any, error) {
	var open []*Proposal
	err := eachIndexed(tx, indexPrefix(f.ID)+idxProposal+"/", func(id string) error {
		p, err := GetProposal(tx, id)
		if err == nil && p.Status == StatusVoting && tx.Now().Before(p.Deadline) {
			open = append(open, p)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	var decided []any
	for _, p := range open {
		if who := voidConflicted(tx, f, p); len(who) > 0 {
			p.Conflicted = conflicted(tx, f, p)
			// Listed in a member's record, which is not disclosed; a
			// committee change's is (it names no voters and no family
			// ties: the voids show on the proposal's votes; review
			// s26R3).
			for _, m := range who {
				if !public {
					decided = append(decided, map[string]any{"proposal": p.ID, "action": "vote.void", "member": m, "status": string(p.Status)})
				}
			}
			if !settled(tx, f, p) {
				if err := saveProposal(tx, p); err != nil {
					return nil, err
				}
				continue
			}
		}
		if !settled(tx, f, p) {
			continue
		}
		if *budget == 0 {
			p.DecideDue = tx.Now()
			if err := saveProposal(tx, p); err != nil {
				return nil, err
			}
			if err := tx.Schedule(tx.Now(), TimerDecide, p.ID); err != nil {
				return nil, err
			}
			continue
		}
		*budget--
		action, extra, err := outcome(tx, f, p)
		if err != nil {
			return nil, err
		}
		for i := range p.Events {
			if p.Events[i].Seq == tx.Seq() {
				p.Events[i].Withheld = !public
			}
		}
		if err := saveProposal(tx, p); err != nil {
			return nil, err
		}
		d := map[string]any{"proposal": p.ID, "action": action, "status": string(p.Status)}
		for k, v := range extra {
			d[k] = v
		}
		decided = append(decided, d)
	}
	return decided, nil
}

func save(tx ledger.Tx, f *Fund) error { return tx.PutDoc(KindFund, f.ID, f) }

func fundFields(f *Fund) map[string]any {
	ps := []any{}
	for _, id := range slices.Sorted(maps.Keys(f.Projects)) {
		p := f.Projects[id]
		ps = append(ps, map[string]any{"id": p.ID, "name": p.Name, "account": p.Account})
	}
	accts := map[string]any{}
	for k, v := range f.Accounts {
		accts[k] = v
	}
	fields := map[string]any{"id": f.ID, "community": f.Community, "name": f.Name, "committee": f.Committee,
		"quorum": int64(f.Quorum), "projects": ps, "accounts": accts}
	if f.ObjectionWindow > 0 {
		fields["objection_window_s"] = int64(f.ObjectionWindow / time.Second)
	}
	return fields
}

// checkObjectionWindow: 0 (none) or MinObjectionWindow to MaxObjectionWindow.
func checkObjectionWindow(w time.Duration) error {
	if w != 0 && (w < MinObjectionWindow || w > MaxObjectionWindow) {
		return ledger.Errorf(ledger.CodeInvalidRequest, "fund: objection window must be 0 or between %s and %s", MinObjectionWindow, MaxObjectionWindow)
	}
	return nil
}

// Index keys. Sequence numbers are zero-padded so that keys sort in
// commit order: "fund/<fund>/d/<seq>" → donation id, "fund/<fund>/p/<seq>"
// → proposal id.
func indexKey(fund, kind string, seq uint64) string {
	return fmt.Sprintf("%s%s/%020d", indexPrefix(fund), kind, seq)
}

func indexPrefix(fund string) string { return "fund/" + fund + "/" }

const (
	idxDonation = "d"
	idxProposal = "p"
	idxReversal = "r" // a donation's reversal, by the reversal's seq (funds with ReversalsIndexed)
	// kindDisclosed marks "<fund>/<seq>" for every record the public page
	// shows, so that its receipt may be served without a token.
	kindDisclosed = "fund.disclosed"
)

func disclose(tx ledger.Tx, fund string) error {
	return tx.PutDoc(kindDisclosed, fmt.Sprintf("%s/%d", fund, tx.Seq()), true)
}

// Disclosed reports whether record seq belongs to fund's public page.
func Disclosed(r ledger.Reader, fund string, seq uint64) (bool, error) {
	var ok bool
	err := r.Doc(kindDisclosed, fmt.Sprintf("%s/%d", fund, seq), &ok)
	if ledger.IsCode(err, ledger.CodeNotFound) {
		return false, nil
	}
	return ok, err
}

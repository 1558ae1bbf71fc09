package api

import (
	"encoding/csv"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"tally/audit"
	"tally/ledger"
	"tally/ledger/community"
	"tally/ledger/fund"
	"tally/ledger/timebank"
)

// Who may do what with a fund (shared/SPEC.md §1, §5):
//   - an admin of the fund's community creates the fund and its committee:
//     the people who propose spending (coordinators) do not choose the
//     people who approve it;
//   - a coordinator or admin of the community records donations and adds
//     restricted projects (most donors are not users);
//   - a coordinator of the community proposes disbursements;
//   - the fund's committee members vote and recuse, in person (never 代办);
//   - a committee member or a coordinator of the community objects during
//     the objection window;
//   - committee members, and coordinators, admins and auditors of the
//     community, read the fund, its proposals and its report; donors'
//     identities (anonymous ones included) only staff and auditors;
//   - anyone, with no token, reads the public disclosure.

// FundDisclosureRecent is how many of the latest donations and
// disbursements the public page of a fund shows; the rest are paged.
const FundDisclosureRecent = 20

// FundProjectRequest is a restricted project (定向).
type FundProjectRequest struct {
	ID   string `json:"id" id:"entity"`
	Name string `json:"name"`
}

// FundRequest creates a fund. Committee members are registered member ids
// holding the committee role; both their place on the committee and the
// role let them vote, so withdrawing the role stops their votes at once.
// 1 ≤ quorum ≤ len(committee).
type FundRequest struct {
	ID        string               `json:"id" id:"entity"`
	Community string               `json:"community" id:"entity"`
	Name      string               `json:"name"`
	Committee []string             `json:"committee" id:"entity"`
	Quorum    int                  `json:"quorum"`
	Projects  []FundProjectRequest `json:"projects,omitempty"`
	// ObjectionWindow is the fund's public objection period (公示期)
	// after each approval, a duration ("72h", "7d"); a proposal may ask
	// for a longer one, never a shorter. Default none: approval pays.
	ObjectionWindow string `json:"objection_window,omitempty" empty:"invalid_request"`
}

// ToDomain converts the request.
func (r *FundRequest) ToDomain() (fund.NewFund, error) {
	n := fund.NewFund{ID: r.ID, Community: r.Community, Name: r.Name, Committee: r.Committee, Quorum: r.Quorum}
	for _, p := range r.Projects {
		n.Projects = append(n.Projects, fund.NewProject{ID: p.ID, Name: p.Name})
	}
	var err error
	if r.ObjectionWindow != "" {
		if n.ObjectionWindow, err = parseDuration(r.ObjectionWindow); err == nil && n.ObjectionWindow < 0 {
			err = ledger.Errorf(ledger.CodeInvalidRequest, "objection_window must not be negative")
		}
	}
	return n, err
}

// FundMoney is money of a fund or project, in CNY: held is what open
// proposals reserve; available = balance − held.
type FundMoney struct {
	Balance   string `json:"balance" doc:"CNY received and not yet paid out"`
	Available string `json:"available" doc:"balance less held: what new proposals may still reserve"`
	Held      string `json:"held" doc:"CNY reserved by proposals still open (voting, approved, in their objection window)"`
}

// FundProjectView is a restricted project and its money.
type FundProjectView struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Account string `json:"account"`
	FundMoney
}

// FundView shows a fund: its money over all its accounts, the
// unrestricted part, each project, and the totals donated and paid out.
type FundView struct {
	ID        string `json:"id"`
	Community string `json:"community"`
	Name      string `json:"name"`
	Unit      string `json:"unit" doc:"CNY: the unit of every amount here"`
	FundMoney
	Donated      string                     `json:"donated" doc:"CNY donated over the fund's life, less donations reversed"`
	Disbursed    string                     `json:"disbursed" doc:"CNY paid out over the fund's life"`
	Unrestricted FundMoney                  `json:"unrestricted" doc:"money given without a project restriction"`
	Projects     map[string]FundProjectView `json:"projects" doc:"restricted projects (定向) by id, each with its own money"`
	Committee    []string                   `json:"committee"`
	// CommitteeInactive: members of the committee who cannot vote now
	// (role withdrawn, erased) until an admin replaces the committee.
	CommitteeInactive []string `json:"committee_inactive" doc:"committee members who cannot vote now (role withdrawn, erased) until an admin replaces the committee"`
	Quorum            int      `json:"quorum"`
	// ObjectionWindow: every proposal's objection period is at least this.
	ObjectionWindow string            `json:"objection_window,omitempty" doc:"every proposal's public objection period after approval is at least this"`
	Accounts        map[string]string `json:"accounts"`
	Created         time.Time         `json:"created"`
}

// DonationRequest records a donation. donor_kind is person (default),
// company or organisation. A company's or organisation's donor is its name
// as published (it is in the chain and on the public page in clear); a
// person is the id of a member of the fund's community or below (in
// clear, an opaque id), or a name, which the chain and the public page
// see only as a salted commitment and Tally keeps encrypted in its
// personal store (shown in the list of donations, not in this write's
// answer), erasable with POST /v1/donations/{id}/erase; anonymous hides
// any donor from the
// public, not from auditors. Personal data (a phone number) belongs in
// none of them.
type DonationRequest struct {
	Donor     string `json:"donor" doc:"a company or organisation name as published (in clear, in the chain and on the public page), a member id, or a person's name, kept only as a salted commitment in the chain and encrypted (erasable) in the personal store"`
	DonorKind string `json:"donor_kind,omitempty" empty:"invalid_request;late" enum:"person|company|organisation"`
	Amount    string `json:"amount"`
	Project   string `json:"project,omitempty" id:"entity"`
	Anonymous bool   `json:"anonymous,omitempty"`
}

// ToDomain parses the amount.
func (r *DonationRequest) ToDomain(fundID string) (fund.NewDonation, error) {
	amt, err := ledger.ParseAmount(r.Amount, ledger.CNY)
	return fund.NewDonation{Fund: fundID, Donor: r.Donor, DonorKind: r.DonorKind, Amount: amt,
		Project: r.Project, Anonymous: r.Anonymous}, err
}

// DonationView is a donation as staff and auditors see it.
type DonationView struct {
	ID        string `json:"id"`
	Fund      string `json:"fund"`
	Unit      string `json:"unit" doc:"CNY: the unit of every amount here"`
	Receipt   string `json:"receipt"`
	Donor     string `json:"donor"`
	DonorKind string `json:"donor_kind"`
	Amount    string `json:"amount"`
	Project   string `json:"project,omitempty"`
	Anonymous bool   `json:"anonymous"`
	Salt      string `json:"donor_salt,omitempty"` // opens the chain's commitment of an anonymous or named person
	// Commitment is the chain's donor_commitment (hex SHA-256 of the salt
	// and the donor) when the chain does not name the donor in clear.
	Commitment string `json:"donor_commitment,omitempty"`
	// DonorErased: the donor's name was erased (PIPL); donor is empty.
	DonorErased bool      `json:"donor_erased,omitempty"`
	Tx          string    `json:"tx"`
	Time        time.Time `json:"time"`
	Seq         uint64    `json:"seq"`
	// Reversal, when set, is the transaction that corrected the donation.
	Reversal       string     `json:"reversal,omitempty"`
	ReversedAt     *time.Time `json:"reversed_at,omitempty"`
	ReversalReason string     `json:"reversal_reason,omitempty"`
}

// donationView shows a donation to staff and auditors. A write's answer
// (written is true) leaves out a sealed donor's name and salt: it is kept
// with its Idempotency-Key, where an erasure could not reach it; the list
// of donations shows them until the donor is erased.
func donationView(r ledger.Reader, d *fund.Donation, written bool) (DonationView, error) {
	donor, salt, erased := d.Donor, d.Salt, d.DonorErased
	if !written {
		var err error
		if donor, salt, erased, err = fund.DonorName(r, d); err != nil {
			return DonationView{}, err
		}
	}
	v := DonationView{Unit: string(ledger.CNY), ID: d.ID, Fund: d.Fund, Receipt: d.Receipt, Donor: donor, DonorErased: erased, DonorKind: d.DonorKind,
		Amount: cny(d.Amount), Project: d.Project, Anonymous: d.Anonymous, Salt: salt, Commitment: d.Commitment,
		Tx: d.Tx, Time: d.Time, Seq: d.Seq, Reversal: d.Reversal, ReversalReason: d.ReversalReason}
	if d.Reversal != "" {
		v.ReversedAt = &d.ReversedAt
	}
	return v, nil
}

// ProposalRequest proposes a disbursement. Beneficiary is a pseudonymous
// id; purpose and evidence enter the audit chain, so they describe the
// disbursement, never a person. Evidence is hex SHA-256 of documents.
// Deadline is an RFC 3339 time or a duration ("72h", "7d"; default 7d);
// objection_window a duration, at least the fund's (default the fund's;
// none: approval pays at once).
type ProposalRequest struct {
	Amount          string   `json:"amount"`
	Beneficiary     string   `json:"beneficiary" id:"entity" doc:"a pseudonymous id (a member id or another opaque id), shown on the public page and kept in the chain for good: never a name, phone or ID-card number"`
	Project         string   `json:"project,omitempty" id:"entity"`
	Purpose         string   `json:"purpose" doc:"kept in the audit chain for good, never erased: about the disbursement, never personal data (names, phone numbers, health details belong in a member's personal fields); shown on the public page"`
	Evidence        []string `json:"evidence,omitempty" doc:"SHA-256 digests of the evidence documents, 64 hex digits each (kept in lower case; each document once), kept in the chain for good: never the documents themselves"`
	Deadline        string   `json:"deadline,omitempty" empty:"invalid_request"`
	ObjectionWindow string   `json:"objection_window,omitempty" empty:"invalid_request"`
}

// ToDomain parses amount, deadline and window.
func (r *ProposalRequest) ToDomain(fundID, proposer string) (fund.NewProposal, error) {
	n := fund.NewProposal{Fund: fundID, Project: r.Project, Beneficiary: r.Beneficiary, Purpose: r.Purpose,
		Evidence: r.Evidence, Proposer: proposer}
	var err error
	if n.Amount, err = ledger.ParseAmount(r.Amount, ledger.CNY); err != nil {
		return n, err
	}
	if r.Deadline != "" {
		if t, terr := tbTime("deadline", r.Deadline); terr == nil {
			n.Deadline = t
		} else if n.VotingPeriod, err = parseDuration(r.Deadline); err != nil {
			return n, ledger.Errorf(ledger.CodeInvalidRequest, "deadline %q is neither an RFC 3339 time (2026-12-01T18:00:00+08:00) nor a duration like \"72h\" or \"7d\"", truncateStr(r.Deadline, 40))
		} else if n.VotingPeriod <= 0 {
			// Zero would mean "the default" to the fund: refused, as a
			// transfer's zero timeout is.
			return n, ledger.Errorf(ledger.CodeInvalidRequest, "deadline must be a time or a positive duration")
		}
	}
	if r.ObjectionWindow != "" {
		if n.ObjectionWindow, err = parseDuration(r.ObjectionWindow); err == nil && n.ObjectionWindow < 0 {
			err = ledger.Errorf(ledger.CodeInvalidRequest, "objection_window must not be negative")
		}
		n.NoObjectionWindow = n.ObjectionWindow == 0 // "0" asks for none: not the fund's
	}
	return n, err
}

// ProposalVoteRequest is a committee member's vote.
type ProposalVoteRequest struct {
	Decision string `json:"decision" enum:"approve|reject"`
	Reason   string `json:"reason,omitempty" doc:"kept in the audit chain for good, never erased: about the vote, never personal data (names, phone numbers, health details belong in a member's personal fields); shown on the public page"`
}

// ProposalReasonRequest declares a recusal (reason optional) or raises an
// objection (reason required). Reasons enter the chain: describe the
// conflict or the concern, not a person.
type ProposalReasonRequest struct {
	Reason string `json:"reason,omitempty" doc:"kept in the audit chain for good, never erased: about the decision, never personal data (names, phone numbers, health details belong in a member's personal fields); shown on the public page"`
}

// ProposalVoteView is one vote or recusal.
type ProposalVoteView struct {
	Member   string    `json:"member"`
	Decision string    `json:"decision"` // approve, reject or recuse
	Reason   string    `json:"reason,omitempty"`
	Round    int       `json:"round,omitempty"`
	Time     time.Time `json:"time"`
	Seq      uint64    `json:"seq"`
	Void     bool      `json:"void,omitempty" doc:"a conflict of interest registered after the vote took it back: it counts for nothing"`
}

// ProposalView is a proposal as the committee and staff see it.
// Approvals and rejections count the current round; eligible is the
// committee less the proposer and recused members.
type ProposalView struct {
	ID              string             `json:"id"`
	Fund            string             `json:"fund"`
	Unit            string             `json:"unit" doc:"CNY: the unit of every amount here"`
	Status          string             `json:"status" enum:"voting|approved|paid|rejected|expired"`
	Amount          string             `json:"amount"`
	Project         string             `json:"project,omitempty"`
	Beneficiary     string             `json:"beneficiary"`
	Purpose         string             `json:"purpose"`
	Evidence        []string           `json:"evidence"`
	Proposer        string             `json:"proposer"`
	Approvals       int                `json:"approvals" doc:"approvals in the current round"`
	Rejections      int                `json:"rejections" doc:"rejections in the current round"`
	Recusals        int                `json:"recusals"`
	Quorum          int                `json:"quorum"`
	Eligible        int                `json:"eligible" doc:"committee members who may vote on it: the committee less the proposer, members with a conflict of interest (the beneficiary, relatives of the beneficiary or of the proposer) and recused members"`
	Round           int                `json:"round" doc:"voting round: each objection during the objection window (公示) starts a new round, and votes of earlier rounds no longer count"`
	Votes           []ProposalVoteView `json:"votes"`
	Objections      []ProposalVoteView `json:"objections"`
	Deadline        time.Time          `json:"deadline" doc:"voting ends here; a proposal not decided by then expires and its hold is voided"`
	ObjectionWindow string             `json:"objection_window,omitempty"`
	WindowEnds      time.Time          `json:"window_ends,omitzero" doc:"end of the public objection window (公示) of an approved proposal; it is paid then"`
	Hold            string             `json:"hold" doc:"the pending transaction that reserves the amount"`
	Payment         string             `json:"payment,omitempty" doc:"the transaction that posted the hold when it was paid"`
	Created         time.Time          `json:"created"`
	Resolved        time.Time          `json:"resolved,omitzero"`
	Seq             uint64             `json:"seq"`
}

func proposalView(p *fund.Proposal, f *fund.Fund) ProposalView {
	approvals, rejections := p.Tally()
	quorum, eligible := p.QuorumOf(f)
	v := ProposalView{Unit: string(ledger.CNY), ID: p.ID, Fund: p.Fund, Status: string(p.Status), Amount: cny(p.Amount), Project: p.Project,
		Beneficiary: p.Beneficiary, Purpose: p.Purpose, Evidence: nonNilStrings(p.Evidence), Proposer: p.Proposer,
		Approvals: approvals, Rejections: rejections, Recusals: len(p.Recusals), Quorum: quorum, Eligible: eligible,
		Round: p.Round, Votes: []ProposalVoteView{}, Objections: []ProposalVoteView{}, Deadline: p.Deadline,
		WindowEnds: p.WindowEnds, Hold: p.Hold, Payment: p.Payment, Created: p.Created, Resolved: p.Resolved, Seq: p.Seq}
	if p.ObjectionWindow > 0 {
		v.ObjectionWindow = formatDuration(p.ObjectionWindow)
	}
	for _, x := range p.Votes {
		v.Votes = append(v.Votes, ProposalVoteView{Member: x.Member, Decision: x.Decision, Reason: x.Reason, Round: x.Round, Time: x.Time, Seq: x.Seq, Void: x.Void})
	}
	for _, x := range p.Recusals {
		v.Votes = append(v.Votes, ProposalVoteView{Member: x.Member, Decision: "recuse", Reason: x.Reason, Time: x.Time, Seq: x.Seq})
	}
	for _, x := range p.Objections {
		v.Objections = append(v.Objections, ProposalVoteView{Member: x.By, Decision: "object", Reason: x.Reason, Time: x.Time, Seq: x.Seq})
	}
	return v
}

func nonNilStrings(xs []string) []string {
	if xs == nil {
		return []string{}
	}
	return xs
}

func cny(v int64) string { return ledger.FormatAmount(v, ledger.CNY) }

var (
	fundStaff = []community.Role{community.RoleCoordinator, community.RoleAdmin}
	// fundProposers propose disbursements (SPEC §5: a coordinator
	// proposes); an admin, who chooses the committee, does not.
	fundProposers = []community.Role{community.RoleCoordinator}
	fundReaders   = []community.Role{community.RoleCoordinator, community.RoleAdmin, community.RoleAuditor}
	// fundViewers read a fund, its proposals and its report: its readers
	// over its community, and its committee (canReadFund).
	fundViewers = []community.Role{community.RoleCoordinator, community.RoleAdmin, community.RoleAuditor, community.RoleCommittee}
)

func (s *Server) fundRoutes() []route {
	admin := []community.Role{community.RoleAdmin}
	paged := []string{"after", "limit:int", "order"}
	rs := []route{
		{method: "POST", path: "/v1/funds", summary: "Create a community fund with its committee, quorum, projects and CNY accounts", tag: "funds", auth: authenticated, roles: admin, req: FundRequest{}, resp: FundView{}, status: 201, handle: s.createFund},
		{method: "GET", path: "/v1/funds/:id", summary: "A fund's money, projects and committee", tag: "funds", auth: authenticated, roles: fundViewers, resp: FundView{}, status: 200, handle: s.getFund},
		{method: "PUT", path: "/v1/funds/:id/committee", summary: "Replace a fund's committee and quorum (admin); votes cast stand (but a conflicted member put back loses theirs), and open proposals the new quorum settles are decided at once", tag: "funds", auth: authenticated, roles: admin, req: CommitteeRequest{}, resp: FundView{}, status: 200, handle: s.setCommittee},
		{method: "POST", path: "/v1/funds/:id/projects", summary: "Add a restricted project (定向) with its own account", tag: "funds", auth: authenticated, roles: fundStaff, req: FundProjectRequest{}, resp: FundView{}, status: 201, handle: s.addFundProject},
		{method: "POST", path: "/v1/funds/:id/donations", summary: "Record a donation; it gets a receipt number", tag: "funds", auth: authenticated, roles: fundStaff, req: DonationRequest{}, resp: DonationView{}, status: 201, handle: s.createDonation},
		{method: "POST", path: "/v1/donations/:id/reverse", summary: "Correct a donation recorded in error: a reversal naming it and the reason takes the money back out of the fund", tag: "funds", auth: authenticated, roles: fundStaff, req: ReverseRequest{}, resp: DonationView{}, status: 200, handle: s.reverseDonation},
		{method: "POST", path: "/v1/donations/:id/erase", summary: "Erase the name of a donation's donor, a person named by name (PIPL; admin); the donation and the chain stay", tag: "funds", auth: authenticated, roles: admin, req: DecisionRequest{}, resp: DonationView{}, status: 200, handle: s.eraseDonor},
		{method: "GET", path: "/v1/funds/:id/donations", summary: "A fund's donations with their donors (staff and auditors)", tag: "funds", auth: authenticated, roles: fundReaders, query: paged, resp: List[DonationView]{}, status: 200, handle: s.listDonations},
		{method: "POST", path: "/v1/funds/:id/proposals", summary: "Propose a disbursement; its amount is held at once", tag: "funds", auth: authenticated, roles: fundProposers, req: ProposalRequest{}, resp: ProposalView{}, status: 201, handle: s.createProposal},
		{method: "GET", path: "/v1/funds/:id/proposals", summary: "A fund's proposals", tag: "funds", auth: authenticated, roles: fundViewers, query: paged, resp: List[ProposalView]{}, status: 200, handle: s.listProposals},
		{method: "GET", path: "/v1/proposals/:id", summary: "A proposal with its votes", tag: "funds", auth: authenticated, resp: ProposalView{}, status: 200, handle: s.getProposal},
		{method: "POST", path: "/v1/proposals/:id/votes", summary: "Vote approve or reject (committee members, not the proposer)", tag: "funds", auth: authenticated, req: ProposalVoteRequest{}, resp: ProposalView{}, status: 200, handle: s.voteProposal},
		{method: "POST", path: "/v1/proposals/:id/recusals", summary: "Declare a conflict of interest and recuse; the quorum counts over the rest", tag: "funds", auth: authenticated, req: ProposalReasonRequest{}, resp: ProposalView{}, status: 200, handle: s.recuseProposal},
		{method: "POST", path: "/v1/proposals/:id/objections", summary: "Object during the objection window (公示期): back to voting", tag: "funds", auth: authenticated, roles: []community.Role{community.RoleCoordinator, community.RoleCommittee}, req: ProposalReasonRequest{}, resp: ProposalView{}, status: 200, handle: s.objectProposal},
		{method: "GET", path: "/v1/reports/funds", summary: "Every fund of a community subtree over a period, added up and fund by fund (with their projects); Accept: text/csv for CSV", tag: "reports", auth: authenticated, roles: fundReaders, query: []string{"community!", "from", "to"}, resp: FundSubtreeReportView{}, csv: true, status: 200, handle: s.fundSubtreeReport},
		{method: "GET", path: "/v1/reports/funds/:id", summary: "Donations, disbursements, holds and beneficiaries of a fund over a period; Accept: text/csv for CSV", tag: "reports", auth: authenticated, roles: fundViewers, query: []string{"from", "to"}, resp: FundReportView{}, csv: true, status: 200, handle: s.fundReport},
	}
	return append(rs, s.publicFundRoutes()...)
}

// --- authorization ---------------------------------------------------------

// canReadFund: the fund's committee members, and coordinators, admins and
// auditors of its community. Errors: forbidden, not_found.
func canReadFund(r ledger.Reader, p *Principal, f *fund.Fund) error {
	if onCommittee(p, f) && p.OnBehalf == "" {
		return nil
	}
	err := Authorize(r, p, f.Community, fundReaders...)
	if ledger.IsCode(err, ledger.CodeForbidden) && !p.Has(fundReaders...) {
		// A committee member of another fund holds no reader's role: told
		// who reads this one, not that their role is missing.
		return ledger.Errorf(ledger.CodeForbidden, "fund %s is read by its committee, and by coordinators, admins and auditors over its community", f.ID)
	}
	return err
}

// onCommittee: the caller sits on f's committee and still holds the
// committee role.
func onCommittee(p *Principal, f *fund.Fund) bool {
	return f.IsCommittee(p.Member) && p.Has(community.RoleCommittee)
}

// committeeRole refuses a vote or recusal by a caller without the
// committee role (withdrawn, or never given).
func committeeRole(p *Principal) error {
	if !p.Has(community.RoleCommittee) {
		return ledger.Errorf(fund.CodeNotCommittee, "only members of the fund's committee who hold the committee role vote")
	}
	return nil
}

// inPerson refuses votes, recusals and objections made on behalf of
// someone else: a committee decision is personal.
func inPerson(p *Principal) error {
	if p.OnBehalf != "" {
		return ledger.Errorf(ledger.CodeForbidden, "committee decisions are made in person, not on behalf")
	}
	return nil
}

// fundOf loads a fund and checks the caller over its community with roles.
func fundOf(r ledger.Reader, p *Principal, id string, roles ...community.Role) (*fund.Fund, error) {
	f, err := fund.Get(r, id)
	if err != nil {
		return nil, err
	}
	return f, Authorize(r, p, f.Community, roles...)
}

// --- funds -------------------------------------------------------------------

// fundView reads a fund's accounts and renders it.
func fundView(r ledger.Reader, f *fund.Fund) (FundView, error) {
	v := FundView{Unit: string(ledger.CNY), ID: f.ID, Community: f.Community, Name: f.Name, Committee: f.Committee, Quorum: f.Quorum,
		CommitteeInactive: fund.Inactive(r, f), Accounts: f.Accounts, Projects: map[string]FundProjectView{}, Created: f.Created}
	if v.CommitteeInactive == nil {
		v.CommitteeInactive = []string{}
	}
	if f.ObjectionWindow > 0 {
		v.ObjectionWindow = formatDuration(f.ObjectionWindow)
	}
	var total fundTotal
	un, err := fundMoney(r, f.Accounts[fund.AcctBalance], &total)
	if err != nil {
		return v, err
	}
	v.Unrestricted = un
	for id, p := range f.Projects {
		m, err := fundMoney(r, p.Account, &total)
		if err != nil {
			return v, err
		}
		v.Projects[id] = FundProjectView{ID: id, Name: p.Name, Account: p.Account, FundMoney: m}
	}
	v.FundMoney = FundMoney{Balance: cny(total.balance), Available: cny(total.available), Held: cny(total.held)}
	donated, err := r.Account(f.Accounts[fund.AcctDonations])
	if err != nil {
		return v, err
	}
	paid, err := r.Account(f.Accounts[fund.AcctPaid])
	if err != nil {
		return v, err
	}
	v.Donated, v.Disbursed = cny(-donated.Balance()), cny(paid.Balance())
	return v, nil
}

// fundTotal sums the money of a fund's accounts, in fen.
type fundTotal struct{ balance, available, held int64 }

// fundMoney reads one account and adds its money to total.
func fundMoney(r ledger.Reader, account string, total *fundTotal) (FundMoney, error) {
	a, err := r.Account(account)
	if err != nil {
		return FundMoney{}, err
	}
	total.balance += a.Balance()
	total.available += a.Available()
	total.held += a.DebitsPending
	return FundMoney{Balance: cny(a.Balance()), Available: cny(a.Available()), Held: cny(a.DebitsPending)}, nil
}

func (s *Server) createFund(c *gin.Context) {
	var req FundRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	n, err := req.ToDomain()
	if err != nil {
		fail(c, err)
		return
	}
	p := principal(c)
	s.commit(c, http.StatusCreated, func(tx ledger.Tx) (any, error) {
		if err := ledger.CheckID("community", req.Community); err != nil {
			return nil, err
		}
		if err := Authorize(tx, p, req.Community, community.RoleAdmin); err != nil {
			return nil, err
		}
		if err := committeeInScope(tx, p, req.Committee); err != nil {
			return nil, err
		}
		f, err := fund.Create(tx, n)
		if err != nil {
			return nil, err
		}
		return fundView(tx, f)
	})
}

func (s *Server) getFund(c *gin.Context) {
	p := principal(c)
	viewJSON(s, c, func(r ledger.Reader) (FundView, error) {
		f, err := fund.Get(r, c.Param("id"))
		if err != nil {
			return FundView{}, err
		}
		if err := canReadFund(r, p, f); err != nil {
			return FundView{}, err
		}
		return fundView(r, f)
	})
}

func (s *Server) addFundProject(c *gin.Context) {
	var req FundProjectRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	p, id := principal(c), c.Param("id")
	s.commit(c, http.StatusCreated, func(tx ledger.Tx) (any, error) {
		if _, err := fundOf(tx, p, id, fundStaff...); err != nil {
			return nil, err
		}
		f, err := fund.AddProject(tx, id, fund.NewProject{ID: req.ID, Name: req.Name})
		if err != nil {
			return nil, err
		}
		return fundView(tx, f)
	})
}

// CommitteeRequest replaces a fund's committee: registered members holding
// the committee role, 1 ≤ quorum ≤ len(committee).
type CommitteeRequest struct {
	Committee []string `json:"committee" id:"entity"`
	Quorum    int      `json:"quorum"`
}

func (s *Server) setCommittee(c *gin.Context) {
	var req CommitteeRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	p, id := principal(c), c.Param("id")
	s.commit(c, http.StatusOK, func(tx ledger.Tx) (any, error) {
		if _, err := fundOf(tx, p, id, community.RoleAdmin); err != nil {
			return nil, err
		}
		if err := committeeInScope(tx, p, req.Committee); err != nil {
			return nil, err
		}
		f, err := fund.SetCommittee(tx, id, req.Committee, req.Quorum)
		if err != nil {
			return nil, err
		}
		return fundView(tx, f)
	})
}

// committeeInScope: a committee member outside the admin's scope is not
// found, as an unknown one is (not "of an unrelated community" or
// "without the committee role", which would say they exist and what they
// are).
func committeeInScope(r ledger.Reader, p *Principal, committee []string) error {
	for _, m := range committee {
		if err := memberOutOfScope(r, p, m); err != nil {
			return err
		}
	}
	return nil
}

// --- donations ---------------------------------------------------------------

func (s *Server) createDonation(c *gin.Context) {
	var req DonationRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	p, id := principal(c), c.Param("id")
	n, err := req.ToDomain(id)
	if err != nil {
		fail(c, err)
		return
	}
	s.commit(c, http.StatusCreated, func(tx ledger.Tx) (any, error) {
		if _, err := fundOf(tx, p, id, fundStaff...); err != nil {
			return nil, err
		}
		d, err := fund.Donate(tx, n)
		if err != nil {
			return nil, err
		}
		return donationView(tx, d, true)
	})
}

func (s *Server) reverseDonation(c *gin.Context) {
	req, ok := bindReverse(c)
	if !ok {
		return
	}
	s.donationOp(c, fundStaff, func(tx ledger.Tx, id string) (*fund.Donation, error) {
		return fund.ReverseDonation(tx, id, req.Reason)
	})
}

// eraseDonor destroys a donor's name (a person named by name; admin of the
// fund's community).
func (s *Server) eraseDonor(c *gin.Context) {
	var req DecisionRequest
	if err := bindOptional(c, &req); err != nil {
		fail(c, err)
		return
	}
	s.donationOp(c, []community.Role{community.RoleAdmin}, func(tx ledger.Tx, id string) (*fund.Donation, error) {
		return fund.EraseDonor(tx, id, req.Reason)
	})
}

// donationOp commits fn on the donation of the path, for a caller holding
// one of roles over its fund; out of scope, the donation is as unknown as
// a missing one.
func (s *Server) donationOp(c *gin.Context, roles []community.Role, fn func(tx ledger.Tx, id string) (*fund.Donation, error)) {
	p, id := principal(c), c.Param("id")
	s.commit(c, http.StatusOK, func(tx ledger.Tx) (any, error) {
		var d fund.Donation
		notFound := ledger.Errorf(ledger.CodeNotFound, "donation %s not found", truncateStr(id, ledger.MaxIDLen))
		if err := tx.Doc(fund.KindDonation, id, &d); ledger.IsCode(err, ledger.CodeNotFound) {
			return nil, notFound
		} else if err != nil {
			return nil, err
		}
		if _, err := fundOf(tx, p, d.Fund, roles...); err != nil {
			return nil, notFound // out of scope: as unknown as a missing one
		}
		out, err := fn(tx, id)
		if err != nil {
			return nil, err
		}
		return donationView(tx, out, true)
	})
}

func (s *Server) listDonations(c *gin.Context) {
	pg, err := seqPage(c)
	if err != nil {
		fail(c, err)
		return
	}
	p := principal(c)
	viewJSON(s, c, func(r ledger.Reader) (List[DonationView], error) {
		f, err := fundOf(r, p, c.Param("id"), fundReaders...)
		if err != nil {
			return List[DonationView]{}, err
		}
		ds, next, err := fund.Donations(r, f.ID, pg)
		if err != nil {
			return List[DonationView]{}, err
		}
		views := make([]DonationView, len(ds))
		for i, d := range ds {
			if views[i], err = donationView(r, d, false); err != nil {
				return List[DonationView]{}, err
			}
		}
		return newList(views, next), nil
	})
}

// --- proposals ---------------------------------------------------------------

func (s *Server) createProposal(c *gin.Context) {
	var req ProposalRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	p, id := principal(c), c.Param("id")
	n, err := req.ToDomain(id, p.Member)
	if err != nil {
		fail(c, err)
		return
	}
	s.commit(c, http.StatusCreated, func(tx ledger.Tx) (any, error) {
		f, err := fundOf(tx, p, id, fundProposers...)
		if err != nil {
			return nil, err
		}
		pr, err := fund.Propose(tx, n)
		if err != nil {
			return nil, err
		}
		return proposalView(pr, f), nil
	})
}

func (s *Server) listProposals(c *gin.Context) {
	pg, err := seqPage(c)
	if err != nil {
		fail(c, err)
		return
	}
	p := principal(c)
	viewJSON(s, c, func(r ledger.Reader) (List[ProposalView], error) {
		f, err := fund.Get(r, c.Param("id"))
		if err != nil {
			return List[ProposalView]{}, err
		}
		if err := canReadFund(r, p, f); err != nil {
			return List[ProposalView]{}, err
		}
		ps, next, err := fund.Proposals(r, f.ID, pg)
		views := make([]ProposalView, len(ps))
		for i, x := range ps {
			views[i] = proposalView(fund.Current(r, f, x), f)
		}
		return newList(views, next), err
	})
}

// readProposal loads a proposal the caller may read: its proposer, or a
// reader of its fund.
func readProposal(r ledger.Reader, p *Principal, id string) (*fund.Proposal, *fund.Fund, error) {
	pr, err := fund.GetProposal(r, id)
	if err != nil {
		return nil, nil, err
	}
	f, err := fund.Get(r, pr.Fund)
	if err != nil {
		return nil, nil, err
	}
	if pr.Proposer == p.Acting() {
		return pr, f, nil
	}
	return pr, f, canReadFund(r, p, f)
}

func (s *Server) getProposal(c *gin.Context) {
	p := principal(c)
	viewJSON(s, c, func(r ledger.Reader) (ProposalView, error) {
		pr, f, err := readProposal(r, p, c.Param("id"))
		if err != nil {
			return ProposalView{}, err
		}
		return proposalView(fund.Current(r, f, pr), f), nil
	})
}

// proposalOp runs a committee action on proposal :id and answers the
// proposal as it stands after it.
func (s *Server) proposalOp(c *gin.Context, fn func(tx ledger.Tx, p *Principal, id string) (*fund.Proposal, error)) {
	p, id := principal(c), c.Param("id")
	if err := inPerson(p); err != nil {
		fail(c, err)
		return
	}
	s.commit(c, http.StatusOK, func(tx ledger.Tx) (any, error) {
		pr, err := fn(tx, p, id)
		if err != nil {
			return nil, err
		}
		f, err := fund.Get(tx, pr.Fund)
		if err != nil {
			return nil, err
		}
		return proposalView(pr, f), nil
	})
}

func (s *Server) voteProposal(c *gin.Context) {
	var req ProposalVoteRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	s.proposalOp(c, func(tx ledger.Tx, p *Principal, id string) (*fund.Proposal, error) {
		if err := committeeRole(p); err != nil {
			return nil, err
		}
		return fund.Cast(tx, id, p.Member, req.Decision, req.Reason)
	})
}

func (s *Server) recuseProposal(c *gin.Context) {
	var req ProposalReasonRequest
	if err := bindOptional(c, &req); err != nil {
		fail(c, err)
		return
	}
	s.proposalOp(c, func(tx ledger.Tx, p *Principal, id string) (*fund.Proposal, error) {
		if err := committeeRole(p); err != nil {
			return nil, err
		}
		return fund.Recuse(tx, id, p.Member, req.Reason)
	})
}

func (s *Server) objectProposal(c *gin.Context) {
	var req ProposalReasonRequest
	// No body is judged as no reason (fund.Object: 400 invalid_request).
	if err := bindOptional(c, &req); err != nil {
		fail(c, err)
		return
	}
	s.proposalOp(c, func(tx ledger.Tx, p *Principal, id string) (*fund.Proposal, error) {
		pr, err := fund.GetProposal(tx, id)
		if err != nil {
			return nil, err
		}
		f, err := fund.Get(tx, pr.Fund)
		if err != nil {
			return nil, err
		}
		if !onCommittee(p, f) {
			if err := Authorize(tx, p, f.Community, community.RoleCoordinator); err != nil {
				if ledger.IsCode(err, ledger.CodeForbidden) {
					return nil, ledger.Errorf(ledger.CodeForbidden, "a member of fund %s's committee, or a coordinator of its community, objects", f.ID)
				}
				return nil, err
			}
		}
		return fund.Object(tx, id, p.Member, req.Reason)
	})
}

// --- public disclosure (公示) -------------------------------------------------

// PublicFundSummary is a fund in the public list: totals only.
type PublicFundSummary struct {
	ID        string              `json:"id"`
	Name      string              `json:"name"`
	Community string              `json:"community"`
	Unit      string              `json:"unit" doc:"CNY: the unit of every amount here"`
	Balance   string              `json:"balance"`
	Available string              `json:"available"`
	Held      string              `json:"held"`
	Donated   string              `json:"donated"`
	Disbursed string              `json:"disbursed"`
	Projects  []PublicProjectView `json:"projects"`
}

// PublicProjectView is a restricted project's money.
type PublicProjectView struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Balance string `json:"balance"`
	Held    string `json:"held"`
}

// PublicDonationView is a donation on the public page: its receipt
// number, the donor (a company's or organisation's name, a member's id, a
// person's salted commitment, or "anonymous"), and its audit record
// (seq) with the path of that record's audit receipt (record, inclusion
// proof, signed checkpoint), which anyone can fetch and verify.
type PublicDonationView struct {
	Receipt string `json:"receipt"`
	Unit    string `json:"unit" doc:"CNY: the unit of every amount here"`
	Donor   string `json:"donor"`
	// DonorCommitment: for a person named by name, the salted commitment
	// the chain holds (donor shows the name until it is erased).
	DonorCommitment string    `json:"donor_commitment,omitempty"`
	DonorKind       string    `json:"donor_kind" doc:"company, organisation or person; anonymous for an anonymous donation"`
	Amount          string    `json:"amount"`
	Project         string    `json:"project,omitempty"`
	Time            time.Time `json:"time"`
	Seq             uint64    `json:"seq"`
	AuditReceipt    string    `json:"audit_receipt"`
	// Reversed donations stay listed, with the receipt of the record that
	// corrected them.
	Reversed        bool   `json:"reversed,omitempty"`
	ReversalReceipt string `json:"reversal_receipt,omitempty"`
}

// PublicEventView is one status change of a disbursement with its audit
// record and receipt. audit_receipt is absent when the record is a
// member's change that decided the proposal (a committee role withdrawn,
// relatives named, an erasure): it names roles and family ties, which are
// not disclosure data, so it is not public.
type PublicEventView struct {
	Action       string    `json:"action"`
	Time         time.Time `json:"time"`
	Seq          uint64    `json:"seq"`
	AuditReceipt string    `json:"audit_receipt,omitempty"`
}

// PublicDisbursementView is a proposal on the public page: pseudonymous
// beneficiary, vote counts, dates; the view names no voter, proposer or
// reason. Each event's audit receipt is the chain's record itself, which
// anyone may check: it names its actor (the proposer, a voter) by member
// id and carries a vote's or objection's reason, as every record does
// (reasons are about the proposal, never about a person: SPEC §3).
type PublicDisbursementView struct {
	ID          string            `json:"id"`
	Unit        string            `json:"unit" doc:"CNY: the unit of every amount here"`
	Status      string            `json:"status" enum:"voting|approved|paid|rejected|expired"`
	Amount      string            `json:"amount"`
	Project     string            `json:"project,omitempty"`
	Beneficiary string            `json:"beneficiary"`
	Purpose     string            `json:"purpose"`
	Evidence    []string          `json:"evidence"`
	Approvals   int               `json:"approvals"`
	Rejections  int               `json:"rejections"`
	Recusals    int               `json:"recusals"`
	Objections  int               `json:"objections"`
	Quorum      int               `json:"quorum"`
	Created     time.Time         `json:"created"`
	Deadline    time.Time         `json:"deadline"`
	WindowEnds  time.Time         `json:"window_ends,omitzero"`
	Resolved    time.Time         `json:"resolved,omitzero"`
	Events      []PublicEventView `json:"events"`
}

// PublicFundView is one fund's disclosure: totals, the latest donations
// and disbursements (older ones through their paged routes), the
// committee's size (the members who can vote now) and quorum, and the
// latest signed checkpoint of the audit log, against which every receipt
// verifies.
type PublicFundView struct {
	PublicFundSummary
	CommitteeSize     int                      `json:"committee_size"`
	Quorum            int                      `json:"quorum"`
	Donations         []PublicDonationView     `json:"donations"`
	DonationsNext     *string                  `json:"donations_next"`
	Disbursements     []PublicDisbursementView `json:"disbursements"`
	DisbursementsNext *string                  `json:"disbursements_next"`
	Checkpoint        string                   `json:"checkpoint,omitempty"`
}

func (s *Server) publicFundRoutes() []route {
	paged := []string{"after", "limit:int", "order"}
	return []route{
		{method: "GET", path: "/v1/public/funds", summary: "Public list of funds with their totals (no token)", tag: "public", query: []string{"after", "limit:int"}, resp: List[PublicFundSummary]{}, status: 200, handle: s.publicFunds},
		{method: "GET", path: "/v1/public/funds/:id", summary: "Public disclosure (公示) of a fund: totals, donations, disbursements, vote counts, checkpoint (no token)", tag: "public", resp: PublicFundView{}, status: 200, handle: s.publicFund},
		{method: "GET", path: "/v1/public/funds/:id/donations", summary: "Public donations of a fund, paged (no token)", tag: "public", query: paged, resp: List[PublicDonationView]{}, status: 200, handle: s.publicDonations},
		{method: "GET", path: "/v1/public/funds/:id/disbursements", summary: "Public disbursements of a fund, paged (no token)", tag: "public", query: paged, resp: List[PublicDisbursementView]{}, status: 200, handle: s.publicDisbursements},
		{method: "GET", path: "/v1/public/funds/:id/receipts/:seq", summary: "Audit receipt (record, inclusion proof, signed checkpoint) of a disclosed entry (no token)", tag: "public", resp: audit.Receipt{}, status: 200, handle: s.publicFundReceipt},
	}
}

func fundReceiptPath(fundID string, seq uint64) string {
	return "/v1/public/funds/" + fundID + "/receipts/" + strconv.FormatUint(seq, 10)
}

func publicSummary(r ledger.Reader, f *fund.Fund) (PublicFundSummary, error) {
	v, err := fundView(r, f)
	if err != nil {
		return PublicFundSummary{}, err
	}
	out := PublicFundSummary{Unit: string(ledger.CNY), ID: f.ID, Name: f.Name, Community: f.Community, Balance: v.Balance, Available: v.Available,
		Held: v.Held, Donated: v.Donated, Disbursed: v.Disbursed, Projects: []PublicProjectView{}}
	for _, id := range slices.Sorted(maps.Keys(v.Projects)) {
		p := v.Projects[id]
		out.Projects = append(out.Projects, PublicProjectView{ID: id, Name: p.Name, Balance: p.Balance, Held: p.Held})
	}
	return out, nil
}

// anonymousDonor is what the public sees instead of an anonymous donor.
const anonymousDonor = "anonymous"

func publicDonation(r ledger.Reader, d *fund.Donation) (PublicDonationView, error) {
	v := PublicDonationView{Unit: string(ledger.CNY), Receipt: d.Receipt, Donor: d.Donor, DonorKind: d.DonorKind, Amount: cny(d.Amount),
		Project: d.Project, Time: d.Time, Seq: d.Seq, AuditReceipt: fundReceiptPath(d.Fund, d.Seq)}
	if d.Reversal != "" {
		v.Reversed, v.ReversalReceipt = true, fundReceiptPath(d.Fund, d.ReversalSeq)
	}
	switch {
	case d.Anonymous:
		// Nor what kind of donor: a company or a person would narrow it.
		v.Donor, v.DonorKind = anonymousDonor, anonymousDonor
	case d.Sealed:
		// A person named by name who did not ask to be anonymous is shown
		// by name (SPEC §5: anonymous where asked), read from the
		// personal store; the chain and its receipts hold only the
		// commitment, which the donor, given the salt by the fund's staff,
		// can recompute. Once the name is erased, the commitment is all
		// that is shown.
		v.Donor, v.DonorCommitment = d.Commitment, d.Commitment
		name, _, erased, err := fund.DonorName(r, d)
		if err != nil {
			return v, err
		}
		if !erased && name != "" {
			v.Donor = name
		}
	}
	return v, nil
}

func publicDisbursement(p *fund.Proposal, f *fund.Fund) PublicDisbursementView {
	approvals, rejections := p.Tally()
	quorum, _ := p.QuorumOf(f)
	v := PublicDisbursementView{Unit: string(ledger.CNY), ID: p.ID, Status: string(p.Status), Amount: cny(p.Amount), Project: p.Project,
		Beneficiary: p.Beneficiary, Purpose: p.Purpose, Evidence: nonNilStrings(p.Evidence), Approvals: approvals,
		Rejections: rejections, Recusals: len(p.Recusals), Objections: len(p.Objections), Quorum: quorum,
		Created: p.Created, Deadline: p.Deadline, WindowEnds: p.WindowEnds, Resolved: p.Resolved, Events: []PublicEventView{}}
	for _, e := range p.Events {
		ev := PublicEventView{Action: e.Action, Time: e.Time, Seq: e.Seq}
		if !e.Withheld {
			ev.AuditReceipt = fundReceiptPath(p.Fund, e.Seq)
		}
		v.Events = append(v.Events, ev)
	}
	return v
}

func (s *Server) publicFunds(c *gin.Context) {
	pg, err := idPage(c)
	if err != nil {
		fail(c, err)
		return
	}
	pg.Reverse = false // by id
	var out List[PublicFundSummary]
	if s.view(c, func(r ledger.Reader) error {
		var items []PublicFundSummary
		next, err := r.Docs(fund.KindFund, pg, func(id string, _ []byte) error {
			f, err := fund.Get(r, id)
			if err != nil {
				return err
			}
			sum, err := publicSummary(r, f)
			items = append(items, sum)
			return err
		})
		out = newList(items, next)
		return err
	}) {
		c.JSON(http.StatusOK, out)
	}
}

func (s *Server) publicFund(c *gin.Context) {
	var out PublicFundView
	recent := ledger.Page{Limit: FundDisclosureRecent, Reverse: true}
	if !s.view(c, func(r ledger.Reader) error {
		f, err := fund.Get(r, c.Param("id"))
		if err != nil {
			return err
		}
		if out.PublicFundSummary, err = publicSummary(r, f); err != nil {
			return err
		}
		// The committee that decides: members who cannot vote now are
		// not counted.
		out.CommitteeSize, out.Quorum = len(f.Committee)-len(fund.Inactive(r, f)), f.Quorum
		ds, err := publicDonationPage(r, f, recent)
		if err != nil {
			return err
		}
		ps, err := publicDisbursementPage(r, f, recent)
		out.Donations, out.DonationsNext = ds.Items, ds.Next
		out.Disbursements, out.DisbursementsNext = ps.Items, ps.Next
		return err
	}) {
		return
	}
	out.Checkpoint = s.latestCheckpoint(c)
	c.JSON(http.StatusOK, out)
}

// latestCheckpoint returns the latest signed checkpoint note, or "" when
// there is no audit log (tests) or no checkpoint yet.
func (s *Server) latestCheckpoint(c *gin.Context) string {
	if s.cfg.Audit == nil {
		return ""
	}
	note, err := s.cfg.Audit.Checkpoint(c.Request.Context())
	if err != nil {
		return ""
	}
	return string(note)
}

func publicDonationPage(r ledger.Reader, f *fund.Fund, pg ledger.Page) (List[PublicDonationView], error) {
	ds, next, err := fund.Donations(r, f.ID, pg)
	views := make([]PublicDonationView, len(ds))
	for i, d := range ds {
		if err != nil {
			break
		}
		views[i], err = publicDonation(r, d)
	}
	return newList(views, next), err
}

func publicDisbursementPage(r ledger.Reader, f *fund.Fund, pg ledger.Page) (List[PublicDisbursementView], error) {
	ps, next, err := fund.Proposals(r, f.ID, pg)
	views := make([]PublicDisbursementView, len(ps))
	for i, p := range ps {
		// Counted as its next vote would count them (Tally leaves out
		// votes taken back by a conflict found since).
		views[i] = publicDisbursement(fund.Current(r, f, p), f)
	}
	return newList(views, next), err
}

func (s *Server) publicDonations(c *gin.Context) {
	s.publicPage(c, func(r ledger.Reader, f *fund.Fund, pg ledger.Page) (any, error) {
		return publicDonationPage(r, f, pg)
	})
}

func (s *Server) publicDisbursements(c *gin.Context) {
	s.publicPage(c, func(r ledger.Reader, f *fund.Fund, pg ledger.Page) (any, error) {
		return publicDisbursementPage(r, f, pg)
	})
}

func (s *Server) publicPage(c *gin.Context, fn func(ledger.Reader, *fund.Fund, ledger.Page) (any, error)) {
	pg, err := seqPage(c)
	if err != nil {
		fail(c, err)
		return
	}
	var out any
	if s.view(c, func(r ledger.Reader) error {
		f, err := fund.Get(r, c.Param("id"))
		if err != nil {
			return err
		}
		out, err = fn(r, f, pg)
		return err
	}) {
		c.JSON(http.StatusOK, out)
	}
}

// publicFundReceipt serves receipts of the fund's disclosed records only,
// so that the public route is no window onto the rest of the log.
func (s *Server) publicFundReceipt(c *gin.Context) {
	seq, err := strconv.ParseUint(c.Param("seq"), 10, 64)
	if err != nil {
		failCode(c, ledger.CodeInvalidRequest, "seq must be a non-negative integer")
		return
	}
	if !s.view(c, func(r ledger.Reader) error {
		ok, err := fund.Disclosed(r, c.Param("id"), seq)
		if err == nil && !ok {
			err = ledger.Errorf(ledger.CodeNotFound, "record %d is not disclosed by fund %s", seq, c.Param("id"))
		}
		return err
	}) {
		return
	}
	a := s.auditLog(c)
	if a == nil {
		return
	}
	rc, err := a.Receipt(c.Request.Context(), seq)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, rc)
}

// --- report ------------------------------------------------------------------

// FundReportTotals are figures of a fund or project over the period.
type FundReportTotals struct {
	Donations     string `json:"donations" doc:"CNY donated in the period"`
	DonationCount int    `json:"donation_count"`
	Disbursed     string `json:"disbursed" doc:"CNY paid out in the period"`
	Payments      int    `json:"payments" doc:"proposals paid in the period"`
	Held          string `json:"held" doc:"CNY held by open proposals at the end of the period"` // held by open proposals at the end of the period
	Beneficiaries int    `json:"beneficiaries" doc:"distinct beneficiaries paid in the period"`
}

// FundReportView is the fund report: totals and by project ("unrestricted"
// for money given without a restriction).
type FundReportView struct {
	Fund string    `json:"fund"`
	Unit string    `json:"unit" doc:"CNY: the unit of every amount here"`
	From time.Time `json:"from,omitzero"`
	To   time.Time `json:"to,omitzero"`
	FundReportTotals
	ByProject map[string]FundReportTotals `json:"by_project"`
}

func reportTotals(t *fund.Totals) FundReportTotals {
	return FundReportTotals{Donations: cny(t.Donations), DonationCount: t.DonationCount, Disbursed: cny(t.Disbursed),
		Payments: t.Payments, Held: cny(t.Held), Beneficiaries: t.Beneficiaries}
}

// fundPeriod reads ?from=&to=: dates (2026-03-01, to inclusive) or RFC
// 3339 times (to exclusive); both optional.
func fundPeriod(c *gin.Context) (from, to time.Time, err error) {
	parse := func(name string, endOfDay bool) (time.Time, error) {
		v := c.Query(name)
		if v == "" {
			return time.Time{}, nil
		}
		// A date is a calendar day where the communities are (China
		// Standard Time), as in the services report.
		// Days and instants lie within the years 1 to 9999 (a day as named,
		// an instant in UTC), as in the other reports: the period is
		// answered in UTC, and an instant outside them cannot be written
		// back in RFC 3339.
		outside := ledger.Errorf(ledger.CodeInvalidRequest, "%s must lie between the years 1 and 9999", name)
		if t, err := time.ParseInLocation(time.DateOnly, v, timebank.DayZone); err == nil {
			if t.Year() < timebank.MinDayYear || t.Year() > timebank.MaxDayYear {
				return time.Time{}, outside
			}
			if endOfDay {
				t = t.AddDate(0, 0, 1)
			}
			return t, nil
		}
		t, err := ledger.ParseRFC3339(v)
		if err != nil {
			return time.Time{}, ledger.Errorf(ledger.CodeInvalidRequest, "%s must be a date (2026-03-01) or an RFC 3339 time", name)
		}
		if t = t.UTC(); t.Year() < timebank.MinDayYear || t.Year() > timebank.MaxDayYear {
			return time.Time{}, outside
		}
		return t, nil
	}
	if from, err = parse("from", false); err != nil {
		return
	}
	if to, err = parse("to", true); err == nil && !to.IsZero() && !to.After(from) {
		err = ledger.Errorf(ledger.CodeInvalidRequest, "to must be after from")
	}
	return
}

func (s *Server) fundReport(c *gin.Context) {
	from, to, err := fundPeriod(c)
	if err != nil {
		fail(c, err)
		return
	}
	p := principal(c)
	var rep *fund.Report
	if !s.view(c, func(r ledger.Reader) error {
		f, err := fund.Get(r, c.Param("id"))
		if err != nil {
			return err
		}
		if err := canReadFund(r, p, f); err != nil {
			return err
		}
		rep, err = fund.BuildReport(r, f.ID, from, to)
		return err
	}) {
		return
	}
	// The period is China Standard Time days; its instants are answered
	// in UTC like every time of the API (SPEC §7).
	v := fundReportView(rep)
	if tbWantsCSV(c) {
		writeFundReportCSV(c, v)
		return
	}
	c.JSON(http.StatusOK, v)
}

// FundSubtreeReportView adds up the funds of a community subtree: the
// totals (beneficiaries counted once across funds), then each fund's
// report with its projects.
type FundSubtreeReportView struct {
	Community string    `json:"community"`
	Unit      string    `json:"unit" doc:"CNY: the unit of every amount here"`
	From      time.Time `json:"from,omitzero"`
	To        time.Time `json:"to,omitzero"`
	FundReportTotals
	ByFund map[string]FundReportView `json:"by_fund" doc:"each fund of the subtree, by id, with its projects"`
}

// fundSubtreeReport answers the funds of ?community= and the communities
// below it (SPEC §6), for the staff and auditors of that community.
func (s *Server) fundSubtreeReport(c *gin.Context) {
	from, to, err := fundPeriod(c)
	if err != nil {
		fail(c, err)
		return
	}
	p, root := principal(c), c.Query("community")
	if root == "" {
		failCode(c, ledger.CodeInvalidRequest, "community is required: the root of the subtree whose funds are added up")
		return
	}
	var rep *fund.SubtreeReport
	if !s.view(c, func(r ledger.Reader) error {
		if err := Authorize(r, p, root, fundReaders...); err != nil {
			return err
		}
		rep, err = fund.BuildSubtreeReport(r, root, from, to)
		return err
	}) {
		return
	}
	v := FundSubtreeReportView{Unit: string(ledger.CNY), Community: rep.Community, From: rep.From.UTC(), To: rep.To.UTC(), FundReportTotals: reportTotals(&rep.Total),
		ByFund: map[string]FundReportView{}}
	for id, fr := range rep.ByFund {
		v.ByFund[id] = fundReportView(fr)
	}
	if tbWantsCSV(c) {
		writeFundSubtreeCSV(c, v)
		return
	}
	c.JSON(http.StatusOK, v)
}

// writeFundSubtreeCSV writes the subtree's total, then per fund its
// total and its projects; every row names the community asked about and
// the period, as the fund report's rows do.
func writeFundSubtreeCSV(c *gin.Context, v FundSubtreeReportView) {
	from, to := csvInstant(v.From), csvInstant(v.To)
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", fmt.Sprintf("attachment; filename=%q", "funds-"+v.Community+".csv"))
	c.Status(http.StatusOK)
	w := csv.NewWriter(c.Writer)
	row := func(fundID, project string, t FundReportTotals) {
		_ = w.Write([]string{csvText(fundID), csvText(project), t.Donations, strconv.Itoa(t.DonationCount), t.Disbursed, strconv.Itoa(t.Payments),
			t.Held, strconv.Itoa(t.Beneficiaries), csvText(v.Community), from, to, v.Unit})
	}
	_ = w.Write([]string{"fund", "project", "donations", "donation_count", "disbursed", "payments", "held", "beneficiaries", "community", "from", "to", "unit"})
	row("total", "total", v.FundReportTotals)
	for _, id := range slices.Sorted(maps.Keys(v.ByFund)) {
		f := v.ByFund[id]
		row(id, "total", f.FundReportTotals)
		for _, pid := range slices.Sorted(maps.Keys(f.ByProject)) {
			row(id, pid, f.ByProject[pid])
		}
	}
	w.Flush()
}

// csvInstant is a report period's bound in CSV: RFC 3339 UTC, empty for
// an open end.
func csvInstant(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339Nano)
}

// fundReportView is the API's form of a fund's report.
func fundReportView(rep *fund.Report) FundReportView {
	v := FundReportView{Unit: string(ledger.CNY), Fund: rep.Fund, From: rep.From.UTC(), To: rep.To.UTC(), FundReportTotals: reportTotals(&rep.Total),
		ByProject: map[string]FundReportTotals{}}
	for id, t := range rep.ByProject {
		v.ByProject[id] = reportTotals(t)
	}
	return v
}

// writeFundReportCSV writes one row for the total and one per project;
// every row names the fund and the period (RFC 3339 UTC instants, to
// exclusive and empty for an open end), so a row copied into another
// sheet still says what it counts.
func writeFundReportCSV(c *gin.Context, v FundReportView) {
	from, to := csvInstant(v.From), csvInstant(v.To) // the period exactly, as the JSON answer has it
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", fmt.Sprintf("attachment; filename=%q", "fund-"+v.Fund+".csv"))
	c.Status(http.StatusOK)
	w := csv.NewWriter(c.Writer)
	row := func(name string, t FundReportTotals) {
		_ = w.Write([]string{csvText(name), t.Donations, strconv.Itoa(t.DonationCount), t.Disbursed, strconv.Itoa(t.Payments),
			t.Held, strconv.Itoa(t.Beneficiaries), csvText(v.Fund), from, to, v.Unit})
	}
	_ = w.Write([]string{"project", "donations", "donation_count", "disbursed", "payments", "held", "beneficiaries", "fund", "from", "to", "unit"})
	row("total", v.FundReportTotals)
	for _, id := range slices.Sorted(maps.Keys(v.ByProject)) {
		row(id, v.ByProject[id])
	}
	w.Flush()
}

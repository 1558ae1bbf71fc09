package fund_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"tally/audit"
	"tally/ledger"
	"tally/ledger/community"
	"tally/ledger/fund"
	"tally/ledger/store"
)

// clock is an injected clock that moves only when told.
type clock struct{ ns atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// env is a real store in t.TempDir() with a community "c1", committee
// members a, b, c, a coordinator "coord" who is also on committee "d",
// and the fund's timers registered.
type env struct {
	t     *testing.T
	st    *store.Store
	clock *clock
}

func newEnv(t *testing.T) *env {
	t.Helper()
	c := &clock{}
	c.ns.Store(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC).UnixNano())
	st, err := store.Open(t.TempDir(), store.Options{Clock: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for kind, h := range fund.Timers() {
		st.OnTimer(kind, h)
	}
	e := &env{t: t, st: st, clock: c}
	e.must(func(tx ledger.Tx) (any, error) {
		return community.Create(tx, community.NewCommunity{ID: "c1", Name: "幸福社区"})
	})
	e.addMember("a", nil, community.RoleCommittee)
	e.addMember("b", nil, community.RoleCommittee)
	e.addMember("c", nil, community.RoleCommittee)
	e.addMember("coord", nil, community.RoleCoordinator, community.RoleCommittee)
	e.addMember("res", []string{"c"}, community.RoleResident) // a relative of c
	return e
}

func (e *env) addMember(id string, relatives []string, roles ...community.Role) {
	e.t.Helper()
	e.must(func(tx ledger.Tx) (any, error) {
		return community.CreateMember(tx, community.NewMember{ID: id, Community: "c1", Roles: roles, Relatives: relatives})
	})
}

func (e *env) run(op ledger.Op) (any, error) {
	res, err := e.st.Submit(context.Background(), ledger.Request{Actor: ledger.Actor{ID: "test"}, Op: op})
	return res.Value, err
}

func (e *env) must(op ledger.Op) any {
	e.t.Helper()
	v, err := e.run(op)
	if err != nil {
		e.t.Fatalf("op failed: %v", err)
	}
	return v
}

// refused runs op and checks it fails with code.
func (e *env) refused(code ledger.Code, op ledger.Op) {
	e.t.Helper()
	_, err := e.run(op)
	if got := ledger.ErrorCode(err); got != code {
		e.t.Fatalf("code: got %q (%v), want %q", got, err, code)
	}
}

func (e *env) createFund(committee []string, quorum int, projects ...fund.NewProject) *fund.Fund {
	e.t.Helper()
	return e.must(func(tx ledger.Tx) (any, error) {
		return fund.Create(tx, fund.NewFund{ID: "f1", Community: "c1", Name: "幸福基金", Committee: committee,
			Quorum: quorum, Projects: projects})
	}).(*fund.Fund)
}

func donate(n fund.NewDonation) ledger.Op {
	return func(tx ledger.Tx) (any, error) { return fund.Donate(tx, n) }
}

func propose(n fund.NewProposal) ledger.Op {
	return func(tx ledger.Tx) (any, error) { return fund.Propose(tx, n) }
}

func vote(id, voter, decision string) ledger.Op {
	return func(tx ledger.Tx) (any, error) { return fund.Cast(tx, id, voter, decision, "理由："+decision) }
}

func (e *env) proposal(n fund.NewProposal) *fund.Proposal {
	e.t.Helper()
	if n.Fund == "" {
		n.Fund = "f1"
	}
	if n.Proposer == "" {
		n.Proposer = "coord"
	}
	if n.Beneficiary == "" {
		n.Beneficiary = "ben-7"
	}
	if n.Purpose == "" {
		n.Purpose = "困难家庭助学金"
	}
	return e.must(propose(n)).(*fund.Proposal)
}

func (e *env) get(id string) *fund.Proposal {
	e.t.Helper()
	var p *fund.Proposal
	if err := e.st.View(context.Background(), func(r ledger.Reader) (err error) {
		p, err = fund.GetProposal(r, id)
		return err
	}); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// account returns balance and available of an account.
func (e *env) account(id string) (int64, int64) {
	e.t.Helper()
	var a *ledger.Account
	if err := e.st.View(context.Background(), func(r ledger.Reader) (err error) {
		a, err = r.Account(id)
		return err
	}); err != nil {
		e.t.Fatal(err)
	}
	return a.Balance(), a.Available()
}

func (e *env) wantStatus(id string, want fund.Status) *fund.Proposal {
	e.t.Helper()
	p := e.get(id)
	if p.Status != want {
		e.t.Fatalf("proposal %s: status %s, want %s", id, p.Status, want)
	}
	return p
}

func (e *env) wantAccount(id string, balance, available int64) {
	e.t.Helper()
	if b, a := e.account(id); b != balance || a != available {
		e.t.Fatalf("%s: balance/available %d/%d, want %d/%d", id, b, a, balance, available)
	}
}

// verify replays the whole chain against the stored balances.
func (e *env) verify() {
	e.t.Helper()
	if _, err := e.st.Audit().Verify(context.Background(), audit.VerifyOptions{}); err != nil {
		e.t.Fatalf("verify: %v", err)
	}
}

func (e *env) record(seq uint64) *audit.Record {
	e.t.Helper()
	raw, err := e.st.Audit().Record(seq)
	if err != nil {
		e.t.Fatal(err)
	}
	r, err := audit.Decode(raw.Record)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func TestApprovalPaysAtOnce(t *testing.T) {
	e := newEnv(t)
	e.createFund([]string{"a", "b", "c"}, 2)
	e.must(donate(fund.NewDonation{Fund: "f1", Donor: "corp-1", DonorKind: fund.DonorCompany, Amount: 100000}))
	p := e.proposal(fund.NewProposal{Amount: 30000})
	e.wantAccount("f1:balance", 100000, 70000)
	e.must(vote(p.ID, "a", fund.Approve))
	e.wantStatus(p.ID, fund.StatusVoting)
	e.must(vote(p.ID, "b", fund.Approve))
	got := e.wantStatus(p.ID, fund.StatusPaid)
	e.wantAccount("f1:balance", 70000, 70000)
	e.wantAccount("f1:paid", 30000, 30000)
	if a, r := got.Tally(); a != 2 || r != 0 || got.Payment == "" {
		t.Fatalf("tally %d/%d payment %q", a, r, got.Payment)
	}
	if rec := e.record(got.Events[len(got.Events)-1].Seq); rec.Action != "proposal.pay" {
		t.Fatalf("deciding vote recorded as %s, want proposal.pay", rec.Action)
	}
	e.refused(fund.CodeProposalClosed, vote(p.ID, "c", fund.Reject))
	// Someone who may not vote learns nothing of the proposal's state.
	e.addMember("outsider", nil, community.RoleCommittee)
	e.refused(fund.CodeNotCommittee, vote(p.ID, "outsider", fund.Approve))
	e.verify()
}

func TestRejectionVoidsHold(t *testing.T) {
	e := newEnv(t)
	e.createFund([]string{"a", "b", "c"}, 2)
	e.must(donate(fund.NewDonation{Fund: "f1", Donor: "p-1", Amount: 50000}))
	p := e.proposal(fund.NewProposal{Amount: 50000})
	e.must(vote(p.ID, "a", fund.Reject))
	e.wantStatus(p.ID, fund.StatusVoting)
	e.must(vote(p.ID, "b", fund.Reject)) // 3 eligible - 2 rejections < 2
	e.wantStatus(p.ID, fund.StatusRejected)
	e.wantAccount("f1:balance", 50000, 50000)
	e.verify()
}

func TestExpiryByTimer(t *testing.T) {
	e := newEnv(t)
	e.createFund([]string{"a", "b", "c"}, 2)
	e.must(donate(fund.NewDonation{Fund: "f1", Donor: "p-1", Amount: 50000}))
	p := e.proposal(fund.NewProposal{Amount: 20000, VotingPeriod: 48 * time.Hour})
	e.must(vote(p.ID, "a", fund.Approve))
	e.clock.Advance(47 * time.Hour)
	e.st.FireTimers(context.Background())
	e.wantStatus(p.ID, fund.StatusVoting)
	e.clock.Advance(time.Hour + time.Second)                          // commit times of a stopped clock creep by nanoseconds
	e.refused(fund.CodeProposalClosed, vote(p.ID, "b", fund.Approve)) // the deadline has passed
	e.st.FireTimers(context.Background())
	e.wantStatus(p.ID, fund.StatusExpired)
	e.wantAccount("f1:balance", 50000, 50000)
	e.verify()
}

func TestRecusal(t *testing.T) {
	e := newEnv(t)
	e.createFund([]string{"a", "b", "c"}, 2)
	e.must(donate(fund.NewDonation{Fund: "f1", Donor: "p-1", Amount: 50000}))
	recuse := func(id, m string) ledger.Op {
		return func(tx ledger.Tx) (any, error) { return fund.Recuse(tx, id, m, "亲属关系") }
	}
	// Two eligible after c recuses: both approvals pass.
	p := e.proposal(fund.NewProposal{Amount: 10000})
	e.must(recuse(p.ID, "c"))
	e.refused(fund.CodeAlreadyVoted, vote(p.ID, "c", fund.Approve))
	e.must(vote(p.ID, "a", fund.Approve))
	e.must(vote(p.ID, "b", fund.Approve))
	e.wantStatus(p.ID, fund.StatusPaid)
	// With two recusals the quorum of 2 is out of reach: rejected.
	q := e.proposal(fund.NewProposal{Amount: 10000})
	e.must(recuse(q.ID, "a"))
	e.wantStatus(q.ID, fund.StatusVoting)
	e.must(recuse(q.ID, "b"))
	e.wantStatus(q.ID, fund.StatusRejected)
	e.wantAccount("f1:balance", 40000, 40000)
	e.verify()
}

func TestObjectionReturnsToVotingThenPays(t *testing.T) {
	e := newEnv(t)
	e.createFund([]string{"a", "b", "c"}, 2)
	e.must(donate(fund.NewDonation{Fund: "f1", Donor: "p-1", Amount: 50000}))
	p := e.proposal(fund.NewProposal{Amount: 20000, ObjectionWindow: 72 * time.Hour})
	e.must(vote(p.ID, "a", fund.Approve))
	e.must(vote(p.ID, "b", fund.Approve))
	e.wantStatus(p.ID, fund.StatusApproved)
	object := func(reason string) ledger.Op {
		return func(tx ledger.Tx) (any, error) { return fund.Object(tx, p.ID, "c", reason) }
	}
	e.refused(ledger.CodeInvalidRequest, object(""))
	e.must(object("受益人信息有误"))
	got := e.wantStatus(p.ID, fund.StatusVoting)
	if a, _ := got.Tally(); a != 0 || got.Round != 2 {
		t.Fatalf("after objection: approvals %d round %d, want 0 and 2", a, got.Round)
	}
	e.wantAccount("f1:balance", 50000, 30000) // still held, by the renewed hold
	// The old window timer must not pay the proposal.
	e.clock.Advance(73 * time.Hour)
	e.st.FireTimers(context.Background())
	e.wantStatus(p.ID, fund.StatusVoting)
	e.must(vote(p.ID, "a", fund.Approve))
	e.must(vote(p.ID, "c", fund.Approve))
	e.wantStatus(p.ID, fund.StatusApproved)
	e.clock.Advance(72*time.Hour + time.Second)
	e.st.FireTimers(context.Background())
	e.wantStatus(p.ID, fund.StatusPaid)
	e.wantAccount("f1:balance", 30000, 30000)
	e.wantAccount("f1:paid", 20000, 20000)
	e.refused(fund.CodeProposalClosed, object("太晚了"))
	e.verify()
}

// TestApprovedPaysAfterOutage: a server stopped from before an approved
// proposal's objection window ended until after its hold's deadline pays
// it on the first tick (the payment fell due first) rather than letting
// the ledger's expiry void the hold the committee approved.
func TestApprovedPaysAfterOutage(t *testing.T) {
	e := newEnv(t)
	e.createFund([]string{"a", "b", "c"}, 2)
	e.must(donate(fund.NewDonation{Fund: "f1", Donor: "p-1", Amount: 50000}))
	var ids []string
	for range 4 {
		p := e.proposal(fund.NewProposal{Amount: 5000, ObjectionWindow: time.Hour})
		e.must(vote(p.ID, "a", fund.Approve))
		e.must(vote(p.ID, "b", fund.Approve))
		e.wantStatus(p.ID, fund.StatusApproved)
		ids = append(ids, p.ID)
	}
	e.clock.Advance(400 * 24 * time.Hour) // past every deadline
	e.st.FireTimers(context.Background())
	for _, id := range ids {
		e.wantStatus(id, fund.StatusPaid)
	}
	e.wantAccount("f1:balance", 30000, 30000)
	e.wantAccount("f1:paid", 20000, 20000)
	e.verify()
}

func TestOvercommitRefused(t *testing.T) {
	e := newEnv(t)
	e.createFund([]string{"a", "b", "c"}, 2)
	e.must(donate(fund.NewDonation{Fund: "f1", Donor: "p-1", Amount: 100000}))
	e.proposal(fund.NewProposal{Amount: 60000})
	e.refused(ledger.CodeInsufficientFunds, propose(fund.NewProposal{Fund: "f1", Amount: 60000, Beneficiary: "b2",
		Purpose: "x", Proposer: "coord"}))
	e.proposal(fund.NewProposal{Amount: 40000})
	e.wantAccount("f1:balance", 100000, 0)
}

func TestRestrictedMoneyStaysWithItsProject(t *testing.T) {
	e := newEnv(t)
	e.createFund([]string{"a", "b", "c"}, 2, fund.NewProject{ID: "school", Name: "助学"}, fund.NewProject{ID: "elder", Name: "助老"})
	e.must(donate(fund.NewDonation{Fund: "f1", Donor: "corp-1", Amount: 50000, Project: "school"}))
	e.wantAccount("f1:proj.school", 50000, 50000)
	base := fund.NewProposal{Fund: "f1", Amount: 10000, Beneficiary: "b1", Purpose: "x", Proposer: "coord"}
	e.refused(fund.CodeRestrictedFunds, propose(base)) // unrestricted: nothing there
	other := base
	other.Project = "elder"
	e.refused(fund.CodeRestrictedFunds, propose(other))
	unknown := base
	unknown.Project = "nope"
	e.refused(ledger.CodeNotFound, propose(unknown))
	// A donation naming a project the fund lacks opens it.
	e.must(donate(fund.NewDonation{Fund: "f1", Donor: "d", Amount: 1, Project: "nope"}))
	e.wantAccount("f1:proj.nope", 1, 1)
	own := base
	own.Project = "school"
	e.must(propose(own))
	e.wantAccount("f1:proj.school", 50000, 40000)
}

func TestVoteRefusals(t *testing.T) {
	e := newEnv(t)
	e.createFund([]string{"a", "b", "c", "coord"}, 2)
	e.addMember("x", nil, community.RoleCommittee) // committee role, other fund
	e.must(donate(fund.NewDonation{Fund: "f1", Donor: "p-1", Amount: 50000}))
	p := e.proposal(fund.NewProposal{Amount: 10000})
	e.refused(fund.CodeNotCommittee, vote(p.ID, "x", fund.Approve))
	e.refused(fund.CodeNotCommittee, vote(p.ID, "res", fund.Approve))
	e.refused(fund.CodeProposerCannotVote, vote(p.ID, "coord", fund.Approve))
	e.must(vote(p.ID, "a", fund.Reject))
	e.refused(fund.CodeAlreadyVoted, vote(p.ID, "a", fund.Approve))
	e.refused(ledger.CodeInvalidRequest, vote(p.ID, "b", "maybe"))
	// c is a relative of the beneficiary "res": must recuse.
	q := e.proposal(fund.NewProposal{Amount: 10000, Beneficiary: "res"})
	e.refused(fund.CodeConflictOfInterest, vote(q.ID, "c", fund.Approve))
	// c cannot vote, so a and b are all that can reach the quorum of 2:
	// one rejection makes it unreachable and rejects the proposal at once
	// (its hold voided) instead of holding the money until the deadline.
	e.must(vote(q.ID, "a", fund.Reject))
	e.wantStatus(q.ID, fund.StatusRejected)
	e.refused(ledger.CodeNotFound, vote("prop-404", "a", fund.Approve))
	// Nobody proposes a payment to themself or to a relative ("res" is
	// c's relative).
	e.refused(fund.CodeConflictOfInterest, propose(fund.NewProposal{Fund: "f1", Amount: 100, Beneficiary: "coord", Purpose: "x", Proposer: "coord"}))
	e.refused(fund.CodeConflictOfInterest, propose(fund.NewProposal{Fund: "f1", Amount: 100, Beneficiary: "res", Purpose: "x", Proposer: "c"}))
	// The purpose and the reasons are shown to the public: no phone or
	// ID-card number in them (figures of the disbursement are fine).
	e.refused(ledger.CodeInvalidRequest, propose(fund.NewProposal{Fund: "f1", Amount: 100, Beneficiary: "ben-7", Purpose: "联系电话 139-1234-5678", Proposer: "coord"}))
	e.refused(ledger.CodeInvalidRequest, func(tx ledger.Tx) (any, error) {
		return fund.Cast(tx, p.ID, "b", fund.Approve, "身份证110101199003071233")
	})
	e.proposal(fund.NewProposal{Amount: 100, Purpose: "2026年11月为13户家庭各发放500元、共6500元"})
	e.verify()
}

// TestProposerRelativeRecuses: a committee member who is the proposer's
// relative may not vote on the proposal (SPEC §5: a member with a
// conflict must recuse), and does not count towards the quorum.
func TestProposerRelativeRecuses(t *testing.T) {
	e := newEnv(t)
	e.addMember("kin", []string{"coord"}, community.RoleCommittee)
	e.createFund([]string{"a", "b", "kin", "coord"}, 2)
	e.must(donate(fund.NewDonation{Fund: "f1", Donor: "p-1", Amount: 50000}))
	p := e.proposal(fund.NewProposal{Amount: 10000})
	e.refused(fund.CodeConflictOfInterest, vote(p.ID, "kin", fund.Approve))
	e.must(vote(p.ID, "a", fund.Reject)) // a and b were all that could reach 2
	e.wantStatus(p.ID, fund.StatusRejected)
	e.verify()
}

// TestRelativeNamedDuringVote: a committee member named the
// beneficiary's relative after the proposal opened may no longer vote and
// no longer counts towards the quorum, so one rejection that leaves the
// quorum unreachable rejects the proposal at once.
func TestRelativeNamedDuringVote(t *testing.T) {
	e := newEnv(t)
	e.addMember("ben", nil, community.RoleResident)
	e.createFund([]string{"a", "b", "c", "coord"}, 2)
	e.must(donate(fund.NewDonation{Fund: "f1", Donor: "p-1", Amount: 50000}))
	p := e.proposal(fund.NewProposal{Amount: 10000, Beneficiary: "ben"})
	e.must(func(tx ledger.Tx) (any, error) {
		return community.UpdateMember(tx, "ben", community.MemberChange{Relatives: &[]string{"b"}})
	})
	e.refused(fund.CodeConflictOfInterest, vote(p.ID, "b", fund.Approve))
	// a and c are all that can reach 2 now: a's rejection ends it.
	e.must(vote(p.ID, "a", fund.Reject))
	e.wantStatus(p.ID, fund.StatusRejected)
	e.verify()
}

func TestCreateRules(t *testing.T) {
	e := newEnv(t)
	mk := func(committee []string, quorum int) ledger.Op {
		return func(tx ledger.Tx) (any, error) {
			return fund.Create(tx, fund.NewFund{ID: "f9", Community: "c1", Name: "基金", Committee: committee, Quorum: quorum})
		}
	}
	e.refused(ledger.CodeInvalidRequest, mk([]string{"a", "b"}, 3))
	e.refused(ledger.CodeInvalidRequest, mk([]string{"a", "b"}, 0))
	e.refused(ledger.CodeInvalidRequest, mk([]string{"a", "a"}, 1))
	e.refused(ledger.CodeNotFound, mk([]string{"a", "ghost"}, 1))
	e.must(mk([]string{"a", "coord"}, 2))
	e.refused(ledger.CodeAlreadyExists, mk([]string{"a"}, 1))
	// The proposer on a committee of 2 with quorum 2 leaves 1 voter.
	e.must(donate(fund.NewDonation{Fund: "f9", Donor: "p-1", Amount: 100}))
	e.refused(fund.CodeQuorumUnreachable, propose(fund.NewProposal{Fund: "f9", Amount: 100, Beneficiary: "b",
		Purpose: "x", Proposer: "coord"}))
}

func TestAnonymousDonorStaysOffChain(t *testing.T) {
	e := newEnv(t)
	e.createFund([]string{"a"}, 1)
	d := e.must(donate(fund.NewDonation{Fund: "f1", Donor: "secret-donor", Amount: 888, Anonymous: true})).(*fund.Donation)
	rec := e.record(d.Seq)
	if _, ok := rec.Content["donor"]; ok {
		t.Fatalf("anonymous donor in the chain: %v", rec.Content)
	}
	// A person named by name: name and salt are sealed in the personal
	// store, not in the donation's document.
	if d.Salt != "" || d.Donor != "" || !d.Sealed {
		t.Fatalf("the document holds the donor or the salt: %+v", d)
	}
	var name, salt string
	if err := e.st.View(context.Background(), func(r ledger.Reader) (err error) {
		name, salt, _, err = fund.DonorName(r, d)
		return err
	}); err != nil || name != "secret-donor" {
		t.Fatalf("sealed donor: %q, %v", name, err)
	}
	if got := rec.Content["donor_commitment"]; got != fund.DonorCommitment(salt, "secret-donor") {
		t.Fatalf("commitment: got %v", got)
	}
	named := e.must(donate(fund.NewDonation{Fund: "f1", Donor: "金辉公司", DonorKind: fund.DonorCompany, Amount: 1})).(*fund.Donation)
	if rec := e.record(named.Seq); rec.Content["donor"] != "金辉公司" || named.Receipt != "f1-000002" {
		t.Fatalf("named company donation: donor %v receipt %s", rec.Content["donor"], named.Receipt)
	}
	// A person named by name is personal data: the chain holds a commitment.
	person := e.must(donate(fund.NewDonation{Fund: "f1", Donor: "王小明", Amount: 1})).(*fund.Donation)
	if rec := e.record(person.Seq); rec.Content["donor"] != nil || rec.Content["donor_commitment"] != person.Commitment || person.Commitment == "" {
		t.Fatalf("person's name in the chain: %v", rec.Content)
	}
}

func TestReport(t *testing.T) {
	e := newEnv(t)
	e.createFund([]string{"a", "b"}, 1, fund.NewProject{ID: "school", Name: "助学"})
	start := e.clock.Now()
	e.must(donate(fund.NewDonation{Fund: "f1", Donor: "p-1", Amount: 10000}))
	e.must(donate(fund.NewDonation{Fund: "f1", Donor: "p-2", Amount: 5000, Project: "school"}))
	p := e.proposal(fund.NewProposal{Amount: 3000, Beneficiary: "ben-1"})
	e.must(vote(p.ID, "a", fund.Approve))
	e.proposal(fund.NewProposal{Amount: 2000, Project: "school", Beneficiary: "ben-2"})
	e.clock.Advance(24 * time.Hour)
	mid := e.clock.Now()
	e.must(donate(fund.NewDonation{Fund: "f1", Donor: "p-3", Amount: 700}))
	var rep *fund.Report
	build := func(from, to time.Time) {
		t.Helper()
		if err := e.st.View(context.Background(), func(r ledger.Reader) (err error) {
			rep, err = fund.BuildReport(r, "f1", from, to)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	build(start, mid)
	if rep.Total.Donations != 15000 || rep.Total.Disbursed != 3000 || rep.Total.Held != 2000 || rep.Total.Beneficiaries != 1 {
		t.Fatalf("first day: %+v", rep.Total)
	}
	if s := rep.ByProject["school"]; s.Donations != 5000 || s.Held != 2000 || s.Disbursed != 0 {
		t.Fatalf("school: %+v", s)
	}
	if u := rep.ByProject[fund.Unrestricted]; u.Donations != 10000 || u.Disbursed != 3000 {
		t.Fatalf("unrestricted: %+v", u)
	}
	build(mid, time.Time{})
	if rep.Total.Donations != 700 || rep.Total.Disbursed != 0 || rep.Total.Held != 2000 {
		t.Fatalf("second day: %+v", rep.Total)
	}
}

// TestDonationReversalNotByDonorOrFamily: a reversed donation goes back
// to its donor, so staff do not reverse their own donation (forbidden) or
// a relative's (conflict_of_interest); someone else does.
func TestDonationReversalNotByDonorOrFamily(t *testing.T) {
	e := newEnv(t)
	e.createFund([]string{"a", "b", "c"}, 2)
	own := e.must(donate(fund.NewDonation{Fund: "f1", Donor: "coord", Amount: 1000})).(*fund.Donation)
	kin := e.must(donate(fund.NewDonation{Fund: "f1", Donor: "res", Amount: 1000})).(*fund.Donation) // res is c's relative
	as := func(actor, id string) error {
		_, err := e.st.Submit(context.Background(), ledger.Request{Actor: ledger.Actor{ID: actor}, Op: func(tx ledger.Tx) (any, error) {
			return fund.ReverseDonation(tx, id, "录错了")
		}})
		return err
	}
	if err := as("coord", own.ID); ledger.ErrorCode(err) != ledger.CodeForbidden {
		t.Fatalf("the donor reversing their own donation: %v, want forbidden", err)
	}
	if err := as("c", kin.ID); ledger.ErrorCode(err) != ledger.CodeConflictOfInterest {
		t.Fatalf("a relative of the donor reversing: %v, want conflict_of_interest", err)
	}
	for _, id := range []string{own.ID, kin.ID} {
		if err := as("a", id); err != nil {
			t.Fatalf("someone else reversing %s: %v", id, err)
		}
	}
	e.verify()
}

// TestMemberIsNoCompany: a member of the fund's community gives as a
// person; named as a company or organisation (anonymous or not), the
// chain and the public page would call a person one (probe s27i).
func TestMemberIsNoCompany(t *testing.T) {
	e := newEnv(t)
	e.createFund([]string{"a"}, 1)
	for _, kind := range []string{fund.DonorCompany, fund.DonorOrganisation} {
		for _, anon := range []bool{false, true} {
			e.refused(ledger.CodeInvalidRequest, donate(fund.NewDonation{Fund: "f1", Donor: "a", DonorKind: kind, Amount: 100, Anonymous: anon}))
		}
	}
	d := e.must(donate(fund.NewDonation{Fund: "f1", Donor: "a", Amount: 100})).(*fund.Donation)
	if rec := e.record(d.Seq); rec.Content["donor"] != "a" || rec.Content["donor_kind"] != fund.DonorPerson {
		t.Fatalf("a member's donation: %v", rec.Content)
	}
}

// TestShortFundSaysWhose: a proposal above what the fund holds is
// refused naming the fund's money, not the account behind it (probe
// s27i: "account f1:balance has …").
func TestShortFundSaysWhose(t *testing.T) {
	e := newEnv(t)
	e.createFund([]string{"a"}, 1)
	e.must(donate(fund.NewDonation{Fund: "f1", Donor: "金辉公司", DonorKind: fund.DonorCompany, Amount: 5000}))
	_, err := e.run(propose(fund.NewProposal{Fund: "f1", Proposer: "coord", Beneficiary: "ben-7", Purpose: "助学", Amount: 5001}))
	if ledger.ErrorCode(err) != ledger.CodeInsufficientFunds || !strings.Contains(err.Error(), "the unrestricted money of fund f1 has 50.00 available") {
		t.Fatalf("a proposal above the fund: %v", err)
	}
}

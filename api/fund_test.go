package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tally/audit"
	"tally/ledger"
	"tally/ledger/community"
	"tally/ledger/fund"
	"tally/ledger/store"
)

// fundClock is the store's injected clock: fund deadlines and windows
// move only when a test says so. The API keeps the real clock, so tokens
// stay valid.
type fundClock struct{ ns atomic.Int64 }

func (c *fundClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fundClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// fundAudit is the AuditLog of the API over the test store: enough for
// the public page's checkpoint and receipts.
type fundAudit struct {
	AuditLog
	st *store.Store
}

func (a fundAudit) Checkpoint(context.Context) ([]byte, error) {
	c, err := a.st.Audit().LatestCheckpoint()
	return c.Note, err
}

func (a fundAudit) Receipt(_ context.Context, seq uint64) (any, error) {
	return a.st.Audit().Receipt(seq)
}

// fundEnv is a test server over a store with an injected clock, the
// fund's timers, and a community with staff and a committee:
// committee members cm-zhang, cm-li, cm-zhao; coordinator coord-wang;
// auditor aud-chen; resident res-liu.
type fundEnv struct {
	*testServer
	clock *fundClock
	tok   map[string]string
}

func newFundEnv(t *testing.T, withAudit bool) *fundEnv {
	t.Helper()
	clk := &fundClock{}
	clk.ns.Store(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC).UnixNano())
	st, err := store.Open(t.TempDir(), store.Options{Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	for kind, h := range fund.Timers() {
		st.OnTimer(kind, h)
	}
	ts := bootTestServer(t, st, withAudit)
	e := &fundEnv{testServer: ts, clock: clk, tok: map[string]string{}}
	ts.community("d1", "", nil)
	ts.community("c1", "d1", nil)
	ts.community("c2", "d1", nil)
	for id, roles := range map[string][]string{
		"cm-zhang": {"committee"}, "cm-li": {"committee"}, "cm-zhao": {"committee"},
		"coord-wang": {"coordinator"}, "aud-chen": {"auditor"}, "res-liu": {"resident"},
	} {
		e.tok[id] = ts.member(id, "c1", roles...)
	}
	e.tok["coord-c2"] = ts.member("coord-c2", "c2", "coordinator")
	return e
}

// bootTestServer is newTestServer over a given store.
func bootTestServer(t *testing.T, st *store.Store, withAudit bool) *testServer {
	t.Helper()
	hash, err := HashPassword(testAdminPassword)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Submit(context.Background(), ledger.Request{Actor: ledger.SystemActor, Op: func(tx ledger.Tx) (any, error) {
		return community.CreateMember(tx, community.NewMember{ID: "admin", Global: true,
			Roles: []community.Role{community.RoleAdmin}, Username: "admin", PasswordHash: hash,
			Personal: map[string]string{"display_name": "Administrator"}})
	}}); err != nil {
		t.Fatal(err)
	}
	cfg := Config{}
	if withAudit {
		if _, err := st.EnsureCheckpointKey(context.Background(), "tally.test/fund"); err != nil {
			t.Fatal(err)
		}
		cfg.Audit = fundAudit{st: st}
	}
	srv, err := New(context.Background(), st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{t: t, store: st, api: srv, http: httptest.NewServer(srv.Handler())}
	t.Cleanup(func() { ts.http.Close(); st.Close() })
	ts.admin = ts.login("admin", testAdminPassword)
	return ts
}

// createFund makes fund "f1" of c1 with committee zhang, li, zhao, quorum
// 2 and a project "school".
func (e *fundEnv) createFund() response {
	e.t.Helper()
	return e.must(201, "POST", "/v1/funds", e.admin, map[string]any{"id": "f1", "community": "c1", "name": "幸福社区基金",
		"committee": []string{"cm-zhang", "cm-li", "cm-zhao"}, "quorum": 2,
		"projects": []any{map[string]any{"id": "school", "name": "助学项目"}}})
}

func (e *fundEnv) donate(amount string, extra ...any) response {
	e.t.Helper()
	body := map[string]any{"donor": "corp-huamei", "amount": amount}
	for i := 0; i+1 < len(extra); i += 2 {
		body[extra[i].(string)] = extra[i+1]
	}
	return e.must(201, "POST", "/v1/funds/f1/donations", e.tok["coord-wang"], body)
}

// propose returns the new proposal's id.
func (e *fundEnv) propose(amount string, extra ...any) string {
	e.t.Helper()
	r := e.must(201, "POST", "/v1/funds/f1/proposals", e.tok["coord-wang"], e.proposalBody(amount, extra...))
	if r.Str("status") != "voting" || r.Str("id") == "" {
		e.t.Fatalf("new proposal: %s", r.Raw)
	}
	return r.Str("id")
}

func (e *fundEnv) proposalBody(amount string, extra ...any) map[string]any {
	body := map[string]any{"amount": amount, "beneficiary": "hh-0042", "purpose": "困难家庭子女助学金（2026春季）",
		"evidence": []string{strings.Repeat("ab", 32)}}
	for i := 0; i+1 < len(extra); i += 2 {
		body[extra[i].(string)] = extra[i+1]
	}
	return body
}

func (e *fundEnv) vote(id, member, decision string) response {
	e.t.Helper()
	return e.do("POST", "/v1/proposals/"+id+"/votes", e.tok[member], map[string]any{"decision": decision, "reason": "材料齐全"})
}

// wantProblem checks an answer's status and code.
func wantProblem(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.Status != status || r.Code() != code {
		t.Fatalf("got %d %q, want %d %q: %s", r.Status, r.Code(), status, code, r.Raw)
	}
}

func (e *fundEnv) proposal(id string) response {
	e.t.Helper()
	return e.must(200, "GET", "/v1/proposals/"+id, e.tok["cm-zhang"], nil)
}

func (e *fundEnv) wantStatus(id, status string) response {
	e.t.Helper()
	r := e.proposal(id)
	if r.Str("status") != status {
		e.t.Fatalf("proposal %s: status %q, want %q: %s", id, r.Str("status"), status, r.Raw)
	}
	return r
}

// wantFund checks the fund's balance, available and held.
func (e *fundEnv) wantFund(balance, available, held string) response {
	e.t.Helper()
	r := e.must(200, "GET", "/v1/funds/f1", e.tok["cm-zhang"], nil)
	if r.Str("balance") != balance || r.Str("available") != available || r.Str("held") != held {
		e.t.Fatalf("fund: balance/available/held %s/%s/%s, want %s/%s/%s", r.Str("balance"), r.Str("available"),
			r.Str("held"), balance, available, held)
	}
	return r
}

func (e *fundEnv) fire(d time.Duration) {
	e.clock.Advance(d)
	e.store.FireTimers(context.Background())
}

func TestFundApprovalPays(t *testing.T) {
	e := newFundEnv(t, false)
	r := e.createFund()
	if r.Str("name") != "幸福社区基金" || r.Body["accounts"].(map[string]any)["balance"] != "f1:balance" {
		t.Fatalf("fund: %s", r.Raw)
	}
	d := e.donate("1000.00", "donor_kind", "company")
	if d.Str("receipt") != "f1-000001" || d.Str("amount") != "1000.00" {
		t.Fatalf("donation: %s", d.Raw)
	}
	id := e.propose("300.50")
	e.wantFund("1000.00", "699.50", "300.50")
	if r := e.vote(id, "cm-zhang", "approve"); r.Status != 200 || r.Str("status") != "voting" || r.Body["approvals"] != 1.0 {
		t.Fatalf("first vote: %d %s", r.Status, r.Raw)
	}
	if r := e.vote(id, "cm-li", "approve"); r.Status != 200 || r.Str("status") != "paid" {
		t.Fatalf("second vote: %d %s", r.Status, r.Raw)
	}
	p := e.wantStatus(id, "paid")
	if p.Str("purpose") != "困难家庭子女助学金（2026春季）" || p.Body["approvals"] != 2.0 || p.Body["rejections"] != 0.0 {
		t.Fatalf("paid proposal: %s", p.Raw)
	}
	f := e.wantFund("699.50", "699.50", "0.00")
	if f.Str("disbursed") != "300.50" || f.Str("donated") != "1000.00" {
		t.Fatalf("fund totals: %s", f.Raw)
	}
	wantProblem(t, e.vote(id, "cm-zhao", "reject"), 409, "proposal_closed")
}

func TestFundRejection(t *testing.T) {
	e := newFundEnv(t, false)
	e.createFund()
	e.donate("500.00")
	id := e.propose("500.00")
	e.must(200, "POST", "/v1/proposals/"+id+"/votes", e.tok["cm-zhang"], map[string]any{"decision": "reject", "reason": "用途不明"})
	r := e.must(200, "POST", "/v1/proposals/"+id+"/votes", e.tok["cm-li"], map[string]any{"decision": "reject"})
	if r.Str("status") != "rejected" || r.Body["rejections"] != 2.0 {
		t.Fatalf("after two rejections: %s", r.Raw)
	}
	e.wantFund("500.00", "500.00", "0.00")
}

func TestFundExpiry(t *testing.T) {
	e := newFundEnv(t, false)
	e.createFund()
	e.donate("500.00")
	id := e.propose("200.00", "deadline", "48h")
	e.must(200, "POST", "/v1/proposals/"+id+"/votes", e.tok["cm-zhang"], map[string]any{"decision": "approve"})
	e.fire(47 * time.Hour)
	e.wantStatus(id, "voting")
	e.fire(time.Hour + time.Second)
	e.wantStatus(id, "expired")
	e.wantFund("500.00", "500.00", "0.00")
	wantProblem(t, e.vote(id, "cm-li", "approve"), 409, "proposal_closed")
}

func TestFundRecusal(t *testing.T) {
	e := newFundEnv(t, false)
	e.createFund()
	e.donate("500.00")
	id := e.propose("100.00")
	r := e.must(200, "POST", "/v1/proposals/"+id+"/recusals", e.tok["cm-zhao"], map[string]any{"reason": "与受益家庭有亲属关系"})
	if r.Body["eligible"] != 2.0 || r.Body["recusals"] != 1.0 {
		t.Fatalf("after recusal: %s", r.Raw)
	}
	wantProblem(t, e.vote(id, "cm-zhao", "approve"), 409, "already_voted")
	// Quorum 2 of the 2 left: one rejection makes it unreachable.
	if r := e.vote(id, "cm-li", "reject"); r.Str("status") != "rejected" {
		t.Fatalf("after a rejection with one recusal: %s", r.Raw)
	}
	e.wantFund("500.00", "500.00", "0.00")
}

func TestFundObjection(t *testing.T) {
	e := newFundEnv(t, false)
	e.createFund()
	e.donate("500.00")
	id := e.propose("200.00", "objection_window", "3d")
	e.vote(id, "cm-zhang", "approve")
	if r := e.vote(id, "cm-li", "approve"); r.Str("status") != "approved" {
		t.Fatalf("approved into the window: %s", r.Raw)
	}
	e.wantFund("500.00", "300.00", "200.00")
	wantProblem(t, e.do("POST", "/v1/proposals/"+id+"/objections", e.tok["res-liu"], map[string]any{"reason": "x"}), 403, "forbidden")
	wantProblem(t, e.do("POST", "/v1/proposals/"+id+"/objections", e.tok["coord-c2"], map[string]any{"reason": "x"}), 403, "forbidden")
	r := e.must(200, "POST", "/v1/proposals/"+id+"/objections", e.tok["coord-wang"], map[string]any{"reason": "公示期收到居民异议"})
	if r.Str("status") != "voting" || r.Body["approvals"] != 0.0 || r.Body["round"] != 2.0 {
		t.Fatalf("after objection: %s", r.Raw)
	}
	e.fire(73 * time.Hour) // the first window's end passes: nothing is paid
	e.wantStatus(id, "voting")
	e.vote(id, "cm-li", "approve")
	e.vote(id, "cm-zhao", "approve")
	e.wantStatus(id, "approved")
	// One objection each: the same coordinator cannot reopen it again.
	wantProblem(t, e.do("POST", "/v1/proposals/"+id+"/objections", e.tok["coord-wang"], map[string]any{"reason": "again"}), 409, "conflict")
	e.fire(72*time.Hour + time.Second)
	e.wantStatus(id, "paid")
	if f := e.wantFund("300.00", "300.00", "0.00"); f.Str("disbursed") != "200.00" {
		t.Fatalf("disbursed: %s", f.Raw)
	}
}

// TestFundQuorumLostWhileApproved: an objection that sends a proposal
// back to a committee that can no longer reach the quorum (roles
// withdrawn since the approval) rejects it at once; and relatives named
// since a proposal opened, who must recuse, reject one that can no longer
// reach it, as a role withdrawal does.
func TestFundQuorumLostWhileApproved(t *testing.T) {
	e := newFundEnv(t, true)
	e.createFund()
	e.donate("500.00")
	id := e.propose("200.00", "objection_window", "3d")
	e.vote(id, "cm-zhang", "approve")
	e.vote(id, "cm-li", "approve")
	for _, m := range []string{"cm-li", "cm-zhao"} {
		e.must(200, "PUT", "/v1/members/"+m+"/roles", e.admin, map[string]any{"roles": []string{"resident"}})
	}
	e.wantStatus(id, "approved") // an approval stands
	r := e.must(200, "POST", "/v1/proposals/"+id+"/objections", e.tok["coord-wang"], map[string]any{"reason": "公示期收到居民异议"})
	if r.Str("status") != "rejected" {
		t.Fatalf("an objection the committee can no longer answer: %s", r.Raw)
	}
	e.wantFund("500.00", "500.00", "0.00")
	e.fire(73 * time.Hour) // the window's end: nothing is paid
	e.wantStatus(id, "rejected")
	for _, m := range []string{"cm-li", "cm-zhao"} {
		e.must(200, "PUT", "/v1/members/"+m+"/roles", e.admin, map[string]any{"roles": []string{"committee"}})
	}
	p2 := e.propose("50.00", "beneficiary", "res-liu")
	e.must(200, "PATCH", "/v1/members/res-liu", e.admin, map[string]any{"relatives": []string{"cm-li", "cm-zhao"}})
	e.wantStatus(p2, "rejected")
	// A beneficiary registered later, with those relatives, likewise.
	p3 := e.propose("20.00", "beneficiary", "nb-10")
	e.must(201, "POST", "/v1/members", e.admin, map[string]any{"id": "nb-10", "community": "c1", "display_name": "新居民",
		"roles": []string{"resident"}, "relatives": []string{"cm-li", "cm-zhao"}})
	e.wantStatus(p3, "rejected")
	if rep, err := e.store.Audit().Verify(t.Context(), audit.VerifyOptions{}); err != nil {
		t.Fatalf("verify: %v (%+v)", err, rep)
	}
}

// TestFundDecidedAtOnceAcrossFunds: MaxDecidedAtOnce bounds a change,
// not each fund it touches: a role withdrawn from a member of two funds'
// committees decides 32 of their proposals in its commit, the rest by
// timers.
func TestFundDecidedAtOnceAcrossFunds(t *testing.T) {
	e := newFundEnv(t, true)
	e.createFund()
	e.must(201, "POST", "/v1/funds", e.admin, map[string]any{"id": "f2", "community": "c1", "name": "第二基金",
		"committee": []string{"cm-zhang", "cm-li", "cm-zhao"}, "quorum": 2})
	var ids []string
	for _, f := range []string{"f1", "f2"} {
		e.must(201, "POST", "/v1/funds/"+f+"/donations", e.tok["coord-wang"], map[string]any{"donor": "corp-huamei", "amount": "100.00"})
		for range 20 {
			r := e.must(201, "POST", "/v1/funds/"+f+"/proposals", e.tok["coord-wang"], e.proposalBody("1.00"))
			e.vote(r.Str("id"), "cm-zhang", "reject")
			ids = append(ids, r.Str("id"))
		}
	}
	e.must(200, "PUT", "/v1/members/cm-li/roles", e.admin, map[string]any{"roles": []string{"resident"}})
	if d, _ := e.lastRecord().Content["decided"].([]any); len(d) != fund.MaxDecidedAtOnce {
		t.Fatalf("decided in the withdrawal's commit: %d, want %d", len(d), fund.MaxDecidedAtOnce)
	}
	// The public sees the committee that decides; staff see who cannot
	// vote until the committee is replaced.
	if pub := e.must(200, "GET", "/v1/public/funds/f2", "", nil); pub.Body["committee_size"] != float64(2) {
		t.Fatalf("public committee size after a withdrawal: %v, want 2", pub.Body["committee_size"])
	}
	if f := e.must(200, "GET", "/v1/funds/f2", e.admin, nil); fmt.Sprint(f.Body["committee_inactive"]) != "[cm-li]" {
		t.Fatalf("inactive committee members: %v", f.Body["committee_inactive"])
	}
	e.fire(time.Second)
	for _, id := range ids {
		e.wantStatus(id, "rejected")
	}
	if rep, err := e.store.Audit().Verify(t.Context(), audit.VerifyOptions{}); err != nil {
		t.Fatalf("verify: %v (%+v)", err, rep)
	}
}

// TestFundObjectionWindowOfTheFund: a fund's objection window (公示期)
// applies to every proposal; the proposer may lengthen it, not shorten or
// skip it, so an approval waits for the public's say.
func TestFundObjectionWindowOfTheFund(t *testing.T) {
	e := newFundEnv(t, false)
	bad := map[string]any{"id": "f0", "community": "c1", "name": "基金", "committee": []string{"cm-zhang"}, "quorum": 1, "objection_window": "30m"}
	wantProblem(t, e.do("POST", "/v1/funds", e.admin, bad), 400, "invalid_request")
	f := e.must(201, "POST", "/v1/funds", e.admin, map[string]any{"id": "f1", "community": "c1", "name": "幸福社区基金",
		"committee": []string{"cm-zhang", "cm-li", "cm-zhao"}, "quorum": 2, "objection_window": "3d"})
	if f.Str("objection_window") != "72h" {
		t.Fatalf("the fund's window: %s", f.Raw)
	}
	e.donate("500.00")
	wantProblem(t, e.do("POST", "/v1/funds/f1/proposals", e.tok["coord-wang"], e.proposalBody("1.00", "objection_window", "1h")), 400, "invalid_request")
	// "0" asks for no window at all: shorter than the fund's, refused (it
	// was read as "the fund's").
	if r := e.do("POST", "/v1/funds/f1/proposals", e.tok["coord-wang"], e.proposalBody("1.00", "objection_window", "0")); r.Status != 400 || !strings.Contains(r.Str("detail"), "objection window") {
		t.Fatalf("objection_window \"0\" under a fund's 3 days: %d %s, want 400 naming the fund's window", r.Status, r.Raw)
	}
	// A project named twice in one request is bad input, not a conflict.
	wantProblem(t, e.do("POST", "/v1/funds", e.admin, map[string]any{"id": "f9", "community": "c1", "name": "基金", "committee": []string{"cm-zhang"}, "quorum": 1,
		"projects": []any{map[string]any{"id": "a", "name": "甲"}, map[string]any{"id": "a", "name": "乙"}}}), 400, "invalid_request")
	id := e.propose("200.00")
	if p := e.proposal(id); p.Str("objection_window") != "72h" {
		t.Fatalf("a proposal without a window of its own: %s", p.Raw)
	}
	e.vote(id, "cm-zhang", "approve")
	if r := e.vote(id, "cm-li", "approve"); r.Str("status") != "approved" {
		t.Fatalf("approved into the fund's window: %s", r.Raw)
	}
	e.fire(72*time.Hour + time.Second)
	e.wantStatus(id, "paid")
	long := e.propose("10.00", "objection_window", "5d")
	if p := e.proposal(long); p.Str("objection_window") != "120h" {
		t.Fatalf("a longer window: %s", p.Raw)
	}
}

func TestFundOvercommitAndRestriction(t *testing.T) {
	e := newFundEnv(t, false)
	e.createFund()
	e.donate("1000.00")
	e.donate("300.00", "project", "school")
	e.propose("700.00")
	wantProblem(t, e.do("POST", "/v1/funds/f1/proposals", e.tok["coord-wang"], e.proposalBody("600.01")), 422, "insufficient_funds")
	// 300.00 unrestricted is left, and 300.00 for the school: 301.00
	// unrestricted would need the school's money.
	wantProblem(t, e.do("POST", "/v1/funds/f1/proposals", e.tok["coord-wang"], e.proposalBody("301.00")), 422, "restricted_funds")
	e.must(201, "POST", "/v1/funds/f1/projects", e.tok["coord-wang"], map[string]any{"id": "elder", "name": "助老"})
	// A project differing from one only in case is a typo, not a project.
	wantProblem(t, e.do("POST", "/v1/funds/f1/projects", e.tok["coord-wang"], map[string]any{"id": "Elder", "name": "助老"}), 409, "already_exists")
	wantProblem(t, e.do("POST", "/v1/funds/f1/donations", e.tok["coord-wang"], map[string]any{"donor": "corp-huamei", "donor_kind": "company", "amount": "1.00", "project": "SCHOOL"}), 409, "already_exists")
	wantProblem(t, e.do("POST", "/v1/funds/f1/proposals", e.tok["coord-wang"], e.proposalBody("10.00", "project", "elder")), 422, "restricted_funds")
	// A project id no project can have is bad input here as in a
	// donation, not an unknown project (probe s25e).
	long := strings.Repeat("p", fund.MaxProjectIDLen+1)
	wantProblem(t, e.do("POST", "/v1/funds/f1/proposals", e.tok["coord-wang"], e.proposalBody("1.00", "project", long)), 400, "invalid_id")
	wantProblem(t, e.do("POST", "/v1/funds/f1/donations", e.tok["coord-wang"], map[string]any{"donor": "corp-huamei", "donor_kind": "company", "amount": "1.00", "project": long}), 400, "invalid_id")
	wantProblem(t, e.do("POST", "/v1/funds/f1/proposals", e.tok["coord-wang"], e.proposalBody("1.00", "project", "nosuch")), 404, "not_found")
	e.propose("300.00", "project", "school")
	f := e.wantFund("1300.00", "300.00", "1000.00")
	if p := f.Body["projects"].(map[string]any)["school"].(map[string]any); p["available"] != "0.00" || p["held"] != "300.00" {
		t.Fatalf("school: %v", p)
	}
}

func TestFundVoteRefusals(t *testing.T) {
	e := newFundEnv(t, false)
	e.tok["cm-other"] = e.member("cm-other", "c1", "committee")
	e.tok["coord-cm"] = e.member("coord-cm", "c1", "coordinator", "committee")
	e.must(201, "POST", "/v1/funds", e.admin, map[string]any{"id": "f1", "community": "c1", "name": "基金",
		"committee": []string{"cm-zhang", "cm-li", "cm-zhao", "coord-cm"}, "quorum": 2})
	e.donate("100.00")
	r := e.must(201, "POST", "/v1/funds/f1/proposals", e.tok["coord-cm"], e.proposalBody("10.00"))
	id := r.Str("id")
	wantProblem(t, e.vote(id, "cm-other", "approve"), 403, "not_committee")
	wantProblem(t, e.vote(id, "res-liu", "approve"), 403, "not_committee")
	wantProblem(t, e.vote(id, "coord-cm", "approve"), 403, "proposer_cannot_vote")
	e.must(200, "POST", "/v1/proposals/"+id+"/votes", e.tok["cm-zhang"], map[string]any{"decision": "reject"})
	wantProblem(t, e.vote(id, "cm-zhang", "approve"), 409, "already_voted")
	wantProblem(t, e.do("POST", "/v1/proposals/"+id+"/votes", e.tok["cm-li"], map[string]any{"decision": "abstain"}), 400, "invalid_request")
	wantProblem(t, e.do("POST", "/v1/proposals/"+id+"/votes", e.tok["cm-li"], `{"decision":"approve","extra":1}`), 400, "unknown_field")
	wantProblem(t, e.vote("prop-999", "cm-li", "approve"), 404, "not_found")
	// A committee member whose role is withdrawn stops voting at once.
	e.must(200, "PUT", "/v1/members/cm-li/roles", e.admin, map[string]any{"roles": []string{"resident"}})
	wantProblem(t, e.vote(id, "cm-li", "approve"), 403, "not_committee")
	if r := e.proposal(id); r.Body["approvals"] != 0.0 || r.Body["rejections"] != 1.0 {
		t.Fatalf("refused votes were counted: %s", r.Raw)
	}
	// A committee is made of members holding the committee role.
	wantProblem(t, e.do("POST", "/v1/funds", e.admin, map[string]any{"id": "f2", "community": "c1", "name": "基金二",
		"committee": []string{"cm-zhang", "res-liu"}, "quorum": 1}), 400, "invalid_request")
}

// TestFundCommitteeRoleWithdrawn: a committee member whose role is
// withdrawn no longer counts towards the quorum: a proposal that can no
// longer reach it is rejected at the next vote (its hold voided), and a
// new one is refused as quorum_unreachable rather than held until it
// expires.
func TestFundCommitteeRoleWithdrawn(t *testing.T) {
	e := newFundEnv(t, true)
	e.createFund()
	e.donate("100.00")
	id := e.propose("30.00")
	e.wantFund("100.00", "70.00", "30.00")
	// One withdrawal leaves two who may vote, the quorum: voting goes on.
	e.must(200, "PUT", "/v1/members/cm-li/roles", e.admin, map[string]any{"roles": []string{"resident"}})
	if p := e.proposal(id); p.Str("status") != "voting" || p.Body["eligible"] != 2.0 {
		t.Fatalf("after one withdrawal: %s", p.Raw)
	}
	// The second leaves one: the proposal is rejected by the withdrawal
	// itself, its money freed, and the role change's record says so.
	e.must(200, "PUT", "/v1/members/cm-zhao/roles", e.admin, map[string]any{"roles": []string{"resident"}})
	rec := e.lastRecord()
	if d, _ := rec.Content["decided"].([]any); rec.Action != "role.grant" || len(d) != 1 || d[0].(map[string]any)["status"] != "rejected" {
		t.Fatalf("the withdrawal's record: %s %v", rec.Action, rec.Content)
	}
	e.wantStatus(id, "rejected")
	// The public page lists the rejection, but the role change's record
	// (members' roles) is not disclosed: no receipt, and none served.
	pub := e.must(200, "GET", "/v1/public/funds/f1", "", nil)
	events := pub.Body["disbursements"].([]any)[0].(map[string]any)["events"].([]any)
	last := events[len(events)-1].(map[string]any)
	if last["action"] != "proposal.reject" || last["audit_receipt"] != nil || last["seq"] != float64(rec.Seq) {
		t.Fatalf("public event of the rejection: %v", last)
	}
	wantProblem(t, e.do("GET", fmt.Sprintf("/v1/public/funds/f1/receipts/%d", rec.Seq), "", nil), 404, "not_found")
	if f := e.must(200, "GET", "/v1/funds/f1", e.tok["coord-wang"], nil); f.Str("available") != "100.00" || f.Str("held") != "0.00" {
		t.Fatalf("the hold of the rejected proposal: %s", f.Raw)
	}
	wantProblem(t, e.do("POST", "/v1/funds/f1/proposals", e.tok["coord-wang"], e.proposalBody("10.00")), 422, "quorum_unreachable")
	if rep, err := e.store.Audit().Verify(t.Context(), audit.VerifyOptions{}); err != nil {
		t.Fatalf("verify: %v (%+v)", err, rep)
	}
}

// TestDonationOpensProject: a donation restricted to a project the fund
// does not have yet (SPEC §7a names only `project` on donations) opens it;
// its money then pays only that project's proposals.
func TestDonationOpensProject(t *testing.T) {
	e := newFundEnv(t, true)
	e.must(201, "POST", "/v1/funds", e.admin, map[string]any{"id": "f1", "community": "c1", "name": "幸福社区基金",
		"committee": []string{"cm-zhang", "cm-li", "cm-zhao"}, "quorum": 2})
	wantProblem(t, e.do("POST", "/v1/funds/f1/donations", e.tok["coord-wang"], map[string]any{"donor": "corp-huamei", "amount": "10.00", "project": "TOTAL"}), 400, "invalid_id")
	e.donate("500.00", "project", "school")
	e.donate("100.00", "project", "school")
	f := e.must(200, "GET", "/v1/funds/f1", e.tok["coord-wang"], nil)
	proj, _ := f.Body["projects"].(map[string]any)["school"].(map[string]any)
	if proj["balance"] != "600.00" || f.Str("balance") != "600.00" {
		t.Fatalf("the project the donations opened: %s", f.Raw)
	}
	if rec := e.lastRecord(); rec.Action != "donation.create" || rec.Content["project_created"] != nil {
		t.Fatalf("the second donation opened the project again: %v", rec.Content)
	}
	wantProblem(t, e.do("POST", "/v1/funds/f1/proposals", e.tok["coord-wang"], e.proposalBody("10.00")), 422, "restricted_funds")
	e.propose("50.00", "project", "school")
}

// TestFundCommitteeChange: an admin replaces a fund's committee and
// quorum (recorded); votes already cast stand, the new committee decides
// from then on, and the rules of a new fund apply.
func TestFundCommitteeChange(t *testing.T) {
	e := newFundEnv(t, true)
	e.createFund()
	e.donate("100.00")
	id := e.propose("30.00")
	e.vote(id, "cm-li", "approve")
	e.tok["cm-wu"] = e.member("cm-wu", "c1", "committee")
	body := map[string]any{"committee": []string{"cm-zhang", "cm-zhao", "cm-wu"}, "quorum": 2}
	wantProblem(t, e.do("PUT", "/v1/funds/f1/committee", e.tok["coord-wang"], body), 403, "forbidden")
	size := e.auditSize()
	wantProblem(t, e.do("PUT", "/v1/funds/f1/committee", e.admin, map[string]any{"committee": []string{"cm-zhang"}, "quorum": 2}), 400, "invalid_request")
	wantProblem(t, e.do("PUT", "/v1/funds/f1/committee", e.admin, map[string]any{"committee": []string{"cm-zhang", "res-liu"}, "quorum": 1}), 400, "invalid_request")
	if e.auditSize() != size {
		t.Fatal("a refused committee change wrote a record")
	}
	f := e.must(200, "PUT", "/v1/funds/f1/committee", e.admin, body)
	if c, _ := f.Body["committee"].([]any); len(c) != 3 || c[2] != "cm-wu" {
		t.Fatalf("the new committee: %s", f.Raw)
	}
	if rec := e.lastRecord(); rec.Action != "fund.committee" || rec.Content["quorum"] != int64(2) {
		t.Fatalf("the record: %s %v", rec.Action, rec.Content)
	}
	wantProblem(t, e.vote(id, "cm-li", "reject"), 403, "not_committee")
	if r := e.vote(id, "cm-wu", "approve"); r.Status != 200 || r.Str("status") != "paid" {
		t.Fatalf("the new member's vote beside the one cast before: %d %s", r.Status, r.Raw)
	}
}

// A committee change decides, in its own commit, the open proposals its
// new quorum settles: one whose approvals now reach it is paid, one that
// can no longer reach it is rejected and its money freed; the others go
// on voting.
func TestFundCommitteeChangeDecides(t *testing.T) {
	e := newFundEnv(t, true)
	e.createFund()
	e.donate("100.00")
	paid := e.propose("30.00")
	e.vote(paid, "cm-li", "approve")
	rejected := e.propose("20.00")
	e.vote(rejected, "cm-zhang", "reject")
	open := e.propose("10.00")
	e.wantFund("100.00", "40.00", "60.00")
	e.tok["cm-wu"] = e.member("cm-wu", "c1", "committee")
	// Quorum 1: the approval already cast pays the first proposal; the
	// second, with one rejection and two who may still vote, goes on.
	e.must(200, "PUT", "/v1/funds/f1/committee", e.admin, map[string]any{"committee": []string{"cm-zhang", "cm-li", "cm-wu"}, "quorum": 1})
	rec := e.lastRecord()
	d, _ := rec.Content["decided"].([]any)
	if rec.Action != "fund.committee" || len(d) != 1 || d[0].(map[string]any)["proposal"] != paid || d[0].(map[string]any)["status"] != "paid" {
		t.Fatalf("the record: %s %v", rec.Action, rec.Content)
	}
	e.wantStatus(paid, "paid")
	e.wantStatus(rejected, "voting")
	e.wantFund("70.00", "40.00", "30.00")
	// Quorum 2 of zhang and wu: zhang's rejection leaves one who may
	// approve, so the second is rejected at once; the third (no votes) is not.
	e.must(200, "PUT", "/v1/funds/f1/committee", e.admin, map[string]any{"committee": []string{"cm-zhang", "cm-wu"}, "quorum": 2})
	e.wantStatus(rejected, "rejected")
	e.wantStatus(open, "voting")
	// A decided proposal shows the quorum it was decided under, not the
	// committee's later one.
	if p := e.wantStatus(paid, "paid"); p.Body["quorum"] != 1.0 {
		t.Fatalf("the paid proposal's quorum after a later change: %s", p.Raw)
	}
	e.wantFund("70.00", "60.00", "10.00")
	if r := e.vote(open, "cm-wu", "approve"); r.Status != 200 || r.Str("status") != "voting" {
		t.Fatalf("a vote after the change: %d %s", r.Status, r.Raw)
	}
	// The verifier replays the payment and the void of the change's record.
	if rep, err := e.store.Audit().Verify(t.Context(), audit.VerifyOptions{}); err != nil {
		t.Fatalf("verify: %v (%+v)", err, rep)
	}
}

// TestFundCommitteeChangeRejectsOnlyTheUnreachable: a rejection by a
// member who left the committee takes nothing away from what the new
// committee can still approve; and a change that settles more proposals
// than MaxDecidedAtOnce decides the first in its commit and the rest by
// timers, never refusing the change.
func TestFundCommitteeChangeRejectsOnlyTheUnreachable(t *testing.T) {
	e := newFundEnv(t, true)
	e.createFund()
	e.donate("500.00")
	x := e.propose("10.00")
	e.vote(x, "cm-li", "reject")
	e.must(200, "PUT", "/v1/funds/f1/committee", e.admin, map[string]any{"committee": []string{"cm-zhang", "cm-zhao"}, "quorum": 2})
	e.wantStatus(x, "voting")
	e.vote(x, "cm-zhang", "approve")
	if r := e.vote(x, "cm-zhao", "approve"); r.Str("status") != "paid" {
		t.Fatalf("the new committee's two approvals: %s", r.Raw)
	}
	ids := e.approvedOnce(fund.MaxDecidedAtOnce + 8)
	e.must(200, "PUT", "/v1/funds/f1/committee", e.admin, map[string]any{"committee": []string{"cm-zhang", "cm-zhao"}, "quorum": 1})
	if d, _ := e.lastRecord().Content["decided"].([]any); len(d) != fund.MaxDecidedAtOnce {
		t.Fatalf("decided in the change's commit: %d, want %d", len(d), fund.MaxDecidedAtOnce)
	}
	// Before the timers record the rest, they are closed to votes: a
	// vote then would be counted on a decided proposal and named as its
	// decision (probe s19d).
	deferred := 0
	for _, id := range ids {
		if e.proposal(id).Str("status") != "voting" {
			continue
		}
		deferred++
		r := e.vote(id, "cm-zhao", "approve")
		if r.Status != 409 || r.Code() != "proposal_closed" {
			t.Fatalf("a vote on %s, decided by the change but not yet recorded: %d %s", id, r.Status, r.Raw)
		}
	}
	if deferred != 8 {
		t.Fatalf("%d proposals left to the timers, want 8", deferred)
	}
	e.fire(time.Second)
	for _, id := range ids {
		e.wantStatus(id, "paid")
		if a := e.proposal(id).Body["approvals"]; fmt.Sprint(a) != "1" {
			t.Fatalf("%s approvals %v, want the one cast before the change", id, a)
		}
	}
	e.wantFund("450.00", "450.00", "0.00")
	if rep, err := e.store.Audit().Verify(t.Context(), audit.VerifyOptions{}); err != nil {
		t.Fatalf("verify: %v (%+v)", err, rep)
	}
}

// TestFundDeferredDecisionsAfterOutage: proposals a committee change
// settled beyond MaxDecidedAtOnce are decided as of the change even when
// the server was stopped before their timers ran and restarted past their
// voting deadline and their holds' (the deadline's timer, which may run
// first, decides them too): all paid, none expired.
func TestFundDeferredDecisionsAfterOutage(t *testing.T) {
	e := newFundEnv(t, true)
	e.createFund()
	e.donate("500.00")
	ids := e.approvedOnce(fund.MaxDecidedAtOnce + 8)
	e.must(200, "PUT", "/v1/funds/f1/committee", e.admin, map[string]any{"committee": []string{"cm-zhang", "cm-zhao"}, "quorum": 1})
	e.fire(15 * 24 * time.Hour) // past every voting deadline and hold
	for _, id := range ids {
		e.wantStatus(id, "paid")
	}
	e.wantFund("460.00", "460.00", "0.00")
	if rep, err := e.store.Audit().Verify(t.Context(), audit.VerifyOptions{}); err != nil {
		t.Fatalf("verify: %v (%+v)", err, rep)
	}
}

// TestFundChangeAfterDeadlineDecidesNothing: proposals a committee change
// settled and deferred, then a second change unsettled (their decision
// timer found nothing to decide), are expired at their deadline even when
// a third change a second after the deadline would settle them again.
func TestFundChangeAfterDeadlineDecidesNothing(t *testing.T) {
	e := newFundEnv(t, false)
	e.createFund()
	e.donate("500.00")
	ids := e.approvedOnce(fund.MaxDecidedAtOnce + 2)
	com := []string{"cm-zhang", "cm-li", "cm-zhao"}
	e.must(200, "PUT", "/v1/funds/f1/committee", e.admin, map[string]any{"committee": com, "quorum": 1})
	e.must(200, "PUT", "/v1/funds/f1/committee", e.admin, map[string]any{"committee": com, "quorum": 2})
	e.fire(time.Second)
	last := ids[len(ids)-2:]
	deadline, err := time.Parse(time.RFC3339, e.proposal(last[0]).Str("deadline"))
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(deadline.Sub(e.clock.Now()) + time.Second) // after the deadline, before its tick
	e.must(200, "PUT", "/v1/funds/f1/committee", e.admin, map[string]any{"committee": com, "quorum": 1})
	e.store.FireTimers(context.Background())
	for _, id := range last {
		e.wantStatus(id, "expired")
	}
}

// TestFundDeferredApprovalWithWindowAfterOutage: a deferred approval
// whose objection window ended during an outage longer than its hold is
// paid at the first tick, not expired by the ledger's hold expiry.
func TestFundDeferredApprovalWithWindowAfterOutage(t *testing.T) {
	e := newFundEnv(t, false)
	e.must(201, "POST", "/v1/funds", e.admin, map[string]any{"id": "f1", "community": "c1", "name": "幸福社区基金",
		"committee": []string{"cm-zhang", "cm-li", "cm-zhao"}, "quorum": 2, "objection_window": "1h"})
	e.donate("500.00")
	ids := e.approvedOnce(fund.MaxDecidedAtOnce + 4)
	e.must(200, "PUT", "/v1/funds/f1/committee", e.admin, map[string]any{"committee": []string{"cm-zhang", "cm-li", "cm-zhao"}, "quorum": 1})
	e.fire(15 * 24 * time.Hour) // past every window and hold
	e.fire(time.Second)         // and the tick after
	for _, id := range ids {
		e.wantStatus(id, "paid")
	}
	if rep, err := e.store.Audit().Verify(t.Context(), audit.VerifyOptions{}); err != nil {
		t.Fatalf("verify: %v (%+v)", err, rep)
	}
}

// approvedOnce opens n proposals of 1.00, each approved by cm-zhang alone.
func (e *fundEnv) approvedOnce(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = e.propose("1.00")
		e.vote(ids[i], "cm-zhang", "approve")
	}
	return ids
}

func TestFundPermissions(t *testing.T) {
	e := newFundEnv(t, false)
	body := map[string]any{"id": "f1", "community": "c1", "name": "基金", "committee": []string{"cm-zhang"}, "quorum": 1}
	wantProblem(t, e.do("POST", "/v1/funds", e.tok["coord-wang"], body), 403, "forbidden")
	bad := map[string]any{"id": "f1", "community": "c1", "name": "基金", "committee": []string{"ghost"}, "quorum": 1}
	wantProblem(t, e.do("POST", "/v1/funds", e.admin, bad), 404, "not_found")
	// To an admin of c1, members outside c1 answer as unknown ones,
	// whatever their community or roles.
	e.community("far", "", nil)
	e.member("cm-far", "far", "committee")
	e.member("res-c2", "c2", "resident")
	admC1 := e.member("adm-c1", "c1", "admin")
	unknown := e.do("POST", "/v1/funds", admC1, bad)
	wantProblem(t, unknown, 404, "not_found")
	for _, m := range []string{"cm-far", "res-c2"} {
		b := map[string]any{"id": "f1", "community": "c1", "name": "基金", "committee": []string{m}, "quorum": 1}
		r := e.do("POST", "/v1/funds", admC1, b)
		wantProblem(t, r, 404, "not_found")
		if r.Str("detail") != strings.Replace(unknown.Str("detail"), "ghost", m, 1) {
			t.Fatalf("committee member %s outside the scope answers %q, an unknown one %q", m, r.Str("detail"), unknown.Str("detail"))
		}
	}
	e.createFund()
	wantProblem(t, e.do("GET", "/v1/funds/f1", e.tok["res-liu"], nil), 403, "forbidden")
	wantProblem(t, e.do("GET", "/v1/funds/f1", e.tok["coord-c2"], nil), 403, "forbidden")
	e.must(200, "GET", "/v1/funds/f1", e.tok["aud-chen"], nil)
	wantProblem(t, e.do("POST", "/v1/funds/f1/donations", e.tok["coord-c2"], map[string]any{"donor": "d1", "amount": "1.00"}), 403, "forbidden")
	wantProblem(t, e.do("POST", "/v1/funds/f1/donations", e.tok["cm-zhang"], map[string]any{"donor": "d1", "amount": "1.00"}), 403, "forbidden")
	wantProblem(t, e.do("POST", "/v1/funds/f1/donations", e.tok["coord-wang"], map[string]any{"donor": "", "amount": "1.00"}), 400, "invalid_request")
	wantProblem(t, e.do("POST", "/v1/funds/f1/donations", e.tok["coord-wang"], map[string]any{"donor": "d1", "amount": "1.001"}), 400, "invalid_amount")
	wantProblem(t, e.do("POST", "/v1/funds/f1/proposals", e.tok["cm-zhang"], e.proposalBody("1.00")), 403, "forbidden")
	wantProblem(t, e.do("POST", "/v1/funds/f1/proposals", e.tok["coord-wang"], e.proposalBody("1.00", "evidence", []string{"not-a-hash"})), 400, "invalid_request")
	wantProblem(t, e.do("GET", "/v1/funds/f1/donations", e.tok["cm-zhang"], nil), 403, "forbidden")
	// 代办 does not reach committee decisions.
	e.donate("10.00")
	id := e.propose("1.00")
	r := e.do("POST", "/v1/proposals/"+id+"/votes", e.tok["coord-wang"], map[string]any{"decision": "approve"}, HeaderOnBehalf, "cm-zhang")
	wantProblem(t, r, 403, "forbidden")
	// The report's own lines are no project's id, in any case.
	for _, pid := range []string{"total", "TOTAL", "Unrestricted"} {
		wantProblem(t, e.do("POST", "/v1/funds/f1/projects", e.tok["coord-wang"], map[string]any{"id": pid, "name": "项目"}), 400, "invalid_id")
	}
	// Evidence digests have one spelling, each document once.
	h := strings.Repeat("AB", 32)
	wantProblem(t, e.do("POST", "/v1/funds/f1/proposals", e.tok["coord-wang"], e.proposalBody("1.00", "evidence", []string{h, strings.ToLower(h)})), 400, "invalid_request")
	up := e.must(201, "POST", "/v1/funds/f1/proposals", e.tok["coord-wang"], e.proposalBody("1.00", "evidence", []string{h}))
	if ev, _ := up.Body["evidence"].([]any); len(ev) != 1 || ev[0] != strings.ToLower(h) {
		t.Fatalf("evidence in capitals: %s", up.Raw)
	}
}

func TestFundAnonymousAndPublic(t *testing.T) {
	e := newFundEnv(t, true)
	e.createFund()
	e.donate("88.00", "donor", "donor-secret-9", "anonymous", true)
	e.donate("15000.00", "donor", "corp-huamei", "donor_kind", "company", "project", "school")
	id := e.propose("50.00")
	e.vote(id, "cm-zhang", "approve")
	e.vote(id, "cm-li", "approve")
	if _, err := e.store.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The auditor sees every donor.
	a := e.must(200, "GET", "/v1/funds/f1/donations?order=oldest", e.tok["aud-chen"], nil)
	items := a.Body["items"].([]any)
	if d := items[0].(map[string]any); d["donor"] != "donor-secret-9" || d["anonymous"] != true {
		t.Fatalf("auditor's view: %v", d)
	}
	// The public sees none of the anonymous donor, and no personal data.
	list := e.must(200, "GET", "/v1/public/funds", "", nil)
	pub := e.must(200, "GET", "/v1/public/funds/f1", "", nil)
	page := e.must(200, "GET", "/v1/public/funds/f1/donations?order=oldest", "", nil)
	for _, raw := range [][]byte{list.Raw, pub.Raw, page.Raw} {
		for _, secret := range []string{"donor-secret-9", "cm-zhang", "cm-li", "coord-wang", "居民", "材料齐全", "password"} {
			if bytes.Contains(raw, []byte(secret)) {
				t.Fatalf("public answer leaks %q: %s", secret, raw)
			}
		}
	}
	if d := page.Body["items"].([]any)[0].(map[string]any); d["donor"] != "anonymous" || d["donor_kind"] != "anonymous" || d["amount"] != "88.00" {
		t.Fatalf("public anonymous donation: %v", d)
	}
	if pub.Str("donated") != "15088.00" || pub.Str("disbursed") != "50.00" || pub.Str("checkpoint") == "" || pub.Str("name") != "幸福社区基金" {
		t.Fatalf("public fund: %s", pub.Raw)
	}
	disb := pub.Body["disbursements"].([]any)[0].(map[string]any)
	if disb["beneficiary"] != "hh-0042" || disb["approvals"] != 2.0 || disb["status"] != "paid" {
		t.Fatalf("public disbursement: %v", disb)
	}
	// Anyone can verify a disclosed entry's receipt with the log's key.
	e.checkReceipt(page.Body["items"].([]any)[0].(map[string]any)["audit_receipt"].(string), "donation.create")
	events := disb["events"].([]any)
	e.checkReceipt(events[len(events)-1].(map[string]any)["audit_receipt"].(string), "proposal.pay")
	wantProblem(t, e.do("GET", "/v1/public/funds/f1/receipts/0", "", nil), 404, "not_found")
}

// checkReceipt fetches a public receipt with no token and verifies it.
func (e *fundEnv) checkReceipt(path, action string) {
	e.t.Helper()
	r := e.must(200, "GET", path, "", nil)
	var rc audit.Receipt
	if err := json.Unmarshal(r.Raw, &rc); err != nil {
		e.t.Fatal(err)
	}
	keys, err := e.store.Audit().VerifierKeys()
	if err != nil || len(keys) == 0 {
		e.t.Fatalf("verifier keys: %v", err)
	}
	rec, err := rc.Verify(keys[len(keys)-1])
	if err != nil {
		e.t.Fatalf("receipt %s: %v", path, err)
	}
	if rec.Action != action {
		e.t.Fatalf("receipt %s: action %s, want %s", path, rec.Action, action)
	}
	if _, ok := rec.Content["donor"]; ok && rec.Content["anonymous"] == true {
		e.t.Fatalf("anonymous donor in the chain: %v", rec.Content)
	}
}

func TestFundPublicWithoutAuditLog(t *testing.T) {
	e := newFundEnv(t, false)
	e.createFund()
	d := e.donate("1.00")
	r := e.must(200, "GET", "/v1/public/funds/f1", "", nil)
	if _, ok := r.Body["checkpoint"]; ok {
		t.Fatalf("checkpoint without an audit log: %s", r.Raw)
	}
	wantProblem(t, e.do("GET", "/v1/public/funds/f1/receipts/"+jsonNum(d.Body["seq"]), "", nil), 503, "unavailable")
	wantProblem(t, e.do("GET", "/v1/public/funds/nope", "", nil), 404, "not_found")
}

func jsonNum(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestFundReport(t *testing.T) {
	e := newFundEnv(t, false)
	e.createFund()
	e.donate("1000.00")
	e.donate("200.00", "project", "school")
	paid := e.propose("100.00", "beneficiary", "hh-1")
	e.vote(paid, "cm-zhang", "approve")
	e.vote(paid, "cm-li", "approve")
	e.propose("50.00", "project", "school")
	e.clock.Advance(48 * time.Hour)
	e.donate("7.00")
	r := e.must(200, "GET", "/v1/reports/funds/f1?from=2026-03-01&to=2026-03-01", e.tok["cm-zhao"], nil)
	if r.Str("donations") != "1200.00" || r.Str("disbursed") != "100.00" || r.Str("held") != "50.00" || r.Body["beneficiaries"] != 1.0 {
		t.Fatalf("report: %s", r.Raw)
	}
	school := r.Body["by_project"].(map[string]any)["school"].(map[string]any)
	if school["donations"] != "200.00" || school["held"] != "50.00" {
		t.Fatalf("school: %v", school)
	}
	all := e.must(200, "GET", "/v1/reports/funds/f1", e.tok["aud-chen"], nil)
	if all.Str("donations") != "1207.00" {
		t.Fatalf("open report: %s", all.Raw)
	}
	c := e.must(200, "GET", "/v1/reports/funds/f1?from=2026-03-01&to=2026-03-01", e.tok["aud-chen"], nil, "Accept", "text/csv")
	rows, err := csv.NewReader(bytes.NewReader(c.Raw)).ReadAll()
	if err != nil || !strings.HasPrefix(c.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv: %v %s", err, c.Raw)
	}
	if len(rows) != 4 || rows[1][0] != "total" || rows[1][1] != "1200.00" || rows[2][0] != "school" {
		t.Fatalf("csv rows: %v", rows)
	}
	// Every row names the fund and the period (China Standard Time days, in UTC).
	for _, r := range rows[1:] {
		if len(r) != 11 || r[7] != "f1" || r[8] != "2026-02-28T16:00:00Z" || r[9] != "2026-03-01T16:00:00Z" || r[10] != "CNY" {
			t.Fatalf("csv row without its fund, period and unit: %v", r)
		}
	}
	wantProblem(t, e.do("GET", "/v1/reports/funds/f1?from=yesterday", e.tok["aud-chen"], nil), 400, "invalid_request")
	wantProblem(t, e.do("GET", "/v1/reports/funds/f1", e.tok["res-liu"], nil), 403, "forbidden")
}

// TestFundSubtreeReport: the funds of a community and the communities
// below it, added up (a beneficiary paid by two funds counted once) and
// fund by fund; a fund of another district is not in it; CSV rows name
// fund, project, community and period; staff outside the subtree are
// refused.
func TestFundSubtreeReport(t *testing.T) {
	e := newFundEnv(t, false)
	e.createFund()
	e.tok["cm-c2"] = e.member("cm-c2", "c2", "committee")
	e.must(201, "POST", "/v1/funds", e.admin, map[string]any{"id": "f2", "community": "c2", "name": "和谐社区基金",
		"committee": []string{"cm-c2"}, "quorum": 1})
	e.community("d9", "", nil)
	e.member("cm-d9", "d9", "committee")
	e.must(201, "POST", "/v1/funds", e.admin, map[string]any{"id": "f9", "community": "d9", "name": "别区基金",
		"committee": []string{"cm-d9"}, "quorum": 1})
	e.donate("1000.00")
	e.donate("200.00", "project", "school")
	e.must(201, "POST", "/v1/funds/f2/donations", e.admin, map[string]any{"donor": "corp-x", "amount": "300.00"})
	e.must(201, "POST", "/v1/funds/f9/donations", e.admin, map[string]any{"donor": "corp-y", "amount": "9.00"})
	p1 := e.propose("100.00", "beneficiary", "hh-1")
	e.vote(p1, "cm-zhang", "approve")
	e.vote(p1, "cm-li", "approve")
	p2 := e.must(201, "POST", "/v1/funds/f2/proposals", e.tok["coord-c2"], map[string]any{"amount": "40.00", "beneficiary": "hh-1", "purpose": "助医"}).Str("id")
	e.vote(p2, "cm-c2", "approve")
	r := e.must(200, "GET", "/v1/reports/funds?community=d1&from=2026-03-01&to=2026-03-01", e.admin, nil)
	if r.Str("donations") != "1500.00" || r.Str("disbursed") != "140.00" || r.Body["payments"] != 2.0 || r.Body["beneficiaries"] != 1.0 || r.Body["donation_count"] != 3.0 {
		t.Fatalf("district d1: %s", r.Raw)
	}
	byFund := r.Body["by_fund"].(map[string]any)
	if len(byFund) != 2 || byFund["f9"] != nil {
		t.Fatalf("by_fund %v, want f1 and f2 only", byFund)
	}
	if f1 := byFund["f1"].(map[string]any); f1["donations"] != "1200.00" || f1["by_project"].(map[string]any)["school"].(map[string]any)["donations"] != "200.00" {
		t.Fatalf("f1 in the subtree report: %v", f1)
	}
	if c2 := e.must(200, "GET", "/v1/reports/funds?community=c2", e.tok["coord-c2"], nil); c2.Str("donations") != "300.00" || len(c2.Body["by_fund"].(map[string]any)) != 1 {
		t.Fatalf("community c2: %s", c2.Raw)
	}
	c := e.must(200, "GET", "/v1/reports/funds?community=d1&from=2026-03-01&to=2026-03-01", e.admin, nil, "Accept", "text/csv")
	rows, err := csv.NewReader(bytes.NewReader(c.Raw)).ReadAll()
	if err != nil || len(rows) < 5 || rows[1][0] != "total" || rows[1][2] != "1500.00" {
		t.Fatalf("csv: %v %v", err, rows)
	}
	for _, row := range rows[1:] {
		if len(row) != 12 || row[8] != "d1" || row[9] != "2026-02-28T16:00:00Z" || row[10] != "2026-03-01T16:00:00Z" || row[11] != "CNY" {
			t.Fatalf("csv row without its community, period and unit: %v", row)
		}
	}
	if a := e.must(200, "GET", "/v1/reports/funds?community=c1", e.tok["aud-chen"], nil); a.Str("donations") != "1200.00" {
		t.Fatalf("c1's auditor: %s", a.Raw)
	}
	wantProblem(t, e.do("GET", "/v1/reports/funds?community=d1", e.tok["aud-chen"], nil), 403, "forbidden") // above their scope
	wantProblem(t, e.do("GET", "/v1/reports/funds?community=c1", e.tok["coord-c2"], nil), 403, "forbidden")
	wantProblem(t, e.do("GET", "/v1/reports/funds?community=d1", e.tok["res-liu"], nil), 403, "forbidden")
	wantProblem(t, e.do("GET", "/v1/reports/funds", e.tok["aud-chen"], nil), 400, "invalid_request")
	wantProblem(t, e.do("GET", "/v1/reports/funds?community=nowhere", e.admin, nil), 404, "not_found")
	// A fund id differing from another's only in case is refused: the
	// public list would show two funds nobody tells apart.
	wantProblem(t, e.do("POST", "/v1/funds", e.admin, map[string]any{"id": "F2", "community": "c2", "name": "和谐社区基金",
		"committee": []string{"cm-c2"}, "quorum": 1}), 409, "already_exists")
}

// TestFundConcurrentProposals races many proposals for the same money:
// exactly as many succeed as the fund can hold, the rest are refused with
// insufficient_funds, and the held total never exceeds the balance.
func TestFundConcurrentProposals(t *testing.T) {
	const racers, amount = 40, "100.00"
	e := newFundEnv(t, false)
	e.createFund()
	e.donate("1000.00")
	body, _ := json.Marshal(e.proposalBody(amount))
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() { e.watchHeld(stop); close(watched) }()
	for range racers {
		wg.Go(func() {
			status, code := e.rawPost("/v1/funds/f1/proposals", e.tok["coord-wang"], body)
			switch {
			case status == 201:
				ok.Add(1)
			case status == 422 && code == "insufficient_funds":
				refused.Add(1)
			default:
				t.Errorf("racer: status %d code %q", status, code)
			}
		})
	}
	wg.Wait()
	close(stop)
	<-watched
	if ok.Load() != 10 || refused.Load() != racers-10 {
		t.Fatalf("succeeded %d, refused %d; want 10 and %d", ok.Load(), refused.Load(), racers-10)
	}
	e.wantFund("1000.00", "0.00", "1000.00")
}

// watchHeld reads the fund until stop (at least once), checking that
// what is held never exceeds the balance.
func (e *fundEnv) watchHeld(stop chan struct{}) {
	for {
		var held, balance int64
		err := e.store.View(context.Background(), func(r ledger.Reader) error {
			f, err := fund.Get(r, "f1")
			if err != nil {
				return err
			}
			a, err := r.Account(f.Accounts[fund.AcctBalance])
			if err == nil {
				held, balance = a.DebitsPending, a.Balance()
			}
			return err
		})
		if err != nil || held > balance || held < 0 {
			e.t.Errorf("during the race: held %d, balance %d, err %v", held, balance, err)
			return
		}
		select {
		case <-stop:
			return
		default:
		}
	}
}

// rawPost is a POST safe to call from goroutines (no t.Fatal).
func (e *fundEnv) rawPost(path, token string, body []byte) (int, string) {
	req, err := http.NewRequest("POST", e.http.URL+path, bytes.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.http.Client().Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(raw, &p)
	return resp.StatusCode, p.Code
}

// TestDonationReversal: a donation recorded in error is corrected by a
// reversal naming it and the reason; the fund's money, the report and the
// public disclosure follow, a second reversal and money already held by a
// proposal are refused, and staff of another community cannot do it.
func TestDonationReversal(t *testing.T) {
	e := newFundEnv(t, true)
	e.createFund()
	keep := e.donate("500.00")
	typo := e.donate("50000.00")
	id := typo.Str("id")
	wantProblem(t, e.do("POST", "/v1/donations/"+id+"/reverse", e.tok["coord-wang"], map[string]any{}), 400, "invalid_request")
	wantProblem(t, e.do("POST", "/v1/donations/"+id+"/reverse", e.tok["coord-c2"], map[string]any{"reason": "录入错误"}), 404, "not_found")
	wantProblem(t, e.do("POST", "/v1/donations/"+id+"/reverse", e.tok["cm-zhang"], map[string]any{"reason": "录入错误"}), 403, "forbidden")
	wantProblem(t, e.do("POST", "/v1/donations/"+id+"/reverse", e.tok["coord-wang"], map[string]any{"reason": "   "}), 400, "invalid_request")
	r := e.must(200, "POST", "/v1/donations/"+id+"/reverse", e.tok["coord-wang"], map[string]any{"reason": "录入错误，应为 500 元"})
	if r.Str("reversal") == "" || r.Str("reversal_reason") != "录入错误，应为 500 元" {
		t.Fatalf("reversed donation: %s", r.Raw)
	}
	back := e.must(200, "GET", "/v1/transfers/"+r.Str("reversal"), e.admin, nil)
	if back.Str("reverses") != typo.Str("tx") {
		t.Fatalf("the reversal names %q, want the donation's %q", back.Str("reverses"), typo.Str("tx"))
	}
	wantProblem(t, e.do("POST", "/v1/donations/"+id+"/reverse", e.tok["coord-wang"], map[string]any{"reason": "再来"}), 409, "already_reversed")
	if f := e.must(200, "GET", "/v1/funds/f1", e.tok["aud-chen"], nil); f.Str("balance") != "500.00" || f.Str("donated") != "500.00" {
		t.Fatalf("fund after the reversal: %s", f.Raw)
	}
	rep := e.must(200, "GET", "/v1/reports/funds/f1", e.tok["aud-chen"], nil)
	if rep.Str("donations") != "500.00" || rep.Body["donation_count"] != float64(1) {
		t.Fatalf("report donations %q (count %v), want 500.00 from 1 donation, net of the reversal: %s", rep.Str("donations"), rep.Body["donation_count"], rep.Raw)
	}
	// A period of China Standard Time days, answered in UTC (SPEC §7).
	if p := e.must(200, "GET", "/v1/reports/funds/f1?from=2026-01-01&to=2026-12-31", e.tok["aud-chen"], nil); p.Str("from") != "2025-12-31T16:00:00Z" || p.Str("to") != "2026-12-31T16:00:00Z" {
		t.Fatalf("report period %s .. %s, want 2025-12-31T16:00:00Z .. 2026-12-31T16:00:00Z", p.Str("from"), p.Str("to"))
	}
	pub := e.must(200, "GET", "/v1/public/funds/f1", "", nil)
	if !strings.Contains(string(pub.Raw), `"reversed":true`) || !strings.Contains(string(pub.Raw), `"reversal_receipt"`) {
		t.Fatalf("public disclosure does not show the reversal: %s", pub.Raw)
	}
	// Money a proposal holds cannot be taken back.
	e.must(201, "POST", "/v1/funds/f1/proposals", e.tok["coord-wang"], e.proposalBody("400.00"))
	wantProblem(t, e.do("POST", "/v1/donations/"+keep.Str("id")+"/reverse", e.tok["coord-wang"], map[string]any{"reason": "x"}), 422, "insufficient_funds")
}

// TestDonorNameSealedAndErased: a person named by name is personal data:
// staff and auditors read the name, the public page and the chain see only
// the salted commitment, Badger holds it encrypted, and an admin's erasure
// destroys it while the donation, its money and the chain stay.
func TestDonorNameSealedAndErased(t *testing.T) {
	e := newFundEnv(t, true)
	e.createFund()
	const name = "李四·实名捐赠人"
	body := map[string]any{"donor": name, "amount": "800.00"}
	d := e.must(201, "POST", "/v1/funds/f1/donations", e.tok["coord-wang"], body, "Idempotency-Key", "don-lisi-1")
	id := d.Str("id")
	// The write's answer is kept with its Idempotency-Key, where no
	// erasure reaches: it carries neither the name nor the salt.
	if d.Str("donor") != "" || d.Str("donor_salt") != "" || d.Str("donor_commitment") == "" || bytes.Contains(d.Raw, []byte("李四")) {
		t.Fatalf("the write's answer: %s", d.Raw)
	}
	list := e.must(200, "GET", "/v1/funds/f1/donations?order=oldest", e.tok["aud-chen"], nil)
	ld := list.Body["items"].([]any)[0].(map[string]any)
	if ld["donor"] != name || fund.DonorCommitment(ld["donor_salt"].(string), name) != d.Str("donor_commitment") {
		t.Fatalf("staff list: %s", list.Raw)
	}
	company := e.donate("10.00", "donor", "corp-huamei", "donor_kind", "company").Str("id")
	// A member of another community is, to this fund's staff, a name like
	// any other (whether the id exists there is not theirs to learn); a
	// company's name holding a phone number is refused (it is published).
	if o := e.donate("1.00", "donor", "coord-c2"); o.Str("donor") != "" || o.Str("donor_commitment") == "" {
		t.Fatalf("a member elsewhere as donor: %s", o.Raw)
	}
	wantProblem(t, e.do("POST", "/v1/funds/f1/donations", e.tok["coord-wang"], map[string]any{"donor": "华美 139 1234 5678", "donor_kind": "company", "amount": "1.00"}), 400, "invalid_id")
	// An erased member gives nothing new in their name.
	e.must(201, "POST", "/v1/members", e.admin, map[string]any{"id": "gone-donor", "community": "c1", "display_name": "离开", "roles": []string{"resident"}})
	e.must(200, "POST", "/v1/members/gone-donor/erase", e.admin, nil)
	wantProblem(t, e.do("POST", "/v1/funds/f1/donations", e.tok["coord-wang"], map[string]any{"donor": "gone-donor", "amount": "1.00"}), 409, "conflict")
	// A person's name is shown on the public page too: no number beside it.
	wantProblem(t, e.do("POST", "/v1/funds/f1/donations", e.tok["coord-wang"], map[string]any{"donor": "赵敏 13912345678", "amount": "1.00"}), 400, "invalid_request")
	wantProblem(t, e.do("POST", "/v1/funds/f1/projects", e.tok["coord-wang"], map[string]any{"id": "p9", "name": "项目 联系人 139 1234 5678"}), 400, "invalid_request")
	if _, err := e.store.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A donor who did not ask to be anonymous is shown by name (SPEC §5),
	// read from the personal store; the chain's receipt holds only the
	// commitment.
	page := e.must(200, "GET", "/v1/public/funds/f1/donations?order=oldest", "", nil)
	pd := page.Body["items"].([]any)[0].(map[string]any)
	if pd["donor"] != name || pd["donor_commitment"] != d.Str("donor_commitment") {
		t.Fatalf("public page: %s", page.Raw)
	}
	if rc := e.must(200, "GET", pd["audit_receipt"].(string), "", nil); bytes.Contains(rc.Raw, []byte(base64.StdEncoding.EncodeToString([]byte("李四")))) || bytes.Contains(rc.Raw, []byte("李四")) {
		t.Fatalf("the receipt names the donor: %s", rc.Raw)
	}
	e.checkReceipt(pd["audit_receipt"].(string), "donation.create")
	var backup bytes.Buffer
	if err := e.store.Backup(context.Background(), &backup); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(backup.Bytes(), []byte("李四")) {
		t.Fatal("the donor's name is stored in clear")
	}
	// Only an admin erases; a company's name is no personal data.
	wantProblem(t, e.do("POST", "/v1/donations/"+id+"/erase", e.tok["coord-wang"], nil), 403, "forbidden")
	wantProblem(t, e.do("POST", "/v1/donations/"+company+"/erase", e.admin, nil), 409, "conflict")
	r := e.must(200, "POST", "/v1/donations/"+id+"/erase", e.admin, map[string]any{"reason": "PIPL request 2026-17"})
	if r.Str("donor") != "" || r.Body["donor_erased"] != true || r.Str("amount") != "800.00" {
		t.Fatalf("after erasure: %s", r.Raw)
	}
	wantProblem(t, e.do("POST", "/v1/donations/"+id+"/erase", e.admin, nil), 409, "conflict")
	a := e.must(200, "GET", "/v1/funds/f1/donations?order=oldest", e.tok["aud-chen"], nil)
	if bytes.Contains(a.Raw, []byte("李四")) || bytes.Contains(a.Raw, []byte(ld["donor_salt"].(string))) ||
		e.must(200, "GET", "/v1/funds/f1", e.admin, nil).Str("donated") != "811.00" {
		t.Fatalf("auditor's list after erasure (no name, no salt to test a guess against): %s", a.Raw)
	}
	// The key's record was keyed with the donor's data key, gone: a retry
	// can no longer be compared with the request (which named the donor).
	if r := e.do("POST", "/v1/funds/f1/donations", e.tok["coord-wang"], body, "Idempotency-Key", "don-lisi-1"); r.Status != 409 || r.Code() != "idempotency_conflict" || bytes.Contains(r.Raw, []byte("李四")) {
		t.Fatalf("a retry after erasure: %d %s", r.Status, r.Raw)
	}
	if p := e.must(200, "GET", "/v1/public/funds/f1/donations?order=oldest", "", nil); bytes.Contains(p.Raw, []byte("李四")) ||
		p.Body["items"].([]any)[0].(map[string]any)["donor"] != d.Str("donor_commitment") {
		t.Fatalf("public page after erasure: %s", p.Raw)
	}
	if _, err := e.store.VerifyLog(context.Background()); err != nil {
		t.Fatalf("verify after erasure: %v", err)
	}
}

// TestLedgerNameReserved: no fund, and no proposal's beneficiary, takes
// the id the ledger's own records name as their actor ("system", in any
// case): the public page would show the ledger as a fund or as paid.
func TestLedgerNameReserved(t *testing.T) {
	e := newFundEnv(t, false)
	e.createFund()
	e.donate("100.00")
	size := e.auditSize()
	wantProblem(t, e.do("POST", "/v1/funds/f1/proposals", e.tok["coord-wang"], e.proposalBody("1.00", "beneficiary", "SYSTEM")), 400, "invalid_id")
	body := map[string]any{"id": "System", "community": "c1", "name": "x", "committee": []string{"cm-zhang", "cm-li", "cm-zhao"}, "quorum": 2}
	wantProblem(t, e.do("POST", "/v1/funds", e.admin, body), 400, "invalid_id")
	if e.auditSize() != size {
		t.Fatal("a refused request wrote a record")
	}
	body["id"] = "f-system"
	e.must(201, "POST", "/v1/funds", e.admin, body)
}

// TestReceiptWaitsForCheckpoint: a receipt of a record no checkpoint
// covers yet is 503 unavailable, and its Retry-After is the checkpoint
// interval (one is signed within about a second), not every 503's
// UnavailableRetryAfter; once signed, it is served.
func TestReceiptWaitsForCheckpoint(t *testing.T) {
	e := newFundEnv(t, true)
	e.createFund()
	if _, err := e.store.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	d := e.donate("1.00")
	path := "/v1/public/funds/f1/receipts/" + jsonNum(d.Body["seq"])
	r := e.do("GET", path, "", nil)
	wantProblem(t, r, 503, "unavailable")
	if got, want := r.Header.Get("Retry-After"), fmt.Sprint(int(store.CheckpointInterval/time.Second)); got != want {
		t.Fatalf("receipt before its checkpoint: Retry-After %q, want %q", got, want)
	}
	if _, err := e.store.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.checkReceipt(path, "donation.create")
}

// TestFundAmountsCarryUnit: SPEC §7 — amounts travel with their unit.
// Every fund answer holding amounts says CNY, the public page and the
// reports too.
func TestFundAmountsCarryUnit(t *testing.T) {
	e := newFundEnv(t, false)
	f := e.createFund()
	d := e.donate("100.00")
	id := e.propose("10.00")
	aud := e.tok["aud-chen"]
	pub := e.must(200, "GET", "/v1/public/funds/f1", "", nil)
	withUnit := map[string]map[string]any{
		"created fund":      f.Body,
		"donation":          d.Body,
		"fund":              e.must(200, "GET", "/v1/funds/f1", aud, nil).Body,
		"proposal":          e.must(200, "GET", "/v1/proposals/"+id, aud, nil).Body,
		"public fund":       pub.Body,
		"public list entry": e.must(200, "GET", "/v1/public/funds", "", nil).Body["items"].([]any)[0].(map[string]any),
		"public donation":   pub.Body["donations"].([]any)[0].(map[string]any),
		"public proposal":   pub.Body["disbursements"].([]any)[0].(map[string]any),
		"fund report":       e.must(200, "GET", "/v1/reports/funds/f1", aud, nil).Body,
		"subtree report":    e.must(200, "GET", "/v1/reports/funds?community=c1", aud, nil).Body,
	}
	for what, body := range withUnit {
		if body["unit"] != "CNY" {
			t.Errorf("%s: unit %v, want CNY: %v", what, body["unit"], body)
		}
	}
}

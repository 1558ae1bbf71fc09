package api

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"tally/ledger"
	"tally/ledger/community"
)

// linkWithoutRedecide registers a relative link the way the previous
// version (e1ea627) left a voting proposal: its MembersChanged saved
// nothing for a proposal it did not decide, so the vote stayed stored
// without any mark; the previous Tally skipped it through a Conflicted
// recomputed on every read and decision.
func linkWithoutRedecide(t *testing.T, e *fundEnv, id string, rels []string) {
	t.Helper()
	if _, err := e.store.Submit(context.Background(), ledger.Request{Actor: ledger.SystemActor, Op: func(tx ledger.Tx) (any, error) {
		return community.UpdateMember(tx, id, community.MemberChange{Relatives: &rels})
	}}); err != nil {
		t.Fatal(err)
	}
}

// TestUnmarkedConflictedVoteIsVoidAtNextVote: a vote a conflict bars but
// that no re-decision marked void (stored so by an earlier build of this
// session, e1ea627) is void at the next decision (review s26R3: it
// counted again and paid).
func TestUnmarkedConflictedVoteIsVoidAtNextVote(t *testing.T) {
	e, id := votedForMember(t)
	linkWithoutRedecide(t, e, "m-new", []string{"cm-zhang"})
	p := e.must(200, "POST", "/v1/proposals/"+id+"/votes", e.tok["cm-li"], map[string]any{"decision": "approve"})
	if p.Str("status") != "voting" {
		t.Fatalf("old stored proposal: cm-zhang's conflicted vote counted again: %s approvals %v (want voting: 1 counted approval of 2)", p.Str("status"), p.Body["approvals"])
	}
}

// TestUnmarkedConflictedVoteNotShown: the view judges it as the next
// decision would.
func TestUnmarkedConflictedVoteNotShown(t *testing.T) {
	e, id := votedForMember(t)
	linkWithoutRedecide(t, e, "m-new", []string{"cm-zhang"})
	p := e.must(200, "GET", "/v1/proposals/"+id, e.tok["coord-wang"], nil)
	if a, _ := p.Body["approvals"].(float64); a != 0 {
		t.Fatalf("old stored proposal view: approvals %v, want 0 (e1ea627 showed 0): %s", p.Body["approvals"], p.Raw)
	}
}

// TestVoidNotInPublicReceipt: a committee change is disclosed when it
// decides a proposal, so it lists no void votes — they name a voter and a
// family tie (review s26R3: its public receipt did).
func TestVoidNotInPublicReceipt(t *testing.T) {
	e := newFundEnv(t, true)
	e.createFund()
	e.donate("100.00")
	e.tok["cm-new"] = e.member("cm-new", "c1", "committee")
	e.must(201, "POST", "/v1/members", e.admin, map[string]any{"id": "m-new", "community": "c1",
		"display_name": "新成员", "roles": []string{"resident"}})
	b := e.propose("10.00", "beneficiary", "m-new")
	a := e.propose("10.00")
	e.must(200, "POST", "/v1/proposals/"+b+"/votes", e.tok["cm-zhang"], map[string]any{"decision": "approve"})
	e.must(200, "POST", "/v1/proposals/"+a+"/votes", e.tok["cm-li"], map[string]any{"decision": "approve"})
	e.must(200, "PUT", "/v1/funds/f1/committee", e.admin, map[string]any{"committee": []string{"cm-li", "cm-zhao", "cm-new"}, "quorum": 2})
	e.must(200, "PATCH", "/v1/members/m-new", e.admin, map[string]any{"relatives": []string{"cm-zhang"}})
	c := e.must(200, "PUT", "/v1/funds/f1/committee", e.admin, map[string]any{"committee": []string{"cm-zhang", "cm-li", "cm-zhao"}, "quorum": 1})
	t.Logf("committee change: %s", c.Raw)
	rec := e.lastRecord()
	t.Logf("record %d %s: %v", rec.Seq, rec.Action, rec.Content["decided"])
	if _, err := e.store.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := e.do("GET", fmt.Sprintf("/v1/public/funds/f1/receipts/%d", rec.Seq), "", nil)
	var rc struct{ Record []byte }
	_ = json.Unmarshal(r.Raw, &rc)
	if r.Status != 200 {
		t.Fatalf("the committee change's public receipt: %d %s, want 200 (it paid a proposal)", r.Status, r.Raw)
	}
	if strings.Contains(string(rc.Record), "vote.void") {
		t.Fatalf("public receipt (no token) names a voided vote: %s", r.Raw)
	}
}

// TestExpiryShowsEligibleAsOfExpiry: an expired proposal keeps showing
// the eligible voters as they stood when it expired (review s26R3: a role
// withdrawn since the last vote still counted).
func TestExpiryShowsEligibleAsOfExpiry(t *testing.T) {
	e := newFundEnv(t, false)
	e.createFund()
	e.donate("100.00")
	id := e.propose("10.00")
	e.must(200, "POST", "/v1/proposals/"+id+"/votes", e.tok["cm-zhang"], map[string]any{"decision": "approve"})
	e.must(200, "PUT", "/v1/members/cm-zhao/roles", e.admin, map[string]any{"roles": []string{"resident"}})
	p := e.must(200, "GET", "/v1/proposals/"+id, e.tok["coord-wang"], nil)
	t.Logf("voting: eligible %v", p.Body["eligible"])
	e.fire(8 * 24 * time.Hour)
	p = e.must(200, "GET", "/v1/proposals/"+id, e.tok["coord-wang"], nil)
	if p.Str("status") != "expired" || p.Body["eligible"] != 2.0 {
		t.Fatalf("expired: %s eligible %v, want expired with 2 eligible (zhao's role was withdrawn before the deadline)", p.Str("status"), p.Body["eligible"])
	}
}

// votedForMember sets up f1 with 100.00, the resident m-new, a proposal of
// 10.00 to m-new (extra: more proposal fields) and cm-zhang's approval of
// it, and returns the proposal's id.
func votedForMember(t *testing.T, extra ...any) (*fundEnv, string) {
	e := newFundEnv(t, false)
	e.createFund()
	e.donate("100.00")
	e.must(201, "POST", "/v1/members", e.admin, map[string]any{"id": "m-new", "community": "c1",
		"display_name": "新成员", "roles": []string{"resident"}})
	id := e.propose("10.00", append([]any{"beneficiary", "m-new"}, extra...)...)
	e.must(200, "POST", "/v1/proposals/"+id+"/votes", e.tok["cm-zhang"], map[string]any{"decision": "approve"})
	return e, id
}

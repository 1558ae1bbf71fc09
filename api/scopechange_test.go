package api

import (
	"strings"
	"testing"
	"time"
)

// TestAdminDoesNotDropOwnRelativeLinks: an admin's own relative links are
// changed by another admin, dropped as well as added — on the relative's
// record or on the admin's own. Dropping one would let the admin then
// direct credits or a disbursement to that relative (probe s26c). The
// link stays, and so do the refusals it causes.
func TestAdminDoesNotDropOwnRelativeLinks(t *testing.T) {
	e := newFundEnv(t, false)
	e.createFund()
	e.donate("100.00")
	adm := e.member("adm-c1", "c1", "admin")
	e.must(201, "POST", "/v1/members", e.admin, map[string]any{"id": "hh-kin", "community": "c1",
		"display_name": "亲属", "roles": []string{"resident"}, "relatives": []string{"adm-c1"}})
	wantProblem(t, e.do("PATCH", "/v1/members/hh-kin", adm, map[string]any{"relatives": []string{}}), 403, "forbidden")
	wantProblem(t, e.do("PATCH", "/v1/members/adm-c1", adm, map[string]any{"relatives": []string{}}), 403, "forbidden")
	credit := map[string]any{"postings": []any{map[string]any{"from": "c1:issuance", "to": "hh-kin:HOUR", "amount": "5.00", "unit": "HOUR"}}, "memo": "补贴"}
	wantProblem(t, e.do("POST", "/v1/transfers", adm, credit), 403, "conflict_of_interest")
	// Another admin may drop it; a link not touching the admin stays theirs
	// to change.
	e.must(200, "PATCH", "/v1/members/hh-kin", e.admin, map[string]any{"relatives": []string{}})
	e.member("hh-2", "c1", "resident")
	e.must(200, "PATCH", "/v1/members/hh-kin", adm, map[string]any{"relatives": []string{"hh-2"}})
}

// streetFund sets up a street s1 with a community s1c below it, a street
// fund fs whose committee is cm-a (living in s1c), cm-s and cm-t (in
// s1), quorum 2, 100.00 donated, and an admin scoped to s1c. The street
// coordinator coord-s is cm-a's relative.
func streetFund(t *testing.T) (e *fundEnv, coordS, admChild string) {
	e = newFundEnv(t, false)
	e.community("s1", "d1", nil)
	e.community("s1c", "s1", nil)
	e.tok["cm-a"] = e.member("cm-a", "s1c", "committee")
	e.tok["cm-s"] = e.member("cm-s", "s1", "committee")
	e.tok["cm-t"] = e.member("cm-t", "s1", "committee")
	e.must(201, "POST", "/v1/members", e.admin, map[string]any{"id": "coord-s", "community": "s1",
		"display_name": "社工", "roles": []string{"coordinator"}, "relatives": []string{"cm-a"},
		"username": "coord-s", "password": "password-coord-s"})
	coordS = e.login("coord-s", "password-coord-s")
	admChild = e.member("adm-s1c", "s1c", "admin")
	e.must(201, "POST", "/v1/funds", e.admin, map[string]any{"id": "fs", "community": "s1", "name": "街道基金",
		"committee": []string{"cm-a", "cm-s", "cm-t"}, "quorum": 2})
	e.must(201, "POST", "/v1/funds/fs/donations", coordS, map[string]any{"donor": "corp-x", "donor_kind": "company", "amount": "100.00"})
	return e, coordS, admChild
}

// TestChildAdminDoesNotDecideParentFund: an admin scoped to a community
// below a street cannot read the street's fund, so neither may they
// change what decides its votes: the committee role, the relatives or the
// erasure of a member who sits on its committee (probe s26c: withdrawing
// two members' roles rejected the street fund's proposal; dropping a
// committee member's link to the street's proposer cleared a recusal).
// Changes that leave the fund's votes alone stay theirs; an admin over
// the street makes the others.
func TestChildAdminDoesNotDecideParentFund(t *testing.T) {
	e, coordS, admChild := streetFund(t)
	id := e.must(201, "POST", "/v1/funds/fs/proposals", coordS, e.proposalBody("60.00")).Str("id")
	wantProblem(t, e.do("POST", "/v1/proposals/"+id+"/votes", e.tok["cm-a"], map[string]any{"decision": "approve"}), 403, "conflict_of_interest")
	e.must(200, "POST", "/v1/proposals/"+id+"/votes", e.tok["cm-s"], map[string]any{"decision": "approve"})
	e.member("kin", "s1c", "resident")
	e.must(201, "POST", "/v1/members", e.admin, map[string]any{"id": "plain", "community": "s1c",
		"display_name": "居民", "roles": []string{"resident"}, "relatives": []string{"coord-s"}})
	records := e.auditSize()

	// A dropped relative's record changes too: coord-s is the street's.
	wantProblem(t, e.do("PATCH", "/v1/members/plain", admChild, map[string]any{"relatives": []string{}}), 403, "forbidden")

	wantProblem(t, e.do("PUT", "/v1/members/cm-a/roles", admChild, map[string]any{"roles": []string{"resident"}}), 403, "forbidden")
	wantProblem(t, e.do("PATCH", "/v1/members/cm-a", admChild, map[string]any{"relatives": []string{}}), 403, "forbidden")
	wantProblem(t, e.do("POST", "/v1/members/cm-a/erase", admChild, map[string]any{"reason": "本人申请"}), 403, "forbidden")
	wantProblem(t, e.do("PATCH", "/v1/members/kin", admChild, map[string]any{"relatives": []string{"cm-a"}}), 403, "forbidden")
	wantProblem(t, e.do("POST", "/v1/members", admChild, map[string]any{"id": "kin2", "community": "s1c",
		"display_name": "亲属", "roles": []string{"resident"}, "relatives": []string{"cm-a"}}), 403, "forbidden")
	if n := e.auditSize(); n != records {
		t.Fatalf("refused changes wrote %d records", n-records)
	}
	p := e.must(200, "GET", "/v1/proposals/"+id, coordS, nil)
	if p.Str("status") != "voting" {
		t.Fatalf("the street proposal is %s after refused changes, want voting", p.Str("status"))
	}
	wantProblem(t, e.do("POST", "/v1/proposals/"+id+"/votes", e.tok["cm-a"], map[string]any{"decision": "approve"}), 403, "conflict_of_interest")

	// A role change that keeps the committee role is not the fund's.
	e.must(200, "PUT", "/v1/members/cm-a/roles", admChild, map[string]any{"roles": []string{"committee", "volunteer"}})
	// The deployment admin may withdraw it: the proposal can no longer
	// reach its quorum of 2 (cm-a recuses, cm-s approved, cm-t left).
	e.must(200, "PUT", "/v1/members/cm-t/roles", e.admin, map[string]any{"roles": []string{"resident"}})
	if p := e.must(200, "GET", "/v1/proposals/"+id, coordS, nil); p.Str("status") != "rejected" {
		t.Fatalf("after the street's admin withdrew cm-t: %s, want rejected", p.Str("status"))
	}
}

// TestProposerDoesNotChangeCommittee: proposals are a coordinator's
// (SPEC §5), not an admin's, who chooses the committee; a member holding
// both roles with a proposal of their own open on a fund changes neither
// its committee or quorum (probe s26c: the proposer lowered the quorum to
// the one approval it had and it was paid at once) nor what decides its
// votes — a committee member's relatives, password or roles (probe s26h:
// the proposer dropped a voter's recusing link, reset another's password
// and voted as them); another admin may.
func TestProposerDoesNotChangeCommittee(t *testing.T) {
	e := newFundEnv(t, false)
	e.createFund()
	e.donate("100.00")
	admOnly := e.member("adm-only", "c1", "admin")
	wantProblem(t, e.do("POST", "/v1/funds/f1/proposals", admOnly, e.proposalBody("80.00")), 403, "forbidden")
	adm := e.member("adm-c1", "c1", "admin", "coordinator")
	e.must(201, "POST", "/v1/members", e.admin, map[string]any{"id": "kin-li", "community": "c1",
		"display_name": "亲属", "roles": []string{"resident"}, "relatives": []string{"cm-li"}})
	id := e.must(201, "POST", "/v1/funds/f1/proposals", adm, e.proposalBody("80.00", "beneficiary", "kin-li")).Str("id")
	e.must(200, "POST", "/v1/proposals/"+id+"/votes", e.tok["cm-zhang"], map[string]any{"decision": "approve"})
	size := e.auditSize()
	quorum1 := map[string]any{"committee": []string{"cm-zhang", "cm-li", "cm-zhao"}, "quorum": 1}
	wantProblem(t, e.do("PUT", "/v1/funds/f1/committee", adm, quorum1), 403, "conflict_of_interest")
	wantProblem(t, e.do("PATCH", "/v1/members/kin-li", adm, map[string]any{"relatives": []string{}}), 403, "conflict_of_interest")
	wantProblem(t, e.do("PUT", "/v1/members/cm-zhao/password", adm, map[string]any{"username": "cm-zhao", "new_password": "taken-over-pw-1"}), 403, "conflict_of_interest")
	wantProblem(t, e.do("PUT", "/v1/members/cm-zhao/roles", adm, map[string]any{"roles": []string{"resident"}}), 403, "conflict_of_interest")
	if e.auditSize() != size {
		t.Fatal("a refused change was written")
	}
	if p := e.must(200, "GET", "/v1/proposals/"+id, adm, nil); p.Str("status") != "voting" {
		t.Fatalf("proposal %s after the refused changes, want voting", p.Str("status"))
	}
	e.must(200, "PUT", "/v1/funds/f1/committee", e.admin, quorum1)
	if p := e.must(200, "GET", "/v1/proposals/"+id, adm, nil); p.Str("status") != "paid" {
		t.Fatalf("proposal %s after another admin's change, want paid", p.Str("status"))
	}
}

// TestChildAdminDoesNotTakeOverParentCommitteeLogin: a login is all its
// member may do, so a scoped admin does not reset the password of a
// member on the committee of a fund outside their scope (probe s26d: the
// child admin reset it, logged in and cast the deciding vote on a street
// fund they cannot read); an admin over the fund may.
func TestChildAdminDoesNotTakeOverParentCommitteeLogin(t *testing.T) {
	e, coordS, admChild := streetFund(t)
	id := e.must(201, "POST", "/v1/funds/fs/proposals", coordS, e.proposalBody("60.00")).Str("id")
	e.must(200, "POST", "/v1/proposals/"+id+"/votes", e.tok["cm-s"], map[string]any{"decision": "approve"})
	reset := map[string]any{"username": "cm-a", "new_password": "taken-over-pw-1"}
	wantProblem(t, e.do("PUT", "/v1/members/cm-a/password", admChild, reset), 403, "forbidden")
	if r := e.do("POST", "/v1/auth/token", "", map[string]any{"username": "cm-a", "password": "taken-over-pw-1"}); r.Status != 401 {
		t.Fatalf("login with the refused password: %d, want 401", r.Status)
	}
	// A resident of the child community is still the child admin's.
	e.must(201, "POST", "/v1/members", admChild, map[string]any{"id": "res-c", "community": "s1c",
		"display_name": "居民", "roles": []string{"resident"}, "username": "res-c", "password": "password-res-c"})
	e.must(200, "PUT", "/v1/members/res-c/password", admChild, map[string]any{"username": "res-c", "new_password": "password-res-c2"})
	e.must(200, "PUT", "/v1/members/cm-a/password", e.admin, reset)
}

// TestAdminDoesNotLinkOwnFamily: an admin does not add or drop a link one
// of whose ends is their own relative, as a coordinator may not register
// a member naming one (probe s26f: an admin registered a member with a
// login they chose, linked their own relative to it, granted it pool
// credits and had it gift them on). Another admin may.
func TestAdminDoesNotLinkOwnFamily(t *testing.T) {
	e := newFundEnv(t, false)
	adm := e.member("adm-c1", "c1", "admin")
	e.must(201, "POST", "/v1/members", e.admin, map[string]any{"id": "kin", "community": "c1",
		"display_name": "亲属", "roles": []string{"resident"}, "relatives": []string{"adm-c1"}})
	e.must(201, "POST", "/v1/members", adm, map[string]any{"id": "sock", "community": "c1",
		"display_name": "某人", "roles": []string{"resident"}, "username": "sock", "password": "password-sock"})
	size := e.auditSize()
	wantProblem(t, e.do("PATCH", "/v1/members/sock", adm, map[string]any{"relatives": []string{"kin"}}), 403, "conflict_of_interest")
	wantProblem(t, e.do("PATCH", "/v1/members/kin", adm, map[string]any{"relatives": []string{"adm-c1", "sock"}}), 403, "conflict_of_interest")
	if e.auditSize() != size {
		t.Fatal("a refused link was written")
	}
	e.must(200, "PATCH", "/v1/members/sock", e.admin, map[string]any{"relatives": []string{"kin"}})
	// Dropping it again is the other admin's too.
	wantProblem(t, e.do("PATCH", "/v1/members/sock", adm, map[string]any{"relatives": []string{}}), 403, "conflict_of_interest")
}

// TestCaseVariantsNameTheMember: member ids are case-sensitive, but a
// beneficiary that is a member's id but for case names that member to
// anyone reading the disclosure, so the recusal rules read it so (probe
// s26f: "COC1" was paid on its proposer coC1's proposal, and a committee
// member voted on a payment to their relative in capitals).
func TestCaseVariantsNameTheMember(t *testing.T) {
	e := newFundEnv(t, false)
	e.createFund()
	e.donate("100.00")
	e.must(201, "POST", "/v1/members", e.admin, map[string]any{"id": "kin-li", "community": "c1",
		"display_name": "亲属", "roles": []string{"resident"}, "relatives": []string{"cm-li"}})
	e.must(201, "POST", "/v1/members", e.admin, map[string]any{"id": "kin-wang", "community": "c1",
		"display_name": "亲属", "roles": []string{"resident"}, "relatives": []string{"coord-wang"}})
	coord := e.tok["coord-wang"]
	for _, b := range []string{"COORD-WANG", "Coord-Wang", "KIN-WANG"} {
		wantProblem(t, e.do("POST", "/v1/funds/f1/proposals", coord, e.proposalBody("10.00", "beneficiary", b)), 403, "conflict_of_interest")
	}
	for voter, b := range map[string]string{"cm-li": "KIN-LI", "cm-zhao": "CM-ZHAO"} {
		id := e.propose("10.00", "beneficiary", b)
		wantProblem(t, e.vote(id, voter, "approve"), 403, "conflict_of_interest")
	}
	// A pseudonym that names no member but for case is anyone's.
	id := e.propose("10.00", "beneficiary", "hh-0042")
	e.must(200, "POST", "/v1/proposals/"+id+"/votes", e.tok["cm-li"], map[string]any{"decision": "approve"})
}

// TestConflictFoundAfterVoteTakesItBack: a member with a conflict of
// interest must recuse (SPEC §5), so a conflict registered after they
// voted — the beneficiary registered as their relative — takes the vote
// back (probe s26f: it still counted, and the next approval paid). The
// vote stays listed; it no longer counts, and they are conflicted.
func TestConflictFoundAfterVoteTakesItBack(t *testing.T) {
	e := newFundEnv(t, false)
	e.createFund()
	e.donate("100.00")
	id := e.propose("10.00", "beneficiary", "m-new")
	e.must(200, "POST", "/v1/proposals/"+id+"/votes", e.tok["cm-zhang"], map[string]any{"decision": "approve"})
	e.must(201, "POST", "/v1/members", e.admin, map[string]any{"id": "m-new", "community": "c1",
		"display_name": "新成员", "roles": []string{"resident"}, "relatives": []string{"cm-zhang"}})
	p := e.must(200, "GET", "/v1/proposals/"+id, e.tok["coord-wang"], nil)
	num := func(r response, k string) float64 { f, _ := r.Body[k].(float64); return f }
	if num(p, "approvals") != 0 || num(p, "eligible") != 2 {
		t.Fatalf("after the conflict: approvals %v eligible %v, want 0 and 2: %s", p.Body["approvals"], p.Body["eligible"], p.Raw)
	}
	pub := e.must(200, "GET", "/v1/public/funds/f1/disbursements", "", nil)
	if items, _ := pub.Body["items"].([]any); len(items) != 1 || items[0].(map[string]any)["approvals"] != 0.0 {
		t.Fatalf("the public page counts the vote taken back: %s", pub.Raw)
	}
	p = e.must(200, "POST", "/v1/proposals/"+id+"/votes", e.tok["cm-li"], map[string]any{"decision": "approve"})
	if p.Str("status") != "voting" || num(p, "approvals") != 1 {
		t.Fatalf("one counted approval of quorum 2: %s approvals %v, want voting 1", p.Str("status"), p.Body["approvals"])
	}
	// The last eligible member's rejection leaves 1 approval short: rejected.
	p = e.must(200, "POST", "/v1/proposals/"+id+"/votes", e.tok["cm-zhao"], map[string]any{"decision": "reject", "reason": "利益冲突"})
	if p.Str("status") != "rejected" {
		t.Fatalf("after the last eligible vote: %s, want rejected", p.Str("status"))
	}
}

// TestAdminRoleFromAbove: the admin role is given and withdrawn by an
// admin over a wider scope, never by a peer of the same one (probe s26f:
// an admin of c1 registered a second admin of c1 with a login they chose,
// and through it granted themself the committee role and credited their
// relative).
func TestAdminRoleFromAbove(t *testing.T) {
	e := newFundEnv(t, false)
	admC1 := e.member("adm-c1", "c1", "admin")
	admD1 := e.member("adm-d1", "d1", "admin")
	e.member("res-1", "c1", "resident")
	puppet := func(id, communityID string) map[string]any {
		return map[string]any{"id": id, "community": communityID, "display_name": "管理员",
			"roles": []string{"admin"}, "username": id, "password": "password-" + id}
	}
	size := e.auditSize()
	wantProblem(t, e.do("POST", "/v1/members", admC1, puppet("pa-1", "c1")), 403, "forbidden")
	wantProblem(t, e.do("PUT", "/v1/members/res-1/roles", admC1, map[string]any{"roles": []string{"resident", "admin"}}), 403, "forbidden")
	wantProblem(t, e.do("POST", "/v1/members", admD1, puppet("pa-2", "d1")), 403, "forbidden")
	if e.auditSize() != size {
		t.Fatal("a refused appointment was written")
	}
	// From above: the district's admin for c1, the deployment's for d1.
	e.must(201, "POST", "/v1/members", admD1, puppet("pa-3", "c1"))
	e.must(200, "PUT", "/v1/members/res-1/roles", admD1, map[string]any{"roles": []string{"resident", "admin"}})
	wantProblem(t, e.do("PUT", "/v1/members/res-1/roles", admC1, map[string]any{"roles": []string{"resident"}}), 403, "forbidden")
	e.must(201, "POST", "/v1/members", e.admin, puppet("pa-4", "d1"))
	// Other roles stay the community admin's to give.
	e.must(201, "POST", "/v1/members", admC1, map[string]any{"id": "co-1", "community": "c1", "display_name": "社工",
		"roles": []string{"coordinator"}, "username": "co-1", "password": "password-co-1"})
}

// Review s26R's cases, each failing before its fix.

// TestExpiryCountsAsTheLastVoteWould: a vote taken back by a conflict
// stays taken back when the proposal expires (review s26R: the expiry
// counted it again from the last vote's stale list).
func TestExpiryCountsAsTheLastVoteWould(t *testing.T) {
	e := newFundEnv(t, false)
	e.createFund()
	e.donate("100.00")
	id := e.propose("10.00", "beneficiary", "m-new", "deadline", "48h")
	e.must(200, "POST", "/v1/proposals/"+id+"/votes", e.tok["cm-zhang"], map[string]any{"decision": "approve"})
	e.must(201, "POST", "/v1/members", e.admin, map[string]any{"id": "m-new", "community": "c1",
		"display_name": "新成员", "roles": []string{"resident"}, "relatives": []string{"cm-zhang"}})
	p := e.must(200, "GET", "/v1/proposals/"+id, e.tok["coord-wang"], nil)
	t.Logf("voting: approvals %v eligible %v", p.Body["approvals"], p.Body["eligible"])
	e.fire(48*time.Hour + time.Second)
	p = e.must(200, "GET", "/v1/proposals/"+id, e.tok["coord-wang"], nil)
	t.Logf("expired: status %v approvals %v eligible %v", p.Str("status"), p.Body["approvals"], p.Body["eligible"])
	if p.Body["approvals"] != 0.0 || p.Body["eligible"] != 2.0 {
		t.Fatalf("after expiry the taken-back vote counts again: approvals %v eligible %v (voting view showed 0 and 2)", p.Body["approvals"], p.Body["eligible"])
	}
}

// TestPeerAdminDoesNotResetAdminPassword: an admin's password is reset
// from above, as their role is given (review s26R: a peer reset it and,
// logged in as them, granted themself the committee role).
func TestPeerAdminDoesNotResetAdminPassword(t *testing.T) {
	e, admC1, admD1 := peerAdmins(t)
	r := e.do("PUT", "/v1/members/adm-c1b/password", admC1, map[string]any{"username": "adm-c1b", "new_password": "chosen-by-adm-c1"})
	wantProblem(t, r, 403, "forbidden")
	if d := r.Str("detail"); !strings.Contains(d, "resetting the password of an admin") {
		t.Fatalf("the refusal says %q, not what it refuses", d)
	}
	if r := e.do("POST", "/v1/auth/token", "", map[string]any{"username": "adm-c1b", "password": "chosen-by-adm-c1"}); r.Status != 401 {
		t.Fatalf("login with the refused password: %d, want 401", r.Status)
	}
	// From above it is allowed.
	e.must(200, "PUT", "/v1/members/adm-c1b/password", admD1, map[string]any{"username": "adm-c1b", "new_password": "chosen-by-adm-d1"})
}

// zhangApprovedForNewcomer: fund f1 with 100.00, a committee member
// cm-new added, a proposal for m-new (not yet registered) that cm-zhang
// approved; the vote tests then replace the committee or register m-new
// as cm-zhang's relative, in their own order.
func zhangApprovedForNewcomer(t *testing.T) (*fundEnv, string) {
	t.Helper()
	e := newFundEnv(t, false)
	e.createFund()
	e.donate("100.00")
	e.tok["cm-new"] = e.member("cm-new", "c1", "committee")
	id := e.propose("10.00", "beneficiary", "m-new")
	e.must(200, "POST", "/v1/proposals/"+id+"/votes", e.tok["cm-zhang"], map[string]any{"decision": "approve"})
	return e, id
}

// TestReplacedVotersVoteStands: a vote cast by a member the committee
// replacement removed stands as cast, whatever is registered about them
// later: no change to a former member is the fund's to judge (review
// s26h: judging one let an admin outside the fund's scope take the vote
// back and give it again, leaving the proposal at quorum undecided).
func TestReplacedVotersVoteStands(t *testing.T) {
	e, id := zhangApprovedForNewcomer(t)
	e.must(200, "PUT", "/v1/funds/f1/committee", e.admin, map[string]any{"committee": []string{"cm-li", "cm-zhao", "cm-new"}, "quorum": 2})
	e.must(201, "POST", "/v1/members", e.admin, map[string]any{"id": "m-new", "community": "c1",
		"display_name": "新成员", "roles": []string{"resident"}, "relatives": []string{"cm-zhang"}})
	p := e.must(200, "GET", "/v1/proposals/"+id, e.tok["coord-wang"], nil)
	if a, _ := p.Body["approvals"].(float64); a != 1 || p.Str("status") != "voting" {
		t.Fatalf("the former member's vote: %s approvals %v, want voting 1", p.Str("status"), p.Body["approvals"])
	}
	if p = e.must(200, "POST", "/v1/proposals/"+id+"/votes", e.tok["cm-li"], map[string]any{"decision": "approve"}); p.Str("status") != "paid" {
		t.Fatalf("after a second approval: %s, want paid", p.Str("status"))
	}
}

// TestCaseTwinMemberIsTheSamePerson: a member registered under the
// proposer's id but for case reads as the proposer (review s26R: the
// coordinator registered "COW" and proposed a payment to it).
func TestCaseTwinMemberIsTheSamePerson(t *testing.T) {
	e := newFundEnv(t, false)
	e.createFund()
	e.donate("100.00")
	e.must(201, "POST", "/v1/members", e.admin, map[string]any{"id": "coW", "community": "c1", "display_name": "社工",
		"roles": []string{"coordinator"}, "username": "13800000000", "password": "password-coW"})
	coW := e.login("13800000000", "password-coW")
	wantProblem(t, e.do("POST", "/v1/funds/f1/proposals", coW, e.proposalBody("10.00", "beneficiary", "COW")), 403, "conflict_of_interest")
	r := e.do("POST", "/v1/members", coW, map[string]any{"id": "COW", "community": "c1", "display_name": "某人", "roles": []string{"resident"}})
	t.Logf("register COW: %d %s", r.Status, r.Raw)
	p := e.do("POST", "/v1/funds/f1/proposals", coW, e.proposalBody("10.00", "beneficiary", "COW"))
	t.Logf("propose to COW: %d %s", p.Status, p.Raw)
	if p.Status == 201 {
		t.Fatal("coW proposed a payment to COW after registering it as a member")
	}
}

// TestKeptRelativeOutOfScopeDoesNotBlock: a link kept unchanged is not
// judged again (review s26R: a kept relative outside the child admin's
// scope made adding one in scope a 404).
func TestKeptRelativeOutOfScopeDoesNotBlock(t *testing.T) {
	e, _, admChild := streetFund(t)
	e.must(201, "POST", "/v1/members", e.admin, map[string]any{"id": "plain", "community": "s1c",
		"display_name": "居民", "roles": []string{"resident"}, "relatives": []string{"coord-s"}})
	e.member("kin", "s1c", "resident")
	g := e.must(200, "GET", "/v1/members/plain", admChild, nil)
	t.Logf("child admin reads plain: %s", g.Raw)
	r := e.do("PATCH", "/v1/members/plain", admChild, map[string]any{"relatives": []string{"coord-s", "kin"}})
	t.Logf("add kin keeping coord-s: %d %s", r.Status, r.Raw)
	if r.Status != 200 {
		t.Fatalf("adding an in-scope relative refused because a kept one is out of scope: %d %s", r.Status, r.Raw)
	}
}

// TestPeerAdminDoesNotEraseAdmin: an admin is erased from above, as
// their role is withdrawn (review s26R: a peer erased them).
func TestPeerAdminDoesNotEraseAdmin(t *testing.T) {
	e, admC1, admD1 := peerAdmins(t)
	wantProblem(t, e.do("PUT", "/v1/members/adm-c1b/roles", admC1, map[string]any{"roles": []string{"resident"}}), 403, "forbidden")
	wantProblem(t, e.do("POST", "/v1/members/adm-c1b/erase", admC1, map[string]any{"reason": "x"}), 403, "forbidden")
	e.must(200, "POST", "/v1/members/adm-c1b/erase", admD1, map[string]any{"reason": "x"})
}

// TestVoidVoteStaysVoid: a vote a conflict took back is void for good —
// a committee replacement that removes its member does not bring it back
// (review s26R2: it counted again and paid), nor does the link dropped
// again, before or after the deadline; the member, no longer conflicted,
// votes again.
func TestVoidVoteStaysVoid(t *testing.T) {
	for _, quorum := range []int{2, 1} {
		e, id := zhangApprovedForNewcomer(t)
		e.must(201, "POST", "/v1/members", e.admin, map[string]any{"id": "m-new", "community": "c1",
			"display_name": "新成员", "roles": []string{"resident"}, "relatives": []string{"cm-zhang"}})
		p := e.must(200, "GET", "/v1/proposals/"+id, e.tok["coord-wang"], nil)
		if votes, _ := p.Body["votes"].([]any); len(votes) != 1 || votes[0].(map[string]any)["void"] != true {
			t.Fatalf("the vote taken back is not shown void: %s", p.Raw)
		}
		e.must(200, "PUT", "/v1/funds/f1/committee", e.admin, map[string]any{"committee": []string{"cm-li", "cm-zhao", "cm-new"}, "quorum": quorum})
		p = e.must(200, "GET", "/v1/proposals/"+id, e.tok["coord-wang"], nil)
		if a, _ := p.Body["approvals"].(float64); a != 0 || p.Str("status") != "voting" {
			t.Fatalf("quorum %d: after the replacement %s approvals %v, want voting 0", quorum, p.Str("status"), p.Body["approvals"])
		}
	}

	e, id := votedForMember(t, "deadline", "48h")
	e.must(200, "PATCH", "/v1/members/m-new", e.admin, map[string]any{"relatives": []string{"cm-zhang"}})
	e.must(200, "PATCH", "/v1/members/m-new", e.admin, map[string]any{"relatives": []string{}})
	p := e.must(200, "POST", "/v1/proposals/"+id+"/votes", e.tok["cm-li"], map[string]any{"decision": "approve"})
	if a, _ := p.Body["approvals"].(float64); a != 1 || p.Str("status") != "voting" {
		t.Fatalf("after the link dropped again: %s approvals %v, want voting 1 (the void vote stays void)", p.Str("status"), p.Body["approvals"])
	}
	// Past the deadline, with the expiry not yet run, nothing changes it.
	e.must(200, "PATCH", "/v1/members/m-new", e.admin, map[string]any{"relatives": []string{"cm-zhang"}})
	e.clock.Advance(48*time.Hour + time.Millisecond)
	e.must(200, "PATCH", "/v1/members/m-new", e.admin, map[string]any{"relatives": []string{}})
	e.fire(time.Second)
	p = e.must(200, "GET", "/v1/proposals/"+id, e.tok["coord-wang"], nil)
	if a, _ := p.Body["approvals"].(float64); a != 1 || p.Str("status") != "expired" {
		t.Fatalf("expired: %s approvals %v, want expired 1", p.Str("status"), p.Body["approvals"])
	}
}

// TestVoidVoterVotesAgain: once the conflict that voided their vote is
// gone, the member may vote again, and that vote counts.
func TestVoidVoterVotesAgain(t *testing.T) {
	e, id := votedForMember(t)
	e.must(200, "PATCH", "/v1/members/m-new", e.admin, map[string]any{"relatives": []string{"cm-zhang"}})
	wantProblem(t, e.vote(id, "cm-zhang", "approve"), 403, "conflict_of_interest")
	e.must(200, "PATCH", "/v1/members/m-new", e.admin, map[string]any{"relatives": []string{}})
	e.must(200, "POST", "/v1/proposals/"+id+"/votes", e.tok["cm-zhang"], map[string]any{"decision": "approve"})
	if p := e.must(200, "POST", "/v1/proposals/"+id+"/votes", e.tok["cm-li"], map[string]any{"decision": "approve"}); p.Str("status") != "paid" {
		t.Fatalf("two counted approvals: %s, want paid", p.Str("status"))
	}
}

// TestProposerDoesNotAppointAdminOverFund: a member with a proposal open
// on a fund does not appoint, or take over the login of, an admin who
// would run that fund's community — who could change its committee for
// them (review s26R2: the proposer registered a puppet admin of c1 who
// lowered the quorum to the one approval it had).
func TestProposerDoesNotAppointAdminOverFund(t *testing.T) {
	e := newFundEnv(t, false)
	e.createFund()
	e.donate("100.00")
	admD1 := e.member("adm-d1", "d1", "admin", "coordinator")
	e.member("adm-c1", "c1", "admin")
	e.member("res-1", "c1", "resident")
	id := e.must(201, "POST", "/v1/funds/f1/proposals", admD1, e.proposalBody("80.00")).Str("id")
	e.must(200, "POST", "/v1/proposals/"+id+"/votes", e.tok["cm-zhang"], map[string]any{"decision": "approve"})
	size := e.auditSize()
	wantProblem(t, e.do("POST", "/v1/members", admD1, map[string]any{"id": "pup", "community": "c1", "display_name": "管理员",
		"roles": []string{"admin"}, "username": "pup", "password": "password-pup"}), 403, "conflict_of_interest")
	wantProblem(t, e.do("PUT", "/v1/members/res-1/roles", admD1, map[string]any{"roles": []string{"resident", "admin"}}), 403, "conflict_of_interest")
	wantProblem(t, e.do("PUT", "/v1/members/adm-c1/password", admD1, map[string]any{"username": "adm-c1", "new_password": "taken-over-pw-1"}), 403, "conflict_of_interest")
	if e.auditSize() != size {
		t.Fatal("a refused appointment was written")
	}
	// An admin of c2, whose funds they propose nothing on, is theirs to appoint.
	e.must(201, "POST", "/v1/members", admD1, map[string]any{"id": "adm-c2", "community": "c2", "display_name": "管理员",
		"roles": []string{"admin"}, "username": "adm-c2", "password": "password-adm-c2"})
}

// TestCaseTwinsMoveCreditsAsTwoPeople: members whose ids differ only in
// case are two people with two accounts, so staff credit one whatever
// the other's id (review s26R2: a coordinator co-li could not credit an
// unrelated resident CO-LI); a disbursement naming the twin still reads
// as the coordinator (TestCaseTwinMemberIsTheSamePerson).
func TestCaseTwinsMoveCreditsAsTwoPeople(t *testing.T) {
	e := newFundEnv(t, false)
	e.must(201, "POST", "/v1/members", e.admin, map[string]any{"id": "co-li", "community": "c1", "display_name": "社工",
		"roles": []string{"coordinator"}, "username": "13900000001", "password": "password-co-li"})
	coLi := e.login("13900000001", "password-co-li")
	e.must(201, "POST", "/v1/members", e.tok["coord-wang"], map[string]any{"id": "CO-LI", "community": "c1",
		"display_name": "居民", "roles": []string{"resident"}})
	e.must(201, "POST", "/v1/transfers", coLi, map[string]any{"memo": "补贴", "postings": []any{
		map[string]any{"from": "c1:issuance", "to": "CO-LI:HOUR", "amount": "1.00", "unit": "HOUR"}}})
}

// peerAdmins sets up adm-c1 and adm-c1b, two admins of c1 (adm-c1b
// appointed from above by adm-d1, an admin of d1), and returns the
// tokens of adm-c1 and adm-d1.
func peerAdmins(t *testing.T) (e *fundEnv, admC1, admD1 string) {
	e = newFundEnv(t, false)
	admC1 = e.member("adm-c1", "c1", "admin")
	admD1 = e.member("adm-d1", "d1", "admin")
	e.must(201, "POST", "/v1/members", admD1, map[string]any{"id": "adm-c1b", "community": "c1", "display_name": "管理员二",
		"roles": []string{"admin"}, "username": "adm-c1b", "password": "password-adm-c1b"})
	return e, admC1, admD1
}

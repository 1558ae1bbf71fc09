package api

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"tally/audit"
	"tally/ledger"
)

// authzCase is one refused request: the status and stable code it must
// answer, as a problem document, with nothing written.
type authzCase struct {
	name, method, path, token string
	body                      any
	status                    int
	code                      string
	headers                   []string
}

// runRefusals sends each case and checks status, code, problem type and
// that the audit log did not grow.
func runRefusals(t *testing.T, ts *testServer, cases []authzCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := ts.auditSize()
			r := ts.do(c.method, c.path, c.token, c.body, c.headers...)
			if r.Status != c.status || r.Code() != c.code {
				t.Fatalf("got %d %q, want %d %q: %s", r.Status, r.Code(), c.status, c.code, r.Raw)
			}
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
				t.Fatalf("content type %q, want application/problem+json", ct)
			}
			if got := ts.auditSize(); got != before {
				t.Fatalf("audit size %d after a refused request, want %d", got, before)
			}
		})
	}
}

// authzAudit is the test AuditLog with records, so that the receipt route
// can tell whose record it is.
type authzAudit struct{ fundAudit }

func (a authzAudit) Records(_ context.Context, from uint64, limit int) ([]AuditRecord, error) {
	recs, _, err := a.st.Audit().Records(from, limit)
	out := make([]AuditRecord, len(recs))
	for i, r := range recs {
		out[i] = AuditRecord{Seq: r.Seq, Hash: r.Hash[:], Record: r.Record}
	}
	return out, err
}

// TestAuthzFundMoneyOnlyByVote: a proposal's hold and a fund's accounts
// are not reachable through the raw transfer routes. Before the fix a
// coordinator (who proposes) could post the hold of their own proposal
// and pay it with no committee vote, or move the fund's money directly.
func TestAuthzFundMoneyOnlyByVote(t *testing.T) {
	e := newFundEnv(t, false)
	e.createFund()
	d := e.donate("100.00")
	id := e.propose("50.00")
	hold := e.proposal(id).Str("hold")
	if hold == "" {
		t.Fatal("proposal has no hold")
	}
	coord := e.tok["coord-wang"]
	move := func(from, to string) map[string]any {
		return map[string]any{"postings": []any{map[string]any{"from": from, "to": to, "amount": "10.00", "unit": "CNY"}}}
	}
	runRefusals(t, e.testServer, []authzCase{
		{"coordinator posts a proposal hold", "POST", "/v1/transfers/" + hold + "/post", coord, nil, 403, "forbidden", nil},
		{"coordinator posts part of a proposal hold", "POST", "/v1/transfers/" + hold + "/post", coord, map[string]any{"amount": "1.00"}, 403, "forbidden", nil},
		{"coordinator voids a proposal hold", "POST", "/v1/transfers/" + hold + "/void", coord, nil, 403, "forbidden", nil},
		{"admin posts a proposal hold", "POST", "/v1/transfers/" + hold + "/post", e.admin, nil, 403, "forbidden", nil},
		{"admin voids a proposal hold", "POST", "/v1/transfers/" + hold + "/void", e.admin, nil, 403, "forbidden", nil},
		{"coordinator pays out of the fund", "POST", "/v1/transfers", coord, move("f1:balance", "f1:paid"), 403, "forbidden", nil},
		{"coordinator drains a project", "POST", "/v1/transfers", coord, move("f1:balance", "f1:proj.school"), 403, "forbidden", nil},
		{"coordinator fakes a donation", "POST", "/v1/transfers", coord, move("f1:donations", "f1:balance"), 403, "forbidden", nil},
		{"coordinator holds fund money", "POST", "/v1/transfers", coord, map[string]any{"pending": true, "postings": []any{
			map[string]any{"from": "f1:balance", "to": "f1:paid", "amount": "10.00", "unit": "CNY"}}}, 403, "forbidden", nil},
		{"coordinator reverses a donation", "POST", "/v1/transfers/" + d.Str("tx") + "/reverse", coord, map[string]any{"reason": "x"}, 403, "forbidden", nil},
		{"admin reverses a donation", "POST", "/v1/transfers/" + d.Str("tx") + "/reverse", e.admin, map[string]any{"reason": "x"}, 403, "forbidden", nil},
		{"admin voids a donation (never a hold)", "POST", "/v1/transfers/" + d.Str("tx") + "/void", e.admin, nil, 409, "not_pending", nil},
		{"admin posts a donation (never a hold)", "POST", "/v1/transfers/" + d.Str("tx") + "/post", e.admin, nil, 409, "not_pending", nil},
		{"admin pays out of the fund", "POST", "/v1/transfers", e.admin, move("f1:balance", "f1:paid"), 403, "forbidden", nil},
		{"admin moves project money", "POST", "/v1/transfers", e.admin, move("f1:proj.school", "f1:balance"), 403, "forbidden", nil},
		{"other community's coordinator posts the hold", "POST", "/v1/transfers/" + hold + "/post", e.tok["coord-c2"], nil, 404, "not_found", nil},
	})
	e.wantStatus(id, "voting")
	e.wantFund("100.00", "50.00", "50.00")
	// The vote still pays it.
	e.vote(id, "cm-zhang", "approve")
	e.vote(id, "cm-li", "approve")
	e.wantStatus(id, "paid")
}

// TestAuthzRawHoldsStillSettle: a hold made through /v1/transfers is
// still posted and voided there.
func TestAuthzRawHoldsStillSettle(t *testing.T) {
	ts := newTestServer(t)
	ts.community("c1", "", nil)
	ts.member("li", "c1", "resident")
	coord := ts.member("wang", "c1", "coordinator")
	h := ts.must(201, "POST", "/v1/transfers", coord, map[string]any{"pending": true, "postings": []any{
		map[string]any{"from": "c1:issuance", "to": "li:HOUR", "amount": "2.00", "unit": "HOUR"}}})
	ts.must(200, "POST", "/v1/transfers/"+h.Str("id")+"/post", coord, map[string]any{"amount": "1.50"})
	if got := ts.balance("li:HOUR"); got != "1.50" {
		t.Fatalf("balance %s, want 1.50", got)
	}
}

// TestAuthzReceipts: a receipt carries a whole audit record; anyone but
// auditors and admins gets only their own. Before the fix any logged-in
// resident could read every record of every community one seq at a time.
func TestAuthzReceipts(t *testing.T) {
	e := newFundEnv(t, true)
	e.api.cfg.Audit = authzAudit{fundAudit{st: e.store}}
	e.createFund()
	d := e.donate("100.00", "donor", "donor-secret-9", "anonymous", true)
	// A transfer to the resident: their own record.
	own := e.must(201, "POST", "/v1/transfers", e.admin, map[string]any{"postings": []any{
		map[string]any{"from": "c1:issuance", "to": "res-liu:HOUR", "amount": "1.00", "unit": "HOUR"}}})
	if _, err := e.store.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	don := "/v1/audit/records/" + jsonNum(d.Body["seq"]) + "/receipt"
	mine := "/v1/audit/records/" + jsonNum(own.Body["seq"]) + "/receipt"
	runRefusals(t, e.testServer, []authzCase{
		{"resident reads a donation record", "GET", don, e.tok["res-liu"], nil, 404, "not_found", nil},
		{"committee member reads a donation record", "GET", don, e.tok["cm-zhang"], nil, 404, "not_found", nil},
		{"other community's coordinator", "GET", don, e.tok["coord-c2"], nil, 404, "not_found", nil},
		{"resident reads a record beyond the log", "GET", "/v1/audit/records/99999/receipt", e.tok["res-liu"], nil, 404, "not_found", nil},
		{"bad seq", "GET", "/v1/audit/records/-1/receipt", e.tok["res-liu"], nil, 400, "invalid_request", nil},
		{"no token", "GET", mine, "", nil, 401, "unauthorized", nil},
	})
	e.must(200, "GET", mine, e.tok["res-liu"], nil)
	e.must(200, "GET", don, e.tok["aud-chen"], nil)
	e.must(200, "GET", don, e.tok["coord-wang"], nil)
	e.must(200, "GET", don, e.admin, nil)
}

// TestAuthzCommitteeOfAnotherFund: committee membership is per fund.
func TestAuthzCommitteeOfAnotherFund(t *testing.T) {
	e := newFundEnv(t, false)
	e.createFund()
	e.tok["cm-other"] = e.member("cm-other", "c1", "committee")
	e.must(201, "POST", "/v1/funds", e.admin, map[string]any{"id": "f2", "community": "c1", "name": "另一基金",
		"committee": []string{"cm-other"}, "quorum": 1})
	e.donate("10.00")
	id := e.propose("5.00")
	e.must(201, "POST", "/v1/transfers", e.admin, map[string]any{"postings": []any{map[string]any{"from": "c1:issuance", "to": "aud-chen:HOUR", "amount": "1.00", "unit": "HOUR"}}})
	runRefusals(t, e.testServer, []authzCase{
		{"committee of f2 votes on f1", "POST", "/v1/proposals/" + id + "/votes", e.tok["cm-other"], map[string]any{"decision": "approve"}, 403, "not_committee", nil},
		{"committee of f2 recuses on f1", "POST", "/v1/proposals/" + id + "/recusals", e.tok["cm-other"], nil, 403, "not_committee", nil},
		{"committee of f2 reads f1", "GET", "/v1/funds/f1", e.tok["cm-other"], nil, 403, "forbidden", nil},
		{"committee of f2 reads f1's proposal", "GET", "/v1/proposals/" + id, e.tok["cm-other"], nil, 403, "forbidden", nil},
		{"committee of f2 reads f1's report", "GET", "/v1/reports/funds/f1", e.tok["cm-other"], nil, 403, "forbidden", nil},
		{"auditor votes", "POST", "/v1/proposals/" + id + "/votes", e.tok["aud-chen"], map[string]any{"decision": "approve"}, 403, "forbidden", nil},
		{"resident objects", "POST", "/v1/proposals/" + id + "/objections", e.tok["res-liu"], map[string]any{"reason": "x"}, 403, "forbidden", nil},
		{"other community's coordinator objects", "POST", "/v1/proposals/" + id + "/objections", e.tok["coord-c2"], map[string]any{"reason": "x"}, 403, "forbidden", nil},
		{"other community's coordinator proposes", "POST", "/v1/funds/f1/proposals", e.tok["coord-c2"], e.proposalBody("1.00"), 403, "forbidden", nil},
		{"other community's coordinator adds a project", "POST", "/v1/funds/f1/projects", e.tok["coord-c2"], map[string]any{"id": "p2", "name": "x"}, 403, "forbidden", nil},
		{"auditor donates", "POST", "/v1/funds/f1/donations", e.tok["aud-chen"], map[string]any{"donor": "x", "amount": "1.00"}, 403, "forbidden", nil},
		// An auditor is read-only even on the routes any member calls for
		// their own account (the auditor's account holds credits here).
		{"auditor gifts", "POST", "/v1/gifts", e.tok["aud-chen"], map[string]any{"from": "aud-chen", "to": "c1:pool", "hours": "0.01"}, 403, "forbidden", nil},
		{"auditor posts a need", "POST", "/v1/needs", e.tok["aud-chen"], map[string]any{"community": "c1", "category": "elder_care", "title": "x"}, 403, "forbidden", nil},
		{"committee-only member posts a need", "POST", "/v1/needs", e.tok["cm-other"], map[string]any{"community": "c1", "category": "elder_care", "title": "x"}, 403, "forbidden", nil},
		{"auditor redeems", "POST", "/v1/redemptions", e.tok["aud-chen"], map[string]any{"member": "aud-chen", "community": "c1", "hours": "0.01", "item": "x"}, 403, "forbidden", nil},
		{"resident lists donors", "GET", "/v1/funds/f1/donations", e.tok["res-liu"], nil, 403, "forbidden", nil},
	})
	// Whoever proposed it reads their proposal whatever their roles now
	// (review s22R: the route's roles shut out a demoted proposer).
	e.must(200, "PUT", "/v1/members/coord-wang/roles", e.admin, map[string]any{"roles": []string{"resident"}})
	e.must(200, "GET", "/v1/proposals/"+id, e.tok["coord-wang"], nil)
	e.must(403, "GET", "/v1/funds/f1", e.tok["coord-wang"], nil)
	// Told who reads the fund (probe s22a: "this needs one of the roles
	// [coordinator admin auditor]" to a committee member, whose role
	// does read a fund: their own).
	if r := e.do("GET", "/v1/funds/f1", e.tok["cm-other"], nil); !strings.Contains(string(r.Raw), "read by its committee") {
		t.Fatalf("committee of f2 reading f1: %d %s", r.Status, r.Raw)
	}
}

// TestAuthzRedeemForeignMember: a coordinator of the community where
// credits are redeemed cannot spend a visitor's credits; before the fix
// staff of either community counted, so a coordinator of B could redeem
// any member's credits anywhere into B.
func TestAuthzRedeemForeignMember(t *testing.T) {
	tb, coordA, coordB, li := twoCommunities(t)
	tb.fund("a", "li", "5.00")
	body := map[string]any{"member": "li", "community": "b", "hours": "2.00", "item": "理发一次"}
	runRefusals(t, tb.testServer, []authzCase{
		// li is outside b's scope: as unknown to its coordinator as a missing member.
		{"coordinator of b redeems li's credits", "POST", "/v1/redemptions", coordB, body, 404, "not_found", nil},
		{"coordinator of b books li's credits", "POST", "/v1/redemptions", coordB, map[string]any{"member": "li", "community": "b", "hours": "2.00", "item": "x", "book": true}, 404, "not_found", nil},
		{"coordinator of b on behalf of li", "POST", "/v1/redemptions", coordB, body, 404, "not_found", []string{HeaderOnBehalf, "li"}},
	})
	if got := tb.balance("li:HOUR"); got != "5.00" {
		t.Fatalf("li's balance %s, want 5.00", got)
	}
	// The member, and staff of the member's own community, still can; staff
	// always on the member's behalf, so the record names both (代办).
	tb.must(201, "POST", "/v1/redemptions", li, body)
	tb.must(201, "POST", "/v1/redemptions", coordA, body)
	var rec *audit.Record
	tb.store.View(t.Context(), func(r ledger.Reader) error {
		n, _ := r.Head()
		recs, _, err := tb.store.Audit().Records(n-1, 1)
		if err == nil && len(recs) == 1 {
			rec, err = audit.Decode(recs[0].Record)
		}
		return err
	})
	if rec == nil || rec.Action != "redemption.create" || rec.Actor != "wang" || rec.OnBehalf != "li" {
		t.Fatalf("a coordinator's redemption for li is recorded as %+v, want actor wang on behalf of li", rec)
	}
	if got := tb.balance("li:HOUR"); got != "1.00" {
		t.Fatalf("li's balance %s, want 1.00", got)
	}
}

// TestAuthzMutualCreditConfirmAcrossCommunities: under mutual credit the
// recipient pays; a coordinator of the service's community may not make a
// member of another community pay. Before the fix a coordinator and a
// volunteer of A could drain a member of B by logging a service "for"
// them and confirming it.
func TestAuthzMutualCreditConfirmAcrossCommunities(t *testing.T) {
	tb := newTBServer(t)
	tb.community("d", "", nil)
	tb.community("m", "d", map[string]any{"earning": "mutual_credit", "credit_limit": "3.00"})
	tb.community("b", "d", nil)
	coordM := tb.resident("wang", "m", nil, nil, "coordinator")
	vol := tb.resident("li", "m", nil, nil, "resident", "volunteer")
	victim := tb.resident("zhang", "b", nil, nil, "resident")
	tb.resident("zhao", "m", nil, nil, "resident")
	tb.fund("b", "zhang", "5.00")
	id := tb.service(vol, "li", "zhang", "m", "case_work", "2.00", time.Hour)
	runRefusals(t, tb.testServer, []authzCase{
		{"coordinator of m makes a member of b pay", "POST", "/v1/services/" + id + "/confirm", coordM, nil, 403, "forbidden", nil},
	})
	if got := tb.balance("zhang:HOUR"); got != "5.00" {
		t.Fatalf("victim's balance %s, want 5.00", got)
	}
	// The refusal says why: a coordinator here, but not over the payer.
	if r := tb.do("POST", "/v1/services/"+id+"/confirm", coordM, nil); !strings.Contains(r.Str("detail"), "outside your scope") {
		t.Fatalf("refusal detail %q does not name the payer's scope", r.Str("detail"))
	}
	// The coordinator may still reject it, and still confirms for a
	// recipient of their own community.
	tb.must(200, "POST", "/v1/services/"+id+"/reject", coordM, map[string]any{"reason": "对方不在本社区"})
	own := tb.service(vol, "li", "zhao", "m", "case_work", "1.00", 4*time.Hour)
	tb.must(200, "POST", "/v1/services/"+own+"/confirm", coordM, nil)
	// The recipient confirms their own service.
	id2 := tb.service(vol, "li", "zhang", "m", "case_work", "1.00", 8*time.Hour)
	tb.must(200, "POST", "/v1/services/"+id2+"/confirm", victim, nil)
}

// TestAuthzBackupGlobalAdminOnly: the backup holds the deployment's keys
// and every community; before the fix an admin scoped to one community
// could download it.
func TestAuthzBackupGlobalAdminOnly(t *testing.T) {
	ts := newTestServer(t)
	ts.community("c1", "", nil)
	scoped := ts.member("adm1", "c1", "admin")
	ts.api.cfg.Backup = func(_ context.Context, w io.Writer) error { _, err := io.WriteString(w, "backup"); return err }
	runRefusals(t, ts, []authzCase{
		{"scoped admin takes a backup", "GET", "/v1/admin/backup", scoped, nil, 403, "forbidden", nil},
		{"coordinator takes a backup", "GET", "/v1/admin/backup", ts.member("wang", "c1", "coordinator"), nil, 403, "forbidden", nil},
		{"scoped admin rotates the token key", "POST", "/v1/admin/keys/token/rotate", scoped, nil, 403, "forbidden", nil},
	})
	if r := ts.must(200, "GET", "/v1/admin/backup", ts.admin, nil); string(r.Raw) != "backup" {
		t.Fatalf("backup: %q", r.Raw)
	}
}

// TestAuthzScopes walks the routes with callers of the wrong role or
// scope; each must be refused, write nothing, and not reveal records the
// caller may not see (404) where the caller has no business with them.
func TestAuthzScopes(t *testing.T) {
	tb := newTBServer(t)
	tb.community("d", "", nil)
	tb.community("c1", "d", nil)
	tb.community("c2", "d", nil)
	coord1 := tb.resident("wang", "c1", nil, nil, "coordinator")
	coord2 := tb.resident("zhou", "c2", nil, nil, "coordinator")
	admin1 := tb.resident("adm1", "c1", nil, nil, "admin")
	aud1 := tb.resident("chen", "c1", nil, nil, "auditor")
	vol1 := tb.resident("li", "c1", nil, nil, "resident", "volunteer")
	res1 := tb.resident("zhang", "c1", nil, nil, "resident")
	vol2 := tb.resident("sun", "c2", nil, nil, "resident", "volunteer")
	res2 := tb.resident("qian", "c2", nil, nil, "resident")
	tb.resident("cm-he", "c1", nil, nil, "committee")
	tb.fund("c1", "zhang", "3.00")
	tb.fund("c2", "qian", "3.00")
	svc2 := tb.service(vol2, "sun", "qian", "c2", "elder_care", "1.00", time.Hour)
	svc1 := tb.service(vol1, "li", "zhang", "c1", "elder_care", "1.00", time.Hour)
	need2 := tb.must(201, "POST", "/v1/needs", coord2, map[string]any{"community": "c2", "requester": "qian", "category": "elder_care", "title": "买菜"}).Str("id")
	book2 := tb.must(201, "POST", "/v1/redemptions", coord2, map[string]any{"member": "qian", "community": "c2", "hours": "1.00", "item": "理发", "book": true}, HeaderOnBehalf, "qian").Str("id")
	tx2 := tb.must(201, "POST", "/v1/transfers", coord2, map[string]any{"postings": []any{
		map[string]any{"from": "c2:issuance", "to": "qian:HOUR", "amount": "1.00", "unit": "HOUR"}}}).Str("id")

	grant := func(c, m string) map[string]any {
		return map[string]any{"community": c, "member": m, "hours": "1.00", "reason": "帮扶"}
	}
	runRefusals(t, tb.testServer, []authzCase{
		// A resident acting on another member's records.
		{"resident reads another member", "GET", "/v1/members/li", res1, nil, 404, "not_found", nil},
		{"resident reads another's account", "GET", "/v1/accounts/li:HOUR", res1, nil, 404, "not_found", nil},
		{"resident reads another's history", "GET", "/v1/accounts/li:HOUR/entries", res1, nil, 404, "not_found", nil},
		{"resident reads a transaction not theirs", "GET", "/v1/transfers/" + tx2, res1, nil, 404, "not_found", nil},
		{"resident reads a service not theirs", "GET", "/v1/services/" + svc2, res1, nil, 404, "not_found", nil},
		{"resident gives another's credits", "POST", "/v1/gifts", res1, map[string]any{"from": "qian", "to": "c2:pool", "hours": "1.00"}, 403, "forbidden", nil},
		{"resident redeems another's credits", "POST", "/v1/redemptions", res1, map[string]any{"member": "qian", "community": "c2", "hours": "1.00", "item": "x"}, 403, "forbidden", nil},
		{"resident confirms a service not for them", "POST", "/v1/services/" + svc2 + "/confirm", res1, nil, 404, "not_found", nil},
		{"resident cancels another's booking", "POST", "/v1/redemptions/" + book2 + "/cancel", res1, nil, 404, "not_found", nil},
		{"resident completes a booking", "POST", "/v1/redemptions/" + book2 + "/complete", res1, nil, 403, "forbidden", nil}, // staff only, whatever the id,
		{"member completes their own booking", "POST", "/v1/redemptions/" + book2 + "/complete", res2, nil, 403, "forbidden", nil},
		{"resident reads another's redemption", "GET", "/v1/redemptions/" + book2, res1, nil, 404, "not_found", nil},
		{"resident posts a need for another", "POST", "/v1/needs", res1, map[string]any{"community": "c1", "requester": "li", "category": "elder_care", "title": "x"}, 403, "forbidden", nil},
		{"resident lists services", "GET", "/v1/services?community=c1", res1, nil, 403, "forbidden", nil},
		{"resident reads the report", "GET", "/v1/reports/services?community=c1", res1, nil, 403, "forbidden", nil},
		{"resident acts on behalf", "POST", "/v1/gifts", res1, map[string]any{"from": "li", "to": "c1:pool", "hours": "1.00"}, 403, "forbidden", []string{HeaderOnBehalf, "li"}},
		{"volunteer logs for another volunteer", "POST", "/v1/services", vol1, map[string]any{"volunteer": "sun", "recipient": "zhang", "community": "c2", "category": "x", "hours": "1.00", "occurred_at": tb.ago(time.Hour)}, 403, "forbidden", nil},
		// A coordinator of c1 acting in c2, also through sub-resource ids.
		{"coordinator reads a member elsewhere", "GET", "/v1/members/qian", coord1, nil, 404, "not_found", nil},
		{"coordinator reads an account elsewhere", "GET", "/v1/accounts/qian:HOUR", coord1, nil, 404, "not_found", nil},
		{"coordinator confirms a service elsewhere", "POST", "/v1/services/" + svc2 + "/confirm", coord1, nil, 404, "not_found", nil},
		{"coordinator rejects a service elsewhere", "POST", "/v1/services/" + svc2 + "/reject", coord1, nil, 404, "not_found", nil},
		{"coordinator reads a service elsewhere", "GET", "/v1/services/" + svc2, coord1, nil, 404, "not_found", nil},
		{"coordinator logs a service elsewhere", "POST", "/v1/services", coord1, map[string]any{"volunteer": "sun", "recipient": "qian", "community": "c2", "category": "x", "hours": "1.00", "occurred_at": tb.ago(2 * time.Hour)}, 403, "forbidden", nil},
		{"coordinator lists services elsewhere", "GET", "/v1/services?community=c2", coord1, nil, 403, "forbidden", nil},
		{"coordinator reads the district report", "GET", "/v1/reports/services?community=d", coord1, nil, 403, "forbidden", nil},
		{"coordinator reads signals elsewhere", "GET", "/v1/signals?community=c2", coord1, nil, 403, "forbidden", nil},
		{"coordinator reads settlement elsewhere", "GET", "/v1/settlements?community=c2", coord1, nil, 403, "forbidden", nil},
		{"coordinator reads a need elsewhere", "GET", "/v1/needs/" + need2, coord1, nil, 404, "not_found", nil},
		{"coordinator cancels a need elsewhere", "POST", "/v1/needs/" + need2 + "/cancel", coord1, nil, 404, "not_found", nil},
		{"coordinator assigns a need elsewhere", "POST", "/v1/needs/" + need2 + "/claim", coord1, map[string]any{"volunteer": "sun"}, 404, "not_found", nil},
		{"volunteer claims a need elsewhere", "POST", "/v1/needs/" + need2 + "/claim", vol1, nil, 404, "not_found", nil},
		{"coordinator lists needs elsewhere", "GET", "/v1/needs?community=c2", coord1, nil, 403, "forbidden", nil},
		{"coordinator lists offers elsewhere", "GET", "/v1/offers?community=c2", coord1, nil, 403, "forbidden", nil},
		{"coordinator completes a booking elsewhere", "POST", "/v1/redemptions/" + book2 + "/complete", coord1, nil, 404, "not_found", nil},
		{"coordinator cancels a booking elsewhere", "POST", "/v1/redemptions/" + book2 + "/cancel", coord1, nil, 404, "not_found", nil},
		{"coordinator grants from another pool", "POST", "/v1/grants", coord1, grant("c2", "qian"), 403, "forbidden", nil},
		{"coordinator grants to themself", "POST", "/v1/grants", coord1, grant("c1", "wang"), 403, "forbidden", nil},
		{"coordinator edits another catalogue", "PUT", "/v1/communities/c2/catalogue/rice", coord1, map[string]any{"name": "米", "hours": "1.00", "kind": "goods"}, 403, "forbidden", nil},
		{"coordinator transfers elsewhere", "POST", "/v1/transfers", coord1, map[string]any{"postings": []any{map[string]any{"from": "qian:HOUR", "to": "zhang:HOUR", "amount": "1.00", "unit": "HOUR"}}}, 404, "not_found", nil},
		{"coordinator reverses elsewhere", "POST", "/v1/transfers/" + tx2 + "/reverse", coord1, map[string]any{"reason": "x"}, 404, "not_found", nil},
		{"coordinator on behalf of a member elsewhere", "POST", "/v1/gifts", coord1, map[string]any{"from": "qian", "to": "c2:pool", "hours": "1.00"}, 404, "not_found", []string{HeaderOnBehalf, "qian"}},
		{"coordinator on behalf of the global admin", "GET", "/v1/members/admin", coord1, nil, 404, "not_found", []string{HeaderOnBehalf, "admin"}},
		{"coordinator on behalf of a scoped admin", "POST", "/v1/gifts", coord1, map[string]any{"from": "adm1", "to": "c1:pool", "hours": "1.00"}, 403, "forbidden", []string{HeaderOnBehalf, "adm1"}},
		{"coordinator on behalf of a committee member who is no resident", "GET", "/v1/accounts/cm-he:HOUR", coord1, nil, 403, "forbidden", []string{HeaderOnBehalf, "cm-he"}},
		{"coordinator registers a member elsewhere", "POST", "/v1/members", coord1, map[string]any{"id": "x1", "community": "c2", "display_name": "x", "roles": []string{"resident"}}, 403, "forbidden", nil},
		{"coordinator registers a coordinator", "POST", "/v1/members", coord1, map[string]any{"id": "x2", "community": "c1", "display_name": "x", "roles": []string{"coordinator"}}, 403, "forbidden", nil},
		// An unknown role is bad input from anyone (probe s25e: 403 from a coordinator).
		{"coordinator names an unknown role", "POST", "/v1/members", coord1, map[string]any{"id": "x2", "community": "c1", "display_name": "x", "roles": []string{"bogus"}}, 400, "invalid_request", nil},
		{"coordinator names a role in capitals", "POST", "/v1/members", coord1, map[string]any{"id": "x2", "community": "c1", "display_name": "x", "roles": []string{"RESIDENT"}}, 400, "invalid_request", nil},
		{"coordinator sets roles", "PUT", "/v1/members/zhang/roles", coord1, map[string]any{"roles": []string{"admin"}}, 403, "forbidden", nil},
		{"coordinator acting for a resident keeps no staff rights", "POST", "/v1/grants", coord1, grant("c1", "zhang"), 403, "forbidden", []string{HeaderOnBehalf, "zhang"}},
		// An auditor writes nothing.
		{"auditor transfers", "POST", "/v1/transfers", aud1, map[string]any{"postings": []any{map[string]any{"from": "c1:issuance", "to": "zhang:HOUR", "amount": "1.00", "unit": "HOUR"}}}, 403, "forbidden", nil},
		{"auditor registers a member", "POST", "/v1/members", aud1, map[string]any{"id": "x3", "community": "c1", "display_name": "x", "roles": []string{"resident"}}, 403, "forbidden", nil},
		{"auditor grants", "POST", "/v1/grants", aud1, grant("c1", "zhang"), 403, "forbidden", nil},
		{"auditor confirms a service", "POST", "/v1/services/" + svc1 + "/confirm", aud1, nil, 403, "forbidden", nil},
		{"auditor edits the catalogue", "PUT", "/v1/communities/c1/catalogue/rice", aud1, map[string]any{"name": "米", "hours": "1.00", "kind": "goods"}, 403, "forbidden", nil},
		{"auditor acts on behalf", "POST", "/v1/gifts", aud1, map[string]any{"from": "zhang", "to": "c1:pool", "hours": "1.00"}, 403, "forbidden", []string{HeaderOnBehalf, "zhang"}},
		{"auditor creates a community", "POST", "/v1/communities", aud1, map[string]any{"id": "c9", "name": "x", "parent": "c1"}, 403, "forbidden", nil},
		// An admin scoped to c1 acting outside c1.
		{"scoped admin creates a community elsewhere", "POST", "/v1/communities", admin1, map[string]any{"id": "c9", "name": "x", "parent": "c2"}, 403, "forbidden", nil},
		{"scoped admin creates a root community", "POST", "/v1/communities", admin1, map[string]any{"id": "c9", "name": "x"}, 403, "forbidden", nil},
		{"scoped admin sets a policy elsewhere", "PUT", "/v1/communities/c2/policy", admin1, map[string]any{"earning": "deposit"}, 403, "forbidden", nil},
		{"scoped admin sets the district policy", "PUT", "/v1/communities/d/policy", admin1, map[string]any{"earning": "deposit"}, 403, "forbidden", nil},
		{"scoped admin sets roles elsewhere", "PUT", "/v1/members/qian/roles", admin1, map[string]any{"roles": []string{"admin"}}, 404, "not_found", nil},
		{"scoped admin grants themself a role", "PUT", "/v1/members/adm1/roles", admin1, map[string]any{"roles": []string{"admin", "committee"}}, 403, "forbidden", nil},
		{"admin creates a fund with too large a committee", "POST", "/v1/funds", tb.admin, map[string]any{"id": "f8", "community": "c1", "name": "x", "committee": func() []string {
			ids := make([]string, 26)
			for i := range ids {
				ids[i] = fmt.Sprintf("m%d", i)
			}
			return ids
		}(), "quorum": 1}, 422, "limit_exceeded", nil},
		{"admin sets more roles than a member has", "PUT", "/v1/members/zhang/roles", tb.admin, map[string]any{"roles": []string{"resident", "volunteer", "resident", "volunteer", "resident", "volunteer", "resident", "volunteer", "resident"}}, 422, "limit_exceeded", nil},
		{"global admin grants themself an unknown role", "PUT", "/v1/members/admin/roles", tb.admin, map[string]any{"roles": []string{"admin", "wizard"}}, 400, "invalid_request", nil},
		{"global admin grants themself a role", "PUT", "/v1/members/admin/roles", tb.admin, map[string]any{"roles": []string{"admin", "auditor"}}, 403, "forbidden", nil},
		{"scoped admin sets the global admin's roles", "PUT", "/v1/members/admin/roles", admin1, map[string]any{"roles": []string{"resident"}}, 404, "not_found", nil},
		{"scoped admin erases elsewhere", "POST", "/v1/members/qian/erase", admin1, nil, 404, "not_found", nil},
		{"scoped admin registers elsewhere", "POST", "/v1/members", admin1, map[string]any{"id": "x4", "community": "c2", "display_name": "x", "roles": []string{"admin"}}, 403, "forbidden", nil},
		{"scoped admin creates a fund elsewhere", "POST", "/v1/funds", admin1, map[string]any{"id": "f9", "community": "c2", "name": "x", "committee": []string{"qian"}, "quorum": 1}, 403, "forbidden", nil},
		{"scoped admin credits themself", "POST", "/v1/transfers", admin1, map[string]any{"postings": []any{map[string]any{"from": "c1:issuance", "to": "adm1:HOUR", "amount": "1.00", "unit": "HOUR"}}}, 403, "forbidden", nil},
		{"scoped admin transfers elsewhere", "POST", "/v1/transfers", admin1, map[string]any{"postings": []any{map[string]any{"from": "c2:issuance", "to": "qian:HOUR", "amount": "1.00", "unit": "HOUR"}}}, 403, "forbidden", nil},
		{"scoped admin reads the district report", "GET", "/v1/reports/services?community=d", admin1, nil, 403, "forbidden", nil},
	})
}

// TestAuthzBadInputTimebank: hostile input on the time bank routes is a
// 4xx problem with a stable code and writes nothing.
func TestAuthzBadInputTimebank(t *testing.T) {
	tb := newTBServer(t)
	tb.community("c1", "", nil)
	coord := tb.resident("wang", "c1", nil, nil, "coordinator")
	vol := tb.resident("li", "c1", nil, nil, "resident", "volunteer")
	res := tb.resident("zhang", "c1", nil, nil, "resident")
	tb.fund("c1", "zhang", "3.00")
	svc := func(k, v string) map[string]any {
		b := map[string]any{"volunteer": "li", "recipient": "zhang", "community": "c1", "category": "elder_care",
			"hours": "1.00", "occurred_at": tb.ago(time.Hour)}
		b[k] = v
		return b
	}
	gift := func(h string) map[string]any { return map[string]any{"from": "zhang", "to": "c1:pool", "hours": h} }
	need := tb.must(201, "POST", "/v1/needs", res, map[string]any{"community": "c1", "category": "elder_care", "title": "买菜"}).Str("id")
	tb.must(200, "POST", "/v1/needs/"+need+"/claim", vol, nil)
	complete := func(h, at string) map[string]any { return map[string]any{"hours": h, "occurred_at": at} }
	runRefusals(t, tb.testServer, []authzCase{
		{"service: malformed json", "POST", "/v1/services", vol, `{"volunteer": "li",`, 400, "invalid_json", nil},
		{"service: empty body", "POST", "/v1/services", vol, ``, 400, "invalid_json", nil},
		{"service: unknown field", "POST", "/v1/services", vol, `{"volunteer":"li","credits":"99"}`, 400, "unknown_field", nil},
		{"service: oversize", "POST", "/v1/services", vol, `{"category":"` + strings.Repeat("x", MaxBodyBytes) + `"}`, 413, "body_too_large", nil},
		{"service: hours as number", "POST", "/v1/services", vol, `{"volunteer":"li","recipient":"zhang","community":"c1","category":"x","hours":1,"occurred_at":"2026-01-01T00:00:00Z"}`, 400, "invalid_json", nil},
		{"service: too many decimals", "POST", "/v1/services", vol, svc("hours", "1.001"), 400, "invalid_amount", nil},
		{"service: zero", "POST", "/v1/services", vol, svc("hours", "0"), 400, "invalid_amount", nil},
		{"service: negative", "POST", "/v1/services", vol, svc("hours", "-1.00"), 400, "invalid_amount", nil},
		{"service: exponent", "POST", "/v1/services", vol, svc("hours", "1e1"), 400, "invalid_amount", nil},
		{"service: huge", "POST", "/v1/services", vol, svc("hours", "999999999999999999999999"), 400, "invalid_amount", nil},
		{"service: over a day", "POST", "/v1/services", vol, svc("hours", "24.01"), 400, "invalid_amount", nil},
		{"service: bad time", "POST", "/v1/services", vol, svc("occurred_at", "yesterday"), 400, "invalid_request", nil},
		{"service: future time", "POST", "/v1/services", vol, svc("occurred_at", tb.ago(-time.Hour)), 422, "occurred_in_future", nil},
		{"service: ancient time", "POST", "/v1/services", vol, svc("occurred_at", "1970-01-01T00:00:00Z"), 400, "invalid_request", nil},
		{"service: bad volunteer id", "POST", "/v1/services", vol, svc("volunteer", "../li"), 400, "invalid_id", nil},
		{"service: bad community id", "POST", "/v1/services", vol, svc("community", "c1/../c2"), 400, "invalid_id", nil},
		{"service: bad category", "POST", "/v1/services", vol, svc("category", "a b"), 400, "invalid_id", nil},
		{"service: bad recipient kind", "POST", "/v1/services", vol, svc("recipient_kind", "everyone"), 400, "invalid_request", nil},
		{"service: not json", "POST", "/v1/services", vol, "x", 400, "invalid_json", nil},
		{"service: sent as text", "POST", "/v1/services", vol, "{}", 415, "unsupported_media_type", []string{"Content-Type", "text/plain"}},
		{"service: bad idempotency key", "POST", "/v1/services", vol, svc("hours", "1.00"), 400, "invalid_idempotency_key", []string{"Idempotency-Key", "bad key"}},
		{"confirm: unknown field", "POST", "/v1/services/nope/confirm", res, `{"reason":"x","hours":"9"}`, 400, "unknown_field", nil},
		{"confirm: unknown id", "POST", "/v1/services/nope/confirm", res, nil, 404, "not_found", nil},
		{"gift: too many decimals", "POST", "/v1/gifts", res, gift("0.001"), 400, "invalid_amount", nil},
		{"gift: zero", "POST", "/v1/gifts", res, gift("0.00"), 400, "invalid_amount", nil},
		{"gift: negative", "POST", "/v1/gifts", res, gift("-1"), 400, "invalid_amount", nil},
		{"gift: exponent", "POST", "/v1/gifts", res, gift("1E2"), 400, "invalid_amount", nil},
		{"gift: huge", "POST", "/v1/gifts", res, gift("92233720368547758.08"), 400, "invalid_amount", nil},
		{"gift: overdraft", "POST", "/v1/gifts", res, gift("3.01"), 422, "insufficient_funds", nil},
		{"gift: bad to", "POST", "/v1/gifts", res, map[string]any{"from": "zhang", "to": "../x", "hours": "1.00"}, 400, "invalid_id", nil},
		{"gift: unknown field", "POST", "/v1/gifts", res, `{"from":"zhang","to":"c1:pool","hours":"1.00","unit":"CNY"}`, 400, "unknown_field", nil},
		{"redeem: bad hours", "POST", "/v1/redemptions", res, map[string]any{"member": "zhang", "community": "c1", "hours": "1.005", "item": "x"}, 400, "invalid_amount", nil},
		{"redeem: negative quantity", "POST", "/v1/redemptions", res, map[string]any{"member": "zhang", "community": "c1", "hours": "1.00", "item": "x", "quantity": -1}, 400, "invalid_request", nil},
		{"redeem: huge quantity", "POST", "/v1/redemptions", res, map[string]any{"member": "zhang", "community": "c1", "hours": "1.00", "item": "x", "quantity": 1 << 40}, 400, "invalid_request", nil},
		{"redeem: quantity overflows int64", "POST", "/v1/redemptions", res, `{"member":"zhang","community":"c1","hours":"1.00","item":"x","quantity":99999999999999999999}`, 400, "invalid_json", nil},
		{"redeem: overdraft", "POST", "/v1/redemptions", res, map[string]any{"member": "zhang", "community": "c1", "hours": "3.01", "item": "x"}, 422, "insufficient_funds", nil},
		{"redeem: empty item", "POST", "/v1/redemptions", res, map[string]any{"member": "zhang", "community": "c1", "hours": "1.00", "item": ""}, 400, "invalid_request", nil},
		{"redeem: unknown community", "POST", "/v1/redemptions", res, map[string]any{"member": "zhang", "community": "nowhere", "hours": "1.00", "item": "x"}, 404, "not_found", nil},
		{"need: bad hours", "POST", "/v1/needs", res, map[string]any{"community": "c1", "category": "x", "title": "t", "hours": "-2"}, 400, "invalid_amount", nil},
		{"need: empty title", "POST", "/v1/needs", res, map[string]any{"community": "c1", "category": "x", "title": ""}, 400, "invalid_request", nil},
		{"need: complete with bad time", "POST", "/v1/needs/" + need + "/complete", vol, complete("1.00", "2026-02-30T00:00:00Z"), 400, "invalid_request", nil},
		{"need: complete in the future", "POST", "/v1/needs/" + need + "/complete", vol, complete("1.00", tb.ago(-24*time.Hour)), 422, "occurred_in_future", nil},
		{"need: complete with bad hours", "POST", "/v1/needs/" + need + "/complete", vol, complete("abc", tb.ago(time.Hour)), 400, "invalid_amount", nil},
		{"grant: bad hours", "POST", "/v1/grants", coord, map[string]any{"community": "c1", "member": "zhang", "hours": "1e3", "reason": "x"}, 400, "invalid_amount", nil},
		{"catalogue: bad price", "PUT", "/v1/communities/c1/catalogue/rice", coord, map[string]any{"name": "米", "hours": "0.001", "kind": "goods"}, 400, "invalid_amount", nil},
		{"catalogue: price too high", "PUT", "/v1/communities/c1/catalogue/rice", coord, map[string]any{"name": "米", "hours": "100000.01", "kind": "goods"}, 400, "invalid_amount", nil},
		{"catalogue: bad item id", "PUT", "/v1/communities/c1/catalogue/a%20b", coord, map[string]any{"name": "米", "hours": "1.00", "kind": "goods"}, 400, "invalid_id", nil},
		{"catalogue: unknown community", "PUT", "/v1/communities/nope/catalogue/rice", coord, map[string]any{"name": "米", "hours": "1.00", "kind": "goods"}, 404, "not_found", nil},
		{"list services: huge limit", "GET", "/v1/services?community=c1&limit=1000000", coord, nil, 400, "invalid_request", nil},
		{"list services: zero limit", "GET", "/v1/services?community=c1&limit=0", coord, nil, 400, "invalid_request", nil},
		{"list services: negative limit", "GET", "/v1/services?community=c1&limit=-1", coord, nil, 400, "invalid_request", nil},
		{"list services: bad order", "GET", "/v1/services?community=c1&order=sideways", coord, nil, 400, "invalid_request", nil},
		{"list services: bad cursor", "GET", "/v1/services?community=c1&after=zz", coord, nil, 400, "invalid_request", nil},
		{"list services: oversize cursor", "GET", "/v1/services?community=c1&after=" + strings.Repeat("9", 500), coord, nil, 400, "invalid_request", nil},
		{"list needs: no community", "GET", "/v1/needs", res, nil, 400, "invalid_request", nil},
		{"list needs: bad cursor", "GET", "/v1/needs?community=c1&after=abc", res, nil, 400, "invalid_request", nil},
		{"list offers: bad cursor", "GET", "/v1/offers?community=c1&after=99", res, nil, 400, "invalid_request", nil},
		{"catalogue: bad cursor", "GET", "/v1/communities/c1/catalogue?after=a%20b", res, nil, 400, "invalid_request", nil},
		{"report: bad date", "GET", "/v1/reports/services?community=c1&from=2026-13-01", coord, nil, 400, "invalid_request", nil},
		{"signals: bad date", "GET", "/v1/signals?community=c1&to=tomorrow", coord, nil, 400, "invalid_request", nil},
	})
}

// TestAuthzBadInputFunds: hostile input on the fund routes.
func TestAuthzBadInputFunds(t *testing.T) {
	e := newFundEnv(t, false)
	e.createFund()
	e.donate("100.00")
	id := e.propose("10.00")
	coord := e.tok["coord-wang"]
	don := func(a string) map[string]any { return map[string]any{"donor": "corp-x", "amount": a} }
	prop := func(k string, v any) map[string]any { b := e.proposalBody("1.00"); b[k] = v; return b }
	runRefusals(t, e.testServer, []authzCase{
		{"donation: malformed", "POST", "/v1/funds/f1/donations", coord, `{"donor":`, 400, "invalid_json", nil},
		{"donation: unknown field", "POST", "/v1/funds/f1/donations", coord, `{"donor":"x","amount":"1.00","receipt":"f1-000001"}`, 400, "unknown_field", nil},
		{"donation: amount as number", "POST", "/v1/funds/f1/donations", coord, `{"donor":"x","amount":1.00}`, 400, "invalid_json", nil},
		{"donation: too many decimals", "POST", "/v1/funds/f1/donations", coord, don("1.001"), 400, "invalid_amount", nil},
		{"donation: zero", "POST", "/v1/funds/f1/donations", coord, don("0.00"), 400, "invalid_amount", nil},
		{"donation: negative", "POST", "/v1/funds/f1/donations", coord, don("-5.00"), 400, "invalid_amount", nil},
		{"donation: exponent", "POST", "/v1/funds/f1/donations", coord, don("1e5"), 400, "invalid_amount", nil},
		{"donation: huge", "POST", "/v1/funds/f1/donations", coord, don("100000000000000000000.00"), 400, "invalid_amount", nil},
		{"donation: NaN", "POST", "/v1/funds/f1/donations", coord, don("NaN"), 400, "invalid_amount", nil},
		{"donation: empty", "POST", "/v1/funds/f1/donations", coord, don(""), 400, "invalid_amount", nil},
		{"donation: reserved project id", "POST", "/v1/funds/f1/donations", coord, map[string]any{"donor": "x", "amount": "1.00", "project": "Total"}, 400, "invalid_id", nil},
		{"donation: bad donor kind", "POST", "/v1/funds/f1/donations", coord, map[string]any{"donor": "x", "amount": "1.00", "donor_kind": "robot"}, 400, "invalid_request", nil},
		{"donation: oversize", "POST", "/v1/funds/f1/donations", coord, `{"donor":"` + strings.Repeat("x", MaxBodyBytes) + `"}`, 413, "body_too_large", nil},
		{"donation: unknown fund", "POST", "/v1/funds/nope/donations", coord, don("1.00"), 404, "not_found", nil},
		{"proposal: too many decimals", "POST", "/v1/funds/f1/proposals", coord, prop("amount", "1.001"), 400, "invalid_amount", nil},
		{"proposal: zero", "POST", "/v1/funds/f1/proposals", coord, prop("amount", "0"), 400, "invalid_amount", nil},
		{"proposal: negative", "POST", "/v1/funds/f1/proposals", coord, prop("amount", "-1.00"), 400, "invalid_amount", nil},
		{"proposal: exponent", "POST", "/v1/funds/f1/proposals", coord, prop("amount", "1e2"), 400, "invalid_amount", nil},
		{"proposal: more than the fund", "POST", "/v1/funds/f1/proposals", coord, prop("amount", "1000.00"), 422, "insufficient_funds", nil},
		{"proposal: bad deadline", "POST", "/v1/funds/f1/proposals", coord, prop("deadline", "next week"), 400, "invalid_request", nil},
		{"proposal: zero deadline", "POST", "/v1/funds/f1/proposals", coord, prop("deadline", "0s"), 400, "invalid_request", nil},
		{"proposal: blank purpose", "POST", "/v1/funds/f1/proposals", coord, prop("purpose", "  \t "), 400, "invalid_request", nil},
		{"proposal: zero-width purpose", "POST", "/v1/funds/f1/proposals", coord, prop("purpose", "\u200b"), 400, "invalid_request", nil},
		{"proposal: deadline at +24:00", "POST", "/v1/funds/f1/proposals", coord, prop("deadline", "2099-01-01T10:00:00+24:00"), 400, "invalid_request", nil},
		{"donation: blank donor", "POST", "/v1/funds/f1/donations", coord, map[string]any{"donor": "   ", "amount": "1.00"}, 400, "invalid_request", nil},
		{"donation: donor with a bidi override", "POST", "/v1/funds/f1/donations", coord, map[string]any{"donor": "acme\u202ecorp", "amount": "1.00"}, 400, "invalid_request", nil},
		{"proposal: negative deadline", "POST", "/v1/funds/f1/proposals", coord, prop("deadline", "-1h"), 400, "invalid_request", nil},
		{"proposal: overflowing deadline", "POST", "/v1/funds/f1/proposals", coord, prop("deadline", "213505d"), 400, "invalid_request", nil},
		{"proposal: negative objection window", "POST", "/v1/funds/f1/proposals", coord, prop("objection_window", "-1h"), 400, "invalid_request", nil},
		{"proposal: past deadline", "POST", "/v1/funds/f1/proposals", coord, prop("deadline", "2020-01-01T00:00:00Z"), 400, "invalid_request", nil},
		{"proposal: far deadline", "POST", "/v1/funds/f1/proposals", coord, prop("deadline", "3000-01-01T00:00:00Z"), 400, "invalid_request", nil},
		{"proposal: negative window", "POST", "/v1/funds/f1/proposals", coord, prop("objection_window", "-1h"), 400, "invalid_request", nil},
		{"proposal: huge window", "POST", "/v1/funds/f1/proposals", coord, prop("objection_window", "99999h"), 400, "invalid_request", nil},
		{"proposal: bad beneficiary", "POST", "/v1/funds/f1/proposals", coord, prop("beneficiary", "a/b"), 400, "invalid_id", nil},
		{"proposal: unknown project", "POST", "/v1/funds/f1/proposals", coord, prop("project", "nope"), 404, "not_found", nil},
		{"proposal: unknown field", "POST", "/v1/funds/f1/proposals", coord, `{"amount":"1.00","status":"paid"}`, 400, "unknown_field", nil},
		{"vote: bad decision", "POST", "/v1/proposals/" + id + "/votes", e.tok["cm-zhang"], map[string]any{"decision": "maybe"}, 400, "invalid_request", nil},
		{"vote: oversize reason", "POST", "/v1/proposals/" + id + "/votes", e.tok["cm-zhang"], map[string]any{"decision": "approve", "reason": strings.Repeat("理", 2000)}, 400, "invalid_request", nil},
		{"vote: unknown proposal", "POST", "/v1/proposals/nope/votes", e.tok["cm-zhang"], map[string]any{"decision": "approve"}, 404, "not_found", nil},
		{"objection: no reason", "POST", "/v1/proposals/" + id + "/objections", coord, map[string]any{}, 400, "invalid_request", nil},
		{"objection: not in a window", "POST", "/v1/proposals/" + id + "/objections", coord, map[string]any{"reason": "x"}, 409, "proposal_closed", nil},
		{"proposals: huge limit", "GET", "/v1/funds/f1/proposals?limit=99999999999999999999", coord, nil, 400, "invalid_request", nil},
		{"donations: bad cursor", "GET", "/v1/funds/f1/donations?after=zz", coord, nil, 400, "invalid_request", nil},
		{"report: bad from", "GET", "/v1/reports/funds/f1?from=March", coord, nil, 400, "invalid_request", nil},
		{"report: to before from", "GET", "/v1/reports/funds/f1?from=2026-03-02&to=2026-03-01", coord, nil, 400, "invalid_request", nil},
		{"public: zero limit", "GET", "/v1/public/funds?limit=0", "", nil, 400, "invalid_request", nil},
		{"public: bad cursor", "GET", "/v1/public/funds/f1/donations?after=zz", "", nil, 400, "invalid_request", nil},
		{"public: bad disbursement cursor", "GET", "/v1/public/funds/f1/disbursements?after=0000000000000000000x", "", nil, 400, "invalid_request", nil},
		{"public: bad fund cursor", "GET", "/v1/public/funds?after=a%2Fb", "", nil, 400, "invalid_request", nil},
		{"proposals: bad cursor", "GET", "/v1/funds/f1/proposals?after=-1", coord, nil, 400, "invalid_request", nil},
		{"public: bad receipt seq", "GET", "/v1/public/funds/f1/receipts/-1", "", nil, 400, "invalid_request", nil},
		{"public: undisclosed receipt", "GET", "/v1/public/funds/f1/receipts/0", "", nil, 404, "not_found", nil},
		{"public: unknown fund", "GET", "/v1/public/funds/nope", "", nil, 404, "not_found", nil},
	})
	// The cursors the lists hand out are still taken.
	e.donate("1.00")
	for _, path := range []string{"/v1/funds/f1/donations?limit=1", "/v1/public/funds/f1/donations?limit=1", "/v1/public/funds?limit=1"} {
		tok := coord
		if strings.HasPrefix(path, "/v1/public/") {
			tok = ""
		}
		first := e.must(200, "GET", path, tok, nil)
		if strings.HasSuffix(path, "funds?limit=1") {
			continue // one fund: no next page
		}
		next, _ := first.Body["next"].(string)
		if next == "" {
			t.Fatalf("%s: no cursor: %s", path, first.Raw)
		}
		e.must(200, "GET", path+"&after="+next, tok, nil)
	}
}

// TestServiceVisibleWhereItsMembersAre: a service in one community whose
// recipient is a member of another is seen by that member's coordinator,
// as the member's list of services shows it; a coordinator of neither
// community gets 404 for both.
func TestServiceVisibleWhereItsMembersAre(t *testing.T) {
	tb := newTBServer(t)
	tb.community("d", "", nil)
	tb.community("c1", "d", nil)
	tb.community("c2", "d", nil)
	tb.community("c3", "d", nil)
	vol := tb.resident("li", "c1", nil, nil, "resident", "volunteer")
	tb.resident("qian", "c2", nil, nil, "resident")
	coord2 := tb.resident("zhou", "c2", nil, nil, "coordinator")
	coord3 := tb.resident("wu", "c3", nil, nil, "coordinator")
	id := tb.service(vol, "li", "qian", "c1", "elder_care", "1.00", time.Hour)
	list := tb.must(200, "GET", "/v1/members/qian/services", coord2, nil)
	if !strings.Contains(string(list.Raw), `"id":"`+id+`"`) {
		t.Fatalf("the member's list: %s", list.Raw)
	}
	if r := tb.must(200, "GET", "/v1/services/"+id, coord2, nil); r.Str("id") != id {
		t.Fatalf("the service itself: %s", r.Raw)
	}
	tbProblem(t, tb.do("GET", "/v1/services/"+id, coord3, nil), 404, "not_found")
	tbProblem(t, tb.do("GET", "/v1/members/qian/services", coord3, nil), 404, "not_found")
}

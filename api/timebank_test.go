package api

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"tally/audit"
	"tally/ledger/timebank"
)

// TestServiceDeposit: a volunteer logs, the recipient confirms, the
// community's issuance pays with the category weight; confirming twice,
// confirming one's own service and confirming someone else's are refused.
func TestServiceDeposit(t *testing.T) {
	tb := newTBServer(t)
	tb.community("c1", "", map[string]any{"earning": "deposit", "weights": map[string]any{"elder_care": "1.50", "chat": "0.33"}})
	vol := tb.resident("li", "c1", nil, nil, "resident", "volunteer")
	elder := tb.resident("zhang", "c1", nil, nil, "resident")
	other := tb.resident("zhao", "c1", nil, nil, "resident")
	// 0.03 h at weight 0.33 earns nothing: refused when logged.
	size0 := tb.auditSize()
	tbProblem(t, tb.do("POST", "/v1/services", vol, map[string]any{"volunteer": "li", "recipient": "zhang", "community": "c1",
		"category": "chat", "hours": "0.03", "occurred_at": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)}), 400, "invalid_amount")
	// The services report's total row is no category (its CSV would
	// hold two rows named total), in a service, a need or a weight.
	for _, cat := range []string{"total", "TOTAL", "Total"} {
		tbProblem(t, tb.do("POST", "/v1/services", vol, map[string]any{"volunteer": "li", "recipient": "zhang", "community": "c1",
			"category": cat, "hours": "1.00", "occurred_at": time.Now().Add(-2 * time.Hour).UTC().Format(time.RFC3339)}), 400, "invalid_request")
	}
	tbProblem(t, tb.do("POST", "/v1/needs", elder, map[string]any{"requester": "zhang", "community": "c1",
		"category": "total", "title": "陪同就医"}), 400, "invalid_request")
	tbProblem(t, tb.do("PUT", "/v1/communities/c1/policy", tb.admin, map[string]any{"earning": "deposit",
		"weights": map[string]any{"total": "2.00"}}), 400, "invalid_request")
	if tb.auditSize() != size0 {
		t.Fatal("a refused write was recorded")
	}

	id := tb.service(vol, "li", "zhang", "c1", "elder_care", "2.00", time.Hour)
	tbProblem(t, tb.do("POST", "/v1/services/"+id+"/confirm", vol, nil), 403, "self_confirmation")
	// Someone neither served nor serving, nor staff: as unknown as a
	// missing record (GET answers the same).
	tbProblem(t, tb.do("POST", "/v1/services/"+id+"/confirm", other, nil), 404, "not_found")
	r := tb.must(200, "POST", "/v1/services/"+id+"/confirm", elder, map[string]any{"reason": "服务很好"})
	if r.Str("status") != "confirmed" || r.Str("transaction") == "" || r.Str("credits") != "3.00" || r.Str("reason") != "服务很好" {
		t.Fatalf("confirm: got %s", r.Raw)
	}
	if got := tb.balance("li:HOUR"); got != "3.00" {
		t.Fatalf("volunteer balance: got %s, want 3.00 (2 h × 1.50)", got)
	}
	if got := tb.balance("c1:issuance"); got != "-3.00" {
		t.Fatalf("issuance balance: got %s, want -3.00", got)
	}
	if rec := tb.lastRecord(); rec.Action != "service.confirm" || rec.Content["reason"] != "服务很好" || rec.Actor != "zhang" {
		t.Fatalf("audit: got %s by %s %v", rec.Action, rec.Actor, rec.Content)
	}
	size := tb.auditSize()
	tbProblem(t, tb.do("POST", "/v1/services/"+id+"/confirm", elder, nil), 409, "not_pending")
	if tb.auditSize() != size {
		t.Fatal("a refused confirmation wrote an audit record")
	}
	// A category spelled otherwise has the same weight (kept as sent).
	id = tb.service(vol, "li", "zhang", "c1", "CHAT", "1.00", 5*time.Hour)
	r = tb.must(200, "POST", "/v1/services/"+id+"/confirm", elder, nil)
	if r.Str("category") != "CHAT" || r.Str("credits") != "0.33" {
		t.Fatalf("a category in capitals: %s", r.Raw)
	}
	id = tb.service(vol, "li", "zhang", "c1", "Elder-Care", "1.00", 7*time.Hour)
	if r := tb.must(200, "POST", "/v1/services/"+id+"/confirm", elder, nil); r.Str("credits") != "1.50" {
		t.Fatalf("a category with '-': %s", r.Raw)
	}
	tbProblem(t, tb.do("PUT", "/v1/communities/c1/policy", tb.admin, map[string]any{"earning": "deposit",
		"weights": map[string]any{"chat": "0.33", "CHAT": "0.50"}}), 400, "invalid_request")
	tb.sumsToZero("c1", "li", "zhang", "zhao")
}

// TestServiceMutualCredit: the recipient pays, down to the credit limit
// and no further.
func TestServiceMutualCredit(t *testing.T) {
	tb := newTBServer(t)
	tb.community("m1", "", map[string]any{"earning": "mutual_credit", "credit_limit": "3.00"})
	vol := tb.resident("li", "m1", nil, nil, "resident", "volunteer")
	elder := tb.resident("zhang", "m1", nil, nil, "resident")
	id := tb.service(vol, "li", "zhang", "m1", "case_work", "2.00", 3*time.Hour)
	tb.must(200, "POST", "/v1/services/"+id+"/confirm", elder, nil)
	if li, zh := tb.balance("li:HOUR"), tb.balance("zhang:HOUR"); li != "2.00" || zh != "-2.00" {
		t.Fatalf("balances: li %s zhang %s, want 2.00 and -2.00", li, zh)
	}
	if got := tb.balance("m1:issuance"); got != "0.00" {
		t.Fatalf("issuance: got %s, want 0.00 under mutual credit", got)
	}
	id2 := tb.service(vol, "li", "zhang", "m1", "case_work", "1.50", time.Hour)
	tbProblem(t, tb.do("POST", "/v1/services/"+id2+"/confirm", elder, nil), 422, "insufficient_funds")
	r := tb.must(200, "GET", "/v1/services/"+id2, vol, nil)
	if r.Str("status") != "pending" {
		t.Fatalf("refused confirmation changed the record: %s", r.Raw)
	}
	tb.sumsToZero("m1", "li", "zhang")
}

// TestServiceRefusals: the daily limit, the future, serving oneself, a
// resident who is not a volunteer, bad amounts; overlaps are flagged and
// need a coordinator; a rejection frees the day.
func TestServiceRefusals(t *testing.T) {
	tb := newTBServer(t)
	tb.community("c1", "", nil)
	vol := tb.resident("li", "c1", nil, nil, "resident", "volunteer")
	elder := tb.resident("zhang", "c1", nil, nil, "resident")
	coord := tb.resident("wang", "c1", nil, nil, "coordinator")
	body := func(hours, at string) map[string]any {
		return map[string]any{"volunteer": "li", "recipient": "zhang", "community": "c1", "category": "elder_care", "hours": hours, "occurred_at": at}
	}
	ten := tb.clock().Add(-10 * 24 * time.Hour).In(timebank.DayZone)
	day := time.Date(ten.Year(), ten.Month(), ten.Day(), 0, 0, 0, 0, timebank.DayZone)
	at := func(h int) string { return day.Add(time.Duration(h) * time.Hour).Format(time.RFC3339) }
	first := tb.must(201, "POST", "/v1/services", vol, body("13.00", at(0))).Str("id")
	tbProblem(t, tb.do("POST", "/v1/services", vol, body("12.00", at(13))), 422, "daily_limit_exceeded")
	// A day also counts the time records reaching into it cover: a 24 h
	// record from 16:00 the day before covers 16 h of the next day, so a
	// second 24 h record that day would make 40 h in one day.
	night := day.Add(-48 * time.Hour)
	tb.must(201, "POST", "/v1/services", vol, body("24.00", night.Add(16*time.Hour).Format(time.RFC3339)))
	tbProblem(t, tb.do("POST", "/v1/services", vol, body("24.00", night.Add(24*time.Hour).Format(time.RFC3339))), 422, "daily_limit_exceeded")
	tb.must(201, "POST", "/v1/services", vol, body("8.00", night.Add(40*time.Hour).Format(time.RFC3339)))
	tbProblem(t, tb.do("POST", "/v1/services", vol, body("1.00", tb.clock().Add(time.Hour).Format(time.RFC3339))), 422, "occurred_in_future")
	// Begun an hour ago, eight hours long: it has not ended.
	tbProblem(t, tb.do("POST", "/v1/services", vol, body("8.00", tb.clock().Add(-time.Hour).Format(time.RFC3339))), 422, "occurred_in_future")
	self := body("1.00", at(20))
	self["recipient"] = "li"
	tbProblem(t, tb.do("POST", "/v1/services", vol, self), 422, "self_service")
	tbProblem(t, tb.do("POST", "/v1/services", elder, body("1.00", at(20))), 403, "forbidden")
	tbProblem(t, tb.do("POST", "/v1/services", vol, body("1.001", at(20))), 400, "invalid_amount")
	tbProblem(t, tb.do("POST", "/v1/services", vol, body("24.01", at(20))), 400, "invalid_amount")
	tbProblem(t, tb.do("POST", "/v1/services", vol, body("1e1", at(20))), 400, "invalid_amount")
	tbProblem(t, tb.do("POST", "/v1/services", vol, body("1.00", "yesterday")), 400, "invalid_request")
	extra := body("1.00", at(20))
	extra["credits"] = "99.00"
	tbProblem(t, tb.do("POST", "/v1/services", vol, extra), 400, "unknown_field")
	tbProblem(t, tb.do("POST", "/v1/services", vol, `{"volunteer":`), 400, "invalid_json")
	tbProblem(t, tb.do("POST", "/v1/services/svc-999/confirm", elder, nil), 404, "not_found")

	// An overlapping record is logged, flagged and listed, and only a
	// coordinator confirms it.
	r := tb.must(201, "POST", "/v1/services", vol, body("2.00", at(12)))
	over := r.Str("id")
	if ov, _ := r.Body["overlaps"].([]any); len(ov) != 1 || ov[0] != first || r.Body["flagged"] != true {
		t.Fatalf("overlaps: got %s, want [%s]", r.Raw, first)
	}
	tbProblem(t, tb.do("POST", "/v1/services/"+over+"/confirm", elder, nil), 422, "flagged_overlap")
	sig := tb.must(200, "GET", "/v1/signals?community=c1&from="+day.Format(time.DateOnly)+"&to="+day.Format(time.DateOnly), coord, nil)
	if ov, _ := sig.Body["overlaps"].([]any); len(ov) != 2 {
		t.Fatalf("signals overlaps: got %s, want both records of the pair", sig.Raw)
	}
	// The earlier record of the pair is flagged too: its recipient alone
	// cannot confirm it either.
	tbProblem(t, tb.do("POST", "/v1/services/"+first+"/confirm", elder, nil), 422, "flagged_overlap")
	tb.must(200, "POST", "/v1/services/"+over+"/confirm", coord, nil)

	// Rejecting the first record frees its hours for the day.
	rej := tb.must(200, "POST", "/v1/services/"+first+"/reject", elder, map[string]any{"reason": "时间不对"})
	if rej.Str("status") != "rejected" {
		t.Fatalf("reject: got %s", rej.Raw)
	}
	tb.must(201, "POST", "/v1/services", vol, body("12.00", at(16)))
	tbProblem(t, tb.do("POST", "/v1/services/"+first+"/reject", elder, nil), 409, "not_pending")
	// A record flagged only against records rejected since is the
	// recipient's to confirm again, and no longer a signal.
	a := tb.must(201, "POST", "/v1/services", vol, body("1.00", at(4))).Str("id")
	b := tb.must(201, "POST", "/v1/services", vol, body("1.00", at(4))).Str("id")
	tbProblem(t, tb.do("POST", "/v1/services/"+a+"/confirm", elder, nil), 422, "flagged_overlap")
	tb.must(200, "POST", "/v1/services/"+b+"/reject", elder, map[string]any{"reason": "duplicate entry"})
	tb.must(200, "POST", "/v1/services/"+a+"/confirm", elder, nil)
	sig = tb.must(200, "GET", "/v1/signals?community=c1&from="+day.Format(time.DateOnly)+"&to="+day.Format(time.DateOnly), coord, nil)
	if ov, _ := sig.Body["overlaps"].([]any); len(ov) != 0 {
		t.Fatalf("signals overlaps after the rejections: got %s, want none", sig.Raw)
	}
	// Each party finds the records that name them; nobody else does.
	mine := tb.must(200, "GET", "/v1/members/zhang/services?status=confirmed", elder, nil)
	if items, _ := mine.Body["items"].([]any); len(items) == 0 {
		t.Fatalf("the recipient's own confirmed records: %s", mine.Raw)
	}
	if r := tb.must(200, "GET", "/v1/members/li/services", vol, nil); len(r.Body["items"].([]any)) < 2 {
		t.Fatalf("the volunteer's own records: %s", r.Raw)
	}
	tb.must(200, "GET", "/v1/members/li/services", coord, nil)
	tbProblem(t, tb.do("GET", "/v1/members/li/services", elder, nil), 404, "not_found")
	// A posted credit: the recipient can no longer dispute it; staff
	// correct it with a reason, by a reversal that names the credit.
	tbProblem(t, tb.do("POST", "/v1/services/"+over+"/reject", elder, map[string]any{"reason": "不对"}), 409, "wrong_state")
	tbProblem(t, tb.do("POST", "/v1/services/"+over+"/reject", coord, nil), 400, "invalid_request")
	svc := tb.must(200, "GET", "/v1/services/"+over, coord, nil)
	before := tb.balance(svc.Str("volunteer") + ":HOUR")
	rev := tb.must(200, "POST", "/v1/services/"+over+"/reject", coord, map[string]any{"reason": "核实后只服务了一半"})
	if rev.Str("status") != "rejected" || rev.Str("credit") != "reversed" || rev.Str("reversal") == "" {
		t.Fatalf("staff reversal of a posted credit: %s", rev.Raw)
	}
	back := tb.must(200, "GET", "/v1/transfers/"+rev.Str("reversal"), coord, nil)
	if back.Str("reverses") != svc.Str("transaction") || back.Str("memo") != "service "+over+" reversed: 核实后只服务了一半" {
		t.Fatalf("the reversal names %q (%q), want %q and the reason: %s", back.Str("reverses"), back.Str("memo"), svc.Str("transaction"), back.Raw)
	}
	if after := tb.balance(svc.Str("volunteer") + ":HOUR"); after == before {
		t.Fatalf("volunteer balance %s unchanged by the reversal", after)
	}
	tbProblem(t, tb.do("POST", "/v1/services/"+over+"/reject", coord, map[string]any{"reason": "再来"}), 409, "not_pending")
}

// TestServiceCoordinatorAndGroup: a coordinator logs for a volunteer and
// for a group recipient, which only a coordinator confirms and the
// community's issuance pays; idempotent retries write once.
func TestServiceCoordinatorAndGroup(t *testing.T) {
	tb := newTBServer(t)
	tb.community("m1", "", map[string]any{"earning": "mutual_credit", "credit_limit": "5.00"})
	vol := tb.resident("li", "m1", nil, nil, "resident", "volunteer")
	coord := tb.resident("wang", "m1", nil, nil, "coordinator")
	b := map[string]any{"volunteer": "li", "recipient": "elders-choir", "recipient_kind": "group", "community": "m1",
		"category": "group_work", "hours": "1.50", "occurred_at": tb.ago(2 * time.Hour)}
	r1 := tb.must(201, "POST", "/v1/services", coord, b, "Idempotency-Key", "k1")
	size := tb.auditSize()
	r2 := tb.must(201, "POST", "/v1/services", coord, b, "Idempotency-Key", "k1")
	if r2.Header.Get("Idempotent-Replayed") != "true" || r2.Str("id") != r1.Str("id") || tb.auditSize() != size {
		t.Fatalf("replay: got %s", r2.Raw)
	}
	id := r1.Str("id")
	tbProblem(t, tb.do("POST", "/v1/services/"+id+"/confirm", vol, nil), 403, "self_confirmation")
	tb.must(200, "POST", "/v1/services/"+id+"/confirm", coord, nil)
	if got := tb.balance("m1:issuance"); got != "-1.50" {
		t.Fatalf("issuance pays for a group: got %s", got)
	}
	l := tb.must(200, "GET", "/v1/services?community=m1&status=confirmed", coord, nil)
	if items, _ := l.Body["items"].([]any); len(items) != 1 {
		t.Fatalf("list: got %s", l.Raw)
	}
	tbProblem(t, tb.do("GET", "/v1/services?community=m1", vol, nil), 403, "forbidden")
}

// TestStorageCapOverflow: credits above max_balance go to the pool in the
// same transaction.
func TestStorageCapOverflow(t *testing.T) {
	tb := newTBServer(t)
	tb.community("c1", "", map[string]any{"max_balance": "2.00"})
	vol := tb.resident("li", "c1", nil, nil, "resident", "volunteer")
	elder := tb.resident("zhang", "c1", nil, nil, "resident")
	id := tb.service(vol, "li", "zhang", "c1", "elder_care", "3.00", time.Hour)
	r := tb.must(200, "POST", "/v1/services/"+id+"/confirm", elder, nil)
	if li, pool := tb.balance("li:HOUR"), tb.balance("c1:pool"); li != "2.00" || pool != "1.00" || r.Str("overflow") != "1.00" || r.Str("credits") != "3.00" {
		t.Fatalf("overflow: li %s pool %s, answer %s; want 2.00 and 1.00, overflow 1.00 in the answer", li, pool, r.Raw)
	}
	if g := tb.must(200, "GET", "/v1/services/"+id, elder, nil); g.Str("overflow") != "1.00" {
		t.Fatalf("the record read back: %s, want overflow 1.00 as the confirmation answered", g.Raw)
	}
	tx := tb.must(200, "GET", "/v1/transfers/"+r.Str("transaction"), tb.admin, nil)
	if ps, _ := tx.Body["postings"].([]any); len(ps) != 2 {
		t.Fatalf("one transaction of two postings: got %s", tx.Raw)
	}
	// Frozen at the cap, li earns nothing, though all of it would go to
	// the pool and no posting would touch li's account.
	tb.must(200, "POST", "/v1/accounts/li:HOUR/status", tb.admin, map[string]any{"status": "frozen"})
	id = tb.service(vol, "li", "zhang", "c1", "elder_care", "0.50", 5*time.Hour)
	size := tb.auditSize()
	tbProblem(t, tb.do("POST", "/v1/services/"+id+"/confirm", elder, nil), 422, "account_frozen")
	if tb.auditSize() != size {
		t.Fatal("a refused confirmation wrote a record")
	}
	tb.sumsToZero("c1", "li", "zhang")
}

// TestStorageCapFollowsPolicy: a cap raised or lowered by the community's
// policy applies to members registered before the change, in the time
// bank's overflow and in the ledger's guard alike, and the chain replays it.
func TestStorageCapFollowsPolicy(t *testing.T) {
	tb := newTBServer(t)
	tb.community("c1", "", map[string]any{"earning": "deposit", "max_balance": "2.00"})
	vol := tb.resident("li", "c1", nil, nil, "resident", "volunteer")
	elder := tb.resident("zhang", "c1", nil, nil, "resident")
	id := tb.service(vol, "li", "zhang", "c1", "elder_care", "2.00", time.Hour)
	tb.must(200, "POST", "/v1/services/"+id+"/confirm", elder, nil)
	tb.must(200, "PUT", "/v1/communities/c1/policy", tb.admin, map[string]any{"earning": "deposit", "max_balance": "3.00"})
	// The account shows the cap it now has, before any transaction.
	if a := tb.must(200, "GET", "/v1/accounts/li:HOUR", vol, nil); a.Str("max_balance") != "3.00" {
		t.Fatalf("the account after the raise: %s", a.Raw)
	}
	id = tb.service(vol, "li", "zhang", "c1", "elder_care", "0.50", 5*time.Hour)
	if r := tb.must(200, "POST", "/v1/services/"+id+"/confirm", elder, nil); r.Str("overflow") != "" && r.Str("overflow") != "0.00" {
		t.Fatalf("a raised cap: overflow %s", r.Raw)
	}
	if li := tb.balance("li:HOUR"); li != "2.50" {
		t.Fatalf("a raised cap: li %s, want 2.50", li)
	}
	// The ledger's own guard follows too: 0.50 more fits, 0.51 does not.
	tbProblem(t, tb.do("POST", "/v1/transfers", tb.admin, map[string]any{"postings": []any{map[string]any{"from": "c1:issuance", "to": "li:HOUR", "amount": "0.51", "unit": "HOUR"}}}), 422, "max_balance_exceeded")
	tb.must(201, "POST", "/v1/transfers", tb.admin, map[string]any{"postings": []any{map[string]any{"from": "c1:issuance", "to": "li:HOUR", "amount": "0.50", "unit": "HOUR"}}})
	// Lowered below li's balance: li keeps it, and earns nothing more.
	tb.must(200, "PUT", "/v1/communities/c1/policy", tb.admin, map[string]any{"earning": "deposit", "max_balance": "1.00"})
	id = tb.service(vol, "li", "zhang", "c1", "elder_care", "1.00", 9*time.Hour)
	if r := tb.must(200, "POST", "/v1/services/"+id+"/confirm", elder, nil); r.Str("overflow") != "1.00" {
		t.Fatalf("a lowered cap: %s", r.Raw)
	}
	if li, pool := tb.balance("li:HOUR"), tb.balance("c1:pool"); li != "3.00" || pool != "1.00" {
		t.Fatalf("a lowered cap: li %s pool %s, want 3.00 and 1.00", li, pool)
	}
	tb.sumsToZero("c1", "li", "zhang")
	if rep, err := tb.store.Audit().Verify(t.Context(), audit.VerifyOptions{}); err != nil {
		t.Fatalf("verify: %v (%+v)", err, rep)
	}
}

// TestSettlementDelayDispute: a credit held in its window is voided by a
// dispute and the timer then does nothing.
func TestSettlementDelayDispute(t *testing.T) {
	tb := newTBServer(t)
	tb.community("c1", "", map[string]any{"settlement_delay": "2d"})
	vol := tb.resident("li", "c1", nil, nil, "resident", "volunteer")
	elder := tb.resident("zhang", "c1", nil, nil, "resident")
	id := tb.service(vol, "li", "zhang", "c1", "elder_care", "3.00", time.Hour)
	r := tb.must(200, "POST", "/v1/services/"+id+"/confirm", elder, map[string]any{"reason": "已确认"})
	if r.Str("credit") != "held" || r.Str("settles_at") == "" {
		t.Fatalf("held credit: got %s", r.Raw)
	}
	acct := tb.must(200, "GET", "/v1/accounts/li:HOUR", vol, nil)
	if acct.Str("balance") != "0.00" || acct.Str("pending_in") != "3.00" {
		t.Fatalf("held: got %s", acct.Raw)
	}
	tbProblem(t, tb.do("POST", "/v1/services/"+id+"/reject", vol, nil), 409, "not_pending") // a volunteer does not dispute their own held credit
	d := tb.must(200, "POST", "/v1/services/"+id+"/reject", elder, map[string]any{"reason": "没有来"})
	if d.Str("status") != "rejected" || d.Str("credit") != "voided" || d.Str("reason") != "没有来" ||
		d.Str("confirmed_by") != "zhang" || d.Str("confirm_reason") != "已确认" {
		t.Fatalf("dispute: got %s", d.Raw)
	}
	if rec := tb.lastRecord(); rec.Action != "service.reject" || rec.Content["disputed"] != true {
		t.Fatalf("audit: got %s %v", rec.Action, rec.Content)
	}
	size := tb.auditSize()
	tb.advance(72 * time.Hour)
	acct = tb.must(200, "GET", "/v1/accounts/li:HOUR", vol, nil)
	if acct.Str("balance") != "0.00" || acct.Str("pending_in") != "0.00" || tb.auditSize() != size {
		t.Fatalf("after the window: got %s, %d records (want %d)", acct.Raw, tb.auditSize(), size)
	}
}

// TestSettlementDelaySettles: with no dispute the timer posts the credit
// when the delay ends, and not before.
func TestSettlementDelaySettles(t *testing.T) {
	tb := newTBServer(t)
	tb.community("c1", "", map[string]any{"settlement_delay": "48h", "max_balance": "2.00"})
	vol := tb.resident("li", "c1", nil, nil, "resident", "volunteer")
	elder := tb.resident("zhang", "c1", nil, nil, "resident")
	id := tb.service(vol, "li", "zhang", "c1", "elder_care", "3.00", time.Hour)
	tb.must(200, "POST", "/v1/services/"+id+"/confirm", elder, nil)
	tb.advance(47 * time.Hour)
	if got := tb.balance("li:HOUR"); got != "0.00" {
		t.Fatalf("before the delay: got %s", got)
	}
	tb.advance(2 * time.Hour)
	if li, pool := tb.balance("li:HOUR"), tb.balance("c1:pool"); li != "2.00" || pool != "1.00" {
		t.Fatalf("settled: li %s pool %s, want 2.00 and 1.00", li, pool)
	}
	r := tb.must(200, "GET", "/v1/services/"+id, vol, nil)
	if r.Str("credit") != "posted" || r.Str("settlement") == "" {
		t.Fatalf("settled record: got %s", r.Raw)
	}
	if rec := tb.lastRecord(); rec.Action != "service.settle" || rec.Actor != "system" {
		t.Fatalf("audit: got %s by %s", rec.Action, rec.Actor)
	}
	tbProblem(t, tb.do("POST", "/v1/services/"+id+"/reject", elder, nil), 409, "wrong_state")
	tb.sumsToZero("c1", "li", "zhang")
}

// TestHeldCreditOfAnErasedMemberIsVoided: a volunteer erased (or, under
// mutual credit, a paying recipient) while their credit is held in the
// settlement window is not credited (nor put in debt) by the timer: the
// hold is voided, and the chain verifies.
func TestHeldCreditOfAnErasedMemberIsVoided(t *testing.T) {
	tb := newTBServer(t)
	tb.community("c1", "", map[string]any{"settlement_delay": "48h", "max_balance": "2.00"})
	tb.community("m1", "", map[string]any{"earning": "mutual_credit", "credit_limit": "5.00", "settlement_delay": "48h"})
	vol := tb.resident("li", "c1", nil, nil, "resident", "volunteer")
	elder := tb.resident("zhang", "c1", nil, nil, "resident")
	mvol := tb.resident("sun", "m1", nil, nil, "resident", "volunteer")
	payer := tb.resident("zhou", "m1", nil, nil, "resident")
	id := tb.service(vol, "li", "zhang", "c1", "elder_care", "2.00", 5*time.Hour)
	tb.must(200, "POST", "/v1/services/"+id+"/confirm", elder, nil)
	// li is at the cap with what is held: this one goes all to the pool.
	full := tb.service(vol, "li", "zhang", "c1", "elder_care", "1.00", time.Hour)
	if r := tb.must(200, "POST", "/v1/services/"+full+"/confirm", elder, nil); r.Str("overflow") != "1.00" {
		t.Fatalf("a credit all over the cap: %s", r.Raw)
	}
	mid := tb.service(mvol, "sun", "zhou", "m1", "elder_care", "1.00", time.Hour)
	tb.must(200, "POST", "/v1/services/"+mid+"/confirm", payer, nil)
	tb.must(200, "POST", "/v1/members/li/erase", tb.admin, nil)
	tb.must(200, "POST", "/v1/members/zhou/erase", tb.admin, nil)
	tb.advance(49 * time.Hour)
	if r := tb.must(200, "GET", "/v1/services/"+full, tb.admin, nil); r.Str("credit") != "voided" {
		t.Fatalf("the erased volunteer's credit that all went to the pool: %s", r.Raw)
	}
	if p := tb.balance("c1:pool"); p != "0.00" {
		t.Fatalf("pool after the erased volunteer's credits were voided: %s", p)
	}
	for svc, acct := range map[string]string{id: "li:HOUR", mid: "zhou:HOUR"} {
		if r := tb.must(200, "GET", "/v1/services/"+svc, tb.admin, nil); r.Str("credit") != "voided" || r.Str("settlement") == "" {
			t.Fatalf("the held credit of an erased member after the window: %s", r.Raw)
		}
		if a := tb.must(200, "GET", "/v1/accounts/"+acct, tb.admin, nil); a.Str("balance") != "0.00" || a.Str("pending_in") != "0.00" || a.Str("pending_out") != "0.00" {
			t.Fatalf("%s after the window: %s", acct, a.Raw)
		}
	}
	if rec := tb.lastRecord(); rec.Action != "service.settle" || rec.Content["erased"] == nil {
		t.Fatalf("audit: %s %v", rec.Action, rec.Content)
	}
	if rep, err := tb.store.Audit().Verify(t.Context(), audit.VerifyOptions{}); err != nil {
		t.Fatalf("verify: %v (%+v)", err, rep)
	}
	tb.sumsToZero("c1", "li", "zhang")
}

// TestDisputeWindowClosesOnTime: once settles_at has passed, the
// recipient's dispute is refused whether or not the settlement timer has
// run yet (it was accepted until the timer's next tick); staff may still
// correct the credit.
func TestDisputeWindowClosesOnTime(t *testing.T) {
	tb := newTBServer(t)
	tb.community("c1", "", map[string]any{"settlement_delay": "48h"})
	coord := tb.resident("wang", "c1", nil, nil, "coordinator")
	vol := tb.resident("li", "c1", nil, nil, "resident", "volunteer")
	elder := tb.resident("zhang", "c1", nil, nil, "resident")
	id := tb.service(vol, "li", "zhang", "c1", "elder_care", "3.00", time.Hour)
	tb.must(200, "POST", "/v1/services/"+id+"/confirm", elder, nil)
	tb.pass(48*time.Hour + time.Second)
	size := tb.auditSize()
	tbProblem(t, tb.do("POST", "/v1/services/"+id+"/reject", elder, map[string]any{"reason": "太晚了"}), 409, "wrong_state")
	if tb.auditSize() != size || tb.must(200, "GET", "/v1/accounts/li:HOUR", vol, nil).Str("pending_in") != "3.00" {
		t.Fatal("a refused late dispute changed something")
	}
	// Staff before the timer's tick: settled, then reversed — the record
	// of a second later, not a dispute (it voided the hold before).
	r := tb.must(200, "POST", "/v1/services/"+id+"/reject", coord, map[string]any{"reason": "核实未服务"})
	if r.Str("status") != "rejected" || r.Str("credit") != "reversed" || r.Str("settlement") == "" || r.Str("reversal") == "" {
		t.Fatalf("staff correction: %s", r.Raw)
	}
	if rec := tb.lastRecord(); rec.Content["disputed"] == true {
		t.Fatalf("recorded as a dispute: %v", rec.Content)
	}
	if a := tb.must(200, "GET", "/v1/accounts/li:HOUR", vol, nil); a.Str("balance") != "0.00" || a.Str("pending_in") != "0.00" {
		t.Fatalf("li after the correction: %s", a.Raw)
	}
	tb.sumsToZero("c1", "wang", "li", "zhang")
}

// TestServiceRecipientFromAnotherDistrict: a member of an unrelated
// district cannot be a service's recipient (their confirmation would pay
// the volunteer from this community's issuance with nobody here
// involved); they answer as an unknown member does. A member of another
// community of the same district can.
func TestServiceRecipientFromAnotherDistrict(t *testing.T) {
	tb := newTBServer(t)
	tb.community("d", "", nil)
	tb.community("a", "d", nil)
	tb.community("b", "d", nil)
	tb.community("far", "", nil)
	vol := tb.resident("li", "a", nil, nil, "resident", "volunteer")
	tb.resident("near", "b", nil, nil, "resident")
	tb.resident("stranger", "far", nil, nil, "resident")
	body := func(recipient string) map[string]any {
		return map[string]any{"volunteer": "li", "recipient": recipient, "community": "a", "category": "elder_care",
			"hours": "8.00", "occurred_at": tb.ago(9 * time.Hour)}
	}
	unknown := tb.do("POST", "/v1/services", vol, body("nobody-here"))
	far := tb.do("POST", "/v1/services", vol, body("stranger"))
	admin := tb.do("POST", "/v1/services", vol, body("admin"))
	for _, r := range []response{unknown, far, admin} {
		if r.Status != 404 || r.Code() != "not_found" {
			t.Fatalf("recipient outside the district: %d %s, want 404 not_found", r.Status, r.Raw)
		}
	}
	if far.Str("detail") != strings.Replace(unknown.Str("detail"), "nobody-here", "stranger", 1) {
		t.Fatalf("an unrelated district's member answers %q, an unknown one %q", far.Str("detail"), unknown.Str("detail"))
	}
	tb.must(201, "POST", "/v1/services", vol, body("near"))
}

// TestNeedsOffersClaim: a resident posts a need, a volunteer claims and
// completes it, which logs the service record the resident confirms.
func TestNeedsOffersClaim(t *testing.T) {
	tb := newTBServer(t)
	tb.community("c1", "", nil)
	vol := tb.resident("li", "c1", nil, nil, "resident", "volunteer")
	vol2 := tb.resident("sun", "c1", nil, nil, "resident", "volunteer")
	elder := tb.resident("zhang", "c1", nil, nil, "resident", "volunteer")
	n := tb.must(201, "POST", "/v1/needs", elder, map[string]any{"community": "c1", "category": "elder_care", "title": "陪同就医", "hours": "2.00"})
	id := n.Str("id")
	if n.Str("requester") != "zhang" || n.Str("title") != "陪同就医" || n.Str("status") != "open" {
		t.Fatalf("need: got %s", n.Raw)
	}
	tbProblem(t, tb.do("POST", "/v1/needs/"+id+"/claim", elder, nil), 422, "self_service")
	tbProblem(t, tb.do("POST", "/v1/needs/"+id+"/complete", vol, map[string]any{"hours": "2.00", "occurred_at": tb.ago(time.Hour)}), 409, "wrong_state")
	tb.must(200, "POST", "/v1/needs/"+id+"/claim", vol, nil)
	tbProblem(t, tb.do("POST", "/v1/needs/"+id+"/claim", vol2, nil), 409, "wrong_state")
	tbProblem(t, tb.do("POST", "/v1/needs/"+id+"/complete", vol2, map[string]any{"hours": "2.00", "occurred_at": tb.ago(time.Hour)}), 403, "forbidden")
	// The service that met the need happened after it was posted.
	tbProblem(t, tb.do("POST", "/v1/needs/"+id+"/complete", vol, map[string]any{"hours": "2.00", "occurred_at": tb.ago(time.Hour)}), 400, "invalid_request")
	tb.advance(3 * time.Hour)
	done := tb.must(201, "POST", "/v1/needs/"+id+"/complete", vol, map[string]any{"hours": "2.00", "occurred_at": tb.ago(2 * time.Hour)})
	svc, _ := done.Body["service"].(map[string]any)
	sid, _ := svc["id"].(string)
	if need, _ := done.Body["need"].(map[string]any); need["status"] != "completed" || svc["need"] != id || svc["recipient"] != "zhang" {
		t.Fatalf("complete: got %s", done.Raw)
	}
	tb.must(200, "POST", "/v1/services/"+sid+"/confirm", elder, nil)
	if got := tb.balance("li:HOUR"); got != "2.00" {
		t.Fatalf("volunteer: got %s", got)
	}
	l := tb.must(200, "GET", "/v1/needs?community=c1&status=completed", vol2, nil)
	if items, _ := l.Body["items"].([]any); len(items) != 1 || items[0].(map[string]any)["title"] != "陪同就医" {
		t.Fatalf("needs list: got %s", l.Raw)
	}
	// The requester cancels a need, with a reason or with none.
	n2 := tb.must(201, "POST", "/v1/needs", elder, map[string]any{"community": "c1", "category": "elder_care", "title": "买菜", "hours": "1.00"}).Str("id")
	if c := tb.must(200, "POST", "/v1/needs/"+n2+"/cancel", elder, map[string]any{"reason": "已由家人代办"}); c.Str("status") != "cancelled" {
		t.Fatalf("cancel: got %s", c.Raw)
	}
	n3 := tb.must(201, "POST", "/v1/needs", elder, map[string]any{"community": "c1", "category": "elder_care", "title": "理发", "hours": "1.00"}).Str("id")
	tb.must(200, "POST", "/v1/needs/"+n3+"/cancel", elder, nil)
	tbProblem(t, tb.do("POST", "/v1/needs/"+n3+"/cancel", elder, nil), 409, "wrong_state")
	// A claim can be given back, or handed on by a coordinator; a need
	// whose service record is rejected is claimed again, not completed.
	coord := tb.resident("wang", "c1", nil, nil, "coordinator")
	n4 := tb.must(201, "POST", "/v1/needs", elder, map[string]any{"community": "c1", "category": "repair", "title": "修水管", "hours": "1.00"}).Str("id")
	tb.must(200, "POST", "/v1/needs/"+n4+"/claim", vol, nil)
	tbProblem(t, tb.do("POST", "/v1/needs/"+n4+"/release", vol2, nil), 403, "forbidden")
	if r := tb.must(200, "POST", "/v1/needs/"+n4+"/release", vol, map[string]any{"reason": "临时有事"}); r.Str("status") != "open" || r.Body["volunteer"] != nil {
		t.Fatalf("release: got %s", r.Raw)
	}
	tbProblem(t, tb.do("POST", "/v1/needs/"+n4+"/release", vol, nil), 409, "wrong_state")
	tb.must(200, "POST", "/v1/needs/"+n4+"/claim", vol2, nil)
	tbProblem(t, tb.do("POST", "/v1/needs/"+n4+"/claim", vol, nil), 409, "wrong_state")
	if r := tb.must(200, "POST", "/v1/needs/"+n4+"/claim", coord, map[string]any{"volunteer": "li"}); r.Str("volunteer") != "li" || r.Str("status") != "claimed" {
		t.Fatalf("reassign: got %s", r.Raw)
	}
	// A volunteer outside the coordinator's scope answers as an unknown one.
	tb.community("c9", "", nil)
	tb.resident("far", "c9", nil, nil, "resident", "volunteer")
	unknown := tb.do("POST", "/v1/needs/"+n4+"/claim", coord, map[string]any{"volunteer": "nobody-here"})
	far := tb.do("POST", "/v1/needs/"+n4+"/claim", coord, map[string]any{"volunteer": "far"})
	tbProblem(t, unknown, 404, "not_found")
	tbProblem(t, far, 404, "not_found")
	if far.Str("detail") != strings.Replace(unknown.Str("detail"), "nobody-here", "far", 1) {
		t.Fatalf("an out-of-scope volunteer answers %q, an unknown one %q", far.Str("detail"), unknown.Str("detail"))
	}
	tb.advance(6 * time.Hour)
	at := tb.ago(5 * time.Hour) // after n4 was posted
	sid4 := tb.must(201, "POST", "/v1/needs/"+n4+"/complete", vol, map[string]any{"hours": "1.00", "occurred_at": at}).Body["service"].(map[string]any)["id"].(string)
	tb.must(200, "POST", "/v1/services/"+sid4+"/reject", elder, map[string]any{"reason": "没有来"})
	if r := tb.must(200, "GET", "/v1/needs/"+n4, elder, nil); r.Str("status") != "claimed" || r.Str("volunteer") != "li" || r.Body["service"] != nil {
		t.Fatalf("need after its service was rejected: got %s", r.Raw)
	}
	tbProblem(t, tb.do("POST", "/v1/needs/"+n4+"/release", elder, nil), 403, "forbidden")
	tb.must(201, "POST", "/v1/needs/"+n4+"/complete", vol, map[string]any{"hours": "1.00", "occurred_at": at})

	o := tb.must(201, "POST", "/v1/offers", vol2, map[string]any{"community": "c1", "category": "repair", "title": "修理家电"})
	if o.Str("volunteer") != "sun" || o.Str("title") != "修理家电" {
		t.Fatalf("offer: got %s", o.Raw)
	}
	if l := tb.must(200, "GET", "/v1/offers?community=c1", elder, nil); !strings.Contains(string(l.Raw), "修理家电") {
		t.Fatalf("offers list: got %s", l.Raw)
	}
	tbProblem(t, tb.do("POST", "/v1/offers", elder, map[string]any{"community": "c1", "volunteer": "sun", "category": "repair", "title": "x"}), 403, "forbidden")
}

// TestOfferWithdrawnAndErasureClosesListings: a volunteer (or staff)
// withdraws an offer; erasing a member cancels the needs they posted that
// were still open or claimed, gives the needs they claimed back to the
// open list, and withdraws their offers — in the erasure's record.
func TestOfferWithdrawnAndErasureClosesListings(t *testing.T) {
	tb := newTBServer(t)
	tb.community("c1", "", nil)
	coord := tb.resident("wang", "c1", nil, nil, "coordinator")
	elder := tb.resident("zhang", "c1", nil, nil, "resident")
	other := tb.resident("zhao", "c1", nil, nil, "resident")
	vol := tb.resident("li", "c1", nil, nil, "resident", "volunteer")
	vol2 := tb.resident("sun", "c1", nil, nil, "resident", "volunteer")
	need := func(tok, title string) string {
		return tb.must(201, "POST", "/v1/needs", tok, map[string]any{"community": "c1", "category": "elder_care", "title": title, "hours": "1.00"}).Str("id")
	}
	offer := func(tok, title string) string {
		return tb.must(201, "POST", "/v1/offers", tok, map[string]any{"community": "c1", "category": "repair", "title": title}).Str("id")
	}
	o1, o2, o3 := offer(vol, "修理家电"), offer(vol, "理发"), offer(vol2, "陪聊")
	before := tb.auditSize()
	tbProblem(t, tb.do("POST", "/v1/offers/"+o1+"/withdraw", vol2, nil), 403, "forbidden")
	tbProblem(t, tb.do("POST", "/v1/offers/offer-nowhere/withdraw", vol, nil), 404, "not_found")
	if tb.auditSize() != before {
		t.Fatal("a refused withdrawal wrote a record")
	}
	if w := tb.must(200, "POST", "/v1/offers/"+o1+"/withdraw", vol, map[string]any{"reason": "搬家了"}); w.Body["withdrawn"] != true {
		t.Fatalf("withdraw: %s", w.Raw)
	}
	tbProblem(t, tb.do("POST", "/v1/offers/"+o1+"/withdraw", coord, nil), 409, "wrong_state")
	tb.must(200, "POST", "/v1/offers/"+o3+"/withdraw", coord, nil)
	open := tb.must(200, "GET", "/v1/offers?community=c1&status=open", elder, nil)
	if items := open.Body["items"].([]any); len(items) != 1 || items[0].(map[string]any)["id"] != o2 {
		t.Fatalf("open offers: %s, want %s alone", open.Raw, o2)
	}

	open1, claimed1 := need(elder, "买菜"), need(elder, "理发")
	tb.must(200, "POST", "/v1/needs/"+claimed1+"/claim", vol2, nil)
	byOther := need(other, "修水管")
	tb.must(200, "POST", "/v1/needs/"+byOther+"/claim", vol, nil)
	tb.must(200, "POST", "/v1/members/zhang/erase", tb.admin, nil)
	rec := tb.lastRecord()
	if rec.Action != "member.erase" || fmt.Sprint(rec.Content["needs_cancelled"]) != fmt.Sprint([]any{open1, claimed1}) {
		t.Fatalf("erasure record: %s %v", rec.Action, rec.Content)
	}
	for _, id := range []string{open1, claimed1} {
		if n := tb.must(200, "GET", "/v1/needs/"+id, coord, nil); n.Str("status") != "cancelled" {
			t.Fatalf("need %s of the erased requester: %s", id, n.Raw)
		}
	}
	tbProblem(t, tb.do("POST", "/v1/needs/"+open1+"/claim", vol, nil), 409, "wrong_state")
	tb.must(200, "POST", "/v1/members/li/erase", tb.admin, nil)
	rec = tb.lastRecord()
	if fmt.Sprint(rec.Content["needs_released"]) != fmt.Sprint([]any{byOther}) || fmt.Sprint(rec.Content["offers_withdrawn"]) != fmt.Sprint([]any{o2}) {
		t.Fatalf("erasure record of the volunteer: %v", rec.Content)
	}
	if n := tb.must(200, "GET", "/v1/needs/"+byOther, coord, nil); n.Str("status") != "open" || n.Body["volunteer"] != nil {
		t.Fatalf("need the erased volunteer had claimed: %s", n.Raw)
	}
	tb.must(200, "POST", "/v1/needs/"+byOther+"/claim", vol2, nil)
	if l := tb.must(200, "GET", "/v1/offers?community=c1&status=open", other, nil); len(l.Body["items"].([]any)) != 0 {
		t.Fatalf("open offers after the volunteer's erasure: %s", l.Raw)
	}
	tbProblem(t, tb.do("GET", "/v1/offers?community=c1&status=gone", other, nil), 400, "invalid_request")
}

// TestRejectedServiceOfAnErasedMembersNeed: a need completed by a service
// still pending when its requester (or volunteer) is erased does not come
// back as claimed when the service is rejected: it is cancelled (or goes
// back to the open list), as the erasure would have done.
func TestRejectedServiceOfAnErasedMembersNeed(t *testing.T) {
	tb := newTBServer(t)
	tb.community("c1", "", nil)
	coord := tb.resident("wang", "c1", nil, nil, "coordinator")
	tb.resident("zhang", "c1", nil, nil, "resident")
	tb.resident("zhao", "c1", nil, nil, "resident")
	tb.resident("li", "c1", nil, nil, "resident", "volunteer")
	tb.resident("sun", "c1", nil, nil, "resident", "volunteer")
	completed := func(requester, volunteer string) (need, svc string) {
		need = tb.must(201, "POST", "/v1/needs", coord, map[string]any{"community": "c1", "requester": requester, "category": "elder_care", "title": "买菜"}).Str("id")
		tb.must(200, "POST", "/v1/needs/"+need+"/claim", coord, map[string]any{"volunteer": volunteer})
		tb.advance(3 * time.Hour)
		done := tb.must(201, "POST", "/v1/needs/"+need+"/complete", coord, map[string]any{"hours": "1.00", "occurred_at": tb.ago(2 * time.Hour)})
		return need, done.Body["service"].(map[string]any)["id"].(string)
	}
	n1, s1 := completed("zhang", "sun")
	n2, s2 := completed("zhao", "li")
	tb.must(200, "POST", "/v1/members/zhang/erase", tb.admin, nil)
	tb.must(200, "POST", "/v1/members/li/erase", tb.admin, nil)
	tb.must(200, "POST", "/v1/services/"+s1+"/reject", coord, map[string]any{"reason": "记录有误"})
	if n := tb.must(200, "GET", "/v1/needs/"+n1, coord, nil); n.Str("status") != "cancelled" {
		t.Fatalf("the erased requester's need after its service was rejected: %s", n.Raw)
	}
	tb.must(200, "POST", "/v1/services/"+s2+"/reject", coord, map[string]any{"reason": "记录有误"})
	if n := tb.must(200, "GET", "/v1/needs/"+n2, coord, nil); n.Str("status") != "open" || n.Body["volunteer"] != nil {
		t.Fatalf("the need the erased volunteer had completed, after its service was rejected: %s", n.Raw)
	}
}

// TestNoSelfConfirmationOnBehalf: a coordinator who is also the volunteer
// cannot confirm or reject their own service by acting for the recipient;
// nothing is written and no credit moves.
func TestNoSelfConfirmationOnBehalf(t *testing.T) {
	tb := newTBServer(t)
	tb.community("m1", "", nil)
	cv := tb.resident("cv", "m1", nil, nil, "coordinator", "volunteer")
	tb.resident("zhang", "m1", nil, nil, "resident")
	b := map[string]any{"volunteer": "cv", "recipient": "zhang", "community": "m1",
		"category": "elder_care", "hours": "2.00", "occurred_at": tb.ago(2 * time.Hour)}
	id := tb.must(201, "POST", "/v1/services", cv, b).Str("id")
	size := tb.auditSize()
	for _, action := range []string{"confirm", "reject"} {
		if action == "confirm" {
			tbProblem(t, tb.do("POST", "/v1/services/"+id+"/"+action, cv, nil), 403, "self_confirmation")
		}
		tbProblem(t, tb.do("POST", "/v1/services/"+id+"/"+action, cv, nil, HeaderOnBehalf, "zhang"), 403, "self_confirmation")
	}
	if got := tb.auditSize(); got != size {
		t.Fatalf("refused self-confirmation wrote: audit size %d, want %d", got, size)
	}
	if got := tb.balance("cv:HOUR"); got != "0.00" {
		t.Fatalf("volunteer credited by own confirmation: %s", got)
	}
	// Their own pending record they may withdraw (logged by mistake), as
	// themselves: it earns nothing, and is recorded as withdrawn.
	if r := tb.must(200, "POST", "/v1/services/"+id+"/reject", cv, map[string]any{"reason": "时间记错"}); r.Str("status") != "rejected" || r.Body["withdrawn"] != true {
		t.Fatalf("withdrawing one's own pending record: %s", r.Raw)
	}
	if rec := tb.lastRecord(); rec.Action != "service.reject" || rec.Content["withdrawn"] != true {
		t.Fatalf("the withdrawal's record: %s %v", rec.Action, rec.Content)
	}
	// Not once confirmed: a confirmed credit is the recipient's to dispute.
	id2 := tb.must(201, "POST", "/v1/services", cv, map[string]any{"volunteer": "cv", "recipient": "zhang", "community": "m1",
		"category": "elder_care", "hours": "1.00", "occurred_at": tb.ago(5 * time.Hour)}).Str("id")
	tb.must(200, "POST", "/v1/services/"+id2+"/confirm", tb.login("zhang", "password-zhang"), nil)
	tbProblem(t, tb.do("POST", "/v1/services/"+id2+"/reject", cv, map[string]any{"reason": "x"}), 409, "not_pending")
}

// TestGiftReversalAndWorkflowTransactions: a gift is corrected by
// reversing its transaction (SPEC §2: a new transaction naming the one it
// reverses and why), which also takes a gift across communities back off
// the settlement view; a redemption (a workflow with records and
// reports of its own) is not reversed through /v1/transfers, even by the
// admin; a raw transfer is.
func TestGiftReversalAndWorkflowTransactions(t *testing.T) {
	tb := newTBServer(t)
	tb.community("d", "", nil)
	tb.community("c1", "d", nil)
	tb.community("c2", "d", nil)
	coord2 := tb.resident("zhao", "c2", nil, nil, "coordinator")
	tb.resident("zhang", "c2", nil, nil, "resident")
	li := tb.resident("li", "c1", nil, []string{"zhang"}, "resident")
	tb.must(201, "POST", "/v1/transfers", tb.admin, map[string]any{"postings": []any{
		map[string]any{"from": "c1:issuance", "to": "li:HOUR", "amount": "3.00", "unit": "HOUR"}}})
	toPool := tb.must(201, "POST", "/v1/gifts", li, map[string]any{"from": "li", "to": "c1:pool", "hours": "1.00"}).Str("id")
	across := tb.must(201, "POST", "/v1/gifts", li, map[string]any{"from": "li", "to": "zhang", "hours": "1.00"}).Str("id")
	if s := tb.must(200, "GET", "/v1/settlements?community=c2", coord2, nil); s.Str("clearing_balance") != "-1.00" {
		t.Fatalf("after a gift across communities: %s", s.Raw)
	}
	tbProblem(t, tb.do("POST", "/v1/transfers/"+toPool+"/reverse", tb.admin, map[string]any{}), 400, "invalid_request")
	for _, id := range []string{toPool, across} {
		r := tb.must(201, "POST", "/v1/transfers/"+id+"/reverse", tb.admin, map[string]any{"reason": "误操作"})
		if r.Str("reverses") != id {
			t.Fatalf("reversal of %s: %s", id, r.Raw)
		}
	}
	if got := tb.balance("li:HOUR"); got != "3.00" {
		t.Fatalf("li after both reversals: %s, want 3.00", got)
	}
	s := tb.must(200, "GET", "/v1/settlements?community=c2", coord2, nil)
	if s.Str("clearing_balance") != "0.00" {
		t.Fatalf("settlement after the reversal: %s", s.Raw)
	}
	for _, it := range s.Body["items"].([]any) {
		if h := it.(map[string]any)["hours"]; h != "0.00" {
			t.Fatalf("after the reversal the settlement still says %s", s.Raw)
		}
	}
	tbProblem(t, tb.do("POST", "/v1/transfers/"+across+"/reverse", tb.admin, map[string]any{"reason": "again"}), 409, "already_reversed")
	red := tb.must(201, "POST", "/v1/redemptions", li, map[string]any{"member": "li", "community": "c1", "hours": "1.00", "item": "理发"}).Str("transaction")
	size := tb.auditSize()
	tbProblem(t, tb.do("POST", "/v1/transfers/"+red+"/reverse", tb.admin, map[string]any{"reason": "x"}), 403, "forbidden")
	if got := tb.auditSize(); got != size {
		t.Fatalf("refused reversal wrote: %d → %d", size, got)
	}
	raw := tb.must(201, "POST", "/v1/transfers", tb.admin, map[string]any{"postings": []any{
		map[string]any{"from": "c1:issuance", "to": "li:HOUR", "amount": "1.00", "unit": "HOUR"}}}).Str("id")
	tb.must(201, "POST", "/v1/transfers/"+raw+"/reverse", tb.admin, map[string]any{"reason": "entered twice"})
	tb.sumsToZero("c1", "li")
	tb.sumsToZero("c2", "zhang", "zhao")
}

// TestCSVTextGuardsFormulas: a CSV text cell a spreadsheet would read as
// a formula is prefixed with an apostrophe; other text is unchanged.
func TestCSVTextGuardsFormulas(t *testing.T) {
	for in, want := range map[string]string{
		"elder_care": "elder_care", "-A1": "'-A1", "=1+1": "'=1+1", "+1": "'+1", "@SUM(A1)": "'@SUM(A1)",
		"\tx": "'\tx", "\rx": "'\rx", "": "", "school": "school",
	} {
		if got := csvText(in); got != want {
			t.Errorf("csvText(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestNoMemberExistenceOracle: naming a member one may not act on answers
// the same whether they exist or not — a resident naming another
// volunteer (403 before anything is looked up), a coordinator naming a
// member or their account outside their scope (404 as unknown) — so the
// answers do not tell who exists or what roles they hold.
func TestNoMemberExistenceOracle(t *testing.T) {
	tb := newTBServer(t)
	tb.community("a", "", nil)
	tb.community("far", "", nil)
	coord := tb.resident("wang", "a", nil, nil, "coordinator")
	res := tb.resident("li", "a", nil, nil, "resident", "volunteer")
	tb.resident("zhou", "a", nil, nil, "resident", "volunteer")
	tb.resident("stranger", "far", nil, nil, "resident", "volunteer")
	same := func(what string, rs map[string]response) {
		t.Helper()
		var first response
		for name, r := range rs {
			detail := strings.ReplaceAll(r.Str("detail"), name, "X")
			if first.Status == 0 {
				first, first.Body = r, map[string]any{"detail": detail}
				continue
			}
			if r.Status != first.Status || r.Code() == "" || detail != first.Str("detail") {
				t.Fatalf("%s: %q answers %d %s, another %d %q", what, name, r.Status, r.Raw, first.Status, first.Str("detail"))
			}
		}
	}
	ids := []string{"zhou", "stranger", "admin", "nobody-at-all"}
	offers, services, transfers, grants := map[string]response{}, map[string]response{}, map[string]response{}, map[string]response{}
	redeem, needs, gifts := map[string]response{}, map[string]response{}, map[string]response{}
	staffRedeem, staffNeeds, staffServices := map[string]response{}, map[string]response{}, map[string]response{}
	for _, id := range ids {
		gifts[id] = tb.do("POST", "/v1/gifts", res, map[string]any{"from": id, "to": "a:pool", "hours": "0.01"})
		redeem[id] = tb.do("POST", "/v1/redemptions", res, map[string]any{"member": id, "community": "a", "hours": "1.00", "item": "理发"})
		needs[id] = tb.do("POST", "/v1/needs", res, map[string]any{"community": "a", "requester": id, "category": "elder_care", "title": "陪同就医"})
		if id != "zhou" {
			staffRedeem[id] = tb.do("POST", "/v1/redemptions", coord, map[string]any{"member": id, "community": "a", "hours": "1.00", "item": "理发"})
			staffNeeds[id] = tb.do("POST", "/v1/needs", coord, map[string]any{"community": "a", "requester": id, "category": "elder_care", "title": "陪同就医"})
			staffServices[id] = tb.do("POST", "/v1/services", coord, map[string]any{"volunteer": id, "recipient": "li", "community": "a",
				"category": "elder_care", "hours": "1.00", "occurred_at": tb.ago(time.Hour)})
		}
		offers[id] = tb.do("POST", "/v1/offers", res, map[string]any{"community": "a", "volunteer": id, "category": "elder_care", "title": "陪聊", "hours": "1.00"})
		services[id] = tb.do("POST", "/v1/services", res, map[string]any{"volunteer": id, "recipient": "li", "community": "a",
			"category": "elder_care", "hours": "1.00", "occurred_at": tb.ago(time.Hour)})
		if id != "zhou" {
			transfers[id] = tb.do("POST", "/v1/transfers", coord, map[string]any{"postings": []any{
				map[string]any{"from": "a:issuance", "to": id + ":HOUR", "amount": "1.00", "unit": "HOUR"}}})
			grants[id] = tb.do("POST", "/v1/grants", coord, map[string]any{"community": "a", "member": id, "hours": "1.00", "reason": "帮扶"})
		}
	}
	same("a resident's offer for another volunteer", offers)
	same("a resident's service for another volunteer", services)
	same("a transfer to a member out of scope", transfers)
	same("a grant to a member out of scope", grants)
	same("a resident's redemption for another member", redeem)
	same("a resident's gift of another member's credits", gifts)
	same("a resident's need for another member", needs)
	same("a coordinator's redemption for a member out of scope", staffRedeem)
	same("a coordinator's need for a member out of scope", staffNeeds)
	same("a coordinator's service by a volunteer out of scope", staffServices)
	if offers["zhou"].Status != 403 || transfers["stranger"].Status != 404 || grants["stranger"].Status != 404 {
		t.Fatalf("offer %d, transfer %d, grant %d; want 403, 404, 404", offers["zhou"].Status, transfers["stranger"].Status, grants["stranger"].Status)
	}
}

// TestStaffUndoDoesNotRefundThemselves: where the recipient pays (mutual
// credit), undoing a service credit refunds the recipient. Staff who were
// the recipient may dispute in the window like anyone served, but not
// reverse the posted credit afterwards; staff whose relative was the
// recipient may not void or reverse it either. Another coordinator may.
func TestStaffUndoDoesNotRefundThemselves(t *testing.T) {
	tb := newTBServer(t)
	tb.community("m", "", map[string]any{"earning": "mutual_credit", "credit_limit": "10.00", "settlement_delay": "48h"})
	wq := tb.resident("wq", "m", nil, nil, "coordinator")
	other := tb.resident("liu", "m", nil, nil, "coordinator")
	vol := tb.resident("s1", "m", nil, nil, "resident", "volunteer")
	kin := tb.resident("kin", "m", nil, []string{"wq"}, "resident")
	toWq := tb.service(vol, "s1", "wq", "m", "elder_care", "1.00", time.Hour)
	tb.must(200, "POST", "/v1/services/"+toWq+"/confirm", wq, nil)
	toKin := tb.service(vol, "s1", "kin", "m", "elder_care", "1.00", 2*time.Hour)
	tb.must(200, "POST", "/v1/services/"+toKin+"/confirm", kin, nil)
	tb.advance(49 * time.Hour) // both settle: posted
	size := tb.auditSize()
	tbProblem(t, tb.do("POST", "/v1/services/"+toWq+"/reject", wq, map[string]any{"reason": "撤销"}), 403, "forbidden")
	tbProblem(t, tb.do("POST", "/v1/services/"+toKin+"/reject", wq, map[string]any{"reason": "撤销"}), 403, "conflict_of_interest")
	if tb.auditSize() != size {
		t.Fatal("a refused correction wrote a record")
	}
	tb.must(200, "POST", "/v1/services/"+toWq+"/reject", other, map[string]any{"reason": "核实未服务"})
	// Held, past the window: a relative's credit is not voided by wq.
	held := tb.service(vol, "s1", "kin", "m", "elder_care", "1.00", 3*time.Hour)
	tb.must(200, "POST", "/v1/services/"+held+"/confirm", kin, nil)
	tb.pass(48*time.Hour + time.Second)
	tbProblem(t, tb.do("POST", "/v1/services/"+held+"/reject", wq, map[string]any{"reason": "撤销"}), 403, "conflict_of_interest")
	// Nor for the relative, acting on their behalf, in the window.
	kinHeld := tb.service(vol, "s1", "kin", "m", "elder_care", "1.00", time.Hour)
	tb.must(200, "POST", "/v1/services/"+kinHeld+"/confirm", kin, nil)
	tbProblem(t, tb.do("POST", "/v1/services/"+kinHeld+"/reject", wq, map[string]any{"reason": "没有来"}, HeaderOnBehalf, "kin"), 403, "conflict_of_interest")
	// Nor cancel the relative's booking (the credits go back to kin).
	booking := tb.must(201, "POST", "/v1/redemptions", kin, map[string]any{"member": "kin", "community": "m", "hours": "1.00", "item": "理发", "book": true}).Str("id")
	tbProblem(t, tb.do("POST", "/v1/redemptions/"+booking+"/cancel", wq, nil), 403, "conflict_of_interest")
	tbProblem(t, tb.do("POST", "/v1/redemptions/"+booking+"/cancel", wq, nil, HeaderOnBehalf, "kin"), 403, "conflict_of_interest")
	tb.must(200, "POST", "/v1/redemptions/"+booking+"/cancel", other, nil)
	// In the window wq, served, may dispute like any recipient.
	inWindow := tb.service(vol, "s1", "wq", "m", "elder_care", "1.00", time.Hour)
	tb.must(200, "POST", "/v1/services/"+inWindow+"/confirm", wq, nil)
	tb.must(200, "POST", "/v1/services/"+inWindow+"/reject", wq, map[string]any{"reason": "没有来"})
	tb.sumsToZero("m", "wq", "liu", "s1", "kin")
}

// TestConfirmForTheVolunteersRelative: a coordinator acting for the
// recipient has the recipient's rights only, so a recipient who may not
// confirm their relative's hours cannot have them confirmed through a
// coordinator either; the coordinator in their own name may.
func TestConfirmForTheVolunteersRelative(t *testing.T) {
	tb := newTBServer(t)
	tb.community("a", "", nil)
	coord := tb.resident("wang", "a", nil, nil, "coordinator")
	vol := tb.resident("son", "a", nil, nil, "resident", "volunteer")
	mum := tb.resident("mum", "a", nil, []string{"son"}, "resident")
	id := tb.service(vol, "son", "mum", "a", "elder_care", "1.00", time.Hour)
	size := tb.auditSize()
	tbProblem(t, tb.do("POST", "/v1/services/"+id+"/confirm", mum, nil), 403, "conflict_of_interest")
	tbProblem(t, tb.do("POST", "/v1/services/"+id+"/confirm", coord, nil, HeaderOnBehalf, "mum"), 403, "conflict_of_interest")
	if got := tb.auditSize(); got != size {
		t.Fatalf("refusals wrote %d records", got-size)
	}
	if r := tb.must(200, "POST", "/v1/services/"+id+"/confirm", coord, nil); r.Str("status") != "confirmed" {
		t.Fatalf("coordinator in own name: %s", r.Raw)
	}
}

// TestIDsRefusePersonalNumbers: every id a write brings into the chain
// for good — a group recipient, a category, a catalogue item, a project,
// a community, a fund, a policy's category weight — refuses a phone or
// ID-card number (an outside probe put both into the chain as a group
// recipient and a category), and the refusal writes nothing.
func TestIDsRefusePersonalNumbers(t *testing.T) {
	tb := newTBServer(t)
	tb.community("m1", "", nil)
	tb.resident("li", "m1", nil, nil, "resident", "volunteer")
	coord := tb.resident("wang", "m1", nil, nil, "coordinator")
	tb.resident("liu", "m1", nil, nil, "committee")
	size := tb.auditSize()
	svc := func(k, v string) map[string]any {
		b := map[string]any{"volunteer": "li", "recipient": "elders-choir", "recipient_kind": "group", "community": "m1",
			"category": "group_work", "hours": "1.00", "occurred_at": tb.ago(2 * time.Hour)}
		b[k] = v
		return b
	}
	for _, c := range []struct {
		name, method, path, token string
		body                      any
	}{
		{"group recipient", "POST", "/v1/services", coord, svc("recipient", "13800138000")},
		{"category", "POST", "/v1/services", coord, svc("category", "id-110101199003071233")},
		{"need category", "POST", "/v1/needs", coord, map[string]any{"community": "m1", "requester": "li", "category": "13812345678", "title": "买菜"}},
		{"catalogue item", "PUT", "/v1/communities/m1/catalogue/it-13812345678", coord, map[string]any{"name": "大米", "hours": "1.00", "kind": "goods"}},
		{"community", "POST", "/v1/communities", tb.admin, map[string]any{"id": "c13812345678", "name": "新社区", "parent": "m1"}},
		{"fund", "POST", "/v1/funds", tb.admin, map[string]any{"id": "f13812345678", "community": "m1", "name": "基金", "committee": []string{"liu"}, "quorum": 1}},
		{"project", "POST", "/v1/funds", tb.admin, map[string]any{"id": "f1", "community": "m1", "name": "基金", "committee": []string{"liu"}, "quorum": 1,
			"projects": []map[string]any{{"id": "p13812345678", "name": "助学"}}}},
		{"weight", "PUT", "/v1/communities/m1/policy", tb.admin, map[string]any{"earning": "deposit", "weights": map[string]any{"13812345678": "1.00"}}},
	} {
		r := tb.do(c.method, c.path, c.token, c.body)
		if r.Status != 400 || r.Code() != "invalid_id" {
			t.Errorf("%s: %d %s, want 400 invalid_id", c.name, r.Status, r.Raw)
		}
	}
	if got := tb.auditSize(); got != size {
		t.Fatalf("refusals wrote %d records", got-size)
	}
}

// TestMutualCreditDefaultLimit: a mutual-credit community created without
// a credit_limit gets DefaultCreditLimit (10 h), shown in its policy and
// on its members' accounts, so that a recipient can pay for the first
// service (with a limit of zero — fixed at creation — nobody ever could);
// a later policy change that names no credit_limit keeps it.
func TestMutualCreditDefaultLimit(t *testing.T) {
	tb := newTBServer(t)
	tb.community("mc", "", map[string]any{"earning": "mutual_credit"})
	vol := tb.resident("li", "mc", nil, nil, "resident", "volunteer")
	rec := tb.resident("zhang", "mc", nil, nil, "resident")
	if a := tb.must(200, "GET", "/v1/accounts/zhang:HOUR", rec, nil); a.Str("credit_limit") != "10.00" || a.Str("guard") != "credit_limit" {
		t.Fatalf("a member's account: %s", a.Raw)
	}
	id := tb.must(201, "POST", "/v1/services", vol, map[string]any{"volunteer": "li", "recipient": "zhang", "community": "mc",
		"category": "elder_care", "hours": "2.00", "occurred_at": tb.ago(3 * time.Hour)}).Str("id")
	tb.must(200, "POST", "/v1/services/"+id+"/confirm", rec, nil)
	if got := tb.balance("zhang:HOUR"); got != "-2.00" {
		t.Fatalf("the recipient pays within the default limit: %s", got)
	}
	tb.must(200, "PUT", "/v1/communities/mc/policy", tb.admin, map[string]any{"earning": "mutual_credit", "max_balance": "50.00"})
	if c := tb.must(200, "GET", "/v1/communities/mc", tb.admin, nil); !strings.Contains(string(c.Raw), `"credit_limit":"10.00"`) {
		t.Fatalf("the community's policy after a change naming no limit: %s", c.Raw)
	}
}

// TestServiceAtTheZeroTime: occurred_at 0001-01-01T00:00:00Z is a time
// long ago, told as such — it once answered "occurred_at is required".
func TestServiceAtTheZeroTime(t *testing.T) {
	tb := newTBServer(t)
	tb.community("m1", "", nil)
	vol := tb.resident("li", "m1", nil, nil, "resident", "volunteer")
	tb.resident("zhang", "m1", nil, nil, "resident")
	r := tb.do("POST", "/v1/services", vol, map[string]any{"volunteer": "li", "recipient": "zhang", "community": "m1",
		"category": "elder_care", "hours": "1.00", "occurred_at": "0001-01-01T00:00:00Z"})
	if r.Status != 400 || !strings.Contains(r.Str("detail"), "days ago") {
		t.Fatalf("the zero time: %d %s", r.Status, r.Raw)
	}
}

// TestVolunteerPostsNeed: a member who is only a volunteer — a resident
// who serves (SPEC §1) — posts their own need, as a resident does.
func TestVolunteerPostsNeed(t *testing.T) {
	tb := newTBServer(t)
	tb.community("m1", "", nil)
	vol := tb.resident("li", "m1", nil, nil, "volunteer")
	r := tb.must(201, "POST", "/v1/needs", vol, map[string]any{"community": "m1", "category": "elder_care", "title": "陪同就医"})
	if r.Str("requester") != "li" {
		t.Fatalf("need: %s", r.Raw)
	}
}

// TestOnBehalfShown: what a coordinator does for an offline resident
// (代办) shows as such where staff and relatives read it, not only in the
// chain (probe s27d): a service logged for a volunteer names the
// volunteer it was logged for, a need and a redemption name the
// coordinator who made them; what members do themselves names no one.
func TestOnBehalfShown(t *testing.T) {
	tb := newTBServer(t)
	tb.community("c1", "", nil)
	coord := tb.resident("wang", "c1", nil, nil, "coordinator")
	vol := tb.resident("li", "c1", nil, nil, "resident", "volunteer")
	elder := tb.resident("zhang", "c1", nil, nil, "resident")
	tb.fund("c1", "zhang", "3.00")
	svc := func(token string, ago time.Duration, headers ...string) response {
		return tb.must(201, "POST", "/v1/services", token, map[string]any{"volunteer": "li", "recipient": "zhang", "community": "c1",
			"category": "elder_care", "hours": "1.00", "occurred_at": tb.ago(ago)}, headers...)
	}
	if r := svc(coord, 3*time.Hour, "X-On-Behalf-Of", "li"); r.Str("logged_by") != "wang" || r.Str("logged_for") != "li" {
		t.Fatalf("logged for the volunteer: %s", r.Raw)
	}
	if r := svc(vol, 5*time.Hour); r.Str("logged_by") != "li" || r.Str("logged_for") != "" {
		t.Fatalf("logged by the volunteer: %s", r.Raw)
	}
	// Staff naming the volunteer without the header log for them too.
	if r := svc(coord, 7*time.Hour); r.Str("logged_by") != "wang" || r.Str("logged_for") != "li" {
		t.Fatalf("logged by a coordinator naming the volunteer: %s", r.Raw)
	}
	need := func(token string, headers ...string) response {
		return tb.must(201, "POST", "/v1/needs", token, map[string]any{"requester": "zhang", "community": "c1", "category": "elder_care", "title": "陪同就医"}, headers...)
	}
	redeem := func(token string, headers ...string) response {
		return tb.must(201, "POST", "/v1/redemptions", token, map[string]any{"member": "zhang", "community": "c1", "hours": "1.00", "item": "理发"}, headers...)
	}
	for _, h := range [][]string{nil, {"X-On-Behalf-Of", "zhang"}} {
		n, d := need(coord, h...), redeem(coord, h...)
		if n.Str("posted_by") != "wang" || d.Str("made_by") != "wang" {
			t.Fatalf("made by a coordinator (headers %v): need %s, redemption %s", h, n.Raw, d.Raw)
		}
		if g := tb.must(200, "GET", "/v1/redemptions/"+d.Str("id"), elder, nil); g.Str("made_by") != "wang" {
			t.Fatalf("the member reads back %s", g.Raw)
		}
	}
	if n, d := need(elder), redeem(elder); n.Str("posted_by") != "" || d.Str("made_by") != "" {
		t.Fatalf("made by the member: need %s, redemption %s", n.Raw, d.Raw)
	}
	// Who a coordinator speaks for is not shown to the neighbours
	// (review s27e): the list and the need read by another resident
	// carry no posted_by; the requester and staff see it.
	id := need(coord).Str("id")
	for tok, want := range map[string]string{vol: "", elder: "wang", coord: "wang"} {
		if g := tb.must(200, "GET", "/v1/needs/"+id, tok, nil); g.Str("posted_by") != want {
			t.Fatalf("need read: %s, want posted_by %q", g.Raw, want)
		}
		l := tb.must(200, "GET", "/v1/needs?community=c1", tok, nil)
		if strings.Contains(string(l.Raw), `"posted_by"`) != (want != "") {
			t.Fatalf("needs list: %s, want posted_by %q", l.Raw, want)
		}
	}
}

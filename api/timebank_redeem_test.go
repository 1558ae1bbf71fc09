package api

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"tally/audit"
	"tally/ledger"
	"tally/ledger/timebank"
)

// fund gives a member credits from their community's issuance.
func (tb *tbServer) fund(c, memberID, hours string) {
	tb.t.Helper()
	tb.must(201, "POST", "/v1/transfers", tb.admin, map[string]any{"postings": []any{
		map[string]any{"from": c + ":issuance", "to": memberID + ":HOUR", "amount": hours, "unit": "HOUR"}}})
}

func tbBirth(years int) string {
	return time.Now().AddDate(-years, 0, -1).Format(time.DateOnly)
}

// TestRedemptionCatalogueAndEligibility: catalogue prices, eligibility by
// age with the hardship exception, redeeming at once, booking, completing
// and cancelling.
func TestRedemptionCatalogueAndEligibility(t *testing.T) {
	tb := newTBServer(t)
	tb.community("c1", "", map[string]any{"min_age": 65, "hardship_min_age": 60})
	coord := tb.resident("wang", "c1", nil, nil, "coordinator")
	old := tb.resident("old", "c1", map[string]string{"birth_date": tbBirth(70)}, nil, "resident")
	poor := tb.resident("poor", "c1", map[string]string{"birth_date": tbBirth(62), "hardship": "true"}, nil, "resident")
	young := tb.resident("young", "c1", map[string]string{"birth_date": tbBirth(62)}, nil, "resident")
	nobody := tb.resident("nobody", "c1", nil, nil, "resident")
	for _, m := range []string{"old", "poor", "young", "nobody"} {
		tb.fund("c1", m, "10.00")
	}
	tbProblem(t, tb.do("PUT", "/v1/communities/c1/catalogue/haircut", old, map[string]any{"name": "理发", "hours": "1.00", "kind": "service"}), 403, "forbidden")
	tb.must(200, "PUT", "/v1/communities/c1/catalogue/haircut", coord, map[string]any{"name": "理发", "hours": "1.00", "kind": "service"})
	tb.must(200, "PUT", "/v1/communities/c1/catalogue/rice", coord, map[string]any{"name": "大米5公斤", "hours": "2.50", "kind": "goods"})
	tbProblem(t, tb.do("PUT", "/v1/communities/c1/catalogue/bad", coord, map[string]any{"name": "x", "hours": "1.00", "kind": "car"}), 400, "invalid_request")
	cat := tb.must(200, "GET", "/v1/communities/c1/catalogue", young, nil)
	if !strings.Contains(string(cat.Raw), "大米5公斤") || !strings.Contains(string(cat.Raw), "理发") {
		t.Fatalf("catalogue: got %s", cat.Raw)
	}
	redeem := func(tok, m, item, hours string, extra ...any) response {
		b := map[string]any{"member": m, "community": "c1", "hours": hours, "item": item}
		for i := 0; i+1 < len(extra); i += 2 {
			b[extra[i].(string)] = extra[i+1]
		}
		return tb.do("POST", "/v1/redemptions", tok, b)
	}
	r := redeem(old, "old", "haircut", "1.00")
	if r.Status != 201 || r.Str("status") != "redeemed" || r.Str("item_name") != "理发" {
		t.Fatalf("redeem: got %d %s", r.Status, r.Raw)
	}
	if got := tb.balance("c1:redemptions"); got != "1.00" {
		t.Fatalf("redemptions account: got %s", got)
	}
	tbProblem(t, redeem(old, "old", "rice", "2.00"), 422, "price_mismatch")
	tbProblem(t, redeem(old, "old", "", "1.00"), 400, "invalid_request") // a catalogue's item is required
	if r := redeem(old, "old", "rice", "5.00", "quantity", 2); r.Status != 201 {
		t.Fatalf("two bags: got %d %s", r.Status, r.Raw)
	}
	tbProblem(t, redeem(old, "old", "free text", "1.00"), 404, "not_found")
	tbProblem(t, redeem(young, "young", "haircut", "1.00"), 422, "not_eligible")
	tbProblem(t, redeem(nobody, "nobody", "haircut", "1.00"), 422, "not_eligible")
	tbProblem(t, redeem(young, "old", "haircut", "1.00"), 403, "forbidden")
	if r := redeem(poor, "poor", "haircut", "1.00"); r.Status != 201 {
		t.Fatalf("hardship exception: got %d %s", r.Status, r.Raw)
	}
	tbProblem(t, redeem(poor, "poor", "rice", "25.00", "quantity", 10), 422, "insufficient_funds")
	// Too young even for the hardship age: the answer names that age.
	poorer := tb.resident("poorer", "c1", map[string]string{"birth_date": tbBirth(58), "hardship": "true"}, nil, "resident")
	if r := redeem(poorer, "poorer", "haircut", "1.00"); r.Status != 422 || !strings.Contains(r.Str("detail"), "60") {
		t.Fatalf("hardship member under the hardship age: %d %s, want 422 naming 60", r.Status, r.Raw)
	}

	// Bookings hold; the station completes; the member may cancel.
	b1 := redeem(old, "old", "haircut", "1.00", "book", true)
	b2 := redeem(old, "old", "rice", "2.50", "book", true)
	if b1.Str("status") != "booked" {
		t.Fatalf("book: got %s", b1.Raw)
	}
	acct := tb.must(200, "GET", "/v1/accounts/old:HOUR", old, nil)
	if acct.Str("balance") != "4.00" || acct.Str("available") != "0.50" {
		t.Fatalf("held: got %s", acct.Raw)
	}
	tbProblem(t, tb.do("POST", "/v1/redemptions/"+b1.Str("id")+"/complete", old, nil), 403, "forbidden")
	c := tb.must(200, "POST", "/v1/redemptions/"+b1.Str("id")+"/complete", coord, map[string]any{"reason": "已服务"})
	if c.Str("status") != "completed" || c.Str("reason") != "已服务" {
		t.Fatalf("complete: got %s", c.Raw)
	}
	x := tb.must(200, "POST", "/v1/redemptions/"+b2.Str("id")+"/cancel", old, map[string]any{"reason": "不需要了"})
	if x.Str("status") != "cancelled" {
		t.Fatalf("cancel: got %s", x.Raw)
	}
	tbProblem(t, tb.do("POST", "/v1/redemptions/"+b2.Str("id")+"/complete", coord, nil), 409, "wrong_state")
	tbProblem(t, tb.do("POST", "/v1/redemptions/"+b1.Str("id")+"/cancel", coord, nil), 409, "wrong_state")
	acct = tb.must(200, "GET", "/v1/accounts/old:HOUR", old, nil)
	if acct.Str("balance") != "3.00" || acct.Str("available") != "3.00" {
		t.Fatalf("after booking: got %s", acct.Raw)
	}
	if g := tb.must(200, "GET", "/v1/redemptions/"+b1.Str("id"), old, nil); g.Str("status") != "completed" {
		t.Fatalf("get: got %s", g.Raw)
	}
	tbProblem(t, tb.do("GET", "/v1/redemptions/"+b1.Str("id"), young, nil), 404, "not_found")
	tb.sumsToZero("c1", "wang", "old", "poor", "young", "nobody")
}

// TestCatalogueItemWithdrawn: staff stop offering an item; it stays listed
// as withdrawn (the community still keeps a catalogue, so free text is
// not accepted either), new redemptions of it are refused, a booking made
// before stands, and a PUT offers it again.
func TestCatalogueItemWithdrawn(t *testing.T) {
	tb := newTBServer(t)
	tb.community("c1", "", nil)
	coord := tb.resident("wang", "c1", nil, nil, "coordinator")
	li := tb.resident("li", "c1", nil, nil, "resident")
	tb.fund("c1", "li", "10.00")
	item := map[string]any{"name": "大米5公斤", "hours": "2.50", "kind": "goods"}
	tb.must(200, "PUT", "/v1/communities/c1/catalogue/rice", coord, item)
	redeem := func(item string, book bool) response {
		return tb.do("POST", "/v1/redemptions", li, map[string]any{"member": "li", "community": "c1", "hours": "2.50", "item": item, "book": book})
	}
	booked := redeem("rice", true)
	if booked.Status != 201 {
		t.Fatalf("book: %d %s", booked.Status, booked.Raw)
	}
	before := tb.auditSize()
	tbProblem(t, tb.do("POST", "/v1/communities/c1/catalogue/rice/withdraw", li, nil), 403, "forbidden")
	tbProblem(t, tb.do("POST", "/v1/communities/c1/catalogue/oil/withdraw", coord, nil), 404, "not_found")
	tbProblem(t, tb.do("POST", "/v1/communities/nowhere/catalogue/rice/withdraw", coord, nil), 404, "not_found")
	if tb.auditSize() != before {
		t.Fatal("a refused withdrawal wrote a record")
	}
	w := tb.must(200, "POST", "/v1/communities/c1/catalogue/rice/withdraw", coord, map[string]any{"reason": "缺货"})
	if w.Body["withdrawn"] != true || w.Str("id") != "rice" {
		t.Fatalf("withdraw: %s", w.Raw)
	}
	if rec := tb.lastRecord(); rec.Action != "catalogue.withdraw" || rec.Content["item"] != "rice" || rec.Content["reason"] != "缺货" {
		t.Fatalf("record: %s %v", rec.Action, rec.Content)
	}
	tbProblem(t, tb.do("POST", "/v1/communities/c1/catalogue/rice/withdraw", coord, nil), 409, "wrong_state")
	if cat := tb.must(200, "GET", "/v1/communities/c1/catalogue", li, nil); !strings.Contains(string(cat.Raw), `"withdrawn":true`) {
		t.Fatalf("catalogue: %s", cat.Raw)
	}
	before = tb.auditSize()
	tbProblem(t, redeem("rice", false), 422, "item_withdrawn")
	tbProblem(t, redeem("rice", true), 422, "item_withdrawn")
	tbProblem(t, redeem("白菜", false), 404, "not_found") // still a catalogue: no free text
	if tb.auditSize() != before {
		t.Fatal("a refused redemption wrote a record")
	}
	if c := tb.must(200, "POST", "/v1/redemptions/"+booked.Str("id")+"/complete", coord, nil); c.Str("status") != "completed" {
		t.Fatalf("the booking made before: %s", c.Raw)
	}
	if p := tb.must(200, "PUT", "/v1/communities/c1/catalogue/rice", coord, item); p.Body["withdrawn"] != false {
		t.Fatalf("offered again: %s", p.Raw)
	}
	if r := redeem("rice", false); r.Status != 201 {
		t.Fatalf("redeem after offering again: %d %s", r.Status, r.Raw)
	}
	tb.sumsToZero("c1", "wang", "li")
}

// TestCrossCommunityRedemption: a member of A redeems in B (通存通兑):
// A's clearing owes, B's is owed, each community still sums to zero, and
// the settlement view says A owes B.
func TestCrossCommunityRedemption(t *testing.T) {
	tb, coordA, coordB, li := twoCommunities(t)
	tb.fund("a", "li", "5.00")
	r := tb.must(201, "POST", "/v1/redemptions", li, map[string]any{"member": "li", "community": "b", "hours": "2.00", "item": "理发一次"})
	if r.Str("home") != "a" || r.Str("item") != "理发一次" {
		t.Fatalf("redeem: got %s", r.Raw)
	}
	want := map[string]string{"li:HOUR": "3.00", "a:clearing": "2.00", "b:clearing": "-2.00", "b:redemptions": "2.00", "a:redemptions": "0.00"}
	for acct, bal := range want {
		if got := tb.balance(acct); got != bal {
			t.Fatalf("%s: got %s, want %s", acct, got, bal)
		}
	}
	// Not in another district: its coordinators have no say over li.
	tb.community("far", "", nil)
	size := tb.auditSize()
	tbProblem(t, tb.do("POST", "/v1/redemptions", li, map[string]any{"member": "li", "community": "far", "hours": "1.00", "item": "理发一次"}), 422, "not_in_community")
	if tb.auditSize() != size {
		t.Fatal("a refused redemption wrote a record")
	}
	tx := tb.must(200, "GET", "/v1/transfers/"+r.Str("transaction"), tb.admin, nil)
	if !strings.Contains(string(tx.Raw), `"from":"li:HOUR","to":"a:clearing"`) || !strings.Contains(string(tx.Raw), `"from":"b:clearing","to":"b:redemptions"`) {
		t.Fatalf("clearing entries: got %s", tx.Raw)
	}
	// A booking in B counts when it completes, not when it is cancelled.
	b1 := tb.must(201, "POST", "/v1/redemptions", li, map[string]any{"member": "li", "community": "b", "hours": "1.00", "item": "助浴", "book": true})
	b2 := tb.must(201, "POST", "/v1/redemptions", li, map[string]any{"member": "li", "community": "b", "hours": "1.00", "item": "助餐", "book": true})
	tbProblem(t, tb.do("POST", "/v1/redemptions/"+b1.Str("id")+"/complete", coordA, nil), 403, "forbidden")
	tb.must(200, "POST", "/v1/redemptions/"+b1.Str("id")+"/complete", coordB, nil)
	tb.must(200, "POST", "/v1/redemptions/"+b2.Str("id")+"/cancel", li, nil)
	for _, v := range []struct{ c, tok, bal string }{{"a", coordA, "3.00"}, {"b", coordB, "-3.00"}} {
		s := tb.must(200, "GET", "/v1/settlements?community="+v.c, v.tok, nil)
		items, _ := s.Body["items"].([]any)
		if s.Str("clearing_balance") != v.bal || len(items) != 1 {
			t.Fatalf("settlement of %s: got %s", v.c, s.Raw)
		}
		if it := items[0].(map[string]any); it["from"] != "a" || it["to"] != "b" || it["hours"] != "3.00" {
			t.Fatalf("settlement of %s: got %s, want a owes b 3.00", v.c, s.Raw)
		}
	}
	tbProblem(t, tb.do("GET", "/v1/settlements?community=b", coordA, nil), 403, "forbidden")
	// The same in CSV, as the other reports.
	csvAns := tb.do("GET", "/v1/settlements?community=a", coordA, nil, "Accept", "text/csv")
	if want := "from,to,hours,community,clearing_balance\na,b,3.00,a,3.00\n"; csvAns.Status != 200 ||
		!strings.HasPrefix(csvAns.Header.Get("Content-Type"), "text/csv") || string(csvAns.Raw) != want {
		t.Fatalf("settlement CSV: %d %q %q, want %q", csvAns.Status, csvAns.Header.Get("Content-Type"), csvAns.Raw, want)
	}
	// A community that owes and is owed nothing still names itself and
	// its clearing balance in CSV.
	tb.community("c", "", nil)
	coordC := tb.resident("chen", "c", nil, nil, "coordinator")
	csvAns = tb.do("GET", "/v1/settlements?community=c", coordC, nil, "Accept", "text/csv")
	if want := "from,to,hours,community,clearing_balance\n,,0.00,c,0.00\n"; csvAns.Status != 200 || string(csvAns.Raw) != want {
		t.Fatalf("empty settlement CSV: %d %q, want %q", csvAns.Status, csvAns.Raw, want)
	}
	tb.sumsToZero("a", "wang", "li")
	tb.sumsToZero("b", "zhou")
}

// TestGiftsAndGrants: gifts to relatives (across communities too) and to
// the pool, with the storage cap; pool grants by a coordinator only.
func TestGiftsAndGrants(t *testing.T) {
	tb := newTBServer(t)
	tb.community("d", "", nil)
	tb.community("c1", "d", map[string]any{"max_balance": "3.00"})
	tb.community("c2", "d", nil)
	coord := tb.resident("wang", "c1", nil, nil, "coordinator")
	parent := tb.resident("parent", "c1", nil, nil, "resident")
	tb.resident("aunt", "c2", nil, nil, "resident")
	child := tb.resident("child", "c1", nil, []string{"parent", "aunt"}, "resident")
	stranger := tb.resident("stranger", "c1", nil, nil, "resident")
	tb.fund("c1", "child", "3.00")
	tb.fund("c1", "stranger", "1.00")

	g := tb.must(201, "POST", "/v1/gifts", child, map[string]any{"from": "child", "to": "parent", "hours": "1.00", "memo": "孝心"})
	if g.Str("memo") != "孝心" || tb.balance("parent:HOUR") != "1.00" {
		t.Fatalf("gift: got %s", g.Raw)
	}
	if rec := tb.lastRecord(); rec.Action != "gift.create" || rec.Content["memo"] != "孝心" || rec.Content["to"] != "parent" {
		t.Fatalf("audit: got %s %v", rec.Action, rec.Content)
	}
	tbProblem(t, tb.do("POST", "/v1/gifts", stranger, map[string]any{"from": "stranger", "to": "parent", "hours": "0.50"}), 422, "not_relative")
	// A member's HOUR account id names the member.
	tb.must(201, "POST", "/v1/gifts", child, map[string]any{"from": "child:HOUR", "to": "parent:HOUR", "hours": "0.10"})
	if rec := tb.lastRecord(); rec.Content["to"] != "parent" || rec.Content["from"] != "child" || tb.balance("parent:HOUR") != "1.10" {
		t.Fatalf("gift by account ids: %v, parent %s", rec.Content, tb.balance("parent:HOUR"))
	}
	tb.must(201, "POST", "/v1/gifts", parent, map[string]any{"from": "parent", "to": "child:HOUR", "hours": "0.10"})
	tbProblem(t, tb.do("POST", "/v1/gifts", child, map[string]any{"from": "child", "to": "stranger:HOUR", "hours": "0.10"}), 422, "not_relative")
	tbProblem(t, tb.do("POST", "/v1/gifts", parent, map[string]any{"from": "child:HOUR", "to": "parent", "hours": "0.10"}), 403, "forbidden")
	tbProblem(t, tb.do("POST", "/v1/gifts", parent, map[string]any{"from": "child", "to": "parent", "hours": "0.50"}), 403, "forbidden")
	tbProblem(t, tb.do("POST", "/v1/gifts", child, map[string]any{"from": "child", "to": "parent", "hours": "9.00"}), 422, "insufficient_funds")
	tbProblem(t, tb.do("POST", "/v1/gifts", child, map[string]any{"from": "child", "to": "c2:pool", "hours": "1.00"}), 422, "not_relative")
	// Nobody and a member who is no relative answer alike: a gift tells
	// nobody who exists.
	for _, to := range []string{"nobody-at-all", "stranger"} {
		r := tb.do("POST", "/v1/gifts", child, map[string]any{"from": "child", "to": to, "hours": "0.10"})
		tbProblem(t, r, 422, "not_relative")
	}
	tb.must(201, "POST", "/v1/gifts", stranger, map[string]any{"from": "stranger", "to": "c1:pool", "hours": "1.00"})
	// A relative in another community is reached through clearing.
	tb.must(201, "POST", "/v1/gifts", child, map[string]any{"from": "child", "to": "aunt", "hours": "0.50"})
	if a, c1, c2 := tb.balance("aunt:HOUR"), tb.balance("c1:clearing"), tb.balance("c2:clearing"); a != "0.50" || c1 != "0.50" || c2 != "-0.50" {
		t.Fatalf("cross gift: aunt %s c1 %s c2 %s", a, c1, c2)
	}

	// Grants: a coordinator, from the pool, within the cap, with a reason.
	tbProblem(t, tb.do("POST", "/v1/grants", parent, map[string]any{"community": "c1", "member": "parent", "hours": "1.00", "reason": "困难帮扶"}), 403, "forbidden")
	tbProblem(t, tb.do("POST", "/v1/grants", coord, map[string]any{"community": "c1", "member": "parent", "hours": "1.00"}), 400, "invalid_request")
	tbProblem(t, tb.do("POST", "/v1/grants", coord, map[string]any{"community": "c1", "member": "aunt", "hours": "1.00", "reason": "困难帮扶"}), 404, "not_found") // out of scope: as unknown
	gr := tb.must(201, "POST", "/v1/grants", coord, map[string]any{"community": "c1", "member": "parent", "hours": "1.00", "reason": "困难帮扶"})
	if tb.balance("parent:HOUR") != "2.00" || tb.balance("c1:pool") != "0.00" || gr.Str("memo") != "困难帮扶" {
		t.Fatalf("grant: got %s, parent %s", gr.Raw, tb.balance("parent:HOUR"))
	}
	tbProblem(t, tb.do("POST", "/v1/grants", coord, map[string]any{"community": "c1", "member": "parent", "hours": "1.00", "reason": "再次"}), 422, "insufficient_funds")

	// Above the parent's cap (3.00) the gift overflows to the pool.
	tb.fund("c1", "child", "1.50")
	o := tb.must(201, "POST", "/v1/gifts", child, map[string]any{"from": "child", "to": "parent", "hours": "2.00"})
	if o.Str("overflow") != "1.00" || tb.balance("parent:HOUR") != "3.00" || tb.balance("c1:pool") != "1.00" {
		t.Fatalf("overflow: got %s, parent %s pool %s", o.Raw, tb.balance("parent:HOUR"), tb.balance("c1:pool"))
	}
	tbProblem(t, tb.do("POST", "/v1/grants", coord, map[string]any{"community": "c1", "member": "parent", "hours": "1.00", "reason": "x"}), 422, "max_balance_exceeded")
	tb.sumsToZero("c1", "wang", "parent", "child", "stranger")
	tb.sumsToZero("c2", "aunt")
	// A coordinator naming the giver in the body acts for them (代办), as
	// with X-On-Behalf-Of: the record names both.
	tb.must(201, "POST", "/v1/gifts", coord, map[string]any{"from": "child", "to": "parent", "hours": "0.10"})
	if rec := tb.lastRecord(); rec.Actor != "wang" || rec.OnBehalf != "child" {
		t.Fatalf("a gift made for a resident: actor %q on behalf of %q", rec.Actor, rec.OnBehalf)
	}
}

// TestOnBehalf: a coordinator acts for an offline resident (代办); the
// audit record names both, and the coordinator gets no more rights than
// the resident.
func TestOnBehalf(t *testing.T) {
	tb := newTBServer(t)
	tb.community("c1", "", nil)
	coord := tb.resident("wang", "c1", nil, nil, "coordinator")
	tb.resident("li", "c1", nil, nil, "resident", "volunteer")
	tb.must(201, "POST", "/v1/members", tb.admin, map[string]any{"id": "nainai", "community": "c1", "display_name": "王奶奶", "roles": []string{"resident"}})
	tb.fund("c1", "nainai", "2.00")

	g := tb.must(201, "POST", "/v1/gifts", coord, map[string]any{"from": "nainai", "to": "c1:pool", "hours": "1.00"}, HeaderOnBehalf, "nainai")
	rec := tb.record(tbSeqOfTx(t, g.Str("transaction")))
	if rec.Action != "gift.create" || rec.Actor != "wang" || rec.OnBehalf != "nainai" {
		t.Fatalf("audit: got %s by %s for %s", rec.Action, rec.Actor, rec.OnBehalf)
	}
	n := tb.must(201, "POST", "/v1/needs", coord, map[string]any{"community": "c1", "category": "elder_care", "title": "买菜"}, HeaderOnBehalf, "nainai")
	if n.Str("requester") != "nainai" {
		t.Fatalf("need for the resident: got %s", n.Raw)
	}
	if rec := tb.lastRecord(); rec.Actor != "wang" || rec.OnBehalf != "nainai" || rec.Content["title"] != "买菜" {
		t.Fatalf("need audit: got %s for %s %v", rec.Actor, rec.OnBehalf, rec.Content)
	}
	id := tb.service(coord, "li", "nainai", "c1", "elder_care", "1.00", time.Hour)
	c := tb.must(200, "POST", "/v1/services/"+id+"/confirm", coord, nil, HeaderOnBehalf, "nainai")
	if rec := tb.record(tbSeqOfTx(t, c.Str("transaction"))); rec.Action != "service.confirm" || rec.Actor != "wang" || rec.OnBehalf != "nainai" {
		t.Fatalf("confirm audit: got %s by %s for %s", rec.Action, rec.Actor, rec.OnBehalf)
	}
	// The record itself names both too.
	if c.Str("decided_by") != "wang" || c.Str("decided_for") != "nainai" {
		t.Fatalf("the confirmed record: %s", c.Raw)
	}
	// Acting for the volunteer, a coordinator cannot confirm their service,
	// and acting for a resident, cannot use staff rights.
	id2 := tb.service(coord, "li", "nainai", "c1", "elder_care", "1.00", 3*time.Hour)
	tbProblem(t, tb.do("POST", "/v1/services/"+id2+"/confirm", coord, nil, HeaderOnBehalf, "li"), 403, "self_confirmation")
	tbProblem(t, tb.do("POST", "/v1/services/"+id2+"/confirm", coord, nil, HeaderOnBehalf, "wang"), 403, "forbidden")
	if m := tb.must(200, "GET", "/v1/members/nainai", coord, nil); m.Str("display_name") != "王奶奶" {
		t.Fatalf("Chinese name: got %s", m.Raw)
	}
	// Acting for nainai, the coordinator has nainai's rights: another
	// member is not found, to read or to change (the record would say
	// nainai asked for it), and nainai's own data is theirs.
	size := tb.auditSize()
	tbProblem(t, tb.do("PATCH", "/v1/members/li", coord, map[string]any{"display_name": "改名"}, HeaderOnBehalf, "nainai"), 404, "not_found")
	tbProblem(t, tb.do("GET", "/v1/members/li", coord, nil, HeaderOnBehalf, "nainai"), 404, "not_found")
	tbProblem(t, tb.do("GET", "/v1/accounts/li:HOUR", coord, nil, HeaderOnBehalf, "nainai"), 404, "not_found")
	tbProblem(t, tb.do("GET", "/v1/accounts/li:HOUR/entries", coord, nil, HeaderOnBehalf, "nainai"), 404, "not_found")
	if got := tb.auditSize(); got != size {
		t.Fatalf("refused requests wrote %d records", got-size)
	}
	tbProblem(t, tb.do("POST", "/v1/auth/logout", coord, map[string]any{}, HeaderOnBehalf, "nainai"), 403, "forbidden")
	tb.must(200, "GET", "/v1/accounts/nainai:HOUR", coord, nil, HeaderOnBehalf, "nainai")
	tb.must(200, "PATCH", "/v1/members/nainai", coord, map[string]any{"display_name": "王奶奶"}, HeaderOnBehalf, "nainai")
}

// TestReversedCrossCommunityCredit: a service credit paid across
// communities makes one owe the other; staff reversing it take that back,
// so the settlement view and the clearing balances agree again.
func TestReversedCrossCommunityCredit(t *testing.T) {
	// With a storage cap the credit is paid in two legs (to the volunteer
	// and the overflow to the pool), and so is its reversal; the settlement
	// kept only the last leg (found by a reports probe).
	for _, policy := range []map[string]any{
		{"earning": "mutual_credit", "credit_limit": "10.00"},
		{"earning": "mutual_credit", "credit_limit": "10.00", "max_balance": "0.60"},
	} {
		t.Run(fmt.Sprint(policy), func(t *testing.T) { reversedCrossCommunityCredit(t, policy) })
	}
}

func reversedCrossCommunityCredit(t *testing.T, policy map[string]any) {
	tb := newTBServer(t)
	tb.community("d", "", nil)
	tb.community("a", "d", nil)
	tb.community("b", "d", policy)
	coordB := tb.resident("zhou", "b", nil, nil, "coordinator")
	tb.resident("sun", "b", nil, nil, "resident", "volunteer")
	li := tb.resident("li", "a", nil, nil, "resident")
	tb.fund("a", "li", "3.00")
	// Under mutual credit the recipient pays: li, of community a.
	id := tb.service(coordB, "sun", "li", "b", "elder_care", "1.00", time.Hour)
	tb.must(200, "POST", "/v1/services/"+id+"/confirm", li, nil)
	s := tb.must(200, "GET", "/v1/settlements?community=b", coordB, nil)
	if items, _ := s.Body["items"].([]any); len(items) != 1 || s.Str("clearing_balance") == "0.00" {
		t.Fatalf("after a credit paid across communities: %s", s.Raw)
	}
	tb.must(200, "POST", "/v1/services/"+id+"/reject", coordB, map[string]any{"reason": "记录有误"})
	s = tb.must(200, "GET", "/v1/settlements?community=b", coordB, nil)
	for _, it := range s.Body["items"].([]any) {
		if h := it.(map[string]any)["hours"]; h != "0.00" {
			t.Fatalf("after the reversal the settlement still says %s", s.Raw)
		}
	}
	if s.Str("clearing_balance") != "0.00" {
		t.Fatalf("clearing after the reversal: %s", s.Raw)
	}
	tb.sumsToZero("a", "li")
	tb.sumsToZero("b", "zhou", "sun")
}

// TestSettlementOfAParent: a street's settlement view covers the
// communities under it: a gift from a member of one to a relative in
// another shows once, and the clearing balances sum to zero over the
// two.
func TestSettlementOfAParent(t *testing.T) {
	tb := newTBServer(t)
	tb.community("street", "", nil)
	tb.community("a", "street", nil)
	tb.community("b", "street", nil)
	aud := tb.resident("aud", "street", nil, nil, "auditor")
	tb.resident("zhang", "b", nil, nil, "resident")
	li := tb.resident("li", "a", nil, []string{"zhang"}, "resident")
	tb.fund("a", "li", "3.00")
	tb.must(201, "POST", "/v1/gifts", li, map[string]any{"from": "li", "to": "zhang", "hours": "2.00"})
	s := tb.must(200, "GET", "/v1/settlements?community=street", aud, nil)
	items, _ := s.Body["items"].([]any)
	if len(items) != 1 || s.Str("clearing_balance") != "0.00" {
		t.Fatalf("street settlement: %s, want one pair and clearing 0.00", s.Raw)
	}
	if it := items[0].(map[string]any); it["from"] != "a" || it["to"] != "b" || it["hours"] != "2.00" {
		t.Fatalf("street settlement: %s, want a owes b 2.00", s.Raw)
	}
	if s := tb.must(200, "GET", "/v1/settlements?community=a", aud, nil); s.Str("clearing_balance") != "2.00" {
		t.Fatalf("a's settlement: %s", s.Raw)
	}
}

// TestRedemptionReversal: a posted redemption recorded in error — redeemed
// at once or a completed booking, across communities — is corrected by a
// coordinator of the community where it was redeemed: the member has the
// credits back, what the communities owe each other and the redemptions
// report are corrected, and the record names the reversal. Nobody else
// reverses it: the member, the home community's coordinator, a relative
// of the member; a booking is cancelled, not reversed; twice is refused.
func TestRedemptionReversal(t *testing.T) {
	tb, coordA, coordB, li := twoCommunities(t)
	son := tb.resident("son", "b", nil, []string{"li"}, "coordinator")
	auditor := tb.resident("aud", "d", nil, nil, "auditor")
	tb.fund("a", "li", "5.00")
	redeem := func(hours string, book bool) string {
		return tb.must(201, "POST", "/v1/redemptions", li, map[string]any{"member": "li", "community": "b", "hours": hours, "item": "理发", "book": book}).Str("id")
	}
	r1, r2, r3 := redeem("2.00", false), redeem("1.00", true), redeem("1.00", true)
	tb.must(200, "POST", "/v1/redemptions/"+r2+"/complete", coordB, nil)
	// A booking's hold, settled or not, is the workflow's: the transfer
	// routes refuse it alike.
	for _, id := range []string{r2, r3} {
		hold := tb.must(200, "GET", "/v1/redemptions/"+id, li, nil).Str("transaction")
		for _, verb := range []string{"post", "void"} {
			tbProblem(t, tb.do("POST", "/v1/transfers/"+hold+"/"+verb, tb.admin, nil), 403, "forbidden")
		}
	}
	day := tb.clock().In(timebank.DayZone).Format(time.DateOnly) // reports count China days
	report := func() (string, any) {
		r := tb.must(200, "GET", "/v1/reports/services?community=d&from="+day+"&to="+day, auditor, nil)
		return r.Str("credits_redeemed"), r.Body["redemptions"]
	}
	if h, n := report(); h != "3.00" || n != 2.0 {
		t.Fatalf("report before: %s in %v redemptions, want 3.00 in 2", h, n)
	}
	reverse := func(tok, id, reason string) response {
		body := map[string]any{}
		if reason != "" {
			body["reason"] = reason
		}
		return tb.do("POST", "/v1/redemptions/"+id+"/reverse", tok, body)
	}
	size := tb.auditSize()
	tbProblem(t, reverse(li, r1, "录错了"), 403, "forbidden")
	tbProblem(t, reverse(coordA, r1, "录错了"), 403, "forbidden")
	tbProblem(t, reverse(son, r1, "录错了"), 403, "conflict_of_interest")
	tbProblem(t, reverse(coordB, r1, ""), 400, "invalid_request")
	// The missing reason is bad input whatever the id, as on every route
	// (probe s25c: an unknown id was 404 first).
	tbProblem(t, reverse(coordB, "red-unknown", ""), 400, "invalid_request")
	for _, path := range []string{"/v1/redemptions/red-unknown/reverse", "/v1/transfers/tx-unknown/reverse", "/v1/donations/don-unknown/reverse"} {
		for _, reason := range []string{"", "  \t"} {
			tbProblem(t, tb.do("POST", path, coordB, map[string]any{"reason": reason}), 400, "invalid_request")
		}
	}
	tbProblem(t, reverse(coordB, r3, "录错了"), 409, "wrong_state")
	if got := tb.auditSize(); got != size {
		t.Fatalf("refused reversals wrote %d records", got-size)
	}
	v := tb.must(200, "POST", "/v1/redemptions/"+r1+"/reverse", coordB, map[string]any{"reason": "录错了"})
	if v.Str("status") != "reversed" || v.Str("reversal") == "" || v.Str("reason") != "录错了" {
		t.Fatalf("reversal: %s", v.Raw)
	}
	if rec := tb.lastRecord(); rec.Action != "redemption.reverse" || rec.Content["id"] != r1 || rec.Content["reversal"] != v.Str("reversal") {
		t.Fatalf("record %s %v", rec.Action, rec.Content)
	}
	tbProblem(t, reverse(coordB, r1, "again"), 409, "already_reversed")
	tb.must(200, "POST", "/v1/redemptions/"+r2+"/reverse", coordB, map[string]any{"reason": "重复登记"})
	if g := tb.must(200, "GET", "/v1/redemptions/"+r2, li, nil); g.Str("status") != "reversed" {
		t.Fatalf("the member sees %s", g.Raw)
	}
	acct := tb.must(200, "GET", "/v1/accounts/li:HOUR", li, nil)
	if acct.Str("balance") != "5.00" || acct.Str("available") != "4.00" {
		t.Fatalf("li after the reversals (r3 still booked): %s", acct.Raw)
	}
	for acct, bal := range map[string]string{"a:clearing": "0.00", "b:clearing": "0.00", "b:redemptions": "0.00"} {
		if got := tb.balance(acct); got != bal {
			t.Fatalf("%s: %s, want %s", acct, got, bal)
		}
	}
	s := tb.must(200, "GET", "/v1/settlements?community=a", coordA, nil)
	if s.Str("clearing_balance") != "0.00" || strings.Contains(string(s.Raw), `"hours":"3.00"`) || strings.Contains(string(s.Raw), `"hours":"2.00"`) {
		t.Fatalf("settlement after the reversals: %s", s.Raw)
	}
	if h, n := report(); h != "0.00" || n != 0.0 {
		t.Fatalf("report after: %s in %v redemptions, want none", h, n)
	}
	tb.sumsToZero("a", "wang", "li")
	tb.sumsToZero("b", "zhou", "son")
}

// TestMutualCreditDebtStaysHome: a member of a mutual-credit community
// may redeem into debt within the credit limit at home, whose members
// carry it, but not in another community (通存通兑), whose claim on the
// member's community would rest on that debt — as a debt cannot be given
// away either.
func TestMutualCreditDebtStaysHome(t *testing.T) {
	tb := newTBServer(t)
	tb.community("d", "", nil)
	tb.community("mc", "d", map[string]any{"earning": "mutual_credit", "credit_limit": "5.00"})
	tb.community("dep", "d", nil)
	rb := tb.resident("rb", "mc", nil, nil, "resident")
	size := tb.auditSize()
	tbProblem(t, tb.do("POST", "/v1/redemptions", rb, map[string]any{"member": "rb", "community": "dep", "hours": "1.00", "item": "爱心超市 大米"}), 422, "insufficient_funds")
	if tb.auditSize() != size {
		t.Fatal("a refused redemption wrote a record")
	}
	tb.must(201, "POST", "/v1/redemptions", rb, map[string]any{"member": "rb", "community": "mc", "hours": "1.00", "item": "tea"})
	if got := tb.balance("rb:HOUR"); got != "-1.00" {
		t.Fatalf("a redemption at home within the credit limit: balance %s, want -1.00", got)
	}
	tbProblem(t, tb.do("POST", "/v1/redemptions", rb, map[string]any{"member": "rb", "community": "dep", "hours": "0.50", "item": "爱心超市 大米", "book": true}), 422, "insufficient_funds")
	tb.sumsToZero("mc", "rb")
}

// TestMutualCreditDebtStaysHomeForServices: a recipient from another
// mutual-credit community pays a volunteer of this one from credits
// earned only, not from their own community's credit line (a probe put a
// member 10 h into debt so, and clearing then owed the volunteer's
// community what rested on that debt).
func TestMutualCreditDebtStaysHomeForServices(t *testing.T) {
	tb := newTBServer(t)
	tb.community("d", "", nil)
	tb.community("mc1", "d", map[string]any{"earning": "mutual_credit", "credit_limit": "10.00"})
	tb.community("mc2", "d", map[string]any{"earning": "mutual_credit", "credit_limit": "10.00"})
	vol := tb.resident("v2", "mc2", nil, nil, "resident", "volunteer")
	rec := tb.resident("r1", "mc1", nil, nil, "resident")
	id := tb.must(201, "POST", "/v1/services", vol, map[string]any{"volunteer": "v2", "recipient": "r1", "community": "mc2",
		"category": "elder_care", "hours": "2.00", "occurred_at": tb.ago(3 * time.Hour)}).Str("id")
	size := tb.auditSize()
	tbProblem(t, tb.do("POST", "/v1/services/"+id+"/confirm", rec, nil), 422, "insufficient_funds")
	if tb.auditSize() != size || tb.balance("r1:HOUR") != "0.00" {
		t.Fatalf("a refused confirmation wrote (%d → %d) or moved credits (%s)", size, tb.auditSize(), tb.balance("r1:HOUR"))
	}
	// With credits earned at home, the recipient pays.
	tb.fund("mc1", "r1", "3.00")
	tb.must(200, "POST", "/v1/services/"+id+"/confirm", rec, nil)
	if got := tb.balance("r1:HOUR"); got != "1.00" {
		t.Fatalf("the recipient after paying from earned credits: %s", got)
	}
	tb.sumsToZero("mc1", "r1")
}

// TestReversalAboveTheCap: a correction that pays a member back above
// their storage cap sends the part above it to the pool, as the overflow
// rule would have had the corrected move never been made — a member at
// the cap charged for goods never handed over is refunded (probe s27d:
// it was 422 max_balance_exceeded, with no way to correct it). A
// reversal the pool itself pays is still refused above the cap, and a
// frozen member gets nothing back even where all of it would overflow.
func TestReversalAboveTheCap(t *testing.T) {
	tb := newTBServer(t)
	tb.community("c1", "", map[string]any{"max_balance": "2.00"})
	coord := tb.resident("wang", "c1", nil, nil, "coordinator")
	li := tb.resident("li", "c1", nil, nil, "resident")
	tb.resident("son", "c1", nil, []string{"li"}, "resident")
	tb.fund("c1", "li", "2.00")
	red := tb.must(201, "POST", "/v1/redemptions", li, map[string]any{"member": "li", "community": "c1", "hours": "1.50", "item": "大米"}).Str("id")
	gift := tb.must(201, "POST", "/v1/gifts", li, map[string]any{"from": "li", "to": "son", "hours": "0.25"}).Str("id")
	toPool := tb.must(201, "POST", "/v1/gifts", li, map[string]any{"from": "li", "to": "c1:pool", "hours": "0.25"}).Str("id")
	tb.fund("c1", "li", "2.00") // back at the cap: 0.00 + 2.00
	// The pool's own gift back would put li above the cap: refused.
	size := tb.auditSize()
	tbProblem(t, tb.do("POST", "/v1/transfers/"+toPool+"/reverse", tb.admin, map[string]any{"reason": "误操作"}), 422, "max_balance_exceeded")
	tb.must(200, "POST", "/v1/accounts/li:HOUR/status", tb.admin, map[string]any{"status": "frozen"})
	size++ // the freeze
	tbProblem(t, tb.do("POST", "/v1/redemptions/"+red+"/reverse", coord, map[string]any{"reason": "大米未发放"}), 422, "account_frozen")
	if got := tb.auditSize(); got != size {
		t.Fatalf("refused reversals wrote %d records", got-size)
	}
	tb.must(200, "POST", "/v1/accounts/li:HOUR/status", tb.admin, map[string]any{"status": "open"})
	// Lower li to 1.75 so that 0.25 of the 1.50 refund fits.
	tb.must(201, "POST", "/v1/gifts", li, map[string]any{"from": "li", "to": "son", "hours": "0.25"})
	v := tb.must(200, "POST", "/v1/redemptions/"+red+"/reverse", coord, map[string]any{"reason": "大米未发放"})
	if v.Str("status") != "reversed" || v.Str("refunded_to_pool") != "1.25" {
		t.Fatalf("reversal: %s", v.Raw)
	}
	if li, pool, red := tb.balance("li:HOUR"), tb.balance("c1:pool"), tb.balance("c1:redemptions"); li != "2.00" || pool != "1.50" || red != "0.00" {
		t.Fatalf("after the refund at the cap: li %s pool %s redemptions %s, want 2.00, 1.50 (0.25 given + 1.25 over), 0.00", li, pool, red)
	}
	r := tb.must(200, "GET", "/v1/transfers/"+v.Str("reversal"), tb.admin, nil)
	ps, _ := r.Body["postings"].([]any)
	if r.Str("reverses") == "" || len(ps) != 2 || r.Str("memo") != "redemption "+red+" reversed: 大米未发放" {
		t.Fatalf("the refund's transaction: %s", r.Raw)
	}
	// A gift back to a giver at the cap: all of it to the pool.
	g := tb.must(201, "POST", "/v1/transfers/"+gift+"/reverse", tb.admin, map[string]any{"reason": "误操作"})
	if gp, _ := g.Body["postings"].([]any); len(gp) != 1 || gp[0].(map[string]any)["to"] != "c1:pool" || gp[0].(map[string]any)["from"] != "son:HOUR" {
		t.Fatalf("a gift reversed to a giver at the cap: %s", g.Raw)
	}
	if li, son, pool := tb.balance("li:HOUR"), tb.balance("son:HOUR"), tb.balance("c1:pool"); li != "2.00" || son != "0.25" || pool != "1.75" {
		t.Fatalf("after the gift's reversal: li %s son %s pool %s", li, son, pool)
	}
	tb.sumsToZero("c1", "li", "son", "wang")
	if rep, err := tb.store.Audit().Verify(t.Context(), audit.VerifyOptions{}); err != nil {
		t.Fatalf("the chain with diverted reversals: %v %+v", err, rep)
	}
}

// TestSettlingLinesSayWhy: the history lines of a booking completed or
// cancelled, and of a held credit settled, name their record (and the
// reason given, when it fits a memo), so an elderly member reading the
// passbook sees why the credits moved (probe s27d: no memo at all).
func TestSettlingLinesSayWhy(t *testing.T) {
	tb := newTBServer(t)
	tb.community("c1", "", map[string]any{"settlement_delay": "1h"})
	coord := tb.resident("wang", "c1", nil, nil, "coordinator")
	li := tb.resident("li", "c1", nil, nil, "resident", "volunteer")
	tb.resident("zhang", "c1", nil, nil, "resident")
	tb.fund("c1", "li", "3.00")
	book := func() string {
		return tb.must(201, "POST", "/v1/redemptions", li, map[string]any{"member": "li", "community": "c1", "hours": "1.00", "item": "理发", "book": true}).Str("id")
	}
	done, gone, long := book(), book(), book()
	tb.must(200, "POST", "/v1/redemptions/"+done+"/complete", coord, map[string]any{"reason": "已理发"})
	tb.must(200, "POST", "/v1/redemptions/"+gone+"/cancel", li, nil)
	tb.must(200, "POST", "/v1/redemptions/"+long+"/complete", coord, map[string]any{"reason": strings.Repeat("理", 166)})
	svc := tb.service(coord, "li", "zhang", "c1", "elder_care", "1.00", 3*time.Hour)
	tb.must(200, "POST", "/v1/services/"+svc+"/confirm", coord, nil)
	disputed := tb.service(coord, "li", "zhang", "c1", "elder_care", "0.50", 5*time.Hour)
	tb.must(200, "POST", "/v1/services/"+disputed+"/confirm", coord, nil)
	tb.must(200, "POST", "/v1/services/"+disputed+"/reject", coord, map[string]any{"reason": "核实未服务"})
	tb.advance(2 * time.Hour)
	memos := map[string]bool{}
	r := tb.must(200, "GET", "/v1/accounts/li:HOUR/entries?limit=100", li, nil)
	for _, it := range r.Body["items"].([]any) {
		e := it.(map[string]any)
		if e["kind"] != "pending" {
			memo, _ := e["memo"].(string)
			memos[memo] = true
		}
	}
	for _, want := range []string{"service " + disputed + " disputed: 核实未服务", "redemption " + done + " completed: 已理发", "redemption " + gone + " cancelled", "redemption " + long + " completed", "service " + svc + " settled"} {
		if !memos[want] {
			t.Fatalf("no line reads %q: %v", want, memos)
		}
	}
}

// TestReversalAboveTheCapEdges (review s27e): a gift that overflowed,
// given back to a giver with room for part of it, counts the pool's leg
// back against the giver's room and sends the rest of the relative's leg
// to the pool; a gift to the pool given back to a giver with some room
// leaves the rest in the pool; a mutual-credit credit that overflowed is
// refunded to its payer likewise; an erased member is refused alike
// whether or not anything fits.
func TestReversalAboveTheCapEdges(t *testing.T) {
	tb := newTBServer(t)
	tb.community("c1", "", map[string]any{"max_balance": "2.00"})
	tb.resident("wang", "c1", nil, nil, "coordinator")
	li := tb.resident("li", "c1", nil, nil, "resident")
	tb.resident("son", "c1", nil, []string{"li"}, "resident")
	tb.fund("c1", "li", "2.00")
	tb.fund("c1", "son", "1.50")
	g := tb.must(201, "POST", "/v1/gifts", li, map[string]any{"from": "li", "to": "son", "hours": "1.00"})
	if g.Str("overflow") != "0.50" {
		t.Fatalf("gift: %s", g.Raw)
	}
	toPool := tb.must(201, "POST", "/v1/gifts", li, map[string]any{"from": "li", "to": "c1:pool", "hours": "0.25"}).Str("id")
	tb.fund("c1", "li", "0.45") // li 1.20: room 0.80 ≥ the pool's 0.50, < 1.00
	tb.must(201, "POST", "/v1/transfers/"+g.Str("id")+"/reverse", tb.admin, map[string]any{"reason": "误操作"})
	if li, son, pool := tb.balance("li:HOUR"), tb.balance("son:HOUR"), tb.balance("c1:pool"); li != "2.00" || son != "1.50" || pool != "0.45" {
		t.Fatalf("an overflowed gift given back: li %s son %s pool %s, want 2.00 1.50 0.45 (0.25 given + 0.20 over)", li, son, pool)
	}
	tb.must(201, "POST", "/v1/gifts", li, map[string]any{"from": "li", "to": "son", "hours": "0.10"}) // son 1.60, li 1.90
	r := tb.must(201, "POST", "/v1/transfers/"+toPool+"/reverse", tb.admin, map[string]any{"reason": "误操作"})
	if ps, _ := r.Body["postings"].([]any); len(ps) != 1 || ps[0].(map[string]any)["amount"] != "0.10" {
		t.Fatalf("a gift to the pool given back to a giver with 0.10 of room: %s", r.Raw)
	}
	if li, pool := tb.balance("li:HOUR"), tb.balance("c1:pool"); li != "2.00" || pool != "0.35" {
		t.Fatalf("after it: li %s pool %s, want 2.00 and 0.35", li, pool)
	}
	tb.sumsToZero("c1", "li", "son", "wang")

	// Mutual credit: the recipient paid; the credit overflowed at the
	// volunteer; the refund counts the pool's leg back too.
	tb.community("m", "", map[string]any{"earning": "mutual_credit", "credit_limit": "10.00", "max_balance": "2.00"})
	mc := tb.resident("zhao", "m", nil, nil, "coordinator")
	tb.resident("vol", "m", nil, nil, "resident", "volunteer")
	tb.resident("old", "m", nil, nil, "resident")
	tb.fund("m", "vol", "1.50")
	svc := tb.service(mc, "vol", "old", "m", "elder_care", "1.00", 3*time.Hour)
	if c := tb.must(200, "POST", "/v1/services/"+svc+"/confirm", mc, nil); c.Str("overflow") != "0.50" {
		t.Fatalf("confirm: %s", c.Raw)
	}
	tb.fund("m", "old", "2.20") // old 1.20: room 0.80
	tb.must(200, "POST", "/v1/services/"+svc+"/reject", mc, map[string]any{"reason": "未服务"})
	if vol, old, pool := tb.balance("vol:HOUR"), tb.balance("old:HOUR"), tb.balance("m:pool"); vol != "1.50" || old != "2.00" || pool != "0.20" {
		t.Fatalf("a mutual-credit refund: vol %s old %s pool %s, want 1.50 2.00 0.20", vol, old, pool)
	}
	tb.sumsToZero("m", "vol", "old", "zhao")

	// An erased member: nothing diverted — refused above the cap as
	// before (422), and with room as an erased account (409: only
	// towards zero), never split so that the pool takes it all.
	tb.community("e", "", map[string]any{"max_balance": "2.00"})
	ec := tb.resident("qian", "e", nil, nil, "coordinator")
	gone := tb.resident("gone", "e", nil, nil, "resident")
	tb.fund("e", "gone", "2.00")
	r1 := tb.must(201, "POST", "/v1/redemptions", gone, map[string]any{"member": "gone", "community": "e", "hours": "0.50", "item": "米"}).Str("id")
	r2 := tb.must(201, "POST", "/v1/redemptions", gone, map[string]any{"member": "gone", "community": "e", "hours": "0.50", "item": "面"}).Str("id")
	tb.fund("e", "gone", "0.75") // 1.75
	tb.must(200, "POST", "/v1/members/gone/erase", tb.admin, map[string]any{"reason": "PIPL"})
	size := tb.auditSize()
	tbProblem(t, tb.do("POST", "/v1/redemptions/"+r1+"/reverse", ec, map[string]any{"reason": "错"}), 422, "max_balance_exceeded")
	tb.must(200, "PUT", "/v1/communities/e/policy", tb.admin, map[string]any{"earning": "deposit", "max_balance": "1.50"})
	size++
	tbProblem(t, tb.do("POST", "/v1/redemptions/"+r2+"/reverse", ec, map[string]any{"reason": "错"}), 422, "max_balance_exceeded")
	tb.must(200, "PUT", "/v1/communities/e/policy", tb.admin, map[string]any{"earning": "deposit", "max_balance": "5.00"})
	size++
	tbProblem(t, tb.do("POST", "/v1/redemptions/"+r2+"/reverse", ec, map[string]any{"reason": "错"}), 409, "conflict")
	if got := tb.auditSize(); got != size {
		t.Fatalf("refused reversals wrote %d records", got-size)
	}
	if rep, err := tb.store.Audit().Verify(t.Context(), audit.VerifyOptions{}); err != nil {
		t.Fatalf("verify: %v %+v", err, rep)
	}
}

// TestReversalPoolLegLast (review s27h): an overflowed gift given back to
// a giver with some room fills that room from the relative's leg first;
// the pool pays back only what that leaves, so a pool that granted the
// overflow away since does not refuse a reversal whose end state is
// legal. Only a giver with more room than the relative's leg needs the
// pool to pay out (refused when it cannot).
func TestReversalPoolLegLast(t *testing.T) {
	for room, want := range map[string]struct {
		status        int
		li, son, pool string
	}{
		"0.00": {201, "2.00", "1.50", "0.50"},
		"0.30": {201, "2.00", "1.50", "0.20"},
		"0.50": {201, "2.00", "1.50", "0.00"},
		"0.70": {422, "1.30", "2.00", "0.00"},
	} {
		t.Run(room, func(t *testing.T) {
			tb := newTBServer(t)
			tb.community("c1", "", map[string]any{"max_balance": "2.00"})
			coord := tb.resident("wang", "c1", nil, nil, "coordinator")
			li := tb.resident("li", "c1", nil, nil, "resident")
			tb.resident("son", "c1", nil, []string{"li"}, "resident")
			tb.resident("zhang", "c1", nil, nil, "resident")
			tb.fund("c1", "li", "2.00")
			tb.fund("c1", "son", "1.50")
			g := tb.must(201, "POST", "/v1/gifts", li, map[string]any{"from": "li", "to": "son", "hours": "1.00"}) // son 2.00, pool 0.50
			tb.must(201, "POST", "/v1/grants", coord, map[string]any{"community": "c1", "member": "zhang", "hours": "0.50", "reason": "帮扶"})
			r, _ := ledger.ParseAmount(room, ledger.HOUR)
			tb.fund("c1", "li", ledger.FormatAmount(100-r, ledger.HOUR)) // li at 2.00 less room
			ans := tb.do("POST", "/v1/transfers/"+g.Str("id")+"/reverse", tb.admin, map[string]any{"reason": "误操作"})
			if ans.Status != want.status {
				t.Fatalf("room %s: %d %s", room, ans.Status, ans.Raw)
			}
			if li, son, pool := tb.balance("li:HOUR"), tb.balance("son:HOUR"), tb.balance("c1:pool"); li != want.li || son != want.son || pool != want.pool {
				t.Fatalf("room %s: li %s son %s pool %s, want %s %s %s", room, li, son, pool, want.li, want.son, want.pool)
			}
			tb.sumsToZero("c1", "li", "son", "zhang", "wang")
		})
	}
}

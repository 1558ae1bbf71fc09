package api

import (
	"testing"
	"time"
)

// TestStaffDoNotCreditThemselvesOrFamily: a coordinator may not register
// a relative of their own; once another has, the coordinator tries every
// way to move credits to
// themself or that relative — a transfer from issuance, a pool grant, a
// gift made for the relative to the coordinator, confirming the
// relative's service hours. Each is refused (forbidden for themself,
// conflict_of_interest for a relative) and writes nothing; another
// coordinator may. A staff transfer out of a resident's account needs a
// memo and is recorded as made for the resident (代办).
func TestStaffDoNotCreditThemselvesOrFamily(t *testing.T) {
	ts := newTestServer(t)
	ts.community("c1", "", nil)
	wang := ts.member("wang", "c1", "coordinator")
	liu := ts.member("liu", "c1", "coordinator")
	ts.member("li", "c1", "resident")
	ts.member("zhang", "c1", "resident")
	mother := map[string]any{"id": "wang-mother", "community": "c1",
		"display_name": "王母", "roles": []string{"resident", "volunteer"}, "relatives": []string{"wang"}}
	if r := ts.do("POST", "/v1/members", wang, mother); r.Status != 403 {
		t.Fatalf("a coordinator registering their own relative: %d %s, want 403", r.Status, r.Raw)
	}
	// Nor may another coordinator name a coordinator (or a committee
	// member) someone's relative: that decides who recuses; an admin does.
	if r := ts.do("POST", "/v1/members", liu, mother); r.Status != 403 || r.Code() != "forbidden" {
		t.Fatalf("a coordinator naming another coordinator a relative: %d %s, want 403 forbidden", r.Status, r.Raw)
	}
	ts.must(201, "POST", "/v1/members", ts.admin, mother)
	pay := func(from, to, memo string) map[string]any {
		b := map[string]any{"postings": []any{map[string]any{"from": from, "to": to, "amount": "5.00", "unit": "HOUR"}}}
		if memo != "" {
			b["memo"] = memo
		}
		return b
	}
	ts.must(201, "POST", "/v1/transfers", liu, pay("c1:issuance", "wang-mother:HOUR", ""))
	ts.must(201, "POST", "/v1/transfers", liu, pay("c1:issuance", "li:HOUR", ""))
	ts.must(201, "POST", "/v1/transfers", liu, pay("c1:issuance", "c1:pool", ""))
	svc := ts.must(201, "POST", "/v1/services", liu, map[string]any{"volunteer": "wang-mother", "recipient": "zhang",
		"community": "c1", "category": "elder_care", "hours": "1.00", "occurred_at": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)}).Str("id")
	toWang := ts.must(201, "POST", "/v1/services", liu, map[string]any{"volunteer": "wang-mother", "recipient": "wang",
		"community": "c1", "category": "elder_care", "hours": "1.00", "occurred_at": time.Now().Add(-3 * time.Hour).UTC().Format(time.RFC3339)}).Str("id")
	hold := func(to string) string {
		b := pay("c1:issuance", to, "")
		b["pending"] = true
		return ts.must(201, "POST", "/v1/transfers", liu, b).Str("id")
	}
	holdMother, holdWang := hold("wang-mother:HOUR"), hold("wang:HOUR")
	ts.must(201, "POST", "/v1/transfers", liu, pay("c1:issuance", "wang:HOUR", "")) // wang has credits to hold
	fromWang := ts.must(201, "POST", "/v1/transfers", liu, map[string]any{"pending": true, "memo": "待核", "postings": []any{
		map[string]any{"from": "wang:HOUR", "to": "c1:pool", "amount": "1.00", "unit": "HOUR"}}}).Str("id")
	size := ts.auditSize()
	for _, c := range []struct {
		name, path, token string
		body              any
		headers           []string
		status            int
		code              string
	}{
		{"transfer to themself", "/v1/transfers", wang, pay("c1:issuance", "wang:HOUR", ""), nil, 403, "forbidden"},
		{"transfer to a relative", "/v1/transfers", wang, pay("c1:issuance", "wang-mother:HOUR", ""), nil, 403, "conflict_of_interest"},
		{"a resident's credits to a relative", "/v1/transfers", wang, pay("li:HOUR", "wang-mother:HOUR", "调整"), nil, 403, "conflict_of_interest"},
		{"grant to a relative", "/v1/grants", wang, map[string]any{"community": "c1", "member": "wang-mother", "hours": "1.00", "reason": "帮扶"}, nil, 403, "conflict_of_interest"},
		{"gift made for the relative to themself", "/v1/gifts", wang, map[string]any{"from": "wang-mother", "to": "wang", "hours": "1.00"},
			[]string{HeaderOnBehalf, "wang-mother"}, 403, "forbidden"},
		// wang-mother is no relative of li: the answer any stranger gets,
		// not one that says whose relative she is.
		{"gift made for li to wang's relative", "/v1/gifts", wang, map[string]any{"from": "li", "to": "wang-mother", "hours": "1.00"},
			[]string{HeaderOnBehalf, "li"}, 422, "not_relative"},
		{"confirm a relative's hours", "/v1/services/" + svc + "/confirm", wang, nil, []string{HeaderOnBehalf, "zhang"}, 403, "conflict_of_interest"},
		{"confirm a relative's hours as staff", "/v1/services/" + svc + "/confirm", wang, nil, nil, 403, "conflict_of_interest"},
		{"confirm a relative's hours as their recipient", "/v1/services/" + toWang + "/confirm", wang, nil, nil, 403, "conflict_of_interest"},
		{"post another's hold to a relative", "/v1/transfers/" + holdMother + "/post", wang, nil, nil, 403, "conflict_of_interest"},
		{"post another's hold to themself", "/v1/transfers/" + holdWang + "/post", wang, nil, nil, 403, "forbidden"},
		{"post part of another's hold to themself", "/v1/transfers/" + holdWang + "/post", wang, map[string]any{"amount": "1.00"}, nil, 403, "forbidden"},
		{"void a hold on their own credits", "/v1/transfers/" + fromWang + "/void", wang, nil, nil, 403, "forbidden"},
		{"post a little of a hold on their own credits (the rest comes back)", "/v1/transfers/" + fromWang + "/post", wang, map[string]any{"amount": "0.01"}, nil, 403, "forbidden"},
		{"two residents' credits at once", "/v1/transfers", wang, map[string]any{"memo": "调整", "postings": []any{
			map[string]any{"from": "li:HOUR", "to": "c1:pool", "amount": "1.00", "unit": "HOUR"},
			map[string]any{"from": "wang-mother:HOUR", "to": "c1:pool", "amount": "1.00", "unit": "HOUR"}}}, nil, 400, "invalid_request"},
	} {
		r := ts.do("POST", c.path, c.token, c.body, c.headers...)
		if r.Status != c.status || r.Code() != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, r.Status, r.Raw, c.status, c.code)
		}
	}
	if got := ts.auditSize(); got != size {
		t.Fatalf("refused requests wrote %d records", got-size)
	}
	// memo is optional (SPEC §7a): credits taken from a resident without
	// one carry a memo saying so, made for the resident.
	ts.must(201, "POST", "/v1/transfers", liu, pay("c1:issuance", "li:HOUR", ""))
	if r := ts.must(201, "POST", "/v1/transfers", wang, pay("li:HOUR", "zhang:HOUR", "")); r.Str("memo") != "taken out of the account of li by wang (no reason given)" || r.Str("on_behalf") != "li" {
		t.Fatalf("a resident's credits without a memo: %s", r.Raw)
	}
	if got := ts.balance("wang-mother:HOUR"); got != "5.00" {
		t.Fatalf("the relative's balance: %s, want 5.00", got)
	}
	// Another coordinator confirms, and posts the holds.
	ts.must(200, "POST", "/v1/services/"+svc+"/confirm", liu, nil)
	ts.must(200, "POST", "/v1/transfers/"+holdMother+"/post", liu, nil)
	ts.must(200, "POST", "/v1/transfers/"+holdWang+"/post", liu, nil)
	// A staff transfer out of a resident's account, with a memo, is made
	// for the resident: the transaction and the record name both.
	r := ts.must(201, "POST", "/v1/transfers", wang, pay("li:HOUR", "zhang:HOUR", "误转更正"))
	if r.Str("actor") != "wang" || r.Str("on_behalf") != "li" {
		t.Fatalf("transfer out of li's account: actor %q on_behalf %q, want wang for li", r.Str("actor"), r.Str("on_behalf"))
	}
	if rec := ts.lastRecord(); rec.Actor != "wang" || rec.OnBehalf != "li" {
		t.Fatalf("record: actor %q on behalf %q", rec.Actor, rec.OnBehalf)
	}
	// A need posted by staff for a resident, without X-On-Behalf-Of, is
	// recorded as posted for them too (as a redemption is).
	ts.must(201, "POST", "/v1/needs", wang, map[string]any{"community": "c1", "requester": "zhang", "category": "elder_care", "title": "陪同就医"})
	if rec := ts.lastRecord(); rec.Actor != "wang" || rec.OnBehalf != "zhang" {
		t.Fatalf("need posted for zhang: actor %q on behalf %q", rec.Actor, rec.OnBehalf)
	}
}

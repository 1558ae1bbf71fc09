package api

import (
	"bytes"
	stdcsv "encoding/csv"
	"slices"
	"strings"
	"testing"
	"time"

	"tally/ledger/timebank"
)

// dayStart is the start of the calendar day (China Standard Time) d days
// before the store's now.
func (tb *tbServer) dayStart(d int) time.Time {
	t := tb.clock().AddDate(0, 0, -d).In(timebank.DayZone)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, timebank.DayZone)
}

// serviceAt logs a service at an exact time and returns its id.
func (tb *tbServer) serviceAt(token, volunteer, recipient, c, category, hours string, at time.Time) string {
	tb.t.Helper()
	return tb.must(201, "POST", "/v1/services", token, map[string]any{"volunteer": volunteer, "recipient": recipient,
		"community": c, "category": category, "hours": hours, "occurred_at": at.Format(time.RFC3339)}).Str("id")
}

// TestServiceReport: the report sums confirmed records of the subtree in
// the period, by category, with turn-outs, redemptions, outstanding
// credits and the pool; CSV on request; scoped.
func TestServiceReport(t *testing.T) {
	tb := newTBServer(t)
	tb.community("d", "", nil)
	tb.community("a", "d", map[string]any{"weights": map[string]any{"elder_care": "2.00"}})
	tb.community("b", "d", nil)
	coordA := tb.resident("wang", "a", nil, nil, "coordinator")
	coordB := tb.resident("zhou", "b", nil, nil, "coordinator")
	li := tb.resident("li", "a", nil, nil, "volunteer")
	zhang := tb.resident("zhang", "a", nil, nil, "resident")
	sun := tb.resident("sun", "b", nil, nil, "volunteer")
	tb.resident("qian", "b", nil, nil, "resident")
	tb.must(201, "POST", "/v1/members", tb.admin, map[string]any{"id": "aud", "community": "d", "display_name": "审计", "roles": []string{"auditor"}, "username": "aud", "password": "password-aud"})
	auditor := tb.login("aud", "password-aud")

	d3, d2 := tb.dayStart(3), tb.dayStart(2)
	confirm := func(tok, id string) { tb.must(200, "POST", "/v1/services/"+id+"/confirm", tok, nil) }
	confirm(zhang, tb.serviceAt(li, "li", "zhang", "a", "elder_care", "2.00", d3.Add(9*time.Hour)))
	confirm(zhang, tb.serviceAt(li, "li", "zhang", "a", "group_work", "1.00", d3.Add(14*time.Hour)))
	confirm(coordB, tb.serviceAt(sun, "sun", "qian", "b", "elder_care", "1.50", d2.Add(9*time.Hour)))
	tb.serviceAt(sun, "sun", "qian", "b", "elder_care", "1.00", d2.Add(12*time.Hour)) // pending: not counted
	confirm(zhang, tb.serviceAt(li, "li", "zhang", "a", "elder_care", "0.50", tb.dayStart(40).Add(9*time.Hour)))
	tb.fund("a", "zhang", "3.00")
	tb.must(201, "POST", "/v1/redemptions", zhang, map[string]any{"member": "zhang", "community": "a", "hours": "1.00", "item": "助餐"})

	q := "/v1/reports/services?community=d&from=" + tb.dayStart(10).Format(time.DateOnly) + "&to=" + tb.dayStart(0).Format(time.DateOnly)
	r := tb.must(200, "GET", q, auditor, nil)
	want := map[string]any{"hours_credited": "4.50", "credits_earned": "6.50", "records": 3.0, "volunteers": 2.0,
		"recipients": 2.0, "groups_served": 0.0, "turn_outs": 2.0, "credits_redeemed": "1.00", "redemptions": 1.0,
		"credits_outstanding": "9.50", "pool_balance": "0.00", "credits_held": "0.00"}
	for k, v := range want {
		if r.Body[k] != v {
			t.Fatalf("%s: got %v, want %v in %s", k, r.Body[k], v, r.Raw)
		}
	}
	cats, _ := r.Body["by_category"].(map[string]any)
	if ec, _ := cats["elder_care"].(map[string]any); ec["records"] != 2.0 || ec["hours"] != "3.50" || ec["credits"] != "5.50" {
		t.Fatalf("by_category: got %s", r.Raw)
	}
	csv := tb.must(200, "GET", q, auditor, nil, "Accept", "text/csv")
	if !strings.HasPrefix(csv.Header.Get("Content-Type"), "text/csv") ||
		!strings.HasPrefix(string(csv.Raw), "category,records,hours,credits,community,from,to,") ||
		!strings.Contains(string(csv.Raw), "\ntotal,") || !strings.Contains(string(csv.Raw), "\nelder_care,2,3.50,5.50,d,") {
		t.Fatalf("csv: got %s %s", csv.Header.Get("Content-Type"), csv.Raw)
	}
	// One rectangular table (a loader that wants one header and a fixed
	// column count reads it), its total row with the JSON's figures.
	table, err := stdcsv.NewReader(bytes.NewReader(csv.Raw)).ReadAll()
	if err != nil || len(table) < 3 || table[1][0] != "total" || table[1][2] != "4.50" {
		t.Fatalf("csv as one table: %v %q", err, table)
	}
	tbProblem(t, tb.do("GET", q, coordA, nil), 403, "forbidden")
	tbProblem(t, tb.do("GET", q, li, nil), 403, "forbidden")
	qa := strings.Replace(q, "community=d", "community=a", 1)
	if r := tb.must(200, "GET", qa, coordA, nil); r.Body["records"] != 2.0 {
		t.Fatalf("community a alone: got %s", r.Raw)
	}
	// Balances are those at the end of the period: every credit above was
	// committed today, so a period that ended yesterday had none yet, and
	// a gift made now changes today's pool but not yesterday's.
	tb.must(201, "POST", "/v1/gifts", zhang, map[string]any{"from": "zhang", "to": "a:pool", "hours": "0.50"})
	if r := tb.must(200, "GET", q, auditor, nil); r.Body["pool_balance"] != "0.50" || r.Body["credits_outstanding"] != "9.50" {
		t.Fatalf("period to today after a gift: %s", r.Raw)
	}
	past := "/v1/reports/services?community=d&from=" + tb.dayStart(10).Format(time.DateOnly) + "&to=" + tb.dayStart(1).Format(time.DateOnly)
	if r := tb.must(200, "GET", past, auditor, nil); r.Body["pool_balance"] != "0.00" || r.Body["credits_outstanding"] != "0.00" {
		t.Fatalf("period that ended yesterday: %s", r.Raw)
	}
	// Two communities' groups of one name are two groups; recipients
	// counts people.
	for _, g := range []struct{ tok, vol, c, coord string }{{li, "li", "a", coordA}, {sun, "sun", "b", coordB}} {
		r := tb.must(201, "POST", "/v1/services", g.tok, map[string]any{"volunteer": g.vol, "recipient": "elders-group", "recipient_kind": "group",
			"community": g.c, "category": "group_work", "hours": "1.00", "occurred_at": d2.Add(15 * time.Hour).Format(time.RFC3339)})
		confirm(g.coord, r.Str("id"))
	}
	if r := tb.must(200, "GET", q, auditor, nil); r.Body["recipients"] != 2.0 || r.Body["groups_served"] != 2.0 {
		t.Fatalf("after two communities' elders-group: recipients %v groups_served %v, want 2 and 2: %s", r.Body["recipients"], r.Body["groups_served"], r.Raw)
	}
	tbProblem(t, tb.do("GET", "/v1/reports/services?community=d&from=2025-13-01", auditor, nil), 400, "invalid_request")
	tbProblem(t, tb.do("GET", "/v1/reports/services?community=nowhere", auditor, nil), 404, "not_found")
}

// TestCollusionSignals: a reciprocal loop, a three-way loop and a pair
// confirming each other far above the others are listed, never refused.
func TestCollusionSignals(t *testing.T) {
	tb := newTBServer(t)
	tb.community("s", "", nil)
	coord := tb.resident("wang", "s", nil, nil, "coordinator")
	tok := map[string]string{}
	for _, m := range []string{"li", "zhang", "sun", "qian"} {
		tok[m] = tb.resident(m, "s", nil, nil, "resident", "volunteer")
	}
	day := tb.dayStart(1)
	n := 0
	serve := func(v, r string) {
		n++
		id := tb.serviceAt(tok[v], v, r, "s", "case_work", "0.50", day.Add(time.Duration(n)*time.Hour))
		tb.must(200, "POST", "/v1/services/"+id+"/confirm", tok[r], nil)
	}
	for range 3 {
		serve("li", "zhang")
		serve("zhang", "li")
	}
	serve("zhang", "sun")
	serve("sun", "li")
	serve("qian", "sun")
	r := tb.must(200, "GET", "/v1/signals?community=s&from="+day.Format(time.DateOnly)+"&to="+day.Format(time.DateOnly), coord, nil)
	loops, _ := r.Body["loops"].([]any)
	pairs, _ := r.Body["pairs"].([]any)
	got := string(r.Raw)
	if len(loops) != 2 || !strings.Contains(got, `"members":["li","zhang"],"records":6`) || !strings.Contains(got, `"members":["li","zhang","sun"]`) {
		t.Fatalf("loops: got %s", got)
	}
	if len(pairs) != 1 || pairs[0].(map[string]any)["records"] != 6.0 {
		t.Fatalf("pairs: got %s", got)
	}
	if single, _ := r.Body["single_handed"].([]any); single == nil || len(single) != 0 {
		t.Fatalf("single_handed before any: got %s", got)
	}
	// A coordinator who logs a service and confirms it themself is
	// listed (allowed, but one person issued the credits); a record the
	// volunteer logged and the coordinator confirmed is not.
	n++
	own := tb.serviceAt(coord, "qian", "li", "s", "case_work", "1.00", day.Add(time.Duration(n)*time.Hour))
	tb.must(200, "POST", "/v1/services/"+own+"/confirm", coord, nil)
	n++
	other := tb.serviceAt(tok["qian"], "qian", "li", "s", "case_work", "1.00", day.Add(time.Duration(n)*time.Hour))
	tb.must(200, "POST", "/v1/services/"+other+"/confirm", coord, nil)
	r = tb.must(200, "GET", "/v1/signals?community=s&from="+day.Format(time.DateOnly)+"&to="+day.Format(time.DateOnly), coord, nil)
	single, _ := r.Body["single_handed"].([]any)
	if len(single) != 1 || single[0].(map[string]any)["id"] != own {
		t.Fatalf("single_handed: want only %s, got %s", own, r.Raw)
	}
	tbProblem(t, tb.do("GET", "/v1/signals?community=s", tok["li"], nil), 403, "forbidden")
	if r := tb.do("GET", "/v1/signals", coord, nil); r.Status != 400 || !strings.Contains(r.Str("detail"), "required") {
		t.Fatalf("signals without a community: %d %s", r.Status, r.Raw)
	}
}

// TestCollusionPairsAreMutual: a pair is flagged only when each confirmed,
// in person, records of the other's service, far above the median of the
// other pairs. A volunteer visiting one elder every week (one way), or an
// offline elder whose confirmations a coordinator makes, is no signal;
// several colluding pairs do not hide each other by raising the norm.
func TestCollusionPairsAreMutual(t *testing.T) {
	tb := newTBServer(t)
	tb.community("s", "", nil)
	coord := tb.resident("wang", "s", nil, nil, "coordinator")
	tok := map[string]string{}
	for _, m := range []string{"a1", "a2", "b1", "b2", "c1", "c2", "v", "elder", "w", "off", "x1", "x2", "x3", "x4", "x5", "x6"} {
		tok[m] = tb.resident(m, "s", nil, nil, "resident", "volunteer")
	}
	day := tb.dayStart(1)
	n := 0
	serve := func(v, r string, obo bool) {
		n++
		id := tb.serviceAt(tok[v], v, r, "s", "case_work", "0.10", day.Add(time.Duration(n)*time.Minute*7))
		if obo {
			tb.must(200, "POST", "/v1/services/"+id+"/confirm", coord, nil, HeaderOnBehalf, r)
		} else {
			tb.must(200, "POST", "/v1/services/"+id+"/confirm", tok[r], nil)
		}
	}
	for range 3 { // three colluding pairs, six records each
		for _, p := range [][2]string{{"a1", "a2"}, {"b1", "b2"}, {"c1", "c2"}} {
			serve(p[0], p[1], false)
			serve(p[1], p[0], false)
		}
	}
	for range 6 {
		serve("v", "elder", false) // one way: the time bank working
		serve("w", "off", true)    // confirmed by a coordinator for her
	}
	serve("off", "w", false)
	for _, p := range [][2]string{{"x1", "x2"}, {"x3", "x4"}, {"x5", "x6"}, {"x2", "x3"}, {"x4", "x5"}, {"x6", "x1"}} {
		serve(p[0], p[1], false)
		serve(p[0], p[1], false)
	}
	r := tb.must(200, "GET", "/v1/signals?community=s&from="+day.Format(time.DateOnly)+"&to="+day.Format(time.DateOnly), coord, nil)
	pairs, _ := r.Body["pairs"].([]any)
	var got []string
	for _, p := range pairs {
		ms := p.(map[string]any)["members"].([]any)
		got = append(got, ms[0].(string)+"+"+ms[1].(string))
	}
	slices.Sort(got)
	if want := []string{"a1+a2", "b1+b2", "c1+c2"}; !slices.Equal(got, want) {
		t.Fatalf("pairs %v, want %v: %s", got, want, r.Raw)
	}
}

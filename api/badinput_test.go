package api

import (
	"context"
	"strings"
	"testing"
	"time"

	"tally/audit"
	"tally/ledger"
)

// TestBadInput sends hostile and malformed requests; each must answer a
// 4xx problem with the expected code and write nothing.
func TestBadInput(t *testing.T) {
	ts := newTestServer(t)
	ts.community("c1", "", nil)
	ts.community("c2", "", nil)
	coord := ts.member("coord", "c1", "coordinator")
	ts.member("li", "c1", "resident")
	resident := ts.member("zhang", "c1", "resident")
	ts.must(201, "POST", "/v1/members", ts.admin, map[string]any{"id": "far", "community": "c2", "display_name": "远", "roles": []string{"resident"}})
	ts.must(201, "POST", "/v1/transfers", ts.admin, map[string]any{"postings": []any{
		map[string]any{"from": "c1:issuance", "to": "li:HOUR", "amount": "5.00", "unit": "HOUR"}}})
	ts.must(201, "POST", "/v1/members", ts.admin, map[string]any{"id": "m-wu", "community": "c1", "display_name": "吴",
		"roles": []string{"resident"}, "username": "wu", "password": "password-wu"})
	// ':' may appear in an id (SPEC §7a) where it names no other entity's account.
	ts.must(201, "POST", "/v1/members", ts.admin, map[string]any{"id": "hx:m1", "community": "c1", "display_name": "冒号",
		"roles": []string{"resident"}})
	post := func(amount, unit, from, to string) map[string]any {
		return map[string]any{"postings": []any{map[string]any{"from": from, "to": to, "amount": amount, "unit": unit}}}
	}
	cases := []struct {
		name, method, path, token string
		body                      any
		status                    int
		code                      string
		headers                   []string
	}{
		{"malformed json", "POST", "/v1/transfers", ts.admin, `{"postings": [`, 400, "invalid_json", nil},
		{"empty body", "POST", "/v1/transfers", ts.admin, ``, 400, "invalid_json", nil},
		{"trailing data", "POST", "/v1/transfers", ts.admin, `{"postings": []} {}`, 400, "invalid_json", nil},
		{"unknown field", "POST", "/v1/transfers", ts.admin, `{"postings": [], "admin": true}`, 400, "unknown_field", nil},
		{"wrong type", "POST", "/v1/transfers", ts.admin, `{"postings": "all"}`, 400, "invalid_json", nil},
		{"oversize body", "POST", "/v1/transfers", ts.admin, `{"memo":"` + strings.Repeat("x", MaxBodyBytes) + `"}`, 413, "body_too_large", []string{"Expect", "100-continue"}},
		{"not json", "POST", "/v1/transfers", ts.admin, "x", 400, "invalid_json", nil},
		{"form data", "POST", "/v1/transfers", ts.admin, "a=b", 415, "unsupported_media_type", []string{"Content-Type", "application/x-www-form-urlencoded"}},
		{"text", "POST", "/v1/gifts", ts.admin, `{"from":"zhang","to":"c1:pool","hours":"1.00"}`, 415, "unsupported_media_type", []string{"Content-Type", "text/plain"}},
		{"JSON in another charset", "POST", "/v1/gifts", ts.admin, `{"from":"zhang","to":"c1:pool","hours":"1.00"}`, 415, "unsupported_media_type", []string{"Content-Type", "application/json; charset=latin1"}},
		{"compressed body", "POST", "/v1/gifts", ts.admin, `{"from":"zhang","to":"c1:pool","hours":"1.00"}`, 415, "unsupported_media_type", []string{"Content-Encoding", "gzip"}},
		{"two Authorization headers", "GET", "/v1/accounts/zhang:HOUR", ts.admin, nil, 400, "invalid_request", []string{"authorization", "Bearer garbage"}},
		{"two X-On-Behalf-Of headers", "GET", "/v1/accounts/zhang:HOUR", ts.admin, nil, 400, "invalid_request", []string{"X-On-Behalf-Of", "zhang", "X-On-Behalf-Of", "zhang"}},
		{"lone high surrogate escape", "POST", "/v1/transfers", ts.admin, `{"postings":[{"from":"c1:issuance","to":"zhang:HOUR","amount":"1.00","unit":"HOUR"}],"memo":"\ud800"}`, 400, "invalid_json", nil},
		{"lone low surrogate escape", "POST", "/v1/transfers", ts.admin, `{"postings":[{"from":"c1:issuance","to":"zhang:HOUR","amount":"1.00","unit":"HOUR"}],"memo":"a\udc00"}`, 400, "invalid_json", nil},
		{"long id in a path", "GET", "/v1/members/" + strings.Repeat("x", 10000), ts.admin, nil, 400, "invalid_id", nil},
		{"hardship not a flag", "POST", "/v1/members", ts.admin, map[string]any{"id": "h1", "community": "c1", "display_name": "x", "roles": []string{"resident"},
			"personal": map[string]string{"hardship": "yes"}}, 400, "invalid_request", nil},
		{"unknown need status", "GET", "/v1/needs?community=c1&status=bogus", ts.admin, nil, 400, "invalid_request", nil},
		{"unknown service status", "GET", "/v1/services?community=c1&status=bogus", ts.admin, nil, 400, "invalid_request", nil},
		{"too many decimals", "POST", "/v1/transfers", ts.admin, post("1.001", "HOUR", "li:HOUR", "zhang:HOUR"), 400, "invalid_amount", nil},
		{"zero", "POST", "/v1/transfers", ts.admin, post("0", "HOUR", "li:HOUR", "zhang:HOUR"), 400, "invalid_amount", nil},
		{"negative", "POST", "/v1/transfers", ts.admin, post("-1.00", "HOUR", "li:HOUR", "zhang:HOUR"), 400, "invalid_amount", nil},
		{"exponent", "POST", "/v1/transfers", ts.admin, post("1e3", "HOUR", "li:HOUR", "zhang:HOUR"), 400, "invalid_amount", nil},
		{"huge", "POST", "/v1/transfers", ts.admin, post("99999999999999999999999", "HOUR", "li:HOUR", "zhang:HOUR"), 400, "invalid_amount", nil},
		{"NaN", "POST", "/v1/transfers", ts.admin, post("NaN", "HOUR", "li:HOUR", "zhang:HOUR"), 400, "invalid_amount", nil},
		{"number not string", "POST", "/v1/transfers", ts.admin, `{"postings":[{"from":"li:HOUR","to":"zhang:HOUR","amount":1.5,"unit":"HOUR"}]}`, 400, "invalid_json", nil},
		{"unknown unit", "POST", "/v1/transfers", ts.admin, post("1.00", "BTC", "li:HOUR", "zhang:HOUR"), 400, "unknown_unit", nil},
		{"wrong unit", "POST", "/v1/transfers", ts.admin, post("1.00", "CNY", "li:HOUR", "zhang:HOUR"), 400, "unit_mismatch", nil},
		{"unknown account", "POST", "/v1/transfers", ts.admin, post("1.00", "HOUR", "li:HOUR", "nobody:HOUR"), 404, "not_found", nil},
		{"bad account id", "POST", "/v1/transfers", ts.admin, post("1.00", "HOUR", "li:HOUR", "../etc"), 400, "invalid_id", nil},
		{"two members' accounts debited, one empty", "POST", "/v1/transfers", coord, `{"postings":[{"from":"zhang:HOUR","to":"c1:pool","amount":"1.00","unit":"HOUR"},{"from":"li:HOUR","to":"c1:pool","amount":"1.00","unit":"HOUR"}]}`, 400, "invalid_request", nil},
		{"same account", "POST", "/v1/transfers", ts.admin, post("1.00", "HOUR", "li:HOUR", "li:HOUR"), 400, "same_account", nil},
		{"overdraft", "POST", "/v1/transfers", ts.admin, post("5.01", "HOUR", "li:HOUR", "zhang:HOUR"), 422, "insufficient_funds", nil},
		{"resident makes transfer", "POST", "/v1/transfers", resident, post("1.00", "HOUR", "li:HOUR", "zhang:HOUR"), 403, "forbidden", nil},
		{"coordinator out of scope", "POST", "/v1/transfers", coord, post("1.00", "HOUR", "c2:issuance", "far:HOUR"), 403, "forbidden", nil},
		{"raw transfer across communities", "POST", "/v1/transfers", ts.admin, post("1.00", "HOUR", "c1:issuance", "far:HOUR"), 403, "forbidden", nil},
		{"raw transfer out of a clearing account", "POST", "/v1/transfers", ts.admin, post("1.00", "HOUR", "c1:clearing", "c1:pool"), 403, "forbidden", nil},
		{"raw transfer into a clearing account", "POST", "/v1/transfers", coord, post("1.00", "HOUR", "c1:issuance", "c1:clearing"), 403, "forbidden", nil},
		{"raw transfer out of the redemptions account", "POST", "/v1/transfers", coord, post("1.00", "HOUR", "c1:redemptions", "li:HOUR"), 403, "forbidden", nil},
		{"coordinator credits themself", "POST", "/v1/transfers", coord, post("1.00", "HOUR", "c1:issuance", "coord:HOUR"), 403, "forbidden", nil},
		{"resident reads other account", "GET", "/v1/accounts/li:HOUR", resident, nil, 404, "not_found", nil},
		{"coordinator grants admin", "POST", "/v1/members", coord, map[string]any{"id": "x1", "community": "c1", "display_name": "x", "roles": []string{"admin"}}, 403, "forbidden", nil},
		{"coordinator adds member elsewhere", "POST", "/v1/members", coord, map[string]any{"id": "x2", "community": "c2", "display_name": "x", "roles": []string{"resident"}}, 403, "forbidden", nil},
		{"relative outside scope", "POST", "/v1/members", coord, map[string]any{"id": "x3", "community": "c1", "display_name": "x", "roles": []string{"resident"}, "relatives": []string{"far"}}, 404, "not_found", nil},
		{"duplicate member", "POST", "/v1/members", ts.admin, map[string]any{"id": "li", "community": "c1", "display_name": "x", "roles": []string{"resident"}}, 409, "already_exists", nil},
		{"bad idempotency key", "POST", "/v1/transfers", ts.admin, post("1.00", "HOUR", "li:HOUR", "zhang:HOUR"), 400, "invalid_idempotency_key", []string{"Idempotency-Key", strings.Repeat("k", MaxIdempotencyKey+1)}},
		{"bad limit", "GET", "/v1/accounts/li:HOUR/entries?limit=100000", ts.admin, nil, 400, "invalid_request", nil},
		{"bad cursor", "GET", "/v1/accounts/li:HOUR/entries?after=zz", ts.admin, nil, 400, "invalid_request", nil},
		{"unknown route", "GET", "/v1/nothing", ts.admin, nil, 404, "not_found", nil},
		{"on behalf by resident", "POST", "/v1/transfers", resident, post("1.00", "HOUR", "li:HOUR", "zhang:HOUR"), 403, "forbidden", []string{HeaderOnBehalf, "li"}},
		{"on behalf on a staff route", "POST", "/v1/transfers", coord, post("1.00", "HOUR", "c1:issuance", "li:HOUR"), 403, "forbidden", []string{HeaderOnBehalf, "li"}},
		{"void a posted transfer", "POST", "/v1/transfers/tx-0/void", ts.admin, nil, 404, "not_found", nil},
		{"dot-dot member id", "POST", "/v1/members", ts.admin, map[string]any{"id": "..", "community": "c1", "display_name": "x", "roles": []string{"resident"}}, 400, "invalid_id", nil},
		{"dot member id", "POST", "/v1/members", ts.admin, map[string]any{"id": ".", "community": "c1", "display_name": "x", "roles": []string{"resident"}}, 400, "invalid_id", nil},
		{"escaped slash in an account id", "GET", "/v1/accounts/li%2F", ts.admin, nil, 400, "invalid_id", nil},
		{"escaped slash as a fund id", "GET", "/v1/public/funds/%2F", "", nil, 400, "invalid_id", nil},
		{"escaped slash as a service id", "GET", "/v1/services/%2F", ts.admin, nil, 400, "invalid_id", nil},
		{"escaped slash as an item id", "POST", "/v1/communities/c1/catalogue/a%2Fb/withdraw", coord, `{}`, 400, "invalid_id", nil},
		{"NUL in an item id", "POST", "/v1/communities/c1/catalogue/a%00b/withdraw", coord, `{}`, 400, "invalid_id", nil},
		{"long item id", "POST", "/v1/communities/c1/catalogue/" + strings.Repeat("x", 5000) + "/withdraw", coord, `{}`, 400, "invalid_id", nil},
		{"zero hold timeout", "POST", "/v1/transfers", ts.admin, `{"postings":[{"from":"li:HOUR","to":"zhang:HOUR","amount":"1.00","unit":"HOUR"}],"pending":true,"timeout":"0s"}`, 400, "invalid_request", nil},
		{"services without a community", "GET", "/v1/services", ts.admin, nil, 400, "invalid_request", nil},
		{"services without a community (coordinator)", "GET", "/v1/services", coord, nil, 400, "invalid_request", nil},
		{"blank display name", "POST", "/v1/members", ts.admin, map[string]any{"id": "x5", "community": "c1", "display_name": "   ", "roles": []string{"resident"}}, 400, "invalid_request", nil},
		{"memo with a C1 control", "POST", "/v1/transfers", ts.admin, `{"postings":[{"from":"li:HOUR","to":"zhang:HOUR","amount":"1.00","unit":"HOUR"}],"memo":"a\u009bb"}`, 400, "invalid_request", nil},
		{"role listed twice", "POST", "/v1/members", ts.admin, map[string]any{"id": "x4", "community": "c1", "display_name": "x", "roles": []string{"resident", "resident"}}, 400, "invalid_request", nil},
		{"null body", "POST", "/v1/transfers", ts.admin, `null`, 400, "invalid_json", nil},
		{"array body", "POST", "/v1/transfers", ts.admin, `[]`, 400, "invalid_json", nil},
		{"string body", "POST", "/v1/transfers", ts.admin, `"x"`, 400, "invalid_json", nil},
		{"null policy", "PUT", "/v1/communities/c1/policy", ts.admin, `null`, 400, "invalid_json", nil},
		{"empty policy", "PUT", "/v1/communities/c1/policy", ts.admin, `{}`, 400, "invalid_request", nil},
		{"earning model changed", "PUT", "/v1/communities/c1/policy", ts.admin, `{"earning":"mutual_credit","credit_limit":"5.00"}`, 409, "conflict", nil},
		{"hardship age without a min_age", "PUT", "/v1/communities/c1/policy", ts.admin, `{"earning":"deposit","hardship_min_age":60}`, 400, "invalid_request", nil},
		{"hardship age above the min_age", "PUT", "/v1/communities/c1/policy", ts.admin, `{"earning":"deposit","min_age":65,"hardship_min_age":70}`, 400, "invalid_request", nil},
		{"field in other case", "POST", "/v1/transfers", ts.admin, `{"Postings":[{"from":"li:HOUR","to":"zhang:HOUR","amount":"1.00","unit":"HOUR"}]}`, 400, "unknown_field", nil},
		{"nested field in other case", "POST", "/v1/transfers", ts.admin, `{"postings":[{"FROM":"li:HOUR","to":"zhang:HOUR","amount":"1.00","unit":"HOUR"}]}`, 400, "unknown_field", nil},
		{"gift field in other case", "POST", "/v1/gifts", resident, `{"From":"zhang","to":"c1:pool","hours":"0.01"}`, 400, "unknown_field", nil},
		{"duplicate key", "POST", "/v1/gifts", resident, `{"from":"zhang","to":"c1:pool","hours":"0.01","hours":"1.00"}`, 400, "invalid_json", nil},
		{"nested duplicate key", "POST", "/v1/transfers", ts.admin, `{"postings":[{"from":"li:HOUR","to":"zhang:HOUR","amount":"1.00","amount":"2.00","unit":"HOUR"}]}`, 400, "invalid_json", nil},
		{"duplicate login password", "POST", "/v1/auth/token", "", `{"username":"zhang","password":"x","password":"y"}`, 400, "invalid_json", nil},
		{"invalid utf-8", "POST", "/v1/transfers", ts.admin, "{\"postings\":[{\"from\":\"li:HOUR\",\"to\":\"zhang:HOUR\",\"amount\":\"1.00\",\"unit\":\"HOUR\"}],\"memo\":\"\xff\xfe\"}", 400, "invalid_json", nil},
		{"body on erase that is not JSON", "POST", "/v1/members/zhang/erase", ts.admin, "this is not json", 400, "invalid_json", nil},
		{"unknown field on erase", "POST", "/v1/members/zhang/erase", ts.admin, `{"why":"x"}`, 400, "unknown_field", nil},
		{"field on a route without a body", "POST", "/v1/admin/keys/token/rotate", ts.admin, `{"x":1}`, 400, "unknown_field", nil},
		{"array on a route without a body", "POST", "/v1/admin/keys/checkpoint/rotate", ts.admin, `[]`, 400, "invalid_json", nil},
		{"member id with a colon", "POST", "/v1/members", ts.admin, map[string]any{"id": "c1:pool", "community": "c1", "display_name": "x", "roles": []string{"resident"}}, 400, "invalid_id", nil},
		{"community an existing id would extend", "POST", "/v1/communities", ts.admin, map[string]any{"id": "hx", "name": "x"}, 400, "invalid_id", nil},
		{"username that is another member's id", "POST", "/v1/members", ts.admin, map[string]any{"id": "x6", "community": "c1", "display_name": "x", "roles": []string{"resident"}, "username": "far", "password": "password-x6"}, 409, "already_exists", nil},
		{"member id that is another member's username", "POST", "/v1/members", ts.admin, map[string]any{"id": "wu", "community": "c1", "display_name": "x", "roles": []string{"resident"}}, 409, "already_exists", nil},
		{"zero quantity", "POST", "/v1/redemptions", ts.admin, `{"member":"li","community":"c1","hours":"1.00","item":"理发","quantity":0}`, 400, "invalid_request", nil},
		{"unknown field on need cancel", "POST", "/v1/needs/need-1/cancel", ts.admin, `{"why":"x"}`, 400, "unknown_field", nil},
		{"trailing slash", "GET", "/v1/accounts/li:HOUR/", ts.admin, nil, 404, "not_found", nil},
		// An optional amount, duration or name given as "" is refused, not
		// taken as left out (a post of "" posted the whole hold).
		{"a list of names where objects go", "POST", "/v1/funds", ts.admin, `{"id":"f9","community":"c1","name":"x","committee":["li"],"quorum":1,"projects":["elder"]}`, 400, "invalid_json", nil},
		{"empty post amount", "POST", "/v1/transfers/tx-0/post", ts.admin, `{"amount":""}`, 400, "invalid_amount", nil},
		{"empty hold timeout", "POST", "/v1/transfers", ts.admin, `{"postings":[{"from":"li:HOUR","to":"zhang:HOUR","amount":"1.00","unit":"HOUR"}],"pending":true,"timeout":""}`, 400, "invalid_request", nil},
		{"empty storage cap", "PUT", "/v1/communities/c1/policy", ts.admin, `{"earning":"deposit","max_balance":""}`, 400, "invalid_amount", nil},
		{"empty settlement delay", "PUT", "/v1/communities/c1/policy", ts.admin, `{"earning":"deposit","settlement_delay":""}`, 400, "invalid_request", nil},
		{"empty earning model of a new community", "POST", "/v1/communities", ts.admin, `{"id":"c9","name":"x","policy":{"earning":""}}`, 400, "invalid_request", nil},
		{"empty credit limit of a new community", "POST", "/v1/communities", ts.admin, `{"id":"c9","name":"x","policy":{"earning":"mutual_credit","credit_limit":""}}`, 400, "invalid_amount", nil},
		{"empty need hours", "POST", "/v1/needs", resident, `{"community":"c1","category":"elder_care","title":"x","hours":""}`, 400, "invalid_amount", nil},
		{"empty proposal deadline", "POST", "/v1/funds/nofund/proposals", coord, `{"amount":"1.00","beneficiary":"li","purpose":"x","deadline":""}`, 400, "invalid_request", nil},
		{"empty display name beside personal data", "PATCH", "/v1/members/zhang", ts.admin, `{"display_name":"","personal":{"notes":"abc"}}`, 400, "invalid_request", nil},
		// An id given as "" is no id, not the field left out: a blank
		// parent made a new district, a blank project unrestricted money,
		// a blank volunteer or requester the caller.
		{"empty parent", "POST", "/v1/communities", ts.admin, `{"id":"c8","name":"x","parent":""}`, 400, "invalid_id", nil},
		{"empty project of a donation", "POST", "/v1/funds/nofund/donations", coord, `{"donor":"Acme","amount":"1.00","project":""}`, 400, "invalid_id", nil},
		{"empty requester", "POST", "/v1/needs", coord, `{"community":"c1","requester":"","category":"elder_care","title":"x"}`, 400, "invalid_id", nil},
		{"empty volunteer of an offer", "POST", "/v1/offers", coord, `{"community":"c1","volunteer":"","category":"elder_care","title":"x"}`, 400, "invalid_id", nil},
		{"empty volunteer of a claim", "POST", "/v1/needs/need-1/claim", coord, `{"volunteer":""}`, 400, "invalid_id", nil},
		{"empty member of a grant", "POST", "/v1/grants", coord, `{"community":"c1","member":"","hours":"1.00","reason":"x"}`, 400, "invalid_id", nil},
		{"empty relative", "POST", "/v1/members", ts.admin, map[string]any{"id": "x7", "community": "c1", "display_name": "x", "roles": []string{"resident"}, "relatives": []string{""}}, 400, "invalid_id", nil},
		{"empty donor kind", "POST", "/v1/funds/nofund/donations", coord, `{"donor":"Acme","amount":"1.00","donor_kind":""}`, 400, "invalid_request", nil},
		{"empty recipient kind", "POST", "/v1/services", coord, `{"volunteer":"li","recipient":"zhang","recipient_kind":"","community":"c1","category":"elder_care","hours":"1.00","occurred_at":"2026-01-01T00:00:00Z"}`, 400, "invalid_request", nil},
		// A field left out is invalid_request on every route, never an
		// unknown (404) or malformed id.
		{"service without a community", "POST", "/v1/services", coord, `{"volunteer":"li","recipient":"zhang","category":"elder_care","hours":"1.00","occurred_at":"2026-01-01T00:00:00Z"}`, 400, "invalid_request", nil},
		{"gift without to", "POST", "/v1/gifts", resident, `{"from":"zhang","hours":"1.00"}`, 400, "invalid_request", nil},
		{"posting without a unit", "POST", "/v1/transfers", ts.admin, `{"postings":[{"from":"li:HOUR","to":"zhang:HOUR","amount":"1.00"}]}`, 400, "invalid_request", nil},
		{"service with a null community", "POST", "/v1/services", coord, `{"volunteer":"li","recipient":"zhang","community":null,"category":"elder_care","hours":"1.00","occurred_at":"2026-01-01T00:00:00Z"}`, 400, "invalid_request", nil},
		{"project id with a slash", "POST", "/v1/funds/nofund/projects", ts.admin, `{"id":"a/b","name":"x"}`, 400, "invalid_id", nil},
		{"beneficiary with a slash", "POST", "/v1/funds/nofund/proposals", coord, `{"amount":"1.00","beneficiary":"a/b","purpose":"x"}`, 400, "invalid_id", nil},
		{"service recipient with a slash", "POST", "/v1/services", coord, `{"volunteer":"li","recipient":"a/b","community":"c1","category":"elder_care","hours":"1.00","occurred_at":"2026-01-01T00:00:00Z"}`, 400, "invalid_id", nil},
		{"community without an id", "POST", "/v1/communities", ts.admin, `{"name":"x"}`, 400, "invalid_request", nil},
		// An id no id could be is invalid_id wherever it is named.
		{"community id with a slash", "POST", "/v1/services", coord, `{"volunteer":"li","recipient":"zhang","community":"a/b","category":"elder_care","hours":"1.00","occurred_at":"2026-01-01T00:00:00Z"}`, 400, "invalid_id", nil},
		{"need community with a NUL", "POST", "/v1/needs", resident, `{"community":"c1\u0000b","category":"elder_care","title":"x"}`, 400, "invalid_id", nil},
		{"parent with a slash", "POST", "/v1/communities", ts.admin, `{"id":"c7","name":"x","parent":"c1/.."}`, 400, "invalid_id", nil},
		{"empty X-On-Behalf-Of", "POST", "/v1/gifts", resident, `{"from":"zhang","to":"c1:pool","hours":"0.01"}`, 400, "invalid_request", []string{HeaderOnBehalf, ""}},
		{"time with twelve fraction digits", "POST", "/v1/services", coord, `{"volunteer":"li","recipient":"zhang","community":"c1","category":"elder_care","hours":"1.00","occurred_at":"2026-01-01T00:00:00.123456789123Z"}`, 400, "invalid_request", nil},
		{"time with a one-digit hour", "POST", "/v1/services", coord, `{"volunteer":"li","recipient":"zhang","community":"c1","category":"elder_care","hours":"1.00","occurred_at":"2026-01-01T1:00:00Z"}`, 400, "invalid_request", nil},
		{"community named as the ledger", "POST", "/v1/communities", ts.admin, `{"id":"System","name":"x"}`, 400, "invalid_id", nil},
		{"community differing only in case", "POST", "/v1/communities", ts.admin, `{"id":"C1","name":"x"}`, 409, "already_exists", nil},
		{"account id too long", "POST", "/v1/gifts", resident, map[string]any{"from": "zhang", "to": strings.Repeat("p", 200), "hours": "1.00"}, 400, "invalid_id", nil},
	}
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
				t.Fatalf("audit size %d after refused request, want %d", got, before)
			}
		})
	}
}

// TestFrozenAndClosedAccounts: a frozen account refuses postings either
// way and accepts them again once reopened; a closed one stays closed.
// TestAccountStatusNotOwn: nobody freezes, reopens or closes their own
// account or a registered relative's, not even an admin (another one
// does), and nothing is written by the refusals.
func TestAccountStatusNotOwn(t *testing.T) {
	ts := newTestServer(t)
	ts.community("c1", "", nil)
	coord := ts.member("wang", "c1", "coordinator")
	ts.member("wu", "c1", "coordinator")
	ts.must(201, "POST", "/v1/members", ts.admin, map[string]any{"id": "wang-mum", "community": "c1",
		"display_name": "王母", "roles": []string{"resident"}, "relatives": []string{"wang"}})
	size := ts.auditSize()
	for _, tc := range []struct{ token, account, status, code string }{
		{coord, "wang:HOUR", "frozen", "forbidden"},
		{coord, "wang-mum:HOUR", "frozen", "conflict_of_interest"},
		{ts.admin, "admin:HOUR", "frozen", "forbidden"},
	} {
		if r := ts.do("POST", "/v1/accounts/"+tc.account+"/status", tc.token, map[string]any{"status": tc.status}); r.Code() != tc.code {
			t.Errorf("%s %s: %d %s, want %s", tc.account, tc.status, r.Status, r.Raw, tc.code)
		}
	}
	if ts.auditSize() != size {
		t.Fatal("refused status changes wrote records")
	}
	// An admin freezes the coordinator's account; the coordinator cannot
	// lift it, nor can a colleague; the admin can.
	ts.must(200, "POST", "/v1/accounts/wang:HOUR/status", ts.admin, map[string]any{"status": "frozen", "reason": "核查"})
	if r := ts.do("POST", "/v1/accounts/wang:HOUR/status", coord, map[string]any{"status": "open"}); r.Status != 403 {
		t.Fatalf("reopening one's own frozen account: %d %s", r.Status, r.Raw)
	}
	for _, to := range []string{"open", "closed"} {
		if r := ts.do("POST", "/v1/accounts/wang:HOUR/status", ts.login("wu", "password-wu"), map[string]any{"status": to}); r.Status != 403 {
			t.Fatalf("a colleague making the account an admin froze %s: %d %s", to, r.Status, r.Raw)
		}
	}
	ts.must(200, "POST", "/v1/accounts/wang:HOUR/status", ts.admin, map[string]any{"status": "open"})
}

func TestFrozenAndClosedAccounts(t *testing.T) {
	ts := newTestServer(t)
	ts.community("c1", "", nil)
	coord := ts.member("wang", "c1", "coordinator")
	ts.member("li", "c1", "resident")
	ts.member("zhang", "c1", "resident")
	move := func(from, to string) response {
		return ts.do("POST", "/v1/transfers", coord, map[string]any{"memo": "账户核查", "postings": []any{
			map[string]any{"from": from, "to": to, "amount": "1.00", "unit": "HOUR"}}})
	}
	if r := move("c1:issuance", "li:HOUR"); r.Status != 201 {
		t.Fatalf("credit: %d %s", r.Status, r.Raw)
	}
	ts.must(200, "POST", "/v1/accounts/li:HOUR/status", coord, map[string]any{"status": "frozen", "reason": "账户核查"})
	size := ts.auditSize()
	for _, dir := range [][2]string{{"li:HOUR", "zhang:HOUR"}, {"c1:issuance", "li:HOUR"}} {
		if r := move(dir[0], dir[1]); r.Status != 422 || r.Code() != "account_frozen" {
			t.Fatalf("posting %s → %s on a frozen account: %d %s, want 422 account_frozen", dir[0], dir[1], r.Status, r.Raw)
		}
	}
	if ts.auditSize() != size {
		t.Fatalf("refused postings wrote records")
	}
	// A freeze is lifted by an admin, not by the coordinator in scope.
	if r := ts.do("POST", "/v1/accounts/li:HOUR/status", coord, map[string]any{"status": "open"}); r.Status != 403 || r.Code() != "forbidden" {
		t.Fatalf("a coordinator reopening a frozen account: %d %s, want 403 forbidden", r.Status, r.Raw)
	}
	ts.must(200, "POST", "/v1/accounts/li:HOUR/status", ts.admin, map[string]any{"status": "open"})
	if r := move("li:HOUR", "zhang:HOUR"); r.Status != 201 {
		t.Fatalf("after reopening: %d %s", r.Status, r.Raw)
	}
	if r := ts.do("POST", "/v1/accounts/zhang:HOUR/status", ts.admin, map[string]any{"status": "closed"}); r.Status != 409 || r.Code() != "conflict" {
		t.Fatalf("closing an account with a balance: %d %s, want 409 conflict", r.Status, r.Raw)
	}
	// Closing is for good (nobody reopens a closed account): an admin's.
	for _, id := range []string{"li:HOUR", "c1:clearing", "c1:issuance"} {
		if r := ts.do("POST", "/v1/accounts/"+id+"/status", coord, map[string]any{"status": "closed"}); r.Status != 403 || r.Code() != "forbidden" {
			t.Fatalf("a coordinator closing %s: %d %s, want 403 forbidden", id, r.Status, r.Raw)
		}
	}
	ts.must(200, "POST", "/v1/accounts/li:HOUR/status", ts.admin, map[string]any{"status": "closed"})
	if r := move("c1:issuance", "li:HOUR"); r.Status != 422 || r.Code() != "account_closed" {
		t.Fatalf("posting to a closed account: %d %s, want 422 account_closed", r.Status, r.Raw)
	}
	if r := ts.do("POST", "/v1/accounts/li:HOUR/status", coord, map[string]any{"status": "open"}); r.Status != 422 || r.Code() != "account_closed" {
		t.Fatalf("reopening a closed account: %d %s, want 422 account_closed", r.Status, r.Raw)
	}
	if r := ts.do("POST", "/v1/accounts/li:HOUR/status", coord, map[string]any{"status": "melted"}); r.Status != 400 {
		t.Fatalf("unknown status: %d %s, want 400", r.Status, r.Raw)
	}
	// The verifier replays the status changes with the postings.
	if rep, err := ts.store.Audit().Verify(t.Context(), audit.VerifyOptions{}); err != nil {
		t.Fatalf("verify: %v (%+v)", err, rep)
	}
}

func TestIdempotency(t *testing.T) {
	ts := newTestServer(t)
	ts.community("c1", "", nil)
	ts.member("li", "c1", "resident")
	body := map[string]any{"postings": []any{map[string]any{"from": "c1:issuance", "to": "li:HOUR", "amount": "1.25", "unit": "HOUR"}}}
	first := ts.must(201, "POST", "/v1/transfers", ts.admin, body, "Idempotency-Key", "k1")
	size := ts.auditSize()
	again := ts.must(201, "POST", "/v1/transfers", ts.admin, body, "Idempotency-Key", "k1")
	if again.Str("id") != first.Str("id") || again.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: got id %q replayed %q, want id %q replayed true", again.Str("id"), again.Header.Get("Idempotent-Replayed"), first.Str("id"))
	}
	if got := ts.auditSize(); got != size {
		t.Fatalf("replay wrote: audit size %d, want %d", got, size)
	}
	if got := ts.balance("li:HOUR"); got != "1.25" {
		t.Fatalf("balance after replay %s, want 1.25", got)
	}
	// The same JSON encoded differently (spacing, key order, escapes) is
	// the same request: a client that re-encodes before retrying gets its
	// original result.
	reencoded := ` { "postings" : [ { "unit":"HOUR", "amount":"1.25", "to":"li:HOUR", "from":"c1:\u0069ssuance" } ] } `
	if r := ts.must(201, "POST", "/v1/transfers", ts.admin, reencoded, "Idempotency-Key", "k1"); r.Str("id") != first.Str("id") || r.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("re-encoded replay: %s", r.Raw)
	}
	if got := ts.auditSize(); got != size {
		t.Fatalf("re-encoded replay wrote: audit size %d, want %d", got, size)
	}
	body["memo"] = "different"
	if r := ts.do("POST", "/v1/transfers", ts.admin, body, "Idempotency-Key", "k1"); r.Status != 409 || r.Code() != "idempotency_conflict" {
		t.Fatalf("same key, other body: %d %s, want 409 idempotency_conflict", r.Status, r.Raw)
	}
}

// TestRepeatedQueryParameter: a parameter given twice, a malformed query
// and (with a token) a parameter the route does not take are refused,
// not silently read as something else (a report over the wrong period
// looks like a right one).
func TestRepeatedQueryParameter(t *testing.T) {
	ts := newTestServer(t)
	ts.community("c1", "", nil)
	for _, path := range []string{
		"/v1/reports/services?community=c1&from=2026-11-18&to=2026-11-18&to=2026-11-30",
		"/v1/accounts/c1:pool/entries?limit=1&limit=500",
		"/v1/audit/records?from=0&from=1",
		// A pair Go's parser would drop: the report ran up to today.
		"/v1/reports/services?community=c1&from=2026-03-01&to=2026-03-31;",
		"/v1/accounts/c1:pool/entries?limit=2&after=%ZZ",
		// A parameter the route does not take: a typo, or a period
		// asked of the all-time settlement.
		"/v1/reports/services?community=c1&form=2026-03-01",
		"/v1/settlements?community=c1&from=2026-01-01&to=2026-02-01",
	} {
		if r := ts.do("GET", path, ts.admin, nil); r.Status != 400 || r.Code() != "invalid_request" {
			t.Errorf("%s: %d %s, want 400 invalid_request", path, r.Status, r.Raw)
		}
	}
	ts.must(200, "GET", "/v1/reports/services?community=c1&from=2026-11-18&to=2026-11-30", ts.admin, nil)
	// A public page ignores what a shared link adds, however it is
	// written, but not a parameter it takes given twice.
	for _, q := range []string{"from=singlemessage&isappinstalled=0", "x=a;b", "x=%zz", "x=1&x=2"} {
		ts.must(200, "GET", "/v1/public/funds?"+q, "", nil)
	}
	if r := ts.do("GET", "/v1/public/funds?limit=1&limit=2", "", nil); r.Status != 400 {
		t.Fatalf("a public list's limit given twice: %d %s, want 400", r.Status, r.Raw)
	}
	// A login or a refresh is no shared link: it takes no query at all.
	for _, q := range []string{"x=1", "x=%zz", "a=1;b=2", "limit=1&limit=2"} {
		for _, path := range []string{"/v1/auth/token?", "/v1/auth/refresh?"} {
			if r := ts.do("POST", path+q, "", map[string]any{"username": "admin", "password": "x"}); r.Status != 400 || r.Code() != "invalid_request" {
				t.Errorf("%s%s: %d %s, want 400 invalid_request", path, q, r.Status, r.Raw)
			}
		}
	}
	// A malformed pair naming a parameter a public route takes is not
	// dropped (a garbled cursor would start the list again).
	for _, q := range []string{"limit=1%zz", "limit=1;utm=x", "after=a;b", "utm=a;limit=1"} {
		if r := ts.do("GET", "/v1/public/funds?"+q, "", nil); r.Status != 400 {
			t.Fatalf("public %s: %d %s, want 400", q, r.Status, r.Raw)
		}
	}
}

// TestLongListsRefusedEarly: a list longer than any route takes is
// refused while the body is read, before the handler or the single
// writer looks its items up (10,000 relatives stalled every write).
func TestLongListsRefusedEarly(t *testing.T) {
	ts := newTestServer(t)
	ts.community("c1", "", nil)
	many := make([]string, 10000)
	for i := range many {
		many[i] = "li"
	}
	size := ts.auditSize()
	r := ts.do("POST", "/v1/members", ts.admin, map[string]any{"id": "m1", "community": "c1", "display_name": "x",
		"roles": []string{"resident"}, "relatives": many})
	if r.Status != 422 || r.Code() != "limit_exceeded" || !strings.Contains(r.Str("detail"), "relatives holds 10000 items") {
		t.Fatalf("10,000 relatives: %d %s", r.Status, r.Raw)
	}
	if ts.auditSize() != size {
		t.Fatal("a refused registration wrote a record")
	}
}

// TestReportPeriodYears: a period whose ends cannot be written back in
// RFC 3339 (before year 0 or after 9999 in UTC) is 400, not a 200 with
// an empty body; the widest days that can still be are answered.
func TestReportPeriodYears(t *testing.T) {
	ts := newTestServer(t)
	ts.serveWith(Config{Audit: recordsLog{ts.store.Audit()}})
	ts.community("c1", "", nil)
	ts.must(201, "POST", "/v1/members", ts.admin, map[string]any{"id": "cm1", "community": "c1", "display_name": "x", "roles": []string{"committee"}})
	ts.must(201, "POST", "/v1/members", ts.admin, map[string]any{"id": "cm2", "community": "c1", "display_name": "y", "roles": []string{"committee"}})
	ts.must(201, "POST", "/v1/funds", ts.admin, map[string]any{"id": "f1", "community": "c1", "name": "基金", "committee": []string{"cm1", "cm2"}, "quorum": 1})
	for _, q := range []string{"from=0000-01-01&to=0000-01-02", "to=9999-12-31T23:00:00-10:00", "from=0000-01-01T01:00:00%2B05:00",
		"from=0000-12-31", "from=0000-01-01T00:00:00Z"} {
		for _, path := range []string{"/v1/reports/funds/f1?" + q, "/v1/reports/postings?community=c1&" + q, "/v1/reports/services?community=c1&" + q} {
			if r := ts.do("GET", path, ts.admin, nil); r.Status != 400 || r.Code() != "invalid_request" {
				t.Errorf("%s: %d %q, want 400 invalid_request", path, r.Status, r.Raw)
			}
		}
	}
	for _, path := range []string{"/v1/reports/funds/f1?from=0001-01-01&to=9999-12-31", "/v1/reports/postings?community=c1&from=0001-01-01&to=9999-12-31",
		"/v1/reports/services?community=c1&from=0001-01-01&to=9999-12-31"} {
		if r := ts.do("GET", path, ts.admin, nil); r.Status != 200 || r.Body == nil {
			t.Errorf("%s: %d %q, want 200 with a body", path, r.Status, r.Raw)
		}
	}
}

// TestRawHoldOnClearingNotPosted: a raw hold on a clearing or
// redemptions account made before such transfers were refused is not
// posted (403, nothing written); it can still be voided.
func TestRawHoldOnClearingNotPosted(t *testing.T) {
	ts := newTestServer(t)
	ts.community("c1", "", nil)
	ts.member("li", "c1", "resident")
	var ids []string
	for _, from := range []string{"c1:clearing", "c1:redemptions"} {
		res, err := ts.store.Submit(context.Background(), ledger.Request{Actor: ledger.Actor{ID: "admin"}, Op: func(tx ledger.Tx) (any, error) {
			tr, err := ledger.Transfer(tx, ledger.TransferSpec{Postings: []ledger.Posting{{From: from, To: "li:HOUR", Amount: 100, Unit: ledger.HOUR}},
				Pending: true, Timeout: time.Hour})
			if err == nil {
				tx.Audit("tx.transfer", ledger.TxFields(tr))
			}
			return tr, err
		}})
		if err != nil {
			t.Fatalf("a hold from %s as an older version made it: %v", from, err)
		}
		ids = append(ids, res.Value.(*ledger.Transaction).ID)
	}
	size := ts.auditSize()
	for _, id := range ids {
		if r := ts.do("POST", "/v1/transfers/"+id+"/post", ts.admin, nil); r.Status != 403 || r.Code() != "forbidden" {
			t.Fatalf("posting raw hold %s: %d %s, want 403 forbidden", id, r.Status, r.Raw)
		}
	}
	if ts.auditSize() != size {
		t.Fatal("a refused post wrote a record")
	}
	for _, id := range ids {
		ts.must(200, "POST", "/v1/transfers/"+id+"/void", ts.admin, nil)
	}
}

// TestListItemTypeNamed: a list given items of the wrong type is told so
// ("each item of field "projects" must be an object"), not that the list
// itself must be an object.
func TestListItemTypeNamed(t *testing.T) {
	ts := newTestServer(t)
	ts.community("c1", "", nil)
	r := ts.do("POST", "/v1/funds", ts.admin, `{"id":"f9","community":"c1","name":"x","committee":[],"quorum":1,"projects":["elder"]}`)
	if r.Status != 400 || !strings.Contains(r.Str("detail"), `each item of field "projects" must be an object`) {
		t.Fatalf("%d %s", r.Status, r.Raw)
	}
	r = ts.do("POST", "/v1/funds", ts.admin, `{"id":"f9","community":"c1","name":"x","committee":[],"quorum":1,"projects":"elder"}`)
	if r.Status != 400 || strings.Contains(r.Str("detail"), "each item") {
		t.Fatalf("a string for the list: %d %s", r.Status, r.Raw)
	}
}

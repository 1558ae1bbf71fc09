package api

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"tally/ledger"
	"tally/ledger/fund"
	"tally/ledger/timebank"
)

// TestOpenAPIMatchesRouter walks gin's router: every registered route is
// in /openapi.json and every documented operation is registered; every
// documented request body lists exactly the JSON fields its Go type
// decodes.
func TestOpenAPIMatchesRouter(t *testing.T) {
	ts := newTestServer(t)
	r := ts.must(200, "GET", "/openapi.json", "", nil)
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(r.Raw, &doc); err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for p, ops := range doc.Paths {
		for m := range ops {
			documented[strings.ToUpper(m)+" "+p] = true
		}
	}
	registered := map[string]bool{}
	for _, ri := range ts.api.engine.Routes() {
		registered[ri.Method+" "+OpenAPIPath(ri.Path)] = true
	}
	var missing, extra []string
	for k := range registered {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if !registered[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 || len(extra) > 0 {
		t.Fatalf("undocumented routes %v; documented but not registered %v", missing, extra)
	}
	for _, rt := range ts.api.routes {
		if rt.req == nil {
			continue
		}
		typ := reflect.TypeOf(rt.req)
		s, ok := doc.Components.Schemas[schemaName(typ)]
		if !ok {
			t.Fatalf("%s %s: request schema %s missing", rt.method, rt.path, schemaName(typ))
		}
		var want, got []string
		for _, f := range Fields(typ) {
			want = append(want, f.Name)
		}
		for k := range s.Properties {
			got = append(got, k)
		}
		sort.Strings(want)
		sort.Strings(got)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s %s: documented fields %v, decoded fields %v", rt.method, rt.path, got, want)
		}
	}
}

var update = flag.Bool("update", false, "rewrite docs/openapi.json from the route table")

// TestOpenAPIGolden keeps docs/openapi.json, the copy of the document kept
// in the repository for readers without a running server, equal to what
// the server serves. Regenerate with: go test ./api -run Golden -update
func TestOpenAPIGolden(t *testing.T) {
	ts := newTestServer(t)
	got, err := json.MarshalIndent(ts.api.Document(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	const path = "../docs/openapi.json"
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("docs/openapi.json is stale: run go test ./api -run Golden -update")
	}
}

// TestOptionalBodiesAccepted: every route whose documented body is not
// required (no required field) takes a request without a body: the admin
// sends none, and no route may answer that a body is required.
func TestOptionalBodiesAccepted(t *testing.T) {
	ts := newTestServer(t)
	checked := 0
	for _, rt := range ts.api.routes {
		if rt.req == nil || bodyRequired(rt) {
			continue
		}
		path := rt.path
		for _, seg := range strings.Split(rt.path, "/") {
			if strings.HasPrefix(seg, ":") {
				path = strings.Replace(path, seg, "nothing-here", 1)
			}
		}
		// A token of its own: the list includes logout.
		r := ts.do(rt.method, path, ts.login("admin", testAdminPassword), nil)
		if r.Code() == "invalid_json" || r.Status == 401 {
			t.Errorf("%s %s: documented body optional, answered %d %s", rt.method, rt.path, r.Status, r.Raw)
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no route with an optional body")
	}
}

// TestStatusFiltersListed: every route filtering by status documents the
// values the filter takes, and they are what the list accepts.
func TestStatusFiltersListed(t *testing.T) {
	ts := newTestServer(t)
	for _, r := range ts.api.allRoutes() {
		if !slices.Contains(r.query, "status") {
			continue
		}
		if len(r.statuses) == 0 {
			t.Errorf("%s %s filters by status but names none of its values", r.method, r.path)
		}
	}
	ts.community("c1", "", nil)
	for path, statuses := range map[string][]string{"/v1/services?community=c1": timebank.ServiceStatuses, "/v1/needs?community=c1": timebank.NeedStatuses,
		"/v1/offers?community=c1": timebank.OfferStatuses, "/v1/redemptions?community=c1": timebank.RedemptionStatuses} {
		for _, st := range statuses {
			ts.must(200, "GET", path+"&status="+st, ts.admin, nil)
		}
		tbProblem(t, ts.do("GET", path+"&status=bogus", ts.admin, nil), 400, "invalid_request")
	}
}

// TestStatusEnumsDocumented: a response's status (and the like) lists in
// the document the values the domain gives it, the same values as the
// route's ?status= filter where there is one (probe s25c: statuses were
// documented as any string).
func TestStatusEnumsDocumented(t *testing.T) {
	enumOfField := func(v any, name string) []string {
		t.Helper()
		typ := reflect.TypeOf(v)
		for _, f := range Fields(typ) {
			if f.Name == name {
				return f.Enum
			}
		}
		t.Fatalf("%s has no field %s", typ, name)
		return nil
	}
	ts := newTestServer(t)
	for _, r := range ts.api.allRoutes() {
		if r.statuses == nil || r.resp == nil {
			continue
		}
		items, ok := reflect.TypeOf(r.resp).FieldByName("Items")
		if !ok {
			t.Fatalf("%s %s: filters by status but answers no list", r.method, r.path)
		}
		item := reflect.New(items.Type.Elem()).Elem().Interface()
		if _, ok := items.Type.Elem().FieldByName("Status"); !ok {
			continue // offers: a withdrawn flag
		}
		if got := enumOfField(item, "status"); !slices.Equal(got, r.statuses) {
			t.Errorf("%s %s: items' status documented as %v, filtered by %v", r.method, r.path, got, r.statuses)
		}
	}
	for _, c := range []struct {
		view  any
		field string
		want  []string
	}{
		{ProposalView{}, "status", []string{string(fund.StatusVoting), string(fund.StatusApproved), string(fund.StatusPaid), string(fund.StatusRejected), string(fund.StatusExpired)}},
		{PublicDisbursementView{}, "status", []string{string(fund.StatusVoting), string(fund.StatusApproved), string(fund.StatusPaid), string(fund.StatusRejected), string(fund.StatusExpired)}},
		{TransactionView{}, "status", []string{string(ledger.TxPosted), string(ledger.TxPending), string(ledger.TxVoided)}},
		{AccountView{}, "status", []string{string(ledger.StatusOpen), string(ledger.StatusFrozen), string(ledger.StatusClosed)}},
		{ServiceView{}, "status", timebank.ServiceStatuses},
		{NeedView{}, "status", timebank.NeedStatuses},
		{RedemptionView{}, "status", timebank.RedemptionStatuses},
		{TokenResponse{}, "token_type", []string{"Bearer"}},
	} {
		if got := enumOfField(c.view, c.field); !slices.Equal(got, c.want) {
			t.Errorf("%T.%s documented as %v, want %v", c.view, c.field, got, c.want)
		}
	}
}

// TestNullableFieldsRequired: a field the server always sends, null when
// unset (a list's next), is required in the document, so that a client
// generated from it does not read a missing next as the end of a list
// (probe s25c).
func TestNullableFieldsRequired(t *testing.T) {
	ts := newTestServer(t)
	r := ts.must(200, "GET", "/openapi.json", "", nil)
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					AnyOf []map[string]any `json:"anyOf"`
				} `json:"properties"`
				Required []string `json:"required"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(r.Raw, &doc); err != nil {
		t.Fatal(err)
	}
	lists := 0
	for name, s := range doc.Components.Schemas {
		for field, p := range s.Properties {
			nullable := slices.ContainsFunc(p.AnyOf, func(a map[string]any) bool { return a["type"] == "null" })
			if nullable && !slices.Contains(s.Required, field) {
				t.Errorf("%s.%s is sent as null when unset but not required", name, field)
			}
			if field == "next" && nullable {
				lists++
			}
		}
	}
	if lists < 10 {
		t.Fatalf("%d list schemas with a nullable next, want every list's", lists)
	}
}

// TestCursorTypesMatch: a list whose next is a number takes after as a
// number, and a record's sequence number in a path is an integer, in the
// document as in the handlers (probe s25c: /v1/reports/postings took
// after as a string while its next was an integer).
func TestCursorTypesMatch(t *testing.T) {
	ts := newTestServer(t)
	for _, r := range ts.api.allRoutes() {
		if r.resp == nil {
			continue
		}
		next, ok := reflect.TypeOf(r.resp).FieldByName("Next")
		if !ok {
			continue
		}
		numeric := next.Type.Elem().Kind() == reflect.Uint64
		if numeric != slices.Contains(r.query, "after:int") {
			t.Errorf("%s %s: next is %s, query %v", r.method, r.path, next.Type, r.query)
		}
	}
	doc := ts.must(200, "GET", "/openapi.json", "", nil)
	var d struct {
		Paths map[string]map[string]struct {
			Parameters []struct {
				Name, In string
				Schema   map[string]any
			}
		}
	}
	if err := json.Unmarshal(doc.Raw, &d); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for path, ops := range d.Paths {
		for m, op := range ops {
			for _, p := range op.Parameters {
				if p.In == "path" && p.Name == "seq" {
					seen++
					if p.Schema["type"] != "integer" {
						t.Errorf("%s %s: {seq} is %v", m, path, p.Schema["type"])
					}
				}
			}
		}
	}
	if seen < 3 {
		t.Fatalf("%d {seq} parameters seen", seen)
	}
}

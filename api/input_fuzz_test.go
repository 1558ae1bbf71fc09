package api

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"tally/ledger"
)

// bindTypes are request bodies of the routes, with ids, amounts, lists,
// maps and late rules among their fields.
var bindTypes = []reflect.Type{reflect.TypeFor[TransferRequest](), reflect.TypeFor[MemberRequest](),
	reflect.TypeFor[ProposalRequest](), reflect.TypeFor[ServiceRequest](), reflect.TypeFor[DonationRequest](),
	reflect.TypeFor[PolicyRequest]()}

// bindCodes are the codes bind refuses a body with.
var bindCodes = []ledger.Code{CodeInvalidJSON, CodeUnknownField, ledger.CodeInvalidID, ledger.CodeInvalidRequest,
	ledger.CodeInvalidAmount, ledger.CodeLimitExceeded, CodeUnsupportedType, CodeBodyTooLarge}

func bindContext(body []byte, contentType string, idemKey bool) *gin.Context {
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	c.Request = httptest.NewRequest("POST", "/v1/x", bytes.NewReader(body))
	if contentType != "" {
		c.Request.Header.Set("Content-Type", contentType)
	}
	if idemKey {
		c.Request.Header.Set("Idempotency-Key", "fuzz-1")
	}
	return c
}

// FuzzBind: request binding never panics on any body or Content-Type; it
// refuses with one of the documented body codes; and it accepts nothing a
// stricter reading refuses: the body is one JSON object of valid UTF-8
// with no unpaired surrogate, declared as JSON, that encoding/json with
// unknown fields disallowed decodes to the same value.
func FuzzBind(f *testing.F) {
	for _, s := range []string{`{"postings":[{"from":"a","to":"b","amount":"1.00","unit":"HOUR"}],"memo":"m"}`,
		`{"id":"m1","community":"c1","display_name":"李华","roles":["resident"],"personal":{"phone":"1"},"relatives":["m2"]}`,
		`{"amount":"10.00","beneficiary":"b1","purpose":"p","evidence":["ab"],"deadline":"7d"}`,
		`{"volunteer":"v","recipient":"r","community":"c","category":"elder_care","hours":"1.50","occurred_at":"2026-11-23T08:00:00Z"}`,
		`{"donor":"Red Star Co.","amount":"1.00","project":""}`, `{"credit_limit":"","weights":{"a":"1.00"}}`,
		`{"postings":null}`, `{"Postings":[]}`, `{"memo":"\ud800"}`, `{"memo":"a","memo":"b"}`, `[]`, `null`, ``, `{} x`,
		`{"postings":[{"from":"a/b"}]}`, `{"relatives":["", "x"]}`, "{\"memo\":\"\xff\"}", `{"min_age":1e400}`} {
		f.Add([]byte(s), "", false)
	}
	f.Add([]byte(`{"memo":"m"}`), "application/json; charset=UTF-8", true)
	f.Add([]byte(`{"memo":"m"}`), "text/plain", false)
	f.Add([]byte(`{"memo":"m"}`), "application/merge-patch+json; charset=latin1", true)
	f.Fuzz(func(t *testing.T, body []byte, contentType string, idemKey bool) {
		if len(body) > MaxBodyBytes {
			return
		}
		for _, typ := range bindTypes {
			v := reflect.New(typ)
			err := bind(bindContext(body, contentType, idemKey), v.Interface())
			if err != nil {
				if c := ledger.ErrorCode(err); !slices.Contains(bindCodes, c) {
					t.Fatalf("%s: body %q refused with code %q (%v)", typ, body, c, err)
				}
				continue
			}
			if !utf8.Valid(body) || loneSurrogate(body) {
				t.Fatalf("%s: accepted %q: invalid UTF-8 or an unpaired surrogate", typ, body)
			}
			if contentType != "" && contentType != "application/json" {
				mt, _, perr := mime.ParseMediaType(contentType)
				if perr != nil || mt != "application/json" && !strings.HasSuffix(mt, "+json") {
					t.Fatalf("%s: accepted %q declared as %q", typ, body, contentType)
				}
			}
			strict := reflect.New(typ)
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			if derr := dec.Decode(strict.Interface()); derr != nil || dec.More() {
				t.Fatalf("%s: accepted %q, which a strict decoder refuses: %v", typ, body, derr)
			}
			if !reflect.DeepEqual(v.Interface(), strict.Interface()) {
				t.Fatalf("%s: %q bound as %+v, strictly %+v", typ, body, v.Elem(), strict.Elem())
			}
			if raw, derr := decodeValue(body); derr != nil || reflect.TypeOf(raw) != reflect.TypeFor[map[string]any]() {
				t.Fatalf("%s: accepted %q, not one object (%v)", typ, body, derr)
			}
		}
	})
}

// FuzzLoneSurrogate: on valid JSON in valid UTF-8 that writes no U+FFFD
// of its own, loneSurrogate says exactly whether encoding/json would put a
// U+FFFD in place of an escaped half of a surrogate pair somewhere in it.
func FuzzLoneSurrogate(f *testing.F) {
	for _, s := range []string{`"\ud800"`, `"\udc00"`, `"\ud83d\ude00"`, `{"\ud800":1}`, `["\\ud800"]`, `"\ud800\u0041"`,
		`"\uD83D\uDE00\uD83D"`, `"\\\ud800"`, `{"a":"\ud83d\\ude00"}`, `"é"`, `1`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		lone := loneSurrogate(body)
		lower := strings.ToLower(string(body))
		if !json.Valid(body) || !utf8.Valid(body) || strings.Contains(lower, `\ufffd`) || bytes.ContainsRune(body, utf8.RuneError) {
			return
		}
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(v)
		if replaced := strings.ContainsRune(string(b), utf8.RuneError); replaced != lone {
			t.Fatalf("%q: loneSurrogate %v, encoding/json replaced a character: %v", body, lone, replaced)
		}
	})
}

// queryContext is a GET with the raw query as a client sent it.
func queryContext(raw string) (*gin.Context, *httptest.ResponseRecorder) {
	w := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(w)
	c.Request = &http.Request{Method: "GET", URL: &url.URL{Path: "/v1/x", RawQuery: raw}, Header: http.Header{}}
	return c, w
}

// FuzzQuery: the query readers never panic on any raw query; they refuse
// with invalid_request only; a page they accept has a limit from 1 to
// MaxPageSize and a cursor of the list's shape; a fund report's period
// is one RFC 3339 can write in UTC (as it is answered), with to after
// from; and queryCheck lets
// through a strict route's query only when it parses, names each
// parameter once and only those the route takes.
func FuzzQuery(f *testing.F) {
	for _, s := range []string{"limit=10&order=oldest&after=00000000000000000042", "limit=0", "limit=-1", "limit=1e3",
		"limit=1&limit=2", "after=a%2Fb", "order=Newest", "from=2026-03-01&to=2026-03-31", "from=0001-01-01&to=9999-12-31",
		"from=2026-03-01T00:00:00%2B08:00", "to=2026-03-31;", "from=%zz", "utm=a;limit=1", "from=2026-03-02&to=2026-03-01", ""} {
		f.Add(s)
	}
	strict := queryCheck(route{method: "GET", auth: authenticated, query: []string{"after", "limit:int", "order", "from", "to"}})
	public := queryCheck(route{method: "GET", auth: public, query: []string{"after", "limit:int", "order", "from", "to"}})
	takes := map[string]bool{"after": true, "limit": true, "order": true, "from": true, "to": true}
	f.Fuzz(func(t *testing.T, raw string) {
		c, _ := queryContext(raw)
		codeOK := func(what string, err error) {
			if err != nil && ledger.ErrorCode(err) != ledger.CodeInvalidRequest {
				t.Fatalf("%s(%q): code %q", what, raw, ledger.ErrorCode(err))
			}
		}
		p, err := page(c)
		codeOK("page", err)
		if err == nil && (p.Limit < 1 || p.Limit > ledger.MaxPageSize || len(p.After) > 2*ledger.MaxAccountIDLen) {
			t.Fatalf("page(%q) = %+v", raw, p)
		}
		if p, err := seqPage(c); err == nil && p.After != "" && (len(p.After) != seqKeyLen || strings.Trim(p.After, "0123456789") != "") {
			t.Fatalf("seqPage(%q) = %+v", raw, p)
		} else {
			codeOK("seqPage", err)
		}
		if p, err := idPage(c); err == nil && p.After != "" && !ledger.ValidID(p.After) {
			t.Fatalf("idPage(%q) = %+v", raw, p)
		} else {
			codeOK("idPage", err)
		}
		n, err := uintQuery(c, "limit", 7)
		codeOK("uintQuery", err)
		if v := c.Query("limit"); err == nil && v == "" && n != 7 {
			t.Fatalf("uintQuery(%q) = %d, want the default", raw, n)
		}
		from, to, err := fundPeriod(c)
		codeOK("fundPeriod", err)
		if err == nil {
			for _, tm := range []time.Time{from, to} { // answered in UTC
				if _, merr := json.Marshal(tm.UTC()); merr != nil {
					t.Fatalf("fundPeriod(%q): %v cannot be written: %v", raw, tm, merr)
				}
			}
			if !from.IsZero() && !to.IsZero() && !to.After(from) {
				t.Fatalf("fundPeriod(%q) = %v, %v", raw, from, to)
			}
		}
		c, w := queryContext(raw)
		strict(c)
		if !c.IsAborted() {
			q, perr := url.ParseQuery(raw)
			if perr != nil {
				t.Fatalf("strict route took malformed query %q: %v", raw, perr)
			}
			for k, vs := range q {
				if len(vs) != 1 || !takes[k] {
					t.Fatalf("strict route took %q: %q=%q", raw, k, vs)
				}
			}
		} else if w.Code != http.StatusBadRequest {
			t.Fatalf("strict route refused %q with %d", raw, w.Code)
		}
		c, _ = queryContext(raw)
		public(c)
		if !c.IsAborted() {
			for k, vs := range c.Request.URL.Query() {
				if takes[k] && len(vs) > 1 {
					t.Fatalf("public route took %q: %q given %d times", raw, k, len(vs))
				}
			}
		}
	})
}

// FuzzPrefersCSV: the Accept negotiation never panics; a header whose
// first range is exactly text/csv (or application/json) decides for CSV
// (JSON) whatever follows; only a header naming csv, text/* or */* can
// ask for CSV; and saying JSON is not acceptable (application/json;q=0)
// never turns an answer in CSV into one in JSON.
func FuzzPrefersCSV(f *testing.F) {
	for _, s := range []string{"text/csv", "application/json", "text/*;q=0.9, application/json;q=0.8", "*/*", "text/csv;q=0",
		"text/csv;q=1.5", "TEXT/CSV", "application/json;q=0.5, text/csv;q=0.5", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, a string) {
		got := prefersCSV([]string{a})
		if got {
			l := strings.ToLower(a)
			if !strings.Contains(l, "csv") && !strings.Contains(l, "text/*") && !strings.Contains(l, "*/*") {
				t.Fatalf("Accept %q prefers CSV", a)
			}
			if !prefersCSV([]string{a, "application/json;q=0"}) {
				t.Fatalf("Accept %q prefers CSV, but not once JSON is said to be unacceptable", a)
			}
		}
		if !prefersCSV([]string{"text/csv", a}) || !prefersCSV([]string{"text/csv, " + a}) {
			t.Fatalf("Accept text/csv then %q: not CSV", a)
		}
		if prefersCSV([]string{"application/json", a}) {
			t.Fatalf("Accept application/json then %q: CSV", a)
		}
	})
}

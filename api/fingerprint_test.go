package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// FuzzCanonicalJSON checks the idempotency fingerprint's JSON
// canonicalisation on any body: it never panics, is idempotent, keeps
// valid JSON valid and equal in value, and leaves anything else as it is.
func FuzzCanonicalJSON(f *testing.F) {
	for _, s := range []string{``, `{}`, `{"b":1,"a":[true,null,"x"]}`, ` { "a" : "\u4e2d" } `, `{"a":1}{"b":2}`,
		`{"a":1.50}`, `[1,2`, `"\ud800"`, `{"a":"<&>"}`, `{"a":1,"a":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		out := canonicalJSON(body)
		if len(bytes.TrimSpace(body)) == 0 {
			if string(out) != "{}" {
				t.Fatalf("no body %q → %q, want {}", body, out)
			}
			return
		}
		if again := canonicalJSON(out); string(again) != string(out) {
			t.Fatalf("not idempotent: %q → %q → %q", body, out, again)
		}
		var in, got any
		if json.Unmarshal(body, &in) != nil {
			if string(out) != string(body) {
				t.Fatalf("invalid JSON %q changed to %q", body, out)
			}
			return
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("valid JSON %q became invalid %q: %v", body, out, err)
		}
		a, _ := json.Marshal(in)
		b, _ := json.Marshal(got)
		if string(a) != string(b) {
			t.Fatalf("value changed: %q → %q", body, out)
		}
	})
}

// TestDecodeValueStrict: a key named twice, at any depth, and nesting
// beyond MaxJSONDepth are refused; what encoding/json accepts otherwise
// decodes to the same value.
func TestDecodeValueStrict(t *testing.T) {
	deep := strings.Repeat("[", MaxJSONDepth+1) + strings.Repeat("]", MaxJSONDepth+1)
	for _, body := range []string{`{"a":1,"a":1}`, `{"x":[{"b":true,"c":null,"b":false}]}`, `{"a":{"a":1,"b":{"c":1,"c":2}}}`, deep} {
		if v, err := decodeValue([]byte(body)); err == nil {
			t.Errorf("%s: decoded to %v, want an error", body, v)
		}
	}
	ok := strings.Repeat("[", MaxJSONDepth) + strings.Repeat("]", MaxJSONDepth)
	for _, body := range []string{`{"a":1,"A":1}`, `{"a":{"a":{"a":1}}}`, `[{"a":1},{"a":2}]`, ok} {
		if _, err := decodeValue([]byte(body)); err != nil {
			t.Errorf("%s: %v", body, err)
		}
	}
}

// FuzzDecodeValue: decodeValue never panics, and whatever it accepts
// encoding/json accepts as the same value; what it refuses that
// encoding/json accepts is a repeated key or too deep a nesting.
func FuzzDecodeValue(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1,"a":2}`, `[[[]]]`, `{"a":[1,{"b":"\u00e9"}]}`, `1.50`, `{"a":1} x`, `"\ud800"`,
		`{"a\u0062":1,"ab":2}`, `-0`, `1e5`, `1E+05`, `1.`, `.5`, `01`, `-`, `tru`, `nul`, `falsey`, " \t\r\n[ 1 , 2 ] ",
		`"a\"b"`, `"\`, `"tab\tnew\nline\/"`, "\"ctl\x01\"", "\"\xff\xfe\"", `"\ud83d\ude00"`, `{"a":}`, `{,}`, `[1,]`, `{"a" 1}`, `"é"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		v, err := decodeValue(body)
		// The reference: json.Valid for syntax, and encoding/json's
		// decoding with numbers as written (as decodeValue keeps them).
		var want any
		var stdErr error
		if !json.Valid(body) {
			stdErr = errors.New("invalid")
		} else {
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.UseNumber()
			stdErr = dec.Decode(&want)
		}
		if err == nil {
			if stdErr != nil {
				t.Fatalf("%q accepted, encoding/json refuses it: %v", body, stdErr)
			}
			a, _ := json.Marshal(v)
			b, _ := json.Marshal(want)
			if string(a) != string(b) {
				t.Fatalf("%q decoded to %s, encoding/json to %s", body, a, b)
			}
			return
		}
		if stdErr == nil && !errors.Is(err, errDuplicateKey) && !errors.Is(err, errTooDeep) {
			t.Fatalf("%q refused (%v), encoding/json accepts it", body, err)
		}
	})
}

// TestIdempotencyNoBodyIsEmptyObject: on a route whose body is optional, a
// retry that sends {} where the first attempt sent nothing is the same
// request (replayed), not an idempotency_conflict.
func TestIdempotencyNoBodyIsEmptyObject(t *testing.T) {
	ts := newTestServer(t)
	hold := holdForLi(ts, "1.00")
	first := ts.must(200, "POST", "/v1/transfers/"+hold+"/void", ts.admin, nil, "Idempotency-Key", "void-no-body-1")
	size := ts.auditSize()
	again := ts.must(200, "POST", "/v1/transfers/"+hold+"/void", ts.admin, "{}", "Idempotency-Key", "void-no-body-1")
	if again.Header.Get("Idempotent-Replayed") != "true" || string(again.Raw) != string(first.Raw) || ts.auditSize() != size {
		t.Fatalf("retry with {}: %s (replayed %q), first %s", again.Raw, again.Header.Get("Idempotent-Replayed"), first.Raw)
	}
	// The void itself is no hold: posting or voiding it is not_pending.
	void := first.Str("id") // the answer is the void
	if void == "" {
		t.Fatalf("the void answer has no id: %s", first.Raw)
	}
	wantProblem(t, ts.do("POST", "/v1/transfers/"+void+"/void", ts.admin, nil), 409, "not_pending")
	wantProblem(t, ts.do("POST", "/v1/transfers/"+void+"/post", ts.admin, nil), 409, "not_pending")
}

// TestVoidTakesTheHeldAmount: /post and /void share SPEC §7a's body
// `{"amount"?}`; a void releases the whole hold, so it takes an amount
// equal to what is held and refuses any other (probe s22b: any amount was
// "a void takes no amount").
func TestVoidTakesTheHeldAmount(t *testing.T) {
	ts := newTestServer(t)
	hold := holdForLi(ts, "1.50")
	size := ts.auditSize()
	for _, amt := range []string{"0.50", "2.00", "1.5x"} {
		wantProblem(t, ts.do("POST", "/v1/transfers/"+hold+"/void", ts.admin, map[string]any{"amount": amt}), 400, "invalid_amount")
	}
	if ts.auditSize() != size {
		t.Fatal("a refused void wrote a record")
	}
	ts.must(200, "POST", "/v1/transfers/"+hold+"/void", ts.admin, map[string]any{"amount": "1.50"})
	if got := ts.balance("li:HOUR"); got != "0.00" {
		t.Fatalf("li's balance after the void: %s", got)
	}
	// Voided now: whatever the amount, the answer is that nothing is held
	// (probe s22F: another amount was told "the amount held (1.50)").
	wantProblem(t, ts.do("POST", "/v1/transfers/"+hold+"/void", ts.admin, map[string]any{"amount": "0.50"}), 409, "not_pending")
}

// TestUnknownQueryNamedInOrder: a request with two parameters its route
// does not take is told of the same one every time, the first by name
// (probe s22F: map order named one or the other).
func TestUnknownQueryNamedInOrder(t *testing.T) {
	ts := newTestServer(t)
	ts.community("c1", "", nil)
	for range 20 {
		r := ts.do("GET", "/v1/redemptions?community=c1&zeta=1&alpha=2&mid=3", ts.admin, nil)
		if r.Status != 400 || !strings.Contains(r.Str("detail"), `"alpha"`) {
			t.Fatalf("unknown parameters: %d %s, want 400 naming alpha", r.Status, r.Raw)
		}
	}
}

// holdForLi makes community c1 and its resident li, and holds amount of
// c1's issuance for li; it returns the hold's id.
func holdForLi(ts *testServer, amount string) string {
	ts.community("c1", "", nil)
	ts.member("li", "c1", "resident")
	return ts.must(201, "POST", "/v1/transfers", ts.admin, map[string]any{"pending": true, "postings": []any{
		map[string]any{"from": "c1:issuance", "to": "li:HOUR", "amount": amount, "unit": "HOUR"}}}).Str("id")
}

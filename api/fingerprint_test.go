package api

import (
	"encoding/json"
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

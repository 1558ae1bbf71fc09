package audit

import "testing"

// TestDocDifferenceIgnoresDeletedKeys: a key the chain deleted and the
// store lacks is no difference; the tampered document is the one named
// (a deleted index once hid a changed proposal behind a false "missing").
func TestDocDifferenceIgnoresDeletedKeys(t *testing.T) {
	last := map[string]docLast{
		"i/tb/vday/v1/20260610/svc-1": {seq: 5, hash: ""},
		"d/fund.proposal/prop-1":      {seq: 9, hash: "h1"},
		"d/fund.proposal/prop-2":      {seq: 3, hash: "h3"},
	}
	stored := map[string]string{"d/fund.proposal/prop-1": "h2", "d/fund.proposal/prop-2": "h3"}
	ve := earliestDifference(last, stored, docDifference(20))
	if ve == nil || ve.Seq != 9 || ve.Reason != ReasonDocument {
		t.Fatalf("got %v, want the changed proposal at 9", ve)
	}
	stored["d/fund.proposal/prop-1"] = "h1"
	if ve := earliestDifference(last, stored, docDifference(20)); ve != nil {
		t.Fatalf("untouched: %v", ve)
	}
	stored["i/tb/vday/v1/20260610/svc-1"] = "h9" // deleted by 5, yet stored
	if ve := earliestDifference(last, stored, docDifference(20)); ve == nil || ve.Seq != 5 {
		t.Fatalf("a deleted key still stored: %v", ve)
	}
}

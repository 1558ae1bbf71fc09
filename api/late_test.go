package api

import (
	"context"
	"encoding/json"
	"testing"

	"tally/ledger"
	"tally/ledger/community"
)

// TestLateRulesReplayEarlierWrites: a write an earlier version took — a
// blank parent, before blanks were refused as ids — retried under its
// Idempotency-Key gets its original answer (SPEC §2); the same body under
// a new key, or without one, is refused and writes nothing.
func TestLateRulesReplayEarlierWrites(t *testing.T) {
	ts := newTestServer(t)
	body := `{"id":"rpc","name":"x","parent":""}`
	raw, err := decodeValue([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	canon, err := json.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	// What an earlier version stored: the write, its answer, under the
	// caller's key and the request's fingerprint.
	if _, err := ts.store.Submit(context.Background(), ledger.Request{Actor: ledger.Actor{ID: "admin"}, IdemKey: "old-1",
		Fingerprint: fingerprint("POST", "/v1/communities", "", canon), Op: func(tx ledger.Tx) (any, error) {
			cm, err := community.Create(tx, community.NewCommunity{ID: "rpc", Name: "x"})
			if err != nil {
				return nil, err
			}
			return communityView(cm), nil
		}}); err != nil {
		t.Fatal(err)
	}
	size := ts.auditSize()
	r := ts.do("POST", "/v1/communities", ts.admin, body, "Idempotency-Key", "old-1")
	if r.Status != 201 || r.Header.Get("Idempotent-Replayed") != "true" || r.Str("id") != "rpc" {
		t.Fatalf("retry of an earlier write: %d %s %s", r.Status, r.Header.Get("Idempotent-Replayed"), r.Raw)
	}
	// The same header sent empty, as the earlier version ignored it.
	r = ts.do("POST", "/v1/communities", ts.admin, body, "Idempotency-Key", "old-1", HeaderOnBehalf, "")
	if r.Status != 201 || r.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry with an empty %s: %d %s", HeaderOnBehalf, r.Status, r.Raw)
	}
	body2 := `{"id":"rpd","name":"x","parent":""}`
	tbProblem(t, ts.do("POST", "/v1/communities", ts.admin, body2, "Idempotency-Key", "new-1"), 400, "invalid_id")
	tbProblem(t, ts.do("POST", "/v1/communities", ts.admin, body2), 400, "invalid_id")
	tbProblem(t, ts.do("POST", "/v1/communities", ts.admin, `{"name":"x"}`, "Idempotency-Key", "new-2"), 400, "invalid_request")
	tbProblem(t, ts.do("POST", "/v1/gifts", ts.admin, `{"from":"admin","to":"rpc:pool","hours":"0.01"}`, "Idempotency-Key", "new-3", HeaderOnBehalf, ""), 400, "invalid_request")
	// A late rule does not hide an older one.
	tbProblem(t, ts.do("POST", "/v1/communities", ts.admin, `{"id":"rpe","name":"x","parent":"","extra":1}`, "Idempotency-Key", "new-4"), 400, "unknown_field")
	if ts.auditSize() != size {
		t.Fatal("a replay or a refusal wrote a record")
	}
}

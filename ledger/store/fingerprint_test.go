package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"tally/ledger"
)

// TestFingerprintKeyed: an idempotency record keeps the request's
// fingerprint keyed with the store's secret, not the bare hash (whose
// chained record would let anyone test guesses at the request's body);
// a retry is still answered after a backup and restore, which carry the
// key, and a different request is still a conflict.
func TestFingerprintKeyed(t *testing.T) {
	s := openWith(t, t.TempDir(), nil)
	fp := sha256.Sum256([]byte(`POST /v1/members\n\n{"password":"sunshine-88"}`))
	req := func(fp [32]byte) ledger.Request {
		return ledger.Request{Actor: ledger.Actor{ID: "admin"}, IdemKey: "reg-1", Fingerprint: fp,
			Op: func(tx ledger.Tx) (any, error) {
				tx.Audit("doc", nil)
				return map[string]string{"id": "m1"}, tx.PutDoc("thing", "m1", 1)
			}}
	}
	first, err := s.Submit(context.Background(), req(fp))
	if err != nil {
		t.Fatal(err)
	}
	rec := readIdem(t, s, "admin", "reg-1")
	if rec.Fingerprint == fp || rec.Fingerprint == ([32]byte{}) {
		t.Fatalf("the stored fingerprint is the bare request hash (or empty): %x", rec.Fingerprint)
	}
	var buf bytes.Buffer
	if err := s.Backup(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "restored")
	if err := Restore(&buf, dir); err != nil {
		t.Fatal(err)
	}
	r := openWith(t, dir, nil)
	again, err := r.Submit(context.Background(), req(fp))
	if err != nil || !again.Replayed || !bytes.Equal(again.JSON, first.JSON) {
		t.Fatalf("a retry after restore: %+v, %v (first %s)", again, err, first.JSON)
	}
	other := fp
	other[0] ^= 1
	if _, err := r.Submit(context.Background(), req(other)); !ledger.IsCode(err, ledger.CodeIdempotencyConflict) {
		t.Fatalf("a different request under the key: %v", err)
	}
}

// TestFingerprintDiesWithErasure: a request that wrote someone's personal
// data keeps a fingerprint keyed with that person's data key too, so that
// once they are erased nobody — not even someone holding the directory
// and master.key — can test guesses at what it carried (an outside probe
// recovered an erased member's phone number from such a record); a retry
// is replayed while the person is there and is a conflict after.
func TestFingerprintDiesWithErasure(t *testing.T) {
	s := openWith(t, t.TempDir(), nil)
	fp := sha256.Sum256([]byte(`PATCH /v1/members/m1\n\n{"personal":{"phone":"13566660001"}}`))
	req := ledger.Request{Actor: ledger.Actor{ID: "admin"}, IdemKey: "patch-1", Fingerprint: fp,
		Op: func(tx ledger.Tx) (any, error) {
			tx.Audit("member.update", nil)
			return map[string]string{"id": "m1"}, tx.PutPersonal("m1", map[string]string{"phone": "13566660001"})
		}}
	first, err := s.Submit(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	rec := readIdem(t, s, "admin", "patch-1")
	if rec.Fingerprint == s.keyedFingerprint(fp) || len(rec.Subjects) != 1 || rec.Subjects[0] != "m1" {
		t.Fatalf("the record is keyed with the store's secret alone (%v), or does not name its subject: %+v", rec.Fingerprint == s.keyedFingerprint(fp), rec.Subjects)
	}
	again, err := s.Submit(context.Background(), req)
	if err != nil || !again.Replayed || !bytes.Equal(again.JSON, first.JSON) {
		t.Fatalf("a retry before the erasure: %+v, %v", again, err)
	}
	if _, err := s.Submit(context.Background(), ledger.Request{Actor: ledger.Actor{ID: "admin"}, Op: func(tx ledger.Tx) (any, error) {
		tx.Audit("member.erase", nil)
		return nil, tx.ErasePersonal("m1")
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Submit(context.Background(), req); !ledger.IsCode(err, ledger.CodeIdempotencyConflict) {
		t.Fatalf("a retry after the erasure: %v, want idempotency_conflict", err)
	}
}

// readIdem reads the idempotency record actor's key left.
func readIdem(t *testing.T, s *Store, actor, key string) idemRecord {
	t.Helper()
	var rec idemRecord
	if err := s.db.View(func(txn *badger.Txn) error {
		raw, err := badgerKV{txn}.get(idemKey(actor, key))
		if err != nil {
			return err
		}
		return json.Unmarshal(raw, &rec)
	}); err != nil {
		t.Fatal(err)
	}
	return rec
}

package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/ristretto/v2/z"
	"golang.org/x/mod/sumdb/tlog"

	"tally/audit"
	"tally/ledger"
)

// tamper closes the fixture's store, lets fn change the raw database as
// an attacker with disk access would, and verifies the directory as
// `tally verify --data` does.
// trustedSizes name checkpoints the auditor saved before the tampering.
func tamper(t *testing.T, rotate bool, fn func(txn *badger.Txn), trustedSizes ...uint64) (audit.Report, error) {
	t.Helper()
	dir, s := fixture(t, rotate)
	trusted := notes(t, s, trustedSizes...)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	damageDir(t, dir, fn)
	// Someone editing the database edits (here: removes) the published
	// checkpoint's witness beside it too; what the chain itself shows is
	// what these tests are about (TestRollbackRefused covers the witness).
	if err := os.Remove(filepath.Join(dir, witnessFile)); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	a, err := OpenAudit(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	return a.Verify(context.Background(), audit.VerifyOptions{Trusted: trusted})
}

func get(t *testing.T, txn *badger.Txn, key []byte) []byte {
	t.Helper()
	item, err := txn.Get(key)
	if err != nil {
		t.Fatal(err)
	}
	v, err := item.ValueCopy(nil)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func set(t *testing.T, txn *badger.Txn, key, val []byte) {
	t.Helper()
	if err := txn.Set(key, val); err != nil {
		t.Fatal(err)
	}
}

// wantBad checks err is a VerifyError at seq with reason.
func wantBad(t *testing.T, err error, seq uint64, reason audit.Reason) *audit.VerifyError {
	t.Helper()
	ve, ok := audit.IsVerifyError(err)
	if !ok {
		t.Fatalf("got %v, want a verification failure at %d (%s)", err, seq, reason)
	}
	if ve.Seq != seq || ve.Reason != reason {
		t.Fatalf("got failure at %d (%s: %s), want %d (%s)", ve.Seq, ve.Reason, ve.Detail, seq, reason)
	}
	return ve
}

func TestTamperChangedByte(t *testing.T) {
	// Every byte of record 7, changed, is caught at 7: in the header, the
	// content, the effects.
	n := 0
	_, s := fixture(t, true)
	r, _ := s.Audit().Record(7)
	s.Close()
	for off := 0; off < len(r.Record); off += 1 + len(r.Record)/23 {
		_, err := tamper(t, true, func(txn *badger.Txn) {
			b := get(t, txn, recordKey(7))
			b[off] ^= 0x10
			set(t, txn, recordKey(7), b)
		})
		ve, ok := audit.IsVerifyError(err)
		if !ok || ve.Seq != 7 {
			t.Fatalf("byte %d of record 7 changed: got %v, want a failure at seq 7", off, err)
		}
		n++
	}
	if n < 20 {
		t.Fatalf("only %d offsets tried", n)
	}
}

func TestTamperChangedLeafAndRecord(t *testing.T) {
	// The record and its stored leaf hash changed together: the next
	// record's link names the break... unless it is the last, where the
	// head does.
	_, err := tamper(t, true, func(txn *badger.Txn) {
		b := get(t, txn, recordKey(7))
		b[45] ^= 1 // commit time
		set(t, txn, recordKey(7), b)
		h := audit.LeafHash(b)
		set(t, txn, hashKey(audit.StoredHashIndex(0, 7)), h[:])
	})
	// Record 7 completes interior nodes (7 = 0b111), now wrong.
	wantBad(t, err, 7, audit.ReasonTreeHash)
}

func TestTamperDeletedRecord(t *testing.T) {
	_, err := tamper(t, true, func(txn *badger.Txn) { txn.Delete(recordKey(5)) })
	wantBad(t, err, 5, audit.ReasonSeq)
}

func TestTamperDeletedLastRecord(t *testing.T) {
	var last uint64
	_, err := tamper(t, true, func(txn *badger.Txn) {
		var h head
		json.Unmarshal(get(t, txn, []byte(pHead)), &h)
		last = h.Size - 1
		txn.Delete(recordKey(last))
	})
	wantBad(t, err, last, audit.ReasonSeq) // a record missing, as in the middle
}

func TestTamperSwappedRecords(t *testing.T) {
	_, err := tamper(t, true, func(txn *badger.Txn) {
		a, b := get(t, txn, recordKey(3)), get(t, txn, recordKey(4))
		set(t, txn, recordKey(3), b)
		set(t, txn, recordKey(4), a)
	})
	wantBad(t, err, 3, audit.ReasonSeq)
}

func TestTamperBalanceWithoutRecord(t *testing.T) {
	_, err := tamper(t, true, func(txn *badger.Txn) {
		var m map[string]any
		json.Unmarshal(get(t, txn, accountKey("bob")), &m)
		m["credits_posted"] = m["credits_posted"].(float64) + 100
		b, _ := json.Marshal(m)
		set(t, txn, accountKey("bob"), b)
	})
	// bob was last changed by the status record (frozen) at seq 13.
	ve := wantBad(t, err, 13, audit.ReasonBalance)
	if ve.Account != "bob" {
		t.Fatalf("balance failure names %q, want bob", ve.Account)
	}
}

func TestTamperTreeHash(t *testing.T) {
	_, err := tamper(t, true, func(txn *badger.Txn) {
		idx := audit.StoredHashIndex(2, 1) // the node over records 4..7
		set(t, txn, hashKey(idx), make([]byte, 32))
	})
	wantBad(t, err, 7, audit.ReasonTreeHash)
}

func TestTamperCheckpointSignature(t *testing.T) {
	_, err := tamper(t, true, func(txn *badger.Txn) {
		note := get(t, txn, checkpointKey(10))
		lines := bytes.SplitN(note, []byte("\n"), 3)
		note[len(lines[0])+1+len(lines[1])+1+2] ^= 1 // a letter of the root

		set(t, txn, checkpointKey(10), note)
	})
	// The records since the checkpoint before (of 3) are what no valid
	// signature covers.
	if ve := wantBad(t, err, 3, audit.ReasonSignature); ve.End != 10 {
		t.Fatalf("range %d..%d, want 3..10", ve.Seq, ve.End)
	}
}

// TestTamperRewrittenLog rewrites the log consistently from a record on
// (a changed actor), re-hashing every later record, the tree and the head
// and re-signing every later checkpoint with the store's own key. Nothing
// inside the log can tell; checkpoints saved earlier can, and they bound
// where the rewrite began.
func TestTamperRewrittenLog(t *testing.T) {
	for _, tc := range []struct {
		from    uint64
		trusted []uint64
		seq     uint64
		end     uint64
	}{
		{from: 0, trusted: []uint64{10}, seq: 0, end: 10},
		{from: 5, trusted: []uint64{3, 10, 20}, seq: 3, end: 10},
		{from: 15, trusted: []uint64{3, 10, 14, 20}, seq: 14, end: 20},
	} {
		rewrite := func(txn *badger.Txn) { rewriteLog(t, txn, tc.from) }
		if _, err := tamper(t, false, rewrite); err != nil {
			t.Fatalf("from %d: a consistent rewrite fails without a trusted checkpoint (the test rewrote badly): %v", tc.from, err)
		}
		_, err := tamper(t, false, rewrite, tc.trusted...)
		ve := wantBad(t, err, tc.seq, audit.ReasonTrusted)
		if ve.End != tc.end || !errors.Is(err, audit.ErrVerify) {
			t.Fatalf("from %d: failure range %d..%d, want ..%d", tc.from, ve.Seq, ve.End, tc.end)
		}
	}
}

// TestTamperRewriteAcrossRotation: after a key rotation the old private
// key is gone, so a rewrite of older records cannot re-sign the old
// checkpoints, and is caught without any trusted checkpoint.
func TestTamperRewriteAcrossRotation(t *testing.T) {
	_, err := tamper(t, true, func(txn *badger.Txn) { rewriteLog(t, txn, 0) })
	wantBad(t, err, 0, audit.ReasonSignature)
	// A rewrite from a later record is named by the range it lies in,
	// from the last checkpoint the old key still signs (probe s19e: a
	// change at 20 was named at 28).
	_, err = tamper(t, true, func(txn *badger.Txn) { rewriteLog(t, txn, 11) })
	if ve := wantBad(t, err, 10, audit.ReasonSignature); ve.End != 12 {
		t.Fatalf("rewrite from 11: range %d..%d, want 10..12 (the old key signed the tree of 12 before its rotation)", ve.Seq, ve.End)
	}
}

// rewriteLog changes the actor of record from and rewrites everything
// after it to match, signing checkpoints of later sizes with the current
// key, as an operator with the disk and the key could.
func rewriteLog(t *testing.T, txn *badger.Txn, from uint64) {
	var h head
	json.Unmarshal(get(t, txn, []byte(pHead)), &h)
	var ck signingKey
	json.Unmarshal(get(t, txn, docKey(checkpointKeyKind, checkpointKeyID)), &ck)
	r := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			copy(out[i][:], get(t, txn, hashKey(x)))
		}
		return out, nil
	})
	var prev tlog.Hash
	if from > 0 {
		prev = audit.LeafHash(get(t, txn, recordKey(from-1)))
	}
	roots := map[uint64]tlog.Hash{}
	for seq := from; seq < h.Size; seq++ {
		rec, err := audit.Decode(get(t, txn, recordKey(seq)))
		if err != nil {
			t.Fatal(err)
		}
		rec.Prev = prev
		if seq == from {
			rec.Actor = "mallory"
			// and the transactions the record created, to stay consistent
			for id, tr := range txKeys(t, txn) {
				if tr.Seq == seq {
					editTx(t, txn, id, func(m map[string]any) { m["actor"] = "mallory" })
				}
			}
		}
		b, _ := audit.Encode(rec)
		set(t, txn, recordKey(seq), b)
		hs, _ := tlog.StoredHashes(int64(seq), b, r)
		for i, x := range hs {
			set(t, txn, hashKey(tlog.StoredHashIndex(0, int64(seq))+int64(i)), append([]byte{}, x[:]...))
		}
		prev = audit.LeafHash(b)
		roots[seq+1], _ = tlog.TreeHash(int64(seq+1), r)
	}
	h.Last = prev
	hb, _ := json.Marshal(h)
	set(t, txn, []byte(pHead), hb)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(pCheckpt)})
	var sizes []uint64
	for it.Rewind(); it.Valid(); it.Next() {
		sizes = append(sizes, binary.BigEndian.Uint64(it.Item().Key()[len(pCheckpt):]))
	}
	it.Close()
	for _, size := range sizes {
		if size <= from {
			continue
		}
		note, err := audit.SignCheckpoint(audit.Checkpoint{Origin: ck.Origin, Size: int64(size), Hash: roots[size]}, ck.Signer)
		if err != nil {
			t.Fatal(err)
		}
		set(t, txn, checkpointKey(size), note)
	}
}

// TestOpenRefusesDamagedHead: a head that disagrees with the records or
// checkpoints around it (deleted, rolled back, a record or the signing
// key gone) stops Open, before the writer could overwrite a record.
func TestOpenRefusesDamagedHead(t *testing.T) {
	cases := map[string]func(t *testing.T, txn *badger.Txn, h head){
		"head deleted": func(t *testing.T, txn *badger.Txn, h head) {
			if err := txn.Delete([]byte(pHead)); err != nil {
				t.Fatal(err)
			}
		},
		"head rolled back one record": func(t *testing.T, txn *badger.Txn, h head) {
			h.Size--
			h.Last = audit.LeafHash(get(t, txn, recordKey(h.Size-1)))
			raw, _ := json.Marshal(h)
			set(t, txn, []byte(pHead), raw)
		},
		"head time moved ahead": func(t *testing.T, txn *badger.Txn, h head) {
			h.LastTime += int64(time.Hour)
			raw, _ := json.Marshal(h)
			set(t, txn, []byte(pHead), raw)
		},
		"last record deleted": func(t *testing.T, txn *badger.Txn, h head) {
			if err := txn.Delete(recordKey(h.Size - 1)); err != nil {
				t.Fatal(err)
			}
		},
		"last record changed": func(t *testing.T, txn *badger.Txn, h head) {
			rec := get(t, txn, recordKey(h.Size-1))
			rec[len(rec)-1] ^= 1
			set(t, txn, recordKey(h.Size-1), rec)
		},
		"checkpoint beyond the head": func(t *testing.T, txn *badger.Txn, h head) {
			set(t, txn, checkpointKey(h.Size+5), []byte("note"))
		},
		"checkpoint key deleted": func(t *testing.T, txn *badger.Txn, h head) {
			if err := txn.Delete(docKey(checkpointKeyKind, checkpointKeyID)); err != nil {
				t.Fatal(err)
			}
		},
		"head unreadable": func(t *testing.T, txn *badger.Txn, h head) {
			set(t, txn, []byte(pHead), []byte("{"))
		},
	}
	for name, fn := range cases {
		t.Run(name, func(t *testing.T) {
			dir, s := fixture(t, false)
			auditCheckpoint(t, s)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			db, err := badger.Open(badgerOptions(filepath.Join(dir, "db"), false))
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Update(func(txn *badger.Txn) error {
				h, err := loadHead(badgerKV{txn})
				if err != nil {
					return err
				}
				fn(t, txn, h)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			s2, err := Open(dir, Options{})
			if err == nil {
				s2.Close()
				t.Fatal("a damaged store opened")
			}
			if !errors.Is(err, ErrDamaged) {
				t.Fatalf("got %v, want ErrDamaged", err)
			}
		})
	}
	// The undamaged fixture opens again.
	dir, s := fixture(t, false)
	s.Close()
	s2, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
}

// TestCheckpointerStopsWritesOnDamage: when the stored tree no longer
// extends the last signed checkpoint (a tree hash changed under the
// running server), the checkpointer reports ErrDamaged, and from then on
// the store refuses writes and Damaged says why.
func TestCheckpointerStopsWritesOnDamage(t *testing.T) {
	_, s := fixture(t, false)
	auditCheckpoint(t, s)
	auditSubmit(t, s, auditTransfer("issuance", "alice", 1, false))
	if err := s.Damaged(); err != nil {
		t.Fatalf("an intact store is damaged: %v", err)
	}
	// Every stored tree hash changed: whatever hashes the proof reads.
	if err := s.db.Update(func(txn *badger.Txn) error {
		for i := int64(0); ; i++ {
			item, err := txn.Get(hashKey(i))
			if errors.Is(err, badger.ErrKeyNotFound) {
				return nil
			}
			h, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			h[0] ^= 1
			if err := txn.Set(hashKey(i), h); err != nil {
				return err
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Checkpoint(context.Background()); !errors.Is(err, ErrDamaged) {
		t.Fatalf("checkpoint over a changed tree hash: %v, want ErrDamaged", err)
	}
	if err := s.Damaged(); !errors.Is(err, ErrDamaged) {
		t.Fatalf("Damaged() = %v after the checkpointer found damage", err)
	}
	_, err := s.Submit(context.Background(), ledger.Request{Actor: ledger.Actor{ID: "t"}, Op: auditTransfer("issuance", "alice", 1, false)})
	if !ledger.IsCode(err, ledger.CodeLedgerDamaged) {
		t.Fatalf("a write after the damage was found: %v, want ledger_damaged", err)
	}
}

// entryKeys lists an account's stored history keys, oldest first.
func entryKeys(t *testing.T, txn *badger.Txn, account string) [][]byte {
	t.Helper()
	var keys [][]byte
	err := badgerKV{txn}.scan(entryPrefix(account), nil, false, func(k, _ []byte) (bool, error) {
		keys = append(keys, append([]byte{}, k...))
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) < 8 {
		t.Fatalf("%s has %d history lines; the fixture gives more", account, len(keys))
	}
	return keys
}

func entrySeq(key []byte) uint64 { return binary.BigEndian.Uint64(key[len(key)-10:]) }

// editEntry rewrites one field of a stored history line.
func editEntry(t *testing.T, txn *badger.Txn, key []byte, field string, val any) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(get(t, txn, key), &m); err != nil {
		t.Fatal(err)
	}
	m[field] = val
	b, _ := json.Marshal(m)
	set(t, txn, key, b)
}

// A resident's history is what they see of the ledger: a line changed,
// removed, added or moved in the database without a record is caught by
// the verifier, which names the record and the account.
func TestTamperHistory(t *testing.T) {
	cases := []struct {
		name    string
		account string
		edit    func(t *testing.T, txn *badger.Txn, keys [][]byte) uint64 // returns the seq to report
	}{
		{"amount changed", "alice", func(t *testing.T, txn *badger.Txn, keys [][]byte) uint64 {
			editEntry(t, txn, keys[3], "amount", -1)
			return entrySeq(keys[3])
		}},
		{"counterparty changed", "bob", func(t *testing.T, txn *badger.Txn, keys [][]byte) uint64 {
			editEntry(t, txn, keys[2], "counterparty", "issuance")
			return entrySeq(keys[2])
		}},
		{"kind changed", "bob", func(t *testing.T, txn *badger.Txn, keys [][]byte) uint64 {
			editEntry(t, txn, keys[5], "kind", "posted")
			return entrySeq(keys[5])
		}},
		{"time changed", "alice", func(t *testing.T, txn *badger.Txn, keys [][]byte) uint64 {
			editEntry(t, txn, keys[1], "time", "2020-01-01T00:00:00Z")
			return entrySeq(keys[1])
		}},
		{"transaction id changed", "alice", func(t *testing.T, txn *badger.Txn, keys [][]byte) uint64 {
			editEntry(t, txn, keys[2], "tx", "tx-1")
			return entrySeq(keys[2])
		}},
		// A line's running balance is what a passbook and a report over a
		// past period read: changed, it is named by its line.
		{"balance changed", "alice", func(t *testing.T, txn *badger.Txn, keys [][]byte) uint64 {
			editEntry(t, txn, keys[3], "balance", 123456)
			return entrySeq(keys[3])
		}},
		{"balance of a pending line changed", "bob", func(t *testing.T, txn *badger.Txn, keys [][]byte) uint64 {
			for _, k := range keys {
				var e ledger.Entry
				if err := json.Unmarshal(get(t, txn, k), &e); err != nil {
					t.Fatal(err)
				}
				if e.Kind == "pending" {
					editEntry(t, txn, k, "balance", *e.Balance+e.Amount)
					return entrySeq(k)
				}
			}
			t.Fatal("the fixture gives bob no pending line")
			return 0
		}},
		{"memo changed", "alice", func(t *testing.T, txn *badger.Txn, keys [][]byte) uint64 {
			editEntry(t, txn, keys[2], "memo", "for something else")
			return entrySeq(keys[2])
		}},
		{"resolving transaction of a released line changed", "bob", func(t *testing.T, txn *badger.Txn, keys [][]byte) uint64 {
			for _, k := range keys {
				var e ledger.Entry
				if err := json.Unmarshal(get(t, txn, k), &e); err != nil {
					t.Fatal(err)
				}
				if e.Kind == "released" {
					editEntry(t, txn, k, "tx", e.Tx+"0")
					return entrySeq(k)
				}
			}
			t.Fatal("the fixture gives bob no released line")
			return 0
		}},
		{"line deleted", "bob", func(t *testing.T, txn *badger.Txn, keys [][]byte) uint64 {
			if err := txn.Delete(keys[4]); err != nil {
				t.Fatal(err)
			}
			return entrySeq(keys[4])
		}},
		{"line added", "alice", func(t *testing.T, txn *badger.Txn, keys [][]byte) uint64 {
			k := keys[2]
			fake := entryKey("alice", entrySeq(k), 7)
			set(t, txn, fake, get(t, txn, k))
			return entrySeq(k)
		}},
		{"line moved to another record", "alice", func(t *testing.T, txn *badger.Txn, keys [][]byte) uint64 {
			k := keys[3]
			v := get(t, txn, k)
			if err := txn.Delete(k); err != nil {
				t.Fatal(err)
			}
			set(t, txn, entryKey("alice", entrySeq(k)+100, 0), v)
			return entrySeq(k)
		}},
		{"value garbage", "bob", func(t *testing.T, txn *badger.Txn, keys [][]byte) uint64 {
			set(t, txn, keys[1], []byte("{not json"))
			return entrySeq(keys[1])
		}},
		{"line of an account the chain never opened", "mallory", func(t *testing.T, txn *badger.Txn, _ [][]byte) uint64 {
			keys := entryKeys(t, txn, "alice")
			set(t, txn, entryKey("mallory", entrySeq(keys[0]), 0), get(t, txn, keys[0]))
			return entrySeq(keys[0])
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var seq uint64
			_, err := tamper(t, true, func(txn *badger.Txn) {
				var keys [][]byte
				if c.account != "mallory" {
					keys = entryKeys(t, txn, c.account)
				}
				seq = c.edit(t, txn, keys)
			})
			ve := wantBad(t, err, seq, audit.ReasonHistory)
			if ve.Account != c.account {
				t.Fatalf("history failure names %q, want %s", ve.Account, c.account)
			}
		})
	}
}

// txKeys lists the stored transaction documents.
func txKeys(t *testing.T, txn *badger.Txn) map[string]ledger.Transaction {
	t.Helper()
	out := map[string]ledger.Transaction{}
	err := badgerKV{txn}.scan([]byte(pTx), nil, false, func(k, v []byte) (bool, error) {
		var tr ledger.Transaction
		if err := json.Unmarshal(v, &tr); err != nil {
			return false, err
		}
		out[string(k[len(pTx):])] = tr
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func editTx(t *testing.T, txn *badger.Txn, id string, fn func(m map[string]any)) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(get(t, txn, txKey(id)), &m); err != nil {
		t.Fatal(err)
	}
	fn(m)
	b, _ := json.Marshal(m)
	set(t, txn, txKey(id), b)
}

// A transaction as GET /v1/transfers/{id} shows it — an administrator's
// classic edit — is checked against the records that created and settled
// it: a changed amount, party, memo, actor or outcome, a deleted or an
// invented transaction is reported at the record that created it.
func TestTamperTransaction(t *testing.T) {
	pick := func(txs map[string]ledger.Transaction, ok func(ledger.Transaction) bool) ledger.Transaction {
		ids := make([]string, 0, len(txs))
		for id := range txs {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			if ok(txs[id]) {
				return txs[id]
			}
		}
		t.Fatal("the fixture has no such transaction")
		return ledger.Transaction{}
	}
	transfer := func(tr ledger.Transaction) bool { return tr.Kind == "transfer" && tr.Deadline.IsZero() }
	hold := func(tr ledger.Transaction) bool { return !tr.Deadline.IsZero() && tr.ResolvedBy != "" }
	cases := []struct {
		name string
		edit func(t *testing.T, txn *badger.Txn, txs map[string]ledger.Transaction) uint64
	}{
		{"amount changed", func(t *testing.T, txn *badger.Txn, txs map[string]ledger.Transaction) uint64 {
			tr := pick(txs, transfer)
			editTx(t, txn, tr.ID, func(m map[string]any) { m["postings"].([]any)[0].(map[string]any)["amount"] = 1 })
			return tr.Seq
		}},
		{"payee changed", func(t *testing.T, txn *badger.Txn, txs map[string]ledger.Transaction) uint64 {
			tr := pick(txs, transfer)
			editTx(t, txn, tr.ID, func(m map[string]any) { m["postings"].([]any)[0].(map[string]any)["to"] = "issuance" })
			return tr.Seq
		}},
		{"memo changed", func(t *testing.T, txn *badger.Txn, txs map[string]ledger.Transaction) uint64 {
			tr := pick(txs, transfer)
			editTx(t, txn, tr.ID, func(m map[string]any) { m["memo"] = "something else" })
			return tr.Seq
		}},
		{"actor changed", func(t *testing.T, txn *badger.Txn, txs map[string]ledger.Transaction) uint64 {
			tr := pick(txs, transfer)
			editTx(t, txn, tr.ID, func(m map[string]any) { m["actor"] = "someone-else" })
			return tr.Seq
		}},
		{"hold outcome changed", func(t *testing.T, txn *badger.Txn, txs map[string]ledger.Transaction) uint64 {
			tr := pick(txs, hold)
			editTx(t, txn, tr.ID, func(m map[string]any) { m["status"] = "pending"; delete(m, "resolved_by") })
			return txs[tr.ResolvedBy].Seq // reported at the record that settled it
		}},
		{"kind changed", func(t *testing.T, txn *badger.Txn, txs map[string]ledger.Transaction) uint64 {
			tr := pick(txs, transfer)
			editTx(t, txn, tr.ID, func(m map[string]any) { m["kind"] = "donation" })
			return tr.Seq
		}},
		{"deadline changed", func(t *testing.T, txn *badger.Txn, txs map[string]ledger.Transaction) uint64 {
			tr := pick(txs, hold)
			editTx(t, txn, tr.ID, func(m map[string]any) { m["deadline"] = "2099-01-01T00:00:00Z" })
			return tr.Seq
		}},
		{"a transfer marked as reversing another", func(t *testing.T, txn *badger.Txn, txs map[string]ledger.Transaction) uint64 {
			tr := pick(txs, transfer)
			editTx(t, txn, tr.ID, func(m map[string]any) { m["reverses"] = "tx-2" })
			return tr.Seq
		}},
		{"every transfer's memo changed: the earliest is named", func(t *testing.T, txn *badger.Txn, txs map[string]ledger.Transaction) uint64 {
			first, n := uint64(math.MaxUint64), 0
			for _, tr := range txs {
				if transfer(tr) {
					editTx(t, txn, tr.ID, func(m map[string]any) { m["memo"] = "rewritten" })
					first, n = min(first, tr.Seq), n+1
				}
			}
			if n < 8 {
				t.Fatalf("the fixture has %d transfers; the case needs several", n)
			}
			return first
		}},
		{"transaction deleted", func(t *testing.T, txn *badger.Txn, txs map[string]ledger.Transaction) uint64 {
			tr := pick(txs, transfer)
			if err := txn.Delete(txKey(tr.ID)); err != nil {
				t.Fatal(err)
			}
			return tr.Seq
		}},
		{"transaction invented", func(t *testing.T, txn *badger.Txn, txs map[string]ledger.Transaction) uint64 {
			tr := pick(txs, transfer)
			tr.ID += ".9"
			b, _ := json.Marshal(tr)
			set(t, txn, txKey(tr.ID), b)
			return tr.Seq
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var seq uint64
			_, err := tamper(t, true, func(txn *badger.Txn) { seq = c.edit(t, txn, txKeys(t, txn)) })
			wantBad(t, err, seq, audit.ReasonTransaction)
		})
	}
}

// docOp writes workflow documents in one audited op.
func docOp(docs ...[3]string) ledger.Op {
	return func(tx ledger.Tx) (any, error) {
		for _, d := range docs {
			if err := tx.PutDoc(d[0], d[1], map[string]any{"v": d[2]}); err != nil {
				return nil, err
			}
		}
		tx.Audit("doc.test", map[string]any{"n": int64(len(docs))})
		return nil, nil
	}
}

// TestTamperDocuments: the workflow documents (services, donations,
// proposals, members, ...) are checked against the records that wrote
// them: a changed value, a rollback to an earlier version, a deleted or an
// invented document is reported at the record that last wrote it (or, for
// one no record wrote, after the last record). Logins and signing keys
// are not chained (usernames stay out of the chain).
func TestTamperDocuments(t *testing.T) {
	type result struct {
		seqs map[string]uint64 // document → seq of its last write
		v1   []byte            // tb.service/s1 as first written
		n    uint64
	}
	setup := func(t *testing.T) (string, result) {
		dir := t.TempDir()
		s, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		r := result{seqs: map[string]uint64{}}
		r.seqs["tb.service/s1"] = auditSubmit(t, s, docOp([3]string{"tb.service", "s1", "pending"}, [3]string{"fund.donation", "d1", "500"})).Seq
		r.seqs["fund.donation/d1"] = r.seqs["tb.service/s1"]
		_ = s.db.View(func(txn *badger.Txn) error { r.v1 = get(t, txn, docKey("tb.service", "s1")); return nil })
		r.seqs["tb.service/s1"] = auditSubmit(t, s, docOp([3]string{"tb.service", "s1", "confirmed"})).Seq
		r.seqs["fund.proposal/p1"] = auditSubmit(t, s, docOp([3]string{"fund.proposal", "p1", "voting"})).Seq
		r.seqs["jwt_key/k1"] = auditSubmit(t, s, docOp([3]string{"jwt_key", "k1", "seed-1"})).Seq
		r.seqs["index"] = auditSubmit(t, s, func(tx ledger.Tx) (any, error) {
			if err := tx.PutIndex("fund/f1/d/00000000000000000001", []byte("don-1")); err != nil {
				return nil, err
			}
			if err := tx.PutIndex("revoked/jti-1", []byte("1999999999")); err != nil {
				return nil, err
			}
			if err := tx.PutPersonal("m1", map[string]string{"display_name": "张三"}); err != nil {
				return nil, err
			}
			tx.Audit("index.test", map[string]any{})
			return nil, nil
		}).Seq
		// A write with an idempotency key: its stored result is replayed
		// to a retrying client, so it is chained too.
		res, err := s.Submit(context.Background(), ledger.Request{Actor: ledger.Actor{ID: "admin"}, IdemKey: "retry-1",
			Op: docOp([3]string{"tb.need", "n1", "open"})})
		if err != nil {
			t.Fatal(err)
		}
		r.seqs["idem"] = res.Seq
		r.n = res.Seq + 1
		return dir, r
	}
	verifyAfter := func(t *testing.T, dir string, fn func(txn *badger.Txn)) error {
		db, err := badger.Open(badgerOptions(filepath.Join(dir, "db"), false))
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(func(txn *badger.Txn) error { fn(txn); return nil }); err != nil {
			t.Fatal(err)
		}
		db.Close()
		a, err := OpenAudit(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		rep, err := a.Verify(context.Background(), audit.VerifyOptions{})
		if err == nil && rep.Documents == 0 {
			t.Fatal("no documents were checked")
		}
		return err
	}
	t.Run("untouched", func(t *testing.T) {
		dir, _ := setup(t)
		if err := verifyAfter(t, dir, func(*badger.Txn) {}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("several documents changed: the earliest is named, every time", func(t *testing.T) {
		// The documents fall into buckets of a hash seeded anew by each
		// verification: whichever bucket comes first, the earliest damage
		// is the one named.
		dir, r := setup(t)
		edited := false
		for range 4 {
			err := verifyAfter(t, dir, func(txn *badger.Txn) {
				if edited {
					return
				}
				edited = true
				for _, d := range [][2]string{{"fund.donation", "d1"}, {"fund.proposal", "p1"}, {"jwt_key", "k1"}, {"tb.need", "n1"}} {
					set(t, txn, docKey(d[0], d[1]), []byte(`{"v":"rewritten"}`))
				}
			})
			wantBad(t, err, r.seqs["fund.donation/d1"], audit.ReasonDocument)
		}
	})
	t.Run("login documents are not chained", func(t *testing.T) {
		dir, _ := setup(t)
		if err := verifyAfter(t, dir, func(txn *badger.Txn) { set(t, txn, docKey("user", "x"), []byte(`{}`)) }); err != nil {
			t.Fatal(err)
		}
	})
	for _, c := range []struct {
		name string
		edit func(t *testing.T, txn *badger.Txn, r result) uint64
	}{
		{"value changed", func(t *testing.T, txn *badger.Txn, r result) uint64 {
			set(t, txn, docKey("fund.donation", "d1"), []byte(`{"v":"50000"}`))
			return r.seqs["fund.donation/d1"]
		}},
		{"rolled back to an earlier version", func(t *testing.T, txn *badger.Txn, r result) uint64 {
			set(t, txn, docKey("tb.service", "s1"), r.v1)
			return r.seqs["tb.service/s1"]
		}},
		{"deleted", func(t *testing.T, txn *badger.Txn, r result) uint64 {
			if err := txn.Delete(docKey("fund.proposal", "p1")); err != nil {
				t.Fatal(err)
			}
			return r.seqs["fund.proposal/p1"]
		}},
		{"a public list's index entry deleted", func(t *testing.T, txn *badger.Txn, r result) uint64 {
			if err := txn.Delete(indexKey("fund/f1/d/00000000000000000001")); err != nil {
				t.Fatal(err)
			}
			return r.seqs["index"]
		}},
		{"a revocation deleted", func(t *testing.T, txn *badger.Txn, r result) uint64 {
			if err := txn.Delete(indexKey("revoked/jti-1")); err != nil {
				t.Fatal(err)
			}
			return r.seqs["index"]
		}},
		{"an index invented", func(t *testing.T, txn *badger.Txn, r result) uint64 {
			set(t, txn, indexKey("tb/owe/a/b"), []byte("50000"))
			return r.n
		}},
		{"personal data deleted", func(t *testing.T, txn *badger.Txn, r result) uint64 {
			if err := txn.Delete([]byte(pPersonal + "m1")); err != nil {
				t.Fatal(err)
			}
			return r.seqs["index"]
		}},
		{"invented", func(t *testing.T, txn *badger.Txn, r result) uint64 {
			set(t, txn, docKey("fund.donation", "d9"), []byte(`{"v":"1"}`))
			return r.n
		}},
		{"a key outside the store's layout", func(t *testing.T, txn *badger.Txn, r result) uint64 {
			set(t, txn, []byte("z/foo"), []byte("1"))
			return r.n
		}},
		{"a second m/ key", func(t *testing.T, txn *badger.Txn, r result) uint64 {
			set(t, txn, []byte("m/head2"), []byte("{}"))
			return r.n
		}},
		{"a key of no prefix", func(t *testing.T, txn *badger.Txn, r result) uint64 {
			set(t, txn, []byte("a"), []byte("1"))
			return r.n
		}},
		{"an idempotency record's result rewritten", func(t *testing.T, txn *badger.Txn, r result) uint64 {
			k := idemKey("admin", "retry-1")
			set(t, txn, k, bytes.Replace(get(t, txn, k), []byte(`"seq":`), []byte(`"seq":1`), 1))
			return r.seqs["idem"]
		}},
		{"an idempotency record deleted", func(t *testing.T, txn *badger.Txn, r result) uint64 {
			if err := txn.Delete(idemKey("admin", "retry-1")); err != nil {
				t.Fatal(err)
			}
			return r.seqs["idem"]
		}},
		{"an idempotency record invented", func(t *testing.T, txn *badger.Txn, r result) uint64 {
			set(t, txn, idemKey("admin", "retry-2"), get(t, txn, idemKey("admin", "retry-1")))
			return r.n
		}},
		{"a token signing key swapped", func(t *testing.T, txn *badger.Txn, r result) uint64 {
			set(t, txn, docKey("jwt_key", "k1"), []byte(`{"v":"attacker seed"}`))
			return r.seqs["jwt_key/k1"]
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir, r := setup(t)
			var seq uint64
			err := verifyAfter(t, dir, func(txn *badger.Txn) { seq = c.edit(t, txn, r) })
			wantBad(t, err, seq, audit.ReasonDocument)
		})
	}
}

// TestReversalVerifies: a reversal and the transaction it reverses (whose
// resolved_by names it) verify, and the link is checked both ways.
func TestReversalVerifies(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(m map[string]any)
	}{
		{"untouched", nil},
		{"reversal unlinked", func(m map[string]any) { delete(m, "resolved_by") }},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openFunded(t, dir)
			orig := txOf(t, mustSubmit(t, s, transferOp(pay("alice", "bob", 100))))
			rev := mustSubmit(t, s, func(tx ledger.Tx) (any, error) {
				r, err := ledger.Reverse(tx, orig.ID, "entered twice")
				if err == nil {
					tx.Audit("tx.reverse", ledger.TxFields(r))
				}
				return r, err
			})
			s.Close()
			db, err := badger.Open(badgerOptions(filepath.Join(dir, "db"), false))
			if err != nil {
				t.Fatal(err)
			}
			if c.edit != nil {
				db.Update(func(txn *badger.Txn) error { editTx(t, txn, orig.ID, c.edit); return nil })
			}
			db.Close()
			a, err := OpenAudit(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			_, err = a.Verify(context.Background(), audit.VerifyOptions{})
			if c.edit == nil && err != nil {
				t.Fatalf("a genuine reversal: %v", err)
			}
			if c.edit != nil {
				wantBad(t, err, rev.Seq, audit.ReasonTransaction)
			}
		})
	}
}

// TestTamperAccountOwnership: an account's owner, owner kind, kind and
// community decide who may read it; the open and status effects carry
// them, and a stored account that differs is reported like a balance.
func TestTamperAccountOwnership(t *testing.T) {
	for field, val := range map[string]string{"owner": "mallory", "owner_kind": "community", "kind": "pool", "community": "elsewhere"} {
		t.Run(field, func(t *testing.T) {
			_, err := tamper(t, true, func(txn *badger.Txn) {
				var m map[string]any
				json.Unmarshal(get(t, txn, accountKey("bob")), &m)
				m[field] = val
				b, _ := json.Marshal(m)
				set(t, txn, accountKey("bob"), b)
			})
			if ve := wantBad(t, err, 13, audit.ReasonBalance); ve.Account != "bob" {
				t.Fatalf("failure names %q, want bob", ve.Account)
			}
		})
	}
}

// TestTamperHeadTime: the writer continues from m/head's last time; one
// moved ahead would date every later record wrongly, and is reported.
func TestTamperHeadTime(t *testing.T) {
	_, err := tamper(t, true, func(txn *badger.Txn) {
		var h head
		json.Unmarshal(get(t, txn, []byte(pHead)), &h)
		h.LastTime += int64(365 * 24 * time.Hour)
		b, _ := json.Marshal(h)
		set(t, txn, []byte(pHead), b)
	})
	size := fixtureSize(t)
	wantBad(t, err, size-1, audit.ReasonHead)
}

// fixtureSize is the number of records the tamper fixture holds.
func fixtureSize(t *testing.T) uint64 {
	_, s := fixture(t, true)
	n, _, err := s.Audit().Size()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTamperAccountUnderAnotherKey: an account's value copied under a new
// key (which the API would serve as an account of its own), or over
// another account's key, is caught: an account is the one its key names.
func TestTamperAccountUnderAnotherKey(t *testing.T) {
	for name, to := range map[string]string{"new key": "zz-evil", "another account's key": "alice"} {
		t.Run(name, func(t *testing.T) {
			_, err := tamper(t, true, func(txn *badger.Txn) {
				set(t, txn, accountKey(to), get(t, txn, accountKey("bob")))
			})
			ve, ok := audit.IsVerifyError(err)
			if !ok || ve.Reason != audit.ReasonBalance || ve.Account != to {
				t.Fatalf("got %v, want a balance failure naming %s", err, to)
			}
		})
	}
}

// TestTamperAccountNamesAnother: an account's value edited to name
// another account, balances untouched, is caught by verify naming the
// key; and the store refuses to read it (written back, a transfer to the
// key's account landed on the account the value names).
func TestTamperAccountNamesAnother(t *testing.T) {
	rename := func(txn *badger.Txn) {
		set(t, txn, accountKey("bob"), bytes.Replace(get(t, txn, accountKey("bob")), []byte(`"id":"bob"`), []byte(`"id":"alice"`), 1))
	}
	_, err := tamper(t, true, rename)
	ve, ok := audit.IsVerifyError(err)
	if !ok || ve.Reason != audit.ReasonBalance || ve.Account != "bob" {
		t.Fatalf("got %v, want a balance failure naming bob", err)
	}
	s := openTest(t)
	fund(t, s, 500, "alice", "bob")
	if err := s.db.Update(func(txn *badger.Txn) error { rename(txn); return nil }); err != nil {
		t.Fatal(err)
	}
	s.accounts = map[string]*ledger.Account{} // the writer's cache was filled before the edit
	if _, err := submit(t, s, transferOp(pay("issuance", "bob", 1))); err == nil {
		t.Fatal("a transfer to the tampered account went through")
	}
	if bal, _ := balance(t, s, "alice"); bal != 500 {
		t.Fatalf("alice: %d, want 500 untouched", bal)
	}
}

// TestTamperSwappedCheckpointKey: a checkpoint signing key swapped in
// the store for one no key record names is caught by verify (the stored
// key is not the one the last key record put in force) and refused by
// the server's open (the latest checkpoint verifies with no stored key),
// before it could sign anything.
func TestTamperSwappedCheckpointKey(t *testing.T) {
	skey, vkey, err := audit.GenerateCheckpointKey("tally.test/evil")
	if err != nil {
		t.Fatal(err)
	}
	swap := func(txn *badger.Txn) {
		var ck signingKey
		if err := json.Unmarshal(get(t, txn, docKey(checkpointKeyKind, checkpointKeyID)), &ck); err != nil {
			t.Fatal(err)
		}
		ck.Signer, ck.Verifier = skey, vkey
		b, _ := json.Marshal(ck)
		set(t, txn, docKey(checkpointKeyKind, checkpointKeyID), b)
	}
	_, err = tamper(t, true, swap)
	if ve, ok := audit.IsVerifyError(err); !ok || ve.Reason != audit.ReasonKey {
		t.Fatalf("verify with a swapped checkpoint key: %v, want a key failure", err)
	}
	dir, s := fixture(t, true)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := badger.Open(badgerOptions(filepath.Join(dir, "db"), false))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(txn *badger.Txn) error { swap(txn); return nil }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if s, err := Open(dir, Options{}); !errors.Is(err, ErrDamaged) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("open with a swapped checkpoint key: %v, want ErrDamaged", err)
	}
}

// TestDamagedTable: one byte flipped anywhere in a table file never
// panics verify, and where the flip changed anything a reader sees, verify
// fails and a backup refuses: block checksums are checked (a flipped byte
// once verified clean, another crashed Badger's block iterator, and a
// backup ended early at a damaged block and looked whole). A flip that
// changes nothing readable (every version of every key reads back the
// same) may pass.
func TestDamagedTable(t *testing.T) {
	for i := 1; i < 40; i++ {
		frac := float64(i) / 40
		dir, s := fixture(t, true)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		before := readAllVersions(t, dir)
		ssts, _ := filepath.Glob(filepath.Join(dir, "db", "*.sst"))
		if len(ssts) == 0 {
			t.Fatal("the fixture wrote no table")
		}
		for _, f := range ssts {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			b[int(float64(len(b))*frac)] ^= 0x10
			if err := os.WriteFile(f, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		a, err := OpenAudit(dir)
		if err != nil {
			continue // refused at open: as good
		}
		_, verr := a.Verify(context.Background(), audit.VerifyOptions{})
		a.Close()
		s, berr := Open(dir, Options{}) // refused at open: as good as a refused backup
		if berr == nil {
			berr = s.Backup(context.Background(), io.Discard)
			s.Close()
		}
		if verr == nil || berr == nil {
			if after := readAllVersions(t, dir); after != before {
				t.Errorf("byte at %.1f%% of the table flipped changed what is read, yet verify: %v, backup: %v", frac*100, verr, berr)
			}
		}
	}
}

// readAllVersions reads every version of every key of the store in dir
// into one string (a reader stops at a block that fails its checksum).
func readAllVersions(t *testing.T, dir string) string {
	t.Helper()
	db, err := badger.Open(badgerOptions(filepath.Join(dir, "db"), false).WithReadOnly(true))
	if err != nil {
		return "open: " + err.Error()
	}
	defer db.Close()
	var sb strings.Builder
	func() {
		defer func() {
			if r := recover(); r != nil {
				sb.WriteString("panic")
			}
		}()
		_ = db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{AllVersions: true})
			defer it.Close()
			for it.Rewind(); it.Valid(); it.Next() {
				item := it.Item()
				v, err := item.ValueCopy(nil)
				fmt.Fprintf(&sb, "%q@%d=%q %v\n", item.Key(), item.Version(), v, err)
			}
			return nil
		})
	}()
	return sb.String()
}

// TestDamagedTableFooterRefusedAtOpen flips, one at a time, every byte
// of a table's last KiB (its last block, index and footer), where Badger
// parses lengths before checking checksums. Where Badger's own table
// open panics — which at start-up happens in a goroutine of Badger's and
// ends the process — opening the store must instead fail with ErrDamaged.
// The test needs at least one such byte, or it would show nothing. Then a
// byte of the first data block, which Badger's open never reads.
func TestDamagedTableFooterRefusedAtOpen(t *testing.T) {
	dir, s := fixture(t, true)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ssts, _ := filepath.Glob(filepath.Join(dir, "db", "*.sst"))
	if len(ssts) == 0 {
		t.Fatal("the fixture wrote no table")
	}
	o := badgerOptions(filepath.Join(dir, "db"), false)
	topt := table.Options{BlockSize: o.BlockSize, Compression: o.Compression, ChkMode: o.ChecksumVerificationMode, ReadOnly: true}
	badgerPanics := func(f string) (panicked bool) {
		defer func() { panicked = recover() != nil }()
		mf, err := z.OpenMmapFile(f, os.O_RDONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		tb, err := table.OpenTable(mf, topt)
		if err == nil {
			tb.MmapFile.Close(-1)
		}
		return false
	}
	f := ssts[0]
	orig, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	panics := 0
	for i := max(0, len(orig)-1024); i < len(orig); i++ {
		b := append([]byte{}, orig...)
		b[i] ^= 0x10
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if !badgerPanics(f) {
			continue
		}
		panics++
		s, err := Open(dir, Options{})
		if err == nil {
			s.Close()
		}
		if !errors.Is(err, ErrDamaged) {
			t.Errorf("byte %d of %d flipped: Open: %v, want ErrDamaged", i, len(orig), err)
		}
		if _, err := OpenAudit(dir); !errors.Is(err, ErrDamaged) {
			t.Errorf("byte %d of %d flipped: OpenAudit: %v, want ErrDamaged", i, len(orig), err)
		}
	}
	if panics == 0 {
		t.Fatal("no flipped byte made Badger's table open panic; the test shows nothing")
	}
	// A byte flipped inside a data block, which Badger's open does not
	// read: refused at open too (every block's checksum is checked), where
	// the server once started and answered reads short.
	b := append([]byte{}, orig...)
	b[100] ^= 0x10
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(dir, Options{}); !errors.Is(err, ErrDamaged) {
		if err == nil {
			s.Close()
		}
		t.Errorf("a data block's byte flipped: Open: %v, want ErrDamaged", err)
	}
	if _, err := OpenAudit(dir); !errors.Is(err, ErrDamaged) {
		t.Errorf("a data block's byte flipped: OpenAudit: %v, want ErrDamaged", err)
	}
	t.Logf("%d of the last %d bytes made Badger's table open panic", panics, min(1024, len(orig)))
}

// TestTamperAccountGarbage: an account value that does not decode is a
// balance failure naming the account, not a read error of the verifier.
func TestTamperAccountGarbage(t *testing.T) {
	_, err := tamper(t, true, func(txn *badger.Txn) { set(t, txn, accountKey("bob"), []byte("{garbage")) })
	if ve, ok := audit.IsVerifyError(err); !ok || ve.Reason != audit.ReasonBalance || ve.Account != "bob" {
		t.Fatalf("got %v, want a balance failure naming bob", err)
	}
}

// TestRewriteAgainstPublishedCheckpoint: a log rewritten from a record on
// and re-signed with the store's own key, the witness file (the last
// published checkpoint) left in place: a server refuses to open it, and
// the verification names where the records differ — the range up to the
// published checkpoint's size — instead of a message without a seq.
func TestRewriteAgainstPublishedCheckpoint(t *testing.T) {
	dir, s := fixture(t, false)
	saved := notes(t, s, 14)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	damageDir(t, dir, func(txn *badger.Txn) { rewriteLog(t, txn, 15) })
	if st, err := Open(dir, Options{}); err == nil {
		st.Close()
		t.Fatal("a server opened a log rewritten under its published checkpoint")
	} else if !errors.Is(err, ErrDamaged) {
		t.Fatalf("open: %v", err)
	}
	a, err := OpenAudit(dir)
	if err != nil {
		t.Fatalf("the verification stopped at open: %v", err)
	}
	defer a.Close()
	_, err = a.Verify(context.Background(), audit.VerifyOptions{})
	ve := wantBad(t, err, 0, audit.ReasonTrusted)
	if ve.End != 20 {
		t.Fatalf("range %d..%d, want ..20 (the published checkpoint)", ve.Seq, ve.End)
	}
	// With checkpoints saved before, the range narrows to the rewrite.
	_, err = a.Verify(context.Background(), audit.VerifyOptions{Trusted: saved})
	if ve := wantBad(t, err, 14, audit.ReasonTrusted); ve.End != 20 {
		t.Fatalf("range %d..%d with the checkpoint of 14 saved, want 14..20", ve.Seq, ve.End)
	}
}

// TestUnstatedBalancesReported: lines without a balance after a line of
// their account that states one — an earlier version run again after this
// one (a rollback), or a balance removed — fail nothing (a rollback must
// not read as tampering, and no figure depends on them) but are counted,
// the first named, for verify and the server to say.
func TestUnstatedBalancesReported(t *testing.T) {
	var first uint64
	rep, err := tamper(t, false, func(txn *badger.Txn) {
		keys := entryKeys(t, txn, "alice")
		first = entrySeq(keys[3])
		for _, k := range keys[3:5] {
			var m map[string]any
			if err := json.Unmarshal(get(t, txn, k), &m); err != nil {
				t.Fatal(err)
			}
			if _, ok := m["balance"]; !ok {
				t.Fatal("the fixture's line states no balance")
			}
			delete(m, "balance")
			b, _ := json.Marshal(m)
			set(t, txn, k, b)
		}
	})
	if err != nil {
		t.Fatalf("lines without a balance after lines with one: %v", err)
	}
	if rep.Unstated != 2 || rep.UnstatedFirst != first {
		t.Fatalf("unstated %d from seq %d, want 2 from %d", rep.Unstated, rep.UnstatedFirst, first)
	}
	if rep, err := tamper(t, false, func(*badger.Txn) {}); err != nil || rep.Unstated != 0 {
		t.Fatalf("a whole fixture: %d unstated, %v", rep.Unstated, err)
	}
}

package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"golang.org/x/mod/sumdb/tlog"

	"tally/audit"
	"tally/ledger"
)

// TestExportSignedToItsEnd: an export of a running store whose latest
// checkpoint is behind its log signs the snapshot first, so that the
// export has no record after its latest checkpoint and verifies with the
// operator's key (which refuses an unsigned tail).
func TestExportSignedToItsEnd(t *testing.T) {
	_, s := fixture(t, false)
	for i := 0; i < 3; i++ {
		auditSubmit(t, s, auditTransfer("issuance", "alice", 7, false))
	}
	size, _, err := s.Audit().Size()
	if err != nil {
		t.Fatal(err)
	}
	if c, err := s.Audit().LatestCheckpoint(); err != nil || c.Size >= size {
		t.Fatalf("the fixture should end with unsigned records: latest %d, size %d, %v", c.Size, size, err)
	}
	var buf bytes.Buffer
	if err := s.Audit().Export(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	keys, err := s.Audit().VerifierKeys()
	if err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(context.Background(), audit.NewExportReader(&buf), audit.VerifyOptions{Keys: keys[len(keys)-1:]})
	if err != nil {
		t.Fatalf("an honest export with --key: %v", err)
	}
	if rep.Latest != size || rep.Records != size {
		t.Fatalf("export covers %d records, latest checkpoint %d; want both %d", rep.Records, rep.Latest, size)
	}
	if c, err := s.Audit().LatestCheckpoint(); err != nil || c.Size != size {
		t.Fatalf("the checkpoint the export signed is stored: latest %d, %v; want %d", c.Size, err, size)
	}
}

// TestExportOnAFullDisk: with the disk below the reserve (writes refused,
// reads going on) an export is still signed to its end, with the note
// it signed carried in the export and not stored — it once answered 507
// storage_full, and tally verify --url with it.
func TestExportOnAFullDisk(t *testing.T) {
	_, s := fixture(t, false)
	auditSubmit(t, s, auditTransfer("issuance", "alice", 7, false))
	size, _, err := s.Audit().Size()
	if err != nil {
		t.Fatal(err)
	}
	before, _ := s.Audit().LatestCheckpoint()
	s.freeSpace = func() (uint64, error) { return MinFreeDisk / 2, nil }
	var buf bytes.Buffer
	if err := s.Audit().Export(context.Background(), &buf); err != nil {
		t.Fatalf("export on a full disk: %v", err)
	}
	keys, err := s.Audit().VerifierKeys()
	if err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(context.Background(), audit.NewExportReader(&buf), audit.VerifyOptions{Keys: keys[len(keys)-1:]})
	if err != nil || rep.Latest != size {
		t.Fatalf("the export on a full disk: latest %d of %d, %v", rep.Latest, size, err)
	}
	if c, _ := s.Audit().LatestCheckpoint(); c.Size != before.Size {
		t.Fatalf("a checkpoint was stored on a full disk: %d → %d", before.Size, c.Size)
	}
}

// TestVerifyNamesTheKeysRecord: a stored transaction or history line is
// named at the record its key (or the chain, for a transaction id) says,
// never at a seq read from the damaged value; a key outside the layout is
// named at the log's size and quoted.
func TestVerifyNamesTheKeysRecord(t *testing.T) {
	size := fixtureSize(t)
	pickTx := func(t *testing.T, txn *badger.Txn) ledger.Transaction {
		for _, tr := range txKeys(t, txn) {
			if tr.Kind == "transfer" && tr.Seq > 5 && tr.Deadline.IsZero() {
				return tr
			}
		}
		t.Fatal("no transfer after seq 5 in the fixture")
		return ledger.Transaction{}
	}
	cases := []struct {
		name   string
		reason audit.Reason
		edit   func(t *testing.T, txn *badger.Txn) uint64
	}{
		{"transaction seq changed to 5", audit.ReasonTransaction, func(t *testing.T, txn *badger.Txn) uint64 {
			tr := pickTx(t, txn)
			editTx(t, txn, tr.ID, func(m map[string]any) { m["seq"] = 5 })
			return tr.Seq
		}},
		{"transaction set to {}", audit.ReasonTransaction, func(t *testing.T, txn *badger.Txn) uint64 {
			tr := pickTx(t, txn)
			set(t, txn, txKey(tr.ID), []byte("{}"))
			return tr.Seq
		}},
		{"history line set to {}", audit.ReasonHistory, func(t *testing.T, txn *badger.Txn) uint64 {
			k := entryKeys(t, txn, "alice")[5]
			set(t, txn, k, []byte("{}"))
			return entrySeq(k)
		}},
		{"history line's seq changed to 5", audit.ReasonHistory, func(t *testing.T, txn *badger.Txn) uint64 {
			k := entryKeys(t, txn, "alice")[5]
			editEntry(t, txn, k, "seq", 5)
			return entrySeq(k)
		}},
		{"history key outside the layout", audit.ReasonHistory, func(t *testing.T, txn *badger.Txn) uint64 {
			set(t, txn, []byte("h/acct/abc"), []byte("{}"))
			return size
		}},
		{"history key with a seq and no line number", audit.ReasonHistory, func(t *testing.T, txn *badger.Txn) uint64 {
			k := entryKeys(t, txn, "alice")[5]
			set(t, txn, k[:len(k)-2], get(t, txn, k))
			return size
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var seq uint64
			_, err := tamper(t, false, func(txn *badger.Txn) { seq = c.edit(t, txn) })
			ve := wantBad(t, err, seq, c.reason)
			msg := ve.Error()
			if strings.ContainsFunc(msg, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.Fatalf("the message carries raw control characters: %q", msg)
			}
			if c.reason == audit.ReasonTransaction && !strings.Contains(msg, "tx-") {
				t.Fatalf("the message names no transaction id: %s", msg)
			}
		})
	}
}

// damageDir closes nothing: it edits a stopped store's database as an
// attacker (or a disk) would, leaving the witness file in place.
func damageDir(t *testing.T, dir string, fn func(txn *badger.Txn)) {
	t.Helper()
	db, err := badger.Open(badgerOptions(filepath.Join(dir, "db"), false))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(txn *badger.Txn) error { fn(txn); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// stoppedFixture is the fixture's directory, its store closed (the
// witness names its last checkpoint), and its log's size.
func stoppedFixture(t *testing.T) (string, uint64) {
	t.Helper()
	dir, s := fixture(t, false)
	// One more record: a tree of odd size, whose root reads the last
	// record's leaf hash.
	auditSubmit(t, s, auditTransfer("issuance", "alice", 7, false))
	auditCheckpoint(t, s)
	size, _, err := s.Audit().Size()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, size
}

func verifyDir(dir string) error {
	a, err := OpenAudit(dir)
	if err != nil {
		return err
	}
	defer a.Close()
	_, err = a.Verify(context.Background(), audit.VerifyOptions{})
	return err
}

// TestVerifyNamesMissingTreeHash: a stored tree hash that is missing is
// named by the record that stored it, as missing, whether the published
// checkpoint's root needs it (found at open) or not (found by the walk).
func TestVerifyNamesMissingTreeHash(t *testing.T) {
	t.Run("the last leaf hash and its record", func(t *testing.T) {
		dir, size := stoppedFixture(t)
		last := size - 1
		damageDir(t, dir, func(txn *badger.Txn) {
			txn.Delete(recordKey(last))
			txn.Delete(hashKey(tlog.StoredHashIndex(0, int64(last))))
		})
		err := verifyDir(dir)
		ve := wantBad(t, err, last, audit.ReasonSeq)
		if !errors.Is(err, ErrDamaged) || !strings.Contains(ve.Detail, "missing") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("the last leaf hash", func(t *testing.T) {
		dir, size := stoppedFixture(t)
		last := size - 1
		damageDir(t, dir, func(txn *badger.Txn) { txn.Delete(hashKey(tlog.StoredHashIndex(0, int64(last)))) })
		err := verifyDir(dir)
		ve := wantBad(t, err, last, audit.ReasonLeafHash)
		if !errors.Is(err, ErrDamaged) || !strings.Contains(ve.Detail, "missing") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a wrong interior hash the published root needs", func(t *testing.T) {
		dir, _ := stoppedFixture(t)
		// Level 3 over records 0..7, stored with record 7: under every
		// root of 8 records or more. It was said as "records were
		// rewritten", with no seq, by verify and serve alike.
		damageDir(t, dir, func(txn *badger.Txn) { txn.Set(hashKey(tlog.StoredHashIndex(3, 0)), bytes.Repeat([]byte{7}, 32)) })
		ve := wantBad(t, verifyDir(dir), 7, audit.ReasonTreeHash)
		if !strings.Contains(ve.Detail, "wrong") || strings.Contains(ve.Detail, "rewritten") {
			t.Fatalf("got %v", ve)
		}
		if st, err := Open(dir, Options{Existing: true}); err == nil {
			st.Close()
			t.Fatal("a server started on it")
		} else if !strings.Contains(err.Error(), "tree hash") || strings.Contains(err.Error(), "rewritten") {
			t.Fatalf("a server's start: %v", err)
		}
	})
	t.Run("an interior hash no root needs", func(t *testing.T) {
		dir, _ := stoppedFixture(t)
		// Level 1 over records 4..5, stored with record 5 (the fixture's
		// checkpoints are of 3, 10, 14, 20 and more: no root reads it).
		damageDir(t, dir, func(txn *badger.Txn) { txn.Delete(hashKey(tlog.StoredHashIndex(1, 2))) })
		ve := wantBad(t, verifyDir(dir), 5, audit.ReasonTreeHash)
		if !strings.Contains(ve.Detail, "missing") || strings.Contains(ve.Detail, "wrong") {
			t.Fatalf("got %v", ve)
		}
	})
}

// TestWitnessOfLostKeysSaysLost: a witness naming more records than the
// ledger holds, signed by a key the store does not hold, is what a
// write-ahead log damaged near its start leaves (its key record and key
// were lost with the records; probe s23c flipped a byte in a killed
// server's .mem): said as records lost, not as a damaged witness file.
func TestWitnessOfLostKeysSaysLost(t *testing.T) {
	dir, size := stoppedFixture(t)
	skey, _, err := audit.GenerateCheckpointKey("tally.test/lost")
	if err != nil {
		t.Fatal(err)
	}
	note, err := audit.SignCheckpoint(audit.Checkpoint{Origin: "tally.test/lost", Size: int64(size) + 30, Hash: audit.Hash{1}}, skey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, witnessFile), note, 0o600); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("names a published log of %d records signed by a key the store does not hold: acknowledged records were lost", size+30)
	if err := verifyDir(dir); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), want) {
		t.Fatalf("verify: %v, want records lost", err)
	}
	if st, err := Open(dir, Options{Existing: true}); err == nil {
		st.Close()
		t.Fatal("a server started on it")
	} else if !strings.Contains(err.Error(), want) {
		t.Fatalf("a server's start: %v", err)
	}
}

// TestVerifyHeadAndWitnessNotLostRecords: a missing head, or a witness
// file whose signature does not verify, is said as such, not as
// acknowledged records lost or rewritten.
func TestVerifyHeadAndWitnessNotLostRecords(t *testing.T) {
	t.Run("m/head deleted", func(t *testing.T) {
		dir, _ := stoppedFixture(t)
		damageDir(t, dir, func(txn *badger.Txn) { txn.Delete([]byte(pHead)) })
		err := verifyDir(dir)
		ve := wantBad(t, err, 0, audit.ReasonHead)
		if !strings.Contains(ve.Detail, "missing") || strings.Contains(err.Error(), "lost") {
			t.Fatalf("got %v", err)
		}
	})
	for name, edit := range map[string]func(string) string{
		"witness size edited": func(note string) string {
			lines := strings.SplitN(note, "\n", 3)
			return lines[0] + "\n900\n" + lines[2]
		},
		"witness root edited": func(note string) string {
			lines := strings.SplitN(note, "\n", 4)
			// Another valid base64 root (a flipped bit could make it
			// malformed, which is a damaged file too, said otherwise).
			root := []byte(lines[2])
			root[0] = 'A'
			if lines[2][0] == 'A' {
				root[0] = 'B'
			}
			return lines[0] + "\n" + lines[1] + "\n" + string(root) + "\n" + lines[3]
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir, _ := stoppedFixture(t)
			p := filepath.Join(dir, witnessFile)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(edit(string(b))), 0o600); err != nil {
				t.Fatal(err)
			}
			err = verifyDir(dir)
			if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "witness file") || strings.Contains(err.Error(), "lost") || strings.Contains(err.Error(), "rewritten") {
				t.Fatalf("got %v", err)
			}
			// A server's start says the same.
			if st, err := Open(dir, Options{Existing: true}); err == nil {
				st.Close()
				t.Fatal("a server started on it")
			} else if !strings.Contains(err.Error(), "witness file") || strings.Contains(err.Error(), "lost") {
				t.Fatalf("a server's start: %v", err)
			}
		})
	}
}

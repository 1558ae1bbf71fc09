package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/dgraph-io/badger/v4"

	"tally/ledger"
)

// FuzzEntryLine: the export/verify walk's decoder of history lines (an
// h/ key and its value) never panics; a key the store writes
// (entryKey) reads back as its account, seq and n, any key it does not
// call bad re-encodes to itself, and a decoder reused from line to line
// (as walkEntries reuses it) answers as a fresh one does.
func FuzzEntryLine(f *testing.F) {
	f.Add("alice", uint64(7), uint16(1), []byte(`{"seq":7,"tx":"t","time":"2026-01-01T00:00:00Z","kind":"posted","amount":-5,"unit":"HOUR","counterparty":"bob","balance":-5}`), []byte("alice/\x00\x00\x00\x00\x00\x00\x00\x07\x00\x01"))
	f.Add("a/b", uint64(0), uint16(0), []byte(`{bad`), []byte("x"))
	f.Add("", ^uint64(0), ^uint16(0), []byte(`null`), []byte("/0123456789"))
	f.Fuzz(func(t *testing.T, account string, seq uint64, n uint16, raw, junk []byte) {
		var reused entryLineDecoder
		key := entryKey(account, seq, n)
		e := *reused.decode(key, raw)
		if account != "" && (e.BadKey || e.Account != account || e.Seq != seq || e.N != n) {
			t.Fatalf("entryKey(%q, %d, %d) decoded as %+v", account, seq, n, e)
		}
		var le ledger.Entry
		if decodeEntry(raw, &le) == nil && !e.BadKey && (e.ValueSeq != le.Seq || e.Amount != le.Amount || e.Kind != le.Kind ||
			e.Time != le.Time.UnixNano() || e.HasBalance != (le.Balance != nil)) {
			t.Fatalf("value %q decoded as %+v, decodeEntry gives %+v", raw, e, le)
		}
		other := append([]byte(pEntry), junk...)
		got := *reused.decode(other, raw)
		var fresh entryLineDecoder
		if want := *fresh.decode(other, raw); got != want {
			t.Fatalf("reused decoder: %+v, fresh: %+v", got, want)
		}
		if !got.BadKey && !bytes.Equal(entryKey(got.Account, got.Seq, got.N), other) {
			t.Fatalf("key %q decoded as %q %d %d, which is key %q", other, got.Account, got.Seq, got.N, entryKey(got.Account, got.Seq, got.N))
		}
	})
}

// FuzzPersonalBox: personal data sealed by write reads back as written
// (valid UTF-8); the same box read for another member, or with any byte
// changed, is refused; and any plaintext sealed under a member's data key
// (a damaged or foreign box that still authenticates) decodes to a map or
// an error, never a panic.
func FuzzPersonalBox(f *testing.F) {
	f.Add("lihua", "phone", "138 0013 8000", []byte(`{"phone":"1"}`), uint16(0))
	f.Add("m:1", "birth_date", "1950-03-07", []byte(`["x"]`), uint16(40))
	f.Add("", "", "", []byte(`null`), uint16(65535))
	master := make([]byte, 32)
	for i := range master {
		master[i] = byte(i)
	}
	pk, err := newPersonalKeys(master)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, member, k, v string, plain []byte, flip uint16) {
		m := mapKV{}
		data := map[string]string{k: v}
		wrapped, box, err := pk.write(m, member, data)
		if err != nil || wrapped == nil {
			t.Fatalf("write: %v (wrapped %x)", err, wrapped)
		}
		m[pDataKey+member], m[pPersonal+member] = wrapped, box
		got, err := pk.read(m, member)
		if err != nil {
			t.Fatalf("read back: %v", err)
		}
		if utf8.ValidString(k) && utf8.ValidString(v) && !maps.Equal(got, data) {
			t.Fatalf("wrote %q, read %q", data, got)
		}
		other := member + "x"
		m[pDataKey+other], m[pPersonal+other] = wrapped, box
		if got, err := pk.read(m, other); err == nil {
			t.Fatalf("%q's box read as %q's: %q", member, other, got)
		}
		bad := bytes.Clone(box)
		bad[int(flip)%len(bad)] ^= 1 << (flip % 8)
		m[pPersonal+member] = bad
		if got, err := pk.read(m, member); err == nil {
			t.Fatalf("a changed box read: %q", got)
		}
		dk, err := pk.dataKey(m, member)
		if err != nil {
			t.Fatal(err)
		}
		a, err := newAEAD(dk)
		if err != nil {
			t.Fatal(err)
		}
		m[pPersonal+member] = seal(a, plain, []byte(member))
		if got, err := pk.read(m, member); err == nil {
			var want map[string]string
			if json.Unmarshal(plain, &want) != nil || !maps.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Fatalf("plaintext %q read as %q", plain, got)
			}
		}
	})
}

// FuzzIdemRecordStored: a stored idempotency record that is damaged (any
// bytes) fails only the request that meets it, with internal or
// idempotency_conflict: it is never replayed as a result, never panics
// the writer, and nothing is written.
func FuzzIdemRecordStored(f *testing.F) {
	s, err := Open("", Options{InMemory: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	fund(f, s, 1000, "alice", "bob")
	f.Add([]byte(`{bad`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"fp":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],"seq":3,"result":{"id":"t"}}`))
	f.Add([]byte(`{"fp":[0],"seq":1,"result":{},"subjects":["bob"]}`))
	f.Add([]byte(`{"fp":"AAAA","seq":-1,"result":1e999}`))
	key := idemKey("alice", "fuzz-key")
	f.Fuzz(func(t *testing.T, v []byte) {
		if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(key, v) }); err != nil {
			t.Fatal(err)
		}
		size := headSize(t, s)
		res, err := s.Submit(context.Background(), idemReq("alice", "fuzz-key", "body", transferOp(pay("alice", "bob", 1))))
		if err == nil || res.Replayed {
			t.Fatalf("record %q: replayed %v, err %v", v, res.Replayed, err)
		}
		if c := ledger.ErrorCode(err); c != ledger.CodeInternal && c != ledger.CodeIdempotencyConflict {
			t.Fatalf("record %q: code %q (%v)", v, c, err)
		}
		if after := headSize(t, s); after != size {
			t.Fatalf("record %q: the log grew from %d to %d", v, size, after)
		}
		var kept []byte
		if err := s.db.View(func(txn *badger.Txn) error {
			it, err := txn.Get(key)
			if err == nil {
				kept, err = it.ValueCopy(nil)
			}
			return err
		}); err != nil || !bytes.Equal(kept, v) {
			t.Fatalf("record %q now %q (%v)", v, kept, err)
		}
	})
}

// FuzzTimerKey: the timer scan reads any e/ key without panicking; a due
// timer it returns carries the stored key, and re-encodes (timerKey) to
// it whenever the byte after the deadline is the '/' the store writes;
// a key the store writes reads back as its deadline, kind and id.
func FuzzTimerKey(f *testing.F) {
	s, err := Open("", Options{InMemory: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	f.Add(int64(1795391639957750139), "fuzzkind", "t-1", []byte("\x00\x00\x00\x00\x00\x00\x00\x01/k/i"))
	f.Add(int64(-1), "k/x", "a/b", []byte("\x00\x00\x00\x00\x00\x00\x00\x01"))
	f.Add(int64(0), "", "", []byte("\x00\x00\x00\x00\x00\x00\x00\x01Xkind/id"))
	far := time.Unix(0, 1<<62).UTC()
	f.Fuzz(func(t *testing.T, ns int64, kind, id string, raw []byte) {
		if kind == ledger.ExpiryKindHold {
			kind = "fuzz" // the background timer loop fires holds: not under test here
		}
		if bytes.Contains(raw, []byte("/"+ledger.ExpiryKindHold+"/")) {
			raw = bytes.ReplaceAll(raw, []byte("/"+ledger.ExpiryKindHold+"/"), []byte("/fuzz/"))
		}
		at := time.Unix(0, ns).UTC()
		written := timerKey(at, kind, id)
		keys := [][]byte{written, append([]byte(pTimer), raw...)}
		if err := s.db.Update(func(txn *badger.Txn) error {
			for _, k := range keys {
				if err := txn.Set(k, nil); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		defer s.db.Update(func(txn *badger.Txn) error {
			for _, k := range keys {
				txn.Delete(k)
			}
			return nil
		})
		due, retries := s.dueTimers(far)
		found := false
		for _, d := range append(due, retries...) {
			if !strings.HasPrefix(d.key, pTimer) {
				t.Fatalf("due timer %+v: not a timer key", d)
			}
			rest := d.key[len(pTimer):]
			if len(rest) < 10 {
				t.Fatalf("due timer %+v from a key too short", d)
			}
			if rest[8] == '/' && string(timerKey(d.at, d.kind, d.id)) != d.key {
				t.Fatalf("key %q read as %v %q %q, which is key %q", d.key, d.at, d.kind, d.id, timerKey(d.at, d.kind, d.id))
			}
			if d.key == string(written) {
				found = true
				if !d.at.Equal(at) && uint64(d.at.UnixNano()) != uint64(ns) || d.kind+"/"+d.id != kind+"/"+id {
					t.Fatalf("timerKey(%v, %q, %q) read as %v %q %q", at, kind, id, d.at, d.kind, d.id)
				}
			}
		}
		if !found && uint64(ns) <= uint64(far.UnixNano()) {
			t.Fatalf("timer %v %q %q (key %q) not due at %v", at, kind, id, written, far)
		}
	})
}

// FuzzFormatMark: the data directory's format mark is read without
// panicking; a mark is accepted only when it names a format from 1 to
// this build's, and one naming a newer format is refused as such
// (ErrNewerFormat), never as a damaged mark.
func FuzzFormatMark(f *testing.F) {
	f.Add([]byte(formatLine() + "\n"))
	f.Add([]byte(formatPrefix + "2\n"))
	f.Add([]byte(formatPrefix + "0"))
	f.Add([]byte(formatPrefix + "+1"))
	f.Add([]byte(" " + formatPrefix + "1 \r\n"))
	f.Add([]byte("tally storage format"))
	f.Add([]byte{})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, mark []byte) {
		if err := os.WriteFile(filepath.Join(dir, formatFile), mark, 0o600); err != nil {
			t.Fatal(err)
		}
		err := checkFormat(dir)
		v, named := strings.CutPrefix(strings.TrimSpace(string(mark)), formatPrefix)
		n, perr := strconv.Atoi(v)
		switch {
		case err == nil && (!named || perr != nil || n < 1 || n > FormatVersion):
			t.Fatalf("mark %q accepted", mark)
		case errors.Is(err, ErrNewerFormat) && (!named || perr != nil || n <= FormatVersion):
			t.Fatalf("mark %q refused as newer: %v", mark, err)
		case named && perr == nil && n > FormatVersion && !errors.Is(err, ErrNewerFormat):
			t.Fatalf("mark %q names format %d, refused otherwise: %v", mark, n, err)
		}
	})
}

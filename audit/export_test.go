package audit

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"
)

// TestExportRefusesShortSource: a source that hands over fewer records
// than its head counts (a store reader stopped by a damaged block) gets
// an error from Close, which writes no end frame, so the export cannot
// look whole; a whole one closes.
func TestExportRefusesShortSource(t *testing.T) {
	for _, records := range []uint64{1, 2} {
		var b bytes.Buffer
		x := NewExportWriter(&b)
		if err := x.Begin(Head{Size: 2}, nil); err != nil {
			t.Fatal(err)
		}
		for i := range records {
			if err := x.Record(i, []byte("r"), nil); err != nil {
				t.Fatal(err)
			}
		}
		err := x.Close()
		if records < 2 && err == nil {
			t.Fatalf("Close of an export of %d records of 2: no error", records)
		}
		if records == 2 && err != nil {
			t.Fatalf("Close of a whole export: %v", err)
		}
	}
}

// TestExportMissingRecordNamed: a record frame cut out of an export whose
// end frame was left as it was is named by its seq (the records read
// before the end frame's mismatch are checked), not only reported as a
// bad end frame.
func TestExportMissingRecordNamed(t *testing.T) {
	m, skey, _ := ledgerLog(t)
	m.add(t, "tx.transfer", effects(moveFx("move", "tx-3", "issuance", "alice", 5)))
	m.add(t, "tx.transfer", effects(moveFx("move", "tx-4", "issuance", "alice", 5)))
	m.checkpoint(t, "tally.test/log", skey)
	m.accounts(acct("alice", "no_overdraft", 0, 0, 0, 510, 0, 0), acct("bob", "credit_limit", 100, 1000, 0, 0, 0, 0),
		acct("issuance", "none", 0, 0, 510, 0, 0, 0))
	b := exportOf(t, m).Bytes()
	out := withoutFrame(t, b, func(frame []byte) bool {
		return frame[0] == FrameRecord && binary.BigEndian.Uint64(frame[5:13]) == 3
	})
	_, err := Verify(context.Background(), NewExportReader(bytes.NewReader(out)), VerifyOptions{})
	if !isFailure(err, 3, ReasonSeq) {
		t.Fatalf("export without record 3: %v, want a seq failure at 3", err)
	}
}

// TestExportFrameCountsNamed: an export with its last record, a
// checkpoint or an account frame cut out (and its end frame left as it
// was) fails verification naming a seq, as a damaged export, not as one
// that cannot be read (which `tally verify` reports with exit 2 and no
// seq).
func TestExportFrameCountsNamed(t *testing.T) {
	m, skey, _ := ledgerLog(t)
	m.add(t, "tx.transfer", effects(moveFx("move", "tx-3", "issuance", "alice", 5)))
	m.checkpoint(t, "tally.test/log", skey)
	m.add(t, "tx.transfer", effects(moveFx("move", "tx-4", "issuance", "alice", 5)))
	m.accounts(acct("alice", "no_overdraft", 0, 0, 0, 510, 0, 0), acct("bob", "credit_limit", 100, 1000, 0, 0, 0, 0),
		acct("issuance", "none", 0, 0, 510, 0, 0, 0))
	b := exportOf(t, m).Bytes()
	last := uint64(len(m.records) - 1)
	cases := map[string]func([]byte) bool{
		"last record": func(f []byte) bool { return f[0] == FrameRecord && binary.BigEndian.Uint64(f[5:13]) == last },
		"checkpoint":  func(f []byte) bool { return f[0] == FrameCheckpoint },
		"account bob": func(f []byte) bool { return f[0] == FrameAccount && bytes.Contains(f, []byte("bob")) },
	}
	for name, cut := range cases {
		_, err := Verify(context.Background(), NewExportReader(bytes.NewReader(withoutFrame(t, b, cut))), VerifyOptions{})
		if _, ok := IsVerifyError(err); !ok {
			t.Errorf("export without its %s: %v, want a verification failure naming a seq", name, err)
		}
	}
}

// withoutFrame returns export b without the frames cut selects (at least
// one must be).
func withoutFrame(t *testing.T, b []byte, cut func(frame []byte) bool) []byte {
	t.Helper()
	out := append([]byte(nil), b[:len(ExportMagic)]...)
	for i := len(ExportMagic); i < len(b); {
		n := int(binary.BigEndian.Uint32(b[i+1 : i+5]))
		frame := b[i : i+5+n]
		if !cut(frame) {
			out = append(out, frame...)
		}
		i += 5 + n
	}
	if len(out) == len(b) {
		t.Fatal("no frame to cut found")
	}
	return out
}

// exportOf writes m as an export.
func exportOf(t *testing.T, m *memLog) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	x := NewExportWriter(&buf)
	if err := m.Walk(context.Background(), x); err != nil {
		t.Fatal(err)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

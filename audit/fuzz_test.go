package audit

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

func seedRecords(f *testing.F) {
	m, skey, _ := ledgerLog(f)
	m.add(f, "tx.post", effects(moveFx("release", "h", "alice", "bob", 1), moveFx("move", "p", "alice", "bob", 1)))
	m.add(f, "misc", map[string]any{"b": []byte{0, 1}, "t": true, "f": false, "l": []any{int64(-1), "x", map[string]any{}}})
	for _, r := range m.records {
		f.Add(r)
	}
	f.Add(m.checkpoint(f, "tally.test/log", skey))
}

// FuzzDecode holds Decode canonical (Encode(Decode(b)) == b) and the
// verifier's fast scanner equal to it: same acceptance, same effects.
func FuzzDecode(f *testing.F) {
	seedRecords(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := Decode(data)
		var s scan
		ok := s.read(data)
		if ok != (err == nil) {
			t.Fatalf("scan accepts %v, Decode says %v", ok, err)
		}
		if err != nil {
			return
		}
		again, err := Encode(rec)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("round trip: %v\n in %x\nout %x", err, data, again)
		}
		if s.seq != rec.Seq || s.prev != rec.Prev || s.time != rec.Time || string(s.action) != rec.Action {
			t.Fatalf("scan header differs from Decode")
		}
		checkScannedEffects(t, &s, rec)
		checkScannedKeyFields(t, &s, rec)
		checkMoves(t, data, rec)
	})
}

// checkScannedKeyFields holds the key records' fields the scanner keeps
// (read in place) to Decode's content: each top-level string, or nothing
// for another type or none.
func checkScannedKeyFields(t *testing.T, s *scan, rec *Record) {
	for name, got := range map[string][]byte{"vkey": s.vkey, "endorsement": s.endorse, "origin": s.origin, "previous": s.previous} {
		want, _ := rec.Content[name].(string)
		if string(got) != want {
			t.Fatalf("scan's %s %q, Decode's content %q", name, got, want)
		}
	}
}

// checkMoves holds Moves (read in place) to DecodedMoves (read from
// Decode's content): the "move" effects with their tx, accounts, unit
// and amount, in order.
func checkMoves(t *testing.T, data []byte, rec *Record) {
	seq, tm, action, moves, ok := Moves(data, nil)
	if !ok {
		return // the caller decodes instead
	}
	if seq != rec.Seq || tm != rec.Time || string(action) != rec.Action {
		t.Fatalf("Moves header differs from Decode")
	}
	var want []string
	for _, m := range DecodedMoves(rec) {
		want = append(want, fmt.Sprintf("%q %q %q %q %d", m.Tx, m.From, m.To, m.Unit, m.Amount))
	}
	var got []string
	for _, m := range moves {
		got = append(got, fmt.Sprintf("%q %q %q %q %d", m.Tx, m.From, m.To, m.Unit, m.Amount))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Moves %v, Decode's content %v", got, want)
	}
}

func checkScannedEffects(t *testing.T, s *scan, rec *Record) {
	list, isList := rec.Content["effects"].([]any)
	if !isList {
		if _, present := rec.Content["effects"]; present != s.badShape {
			t.Fatalf("effects of another shape: badShape %v", s.badShape)
		}
		return
	}
	if len(list) > MaxEffects {
		return
	}
	if len(s.effects) != len(list) && !s.badShape {
		t.Fatalf("scan found %d effects, Decode %d", len(s.effects), len(list))
	}
	for i, e := range list {
		m, ok := e.(map[string]any)
		if !ok || s.badShape {
			return
		}
		if op, _ := m["op"].(string); op != string(s.effects[i].op) {
			t.Fatalf("effect %d: op %q, scan %q", i, op, s.effects[i].op)
		}
		if amt, _ := m["amount"].(int64); amt != s.effects[i].amount {
			t.Fatalf("effect %d: amount %d, scan %d", i, amt, s.effects[i].amount)
		}
	}
}

// FuzzParseCheckpoint holds the parser canonical: what it accepts, Body
// gives back byte for byte; and OpenCheckpoint never panics.
func FuzzParseCheckpoint(f *testing.F) {
	f.Add([]byte("tally.local/x\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"))
	f.Add([]byte("o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\next\n"))
	_, vkey, _ := GenerateCheckpointKey("tally.test/log")
	f.Fuzz(func(t *testing.T, text []byte) {
		c, err := ParseCheckpoint(text)
		if err == nil && !bytes.Equal(c.Body(), text) {
			t.Fatalf("parse/body round trip: %q → %q", text, c.Body())
		}
		OpenCheckpoint(text, vkey)
		CheckpointBody(text)
	})
}

// fuzzTree is a tree of 37 leaves for the proof checkers' fuzzing.
type fuzzTree struct {
	tree   map[int64]Hash
	leaves []Hash
}

func (f *fuzzTree) ReadHashes(idx []int64) ([]Hash, error) {
	out := make([]Hash, len(idx))
	for i, x := range idx {
		out[i] = f.tree[x]
	}
	return out, nil
}

func newFuzzTree(tb testing.TB, n int) *fuzzTree {
	ft := &fuzzTree{tree: map[int64]Hash{}}
	for i := 0; i < n; i++ {
		rec := []byte{byte(i), byte(i >> 8)}
		hs, err := tlog.StoredHashes(int64(i), rec, ft)
		if err != nil {
			tb.Fatal(err)
		}
		for j, h := range hs {
			ft.tree[tlog.StoredHashIndex(0, int64(i))+int64(j)] = h
		}
		ft.leaves = append(ft.leaves, LeafHash(rec))
	}
	return ft
}

func hashesOf(b []byte) []Hash {
	hs := make([]Hash, len(b)/32)
	for i := range hs {
		copy(hs[i][:], b[32*i:])
	}
	return hs
}

// FuzzCheckInclusion: a proof other than the true one never verifies, and
// no input panics.
func FuzzCheckInclusion(f *testing.F) {
	const leaves = 37
	ft := newFuzzTree(f, leaves)
	p, _ := ProveInclusion(20, 7, ft)
	var seed []byte
	for _, h := range p {
		seed = append(seed, h[:]...)
	}
	f.Add(uint8(7), uint8(20), seed)
	f.Add(uint8(0), uint8(1), []byte{})
	f.Fuzz(func(t *testing.T, index, size uint8, proof []byte) {
		idx, n := int64(index)%leaves, int64(size)%(leaves+1)
		root, _ := tlog.TreeHash(n, ft)
		got := hashesOf(proof)
		err := CheckInclusion(got, n, root, idx, ft.leaves[idx])
		if idx >= n {
			if err == nil {
				t.Fatal("leaf outside the tree verified")
			}
			return
		}
		want, _ := ProveInclusion(n, idx, ft)
		if (err == nil) != equalHashes(got, want) {
			t.Fatalf("index %d size %d: proof %x verified %v", idx, n, proof, err == nil)
		}
	})
}

// FuzzCheckConsistency: only the true consistency proof verifies.
func FuzzCheckConsistency(f *testing.F) {
	const leaves = 37
	ft := newFuzzTree(f, leaves)
	p, _ := ProveConsistency(7, 20, ft)
	var seed []byte
	for _, h := range p {
		seed = append(seed, h[:]...)
	}
	f.Add(uint8(7), uint8(20), seed)
	f.Fuzz(func(t *testing.T, from, to uint8, proof []byte) {
		m, n := int64(from)%(leaves+1), int64(to)%(leaves+1)
		oldRoot, _ := tlog.TreeHash(m, ft)
		newRoot, _ := tlog.TreeHash(n, ft)
		got := hashesOf(proof)
		err := CheckConsistency(got, m, oldRoot, n, newRoot)
		if m > n {
			if err == nil {
				t.Fatal("shrinking tree verified")
			}
			return
		}
		want, _ := ProveConsistency(m, n, ft)
		if (err == nil) != equalHashes(got, want) {
			t.Fatalf("%d→%d: proof %x verified %v", m, n, proof, err == nil)
		}
	})
}

func equalHashes(a, b []Hash) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// FuzzExportReader: no input panics the export reader or the verifier.
func FuzzExportReader(f *testing.F) {
	var buf bytes.Buffer
	x := NewExportWriter(&buf)
	m, _, _ := ledgerLog(f)
	m.Walk(context.Background(), x)
	x.Close()
	f.Add(buf.Bytes())
	f.Add(binary.BigEndian.AppendUint32([]byte(ExportMagic+"H"), 40))
	f.Fuzz(func(t *testing.T, data []byte) {
		Verify(context.Background(), NewExportReader(bytes.NewReader(data)), VerifyOptions{})
	})
}

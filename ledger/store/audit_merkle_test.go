package store

import (
	"testing"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"tally/audit"
)

func hashBytes(hs []audit.Hash) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}

// TestProofsAgainstTransparencyDev checks every inclusion and consistency
// proof the store serves, and every signed root, with an independent RFC
// 6962 implementation: leaf hashes, roots and proof checks all come from
// github.com/transparency-dev/merkle, not from tlog.
func TestProofsAgainstTransparencyDev(t *testing.T) {
	_, s := fixture(t, true)
	a := s.Audit()
	size, _, err := a.Size()
	if err != nil {
		t.Fatal(err)
	}
	h := rfc6962.DefaultHasher
	rf := compact.RangeFactory{Hash: h.HashChildren}
	cr := rf.NewEmptyRange(0)
	roots := [][]byte{nil}
	var leaves [][]byte
	for seq := uint64(0); seq < size; seq++ {
		r, err := a.Record(seq)
		if err != nil {
			t.Fatal(err)
		}
		leaf := h.HashLeaf(r.Record)
		leaves = append(leaves, leaf)
		if err := cr.Append(leaf, nil); err != nil {
			t.Fatal(err)
		}
		root, err := cr.GetRootHash(nil)
		if err != nil {
			t.Fatal(err)
		}
		roots = append(roots, root)
	}
	for n := uint64(1); n <= size; n++ {
		for i := uint64(0); i < n; i++ {
			p, got, err := a.InclusionProof(i, n)
			if err != nil || got != n {
				t.Fatalf("inclusion %d in %d: %v", i, n, err)
			}
			if err := proof.VerifyInclusion(h, i, n, leaves[i], hashBytes(p), roots[n]); err != nil {
				t.Fatalf("inclusion %d in %d: %v", i, n, err)
			}
		}
		for m := uint64(1); m <= n; m++ {
			p, err := a.ConsistencyProof(m, n)
			if err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyConsistency(h, m, n, hashBytes(p), roots[m], roots[n]); err != nil {
				t.Fatalf("consistency %d→%d: %v", m, n, err)
			}
		}
	}
	cks, err := a.Checkpoints(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cks {
		body, err := audit.CheckpointBody(c.Note)
		if err != nil || string(body.Hash[:]) != string(roots[c.Size]) {
			t.Fatalf("checkpoint %d: root differs from the independent root (%v)", c.Size, err)
		}
	}
}

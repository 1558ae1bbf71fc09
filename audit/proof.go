package audit

import (
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// Limits of proofs: a tree of 2^63 leaves needs at most 2·63 hashes in a
// consistency proof and 63 in an inclusion proof.
const MaxProofHashes = 128

// ErrProof is wrapped when a proof does not prove what it claims;
// ErrInconsistent when two trees are not one log at two sizes.
var (
	ErrProof        = errors.New("audit: proof failed")
	ErrInconsistent = errors.New("audit: trees are inconsistent")
)

// CheckInclusion checks that proof shows the record with leaf hash leaf at
// index in the tree of size whose root is root (RFC 6962 §2.1.1 audit
// path, in tlog's order: from the leaf's sibling up to the root's child).
func CheckInclusion(proof []Hash, size int64, root Hash, index int64, leaf Hash) error {
	if index < 0 || index >= size || len(proof) > MaxProofHashes {
		return fmt.Errorf("%w: leaf %d outside tree of size %d or proof too long", ErrProof, index, size)
	}
	if err := tlog.CheckRecord(proof, size, root, index, leaf); err != nil {
		return fmt.Errorf("%w: leaf %d in tree of size %d: %v", ErrProof, index, size, err)
	}
	return nil
}

// CheckConsistency checks that proof shows the tree of size oldSize with
// root oldRoot is a prefix of the tree of size newSize with root newRoot
// (RFC 6962 §2.1.2). Equal sizes need equal roots and an empty proof; an
// empty old tree is a prefix of every tree.
func CheckConsistency(proof []Hash, oldSize int64, oldRoot Hash, newSize int64, newRoot Hash) error {
	if oldSize < 0 || newSize < oldSize || len(proof) > MaxProofHashes {
		return fmt.Errorf("%w: sizes %d→%d", ErrInconsistent, oldSize, newSize)
	}
	if oldSize == 0 {
		if len(proof) != 0 {
			return fmt.Errorf("%w: proof from the empty tree must be empty", ErrInconsistent)
		}
		return nil
	}
	if err := tlog.CheckTree(proof, newSize, newRoot, oldSize, oldRoot); err != nil {
		return fmt.Errorf("%w: %d→%d: %v", ErrInconsistent, oldSize, newSize, err)
	}
	return nil
}

// ProveInclusion returns the inclusion proof of leaf index in the tree of
// size, reading stored hashes through r.
func ProveInclusion(size, index int64, r HashReader) ([]Hash, error) {
	if index < 0 || index >= size {
		return nil, fmt.Errorf("%w: leaf %d outside tree of size %d", ErrProof, index, size)
	}
	p, err := tlog.ProveRecord(size, index, r)
	if err != nil {
		return nil, fmt.Errorf("audit: prove leaf %d in %d: %w", index, size, err)
	}
	return p, nil
}

// ProveConsistency returns the consistency proof from the tree of size
// oldSize to the tree of size newSize, reading stored hashes through r.
func ProveConsistency(oldSize, newSize int64, r HashReader) ([]Hash, error) {
	if oldSize < 0 || newSize < oldSize {
		return nil, fmt.Errorf("%w: sizes %d→%d", ErrInconsistent, oldSize, newSize)
	}
	if oldSize == 0 {
		return []Hash{}, nil
	}
	p, err := tlog.ProveTree(newSize, oldSize, r)
	if err != nil {
		return nil, fmt.Errorf("audit: prove tree %d→%d: %w", oldSize, newSize, err)
	}
	return p, nil
}

// Receipt is what a resident or donor keeps as proof of one entry: the
// exact record bytes, its leaf index, its inclusion proof in the tree a
// signed checkpoint names, and that checkpoint. It is JSON so it can be
// saved and mailed; []byte fields are base64.
type Receipt struct {
	Record     []byte `json:"record"`
	Index      int64  `json:"leaf_index"`
	Proof      []Hash `json:"proof"`
	Checkpoint string `json:"checkpoint"`
}

// Verify checks the receipt with only the log's verifier key: the
// checkpoint's signature, the record's encoding and sequence number, and
// its inclusion in the checkpoint's tree. It returns the decoded record.
// Errors wrap ErrSignature, ErrCheckpoint, ErrMalformed or ErrProof.
func (rc *Receipt) Verify(vkey string) (*Record, error) {
	c, err := OpenCheckpoint([]byte(rc.Checkpoint), vkey)
	if err != nil {
		return nil, err
	}
	rec, err := Decode(rc.Record)
	if err != nil {
		return nil, err
	}
	if int64(rec.Seq) != rc.Index || rc.Index < 0 {
		return nil, fmt.Errorf("%w: record seq %d at leaf index %d", ErrProof, rec.Seq, rc.Index)
	}
	if err := CheckInclusion(rc.Proof, c.Size, c.Hash, rc.Index, LeafHash(rc.Record)); err != nil {
		return nil, err
	}
	return rec, nil
}

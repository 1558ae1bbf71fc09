package audit

import (
	"golang.org/x/mod/sumdb/tlog"
)

// Hash is a SHA-256 tree hash.
type Hash = tlog.Hash

// HashReader reads stored tree hashes by their tlog storage index.
type HashReader = tlog.HashReader

// LeafHash is the RFC 6962 leaf hash SHA-256(0x00 ‖ record), which is both
// the record's link in the chain and its leaf in the Merkle tree.
func LeafHash(record []byte) Hash { return tlog.RecordHash(record) }

// StoredHashes returns the tree hashes to store when appending the record
// with leaf index n (see tlog.StoredHashes); StoredHashIndex(0, n) is the
// storage index of the first of them.
func StoredHashes(n int64, record []byte, r HashReader) ([]Hash, error) {
	return tlog.StoredHashes(n, record, r)
}

// StoredHashIndex maps a tree position (level, n) to its storage index.
func StoredHashIndex(level int, n int64) int64 { return tlog.StoredHashIndex(level, n) }

// TreeHash returns the root of the tree of the first n records.
func TreeHash(n int64, r HashReader) (Hash, error) { return tlog.TreeHash(n, r) }

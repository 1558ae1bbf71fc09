package audit

import "context"

// Head is the writer's durable state: how many records the log holds and
// the leaf hash of the last one.
type Head struct {
	Size uint64
	Last Hash
	// LastTime is the commit time (ns) the writer continues from, which
	// must be the last record's; 0 where the source does not keep it (an
	// export).
	LastTime int64
}

// Visitor receives a log in order. Slices passed to it are valid only
// during the call. A Visitor's error stops the walk and is returned by it.
type Visitor interface {
	// Begin comes first: the head and the verifier keys the log knows,
	// oldest first.
	Begin(h Head, keys []string) error
	// Record is the record stored under key, and the tree hashes stored
	// with it (its leaf hash, then the interior hashes it completed; see
	// tlog.StoredHashes), or nil when the source keeps none.
	Record(key uint64, data []byte, stored []Hash) error
	// Checkpoint is the signed checkpoint stored for a tree of size; it
	// comes after the record at size-1 and before any later record.
	Checkpoint(size uint64, note []byte) error
	// Account comes after every record and checkpoint, in id order.
	Account(a *Account) error
}

// Source is a log to read: a data directory, an export file, or a
// running server's export. Walk presents one consistent snapshot.
type Source interface {
	Walk(ctx context.Context, v Visitor) error
}

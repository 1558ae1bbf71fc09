package store

import (
	"sync/atomic"
	"time"
)

// Stats are the store's figures for monitoring (/metrics).
type Stats struct {
	// Commits counts the group commits since the store opened that
	// appended records (one Badger transaction and one fsync each) and
	// Requests the records they appended, one per change acknowledged:
	// Requests / Commits is the mean batch size. Idempotent replays and
	// refusals, which write nothing, are not counted.
	Commits, Requests uint64
	// Records is the number of records in the audit log; Checkpointed the
	// size of the latest signed checkpoint, so Records − Checkpointed
	// records are not signed yet.
	Records, Checkpointed uint64
	// LastSigned is when this process last signed a checkpoint (zero:
	// not yet).
	LastSigned time.Time
	// FailingTimers counts due timers whose op failed, waiting to be
	// tried again (timer.go): a held credit to a frozen account, say.
	FailingTimers int
}

type stats struct {
	commits, requests, records, checkpointed atomic.Uint64
	lastSigned                               atomic.Int64 // Unix nanoseconds, 0: never
}

// signed notes a checkpoint of size signed at t.
func (st *stats) signed(size uint64, t time.Time) {
	for {
		old := st.checkpointed.Load()
		if size <= old || st.checkpointed.CompareAndSwap(old, size) {
			break
		}
	}
	st.lastSigned.Store(t.UnixNano())
}

// Stats returns the store's figures now.
func (s *Store) Stats() Stats {
	out := Stats{Commits: s.stats.commits.Load(), Requests: s.stats.requests.Load(),
		Records: s.stats.records.Load(), Checkpointed: s.stats.checkpointed.Load(), FailingTimers: s.FailingTimers()}
	if ns := s.stats.lastSigned.Load(); ns != 0 {
		out.LastSigned = time.Unix(0, ns).UTC()
	}
	return out
}

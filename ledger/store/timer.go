package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"

	"tally/ledger"
)

// maxTimersPerTick bounds the timers fired in one tick; the rest wait for
// the next one.
const maxTimersPerTick = 1000

// runTimers fires due timers every TimerInterval by submitting their
// handlers' ops as the system actor, until the store closes.
func (s *Store) runTimers() {
	s.every(TimerInterval, s.tdone, func() bool {
		s.FireTimers(context.Background())
		return true
	})
}

// every calls tick every interval until the store closes or tick returns
// false, then closes done.
func (s *Store) every(interval time.Duration, done chan struct{}, tick func() bool) {
	defer close(done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-t.C:
			var err error
			ok := func() bool {
				defer s.contain(&err)
				return tick()
			}()
			if !ok || err != nil {
				return
			}
		}
	}
}

type dueTimer struct {
	at       time.Time
	kind, id string
}

// FireTimers runs the handlers of every timer due now, and returns how
// many it ran. Errors of individual handlers are the handlers' business:
// a timer whose op fails stays scheduled and is tried again.
func (s *Store) FireTimers(ctx context.Context) int {
	if s.verifying.Load() {
		return 0 // fired once the log is verified
	}
	now := uint64(s.clock().UnixNano())
	var due []dueTimer
	_ = s.db.View(func(txn *badger.Txn) error {
		return badgerKV{txn}.scan([]byte(pTimer), nil, false, func(k, _ []byte) (bool, error) {
			rest := k[len(pTimer):]
			if len(rest) < 10 || binary.BigEndian.Uint64(rest) > now || len(due) >= maxTimersPerTick {
				return false, nil
			}
			parts := bytes.SplitN(rest[9:], []byte("/"), 2)
			if len(parts) == 2 {
				due = append(due, dueTimer{time.Unix(0, int64(binary.BigEndian.Uint64(rest))).UTC(), string(parts[0]), string(parts[1])})
			}
			return true, nil
		})
	})
	// Submitted together so that they share group commits instead of
	// paying one fsync each.
	var n atomic.Int64
	var wg sync.WaitGroup
	for _, d := range due {
		s.timerMu.Lock()
		h := s.timers[d.kind]
		s.timerMu.Unlock()
		if h == nil {
			continue
		}
		op := h(d.id, d.at)
		if op == nil {
			continue
		}
		wg.Go(func() {
			if _, err := s.Submit(ctx, ledger.Request{Actor: ledger.SystemActor, Op: op}); err == nil {
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return int(n.Load())
}

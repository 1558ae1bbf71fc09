package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"

	"tally/ledger"
)

// maxTimersPerTick bounds the timers fired in one tick; the rest wait for
// the next one.
const maxTimersPerTick = 1000

// Timers whose op fails (an account frozen under a held credit, say) are
// tried again after a delay that doubles from TimerRetryMin up to
// TimerRetryMax, and are passed over meanwhile. A tick fires the due
// timers that have not failed first, in deadline order, and failing ones
// due for a retry in what is left of maxTimersPerTick (at least
// maxRetriesPerTick of them), so that failing timers never fill a tick
// and hold later ones back. A tick reads at most maxTimerScan due timers,
// failing ones included.
const (
	TimerRetryMin     = 2 * time.Second
	TimerRetryMax     = time.Minute
	maxRetriesPerTick = maxTimersPerTick / 10
	maxTimerScan      = 100 * maxTimersPerTick
)

// timerRetry is a failing timer's next try.
type timerRetry struct {
	next  time.Time
	fails int
}

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
	key      string // the timer's stored key
}

// FireTimers runs the handlers of every timer due now, and returns how
// many it ran. Errors of individual handlers are the handlers' business:
// a timer whose op fails stays scheduled and is tried again.
func (s *Store) FireTimers(ctx context.Context) int {
	if s.verifying.Load() || s.broken.Load() {
		return 0 // fired once the log is verified; none on a broken store
	}
	clock := s.clock()
	due, retries := s.dueTimers(clock)
	take := min(len(retries), max(maxRetriesPerTick, maxTimersPerTick-len(due)))
	due = append(due[:min(len(due), maxTimersPerTick-take)], retries[:take]...)
	// The workflows' timers run before the ledger's hold expiries: a
	// settlement or payment that fell due before its hold's deadline
	// wins over the expiry when both are due in one tick (timers fire
	// late after the server was stopped), whichever the writer would
	// have taken first.
	var first, expiries []dueTimer
	for _, d := range due {
		if d.kind == ledger.ExpiryKindHold {
			expiries = append(expiries, d)
		} else {
			first = append(first, d)
		}
	}
	var n atomic.Int64
	s.fireAll(ctx, first, clock, &n)
	s.fireAll(ctx, expiries, clock, &n)
	return int(n.Load())
}

// dueTimers reads the timers due at clock, new ones and failing ones
// whose next try has come. The retry table's lock is released however
// the read ends (a panic of a broken Badger left it held, and every
// later /metrics scrape waited on it for ever).
func (s *Store) dueTimers(clock time.Time) (due, retries []dueTimer) {
	now := uint64(clock.UnixNano())
	seen, scanned, whole := map[string]bool{}, 0, true
	s.retryMu.Lock()
	defer s.retryMu.Unlock()
	_ = s.db.View(func(txn *badger.Txn) error {
		return badgerKV{txn}.scan([]byte(pTimer), nil, false, func(k, _ []byte) (bool, error) {
			rest := k[len(pTimer):]
			if len(rest) < 10 {
				return true, nil // no key timerKey writes: passed over, not the end of the due timers
			}
			if binary.BigEndian.Uint64(rest) > now {
				return false, nil
			}
			if len(due) >= maxTimersPerTick || scanned >= maxTimerScan {
				whole = false
				return false, nil
			}
			scanned++
			key := string(k)
			seen[key] = true
			r, failing := s.retry[key]
			if failing && (clock.Before(r.next) || len(retries) >= maxTimersPerTick) {
				return true, nil // failing: passed over until its next try
			}
			parts := bytes.SplitN(rest[9:], []byte("/"), 2)
			if len(parts) != 2 {
				return true, nil
			}
			d := dueTimer{time.Unix(0, int64(binary.BigEndian.Uint64(rest))).UTC(), string(parts[0]), string(parts[1]), key}
			if failing {
				retries = append(retries, d)
			} else {
				due = append(due, d)
			}
			return true, nil
		})
	})
	if whole { // timers gone (done by another op) need no retry
		for k := range s.retry {
			if !seen[k] {
				delete(s.retry, k)
			}
		}
	}
	return due, retries
}

// fireAll submits the ops of the timers ds together, so that they share
// group commits instead of paying one fsync each, and waits for them.
func (s *Store) fireAll(ctx context.Context, ds []dueTimer, clock time.Time, n *atomic.Int64) {
	var wg sync.WaitGroup
	for _, d := range ds {
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
			_, err := s.Submit(ctx, ledger.Request{Actor: ledger.SystemActor, Op: op})
			if err == nil {
				n.Add(1)
			}
			s.timerDone(d, err, clock)
		})
	}
	wg.Wait()
}

// timerDone notes a timer's outcome: a failure puts it off (and is logged
// when it first fails and whenever its delay reaches TimerRetryMax); a
// success forgets it.
func (s *Store) timerDone(d dueTimer, err error, now time.Time) {
	s.retryMu.Lock()
	defer s.retryMu.Unlock()
	if err == nil {
		delete(s.retry, d.key)
		return
	}
	select {
	case <-s.quit:
		return // closing: not the timer's failure
	default:
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return
	}
	r := s.retry[d.key]
	r.fails++
	wait := min(TimerRetryMin<<min(r.fails-1, 10), TimerRetryMax)
	r.next = now.Add(wait)
	s.retry[d.key] = r
	if r.fails == 1 || wait == TimerRetryMax && r.fails%10 == 0 {
		slog.Warn("a timer's op fails; it is tried again later", "kind", d.kind, "id", d.id, "due", d.at,
			"failures", r.fails, "retry_in", wait.String(), "error", err.Error())
	}
}

// FailingTimers is how many due timers are waiting to be tried again
// after their op failed.
func (s *Store) FailingTimers() int {
	s.retryMu.Lock()
	defer s.retryMu.Unlock()
	return len(s.retry)
}

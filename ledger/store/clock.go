package store

import (
	"sync"
	"time"
)

// steadyClock is the store's clock: the wall clock, except that it never
// runs backwards nor stands still. When the wall clock is stepped back
// (an NTP correction, an operator), time goes on at its real rate from
// the latest time given — from floor, the last record's time, at the
// first reading — so a hold of one minute expires after a minute of real
// time instead of standing open until the wall clock has caught up, and
// every commit time and timer deadline is read from the same time. A
// wall clock ahead of it is followed at once. wall reads the wall clock;
// elapsed is monotonic time since a fixed start.
func steadyClock(floor time.Time, wall func() time.Time, elapsed func() time.Duration) func() time.Time {
	var mu sync.Mutex
	last, lastAt := floor, elapsed()
	return func() time.Time {
		w, at := wall(), elapsed()
		mu.Lock()
		defer mu.Unlock()
		now := last.Add(at - lastAt)
		if w.After(now) {
			now = w
		}
		last, lastAt = now, at
		return now
	}
}

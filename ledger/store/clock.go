package store

import (
	"sync"
	"time"
)

// steadyClock is the store's clock: the wall clock, except that it never
// runs backwards nor stands still. When the wall clock is stepped back
// (an NTP correction, an operator), it goes on from the latest time it
// gave — from floor, the last record's time, at the first reading — at
// half the real (monotonic) rate until the wall clock has caught up with
// it, then follows the wall clock again: a step back of Δ is absorbed in
// 2Δ of real time, and meanwhile a hold of one minute expires after at
// most two minutes instead of standing open until the wall clock has
// caught up (every record 1 ns after the last). Commit times and timer
// deadlines are read from this one clock. A wall clock ahead of it is
// followed at once. wall reads the wall clock; elapsed is monotonic time
// since a fixed start.
func steadyClock(floor time.Time, wall func() time.Time, elapsed func() time.Duration) func() time.Time {
	var mu sync.Mutex
	last, lastAt := floor, elapsed()
	return func() time.Time {
		w, at := wall(), elapsed()
		mu.Lock()
		defer mu.Unlock()
		now := last.Add((at - lastAt) / 2)
		if w.After(now) {
			now = w
		}
		last, lastAt = now, at
		return now
	}
}

package store

import (
	"testing"
	"time"
)

// TestSteadyClock: the store's clock follows the wall clock forward; when
// the wall clock is stepped back it goes on at half the real (monotonic)
// rate from where it was — never backwards, never standing still (review
// s22c: a one-minute hold stayed open for the hour the clock was set
// back, every record 1 ns after the last) — and meets the wall clock
// again after twice the step (review s22R: at the full rate it stayed
// ahead for good).
func TestSteadyClock(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	wall, mono := t0, time.Duration(0)
	clock := steadyClock(t0.Add(-time.Hour), func() time.Time { return wall }, func() time.Duration { return mono })
	step := func(wallBy, monoBy time.Duration, want time.Time) {
		t.Helper()
		wall, mono = wall.Add(wallBy), mono+monoBy
		if got := clock(); !got.Equal(want) {
			t.Fatalf("wall %s, %s since start: clock %s, want %s", wall.Format(time.TimeOnly), mono, got.Format(time.TimeOnly+".000"), want.Format(time.TimeOnly+".000"))
		}
	}
	step(0, 0, t0)                                                   // the wall clock, ahead of the floor
	step(time.Minute, time.Minute, t0.Add(time.Minute))              // follows it
	step(-time.Hour, 2*time.Second, t0.Add(time.Minute+time.Second)) // stepped back: half the real rate
	step(time.Minute, 2*time.Minute, t0.Add(2*time.Minute+time.Second))
	// 1h0m1s ahead now: the wall clock meets it after twice that.
	step(2*time.Hour+2*time.Second, 2*time.Hour+2*time.Second, t0.Add(time.Hour+2*time.Minute+2*time.Second))
	step(time.Second, time.Second, t0.Add(time.Hour+2*time.Minute+3*time.Second)) // and leads again
	// A floor ahead of the wall clock (the last record, written before
	// the clock was set back and the server restarted) is where it goes on.
	floor := t0.Add(time.Hour)
	wall, mono = t0, 0
	clock = steadyClock(floor, func() time.Time { return wall }, func() time.Duration { return mono })
	step(0, 30*time.Second, floor.Add(15*time.Second))
}

package api

import (
	"testing"
	"time"
)

// TestParseDuration: "Nd" is N whole days and never overflows; anything
// else is a Go duration. "213505d" once wrapped to about a day, and "1h1d"
// was read as 48 h.
func TestParseDuration(t *testing.T) {
	good := map[string]time.Duration{"72h": 72 * time.Hour, "7d": 7 * 24 * time.Hour, "0d": 0, "90m": 90 * time.Minute,
		"106751d": 106751 * 24 * time.Hour, "1h30m": 90 * time.Minute, "1h0m5s": time.Hour + 5*time.Second, "0s": 0, "0": 0, "2562047h": 2562047 * time.Hour}
	for in, want := range good {
		if got, err := parseDuration(in); err != nil || got != want {
			t.Errorf("%q: %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"213505d", "106752d", "1h1d", "d", "-1d", "+1d", "1.5d", "1e3d", "99999999999999999999d", "7 d", "7D", "",
		"+1h", "1h1h", ".5h", "1.5s", "1µs1s", "1s0ms", "-3m", "1m1h", "72H", "9999999999999h", "2562048h"} {
		if got, err := parseDuration(in); err == nil {
			t.Errorf("%q: %v, want an error", in, got)
		}
	}
}

// TestFormatDuration: durations are answered as sent ("72h", not
// "72h0m0s"), and read back to the same value.
func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{72 * time.Hour: "72h", 168 * time.Hour: "168h", 90 * time.Minute: "1h30m",
		30 * time.Minute: "30m", 0: "0s", time.Hour + 5*time.Second: "1h0m5s"} {
		got := formatDuration(d)
		back, err := parseDuration(got)
		if got != want || err != nil || back != d {
			t.Errorf("%v: %q (read back %v, %v), want %q", d, got, back, err, want)
		}
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"7d", "72h", "213505d", "1h1d", "-3m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseDuration(s)
		if err == nil && len(s) > 0 && s[len(s)-1] == 'd' && (d < 0 || d%(24*time.Hour) != 0) {
			t.Fatalf("%q: %v", s, d)
		}
		if err == nil {
			if back, err := parseDuration(formatDuration(d)); err != nil || back != d {
				t.Fatalf("%q: %v formatted %q reads back as %v, %v", s, d, formatDuration(d), back, err)
			}
		}
	})
}

// TestTbTime: RFC 3339 times with offsets under 24 h; "+24:00" (which
// Go's parser takes) is refused.
func TestTbTime(t *testing.T) {
	for _, s := range []string{"2026-11-23T08:00:00Z", "2026-11-23T16:00:00+08:00", "2026-11-23T00:00:00-23:59"} {
		if _, err := tbTime("occurred_at", s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"2026-11-23T08:00:00+24:00", "2026-11-23T08:00:00-25:00", "2026-11-23 08:00:00", "2026-11-23T08:00:00", ""} {
		if _, err := tbTime("occurred_at", s); err == nil {
			t.Errorf("%q: no error", s)
		}
	}
}

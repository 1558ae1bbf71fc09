package timebank_test

import (
	"testing"
	"time"

	"tally/ledger"
	"tally/ledger/timebank"
)

// FuzzParseDay: a report period's day (?from=, ?to=) never panics the
// parser; it refuses with invalid_request only; what it accepts is a
// midnight in DayZone within the years it allows, which reads back from
// its own YYYY-MM-DD as the same day; and a plain YYYY-MM-DD is that day.
func FuzzParseDay(f *testing.F) {
	for _, s := range []string{"2026-03-01", "2026-02-29", "2024-02-29", "0000-01-01", "0001-01-01", "9999-12-31",
		"2026-11-23T16:00:00Z", "2026-11-23T15:59:59.999999999Z", "0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59",
		"2026-3-1", "20260301", "", "2026-03-01 ", "+2026-03-01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := timebank.ParseDay(s)
		if err != nil {
			if ledger.ErrorCode(err) != ledger.CodeInvalidRequest {
				t.Fatalf("ParseDay(%q): code %q, want invalid_request", s, ledger.ErrorCode(err))
			}
			return
		}
		if d.Location() != timebank.DayZone || d.Hour() != 0 || d.Minute() != 0 || d.Second() != 0 || d.Nanosecond() != 0 {
			t.Fatalf("ParseDay(%q) = %v, not a midnight in DayZone", s, d)
		}
		if d.Year() < timebank.MinDayYear || d.Year() > timebank.MaxDayYear {
			t.Fatalf("ParseDay(%q) = %v, outside the years %d-%d", s, d, timebank.MinDayYear, timebank.MaxDayYear)
		}
		back, err := timebank.ParseDay(d.Format(time.DateOnly))
		if err != nil || !back.Equal(d) {
			t.Fatalf("ParseDay(%q) = %v; its day %q reads back as %v, %v", s, d, d.Format(time.DateOnly), back, err)
		}
		if plain, err := time.ParseInLocation(time.DateOnly, s, timebank.DayZone); err == nil && !plain.Equal(d) {
			t.Fatalf("ParseDay(%q) = %v, the day it names is %v", s, d, plain)
		}
		if _, err := time.Parse(time.RFC3339Nano, d.UTC().Format(time.RFC3339Nano)); err != nil {
			t.Fatalf("ParseDay(%q) = %v, which RFC 3339 cannot write: %v", s, d, err)
		}
	})
}

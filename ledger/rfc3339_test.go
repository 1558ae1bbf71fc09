package ledger

import (
	"strings"
	"testing"
	"time"
)

func TestParseRFC3339(t *testing.T) {
	ok := map[string]time.Time{
		"2026-11-24T10:00:00Z":                time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC),
		"2026-11-24T18:00:00.123456789+08:00": time.Date(2026, 11, 24, 10, 0, 0, 123456789, time.UTC),
		"2026-11-24T10:00:00.5-23:59":         time.Date(2026, 11, 25, 9, 59, 0, 500000000, time.UTC),
	}
	for s, want := range ok {
		if got, err := ParseRFC3339(s); err != nil || !got.Equal(want) {
			t.Errorf("ParseRFC3339(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{
		"2026-11-24T10:00:00.1234567891Z", // a tenth digit Go would drop
		"2026-11-24T10:00:00.123456789123Z",
		"2026-11-24T10:00:00+24:00", // offsets end at 23:59
		"2026-11-24T10:00:00-99:59",
		"2026-11-24 10:00:00Z",
		"2026-11-24T1:00:00Z",
		"2026-11-24",
		"",
	} {
		if got, err := ParseRFC3339(s); err == nil {
			t.Errorf("ParseRFC3339(%q) = %v, want an error", s, got)
		}
	}
}

// FuzzParseRFC3339: what is accepted is written back to the same instant,
// and carries no more fraction than a time keeps.
func FuzzParseRFC3339(f *testing.F) {
	for _, s := range []string{"2026-11-24T10:00:00Z", "2026-11-24T10:00:00.123456789+08:00", "2026-11-24T10:00:00.1234567891Z", "0001-01-01T00:00:00-23:59"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseRFC3339(s)
		if err != nil {
			return
		}
		if _, frac, ok := strings.Cut(s, "."); ok && len(strings.TrimLeft(frac, "0123456789")) < len(frac)-MaxFractionDigits {
			t.Fatalf("%q accepted with more than %d fraction digits", s, MaxFractionDigits)
		}
		back, err := time.Parse(time.RFC3339Nano, got.Format(time.RFC3339Nano))
		if err != nil || !back.Equal(got) {
			t.Fatalf("%q: %v written back as %v (%v)", s, got, back, err)
		}
	})
}

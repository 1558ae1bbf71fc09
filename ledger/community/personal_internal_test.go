package community

import (
	"strings"
	"testing"
	"time"
)

// TestBirthDateTodayInChina: a birth date is refused when it is after
// today's date in China, whatever the UTC date (00:30 UTC on the 24th is
// 08:30 on the 24th in China: the 24th is today, the 25th is not).
func TestBirthDateTodayInChina(t *testing.T) {
	now := time.Date(2026, 11, 24, 0, 30, 0, 0, time.UTC)
	if err := checkPersonal(map[string]string{"birth_date": "2026-11-24"}, now); err != nil {
		t.Fatalf("born today: %v", err)
	}
	if err := checkPersonal(map[string]string{"birth_date": "2026-11-25"}, now); err == nil {
		t.Fatal("born tomorrow accepted")
	}
	late := time.Date(2026, 11, 23, 15, 30, 0, 0, time.UTC) // 23:30 on the 23rd in China
	if err := checkPersonal(map[string]string{"birth_date": "2026-11-24"}, late); err == nil {
		t.Fatal("born tomorrow (China time) accepted")
	}
}

// TestPersonalDisplayNameIsAName: a display name sent among the personal
// fields is held to a name's rules, as the top-level field is — one line,
// at most ledger.MaxNameLen bytes (review s27l: 300 bytes over two lines
// were taken through PATCH's personal map).
func TestPersonalDisplayNameIsAName(t *testing.T) {
	now := time.Now()
	for _, bad := range []string{strings.Repeat("名", 100), "名\n第二行"} {
		if err := checkPersonal(map[string]string{"display_name": bad}, now); err == nil {
			t.Fatalf("display name %q taken", bad)
		}
	}
	if err := checkPersonal(map[string]string{"display_name": "王奶奶", "notes": "第一行\n第二行"}, now); err != nil {
		t.Fatalf("a name and two-line notes: %v", err)
	}
}

package community

import (
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"tally/ledger"
)

// FuzzCheckPersonal: the personal-data check never panics, refuses with
// invalid_request only, and accepts nothing a stricter reading refuses: a
// known field, valid UTF-8 within MaxPersonalLen, a birth_date that is a
// day from MinBirthYear to today in China, a hardship flag that is "true"
// or "false".
func FuzzCheckPersonal(f *testing.F) {
	for _, kv := range [][2]string{{"birth_date", "1950-03-07"}, {"birth_date", "2026-11-24"}, {"birth_date", "2026-11-25"},
		{"birth_date", "1899-12-31"}, {"birth_date", "1950-02-29"}, {"birth_date", "1950-3-7"}, {"hardship", "true"},
		{"hardship", "是"}, {"phone", "138 0013 8000"}, {"notes", "a\x00b"}, {"Phone", "1"}, {"display_name", "李华"},
		{"birth_date", "+1950-03-07"}, {"birth_date", "1950-03-07T00:00:00Z"}} {
		f.Add(kv[0], kv[1])
	}
	now := time.Date(2026, 11, 24, 0, 30, 0, 0, time.UTC) // the 24th in China
	f.Fuzz(func(t *testing.T, k, v string) {
		err := checkPersonal(map[string]string{k: v}, now)
		if err != nil {
			if ledger.ErrorCode(err) != ledger.CodeInvalidRequest {
				t.Fatalf("%q=%q: code %q, want invalid_request", k, v, ledger.ErrorCode(err))
			}
			return
		}
		if !slices.Contains(PersonalFields, k) || len(v) > MaxPersonalLen || !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
			t.Fatalf("accepted %q=%q", k, v)
		}
		switch {
		case k == "birth_date" && v != "":
			born, perr := time.ParseInLocation(time.DateOnly, v, DayZone)
			if perr != nil || born.Format(time.DateOnly) != v || born.Year() < MinBirthYear || born.After(now.In(DayZone)) {
				t.Fatalf("accepted birth_date %q (%v, %v)", v, born, perr)
			}
		case k == "hardship" && v != "" && v != "true" && v != "false":
			t.Fatalf("accepted hardship %q", v)
		}
	})
}

package ledger

import (
	"math"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

func TestParseAmount(t *testing.T) {
	ok := map[string]int64{
		"1": 100, "1.5": 150, "1.50": 150, "0.01": 1, "0.5": 50, "10.00": 1000,
		"10000000000000": MaxAmountMinor, "9999999999999.99": MaxAmountMinor - 1,
	}
	for s, want := range ok {
		got, err := ParseAmount(s, HOUR)
		if err != nil || got != want {
			t.Errorf("ParseAmount(%q): got %d, %v; want %d", s, got, err, want)
		}
	}
	bad := []string{"", "0", "0.00", "-1", "+1", "1.001", "1.", ".5", "1e2", "1E2", "NaN", "Inf",
		" 1", "1 ", "1_000", "0x10", "1..2", "1.2.3", "10000000000000.01", "99999999999999999999",
		strings.Repeat("1", 33), "١", "1,5", "007.10", "00.10", "01", "00"}
	for _, s := range bad {
		if got, err := ParseAmount(s, CNY); ErrorCode(err) != CodeInvalidAmount {
			t.Errorf("ParseAmount(%q): got %d, code %q; want invalid_amount", s, got, ErrorCode(err))
		}
	}
	if _, err := ParseAmount("1", "EUR"); ErrorCode(err) != CodeUnknownUnit {
		t.Errorf("unknown unit: got %q, want unknown_unit", ErrorCode(err))
	}
}

func TestFormatAmount(t *testing.T) {
	for minor, want := range map[int64]string{0: "0.00", 1: "0.01", 150: "1.50", -300: "-3.00",
		math.MaxInt64: "92233720368547758.07", math.MinInt64: "-92233720368547758.08"} {
		if got := FormatAmount(minor, HOUR); got != want {
			t.Errorf("FormatAmount(%d): got %q, want %q", minor, got, want)
		}
	}
}

// FuzzParseAmount: ParseAmount never panics; whatever it accepts is
// positive, within the limit, exactly the decimal value of the input (no
// rounding), and round-trips through FormatAmount.
func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"1", "1.50", "0.01", "1.001", "-1", "1e3", "NaN", "10000000000000", "00.10", "٣"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, u := range []Unit{HOUR, CNY} {
			minor, err := ParseAmount(s, u)
			if err != nil {
				if c := ErrorCode(err); c != CodeInvalidAmount {
					t.Fatalf("ParseAmount(%q): code %q, want invalid_amount", s, c)
				}
				continue
			}
			if minor <= 0 || minor > MaxAmountMinor {
				t.Fatalf("ParseAmount(%q) = %d, out of range", s, minor)
			}
			d, err := decimal.NewFromString(s)
			if err != nil || !d.Equal(decimal.New(minor, -2)) {
				t.Fatalf("ParseAmount(%q) = %d, not the exact value %v", s, minor, d)
			}
			text := FormatAmount(minor, u)
			back, err := ParseAmount(text, u)
			if err != nil || back != minor {
				t.Fatalf("round trip of %q: %q → %d, %v; want %d", s, text, back, err, minor)
			}
		}
	})
}

// FuzzCheckText: never panics, and whatever it accepts is valid UTF-8 of
// bounded length without control characters other than newline and tab.
func FuzzCheckText(f *testing.F) {
	for _, s := range []string{"memo", "a\nb", "a\x00b", "\xff", strings.Repeat("x", 600)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if CheckText("memo", s, MaxMemoLen) != nil {
			return
		}
		if len(s) > MaxMemoLen || strings.ContainsFunc(s, func(r rune) bool {
			return r < 0x20 && r != '\n' && r != '\t' || r == 0x7f || r == 0xfffd && !strings.Contains(s, "\ufffd")
		}) {
			t.Fatalf("CheckText accepted %q", s)
		}
	})
}

// FuzzValidID: accepted ids are URL-safe and never contain '/'.
func FuzzValidID(f *testing.F) {
	for _, s := range []string{"m-1", "a/b", "", "x:y.z_1", ".", "..", "..."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !ValidID(s) {
			return
		}
		if len(s) == 0 || len(s) > MaxAccountIDLen || strings.ContainsAny(s, "/?#% ") || s == "." || s == ".." {
			t.Fatalf("ValidID accepted %q", s)
		}
		for _, c := range []byte(s) {
			if c >= 0x80 {
				t.Fatalf("ValidID accepted non-ASCII %q", s)
			}
		}
	})
}

func TestAddChecked(t *testing.T) {
	if _, err := addChecked(math.MaxInt64, 1); ErrorCode(err) != CodeOverflow {
		t.Fatalf("MaxInt64+1: got %q, want overflow", ErrorCode(err))
	}
	if _, err := addChecked(math.MinInt64, -1); ErrorCode(err) != CodeOverflow {
		t.Fatalf("MinInt64-1: got %q, want overflow", ErrorCode(err))
	}
	if got, err := addChecked(math.MaxInt64-1, 1); err != nil || got != math.MaxInt64 {
		t.Fatalf("MaxInt64-1+1: got %d, %v", got, err)
	}
}

// TestCheckName: a name is one line with no space around it; anything
// CheckText refuses is refused too.
func TestCheckName(t *testing.T) {
	for _, s := range []string{"张奶奶", "Red Star Co.", "大米 5 公斤（爱心超市）"} {
		if err := CheckName("name", s, MaxNameLen); err != nil {
			t.Errorf("CheckName(%q): %v", s, err)
		}
	}
	for _, s := range []string{"li\n", "a\nb", "a\tb", " li", "li ", "a\u200bb", "a\x00b", strings.Repeat("x", MaxNameLen+1)} {
		if err := CheckName("name", s, MaxNameLen); ErrorCode(err) != CodeInvalidRequest {
			t.Errorf("CheckName(%q): %v, want invalid_request", s, err)
		}
	}
}

package ledger

import (
	"math"
	"strings"

	"github.com/shopspring/decimal"
)

// Unit is the unit of an account and of every posting into it.
type Unit string

// Units. Both have scale 2: HOUR counts 0.01 h, CNY counts fen.
const (
	HOUR Unit = "HOUR"
	CNY  Unit = "CNY"
)

var unitScale = map[Unit]int32{HOUR: 2, CNY: 2}

// Scale returns the number of decimal places of u, and whether u is known.
func (u Unit) Scale() (int32, bool) {
	s, ok := unitScale[u]
	return s, ok
}

// ParseUnit returns the Unit named s or an unknown_unit error.
func ParseUnit(s string) (Unit, error) {
	u := Unit(s)
	if _, ok := unitScale[u]; !ok {
		return "", Errorf(CodeUnknownUnit, "unknown unit %q (want HOUR or CNY)", truncate(s, 16))
	}
	return u, nil
}

// maxAmountText bounds the length of an amount string before it is parsed,
// so a hostile megabyte of digits costs nothing.
const maxAmountText = 32

// ParseAmount parses a positive decimal string in the unit's scale and
// returns it in exact minor units. It refuses (invalid_amount) empty strings,
// signs, exponents, NaN/Inf, zero, more decimals than the unit has (never
// rounds), and anything above MaxAmountMinor.
func ParseAmount(s string, u Unit) (int64, error) {
	scale, ok := u.Scale()
	if !ok {
		return 0, Errorf(CodeUnknownUnit, "unknown unit %q", truncate(string(u), 16))
	}
	if s == "" || len(s) > maxAmountText {
		return 0, Errorf(CodeInvalidAmount, "amount must be a decimal string of at most %d characters", maxAmountText)
	}
	// Only plain digits with at most one point: no sign, exponent, spaces,
	// underscores or hex, which decimal.NewFromString would otherwise take.
	dot := false
	for i, c := range s {
		switch {
		case c >= '0' && c <= '9':
		case c == '.' && !dot && i > 0 && i < len(s)-1:
			dot = true
		default:
			return 0, Errorf(CodeInvalidAmount, "amount %q is not a plain positive decimal like \"1.50\"", truncate(s, maxAmountText))
		}
	}
	// One way to write a number: "0.50", not "00.50" or "0001.00", which
	// a reader of the request or the record could take for another.
	if len(s) > 1 && s[0] == '0' && s[1] != '.' {
		return 0, Errorf(CodeInvalidAmount, "amount %q has a leading zero; write it like \"1.50\" or \"0.50\"", truncate(s, maxAmountText))
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return 0, Errorf(CodeInvalidAmount, "amount %q is not a decimal", truncate(s, maxAmountText))
	}
	if !d.IsPositive() {
		return 0, Errorf(CodeInvalidAmount, "amount must be greater than zero")
	}
	if i := strings.IndexByte(s, '.'); i >= 0 && int32(len(s)-i-1) > scale {
		return 0, Errorf(CodeInvalidAmount, "amount %q has more than %d decimal places", s, scale)
	}
	minor := d.Shift(scale)
	if minor.GreaterThan(decimal.NewFromInt(MaxAmountMinor)) {
		return 0, Errorf(CodeInvalidAmount, "amount %q is too large", s)
	}
	return minor.IntPart(), nil
}

// FormatAmount renders minor units of u as a decimal string with exactly the
// unit's scale ("1.50", "-3.00").
func FormatAmount(minor int64, u Unit) string {
	scale, ok := u.Scale()
	if !ok {
		scale = 2
	}
	return decimal.New(minor, -scale).StringFixed(scale)
}

// addChecked returns a+b or an overflow error.
func addChecked(a, b int64) (int64, error) {
	if (b > 0 && a > math.MaxInt64-b) || (b < 0 && a < math.MinInt64-b) {
		return 0, Errorf(CodeOverflow, "amount overflow")
	}
	return a + b, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// Sum adds amounts into totals with overflow checked, as reports do when
// they add many accounts or entries: Add leaves its total unchanged once
// an addition has overflowed, and Err reports the first overflow
// (overflow), so a report answers a refusal rather than a total that
// wrapped around.
type Sum struct{ err error }

// Add adds v to *total.
func (s *Sum) Add(total *int64, v int64) {
	if s.err != nil {
		return
	}
	n, err := addChecked(*total, v)
	if err != nil {
		s.err = Errorf(CodeOverflow, "the total is beyond what an amount can hold; narrow the report")
		return
	}
	*total = n
}

// Sub subtracts v from *total.
func (s *Sum) Sub(total *int64, v int64) {
	if v == math.MinInt64 {
		s.Add(total, math.MaxInt64)
		s.Add(total, 1)
		return
	}
	s.Add(total, -v)
}

// Err returns the first overflow, or nil.
func (s *Sum) Err() error { return s.err }

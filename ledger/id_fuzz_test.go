package ledger

import (
	"testing"
)

// FuzzIDChecks: the id checkers never panic, refuse only with
// invalid_id, each accepts nothing CheckID refuses, and the check for an
// id naming a person (CheckPseudonym) is at least as strict as the one
// for an id naming no one (CheckEntityID): what the latter refuses as a
// phone or ID-card number, the former refuses too.
func FuzzIDChecks(f *testing.F) {
	for _, s := range []string{"m-1", "lihua", "wang.fang:2", "p138-0013-8000", "m13800138000", "110101199003071233",
		"p:138:1234:5678", "8d3f5e7a-4b1c-4e2a-9f3d-2c1b0a9e8d7f", "c-2026-11-23-0001", "6901234567892", ".", "", "a/b",
		"p-1-3-8-0-0-1-3-8-0-0-0", "x0086-138-0013-8000", "id110101-19900307-123X"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		idErr := CheckID("id", s)
		for name, err := range map[string]error{"CheckID": idErr, "CheckPseudonym": CheckPseudonym("id", s),
			"CheckEntityID": CheckEntityID("id", s), "CheckAccountID": CheckAccountID(s), "CheckNoPersonalNumber": CheckNoPersonalNumber("id", s)} {
			if err != nil && ErrorCode(err) != CodeInvalidID {
				t.Fatalf("%s(%q): code %q, want invalid_id", name, s, ErrorCode(err))
			}
		}
		pErr, eErr := CheckPseudonym("id", s), CheckEntityID("id", s)
		if idErr != nil {
			if pErr == nil || eErr == nil {
				t.Fatalf("%q: CheckID refuses it, CheckPseudonym %v, CheckEntityID %v", s, pErr, eErr)
			}
			return
		}
		if pErr == nil && eErr != nil {
			t.Fatalf("%q: a person's id accepted that an entity's id refuses: %v", s, eErr)
		}
		if pErr == nil {
			run := 0
			for i := 0; i < len(s); i++ {
				if isDigit(s[i]) {
					run++
				} else {
					run = 0
				}
				if run > MaxIDDigitRun {
					t.Fatalf("CheckPseudonym accepted %q: %d digits in a row", s, run)
				}
			}
		}
	})
}

// FuzzTextPersonalNumber: the free-text screen never panics; its verdict
// on a text is the same with a letter before and after it, and a text
// holding a number still holds it with any other text put before or after
// it behind a comma; the checkers built on it refuse with invalid_request
// only, and CheckChainName accepts nothing CheckChainText refuses.
func FuzzTextPersonalNumber(f *testing.F) {
	for _, s := range []string{"电话 138 0013 8000", "身份证 110101 1990 0307 1233", "1500.00 / 300.00 元", "13.50 + 6.00 + 12.00",
		"+86 (138) 1234 5678", "138-1234-\n5678", "１３８００１３８０００", "一三八〇〇一三八〇〇〇", "各小组人数：13 15 16 18 19 8",
		"0086 138 0013 8000", "110101-19900307-123x", "①③⑧ 0013 8000", "memo", "", "\xff13800138000"} {
		f.Add(s, "下午三点")
	}
	f.Fuzz(func(t *testing.T, s, u string) {
		holds := TextHoldsPersonalNumber(s)
		if got := TextHoldsPersonalNumber("字" + s + "字"); got != holds {
			t.Fatalf("%q holds a number: %v; between two letters: %v", s, holds, got)
		}
		if holds {
			if !TextHoldsPersonalNumber(s+"，"+u) || !TextHoldsPersonalNumber(u+"，"+s) {
				t.Fatalf("%q holds a number, but not once %q is put beside it", s, u)
			}
		}
		textErr, nameErr := CheckChainText("memo", s, MaxMemoLen), CheckChainName("name", s, MaxMemoLen)
		for _, err := range []error{textErr, nameErr, CheckNoPersonalNumberInText("memo", s)} {
			if err != nil && ErrorCode(err) != CodeInvalidRequest {
				t.Fatalf("%q: code %q, want invalid_request", s, ErrorCode(err))
			}
		}
		if textErr == nil && holds || nameErr == nil && (textErr != nil || holds) {
			t.Fatalf("%q (holds a number: %v): CheckChainText %v, CheckChainName %v", s, holds, textErr, nameErr)
		}
	})
}

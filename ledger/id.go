package ledger

import (
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ValidID reports whether s is a usable account id: 1..MaxAccountIDLen
// characters of letters, digits, '-', '_', '.', ':' (URL-safe, never '/').
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > MaxAccountIDLen || s == "." || s == ".." {
		// "." and ".." are dot segments: clients and proxies remove them
		// from a URL path, so such an id could not be addressed.
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '_', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}

// CheckID returns invalid_id unless ValidID(s); what names the field.
func CheckID(what, s string) error {
	if !ValidID(s) || len(s) > MaxIDLen {
		return Errorf(CodeInvalidID, "%s must be 1-%d letters, digits, '-', '_', '.' or ':' (not \".\" or \"..\")", what, MaxIDLen)
	}
	return nil
}

// MaxIDDigitRun is the longest run of digits a pseudonymous id (a
// member's id, a beneficiary) may hold: a mainland mobile number has 11
// digits and a resident ID-card number 17 or 18, and ids enter the chain,
// which nothing erases.
const MaxIDDigitRun = 10

// CheckPseudonym is CheckID for an id that names a person: it also
// refuses one that holds a phone or ID-card number (invalid_id).
func CheckPseudonym(what, s string) error {
	// What an id naming no one may not hold, one naming a person may not
	// either ("p138....0013....8000": groups any number of id separators
	// apart).
	if err := CheckEntityID(what, s); err != nil {
		return err
	}
	return CheckNoPersonalNumber(what, s)
}

// CheckEntityID is CheckID for an id the chain keeps that names no
// person — a community's, a fund's, a project's, a catalogue item's, a
// category, a group recipient: it refuses one holding a mainland mobile
// or ID-card number as free text is screened (TextHoldsPersonalNumber:
// the shapes such numbers are written in, an ID card's check character),
// not every long run of digits, which barcodes (EAN-13), region codes,
// timestamps and UUIDs have. Errors: invalid_id.
func CheckEntityID(what, s string) error {
	if err := CheckID(what, s); err != nil {
		return err
	}
	// In an id, '-', '.', '_' and ':' all sit between the parts, however
	// many: "p:138:1234:5678" is the number (free text ends a number at
	// a colon, an id must not).
	if TextHoldsPersonalNumber(idParts.ReplaceAllString(withoutUUIDs(s), "-")) {
		return Errorf(CodeInvalidID, "%s must not hold a phone or ID-card number: it enters the audit chain, which nothing erases; use an opaque id", what)
	}
	return nil
}

// idParts is a run of the characters that separate the parts of an id.
var idParts = regexp.MustCompile(`[-._:]+`)

// uuidForm is an RFC 9562 UUID in its canonical form (version 1-8, the
// RFC variant): mostly random hex, whose digit groups now and then read
// as a phone number (about 1 in 1,000 ids). A number zero-padded into
// the form has version 0 and is not one.
var uuidForm = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}`)

// withoutUUIDs replaces each whole UUID in an id — one with no hex digit
// right beside it, so that no digits next to it are taken along — with a
// letter.
func withoutUUIDs(s string) string {
	var b strings.Builder
	last := 0
	for _, m := range uuidForm.FindAllStringIndex(s, -1) {
		if m[0] > 0 && isHex(s[m[0]-1]) || m[1] < len(s) && isHex(s[m[1]]) {
			continue
		}
		b.WriteString(s[last:m[0]])
		b.WriteByte('u')
		last = m[1]
	}
	b.WriteString(s[last:])
	return b.String()
}

func isHex(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// CheckNoPersonalNumber refuses text that enters the chain in clear (an
// id, a company's name) when it holds a phone or ID-card number: more
// than MaxIDDigitRun digits in a row, or a mobile or ID-card number
// written with single separators between its groups (any character but a
// letter or digit: '-', '.', '/', spaces, dashes). Full-width digits and
// Chinese numerals count as digits. Errors: invalid_id.
func CheckNoPersonalNumber(what, s string) error {
	s = digitsAndSeparators(withoutUUIDs(s))
	run := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			run++
		} else {
			run = 0
		}
		if run > MaxIDDigitRun {
			return Errorf(CodeInvalidID, "%s must not be a phone or ID-card number (more than %d digits in a row): it enters the audit chain, which nothing erases; use an opaque id", what, MaxIDDigitRun)
		}
	}
	if personalNumber(s) {
		return Errorf(CodeInvalidID, "%s must not hold a phone or ID-card number, with or without separators: it enters the audit chain, which nothing erases; use an opaque id", what)
	}
	return nil
}

// CheckChainText is CheckText for free text the audit chain keeps for
// good (memos, reasons, titles, purposes; the public page shows some):
// it also refuses a mainland mobile or ID-card number written in it
// (TextHoldsPersonalNumber; invalid_request), since personal data never
// enters the chain (SPEC §3).
func CheckChainText(what, s string, max int) error {
	if err := CheckText(what, s, max); err != nil {
		return err
	}
	return CheckNoPersonalNumberInText(what, s)
}

// CheckChainName is CheckName for a name the chain keeps or the public
// sees (a community's, a fund's or project's, a catalogue item's, a
// donor's, a need's title): it also refuses a mobile or ID-card number in
// it (invalid_request).
func CheckChainName(what, s string, max int) error {
	if err := CheckName(what, s, max); err != nil {
		return err
	}
	return CheckNoPersonalNumberInText(what, s)
}

// CheckNoPersonalNumberInText refuses free text — or a name shown to the
// public — holding a mainland mobile or ID-card number
// (TextHoldsPersonalNumber; invalid_request).
func CheckNoPersonalNumberInText(what, s string) error {
	if TextHoldsPersonalNumber(s) {
		return Errorf(CodeInvalidRequest, "%s must not hold a phone or ID-card number: it is kept in the audit chain, which nothing erases, or shown to the public; personal data belongs in a member's personal fields", what)
	}
	return nil
}

// Free text is read differently from ids: digit groups join into one
// number only across the separators people put inside a phone or ID
// number (spaces, dashes, dots, brackets, a tilde, in their ASCII,
// full-width and typographic forms, and a plus before the first group;
// at most maxNumberGap of them), and any other character — a letter, a
// Chinese character, a comma, a colon, a slash, a plus or '=' between
// figures (a list or a sum) — ends the number. Then only the groupings
// people write such numbers in count: a mobile number (1[3-9] and 9 more
// digits) as 11, 3-4-4, 3-8, 7-4 or single digits, and after 86 or 0086
// (one group, or a group of their own) or a trunk 0 (one group, or 0xxx
// xxxx xxxx); an ID card (a province code, a birth date, the ISO 7064 check
// character) as 18, 6-8-4, 6-12, 6-4-8, 10-8, 6-8-2-2, 4-4-4-4-2, 6-4-4-4
// or 3-3-4-4-4. So
// "139 - 1234 - 5678" and "110101 1990 0307 1233" are refused, while sums
// and times ("1500.00 / 300.00 元", "13.50 + 6.00 + 12.00", "1.30
// 10.00-11.00") whose groups happen to add up to eleven digits are not.
// Digits count however written (full-width, circled, Chinese numerals).
// The 15-digit cards replaced by 2013 are not looked for.

var (
	// More mobile groupings (3-3-3-2, 2-2-2-2-2-1, 4-3-4) were tried and
	// dropped: lists of counts, seats and scores ("各小组人数：13 15 16 18
	// 19 8") read as numbers, and a mobile has no check digit to tell.
	mobileShapes = [][]int{{11}, {3, 4, 4}, {3, 8}, {7, 4}, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, {12}, {13}, {15}, {4, 4, 4}}
	idShapes     = [][]int{{18}, {6, 8, 4}, {4, 4, 4, 4, 2}, {6, 4, 4, 4}, {3, 3, 4, 4, 4}, {6, 12}, {6, 4, 8}, {10, 8}, {6, 8, 2, 2}}
	// textSeparators join digit groups in free text.
	textSeparators = " \t-.()_~\u00a0\u00b7\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u200b\u200c\u200d\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u202f\u3000\u301c\u30fb\ufeff\uff08\uff09\uff0d\uff0e\uff5e"
)

// TextHoldsPersonalNumber reports whether free text holds a mainland
// mobile or resident ID-card number.
func TextHoldsPersonalNumber(s string) bool {
	var groups []string
	var cur []byte
	gap := 0
	end := func() {
		if len(cur) > 0 {
			groups, cur = append(groups, string(cur)), cur[:0]
		}
	}
	space := false   // the last character was white space: a run counts once
	joining := false // the line so far ends in a dash right after a digit ("1234-")
	for _, r := range s {
		if zeroWidth(r) {
			continue // joiners, variation selectors, keycaps, combining marks
		}
		if d, ok := digitRune(r); ok {
			space, joining = false, false
			if len(cur) == 0 && gap > maxNumberGap {
				if personalIn(groups) {
					return true
				}
				groups = groups[:0]
			}
			cur, gap = append(cur, d), 0
			continue
		}
		wasSpace := space
		space = false
		switch {
		case (r == 'X' || r == 'x' || r == 'Ｘ' || r == 'ｘ') && len(cur) > 0:
			cur = append(cur, 'X') // an ID card's check character ends its group
			end()
		case (r == '\n' || r == '\r' || r == '\v' || r == '\f' || r == '\u0085' || r == '\u2028' || r == '\u2029') && joining:
			// A line that ends in a dash right after a digit goes on with
			// the same number ("138-1234-" then "5678"); one line break
			// only (a "\r\n" is one), not a blank line.
			if !wasSpace {
				gap++
			}
			space = true
			joining = r == '\r'
			continue
		case r == '\n' || r == '\r' || r == '\v' || r == '\f' || r == '\u0085' || r == '\u2028' || r == '\u2029':
			// A line ends a number: figures one per line are a list
			// (amounts, hours, rooms), not the groups of one number.
			end()
			if personalIn(groups) {
				return true
			}
			groups, gap = groups[:0], 0
			continue
		case unicode.IsSpace(r):
			end()
			if !wasSpace {
				gap++
			}
			space = true
			continue
		case textSeparator(r) || (r == '+' || r == '＋') && len(groups) == 0 && len(cur) == 0:
			// A plus only before a number (+86): between figures it is a sum.
			joining = len(cur) > 0 && isDash(r)
			end()
			gap++
		default:
			joining = false
			end()
			if personalIn(groups) {
				return true
			}
			groups, gap = groups[:0], 0
		}
	}
	end()
	return personalIn(groups)
}

// textSeparator reports whether r joins digit groups in free text: the
// characters of textSeparators, any dash (Unicode Pd) and the bullets,
// tildes and low lines people put between a phone number's groups.
func textSeparator(r rune) bool {
	return strings.ContainsRune(textSeparators, r) || unicode.Is(unicode.Pd, r) || strings.ContainsRune("•‧∙⋅∼＿﹏【】[]「」『』〔〕ー⁃➖", r)
}

// isDash reports whether r is a hyphen or dash (Unicode Pd, the minus sign).
func isDash(r rune) bool { return unicode.Is(unicode.Pd, r) || r == '−' }

// zeroWidth reports whether r takes no place between two digits: format
// characters (joiners, marks), combining marks (a keycap's U+20E3) and
// variation selectors.
func zeroWidth(r rune) bool {
	return unicode.In(r, unicode.Cf, unicode.Mn, unicode.Me)
}

// personalIn reports whether some run of consecutive digit groups, in one
// of the shapes people write them in, is a mobile or ID-card number.
func personalIn(groups []string) bool {
	for i := range groups {
		for _, sh := range mobileShapes {
			if d, ok := joinShape(groups[i:], sh); ok {
				d = strings.TrimSuffix(d, "X") // a letter after the number
				switch {
				case mobileNumber(d),
					len(d) == 12 && d[0] == '0' && mobileNumber(d[1:]),
					len(d) == 13 && strings.HasPrefix(d, "86") && mobileNumber(d[2:]),
					len(d) == 15 && strings.HasPrefix(d, "0086") && mobileNumber(d[4:]):
					return true
				}
			}
		}
		for _, sh := range idShapes {
			if d, ok := joinShape(groups[i:], sh); ok && idCard(d) {
				return true
			}
		}
	}
	return false
}

// joinShape joins the first len(shape) groups when their lengths are the
// shape's (a trailing X of the last group aside).
func joinShape(groups []string, shape []int) (string, bool) {
	if len(groups) < len(shape) {
		return "", false
	}
	d := ""
	for k, n := range shape {
		g := groups[k]
		if k < len(shape)-1 && strings.HasSuffix(g, "X") {
			return "", false
		}
		if len(strings.TrimSuffix(g, "X")) != n && len(g) != n {
			return "", false
		}
		d += g
	}
	return d, true
}

// idCard: 18 characters, a province code, a birth date, and the check
// character of the 17 digits before it.
func idCard(d string) bool {
	if len(d) != 18 || !allDigits(d[:17]) || !provinceCode(d[:2]) {
		return false
	}
	y, m, day := d[6:10], d[10:12], d[12:14]
	return (y[:2] == "19" || y[:2] == "20") && m >= "01" && m <= "12" && day >= "01" && day <= "31" && idCheckChar(d[:17]) == d[17]
}

// provinceCode: the first two digits of a resident ID card (GB/T 2260).
func provinceCode(p string) bool {
	switch p {
	case "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
		"41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71", "81", "82":
		return true
	}
	return false
}

// idCheckChar is the ISO 7064 MOD 11-2 check character of an ID card's
// first 17 digits.
func idCheckChar(d17 string) byte {
	weights := [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i := range 17 {
		sum += int(d17[i]-'0') * weights[i]
	}
	return "10X98765432"[sum%11]
}

// digitsAndSeparators maps s for the phone-number checks: ASCII letters
// and digits stay; the other ways a digit is written — full-width (０-９),
// circled (⓪①-⑨), Chinese numerals (〇零一二三四五六七八九), their
// capital forms (零壹贰叁肆伍陆柒捌玖) and the spoken 幺 (one) — become
// ASCII digits; an ID card's final X stays; every other character
// becomes a '-' separator.
func digitsAndSeparators(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch d, ok := digitRune(r); {
		case ok:
			b.WriteByte(d)
		case r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'):
			b.WriteRune(r)
		case r == 'Ｘ', r == 'ｘ':
			b.WriteByte('X')
		default:
			b.WriteByte('-')
		}
	}
	return b.String()
}

// digitRune maps a digit however written — ASCII, any Unicode decimal
// digit (full-width ０-９, Arabic-Indic, Devanagari, mathematical bold
// and the like), superscript and subscript, circled, parenthesised and
// dotted forms (⓪①-⑨, ❶-❾, ➀-➈, ➊-➒, ⓵-⓽, ⑴-⑼, ⒈-⒐), Chinese numerals and their
// capital forms, and the spoken 幺 (1), 两 (2), 拐 (7), 洞 (0) — to its
// ASCII digit.
func digitRune(r rune) (byte, bool) {
	switch {
	case r < utf8.RuneSelf:
		if isDigit(byte(r)) {
			return byte(r), true
		}
		return 0, false
	case unicode.IsDigit(r):
		return decimalDigit(r), true
	case r == '⓪', r == '○', r == '⓿', r == '⁰', r == '₀', r == '🄀', r == '🄁':
		return '0', true
	case r == '¹':
		return '1', true
	case r == '²':
		return '2', true
	case r == '³':
		return '3', true
	}
	for _, base := range digitBlocks {
		if r >= base && r < base+9 {
			return byte('1' + r - base), true
		}
	}
	if r >= '⁴' && r <= '⁹' {
		return byte('4' + r - '⁴'), true
	}
	if r >= '₁' && r <= '₉' {
		return byte('1' + r - '₁'), true
	}
	d, ok := hanDigits[r]
	return d, ok
}

// digitBlocks are the first code points of nine-digit runs 1..9 that are
// not decimal digits to Unicode: circled ①, parenthesised ⑴, with a full
// stop ⒈, double circled ⓵, dingbat negative circled ❶, circled sans-serif
// ➀ and its negative ➊.
var digitBlocks = []rune{'①', '⑴', '⒈', '⓵', '❶', '➀', '➊', '🄂'}

// decimalDigit is the value of a Unicode decimal digit (category Nd), as
// an ASCII digit: Unicode encodes every decimal digit in a contiguous run
// from 0 to 9 (runs may abut, as the mathematical digits do), so its
// value is its distance from the start of its run, modulo 10.
func decimalDigit(r rune) byte {
	start := r
	for k := 0; k < 60 && unicode.IsDigit(start-1); k++ {
		start--
	}
	return byte('0' + (r-start)%10)
}

var hanDigits = map[rune]byte{'〇': '0', '零': '0', '一': '1', '二': '2', '三': '3', '四': '4', '五': '5', '六': '6', '七': '7',
	'八': '8', '九': '9', '壹': '1', '贰': '2', '叁': '3', '肆': '4', '伍': '5', '陆': '6', '柒': '7', '捌': '8', '玖': '9', '幺': '1',
	'貳': '2', '參': '3', '陸': '6', '两': '2', '兩': '2', '拐': '7', '洞': '0'}

// maxNumberGap is the most separator characters between two groups of
// digits that still join them into one number ("138 - 1234 - 5678",
// "+86 (138) 1234").
const maxNumberGap = 3

// personalNumber reports whether s (mapped by digitsAndSeparators) holds,
// as consecutive groups of digits each at most maxNumberGap separators
// from the next, a mainland mobile number (1[3-9] and 9 more digits,
// optionally after 86) or a resident ID-card number (17 digits and a
// check digit or X): "139-1234-5678", "+86 (139) 1234 5678",
// "110101-19900307-123X". Dates and serial numbers ("2026-11-23-0001")
// are neither.
func personalNumber(s string) bool {
	var groups []string
	gap := 0
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case isDigit(c):
			j := i
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			if j < len(s) && (s[j] == 'X' || s[j] == 'x') {
				j++ // an ID card's check character
			}
			if gap > maxNumberGap {
				if numberIn(groups) {
					return true
				}
				groups = groups[:0]
			}
			groups = append(groups, s[i:j])
			gap, i = 0, j
		case c == '-':
			gap++
			i++
		default: // a letter ends any number
			if numberIn(groups) {
				return true
			}
			groups, gap = groups[:0], 0
			i++
		}
	}
	return numberIn(groups)
}

// numberIn reports whether some run of consecutive groups joins into a
// mobile or ID-card number.
func numberIn(groups []string) bool {
	for i := range groups {
		d := ""
		for _, g := range groups[i:] {
			d += g
			if mobileNumber(d) || len(d) == 13 && strings.HasPrefix(d, "86") && mobileNumber(d[2:]) ||
				len(d) == 18 && allDigits(d[:17]) && (isDigit(d[17]) || d[17] == 'X' || d[17] == 'x') {
				return true
			}
			if len(d) > 18 {
				break
			}
		}
	}
	return false
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// mobileNumber: a mainland mobile number, 1[3-9] and 9 more digits.
func mobileNumber(d string) bool {
	return len(d) == 11 && d[0] == '1' && d[1] >= '3' && d[1] <= '9' && allDigits(d)
}

// CheckText returns invalid_request unless s is valid UTF-8 of at most max
// bytes with no control characters other than newline and tab.
func CheckText(what, s string, max int) error {
	if len(s) > max {
		return Errorf(CodeInvalidRequest, "%s is longer than %d bytes", what, max)
	}
	if !utf8.ValidString(s) {
		return Errorf(CodeInvalidRequest, "%s is not valid UTF-8", what)
	}
	for _, r := range s {
		if r < 0x20 && r != '\n' && r != '\t' || r >= 0x7f && r <= 0x9f || bidiControl(r) {
			return Errorf(CodeInvalidRequest, "%s contains control characters", what)
		}
	}
	return nil
}

// CheckName is CheckText for a name or title: one line, no tab, no
// space before or after it. Names are shown in lists and on public pages
// (a donor's name, an item), where a hidden line break or a trailing
// space makes two names look alike. Errors: invalid_request.
func CheckName(what, s string, max int) error {
	if err := CheckText(what, s, max); err != nil {
		return err
	}
	if strings.ContainsAny(s, "\n\t") {
		return Errorf(CodeInvalidRequest, "%s must be one line without tabs", what)
	}
	if strings.TrimSpace(s) != s {
		return Errorf(CodeInvalidRequest, "%s must not begin or end with spaces", what)
	}
	return nil
}

// bidiControl reports characters that make text display otherwise than
// it is stored, or not at all: the embedding, override and isolate
// controls (U+202A–U+202E, U+2066–U+2069), the directional marks
// (U+200E, U+200F, U+061C), zero-width and invisible characters (U+200B,
// U+200C, U+2060–U+2064, U+FEFF, U+00AD, U+3164, U+115F, U+1160), the line
// and paragraph separators (U+2028, U+2029) and tag characters
// (U+E0000–U+E007F); not the zero-width joiner, which emoji sequences
// need. A memo shown to an auditor, or a donor's name on the
// public page, must read as it is kept.
func bidiControl(r rune) bool {
	switch {
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069,
		r == 0x200b, r == 0x200c, r == 0x200e, r == 0x200f, r == 0x061c, r >= 0x2060 && r <= 0x2064,
		r == 0xfeff, r == 0x00ad, r == 0x3164, r == 0x115f, r == 0x1160,
		r == 0x2028, r == 0x2029, r >= 0xe0000 && r <= 0xe007f:
		return true
	}
	return false
}

// Blank reports whether a required text holds nothing but white space
// and invisible format characters (zero-width space and joiners, word
// joiner, byte-order mark).
func Blank(s string) bool {
	return strings.TrimFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || r == 0x200b || r == 0x200c || r == 0x200d || r == 0x2060 || r == 0xfeff
	}) == ""
}

// CheckAccountID returns invalid_id unless ValidID(s).
func CheckAccountID(s string) error {
	if !ValidID(s) {
		return Errorf(CodeInvalidID, "account id must be 1-%d letters, digits, '-', '_', '.' or ':'", MaxAccountIDLen)
	}
	return nil
}

// SeqKey is an audit sequence number as an index key component: zero
// padded to 20 digits, so that an index lists its entries in commit order.
func SeqKey(seq uint64) string {
	const digits = "00000000000000000000"
	s := strconv.FormatUint(seq, 10)
	return digits[len(s):] + s
}

// GetDoc reads the document kind/id into a new T. A missing one is
// not_found naming what and the id (cut to MaxIDLen, so a hostile id is
// not echoed whole); any other error (a damaged value) is returned as it
// is, never disguised as not_found.
func GetDoc[T any](r Reader, kind, what, id string) (*T, error) {
	d := new(T)
	if err := r.Doc(kind, id, d); err != nil {
		if IsCode(err, CodeNotFound) {
			return nil, Errorf(CodeNotFound, "%s %s not found", what, id[:min(len(id), MaxIDLen)])
		}
		return nil, err
	}
	return d, nil
}

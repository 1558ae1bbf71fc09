package ledger

import (
	"math/rand/v2"
	"testing"
)

// TestCheckText: C0 and C1 controls and the bidi embedding, override and
// isolate controls are refused (U+202E once passed into memos, where it
// makes text display reversed); CJK, emoji with joiners, newlines and tabs
// pass.
func TestCheckText(t *testing.T) {
	for _, s := range []string{"2 h 助老服务", "👩\u200d👩\u200d👧 family", "line\nnext\tcol", ""} {
		if err := CheckText("memo", s, MaxMemoLen); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"a\x00b", "a\x1bb", "a\x7fb", "a\u009bb", "a\u0085b", "abc\u202eexe.txt", "a\u202ab", "a\u2066b", "a\u2069b", "pay 10\u200b0", "a\u200fb", "a\u061cb", "a\ufeffb", "a\u00adb", "a\u2028b", "a\U000e0041b", "a\u3164b"} {
		if err := CheckText("memo", s, MaxMemoLen); !IsCode(err, CodeInvalidRequest) {
			t.Errorf("%q: %v, want invalid_request", s, err)
		}
	}
	for s, want := range map[string]bool{"": true, "   ": true, "\t\n ": true, "\u3000": true, "\u200b": true, " \u200b\ufeff ": true, " x ": false, "理由": false} {
		if Blank(s) != want {
			t.Errorf("Blank(%q) = %v", s, !want)
		}
	}
}

// TestCheckPseudonym: ids that name people may not be phone or ID-card
// numbers (they enter the chain, which nothing erases).
func TestCheckPseudonym(t *testing.T) {
	for _, s := range []string{"m-1042", "zhang", "u1234567890", "2026-11-23", "2026-11-23-0001", "svc-20261123-000123",
		"hh-0042", "1.2.3", "v2-1391234567", "12-3456-7890", "a-139-1234-567"} {
		if err := CheckPseudonym("id", s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"13700009999", "510104193805200077", "51010419380520007X", "tel-13912345678", "a b",
		"139-1234-5678", "139.1234.5678", "139_1234_5678", "tel:139-1234-5678", "86-139-1234-5678",
		"110101-19900307-123X", "110101.19900307.1234", "hh-510104-19380520-007x"} {
		if err := CheckPseudonym("id", s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

// TestCheckNoPersonalNumber: published text (a company's name) holding a
// phone or ID-card number is refused however it is written: full-width
// digits from a Chinese input method, Chinese numerals, slashes, spaces
// and dashes between the groups; names and landline-free text pass.
func TestCheckNoPersonalNumber(t *testing.T) {
	for _, s := range []string{"金辉公司", "3M 中国", "58同城", "第一百货", "Acme 2026", "华美 028-8765-4321", "一二三四五六七",
		"Acme (028) 8612-3456", "400-800-8888", "2026-11-23 第1期"} {
		if err := CheckNoPersonalNumber("donor", s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"13912345678", "Acme １３９１２３４５６７８", "Acme 139/1234/5678", "Acme 139—1234—5678",
		"Acme 139–1234–5678", "Acme 一三九一二三四五六七八", "华美 139 1234 5678", "+86 139 1234 5678", "(86)13912345678",
		"身份证 110101 19900307 123X", "Acme 138 - 1234 - 5678", "Acme +86 (138) 1234-5678", "Acme tel: 138 - 1234 - 5678",
		"Acme 138 — 1234 — 5678", "Acme 壹叁捌壹贰叁肆伍陆柒捌", "Acme 幺三八一二三四五六七八", "Acme ①③⑧①②③④⑤⑥⑦⑧"} {
		if err := CheckNoPersonalNumber("donor", s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

// TestCheckChainText: free text the chain keeps refuses a mobile or
// ID-card number however written, and takes what social workers write:
// dates, times, counts, sums, invoice and order numbers.
func TestCheckChainText(t *testing.T) {
	for _, s := range []string{"call 13912345678", "联系电话 139-1234-5678", "身份证110101199003071233", "１３９１２３４５６７８",
		"手机 +86 139 1234 5678", "008613912345678", "13912345678x", "身份证 １１０１０１１９９００３０７１０９Ｘ", "110101 19900307 109x",
		"一三九○一二三四五六七", "壹參玖壹貳參肆伍陸柒捌", "12人13912345678",
		"139 - 1234 - 5678", "139 - 1234-5678", "1 3 9 1 2 3 4 5 6 7 8", "0138-1234-5678", "013812345678",
		"138．1234．5678", "138·1234·5678", "138\t1234\t5678", "138 ~ 1234 ~ 5678", "138\u20091234\u20095678", "138−1234−5678",
		"110101．19900307．1233", "联系电话：139 1234 5678（微信同号）", "139＋1234"[0:0] + "138〜1234〜5678", "138\u202f1234\u202f5678", "＋86 139 1234 5678",
		"110101 1990 0307 1233", "1101 0119 9003 0712 33", "110101 - 19900307 - 1233", "流水 110101199003071234/110101199003071233",
		"张三 (+86) 139-1234-5678", "受助人身份证 110101 1990 0307 1233 电话 139 - 1234 - 5678",
		// Other ways of writing digits, and groupings an outside probe got past the screen.
		"电话 𝟏𝟑𝟖𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖", "电话 ١٣٨١٢٣٤٥٦٧٨", "电话 १३८१२३४५६७८", "电话 ¹³⁸¹²³⁴⁵⁶⁷⁸", "电话 ❶❸❽❶❷❸❹❺❻❼❽",
		"电话 ⑴⑶⑻⑴⑵⑶⑷⑸⑹⑺⑻", "电话 ₁₃₈₁₂₃₄₅₆₇₈", "电话 幺三八幺两三四五六拐八", "身份证 110101 199003071233",
		"1️⃣3️⃣8️⃣1️⃣2️⃣3️⃣4️⃣5️⃣6️⃣7️⃣8️⃣", "【138】1234-5678", "[138]1234-5678", "「138」1234 5678", "138ー1234ー5678", "138-1234-\n5678", "138-1234-\r\n5678", "110101-19900307-\n1233",
		"138\u205f1234\u205f5678", "138\u16801234\u16805678", "138•1234•5678", "138﹣1234﹣5678", "138∼1234∼5678",
		"138＿1234＿5678", "138    1234    5678", "138\u200d\u200d\u200d\u200d1234\u200d\u200d\u200d\u200d5678",
		"🄂🄄🄉🄂🄃🄄🄅🄆🄇🄈🄉", "1\u03033\u03038\u030312345678"} {
		if err := CheckChainText("memo", s, MaxMemoLen); !IsCode(err, CodeInvalidRequest) {
			t.Errorf("%q: %v, want invalid_request", s, err)
		}
	}
	for _, s := range []string{"e-invoice 24312000000012345678", "订单 202611240001", "订单号 202611241315301234",
		"2026年11月为13户家庭各发放500元、共6500元", "固话 028-85123456", "2 h of elder care", "",
		"2026-11-24 13:30-15:30 12人", "2026年11月24日14:00至16:00，共10人", "2026/11/24 14:00-16:00 15人",
		"2026.11.01-2026.11.30 共30天", "3月13日15:30-17:30 1人", "1500元×12户=18000元", "13500元/12户=1125元",
		"1人1500元,13人13000元", "3栋2单元1302室", "服务150人，1500元，3000元", "送餐至长江路158号1502室 1200元",
		"长江路158号1502室 2200元", "资助135户 1000元 1350元", "老人180人 2000元 3000元", "0571-8888 8888", "(0755) 8612-3456",
		"400-820-8820", "HT-2026-1124-0001", "2026年 160户 1500元", "13:30-15:30 12人",
		"捐款金额 1500.00 / 300.00 元", "餐费 13.50 + 6.00 + 12.00 = 31.50 元", "合计 1680.00 + 200.00 = 1880.00 元",
		"本月支出 1380.50 220.00", "本月捐赠 1500+2000+300=3800元", "三笔 1500/2000/300 元", "编号 202611-20261123-0005",
		"编号 100001-20261101-0001", "项目编号 15-2026-11-001", "批次 15-20261123-1", "走访 13-1-1302/5-801",
		"1.30 10.00-11.00 活动", "2026.1.30 10.30-11.30", "IP 192.168.13.138", "尾号 1234", "138****5678",
		"1391 2345 678" /* groupings nobody writes a phone in are not looked for */, "150，1500，3000",
		// Lists of counts, seats and scores (an outside probe found these refused when more groupings were tried).
		"各小组人数：13 15 16 18 19 8", "座位号 138 12 13 14 15", "参加人数 15 20 18 22 19 7", "楼层 14 15 16 17 18 9",
		"得分 135 98 87 76 65", "时间 13 30 14 30 15 3", "编号 1350 123 4567", "两位老人各1小时", "拐角处 山洞 一两三 三三两两",
		// One figure per line is a list (a probe found 5-70 % of such memos refused while lines joined groups);
		// a number split over lines is let through for it.
		"补发时长\n150\n1200\n1800", "捐款明细：\n180\n2000\n5000", "房间号：\n158\n1201\n1202", "• 150\n• 2000\n• 3000",
		"各人时长：\n1\n4\n2\n3\n2\n2\n1\n3\n4\n2\n2", "家属电话\n138\n1234\n5678",
		// Only a dash right after a digit carries a number over a line break, and one break only.
		"一 二 三 四 五 六 日\n1 3 2 2 4 3 -\n2 2 1 3 4 2 -\n", "1\t4\t2\t3\t2\t-\n2\t1\t3\t3\t4\t-\n1\n",
		"编号 1390001.\n2026 年度", "人数 (139)\n1200 1300 元", "积分 139 ～\n1234 ～ 5678", "房号 158 -\n20261124 入住",
		"138-1234-\n\n5678",
		"材料费 150 + 2000 + 1200 = 3350 元", "三项支出 180/1500/3000 元", "138／1234／5678" /* a slash lists */, "身份证号有误 110101199003071234（校验位不对）"[0:0] + "流水 110101199003071234"} {
		if err := CheckChainText("memo", s, MaxMemoLen); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
}

// TestCheckEntityID: ids that name no person refuse a mobile or ID-card
// number, but take what such ids really hold — barcodes, region codes,
// timestamps, UUIDs, dates and serials — which a plain digit-run limit
// refused (an outside probe found EAN-13 item ids and 12-digit region
// codes refused, and one random UUID in a hundred).
func TestCheckEntityID(t *testing.T) {
	for _, s := range []string{"sku-6901234567892", "6901234567892", "510104001001", "c-510104001001", "order-20261124153000",
		"zx-20261124153000", "ts-1731234567890", "group-17-20261124-1", "batch-2026-11-24-000001-0001",
		"b4ffae00-b5f4-4ebb-8ed7-01499259064e", "8fd3c195-2296-4781-b0be-40ffeaff572a", "g-8fd3c195-2296-4781-b0be-40ffeaff572a",
		"elders-choir-2", "item-2026-11-rice-5kg", "m-0421", "elder_care"} {
		if err := CheckEntityID("id", s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"00000000-0000-0000-0000-013812345678", "13812345678-0000-4000-8000-000000000000", "13800138000", "id-110101199003071233", "it-13812345678", "c13812345678", "p-138-1234-5678",
		"tel.139.1234.5678", "11010119900307109X", "p:138:1234:5678", "c:110101:19900307:1233", "fam:139:1234:5678",
		"b:1:3:8:1:2:3:4:5:6:7:8", "p-138----1234----5678", "p_138__1234__5678"} {
		if err := CheckEntityID("id", s); !IsCode(err, CodeInvalidID) {
			t.Errorf("%q: %v, want invalid_id", s, err)
		}
	}
}

// TestUUIDsAreIDs: random UUIDs in their canonical form pass as entity
// ids and as member ids (their hex digit groups read as a phone number
// about once in a thousand, and an all-digit last group is 12 digits in
// a row): clients that name things by UUID must not fail at random.
func TestUUIDsAreIDs(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 2026))
	hex := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = "0123456789abcdef"[r.IntN(16)]
		}
		return string(b)
	}
	for range 20000 {
		u := hex(8) + "-" + hex(4) + "-4" + hex(3) + "-" + string("89ab"[r.IntN(4)]) + hex(3) + "-" + hex(12)
		if err := CheckEntityID("id", u); err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		if err := CheckPseudonym("id", "m-"+u); err != nil {
			t.Fatalf("m-%s: %v", u, err)
		}
	}
	if err := CheckPseudonym("id", "12345678-1234-4234-9234-123456789012"); err != nil {
		t.Fatalf("an all-digit UUID: %v", err)
	}
	// A number zero-padded into the form (version 0) is no UUID.
	for _, id := range []string{"00000000-0000-0000-0000-013812345678", "13812345678-0000-4000-8000-000000000000",
		"00000000-0000-4000-8000-0000000013812345678"} {
		if err := CheckPseudonym("id", id); err == nil {
			t.Fatalf("%s (a phone number padded into UUID form, or beside one) passed as a member id", id)
		}
	}
}

package fund

import (
	"encoding/hex"
	"strings"
	"testing"

	"tally/ledger"
)

// FuzzCheckEvidence: evidence hashes are accepted only as 64 hex digits
// each (decodable, 32 bytes), refused with invalid_request or, past
// MaxEvidence, limit_exceeded; and a donor commitment is always a
// lowercase hex SHA-256 whatever the stored salt holds.
func FuzzCheckEvidence(f *testing.F) {
	h := strings.Repeat("ab", 32)
	for _, s := range []string{h, strings.ToUpper(h), h[:63], h + "0", strings.Repeat("zz", 32), "", h + "," + h, "0x" + h[2:]} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, list string) {
		ev := strings.Split(list, ",")
		err := checkEvidence(ev)
		if c := ledger.ErrorCode(err); err != nil && c != ledger.CodeInvalidRequest && c != ledger.CodeLimitExceeded {
			t.Fatalf("%q: code %q", list, c)
		}
		if err == nil {
			if len(ev) > MaxEvidence {
				t.Fatalf("%d hashes accepted", len(ev))
			}
			for _, e := range ev {
				if b, derr := hex.DecodeString(e); derr != nil || len(b) != 32 {
					t.Fatalf("accepted evidence %q", e)
				}
			}
		}
		c := DonorCommitment(list, list)
		if b, derr := hex.DecodeString(c); derr != nil || len(b) != 32 || strings.ToLower(c) != c {
			t.Fatalf("DonorCommitment(%q) = %q", list, c)
		}
	})
}

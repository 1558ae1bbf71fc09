package ledger

import (
	"strings"
	"testing"
)

// docReader answers Doc with a fixed error; nothing else is called.
type docReader struct {
	Reader
	err error
}

func (r docReader) Doc(kind, id string, v any) error { return r.err }

// A damaged document is an error of its own, never "not found": a 404
// would tell a caller the record does not exist when the store is broken.
func TestGetDocKeepsDamage(t *testing.T) {
	damaged := Errorf(CodeLedgerDamaged, "doc need n1: bad value")
	if _, err := GetDoc[struct{}](docReader{err: damaged}, "need", "timebank: need", "n1"); ErrorCode(err) != CodeLedgerDamaged {
		t.Fatalf("damaged doc: got %v, want ledger_damaged", err)
	}
	long := strings.Repeat("x", MaxIDLen+50)
	_, err := GetDoc[struct{}](docReader{err: Errorf(CodeNotFound, "doc missing")}, "need", "timebank: need", long)
	if ErrorCode(err) != CodeNotFound || !strings.Contains(err.Error(), "timebank: need "+long[:MaxIDLen]+" not found") || strings.Contains(err.Error(), long) {
		t.Fatalf("missing doc: got %v", err)
	}
}

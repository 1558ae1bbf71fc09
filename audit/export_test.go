package audit

import (
	"bytes"
	"testing"
)

// TestExportRefusesShortSource: a source that hands over fewer records
// than its head counts (a store reader stopped by a damaged block) gets
// an error from Close, which writes no end frame, so the export cannot
// look whole; a whole one closes.
func TestExportRefusesShortSource(t *testing.T) {
	for _, records := range []uint64{1, 2} {
		var b bytes.Buffer
		x := NewExportWriter(&b)
		if err := x.Begin(Head{Size: 2}, nil); err != nil {
			t.Fatal(err)
		}
		for i := range records {
			if err := x.Record(i, []byte("r"), nil); err != nil {
				t.Fatal(err)
			}
		}
		err := x.Close()
		if records < 2 && err == nil {
			t.Fatalf("Close of an export of %d records of 2: no error", records)
		}
		if records == 2 && err != nil {
			t.Fatalf("Close of a whole export: %v", err)
		}
	}
}

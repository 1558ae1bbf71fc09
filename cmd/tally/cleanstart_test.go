package main

import (
	"strings"
	"testing"
)

// TestCleanStartsLogNoError: a first start (the demo loaded) and a
// restart on its directory, each stopped after it is ready, log no error
// — the start-up verification now runs before the checkpoint key exists
// on a first start, and once logged "checkpoint: no checkpoint key".
func TestCleanStartsLogNoError(t *testing.T) {
	dir := t.TempDir()
	for i, extra := range [][]string{{"--demo"}, nil} {
		p := startServer(t, dir, extra...)
		if r, err := p.call("GET", "/readyz", "", nil); err != nil || r.status != 200 {
			t.Fatalf("start %d: readyz %d %v", i, r.status, err)
		}
		p.stop()
		if log := p.out.String(); strings.Contains(log, `"level":"ERROR"`) {
			t.Fatalf("start %d logged an error:\n%s", i, log)
		}
	}
}

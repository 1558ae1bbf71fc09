package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportDirection keeps the house layout: the domain sees no storage,
// HTTP or JWT; audit sees no storage or HTTP; only api imports gin and jwt;
// only ledger/store imports Badger.
func TestImportDirection(t *testing.T) {
	forbidden := map[string][]string{
		"tally/ledger":           {"badger", "gin-gonic", "golang-jwt", "tally/api", "tally/audit"},
		"tally/ledger/community": {"badger", "gin-gonic", "golang-jwt", "tally/api"},
		"tally/ledger/timebank":  {"badger", "gin-gonic", "golang-jwt", "tally/api"},
		"tally/ledger/fund":      {"badger", "gin-gonic", "golang-jwt", "tally/api"},
		"tally/audit":            {"badger", "gin-gonic", "golang-jwt", "tally/api", "tally/ledger"},
		"tally/ledger/store":     {"gin-gonic", "golang-jwt", "tally/api"},
		"tally/api":              {"badger"},
	}
	for pkg, bad := range forbidden {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, b := range bad {
				if dep != pkg && strings.Contains(dep, b) && !(b == "tally/ledger" && !strings.HasPrefix(dep, "tally/ledger")) {
					t.Errorf("%s imports %s", pkg, dep)
				}
			}
		}
	}
}

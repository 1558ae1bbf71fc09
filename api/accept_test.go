package api

import "testing"

// TestPrefersCSV: q-values and specificity decide between CSV and JSON.
func TestPrefersCSV(t *testing.T) {
	for _, c := range []struct {
		accept []string
		csv    bool
	}{
		{nil, false},
		{[]string{"text/csv"}, true},
		{[]string{"TEXT/CSV; charset=utf-8"}, true},
		{[]string{"application/json"}, false},
		{[]string{"*/*"}, false},
		{[]string{"text/*"}, true},
		{[]string{"text/csv;q=0.9, application/json"}, false},
		{[]string{"application/json;q=0.5, text/csv"}, true},
		{[]string{"text/csv, application/json"}, true},
		{[]string{"application/json, text/csv"}, false},
		{[]string{"text/csv;q=0"}, false},
		{[]string{"text/csv;q=0, */*"}, false},
		{[]string{"text/*;q=0.2, text/csv;q=0.8, */*;q=0.5"}, true},
		{[]string{"text/csv;q=2"}, false},
		{[]string{"text/csv;q=abc"}, false},
		{[]string{"application/json;q=0.1", "text/csv;q=0.3"}, true},
		{[]string{"bogus"}, false},
	} {
		if got := prefersCSV(c.accept); got != c.csv {
			t.Errorf("Accept %q: CSV %v, want %v", c.accept, got, c.csv)
		}
	}
}

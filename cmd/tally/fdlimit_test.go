package main

import "testing"

// TestMaxConnections: connections get at most half of the open files left
// after the store's reserve, within [MinConnections, MaxConnections].
func TestMaxConnections(t *testing.T) {
	for _, c := range []struct {
		limit uint64
		want  int
	}{
		{0, MaxConnections},
		{100, MinConnections},
		{300, (300 - FileReserve) / 2},
		{FileReserve + 2*MinConnections + 2, MinConnections + 1},
		{1024, (1024 - FileReserve) / 2},
		{1 << 20, MaxConnections},
	} {
		if got := maxConnections(c.limit); got != c.want {
			t.Errorf("maxConnections(%d) = %d, want %d", c.limit, got, c.want)
		}
	}
}

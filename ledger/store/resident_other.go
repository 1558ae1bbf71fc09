//go:build !linux

package store

// pageOutTables is a no-op where MADV_PAGEOUT does not exist.
func pageOutTables(string, int64) (int, error) { return 0, errUnsupported }

// residentFileBytes is not measured on this platform.
func residentFileBytes() int64 { return -1 }

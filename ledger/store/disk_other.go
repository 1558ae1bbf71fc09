//go:build !unix

package store

import "errors"

// freeBytes is not measured on this platform; roomOnDisk then lets writes
// go on.
func freeBytes(string) (uint64, error) {
	return 0, errors.New("store: free space unknown on this platform")
}

// freeInodes is not measured on this platform either.
func freeInodes(string) (uint64, error) {
	return 0, errors.New("store: free files unknown on this platform")
}

// inUse cannot tell on this platform; Badger's own lock still refuses a
// second writer.
func inUse(string) (bool, error) { return false, nil }

//go:build !unix

package store

import "errors"

// freeBytes is not measured on this platform; roomOnDisk then lets writes
// go on.
func freeBytes(string) (uint64, error) {
	return 0, errors.New("store: free space unknown on this platform")
}

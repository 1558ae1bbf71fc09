//go:build unix

package store

import (
	"errors"
	"math"
	"os"

	"golang.org/x/sys/unix"
)

// freeBytes returns the bytes available to unprivileged users on the
// filesystem holding dir.
func freeBytes(dir string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return uint64(st.Bavail) * uint64(st.Bsize), nil
}

// freeInodes returns the files that can still be created on the
// filesystem holding dir; a filesystem that does not count them (btrfs
// reports none in total) has no such limit.
func freeInodes(dir string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	if st.Files == 0 {
		return math.MaxUint64, nil
	}
	return uint64(st.Ffree), nil
}

// inUse reports whether a process holds Badger's lock on the database
// directory dir: a running server (Badger takes flock(LOCK_EX) on the
// directory itself; a reader's LOCK_SH does not conflict with another).
func inUse(dir string) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return true, nil
		}
		return false, err
	}
	return false, unix.Flock(int(f.Fd()), unix.LOCK_UN)
}

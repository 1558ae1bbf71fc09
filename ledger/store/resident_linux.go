//go:build linux

package store

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// residentFileBytes returns the file-backed part of the process's
// resident set (RssFile of /proc/self/status), or -1 when it cannot be
// read.
func residentFileBytes() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for line := range bytes.Lines(b) {
		rest, ok := bytes.CutPrefix(line, []byte("RssFile:"))
		if !ok {
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) != 2 || f[1] != "kB" {
			return -1
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return -1
		}
		return kb << 10
	}
	return -1
}

// tableMapping is one mapping of a table file of the data directory.
type tableMapping struct {
	start, end uintptr
	file       string
}

// tableMappings lists the mappings of dir's *.sst files in
// /proc/self/maps, oldest table first (Badger numbers tables in the
// order it writes them).
func tableMappings(dir string) ([]tableMapping, error) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []tableMapping
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// start-end perms offset dev inode path; the path (which may hold
		// spaces) is what follows the fifth field.
		line := sc.Text()
		fields := strings.SplitN(line, " ", 6)
		if len(fields) < 6 {
			continue
		}
		path := strings.TrimLeft(fields[5], " ")
		if filepath.Dir(path) != dir || !strings.HasSuffix(path, ".sst") {
			continue // a deleted file's path ends in " (deleted)"
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		out = append(out, tableMapping{start: uintptr(start), end: uintptr(end), file: filepath.Base(path)})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b tableMapping) int {
		return compareTableNames(a.file, b.file)
	})
	return out, nil
}

// compareTableNames orders "000012.sst" before "000100.sst" whatever the
// padding.
func compareTableNames(a, b string) int {
	if d := len(a) - len(b); d != 0 {
		return d
	}
	return strings.Compare(a, b)
}

// pageOutTables hands the pages of dir's table mappings back to the
// kernel, oldest table first, until the process's file-backed resident
// set is at most target bytes or every table has been paged out. It
// returns the number of mappings advised, and ErrUnsupported when the
// kernel does not know MADV_PAGEOUT (before Linux 5.4).
//
// MADV_PAGEOUT is only advice: it never changes what a mapping reads,
// for any kind of memory. That matters because a table may be unmapped
// (after a compaction) between reading /proc/self/maps and the call, and
// the range reused by another mapping; whatever is there then is at most
// paged out, never lost (unlike MADV_DONTNEED, which would zero an
// anonymous mapping). A paged-out table page is read back from the file
// when next touched.
func pageOutTables(dir string, target int64) (int, error) {
	maps, err := tableMappings(dir)
	if err != nil {
		return 0, err
	}
	n := 0
	for i := 0; i < len(maps); i += pageOutChunk {
		if residentFileBytes() <= target {
			break
		}
		for _, m := range maps[i:min(i+pageOutChunk, len(maps))] {
			_, _, errno := unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, unix.MADV_PAGEOUT)
			switch errno {
			case 0:
				n++
			case unix.EINVAL:
				return n, errUnsupported
			}
			// ENOMEM: the range was unmapped meanwhile; nothing to do.
		}
	}
	return n, nil
}

// pageOutChunk is how many table mappings are paged out between two
// readings of the resident set.
const pageOutChunk = 32

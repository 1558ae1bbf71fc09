package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// FormatVersion is the storage format this build reads and writes
// (docs/STORAGE.md). A build that changes how something already stored
// must be read raises it, and reads every format below it.
const FormatVersion = 1

// formatFile in the data directory names the format of the ledger in it:
// "tally storage format N". It is outside Badger — a build before it
// existed ignores the file, so rolling back to one still works — and not
// chained: whoever edits it can only make a server refuse to open.
const formatFile = "format"

const formatPrefix = "tally storage format "

// ErrNewerFormat: the directory was written by a newer build.
var ErrNewerFormat = errors.New("store: the data directory was written by a newer Tally")

// checkFormat reads dir's format mark: a directory marked with a format
// newer than this build's is refused, saying so, before anything opens
// it. A directory without the mark was written before marks existed.
func checkFormat(dir string) error {
	raw, err := os.ReadFile(filepath.Join(dir, formatFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	v, ok := strings.CutPrefix(strings.TrimSpace(string(raw)), formatPrefix)
	n, perr := strconv.Atoi(v)
	if !ok || perr != nil || n < 1 {
		return fmt.Errorf("store: %s does not name a storage format (%q); it should read %q", filepath.Join(dir, formatFile), strings.TrimSpace(string(raw)), formatLine())
	}
	if n > FormatVersion {
		return fmt.Errorf("%w: %s says storage format %d, and this build reads formats up to %d: run the version that wrote it (or a newer one), or restore a backup made before the upgrade into a new directory", ErrNewerFormat, filepath.Join(dir, formatFile), n, FormatVersion)
	}
	return nil
}

func formatLine() string { return formatPrefix + strconv.Itoa(FormatVersion) }

// HasFormatMark reports whether dir carries a format mark: one without it
// was last verified by a build before marks existed (or never).
func HasFormatMark(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, formatFile))
	return err == nil
}

// markFormat writes dir's format mark, durably (a new ledger, or one
// whose log this build has just verified).
func markFormat(dir string) error {
	if raw, err := os.ReadFile(filepath.Join(dir, formatFile)); err == nil && strings.TrimSpace(string(raw)) == formatLine() {
		return nil
	}
	return replaceFile(dir, formatFile, []byte(formatLine()+"\n"))
}

// OlderFormatHintApplies reports whether OlderFormatHint may explain a
// failure to verify dir: it has no format mark, and is not a restore
// left unfinished (whose own message says what to do, and which no
// older build wrote).
func OlderFormatHintApplies(dir string) bool {
	if HasFormatMark(dir) {
		return false
	}
	_, err := os.Stat(filepath.Join(dir, restoringFile))
	return errors.Is(err, os.ErrNotExist)
}

// OlderFormatHint is said beside a verification failure of a directory
// without a format mark: the failure may be a format this build does not
// read rather than damage. Directories written before the chain named
// idempotency records (e4d8eb2, 2026-11-23 20:42) read as changed outside
// the ledger to this build.
const OlderFormatHint = "the directory carries no format mark (" + formatFile + "), so no build since 2026-11-24 has verified it: development builds before e4d8eb2 (2026-11-23 20:42) stored a format this version cannot read, which it finds as changed data — if the build that wrote it verifies it (its tally verify --data), the data is intact: keep running that build, or export what is needed with it"

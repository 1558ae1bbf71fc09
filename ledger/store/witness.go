package store

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"tally/audit"
)

// witnessFile, in the data directory beside db/, holds the latest signed
// checkpoint the server published. Badger can lose acknowledged writes
// without a word — a stale or truncated MANIFEST, a damaged log, a db/
// copied back from an older state — and the head (m/head) rolls back with
// the records, so nothing inside the database shows it; the server would
// then append new records under the old numbers and sign a tree that
// contradicts checkpoints auditors already hold. The witness lives
// outside db/, so at open a ledger behind it (or disagreeing with it at
// its size) is refused as damaged.
const witnessFile = "checkpoint"

// writeWitness replaces the witness with note.
func writeWitness(dir string, note []byte) error { return replaceFile(dir, witnessFile, note) }

// HasWitness reports whether the data directory dir holds its published
// checkpoint file: without it a directory rolled back to an earlier copy
// of itself cannot be told from the real one (its checkpoints agree).
func HasWitness(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, witnessFile))
	return err == nil
}

// replaceFile makes dir/name hold b durably: written to name.tmp, synced,
// renamed over name, and the directory synced, so that a crash or a power
// loss leaves the old file or the new one, never a short one.
func replaceFile(dir, name string, b []byte) error {
	p := filepath.Join(dir, name)
	if err := writeSynced(p+".tmp", b); err != nil {
		os.Remove(p + ".tmp") // a full disk must not leave a part behind
		return err
	}
	if err := os.Rename(p+".tmp", p); err != nil {
		os.Remove(p + ".tmp")
		return fmt.Errorf("store: %w", err)
	}
	return syncDir(dir)
}

// checkWitness compares the ledger's head and tree with the witness in
// dir, if there is one.
func checkWitness(dir string, k kv, h head) error {
	note, err := os.ReadFile(filepath.Join(dir, witnessFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: checkpoint witness: %w", err)
	}
	c, err := audit.CheckpointBody(note)
	if err != nil {
		return fmt.Errorf("%w: the checkpoint witness file (%s) is damaged: it is not a checkpoint (%v); the records were not compared with it", ErrDamaged, filepath.Join(dir, witnessFile), err)
	}
	if uint64(c.Size) > h.Size {
		return fmt.Errorf("%w: the ledger holds %d records, but a checkpoint of %d was published (%s): acknowledged records were lost (a stale or damaged db/); restore from a backup taken after it", ErrDamaged, h.Size, c.Size, witnessFile)
	}
	root, err := audit.TreeHash(c.Size, hashReader{k})
	if err != nil {
		return fmt.Errorf("%w: tree root at the published checkpoint: %v", ErrDamaged, err)
	}
	if root != c.Hash {
		return &witnessRewritten{note: note, err: fmt.Errorf("%w: the ledger's tree of %d records differs from the published checkpoint (%s): records, or the stored tree hashes above them, were rewritten", ErrDamaged, c.Size, witnessFile)}
	}
	// The checkpoint itself is stored before the witness is written.
	if stored, err := k.get(checkpointKey(uint64(c.Size))); err != nil || !bytes.Equal(stored, note) {
		return fmt.Errorf("%w: the published checkpoint of %d records (%s) is missing from the ledger or differs", ErrDamaged, c.Size, witnessFile)
	}
	return nil
}

// storeDir is the data directory a store writes its files beside db/ in
// ("" in memory).
func storeDir(dir string, inMemory bool) string {
	if inMemory {
		return ""
	}
	return dir
}

// witnessRewritten is checkWitness's finding that the tree at the
// published checkpoint's size is not the one it signed. A server refuses
// to open on it; a verification goes on with the checkpoint as one the
// user trusts, so that its walk names the records the rewrite lies in
// (from the last checkpoint the recomputed tree still matches).
type witnessRewritten struct {
	note []byte
	err  error
}

func (e *witnessRewritten) Error() string { return e.err.Error() }
func (e *witnessRewritten) Unwrap() error { return e.err }

package store

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/dgraph-io/badger/v4"
)

// The members' data keys (q/<member>: the data key wrapped by the master
// key) live outside Badger, one file each in the data directory's keys/,
// so that erasing a member destroys their key. Badger keeps a deleted
// key's older versions in its tables until some compaction happens to
// merge them, with no way to force that for one key, and a data key left
// there would still decrypt the erased member's personal data for anyone
// holding the directory and its master.key; a deleted file is gone.
//
// The writer keeps q/ writes beside its Badger transaction: new keys are
// written and synced before the commit that uses them, deleted ones are
// removed after the commit that erased them. A crash between leaves a
// key with no personal data (p/<member>), which the next open removes.

// keysDir is the folder of data keys in a data directory.
const keysDir = "keys"

// keyStore holds wrapped data keys by member id.
type keyStore interface {
	get(member string) ([]byte, error) // errNotFound when absent
	// put stores keys durably before it returns.
	put(keys map[string][]byte) error
	del(members []string) error
	members() ([]string, error) // sorted
}

// fileKeys is a keyStore in a folder: one file per member, named by the
// hex of the member id.
type fileKeys struct{ dir string }

// openFileKeys opens (creating) the key folder for writing, removing
// what a crash left half-written.
func openFileKeys(dir string) (*fileKeys, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	tmps, err := filepath.Glob(filepath.Join(dir, "*.tmp"))
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	for _, t := range tmps {
		if err := os.Remove(t); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	return &fileKeys{dir: dir}, nil
}

func (f *fileKeys) path(member string) string {
	return filepath.Join(f.dir, hex.EncodeToString([]byte(member)))
}

func (f *fileKeys) get(member string) ([]byte, error) {
	b, err := os.ReadFile(f.path(member))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: data key: %w", err)
	}
	return b, nil
}

// keyWriters bounds the key files written (and synced) at once: the
// disk merges concurrent syncs, and a batch registering many members
// waits for them in the writer.
const keyWriters = 8

func (f *fileKeys) put(keys map[string][]byte) error {
	if len(keys) == 0 {
		return nil
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		werr error
		sem  = make(chan struct{}, keyWriters)
	)
	for member, wrapped := range keys {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := writeSynced(f.path(member)+".tmp", wrapped); err != nil {
				mu.Lock()
				werr = errors.Join(werr, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if werr != nil {
		return werr
	}
	for member := range keys {
		p := f.path(member)
		if err := os.Rename(p+".tmp", p); err != nil {
			return fmt.Errorf("store: data key: %w", err)
		}
	}
	return syncDir(f.dir)
}

func (f *fileKeys) del(members []string) error {
	if len(members) == 0 {
		return nil
	}
	for _, m := range members {
		if err := os.Remove(f.path(m)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("store: data key: %w", err)
		}
	}
	return syncDir(f.dir)
}

// members lists the stored keys (not a .tmp file a crash left while one
// was written, which openFileKeys removes).
func (f *fileKeys) members() ([]string, error) {
	entries, err := os.ReadDir(f.dir)
	if err != nil {
		return nil, fmt.Errorf("store: data keys: %w", err)
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			continue
		}
		id, err := hex.DecodeString(name)
		if err != nil || e.IsDir() {
			return nil, fmt.Errorf("%w: %s is not a data key", ErrDamaged, filepath.Join(f.dir, name))
		}
		out = append(out, string(id))
	}
	slices.Sort(out)
	return out, nil
}

// writeSynced writes b to path (mode 0600) and syncs it.
func writeSynced(path string, b []byte) error {
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	_, err = fh.Write(b)
	if err == nil {
		err = fh.Sync()
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("store: write %s: %w", path, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("store: sync %s: %w", dir, err)
	}
	return nil
}

// memKeys is a keyStore in memory, for an in-memory store.
type memKeys struct {
	mu   sync.RWMutex
	keys map[string][]byte
}

func (m *memKeys) get(member string) ([]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	b, ok := m.keys[member]
	if !ok {
		return nil, errNotFound
	}
	return slices.Clone(b), nil
}

func (m *memKeys) put(keys map[string][]byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, v := range keys {
		m.keys[k] = slices.Clone(v)
	}
	return nil
}

func (m *memKeys) del(members []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range members {
		delete(m.keys, k)
	}
	return nil
}

func (m *memKeys) members() ([]string, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]string, 0, len(m.keys))
	for k := range m.keys {
		out = append(out, k)
	}
	slices.Sort(out)
	return out, nil
}

// keyed is a kv whose data keys (q/<member>) come from a keyStore and
// every other key from kv.
type keyed struct {
	kv
	ks keyStore
}

func (k keyed) get(key []byte) ([]byte, error) {
	if member, ok := bytes.CutPrefix(key, []byte(pDataKey)); ok {
		return k.ks.get(string(member))
	}
	return k.kv.get(key)
}

func (k keyed) scan(prefix, start []byte, reverse bool, fn func(k, v []byte) (bool, error)) error {
	if !bytes.HasPrefix(prefix, []byte(pDataKey)) {
		return k.kv.scan(prefix, start, reverse, fn)
	}
	members, err := k.ks.members()
	if err != nil {
		return err
	}
	if reverse {
		slices.Reverse(members)
	}
	for _, m := range members {
		key := []byte(pDataKey + m)
		if !bytes.HasPrefix(key, prefix) || start != nil && (!reverse && bytes.Compare(key, start) <= 0 || reverse && bytes.Compare(key, start) >= 0) {
			continue
		}
		v, err := k.ks.get(m)
		if errors.Is(err, errNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if more, err := fn(key, v); err != nil || !more {
			return err
		}
	}
	return nil
}

// checkKeysLost refuses, reading only, a ledger whose key folder is
// missing while it holds personal data and no data key in Badger (the
// layout before key files): it was copied without keys/, and served, every
// member would read as erased.
func checkKeysLost(db *badger.DB) error {
	has := func(prefix string) (bool, error) {
		found := false
		err := db.View(func(txn *badger.Txn) error {
			return badgerKV{txn}.scan([]byte(prefix), nil, false, func(_, _ []byte) (bool, error) {
				found = true
				return false, nil
			})
		})
		return found, err
	}
	boxes, err := has(pPersonal)
	if err != nil || !boxes {
		return err
	}
	if old, err := has(pDataKey); err != nil || old {
		return err
	}
	return fmt.Errorf("%w: the ledger holds personal data but its %s folder of data keys is missing; restore it from the copy the directory came from (or restore a backup)", ErrDamaged, keysDir)
}

// checkKeysPresent refuses, reading only, a ledger in which some
// member's personal data has no data key, neither in the key store nor
// (the layout before key files) in Badger: key files deleted or left
// behind by a partial copy, which would otherwise serve those members as
// if erased. An erasure removes the personal data before the key, and a
// key is written before the data it opens, so a whole directory never
// fails this.
func checkKeysPresent(k kv, ks keyStore) error {
	members, err := ks.members()
	if err != nil {
		return err
	}
	have := make(map[string]bool, len(members))
	for _, m := range members {
		have[m] = true
	}
	missing, first := 0, ""
	err = k.scan([]byte(pPersonal), nil, false, func(key, _ []byte) (bool, error) {
		m := string(key[len(pPersonal):])
		if have[m] {
			return true, nil
		}
		if _, err := k.get([]byte(pDataKey + m)); err == nil {
			return true, nil
		} else if !errors.Is(err, errNotFound) {
			return false, err
		}
		if missing++; first == "" {
			first = m
		}
		return true, nil
	})
	if err != nil || missing == 0 {
		return err
	}
	return fmt.Errorf("%w: personal data of %d members or donors has no data key in %s (first: %q); restore the folder from the copy the directory came from (or restore a backup)", ErrDamaged, missing, keysDir, first)
}

// isDataKey reports whether k is a data key (q/<member>).
func isDataKey(k string) bool { return strings.HasPrefix(k, pDataKey) }

// settleKeys makes the key store agree with the database at open: data
// keys that an older version kept in Badger move to the key store (and
// out of Badger), and a key whose member has no personal data — left by
// a crash between a key's write and its commit, or between an erasure's
// commit and the key's removal — is removed.
func settleKeys(db *badger.DB, ks keyStore) error {
	var moved map[string][]byte
	err := db.View(func(txn *badger.Txn) error {
		return badgerKV{txn}.scan([]byte(pDataKey), nil, false, func(k, v []byte) (bool, error) {
			if moved == nil {
				moved = map[string][]byte{}
			}
			moved[string(k[len(pDataKey):])] = v
			return true, nil
		})
	})
	if err != nil {
		return err
	}
	if len(moved) > 0 {
		if err := ks.put(moved); err != nil {
			return err
		}
		wb := db.NewWriteBatch()
		for m := range moved {
			if err := wb.Delete([]byte(pDataKey + m)); err != nil {
				wb.Cancel()
				return fmt.Errorf("store: move data keys: %w", err)
			}
		}
		if err := wb.Flush(); err != nil {
			return fmt.Errorf("store: move data keys: %w", err)
		}
	}
	members, err := ks.members()
	if err != nil {
		return err
	}
	// Both lists are in order: one pass over the personal data's keys
	// (no values read) finds the keys without data, where a Get per key
	// file took tens of seconds for 10^5 members on a cold cache.
	var orphans []string
	err = db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: []byte(pPersonal)})
		defer it.Close()
		it.Rewind()
		for _, m := range members {
			want := []byte(pPersonal + m)
			for it.Valid() && bytes.Compare(it.Item().Key(), want) < 0 {
				it.Next()
			}
			if !it.Valid() || !bytes.Equal(it.Item().Key(), want) {
				orphans = append(orphans, m)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return ks.del(orphans)
}

package store

import (
	"bytes"
	"errors"
	"log/slog"

	"github.com/dgraph-io/badger/v4"
)

// loginPrefix holds the logins (community.KindUser documents), which are
// not chained (unchainedDocs).
var loginPrefix = docKey("user", "")

// foldLoginsBatch bounds the logins one Badger transaction moves.
const foldLoginsBatch = 1000

// foldLogins moves each login kept under a username with capitals — made
// before usernames were case-insensitive (2026-11-24) — to the key of its
// lower-case username (community.UserKey: ASCII lower case, ids being
// ASCII), unless that key is taken: two logins that differ only in case
// stay as they are, each found by its exact spelling first. So a new
// registration in other capitals finds the old login and is refused, and
// the old login is found in any case. Logins are not chained, so the move
// changes nothing the verifier reads. It reports how many it moved.
func foldLogins(db *badger.DB) (int, error) {
	var upper [][]byte
	err := db.View(func(txn *badger.Txn) error {
		o := badger.DefaultIteratorOptions
		o.PrefetchValues = false
		o.Prefix = loginPrefix
		it := txn.NewIterator(o)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			if name := k[len(loginPrefix):]; !bytes.Equal(name, bytes.ToLower(name)) {
				upper = append(upper, it.Item().KeyCopy(nil))
			}
		}
		return nil
	})
	moved := 0
	for len(upper) > 0 && err == nil {
		n := min(len(upper), foldLoginsBatch)
		err = db.Update(func(txn *badger.Txn) error {
			for _, k := range upper[:n] {
				lower := append(bytes.Clone(loginPrefix), bytes.ToLower(k[len(loginPrefix):])...)
				if _, err := txn.Get(lower); err == nil {
					continue // a login of another member has that spelling
				} else if !errors.Is(err, badger.ErrKeyNotFound) {
					return err
				}
				item, err := txn.Get(k)
				if err != nil {
					return err
				}
				v, err := item.ValueCopy(nil)
				if err != nil {
					return err
				}
				if err := txn.Set(lower, v); err != nil {
					return err
				}
				if err := txn.Delete(k); err != nil {
					return err
				}
				moved++
			}
			return nil
		})
		upper = upper[n:]
	}
	if moved > 0 {
		slog.Info("logins moved to their lower-case usernames (usernames are case-insensitive)", "moved", moved)
	}
	return moved, err
}

// Package ledgertest holds test doubles of the ledger's interfaces for
// the tests of the packages built on it.
package ledgertest

import (
	"encoding/json"
	"time"

	"tally/ledger"
)

// StoredReader is a ledger.Reader for fuzz targets of the workflow
// packages' readers: it serves the same stored bytes as every document, index
// value, account and transaction it is asked for, and one index key
// besides the exact one: what a damaged or hand-edited store could hold.
type StoredReader struct {
	Val []byte // every value read
	Key string // an index key served besides the exact one
}

func (s StoredReader) Account(id string) (*ledger.Account, error) {
	a := &ledger.Account{}
	return a, json.Unmarshal(s.Val, a)
}

func (s StoredReader) Transaction(id string) (*ledger.Transaction, error) {
	t := &ledger.Transaction{}
	return t, json.Unmarshal(s.Val, t)
}

func (s StoredReader) Entries(account string, p ledger.Page) ([]ledger.Entry, string, error) {
	var e ledger.Entry
	if err := json.Unmarshal(s.Val, &e); err != nil {
		return nil, "", err
	}
	return []ledger.Entry{e}, "", nil
}

func (s StoredReader) Doc(kind, id string, v any) error { return json.Unmarshal(s.Val, v) }

func (s StoredReader) Docs(kind string, p ledger.Page, each func(id string, raw []byte) error) (string, error) {
	if p.After != "" {
		return "", nil
	}
	return "", each("x", s.Val)
}

func (s StoredReader) Index(prefix string, p ledger.Page, each func(key string, val []byte) error) (string, error) {
	if p.After == "" {
		if err := each("", s.Val); err != nil {
			return "", err
		}
	}
	if s.Key > p.After && s.Key != "" {
		return "", each(s.Key, s.Val)
	}
	return "", nil
}

func (s StoredReader) Personal(member string) (map[string]string, error) {
	return nil, ledger.Errorf(ledger.CodeNotFound, "no personal data")
}

func (s StoredReader) Head() (uint64, time.Time) { return 1, time.Unix(0, 0) }

var _ ledger.Reader = StoredReader{}

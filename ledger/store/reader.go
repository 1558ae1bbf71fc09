package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	"tally/ledger"
)

// kv is what the Reader needs from storage: point reads and ordered scans.
// A read-only Badger transaction implements it for snapshots; an op's
// overlay implements it over the batch transaction for the writer.
type kv interface {
	get(key []byte) ([]byte, error) // errNotFound when absent
	// scan calls fn for keys with prefix, after start (exclusive) when
	// start is non-nil, ascending or descending, until fn returns false.
	scan(prefix, start []byte, reverse bool, fn func(k, v []byte) (bool, error)) error
}

var errNotFound = errors.New("store: not found")

// badgerKV reads through a Badger transaction.
type badgerKV struct{ txn *badger.Txn }

func (b badgerKV) get(key []byte) ([]byte, error) {
	item, err := b.txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: get: %w", err)
	}
	return item.ValueCopy(nil)
}

func (b badgerKV) scan(prefix, start []byte, reverse bool, fn func(k, v []byte) (bool, error)) error {
	opt := badger.DefaultIteratorOptions
	opt.Prefix, opt.Reverse, opt.PrefetchValues = prefix, reverse, false
	it := b.txn.NewIterator(opt)
	defer it.Close()
	seek := prefix
	switch {
	case start != nil:
		seek = start
	case reverse:
		seek = append(append([]byte{}, prefix...), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	}
	for it.Seek(seek); it.ValidForPrefix(prefix); it.Next() {
		k := it.Item().KeyCopy(nil)
		if start != nil && bytes.Equal(k, start) {
			continue
		}
		v, err := it.Item().ValueCopy(nil)
		if err != nil {
			return fmt.Errorf("store: scan: %w", err)
		}
		more, err := fn(k, v)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// reader implements ledger.Reader over a kv.
type reader struct {
	kv kv
	pk *personalKeys
}

func (r reader) getJSON(key []byte, v any, what string) error {
	raw, err := r.kv.get(key)
	if errors.Is(err, errNotFound) {
		return ledger.Errorf(ledger.CodeNotFound, "%s not found", what)
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("store: decode %s: %w", what, err)
	}
	return nil
}

func (r reader) Account(id string) (*ledger.Account, error) {
	a := &ledger.Account{}
	if err := r.getJSON(accountKey(id), a, "account "+id); err != nil {
		return nil, err
	}
	if a.ID != id {
		// Written back, it would land on the account it names.
		return nil, fmt.Errorf("%w: a/%s holds account %q", ErrDamaged, id, a.ID)
	}
	return a, nil
}

func (r reader) Transaction(id string) (*ledger.Transaction, error) {
	t := &ledger.Transaction{}
	if err := r.getJSON(txKey(id), t, "transaction "+id); err != nil {
		return nil, err
	}
	return t, nil
}

func (r reader) Doc(kind, id string, v any) error {
	return r.getJSON(docKey(kind, id), v, kind+" "+id)
}

func pageLimit(p ledger.Page) int {
	if p.Limit <= 0 {
		return ledger.DefaultPageSize
	}
	return min(p.Limit, ledger.MaxPageSize)
}

// page scans prefix after the cursor key and calls each with the key
// suffix; it returns the suffix of the last item as the next cursor when
// more items follow.
func (r reader) page(prefix []byte, after []byte, p ledger.Page, each func(suffix, v []byte) error) ([]byte, error) {
	limit := pageLimit(p)
	var start []byte
	if after != nil {
		start = append(append([]byte{}, prefix...), after...)
	}
	n := 0
	var last, next []byte
	err := r.kv.scan(prefix, start, p.Reverse, func(k, v []byte) (bool, error) {
		if n == limit {
			next = last
			return false, nil
		}
		n++
		last = k[len(prefix):]
		return true, each(last, v)
	})
	return next, err
}

func (r reader) Entries(account string, p ledger.Page) ([]ledger.Entry, string, error) {
	var after []byte
	if p.After != "" {
		var ok bool
		if after, ok = parseEntryCursor(p.After); !ok {
			return nil, "", ledger.Errorf(ledger.CodeInvalidRequest, "bad cursor")
		}
	}
	var out []ledger.Entry
	next, err := r.page(entryPrefix(account), after, p, func(_, v []byte) error {
		var e ledger.Entry
		if err := decodeEntry(v, &e); err != nil {
			return fmt.Errorf("store: decode entry: %w", err)
		}
		out = append(out, e)
		return nil
	})
	if err != nil || next == nil {
		return out, "", err
	}
	return out, entryCursor(next), nil
}

func (r reader) Docs(kind string, p ledger.Page, each func(id string, raw []byte) error) (string, error) {
	return r.strPage([]byte(pDoc+kind+"/"), p, each)
}

func (r reader) Index(prefix string, p ledger.Page, each func(key string, val []byte) error) (string, error) {
	return r.strPage(indexKey(prefix), p, each)
}

func (r reader) strPage(prefix []byte, p ledger.Page, each func(string, []byte) error) (string, error) {
	var after []byte
	if p.After != "" {
		after = []byte(p.After)
	}
	next, err := r.page(prefix, after, p, func(s, v []byte) error { return each(string(s), v) })
	return string(next), err
}

func (r reader) Personal(member string) (map[string]string, error) {
	return r.pk.read(r.kv, member)
}

func (r reader) Head() (uint64, time.Time) {
	h, err := loadHead(r.kv)
	if err != nil {
		return 0, time.Time{}
	}
	return h.Size, time.Unix(0, h.LastTime).UTC()
}

// head is the writer's durable state, stored at m/head in every batch.
type head struct {
	Size     uint64   `json:"size"`
	Last     [32]byte `json:"last"`
	LastTime int64    `json:"last_time"`
}

func loadHead(k kv) (head, error) {
	var h head
	raw, err := k.get([]byte(pHead))
	if errors.Is(err, errNotFound) {
		return h, nil
	}
	if err != nil {
		return h, err
	}
	return h, json.Unmarshal(raw, &h)
}

// hasPrefix is used by overlay merges.
func hasPrefix(k, p []byte) bool { return strings.HasPrefix(string(k), string(p)) }

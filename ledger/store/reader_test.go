package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"tally/ledger"
)

// mapKV is a kv over a sorted map, for fuzzing decoders and as the model
// of the overlay merge.
type mapKV map[string][]byte

func (m mapKV) get(k []byte) ([]byte, error) {
	if v, ok := m[string(k)]; ok {
		return v, nil
	}
	return nil, errNotFound
}

func (m mapKV) scan(prefix, start []byte, reverse bool, fn func(k, v []byte) (bool, error)) error {
	var keys []string
	for k := range m {
		if strings.HasPrefix(k, string(prefix)) && (start == nil || !reverse && k > string(start) || reverse && k < string(start)) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	if reverse {
		slices.Reverse(keys)
	}
	for _, k := range keys {
		if more, err := fn([]byte(k), m[k]); err != nil || !more {
			return err
		}
	}
	return nil
}

// TestOverlayScanMerge compares the op overlay's merged scan with a model
// (the batch's keys with the overlay's sets and deletes applied) over
// random keys, prefixes, cursors, directions and early stops.
func TestOverlayScanMerge(t *testing.T) {
	rng := rand.New(rand.NewSource(seed(t)))
	s := openTest(t)
	key := func() string { return fmt.Sprintf("i/%c/%02d", 'a'+rng.Intn(3), rng.Intn(40)) }
	for round := range 30 {
		base := mapKV{}
		txn := s.db.NewTransaction(true)
		for range rng.Intn(60) {
			k := key()
			base[k] = []byte("base")
			if err := txn.Set([]byte(k), base[k]); err != nil {
				t.Fatal(err)
			}
		}
		o := newOpTx(badgerKV{txn}, s.pk, 0, s.clock(), ledger.Actor{})
		model := mapKV{}
		for k, v := range base {
			model[k] = v
		}
		for range rng.Intn(40) {
			k := key()
			if rng.Intn(3) == 0 {
				o.del([]byte(k))
				delete(model, k)
			} else {
				o.set([]byte(k), []byte("mine"))
				model[k] = []byte("mine")
			}
		}
		for range 20 {
			prefix := []byte("i/")
			if rng.Intn(2) == 0 {
				prefix = fmt.Appendf(nil, "i/%c/", 'a'+rng.Intn(3))
			}
			var start []byte
			if rng.Intn(2) == 0 {
				start = []byte(key())
				if !bytes.HasPrefix(start, prefix) {
					start = nil
				}
			}
			reverse, stop := rng.Intn(2) == 0, rng.Intn(50)
			collect := func(k kv) []string {
				var out []string
				if err := k.scan(prefix, start, reverse, func(k, v []byte) (bool, error) {
					out = append(out, string(k)+"="+string(v))
					return len(out) < stop, nil
				}); err != nil {
					t.Fatal(err)
				}
				return out
			}
			if got, want := collect(o), collect(model); !slices.Equal(got, want) {
				t.Fatalf("round %d: scan(%q, %q, reverse %v, stop %d):\n got %v\nwant %v", round, prefix, start, reverse, stop, got, want)
			}
		}
		txn.Discard()
	}
}

// TestEntriesPaging pages an account's history both ways with cursors:
// every entry once, in order, and a bad cursor is invalid_request.
func TestEntriesPaging(t *testing.T) {
	s := openTest(t)
	fund(t, s, 100000, "alice", "bob")
	for range 37 {
		mustSubmit(t, s, transferOp(pay("alice", "bob", 1)))
	}
	for _, reverse := range []bool{false, true} {
		var seqs []uint64
		after := ""
		for pages := 0; ; pages++ {
			var items []ledger.Entry
			var next string
			if err := s.View(context.Background(), func(r ledger.Reader) error {
				var err error
				items, next, err = r.Entries("bob", ledger.Page{After: after, Limit: 5, Reverse: reverse})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			for _, e := range items {
				seqs = append(seqs, e.Seq)
			}
			if next == "" {
				break
			}
			after = next
		}
		if len(seqs) != 37 {
			t.Fatalf("reverse %v: %d entries, want 37", reverse, len(seqs))
		}
		for i := 1; i < len(seqs); i++ {
			if reverse && seqs[i] >= seqs[i-1] || !reverse && seqs[i] <= seqs[i-1] {
				t.Fatalf("reverse %v: entries out of order: %v", reverse, seqs)
			}
		}
	}
	err := s.View(context.Background(), func(r ledger.Reader) error {
		_, _, err := r.Entries("bob", ledger.Page{After: "zz"})
		return err
	})
	wantCode(t, "bad cursor", err, ledger.CodeInvalidRequest)
}

// FuzzEntryCursor: the cursor parser never panics, accepts exactly the
// cursors the store can produce, and a fuzzed cursor given to Entries
// yields a page or invalid_request, never anything else.
func FuzzEntryCursor(f *testing.F) {
	s, err := Open("", Options{InMemory: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	fund(f, s, 1000, "alice", "bob")
	mustSubmit(f, s, transferOp(pay("alice", "bob", 1)))
	f.Add(entryCursor(make([]byte, 10)), false)
	f.Add("00000000000000020000", true)
	f.Add("zz", false)
	f.Add("", true)
	f.Fuzz(func(t *testing.T, c string, reverse bool) {
		b, ok := parseEntryCursor(c)
		if ok && (len(b) != 10 || entryCursor(b) != strings.ToLower(c)) {
			t.Fatalf("parseEntryCursor(%q) = %x, accepted", c, b)
		}
		err := s.View(context.Background(), func(r ledger.Reader) error {
			_, _, err := r.Entries("bob", ledger.Page{After: c, Reverse: reverse})
			return err
		})
		if err != nil && (c == "" || ok || ledger.ErrorCode(err) != ledger.CodeInvalidRequest) {
			t.Fatalf("Entries after %q: %v", c, err)
		}
	})
}

// FuzzStoredValues feeds arbitrary bytes to every decoder of stored
// values (accounts, transactions, entries, head, personal data): none panics; each returns a value or an error.
func FuzzStoredValues(f *testing.F) {
	f.Add([]byte(`{"id":"a","unit":"HOUR","debits_posted":1}`))
	f.Add([]byte(`{"size":3,"last":[1,2],"last_time":-1}`))
	f.Add([]byte(`{"fp":[0],"seq":1,"result":{}}`))
	f.Add([]byte{0xff, 0})
	pk, err := newPersonalKeys(make([]byte, 32))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		m := mapKV{}
		for _, k := range [][]byte{accountKey("a"), txKey("t"), entryKey("a", 1, 0), []byte(pHead),
			[]byte(pDataKey + "m"), []byte(pPersonal + "m")} {
			m[string(k)] = v
		}
		r := reader{kv: m, pk: pk}
		r.Account("a")
		r.Transaction("t")
		r.Entries("a", ledger.Page{})
		r.Head()
		r.Personal("m")
		loadHead(m)
	})
}

// TestIdemRecordCorrupt: a damaged idempotency record fails only the
// request that meets it, with an internal error.
func TestIdemRecordCorrupt(t *testing.T) {
	s := openTest(t)
	fund(t, s, 1000, "alice", "bob")
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(idemKey("alice", "k"), []byte("{bad")) }); err != nil {
		t.Fatal(err)
	}
	_, err := s.Submit(context.Background(), idemReq("alice", "k", "x", transferOp(pay("alice", "bob", 1))))
	if ledger.ErrorCode(err) != ledger.CodeInternal || errors.Is(err, errNotFound) {
		t.Fatalf("corrupt record: got %v, want an internal error", err)
	}
	mustSubmit(t, s, transferOp(pay("alice", "bob", 1)))
}

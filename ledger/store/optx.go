package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"tally/ledger"
)

// write is one pending change of an op: a set, or a delete when del.
type write struct {
	val []byte
	del bool
}

// opTx is the ledger.Tx given to one Op. Its writes stay in an overlay
// until the op succeeds, so a failing op leaves its batch untouched; reads
// see the overlay first, then the batch transaction.
type opTx struct {
	reader
	base    kv // the batch transaction
	writes  map[string]write
	order   []string
	bytes   int
	seq     uint64
	now     time.Time
	actor   ledger.Actor
	ids     int
	entries map[string]uint16
	effects []ledger.Effect
	action  string
	fields  map[string]any
	state   map[string]*stateChange // the chained keys this op changed
	// subjects are the people whose personal data the op wrote: an
	// idempotency record of the request is keyed with their data keys
	// too (subjectFingerprint), so that it dies with their erasure.
	subjects []string
	stateErr error // reading a chained key's old value failed
	// puts are the accounts this op wrote, as written; cached looks up an
	// account the batch wrote or the writer has cached (nil: no cache).
	puts   map[string]ledger.Account
	head   head // the writer state before this op; m/head lags within a batch
	cached func(id string) (*ledger.Account, bool)
	// docs looks up and keep offers decoded documents of the writer's
	// cache (nil: no cache); see ledger.DocCache.
	docs func(key string) (any, bool)
	keep func(key string, v any)
}

// CachedDoc implements ledger.DocCache: not for a document this op wrote.
func (o *opTx) CachedDoc(kind, id string) (any, bool) {
	key := string(docKey(kind, id))
	if _, mine := o.writes[key]; mine || o.docs == nil {
		return nil, false
	}
	return o.docs(key)
}

// CacheDoc implements ledger.DocCache.
func (o *opTx) CacheDoc(kind, id string, v any) {
	key := string(docKey(kind, id))
	if _, mine := o.writes[key]; mine || o.keep == nil {
		return
	}
	o.keep(key, v)
}

func newOpTx(base kv, pk *personalKeys, seq uint64, now time.Time, actor ledger.Actor) *opTx {
	o := &opTx{base: base, writes: map[string]write{}, seq: seq, now: now, actor: actor, entries: map[string]uint16{}}
	o.reader = reader{kv: o, pk: pk}
	return o
}

func (o *opTx) get(key []byte) ([]byte, error) { return overlay{o.writes, o.base}.get(key) }

func (o *opTx) scan(prefix, start []byte, reverse bool, fn func(k, v []byte) (bool, error)) error {
	return overlay{o.writes, o.base}.scan(prefix, start, reverse, fn)
}

// overlay is a kv of pending writes over another kv: an op's writes over
// its batch's Badger transaction.
type overlay struct {
	writes map[string]write
	base   kv
}

func (v overlay) get(key []byte) ([]byte, error) {
	if w, ok := v.writes[string(key)]; ok {
		if w.del {
			return nil, errNotFound
		}
		return w.val, nil
	}
	return v.base.get(key)
}

// scan merges the overlay's keys under prefix with the base's.
func (v overlay) scan(prefix, start []byte, reverse bool, fn func(k, v []byte) (bool, error)) error {
	var mine []string
	for k := range v.writes {
		kb := []byte(k)
		if !hasPrefix(kb, prefix) || start != nil && (!reverse && bytes.Compare(kb, start) <= 0 || reverse && bytes.Compare(kb, start) >= 0) {
			continue
		}
		mine = append(mine, k)
	}
	if len(mine) == 0 {
		return v.base.scan(prefix, start, reverse, fn)
	}
	sort.Strings(mine)
	if reverse {
		for i, j := 0, len(mine)-1; i < j; i, j = i+1, j-1 {
			mine[i], mine[j] = mine[j], mine[i]
		}
	}
	before := func(a, b string) bool {
		if reverse {
			return a > b
		}
		return a < b
	}
	emit := func(k string) (bool, error) {
		if w := v.writes[k]; !w.del {
			return fn([]byte(k), w.val)
		}
		return true, nil
	}
	stopped := false
	err := v.base.scan(prefix, start, reverse, func(k, val []byte) (bool, error) {
		for len(mine) > 0 && before(mine[0], string(k)) {
			more, err := emit(mine[0])
			mine = mine[1:]
			if err != nil || !more {
				stopped = true
				return false, err
			}
		}
		if len(mine) > 0 && mine[0] == string(k) {
			mine = mine[1:]
			more, err := emit(string(k))
			stopped = !more
			return more, err
		}
		more, err := fn(k, val)
		stopped = !more
		return more, err
	})
	for err == nil && !stopped && len(mine) > 0 {
		var more bool
		more, err = emit(mine[0])
		mine = mine[1:]
		stopped = !more
	}
	return err
}

func (o *opTx) set(key []byte, val []byte) {
	k := string(key)
	o.track(k, val, false)
	if _, ok := o.writes[k]; !ok {
		o.order = append(o.order, k)
	}
	o.writes[k] = write{val: val}
	o.bytes += len(key) + len(val) + writeOverhead
}

func (o *opTx) del(key []byte) {
	k := string(key)
	o.track(k, nil, true)
	if _, ok := o.writes[k]; !ok {
		o.order = append(o.order, k)
	}
	o.writes[k] = write{del: true}
	o.bytes += len(key) + writeOverhead
}

// maxKeyLen is Badger's limit on a key (65000) less room to spare.
const maxKeyLen = 60000

// checkSize refuses, with limit_exceeded, an op that Badger could not
// stage: a key over Badger's limit, or more than one batch can hold. It
// runs before the op's writes reach the batch, so the op fails alone.
func (o *opTx) checkSize() error {
	if o.bytes > MaxBatchBytes {
		return ledger.Errorf(ledger.CodeLimitExceeded, "the change is too large for one commit")
	}
	for _, k := range o.order {
		if len(k) > maxKeyLen {
			return ledger.Errorf(ledger.CodeLimitExceeded, "a key of the change is too long")
		}
	}
	return nil
}

// writeOverhead approximates Badger's per-entry cost in a transaction, for
// splitting batches well before ErrTxnTooBig.
const writeOverhead = 64

func (o *opTx) putJSON(key []byte, v any) error {
	b, err := encodeJSON(v)
	if err != nil {
		return fmt.Errorf("store: encode: %w", err)
	}
	o.set(key, b)
	return nil
}

// Head is the state before this op: the batch writes m/head only when
// it commits.
func (o *opTx) Head() (uint64, time.Time) {
	return o.head.Size, time.Unix(0, o.head.LastTime).UTC()
}

func (o *opTx) Seq() uint64            { return o.seq }
func (o *opTx) Now() time.Time         { return o.now }
func (o *opTx) Actor() ledger.Actor    { return o.actor }
func (o *opTx) Effect(e ledger.Effect) { o.effects = append(o.effects, e) }

func (o *opTx) NewID(prefix string) string {
	o.ids++
	id := prefix + "-" + strconv.FormatUint(o.seq, 10)
	if o.ids > 1 {
		id += "." + strconv.Itoa(o.ids-1)
	}
	return id
}

func (o *opTx) PutAccount(a *ledger.Account) error {
	if o.puts == nil {
		o.puts = map[string]ledger.Account{}
	}
	o.puts[a.ID] = *a
	return o.putJSON(accountKey(a.ID), a)
}

// Account reads the op's own writes first, then the writer's account
// cache, which saves a Badger lookup and a JSON decode of the two or more
// accounts every transfer touches.
func (o *opTx) Account(id string) (*ledger.Account, error) {
	if _, mine := o.writes[string(accountKey(id))]; !mine && o.cached != nil {
		if a, ok := o.cached(id); ok {
			c := *a
			return &c, nil
		}
	}
	return o.reader.Account(id)
}
func (o *opTx) PutTransaction(t *ledger.Transaction) error {
	return o.putJSON(txKey(t.ID), t)
}

func (o *opTx) AddEntry(account string, e ledger.Entry) error {
	n := o.entries[account]
	o.entries[account] = n + 1
	return o.putJSON(entryKey(account, o.seq, n), e)
}

func (o *opTx) PutDoc(kind, id string, v any) error { return o.putJSON(docKey(kind, id), v) }

func (o *opTx) DeleteDoc(kind, id string) error { o.del(docKey(kind, id)); return nil }

// Chained state: the workflow documents (but logins),
// indexes, personal-data boxes and idempotency records an op changes are
// also described in its audit record ("state": name → the SHA-256 of the
// value it replaces and of the new value, empty for none), so that tally
// verify can check every stored one against the chain (a stored result
// rewritten would otherwise be replayed to a retrying client). The name is
// the key, except for an idempotency record, whose key holds the client's
// words: "k/#" and the hex SHA-256 of what follows "k/" (stateName). The
// ledger's own keys (a/, h/, x/, r/, t/) are checked by replay; timers
// (e/, also removed by ops that write no record) are not chained.
func chainedKey(k string) bool {
	switch {
	case strings.HasPrefix(k, pIndex), strings.HasPrefix(k, pPersonal), strings.HasPrefix(k, pDataKey), strings.HasPrefix(k, pIdem):
		return true
	case strings.HasPrefix(k, pDoc):
		kind, _, _ := strings.Cut(k[len(pDoc):], "/")
		return !unchainedDocs[kind]
	}
	return false
}

// unchainedDocs are the document kinds kept out of the chain: login names
// and password hashes (usernames stay out of the chain). Signing keys are
// chained: a record lists only the SHA-256 of the stored document (which
// reveals nothing of a random private key), and verify then catches a key
// swapped in the store (a forged token key once signed an admin token).
var unchainedDocs = map[string]bool{"user": true}

// stateChange is one key's change within an op, as hex SHA-256s; empty
// for no value (a new key, a deleted one).
type stateChange struct{ prev, hash string }

func stateHash(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// track notes the value a chained key had before the op's first change
// to it, then its new value (nil: deleted).
func (o *opTx) track(k string, val []byte, del bool) {
	if !chainedKey(k) {
		return
	}
	sc := o.state[k]
	if sc == nil {
		sc = &stateChange{}
		// An idempotency record is written once, by the op apply found
		// none for: it has no value before.
		if !strings.HasPrefix(k, pIdem) {
			prev, err := o.get([]byte(k))
			switch {
			case err == nil:
				sc.prev = stateHash(prev)
			case !errors.Is(err, errNotFound) && o.stateErr == nil:
				o.stateErr = err
			}
		}
		if o.state == nil {
			o.state = map[string]*stateChange{}
		}
		o.state[k] = sc
	}
	sc.hash = ""
	if !del {
		sc.hash = stateHash(val)
	}
}

// stateFields is the record's "state" map: the chained keys the op
// changed (a key written and put back as it was is left out).
func (o *opTx) stateFields() map[string]any {
	m := make(map[string]any, len(o.state))
	for k, sc := range o.state {
		if sc.prev != sc.hash {
			m[stateName(k)] = map[string]any{"prev": sc.prev, "hash": sc.hash}
		}
	}
	return m
}

// stateName is the name a chained key has in a record's "state": the key
// itself, but for an idempotency record (k/<actor>/<client's key>), whose
// client-chosen part stays out of the chain: "k/#<hex SHA-256 of
// <actor>/<client's key>>".
func stateName(k string) string {
	if rest, ok := strings.CutPrefix(k, pIdem); ok {
		return pIdem + "#" + stateHash([]byte(rest))
	}
	return k
}

func (o *opTx) PutIndex(key string, val []byte) error {
	o.set(indexKey(key), append([]byte{}, val...))
	return nil
}
func (o *opTx) DeleteIndex(key string) error { o.del(indexKey(key)); return nil }

func (o *opTx) PutPersonal(member string, data map[string]string) error {
	wrapped, box, err := o.pk.write(o, member, data)
	if err != nil {
		return err
	}
	o.Concerns(member)
	if wrapped != nil {
		o.set([]byte(pDataKey+member), wrapped)
	}
	o.set([]byte(pPersonal+member), box)
	return nil
}

func (o *opTx) Concerns(member string) {
	if !slices.Contains(o.subjects, member) {
		o.subjects = append(o.subjects, member)
	}
}

func (o *opTx) ErasePersonal(member string) error {
	o.del([]byte(pDataKey + member))
	o.del([]byte(pPersonal + member))
	return nil
}

func (o *opTx) Schedule(at time.Time, kind, id string) error {
	o.set(timerKey(at, kind, id), []byte{})
	return nil
}

func (o *opTx) Unschedule(at time.Time, kind, id string) error {
	o.del(timerKey(at, kind, id))
	return nil
}

func (o *opTx) Scheduled(at time.Time, kind, id string) (bool, error) {
	_, err := o.get(timerKey(at, kind, id))
	if errors.Is(err, errNotFound) {
		return false, nil
	}
	return err == nil, err
}

func (o *opTx) Audit(action string, fields map[string]any) {
	o.action, o.fields = action, fields
}

func (o *opTx) AuditField(key string, v any) {
	o.fields = maps.Clone(o.fields) // the map Audit was given stays the caller's
	if o.fields == nil {
		o.fields = map[string]any{}
	}
	o.fields[key] = v
}

// onlyTimerDeletes reports whether every write of the op deletes a timer:
// the one kind of change that needs no audit record, since timers are a
// schedule derived from records already in the chain.
func (o *opTx) onlyTimerDeletes() bool {
	for k, w := range o.writes {
		if !w.del || !hasPrefix([]byte(k), []byte(pTimer)) {
			return false
		}
	}
	return true
}

package audit

import (
	"bytes"
	"encoding/binary"
	"unicode/utf8"
)

// headerSize is the fixed part of a record: version, seq, prev, time.
const headerSize = 1 + 8 + 32 + 8

// MaxEffects bounds the effects one record may carry; the ledger's own
// bound (64 postings, each a release and a move) is well under it.
const MaxEffects = 1024

// effect is one entry of a record's "effects" list, read in place: the
// byte slices point into the record and live as long as it does.
type effect struct {
	op, tx, from, to, unit      []byte
	memo, by, kind, reverses    []byte
	deadline                    int64
	account, guard, status      []byte
	ownerKind, owner, community []byte
	amount, creditLimit, maxBal int64
}

// scan is a record read without building values: the verifier's fast
// path. It accepts exactly what Decode accepts (a fuzz test holds the two
// together) and keeps only what the verifier needs.
type scan struct {
	b   []byte
	off int
	bad bool

	seq      uint64
	prev     Hash
	time     int64
	actor    []byte
	onBehalf []byte
	action   []byte
	vkey     []byte
	endorse  []byte // a key.rotate record's "endorsement"
	origin   []byte // a key record's "origin"
	previous []byte // a key.rotate record's "previous" (the key it replaces)
	effects  []effect
	docs     []docRef // the "state" map: chained keys the record changed
	badShape bool     // effects present but not a list of maps of known types
	badDocs  bool     // state present but not a map of {hash, prev}
}

// read parses data into s, reusing s's buffers. It reports whether data is
// a canonical record.
func (s *scan) read(data []byte) bool {
	*s = scan{b: data, effects: s.effects[:0], docs: s.docs[:0]}
	if len(data) > MaxRecordSize || len(data) < headerSize || data[0] != Version {
		return false
	}
	s.seq = binary.BigEndian.Uint64(data[1:])
	copy(s.prev[:], data[9:41])
	s.time = int64(binary.BigEndian.Uint64(data[41:]))
	s.off = headerSize
	s.actor = s.str(MaxFieldLen)
	s.onBehalf = s.str(MaxFieldLen)
	s.action = s.str(MaxFieldLen)
	if s.bad || s.tag() != TagMap {
		return false
	}
	s.content()
	return !s.bad && s.off == len(s.b)
}

func (s *scan) need(n int) bool {
	if s.bad || n < 0 || len(s.b)-s.off < n {
		s.bad = true
		return false
	}
	return true
}

func (s *scan) tag() byte {
	if !s.need(1) {
		return 0
	}
	s.off++
	return s.b[s.off-1]
}

func (s *scan) u32() uint32 {
	if !s.need(4) {
		return 0
	}
	s.off += 4
	return binary.BigEndian.Uint32(s.b[s.off-4:])
}

func (s *scan) u64() uint64 {
	if !s.need(8) {
		return 0
	}
	s.off += 8
	return binary.BigEndian.Uint64(s.b[s.off-8:])
}

func (s *scan) str(limit int) []byte {
	n := s.u32()
	if s.bad || int64(n) > int64(limit) || !s.need(int(n)) {
		s.bad = true
		return nil
	}
	v := s.b[s.off : s.off+int(n)]
	s.off += int(n)
	if !utf8.Valid(v) {
		s.bad = true
	}
	return v
}

// count reads a list or map length; like Decode it refuses a count larger
// than the bytes left.
func (s *scan) count() int {
	n := s.u32()
	if int64(n) > int64(len(s.b)-s.off) {
		s.bad = true
		return 0
	}
	return int(n)
}

// keys walks a map's entries after its tag, checking the keys ascend, and
// calls fn with each key; fn reads the value.
func (s *scan) keys(fn func(k []byte)) {
	n := s.count()
	var prev []byte
	for i := 0; i < n && !s.bad; i++ {
		k := s.str(MaxRecordSize)
		if i > 0 && bytes.Compare(k, prev) <= 0 {
			s.bad = true
		}
		prev = k
		fn(k)
	}
}

// skip checks one value and steps over it.
func (s *scan) skip(depth int) {
	if depth > MaxDepth {
		s.bad = true
		return
	}
	switch s.tag() {
	case TagInt:
		s.u64()
	case TagString:
		s.str(MaxRecordSize)
	case TagBytes:
		if n := s.u32(); s.need(int(min(n, uint32(MaxRecordSize+1)))) {
			s.off += int(n)
		}
	case TagBool:
		if t := s.tag(); t > 1 {
			s.bad = true
		}
	case TagList:
		n := s.count()
		for i := 0; i < n && !s.bad; i++ {
			s.skip(depth + 1)
		}
	case TagMap:
		s.keys(func([]byte) { s.skip(depth + 1) })
	default:
		s.bad = true
	}
}

// content walks the top-level map (depth 0), keeping "effects", "state"
// and, for key records, "vkey", "endorsement", "origin" and "previous".
func (s *scan) content() {
	s.keys(func(k []byte) {
		switch string(k) {
		case "effects":
			s.effectList()
		case "state":
			s.docList()
		case "vkey":
			s.vkey = s.stringField()
		case "endorsement":
			s.endorse = s.stringField()
		case "origin":
			s.origin = s.stringField()
		case "previous":
			s.previous = s.stringField()
		default:
			s.skip(1)
		}
	})
}

// stringField reads a top-level field's value, returning it if it is a
// string (nil for another type).
func (s *scan) stringField() []byte {
	start := s.off
	s.skip(1)
	if !s.bad && s.b[start] == TagString {
		return s.b[start+5 : s.off]
	}
	return nil
}

func (s *scan) effectList() {
	start := s.off
	if s.tag() != TagList {
		s.off = start
		s.badShape = true
		s.skip(1)
		return
	}
	n := s.count()
	if n > MaxEffects {
		s.badShape = true
	}
	for i := 0; i < n && !s.bad; i++ {
		s.effect()
	}
}

// effect reads one effect map (depth 2); a value of another shape is
// still checked for canonical form, and marks the record's effects bad.
func (s *scan) effect() {
	start := s.off
	if s.tag() != TagMap {
		s.off = start
		s.badShape = true
		s.skip(2)
		return
	}
	var e effect
	s.keys(func(k []byte) { s.effectField(&e, k) })
	if len(s.effects) < MaxEffects {
		s.effects = append(s.effects, e)
	}
}

func (s *scan) effectField(e *effect, k []byte) {
	var dst *[]byte
	var num *int64
	switch string(k) {
	case "op":
		dst = &e.op
	case "tx":
		dst = &e.tx
	case "memo":
		dst = &e.memo
	case "by":
		dst = &e.by
	case "kind":
		dst = &e.kind
	case "reverses":
		dst = &e.reverses
	case "deadline":
		num = &e.deadline
	case "from":
		dst = &e.from
	case "to":
		dst = &e.to
	case "unit":
		dst = &e.unit
	case "account":
		dst = &e.account
	case "guard":
		dst = &e.guard
	case "owner_kind":
		dst = &e.ownerKind
	case "owner":
		dst = &e.owner
	case "community":
		dst = &e.community
	case "status":
		dst = &e.status
	case "amount":
		num = &e.amount
	case "credit_limit":
		num = &e.creditLimit
	case "max_balance":
		num = &e.maxBal
	}
	start := s.off
	s.skip(3)
	if s.bad || (dst == nil && num == nil) {
		return
	}
	switch {
	case dst != nil && s.b[start] == TagString:
		*dst = s.b[start+5 : s.off]
	case num != nil && s.b[start] == TagInt:
		*num = int64(binary.BigEndian.Uint64(s.b[start+1:]))
	default:
		s.badShape = true
	}
}

// DataKeyPrefix starts the state keys of members' wrapped data keys
// (q/<member>). Records list them like any state key, but the stored side
// keeps them outside the database, in files an erasure destroys, so the
// documents check leaves them out on both sides (docs/AUDIT.md §1).
const DataKeyPrefix = "q/"

// docRef is one entry of a record's "state" map: a stored key (a workflow
// document, an index, a personal-data box) and the hex SHA-256s of its
// value before and after the record, empty for none.
type docRef struct{ name, prev, hash []byte }

// docList reads the "state" map: key → {"hash": str, "prev": str}.
func (s *scan) docList() {
	start := s.off
	if s.tag() != TagMap {
		s.off = start
		s.badDocs = true
		s.skip(1)
		return
	}
	s.keys(func(name []byte) {
		start := s.off
		if s.tag() != TagMap {
			s.off = start
			s.badDocs = true
			s.skip(2)
			return
		}
		d := docRef{name: name}
		var seen int
		s.keys(func(k []byte) {
			start := s.off
			s.skip(3)
			if s.bad {
				return
			}
			if s.b[start] != TagString {
				s.badDocs = true
				return
			}
			switch string(k) {
			case "hash":
				d.hash, seen = s.b[start+5:s.off], seen+1
			case "prev":
				d.prev, seen = s.b[start+5:s.off], seen+1
			}
		})
		if seen != 2 || len(d.hash) == 0 && len(d.prev) == 0 {
			s.badDocs = true
		}
		if bytes.HasPrefix(name, []byte(DataKeyPrefix)) {
			return // listed, not compared: see DataKeyPrefix
		}
		s.docs = append(s.docs, d)
	})
}

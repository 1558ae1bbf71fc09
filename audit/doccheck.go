package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"hash/maphash"
)

// Document is a stored workflow document (d/<kind>/<id>): a community, a
// member, a fund, a donation, a proposal, a service record, ... Name is
// kind/id, Value the stored bytes.
type Document struct {
	Name  string
	Value []byte
}

// DocVisitor is a Visitor that also takes the stored documents of the
// kinds the chain describes, like EntryVisitor: from the source's own
// goroutine, in any order, every call ending before Walk returns.
type DocVisitor interface {
	Documents() DocSink
}

// DocSink takes stored documents; the Document is the caller's to reuse.
type DocSink interface {
	Document(d *Document) error
}

// DocHash is how a record names a document's value: the hex SHA-256 of
// its bytes.
func DocHash(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// docBuckets splits documents by a keyed hash of their name; each side
// sums, per bucket, a keyed hash of (name, value hash) of every document.
// The chain's side adds a write's new value and subtracts the value it
// replaced, so its sums telescope to the last value of every document.
const docBuckets = 4096

type docSums struct {
	seed maphash.Seed
	sum  [docBuckets]uint64
	h    maphash.Hash
	n    uint64
}

func (s *docSums) init(seed maphash.Seed) {
	s.seed = seed
	s.h.SetSeed(seed)
}

func (s *docSums) bucket(name []byte) int {
	return int(maphash.Bytes(s.seed, name) % docBuckets)
}

func (s *docSums) of(name, hash []byte) uint64 {
	s.h.Reset()
	s.h.Write(name)
	s.h.WriteByte(0)
	s.h.Write(hash)
	return s.h.Sum64()
}

// chainDocs folds in a record's "docs".
func (s *docSums) chainDocs(docs []docRef) {
	for _, d := range docs {
		b := &s.sum[s.bucket(d.name)]
		if len(d.hash) > 0 { // empty: the key was deleted
			*b += s.of(d.name, d.hash)
		}
		if len(d.prev) > 0 {
			*b -= s.of(d.name, d.prev)
		}
	}
}

// storedDocs is the store's side.
type storedDocs struct{ docSums }

func (s *storedDocs) Document(d *Document) error {
	hash := DocHash(d.Value)
	s.sum[s.bucket([]byte(d.Name))] += s.of([]byte(d.Name), []byte(hash))
	s.n++
	return nil
}

// Documents is the verifier's sink of stored documents.
func (v *verifier) Documents() DocSink { return v.docStored }

// badDocBuckets are the buckets whose sums differ, if any.
func (v *verifier) badDocBuckets() bucketSet {
	if v.docStored.n == 0 {
		return nil // the source keeps no documents (an export)
	}
	v.report.Documents = v.docStored.n
	return badBuckets(v.docChain.sum[:], v.docStored.sum[:])
}

// recheckDocuments walks src again and compares, one by one, the
// documents of the given buckets: the last value the chain gives each, and
// the stored one.
func recheckDocuments(ctx context.Context, src Source, seed maphash.Seed, buckets bucketSet, records uint64) (*VerifyError, error) {
	p := &docProbe{buckets: buckets, last: map[string]docLast{}, stored: map[string]string{}}
	p.sums.init(seed)
	p.sink.p = p
	if err := src.Walk(ctx, p); err != nil {
		return nil, err
	}
	return earliestDifference(p.last, p.stored, docDifference(records)), nil
}

// docDifference compares one document: the last value the chain gives it
// (l, if lok; an empty hash where the chain deleted it) and the stored one
// (st, if sok).
func docDifference(records uint64) func(n string, l docLast, lok bool, st string, sok bool) *VerifyError {
	return func(n string, l docLast, lok bool, st string, sok bool) *VerifyError {
		switch {
		case !sok && lok && l.hash == "":
			return nil // deleted by its last record, and gone: as it should be
		case !sok:
			return failAt(l.seq, ReasonDocument, "document %s, last written by record %d, is missing from the store", n, l.seq)
		case !lok:
			return failAt(records, ReasonDocument, "stored document %s was written by no record", n)
		case l.hash != st:
			return failAt(l.seq, ReasonDocument, "stored document %s differs from what record %d wrote", n, l.seq)
		}
		return nil
	}
}

type docLast struct {
	seq  uint64
	hash string
}

type docProbe struct {
	probeVisitor
	buckets bucketSet
	sums    docSums
	s       scan
	sink    docProbeSink
	last    map[string]docLast
	stored  map[string]string
}

type docProbeSink struct{ p *docProbe }

func (p *docProbe) Documents() DocSink { return p.sink }

func (p *docProbe) Record(_ uint64, data []byte, _ []Hash) error {
	if !p.s.read(data) {
		return nil // the first pass reported it
	}
	for _, d := range p.s.docs {
		if p.buckets[p.sums.bucket(d.name)] {
			p.last[string(d.name)] = docLast{p.s.seq, string(d.hash)}
		}
	}
	return nil
}

// Document runs in the source's goroutine; it touches only stored.
func (ps docProbeSink) Document(d *Document) error {
	p := ps.p
	if p.buckets[p.sums.bucket([]byte(d.Name))] {
		p.stored[d.Name] = DocHash(d.Value)
	}
	return nil
}

package audit

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"maps"
	"slices"
	"sort"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Actions of the records that create and rotate the checkpoint key; their
// content carries the new verifier key as "vkey".
const (
	ActionKeyCreate = "key.create"
	ActionKeyRotate = "key.rotate"
)

// VerifyOptions tune Verify.
type VerifyOptions struct {
	// Trusted are signed checkpoints saved earlier (from this server, a
	// witness, or receipts). The log must contain each one's tree: this
	// catches a log rewritten consistently and re-signed, which no check
	// inside the log can. Several narrow down where a rewrite began.
	Trusted [][]byte
	// Keys are verifier keys the user trusts (the one the operator
	// publishes, GET /v1/audit/key). Without them the keys come from the
	// log's own key records, and a log forged whole with keys of its own
	// verifies. With them, the latest checkpoint must be signed by one
	// of them: the log up to it is the one that key signed.
	Keys []string
	// TailMayBeUnsigned says the source may hold records no checkpoint
	// covers yet: a data directory (a server killed before its next
	// checkpoint). An export is signed to its end (the server signs a
	// checkpoint of the snapshot it exports), so without this, given Keys
	// or Trusted, a record after the latest checkpoint fails: it is signed
	// by no one, and its contents, times included, are whatever whoever
	// wrote the file chose.
	TailMayBeUnsigned bool
	// HoldsItsKeys says the source holds its own signing keys (a data
	// directory): whoever could edit it could also sign an endorsement,
	// so with nothing given (no Keys, no Trusted) an unendorsed rotation
	// in it — one written by a version before endorsements — is taken.
	// An export or a server's answer holds no key: there, with nothing
	// given, it fails (a forger's takeover after genuine history).
	HoldsItsKeys bool
}

// trustedCheckpoint is a checkpoint the user vouches for.
type trustedCheckpoint struct {
	Checkpoint
	note []byte
}

// Report is what a successful verification covered.
type Report struct {
	Records      uint64
	Checkpoints  uint64
	Accounts     uint64
	Keys         uint64 // key.create and key.rotate records
	Entries      uint64 // stored history lines checked (a data directory)
	Transactions uint64 // stored transactions checked (a data directory)
	Documents    uint64 // stored documents, indexes and personal-data boxes checked (a data directory)
	Root         Hash   // root of the whole log's tree
	Latest       uint64 // size of the latest checkpoint
	// Pending are the ids of the holds the log leaves outstanding (held,
	// neither posted nor voided), sorted: each must still have its expiry
	// timer, which the chain does not cover.
	Pending []string
	// Unstated counts the stored history lines that state no balance
	// though an earlier line of their account does, and UnstatedFirst is
	// the seq of the first: lines an earlier version wrote (run again
	// after this one, a rollback), or a balance removed from a line. No
	// figure depends on them (a balance at a past instant is summed from
	// the lines then), so they are reported, not failed.
	Unstated      uint64
	UnstatedFirst uint64
}

// Verify reads src and checks, in one pass and in O(accounts + log₂ n)
// memory: every record's encoding, sequence number, leaf hash (against
// the stored tree hashes when the source has them), previous-hash link and
// commit time; every stored tree hash; the root of the tree at every
// checkpoint, its signature by the key in force at that size (the latest
// key record inside the tree) and so its consistency with the checkpoints
// before it; the trusted checkpoint, if any; the writer head; and the
// replay of every record's effects against the ledger's guards and the
// stored accounts. A failure is a *VerifyError (errors.Is ErrVerify)
// naming the first bad sequence number; other errors are the source's.
func Verify(ctx context.Context, src Source, opt VerifyOptions) (Report, error) {
	v := newVerifier()
	for _, note := range opt.Trusted {
		c, err := CheckpointBody(note)
		if err != nil {
			return Report{}, fmt.Errorf("audit: trusted checkpoint: %w", err)
		}
		v.trusted = append(v.trusted, trustedCheckpoint{c, note})
	}
	sort.Slice(v.trusted, func(i, j int) bool { return v.trusted[i].Size < v.trusted[j].Size })
	for _, k := range opt.Keys {
		if _, err := VerifierName(k); err != nil {
			return Report{}, fmt.Errorf("audit: trusted key %q: %w", k, err)
		}
	}
	v.trustedKeys = opt.Keys
	v.pinned = len(opt.Keys) > 0 || len(opt.Trusted) > 0
	v.tailOK = opt.TailMayBeUnsigned
	v.holdsKeys = opt.HoldsItsKeys
	p := newPipe(v)
	if err := p.finish(src.Walk(ctx, p)); err != nil {
		return v.report, err
	}
	if !v.begun {
		return v.report, fmt.Errorf("audit: source ended before its head")
	}
	err := v.finish()
	v.report.Pending = slices.Sorted(maps.Keys(v.rp.holds))
	if b := v.badTxBuckets(); b != nil && (err == nil || isReason(err, ReasonBalance)) {
		te, rerr := recheckTransactions(ctx, src, v.txSeed, b, v.n)
		if rerr != nil {
			return v.report, rerr
		}
		if te == nil {
			te = failAt(v.n, ReasonTransaction, "the stored transactions differ from the chain")
		}
		if ve, ok := IsVerifyError(err); !ok || te.Seq < ve.Seq {
			err = te
		}
	}
	if b := v.badDocBuckets(); b != nil && (err == nil || isReason(err, ReasonBalance) || isReason(err, ReasonTransaction)) {
		de, rerr := recheckDocuments(ctx, src, v.docSeed, b, v.n)
		if rerr != nil {
			return v.report, rerr
		}
		if de == nil {
			de = failAt(v.n, ReasonDocument, "the stored documents differ from the chain")
		}
		if ve, ok := IsVerifyError(err); !ok || de.Seq < ve.Seq {
			err = de
		}
	}
	if len(v.badHistory) > 0 && (err == nil || isReason(err, ReasonBalance) || isReason(err, ReasonTransaction) || isReason(err, ReasonDocument)) {
		he, rerr := recheckHistory(ctx, src, v.badHistory, v.n)
		if rerr != nil {
			return v.report, rerr
		}
		if he == nil { // the digests differ but no line does: still a fault
			he = failAt(v.n, ReasonHistory, "the stored history differs from the chain")
			he.Account = v.badHistory[0]
		}
		if ve, ok := IsVerifyError(err); !ok || he.Seq < ve.Seq {
			err = he
		}
	}
	v.report.Unstated, v.report.UnstatedFirst = v.sink.unstated, v.sink.unstatedFirst
	// A line's stated balance is checked on the stored side alone, against
	// the lines before it (which the chain checks).
	if be := v.sink.badBalance; be != nil && (err == nil || isReason(err, ReasonBalance) || isReason(err, ReasonTransaction) ||
		isReason(err, ReasonDocument) || isReason(err, ReasonHistory)) {
		if ve, ok := IsVerifyError(err); !ok || be.Seq < ve.Seq {
			err = be
		}
	}
	return v.report, err
}

func isReason(err error, r Reason) bool {
	ve, ok := IsVerifyError(err)
	return ok && ve.Reason == r
}

// frontier is a tlog.HashReader over the newest stored hash of each tree
// level: all that appending a leaf (tlog.StoredHashesForRecordHash) and
// computing the root of the whole tree (tlog.TreeHash) ever read.
type frontier struct {
	idx [maxStoredHashes]int64
	h   [maxStoredHashes]Hash
}

func (f *frontier) ReadHashes(indexes []int64) ([]Hash, error) {
	out := make([]Hash, len(indexes))
	for i, x := range indexes {
		level, _ := tlog.SplitStoredHashIndex(x)
		if level >= maxStoredHashes || f.idx[level] != x {
			return nil, fmt.Errorf("audit: tree hash %d is not on the frontier", x)
		}
		out[i] = f.h[level]
	}
	return out, nil
}

type verifier struct {
	begun       bool
	head        Head
	n           uint64
	prev        Hash
	prevTime    int64
	tree        frontier
	vkey        string
	vkeySeq     uint64 // the record that put vkey in force
	lastCk      uint64
	lastRoot    Hash                // the root the latest checkpoint signed
	unendorsed  []unendorsed        // key.rotate records without an endorsement
	trusted     []trustedCheckpoint // not yet reached, by size
	trustedOK   uint64              // largest trusted size the log matched
	trustedKeys []string            // verifier keys the user gave
	ckKey       string              // the key that signed the latest checkpoint
	pinned      bool                // trusted keys or checkpoints were given
	holdsKeys   bool                // the source holds its signing keys (VerifyOptions.HoldsItsKeys)
	tailOK      bool                // records after the latest checkpoint are allowed (a data directory)
	ckKeySeq    uint64              // the record that put ckKey in force
	rp          *replay
	s           scan
	seen        map[string]bool
	lastAccount string // the id of the stored account before, "" at first
	balanceErr  *VerifyError
	report      Report

	counts        map[string]uint16 // lines per account in the current record
	digest        maphash.Hash      // seeded for this verification; folds history lines
	line          []byte            // reused for the replay's lines
	sink          *storedSink       // the stored lines' side
	txChain       *chainTxs         // transactions the records create
	txStored      *storedTxSink     // transactions the store holds
	txSeed        maphash.Seed
	keys, vkeys   []string // verifier keys the source listed; those of key records so far
	vkeySeqs      []uint64 // the seq of each key record, as vkeys
	docSeed       maphash.Seed
	docChain      docSums     // documents the records wrote
	docStored     *storedDocs // documents the store holds
	badHistory    []string    // accounts whose stored history differs, in order found
	badHistorySet map[string]bool
}

func newVerifier() *verifier {
	v := &verifier{rp: newReplay(), seen: map[string]bool{}, counts: map[string]uint16{}, badHistorySet: map[string]bool{}}
	seed := maphash.MakeSeed()
	v.digest.SetSeed(seed)
	v.sink = newStoredSink(seed)
	v.txChain, v.txStored = newChainTxs(), &storedTxSink{}
	v.docSeed, v.docStored = maphash.MakeSeed(), &storedDocs{}
	v.docChain.init(v.docSeed)
	v.docStored.init(v.docSeed)
	for i := range v.tree.idx {
		v.tree.idx[i] = -1
	}
	return v
}

func (v *verifier) Begin(h Head, keys []string) error {
	v.begun, v.head = true, h
	v.keys = append([]string{}, keys...)
	// Both sides of the transaction check bucket records by the head's
	// size (a wrong head is reported on its own).
	v.txSeed = maphash.MakeSeed()
	v.txChain.init(v.txSeed)
	v.txStored.init(v.txSeed)
	return nil
}

func (v *verifier) Record(key uint64, data []byte, stored []Hash) error {
	if err := v.checkTrusted(); err != nil {
		return err
	}
	n := v.n
	if key != n {
		if key < n {
			return failAt(n, ReasonSeq, "record %d comes after record %d: the records are out of order or repeated", key, n-1)
		}
		return failAt(n, ReasonSeq, "record %d is missing, or out of order (the next record given is %d)", n, key)
	}
	if !v.s.read(data) {
		_, err := Decode(data)
		return failAt(n, ReasonMalformed, "%v", err)
	}
	if v.s.seq != n {
		return failAt(n, ReasonSeq, "record stored at %d says seq %d", n, v.s.seq)
	}
	leaf := LeafHash(data)
	if err := v.appendLeaf(n, leaf, stored); err != nil {
		return err
	}
	if v.s.prev != v.prev {
		return failAt(n, ReasonPrev, "prev %x, want the hash of record %d %x", v.s.prev[:4], int64(n)-1, v.prev[:4])
	}
	if n > 0 && v.s.time <= v.prevTime {
		return failAt(n, ReasonTime, "time %d not after %d", v.s.time, v.prevTime)
	}
	if err := v.keyRecord(n); err != nil {
		return err
	}
	if v.s.badShape {
		return failAt(n, ReasonEffects, "effects are not a list of effect maps")
	}
	if err := v.rp.apply(n, v.s.effects); err != nil {
		return err
	}
	if v.s.badDocs {
		return failAt(n, ReasonDocument, "state is not a map of {hash, prev} maps")
	}
	v.docChain.chainDocs(v.s.docs)
	v.txChain.record(n, v.s.time, string(v.s.actor), string(v.s.onBehalf), v.s.effects, nil)
	expectedLines(&v.line, n, v.s.time, v.s.effects, v.counts, func(account string, _ uint16, line []byte) {
		v.rp.accounts[account].hist.add(&v.digest, line)
	})
	v.prev, v.prevTime, v.n = leaf, v.s.time, n+1
	v.report.Records = v.n
	return nil
}

// appendLeaf adds the leaf to the tree and checks the hashes the source
// stored with it: a wrong leaf hash means this record changed; a wrong
// interior hash means the stored tree (and the proofs served from it) is.
func (v *verifier) appendLeaf(n uint64, leaf Hash, stored []Hash) error {
	hs, err := tlog.StoredHashesForRecordHash(int64(n), leaf, &v.tree)
	if err != nil {
		return fmt.Errorf("audit: tree at %d: %w", n, err)
	}
	if stored != nil {
		// A source fills a hash it does not hold with zeros (a data
		// directory whose t/ key was deleted): that one is missing, not
		// wrong.
		if len(stored) == 0 || stored[0] == (Hash{}) {
			return failAt(n, ReasonLeafHash, "its stored leaf hash (tree hash %d) is missing", tlog.StoredHashIndex(0, int64(n)))
		}
		if stored[0] != leaf {
			return failAt(n, ReasonLeafHash, "record hash differs from its stored leaf hash")
		}
		if len(stored) != len(hs) {
			return failAt(n, ReasonTreeHash, "%d stored tree hashes, want %d", len(stored), len(hs))
		}
		for i := range hs {
			if stored[i] != hs[i] {
				what := "wrong"
				if stored[i] == (Hash{}) {
					what = "missing"
				}
				return failAt(n, ReasonTreeHash, "%s", StoredHashFault(tlog.StoredHashIndex(i, int64(n)>>i), what))
			}
		}
	}
	for i, h := range hs {
		v.tree.idx[i], v.tree.h[i] = tlog.StoredHashIndex(i, int64(n)>>i), h
	}
	return nil
}

// keyRecord takes the verifier key a key.create or key.rotate record
// puts in force for every checkpoint whose tree contains it.
func (v *verifier) keyRecord(n uint64) error {
	a := string(v.s.action)
	if a != ActionKeyCreate && a != ActionKeyRotate {
		return nil
	}
	vkey := string(v.s.vkey)
	name, err := VerifierName(vkey)
	if err != nil {
		return failAt(n, ReasonKey, "%s record without a valid vkey", a)
	}
	// The record says what it does: the origin it names is its key's,
	// and a rotation names the key it replaces, the one in force.
	if string(v.s.origin) != name {
		return failAt(n, ReasonKey, "%s record at %d names origin %q, but its key is %q's", a, n, v.s.origin, name)
	}
	if a == ActionKeyRotate && v.vkey != "" && string(v.s.previous) != v.vkey {
		return failAt(n, ReasonKey, "%s record at %d names as the key it replaces one that is not in force (key %d)", a, n, v.vkeySeq)
	}
	// A key rotated out signs, with its last act, the tree just before
	// the record that replaces it: without that checkpoint the records
	// it was in force for are signed by no key of their time (its
	// checkpoints left out, the history rewritten under the new key).
	// A key is created once; every later one comes by rotation, which the
	// key it replaces endorses. A second key.create would put a key in
	// force with no endorsement at all.
	if v.vkey == "" && a == ActionKeyRotate {
		return failAt(n, ReasonKey, "a %s record at %d with no key in force: the first key comes by key.create", a, n)
	}
	if v.vkey != "" && a == ActionKeyCreate {
		return failAt(n, ReasonKey, "a %s record at %d while a key is in force (key %d): a new key comes by key.rotate", a, n, v.vkeySeq)
	}
	if v.vkey != "" && v.lastCk != n {
		return failAt(n, ReasonKey, "%s record at %d, but no checkpoint of the tree before it (size %d) signed by the key it replaces (the latest checkpoint before it: size %d)", a, n, n, v.lastCk)
	}
	// The replaced key endorses its successor (rotation.go). A rotation
	// made before endorsements were signed has none: it is taken on the
	// word of a trusted checkpoint after it or a key given with --key
	// (checkUnendorsed), as a forged one could be.
	if v.vkey != "" && a == ActionKeyRotate {
		if len(v.s.endorse) > 0 {
			if err := CheckEndorsement(v.s.endorse, v.vkey, int64(n), v.lastRoot, vkey); err != nil {
				return failAt(n, ReasonKey, "%s record at %d: its endorsement does not hold: %v", a, n, err)
			}
		} else {
			v.unendorsed = append(v.unendorsed, unendorsed{seq: n, vkey: vkey})
		}
	}
	v.vkey, v.vkeySeq = vkey, n
	v.vkeys = append(v.vkeys, vkey)
	v.vkeySeqs = append(v.vkeySeqs, n)
	v.report.Keys++
	return nil
}

func (v *verifier) Checkpoint(size uint64, note []byte) error {
	at := size - 1
	if size > v.n {
		// The records it covers are gone: the first of them is missing.
		return failAt(v.n, ReasonSeq, "record %d is missing: a checkpoint of size %d covers it, but the log has %d records", v.n, size, v.n)
	}
	if size == 0 {
		return failAt(v.n, ReasonCheckpoint, "checkpoint of size 0")
	}
	if size != v.n {
		return failAt(at, ReasonCheckpoint, "checkpoint of size %d out of order", size)
	}
	if v.vkey == "" {
		return failAt(at, ReasonKey, "checkpoint of size %d before any key record", size)
	}
	c, err := OpenCheckpoint(note, v.vkey)
	if err != nil {
		// No signature covers the records since the previous checkpoint:
		// a rewrite among them re-signed with a key not in force, or the
		// note itself damaged; the range is what is unproven.
		return &VerifyError{Seq: v.provenUpTo(size), End: size, Reason: ReasonSignature,
			Detail: fmt.Sprintf("checkpoint of size %d: %v", size, err)}
	}
	if c.Size != int64(size) {
		return failAt(at, ReasonCheckpoint, "checkpoint stored for size %d says %d", size, c.Size)
	}
	root, err := tlog.TreeHash(int64(size), &v.tree)
	if err != nil {
		return fmt.Errorf("audit: root at %d: %w", size, err)
	}
	if root != c.Hash {
		// The records since the previous checkpoint do not hash to this
		// signed root; the root cannot say which of them changed.
		return &VerifyError{Seq: v.provenUpTo(size), End: size, Reason: ReasonCheckpoint,
			Detail: fmt.Sprintf("root of the tree of size %d differs from its signed checkpoint", size)}
	}
	// A second frame of the same size (an export is a file anyone can
	// edit) signs the same root: it adds nothing and is not counted.
	if v.report.Checkpoints > 0 && v.lastCk == size {
		return nil
	}
	v.lastCk, v.lastRoot = size, c.Hash
	v.ckKey, v.ckKeySeq = v.vkey, v.vkeySeq
	v.report.Checkpoints++
	v.report.Latest = size
	return nil
}

// provenUpTo is where the records a failing checkpoint of size covers
// stop being proven: the largest size a good checkpoint or a trusted one
// already matched, and at most size−1 (a repeated frame of a size already
// proven names the last record it covers, not an empty range).
func (v *verifier) provenUpTo(size uint64) uint64 {
	return min(max(v.lastCk, v.trustedOK), size-1)
}

// checkTrusted compares the tree with the trusted checkpoints of the size
// the log has reached.
func (v *verifier) checkTrusted() error {
	for len(v.trusted) > 0 && uint64(v.trusted[0].Size) == v.n {
		t := v.trusted[0]
		v.trusted = v.trusted[1:]
		if err := v.checkTrustedOne(t); err != nil {
			return err
		}
		v.trustedOK = v.n
	}
	return nil
}

func (v *verifier) checkTrustedOne(t trustedCheckpoint) error {
	// A checkpoint of another log says nothing about this one: name that
	// before comparing roots, which would read as a rewrite.
	if v.vkey != "" {
		if nv, err := note.NewVerifier(v.vkey); err == nil && nv.Name() != t.Origin {
			return failAt(v.n-1, ReasonTrusted, "the trusted checkpoint is of another log (origin %q; this log is %q)", t.Origin, nv.Name())
		}
	}
	root, err := tlog.TreeHash(t.Size, &v.tree)
	if err != nil {
		return fmt.Errorf("audit: root at %d: %w", t.Size, err)
	}
	if root != t.Hash {
		// A root does not say which leaf changed: only that one in
		// [last trusted size that matched, this size) did.
		detail := fmt.Sprintf("the log's tree of size %d differs from the trusted checkpoint: records were rewritten", t.Size)
		if !v.signedByAnyKey(t.note) {
			detail = fmt.Sprintf("the log's tree of size %d differs from the trusted checkpoint, whose signature verifies with no key this log has had: "+
				"the checkpoint file is damaged or of another log, or the log was rewritten with its keys", t.Size)
		}
		return &VerifyError{Seq: v.trustedOK, End: v.n, Reason: ReasonTrusted, Detail: detail}
	}
	if v.vkey == "" {
		return failAt(v.n-1, ReasonTrusted, "no key in force at the trusted checkpoint's size")
	}
	if _, err := OpenCheckpoint(t.note, v.vkey); err != nil {
		return failAt(v.n-1, ReasonTrusted, "trusted checkpoint is not signed by the log's key at its size: %v", err)
	}
	return nil
}

// checkTrustedKeys requires the latest checkpoint to be signed by a key
// the user gave, when they gave any. N is the key record that put the
// signing key in force: from there on the log is not the one a trusted
// key signed. Then, when keys or checkpoints were given and the source
// is an export, no record may follow the latest checkpoint.
func (v *verifier) checkTrustedKeys() error {
	if len(v.trustedKeys) > 0 {
		if v.report.Checkpoints == 0 {
			return failAt(0, ReasonTrustedKey, "no checkpoint: nothing in the log is signed by the trusted key")
		}
		// Every key given is one the log put in force: a log rewritten
		// under its current key, its earlier keys and rotations left out,
		// fails against an auditor who also kept an earlier key.
		for _, k := range v.trustedKeys {
			if !slices.Contains(v.vkeys, k) {
				return failAt(0, ReasonTrustedKey, "the trusted key %s is none of the log's keys: either this log ends before the operator put that key in force "+
					"(an export or backup older than a key rotation: verify it with the keys in force up to its end), or it was rewritten without that key's records", k)
			}
		}
		if !slices.Contains(v.trustedKeys, v.ckKey) {
			return failAt(v.ckKeySeq, ReasonTrustedKey, "the latest checkpoint (size %d) is signed by %s, put in force by record %d, not by a key given with --key "+
				"(if the operator rotated the key since, give the new one too)", v.report.Latest, v.ckKey, v.ckKeySeq)
		}
	}
	// An export is signed to its end: the server signs a checkpoint of
	// the snapshot it exports. Records after the latest checkpoint are
	// signed by no one — a forger who drops the checkpoints after a size,
	// rewrites the records after it and fixes every hash, balance and
	// time passes every other check — so they fail. Their times prove
	// nothing: whoever wrote the file chose them.
	if v.pinned && !v.tailOK && v.n > v.report.Latest {
		reason := ReasonTrustedKey
		if len(v.trustedKeys) == 0 {
			reason = ReasonTrusted
		}
		return failAt(v.report.Latest, reason, "records %d..%d follow the latest checkpoint (size %d): no signature covers them "+
			"(an export is signed to its end, so checkpoints were left out or records were added)", v.report.Latest, v.n-1, v.report.Latest)
	}
	return nil
}

// unendorsed is a key.rotate record without an endorsement by the key it
// replaced (made before endorsements were signed, or forged).
type unendorsed struct {
	seq  uint64
	vkey string
}

// checkUnendorsed refuses a key put in force by a rotation that its
// predecessor did not endorse, unless a trusted checkpoint after the
// rotation matched the log (it vouches for the record). With nothing
// given it is refused too — otherwise the easiest forgery of an export
// would be the genuine history, whose first key an auditor recognises,
// then a key.rotate of the forger's own without an endorsement — but
// not in a source that holds its own keys (HoldsItsKeys), where the
// endorsement proves nothing its editor could not sign. With keys
// given, the latest checkpoint is signed by one of them
// (checkTrustedKeys) and covers the whole log: the operator's published
// key vouches for every rotation before it.
func (v *verifier) checkUnendorsed() error {
	if len(v.trustedKeys) > 0 || !v.pinned && v.holdsKeys {
		return nil
	}
	for _, u := range v.unendorsed {
		if v.trustedOK > u.seq {
			continue
		}
		return failAt(u.seq, ReasonKey, "the key.rotate record at %d carries no endorsement by the key it replaces, and no trusted checkpoint after it "+
			"vouches for the key it puts in force (a rotation by a version before endorsements, or one added by whoever edited the log: "+
			"give the operator's current key with --key, or a checkpoint saved after it)", u.seq)
	}
	return nil
}

// sameOrigin reports whether origin is the log's (the name of its key in
// force; keys keep the origin across rotations).
func (v *verifier) sameOrigin(origin string) bool {
	nv, err := note.NewVerifier(v.vkey)
	return err == nil && nv.Name() == origin
}

// signedByGivenKey reports whether note verifies with a key the user
// gave (--key).
func (v *verifier) signedByGivenKey(n []byte) bool {
	for _, k := range v.trustedKeys {
		if _, err := OpenCheckpoint(n, k); err == nil {
			return true
		}
	}
	return false
}

// signedByAnyKey reports whether a note verifies with a key the log has
// had: one its source listed, or one of its key records so far.
func (v *verifier) signedByAnyKey(n []byte) bool {
	for _, k := range append(append([]string{}, v.keys...), v.vkeys...) {
		if _, err := OpenCheckpoint(n, k); err == nil {
			return true
		}
	}
	return false
}

func (v *verifier) Account(a *Account) error {
	v.report.Accounts++
	if v.report.Accounts > 1 && a.ID <= v.lastAccount {
		// Sources list stored accounts in id order, each once.
		v.balanceFail(v.n, a.ID, fmt.Sprintf("stored account listed out of id order or twice (after %s)", v.lastAccount))
	}
	v.lastAccount = a.ID
	r, ok := v.rp.accounts[a.ID]
	if !ok {
		v.balanceFail(v.n, a.ID, "stored account was never opened by a record")
		return nil
	}
	v.seen[a.ID] = true
	if r.Account != *a {
		v.balanceFail(r.last, a.ID, fmt.Sprintf("stored %+v, replay gives %+v", *a, r.Account))
	}
	return nil
}

// balanceFail keeps the account failure with the smallest sequence
// number: the record after which the store and the chain part ways.
func (v *verifier) balanceFail(seq uint64, id, detail string) {
	if v.balanceErr == nil || seq < v.balanceErr.Seq {
		v.balanceErr = &VerifyError{Seq: seq, Reason: ReasonBalance, Account: id, Detail: detail}
	}
}

// finish checks what only the end of the log can show.
func (v *verifier) finish() error {
	v.finishHistory()
	if err := v.checkTrusted(); err != nil {
		return err
	}
	if len(v.trusted) > 0 {
		if v.sameOrigin(v.trusted[0].Origin) && v.signedByGivenKey(v.trusted[0].note) && !v.signedByAnyKey(v.trusted[0].note) {
			// Signed by a key the operator publishes that this log never
			// put in force: the log ends before that key's rotation — or
			// it was rebuilt under keys of its own; the log cannot say.
			return failAt(v.n, ReasonTrusted, "the log has %d records, a trusted checkpoint of this log's origin %d, signed by a key given with --key that this log never put in force: "+
				"records were removed — the directory was rolled back to a copy from before that key's rotation, or lost its end — or the log was rewritten under keys of its own", v.n, v.trusted[0].Size)
		}
		if !v.signedByAnyKey(v.trusted[0].note) {
			return failAt(v.n, ReasonTrusted, "a trusted checkpoint of size %d (the log has %d records) verifies with no key this log has had: "+
				"the checkpoint file is damaged or of another log, or the log was rewritten with its keys", v.trusted[0].Size, v.n)
		}
		return failAt(v.n, ReasonTrusted, "the log has %d records, a trusted checkpoint %d: records were removed", v.n, v.trusted[0].Size)
	}
	if v.head.Size != v.n {
		return failAt(min(v.head.Size, v.n), ReasonHead, "head says %d records, the log has %d", v.head.Size, v.n)
	}
	if err := v.checkTrustedKeys(); err != nil {
		return err
	}
	if err := v.checkUnendorsed(); err != nil {
		return err
	}
	// The keys the source lists (an export's K frames, a directory's
	// current and previous keys) are those the key records put in force,
	// in order: no more, no fewer (a source listing none, when the log
	// has key records, hides them all). The last one listed signs the
	// next checkpoints: a key swapped in the store would sign checkpoints
	// the chain never named. Named at the first key record whose key the
	// list does not hold in its place (the last key record when the list
	// only has more after them).
	if !slices.Equal(v.keys, v.vkeys) {
		i := 0
		for i < len(v.vkeys) && i < len(v.keys) && v.keys[i] == v.vkeys[i] {
			i++
		}
		at := v.vkeySeq
		if i < len(v.vkeySeqs) {
			at = v.vkeySeqs[i]
		}
		if len(v.keys) == len(v.vkeys) && i == len(v.vkeys)-1 {
			return failAt(at, ReasonKey, "the current checkpoint key the source holds (its last key listed) is not the one this key record put in force")
		}
		return failAt(at, ReasonKey, "the source lists %d verifier keys, the key records put %d in force, or not the same ones", len(v.keys), len(v.vkeys))
	}
	if v.n > 0 && v.head.Last != v.prev {
		return failAt(v.n-1, ReasonHead, "head's last hash is not the hash of the last record")
	}
	if v.n > 0 && v.head.LastTime != 0 && v.head.LastTime != v.prevTime {
		// The writer stamps the next record after it: a moved time would
		// date every later record wrongly.
		return failAt(v.n-1, ReasonHead, "head's last time %d is not the last record's time %d", v.head.LastTime, v.prevTime)
	}
	for id, r := range v.rp.accounts {
		if !v.seen[id] {
			v.balanceFail(r.last, id, "account opened by the chain is missing from the store")
		}
	}
	if v.balanceErr != nil {
		return v.balanceErr
	}
	root, err := tlog.TreeHash(int64(v.n), &v.tree)
	if err != nil {
		return fmt.Errorf("audit: root: %w", err)
	}
	v.report.Root = root
	return nil
}

// IsVerifyError returns the *VerifyError in err's chain, if any.
func IsVerifyError(err error) (*VerifyError, bool) {
	var ve *VerifyError
	ok := errors.As(err, &ve)
	return ve, ok
}

// StoredHashFault describes the stored tree hash at storage index idx
// (tlog.StoredHashIndex) as "missing" or "wrong": the level-0 hash of
// record n is its leaf hash; a level-k hash covers records
// [n<<k, (n+1)<<k) and is stored with the last of them.
func StoredHashFault(idx int64, what string) string {
	level, n := tlog.SplitStoredHashIndex(idx)
	if level == 0 {
		return fmt.Sprintf("the stored leaf hash of record %d (tree hash %d) is %s", n, idx, what)
	}
	return fmt.Sprintf("the stored tree hash %d (level %d, over records %d..%d, stored with record %d) is %s",
		idx, level, n<<level, (n+1)<<level-1, (n+1)<<level-1, what)
}

// StoredHashRecord is the record whose commit stored the tree hash at
// storage index idx: the last record its subtree covers.
func StoredHashRecord(idx int64) uint64 {
	level, n := tlog.SplitStoredHashIndex(idx)
	return uint64((n+1)<<level - 1)
}

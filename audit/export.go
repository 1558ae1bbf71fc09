package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ExportMagic opens every export file; the version is in it.
const ExportMagic = "tally audit export v1\n"

// Frame kinds of the export format (docs/AUDIT.md §Export).
const (
	FrameHead       byte = 'H' // u64 size ‖ [32] last leaf hash
	FrameKey        byte = 'K' // a verifier key (note format), oldest first
	FrameRecord     byte = 'R' // u64 key ‖ u8 n ‖ n×[32] stored hashes ‖ record
	FrameCheckpoint byte = 'C' // u64 tree size ‖ signed note
	FrameAccount    byte = 'A' // canonical map of the account (see Account)
	FrameEnd        byte = 'Z' // u64 records ‖ u64 checkpoints ‖ u64 accounts
)

// Limits of the export reader.
const (
	// MaxFrameSize bounds one frame: a record with its stored hashes, or a
	// checkpoint, whichever is larger, with room for the fixed fields.
	MaxFrameSize = MaxRecordSize + 8 + 1 + maxStoredHashes*32
	// maxStoredHashes bounds the tree hashes stored with one record: one
	// per level of a tree of 2^63 leaves.
	maxStoredHashes = 64
	// MaxExportKeys bounds the verifier keys of an export.
	MaxExportKeys = 1 << 16
	exportBuffer  = 256 << 10
)

// ErrExport is wrapped by every error about an export file's format.
var ErrExport = errors.New("audit: malformed export")

// ExportWriter writes the export format. It is a Visitor, so a store's
// Walk can feed it directly; Close writes the end frame.
type ExportWriter struct {
	w                   *bufio.Writer
	buf                 []byte
	records, cks, accts uint64
	head                uint64
}

// NewExportWriter starts an export on w.
func NewExportWriter(w io.Writer) *ExportWriter {
	x := &ExportWriter{w: bufio.NewWriterSize(w, exportBuffer)}
	x.w.WriteString(ExportMagic)
	return x
}

func (x *ExportWriter) frame(kind byte, parts ...[]byte) error {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	x.buf = binary.BigEndian.AppendUint32(append(x.buf[:0], kind), uint32(n))
	if _, err := x.w.Write(x.buf); err != nil {
		return fmt.Errorf("audit: write export: %w", err)
	}
	for _, p := range parts {
		if _, err := x.w.Write(p); err != nil {
			return fmt.Errorf("audit: write export: %w", err)
		}
	}
	return nil
}

// Begin implements Visitor.
func (x *ExportWriter) Begin(h Head, keys []string) error {
	x.head = h.Size
	if err := x.frame(FrameHead, binary.BigEndian.AppendUint64(nil, h.Size), h.Last[:]); err != nil {
		return err
	}
	for _, k := range keys {
		if err := x.frame(FrameKey, []byte(k)); err != nil {
			return err
		}
	}
	return nil
}

// Record implements Visitor.
func (x *ExportWriter) Record(key uint64, data []byte, stored []Hash) error {
	if len(stored) > maxStoredHashes {
		return fmt.Errorf("audit: %d stored hashes for record %d", len(stored), key)
	}
	fixed := binary.BigEndian.AppendUint64(make([]byte, 0, 9+len(stored)*32), key)
	fixed = append(fixed, byte(len(stored)))
	for _, h := range stored {
		fixed = append(fixed, h[:]...)
	}
	x.records++
	return x.frame(FrameRecord, fixed, data)
}

// Checkpoint implements Visitor.
func (x *ExportWriter) Checkpoint(size uint64, note []byte) error {
	x.cks++
	return x.frame(FrameCheckpoint, binary.BigEndian.AppendUint64(nil, size), note)
}

// Account implements Visitor.
func (x *ExportWriter) Account(a *Account) error {
	var b bytes.Buffer
	if err := encodeValue(&b, accountMap(a), 0); err != nil {
		return err
	}
	x.accts++
	return x.frame(FrameAccount, b.Bytes())
}

// Close writes the end frame and flushes; an export without it is
// truncated. A source that handed over fewer or more records than its
// head counts (a store whose reader stopped at a damaged block) gets no
// end frame but an error: the export must not look whole.
func (x *ExportWriter) Close() error {
	if x.records != x.head {
		return fmt.Errorf("audit: the source handed over %d records but its head counts %d (damaged storage?); the export is incomplete", x.records, x.head)
	}
	end := binary.BigEndian.AppendUint64(nil, x.records)
	end = binary.BigEndian.AppendUint64(end, x.cks)
	end = binary.BigEndian.AppendUint64(end, x.accts)
	if err := x.frame(FrameEnd, end); err != nil {
		return err
	}
	if err := x.w.Flush(); err != nil {
		return fmt.Errorf("audit: write export: %w", err)
	}
	return nil
}

func accountMap(a *Account) map[string]any {
	return map[string]any{
		"id": a.ID, "unit": a.Unit, "guard": a.Guard, "status": a.Status,
		"owner_kind": a.OwnerKind, "owner": a.Owner, "kind": a.Kind, "community": a.Community,
		"credit_limit": a.CreditLimit, "max_balance": a.MaxBalance,
		"debits_posted": a.DebitsPosted, "credits_posted": a.CreditsPosted,
		"debits_pending": a.DebitsPending, "credits_pending": a.CreditsPending,
	}
}

// ExportReader reads an export file as a Source.
type ExportReader struct {
	r   *bufio.Reader
	buf []byte
}

// NewExportReader reads the export format from r.
func NewExportReader(r io.Reader) *ExportReader {
	return &ExportReader{r: bufio.NewReaderSize(r, exportBuffer)}
}

func (x *ExportReader) next() (byte, []byte, error) {
	var h [5]byte
	if _, err := io.ReadFull(x.r, h[:]); err != nil {
		return 0, nil, fmt.Errorf("%w: truncated: %w", ErrExport, err)
	}
	n := binary.BigEndian.Uint32(h[1:])
	if n > MaxFrameSize {
		return 0, nil, fmt.Errorf("%w: frame of %d bytes exceeds %d", ErrExport, n, MaxFrameSize)
	}
	if cap(x.buf) < int(n) {
		x.buf = make([]byte, n)
	}
	x.buf = x.buf[:n]
	if _, err := io.ReadFull(x.r, x.buf); err != nil {
		return 0, nil, fmt.Errorf("%w: truncated frame: %w", ErrExport, err)
	}
	return h[0], x.buf, nil
}

// exportState tracks what a reader has seen, to refuse frames out of
// their section and to check the end frame's counts.
type exportState struct {
	section             byte
	records, cks, accts uint64
	keys                []string
	head                Head
	begun               bool
	stored              []Hash // reused by every record frame
}

// begin hands the head and keys to v once, before the first record,
// checkpoint or account, or at the end of an export that has none.
func (st *exportState) begin(v Visitor) error {
	if st.begun {
		return nil
	}
	st.begun = true
	return v.Begin(st.head, st.keys)
}

// Walk implements Source. It reads the whole stream once; format errors
// wrap ErrExport, and the visitor's errors are returned as they are.
func (x *ExportReader) Walk(ctx context.Context, v Visitor) error {
	magic := make([]byte, len(ExportMagic))
	if _, err := io.ReadFull(x.r, magic); err != nil || string(magic) != ExportMagic {
		return fmt.Errorf("%w: not an export (bad magic)", ErrExport)
	}
	st := &exportState{}
	for {
		kind, p, err := x.next()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			// Cut short: whatever should follow is missing, beginning
			// with the record after the last one read (or the end frame).
			return failAt(st.records, ReasonSeq, "the export ends after %d records, without its end frame (truncated)", st.records)
		}
		if err != nil {
			return fmt.Errorf("%w (after %d records)", err, st.records)
		}
		if kind == FrameEnd {
			// The end is the end: bytes after it would be read by no
			// one, so a file carrying them is not the export it claims.
			if _, err := x.r.ReadByte(); err != io.EOF {
				return fmt.Errorf("%w: data after the end frame", ErrExport)
			}
			return st.end(p, v)
		}
		if st.records%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if err := st.frame(kind, p, v); err != nil {
			return err
		}
	}
}

// sectionOrder ranks frame kinds: a frame may not follow one of a later
// section.
var sectionOrder = map[byte]int{FrameHead: 1, FrameKey: 2, FrameRecord: 3, FrameCheckpoint: 3, FrameAccount: 4}

func (st *exportState) frame(kind byte, p []byte, v Visitor) error {
	rank, ok := sectionOrder[kind]
	switch {
	case !ok:
		return fmt.Errorf("%w: unknown frame %q", ErrExport, kind)
	case rank < sectionOrder[st.section] || (kind == FrameHead && st.section != 0):
		return fmt.Errorf("%w: frame %q out of order", ErrExport, kind)
	case kind != FrameHead && st.section == 0:
		return fmt.Errorf("%w: no head frame", ErrExport)
	}
	if rank >= 3 {
		if err := st.begin(v); err != nil {
			return err
		}
	}
	st.section = kind
	switch kind {
	case FrameHead:
		return st.readHead(p)
	case FrameKey:
		if len(st.keys) >= MaxExportKeys {
			return fmt.Errorf("%w: more than %d keys", ErrExport, MaxExportKeys)
		}
		st.keys = append(st.keys, string(p))
		return nil
	case FrameRecord:
		return st.record(p, v)
	case FrameCheckpoint:
		if len(p) < 8 {
			return fmt.Errorf("%w: short checkpoint frame", ErrExport)
		}
		st.cks++
		return v.Checkpoint(binary.BigEndian.Uint64(p), p[8:])
	}
	return st.account(p, v)
}

func (st *exportState) readHead(p []byte) error {
	if len(p) != 8+32 {
		return fmt.Errorf("%w: head frame of %d bytes", ErrExport, len(p))
	}
	st.head.Size = binary.BigEndian.Uint64(p)
	copy(st.head.Last[:], p[8:])
	return nil
}

func (st *exportState) record(p []byte, v Visitor) error {
	if len(p) < 9 || len(p) < 9+int(p[8])*32 || int(p[8]) > maxStoredHashes {
		return fmt.Errorf("%w: short record frame after %d records", ErrExport, st.records)
	}
	n := int(p[8])
	st.stored = st.stored[:0]
	for i := 0; i < n; i++ {
		st.stored = append(st.stored, Hash(p[9+32*i:9+32*i+32]))
	}
	st.records++
	return v.Record(binary.BigEndian.Uint64(p), p[9+32*n:], st.stored)
}

func (st *exportState) account(p []byte, v Visitor) error {
	d := decoder{b: p}
	m, ok := d.value(0).(map[string]any)
	if d.err != nil || !ok || d.off != len(p) {
		return fmt.Errorf("%w: bad account frame", ErrExport)
	}
	a := &Account{}
	strs := map[string]*string{"id": &a.ID, "unit": &a.Unit, "guard": &a.Guard, "status": &a.Status,
		"owner_kind": &a.OwnerKind, "owner": &a.Owner, "kind": &a.Kind, "community": &a.Community}
	ints := map[string]*int64{"credit_limit": &a.CreditLimit, "max_balance": &a.MaxBalance,
		"debits_posted": &a.DebitsPosted, "credits_posted": &a.CreditsPosted,
		"debits_pending": &a.DebitsPending, "credits_pending": &a.CreditsPending}
	for k, dst := range strs {
		if *dst, ok = m[k].(string); !ok {
			return fmt.Errorf("%w: account field %s", ErrExport, k)
		}
	}
	for k, dst := range ints {
		if *dst, ok = m[k].(int64); !ok {
			return fmt.Errorf("%w: account field %s", ErrExport, k)
		}
	}
	st.accts++
	return v.Account(a)
}

func (st *exportState) end(p []byte, v Visitor) error {
	if len(p) != 24 {
		return fmt.Errorf("%w: end frame of %d bytes", ErrExport, len(p))
	}
	r, c, a := binary.BigEndian.Uint64(p), binary.BigEndian.Uint64(p[8:]), binary.BigEndian.Uint64(p[16:])
	// Counts that differ from what was read are a damaged export, not an
	// unreadable one: name the first record the difference touches.
	switch {
	case r != st.records:
		return failAt(min(r, st.records), ReasonSeq, "the export's end frame counts %d records, %d were read (records removed or added)", r, st.records)
	case c != st.cks:
		return failAt(st.records, ReasonCheckpoint, "the export's end frame counts %d checkpoints, %d were read (checkpoints removed or added)", c, st.cks)
	case a != st.accts:
		return failAt(st.records, ReasonBalance, "the export's end frame counts %d accounts, %d were read (accounts removed or added)", a, st.accts)
	}
	if st.section == 0 {
		return fmt.Errorf("%w: no head frame", ErrExport)
	}
	return st.begin(v)
}

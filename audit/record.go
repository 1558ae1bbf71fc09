// Package audit is Tally's tamper-evident log: the deterministic binary
// record encoding, the hash chain, the RFC 6962 Merkle tree (through
// golang.org/x/mod/sumdb/tlog), signed checkpoints in the C2SP
// tlog-checkpoint format (through golang.org/x/mod/sumdb/note), proofs and
// the verifier. It knows nothing of Badger or HTTP: the store persists what
// this package computes. docs/AUDIT.md specifies every byte.
package audit

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"unicode/utf8"
)

// Version is the first byte of every record.
const Version byte = 1

// Limits of the decoder; records larger or deeper are refused.
const (
	MaxRecordSize = 1 << 20
	MaxDepth      = 16
	MaxFieldLen   = 1 << 16 // actor, on-behalf and action strings
)

// Value tags of the content encoding.
const (
	TagInt    byte = 0x01
	TagString byte = 0x02
	TagBytes  byte = 0x03
	TagBool   byte = 0x04
	TagList   byte = 0x05
	TagMap    byte = 0x06
)

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("audit: malformed record")

// Record is one audit record. Content holds the full change; its values are
// int64, string, []byte, bool, []any and map[string]any.
type Record struct {
	Seq      uint64
	Prev     [32]byte
	Time     int64 // Unix nanoseconds, UTC
	Actor    string
	OnBehalf string
	Action   string
	Content  map[string]any
}

// Encode returns the canonical bytes of r:
//
//	u8 version | u64 seq | [32]prev | i64 time | str actor | str on_behalf |
//	str action | map content
//
// integers big-endian, str = u32 length ‖ UTF-8 bytes, map keys sorted.
func Encode(r *Record) ([]byte, error) {
	var b bytes.Buffer
	b.Grow(256)
	b.WriteByte(Version)
	b.Write(binary.BigEndian.AppendUint64(nil, r.Seq))
	b.Write(r.Prev[:])
	b.Write(binary.BigEndian.AppendUint64(nil, uint64(r.Time)))
	for _, s := range []string{r.Actor, r.OnBehalf, r.Action} {
		if len(s) > MaxFieldLen || !utf8.ValidString(s) {
			return nil, fmt.Errorf("audit: header field too long or not UTF-8")
		}
		writeStr(&b, s)
	}
	content := r.Content
	if content == nil {
		content = map[string]any{}
	}
	if err := encodeValue(&b, content, 0); err != nil {
		return nil, err
	}
	if b.Len() > MaxRecordSize {
		return nil, fmt.Errorf("audit: record of %d bytes exceeds %d", b.Len(), MaxRecordSize)
	}
	return b.Bytes(), nil
}

func writeStr(b *bytes.Buffer, s string) {
	b.Write(binary.BigEndian.AppendUint32(nil, uint32(len(s))))
	b.WriteString(s)
}

func encodeValue(b *bytes.Buffer, v any, depth int) error {
	if depth > MaxDepth {
		return fmt.Errorf("audit: content nested deeper than %d", MaxDepth)
	}
	switch x := v.(type) {
	case int64:
		b.WriteByte(TagInt)
		b.Write(binary.BigEndian.AppendUint64(nil, uint64(x)))
	case int:
		return encodeValue(b, int64(x), depth)
	case uint64:
		if x > math.MaxInt64 {
			return fmt.Errorf("audit: integer %d out of range", x)
		}
		return encodeValue(b, int64(x), depth)
	case string:
		if !utf8.ValidString(x) {
			return fmt.Errorf("audit: string is not UTF-8")
		}
		b.WriteByte(TagString)
		writeStr(b, x)
	case []byte:
		b.WriteByte(TagBytes)
		b.Write(binary.BigEndian.AppendUint32(nil, uint32(len(x))))
		b.Write(x)
	case bool:
		b.WriteByte(TagBool)
		if x {
			b.WriteByte(1)
		} else {
			b.WriteByte(0)
		}
	case []string:
		l := make([]any, len(x))
		for i, s := range x {
			l[i] = s
		}
		return encodeValue(b, l, depth)
	case []map[string]any:
		l := make([]any, len(x))
		for i, m := range x {
			l[i] = m
		}
		return encodeValue(b, l, depth)
	case []any:
		b.WriteByte(TagList)
		b.Write(binary.BigEndian.AppendUint32(nil, uint32(len(x))))
		for _, e := range x {
			if err := encodeValue(b, e, depth+1); err != nil {
				return err
			}
		}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			if !utf8.ValidString(k) {
				return fmt.Errorf("audit: map key is not UTF-8")
			}
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte(TagMap)
		b.Write(binary.BigEndian.AppendUint32(nil, uint32(len(keys))))
		for _, k := range keys {
			writeStr(b, k)
			if err := encodeValue(b, x[k], depth+1); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("audit: cannot encode %T", v)
	}
	return nil
}

// Decode parses canonical record bytes. It refuses anything Encode would
// not have produced (unsorted or duplicate keys, bad UTF-8, trailing bytes,
// unknown tags), so Encode(Decode(b)) == b for every accepted b.
func Decode(data []byte) (*Record, error) {
	if len(data) > MaxRecordSize {
		return nil, fmt.Errorf("%w: %d bytes exceeds %d", ErrMalformed, len(data), MaxRecordSize)
	}
	d := decoder{b: data}
	if v := d.byte(); v != Version {
		return nil, fmt.Errorf("%w: version %d", ErrMalformed, v)
	}
	r := &Record{}
	r.Seq = d.u64()
	copy(r.Prev[:], d.take(32))
	r.Time = int64(d.u64())
	r.Actor = d.str(MaxFieldLen)
	r.OnBehalf = d.str(MaxFieldLen)
	r.Action = d.str(MaxFieldLen)
	if d.err != nil {
		return nil, d.err
	}
	v := d.value(0)
	if d.err != nil {
		return nil, d.err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: content is not a map", ErrMalformed)
	}
	if len(d.b) != d.off {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(d.b)-d.off)
	}
	r.Content = m
	return r, nil
}

type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return make([]byte, n)
	}
	if n < 0 || len(d.b)-d.off < n {
		d.fail("truncated at offset %d", d.off)
		return make([]byte, max(n, 0))
	}
	s := d.b[d.off : d.off+n]
	d.off += n
	return s
}

func (d *decoder) byte() byte  { return d.take(1)[0] }
func (d *decoder) u32() uint32 { return binary.BigEndian.Uint32(d.take(4)) }
func (d *decoder) u64() uint64 { return binary.BigEndian.Uint64(d.take(8)) }

func (d *decoder) str(limit int) string {
	n := d.u32()
	if d.err == nil && int64(n) > int64(limit) {
		d.fail("string of %d bytes exceeds %d", n, limit)
		return ""
	}
	s := d.take(int(n))
	if d.err == nil && !utf8.Valid(s) {
		d.fail("string is not UTF-8 at offset %d", d.off)
	}
	return string(s)
}

func (d *decoder) count() int {
	n := d.u32()
	// Every element takes at least one byte, so a count larger than what is
	// left is a lie; refusing it bounds allocation by the input size.
	if d.err == nil && int64(n) > int64(len(d.b)-d.off) {
		d.fail("count %d exceeds remaining bytes", n)
		return 0
	}
	return int(n)
}

func (d *decoder) value(depth int) any {
	if depth > MaxDepth {
		d.fail("nested deeper than %d", MaxDepth)
		return nil
	}
	switch tag := d.byte(); tag {
	case TagInt:
		return int64(d.u64())
	case TagString:
		return d.str(MaxRecordSize)
	case TagBytes:
		n := d.u32()
		return append([]byte{}, d.take(int(min(n, uint32(MaxRecordSize+1))))...)
	case TagBool:
		switch d.byte() {
		case 0:
			return false
		case 1:
			return true
		}
		d.fail("bool is not 0 or 1")
		return nil
	case TagList:
		n := d.count()
		l := make([]any, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			l = append(l, d.value(depth+1))
		}
		return l
	case TagMap:
		n := d.count()
		m := make(map[string]any, n)
		prev := ""
		for i := 0; i < n && d.err == nil; i++ {
			k := d.str(MaxRecordSize)
			if i > 0 && k <= prev {
				d.fail("map keys not strictly ascending at %q", k)
			}
			prev = k
			m[k] = d.value(depth + 1)
		}
		return m
	default:
		d.fail("unknown tag 0x%02x", tag)
		return nil
	}
}

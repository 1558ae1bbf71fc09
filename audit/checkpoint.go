package audit

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Limits of checkpoint parsing.
const (
	// MaxCheckpointSize bounds a signed checkpoint note (body and
	// signatures); ours are about 200 bytes, cosigned ones a few more.
	MaxCheckpointSize = 16 << 10
	// MaxOriginLen bounds the origin line.
	MaxOriginLen = 256
)

// ErrCheckpoint is wrapped by every error about a checkpoint's format;
// ErrSignature by every error about its signature.
var (
	ErrCheckpoint = errors.New("audit: malformed checkpoint")
	ErrSignature  = errors.New("audit: checkpoint signature not verified")
)

// Checkpoint is the body of a C2SP tlog-checkpoint
// (https://c2sp.org/tlog-checkpoint):
//
//	<origin>\n<tree size, decimal>\n<root hash, base64>\n[extension lines\n]
type Checkpoint struct {
	Origin     string
	Size       int64
	Hash       Hash
	Extensions []string
}

// Body returns the checkpoint text that is signed.
func (c Checkpoint) Body() []byte {
	var b strings.Builder
	b.WriteString(c.Origin)
	b.WriteByte('\n')
	b.WriteString(strconv.FormatInt(c.Size, 10))
	b.WriteByte('\n')
	b.WriteString(base64.StdEncoding.EncodeToString(c.Hash[:]))
	b.WriteByte('\n')
	for _, e := range c.Extensions {
		b.WriteString(e)
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// ParseCheckpoint parses a checkpoint body (the note text without its
// signatures). It refuses anything Body would not produce: an empty or
// overlong origin, a size with a sign or leading zeros, a root that is not
// the canonical base64 of 32 bytes, empty extension lines, a missing final
// newline.
func ParseCheckpoint(text []byte) (Checkpoint, error) {
	var c Checkpoint
	if len(text) > MaxCheckpointSize {
		return c, fmt.Errorf("%w: %d bytes exceeds %d", ErrCheckpoint, len(text), MaxCheckpointSize)
	}
	if len(text) == 0 || text[len(text)-1] != '\n' {
		return c, fmt.Errorf("%w: no final newline", ErrCheckpoint)
	}
	lines := strings.Split(string(text[:len(text)-1]), "\n")
	if len(lines) < 3 {
		return c, fmt.Errorf("%w: %d lines, want at least 3", ErrCheckpoint, len(lines))
	}
	c.Origin = lines[0]
	if c.Origin == "" || len(c.Origin) > MaxOriginLen {
		return c, fmt.Errorf("%w: origin empty or longer than %d", ErrCheckpoint, MaxOriginLen)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return c, fmt.Errorf("%w: bad tree size", ErrCheckpoint)
	}
	c.Size = size
	root, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(root) != len(c.Hash) {
		return c, fmt.Errorf("%w: bad root hash", ErrCheckpoint)
	}
	copy(c.Hash[:], root)
	for _, e := range lines[3:] {
		if e == "" {
			return c, fmt.Errorf("%w: empty extension line", ErrCheckpoint)
		}
		c.Extensions = append(c.Extensions, e)
	}
	return c, nil
}

// GenerateCheckpointKey makes a new Ed25519 note key named origin; skey is
// the private signer key, vkey the public verifier key that residents and
// auditors use.
// Errors wrap ErrCheckpoint when origin cannot name a key (see ValidOrigin).
func GenerateCheckpointKey(origin string) (skey, vkey string, err error) {
	if !ValidOrigin(origin) {
		return "", "", fmt.Errorf("%w: origin %q cannot name a key", ErrCheckpoint, origin)
	}
	skey, vkey, err = note.GenerateKey(rand.Reader, origin)
	if err != nil {
		return "", "", fmt.Errorf("audit: generate checkpoint key: %w", err)
	}
	return skey, vkey, nil
}

// ValidOrigin reports whether origin can name a log and its note key:
// 1..MaxOriginLen bytes of UTF-8 with no spaces and no '+' (the note
// format's rules for key names).
func ValidOrigin(origin string) bool {
	return origin != "" && len(origin) <= MaxOriginLen && utf8.ValidString(origin) &&
		strings.IndexFunc(origin, unicode.IsSpace) < 0 && !strings.Contains(origin, "+")
}

// SignCheckpoint signs c with skey as a signed note. The key's name must
// be the checkpoint's origin, so that a verifier key names its log.
func SignCheckpoint(c Checkpoint, skey string) ([]byte, error) {
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("audit: checkpoint signer: %w", err)
	}
	if s.Name() != c.Origin {
		return nil, fmt.Errorf("audit: key %q cannot sign origin %q", s.Name(), c.Origin)
	}
	msg, err := note.Sign(&note.Note{Text: string(c.Body())}, s)
	if err != nil {
		return nil, fmt.Errorf("audit: sign checkpoint: %w", err)
	}
	return msg, nil
}

// OpenCheckpoint checks that msg is a checkpoint signed by vkey's key and
// returns it. Signatures by other keys (witness cosignatures) are ignored.
// Errors wrap ErrSignature (no valid signature by vkey, or an invalid one)
// or ErrCheckpoint (malformed note or body).
func OpenCheckpoint(msg []byte, vkey string) (Checkpoint, error) {
	if len(msg) > MaxCheckpointSize {
		return Checkpoint{}, fmt.Errorf("%w: %d bytes exceeds %d", ErrCheckpoint, len(msg), MaxCheckpointSize)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w: verifier key: %v", ErrSignature, err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w: %v", ErrSignature, err)
	}
	c, err := ParseCheckpoint([]byte(n.Text))
	if err != nil {
		return c, err
	}
	if c.Origin != v.Name() {
		return c, fmt.Errorf("%w: origin %q is not the key's name %q", ErrSignature, c.Origin, v.Name())
	}
	return c, nil
}

// CheckpointBody returns the signed text of a note without checking any
// signature, for reading the previous checkpoint of one's own store or a
// checkpoint a user trusts by having saved it.
func CheckpointBody(msg []byte) (Checkpoint, error) {
	if len(msg) > MaxCheckpointSize {
		return Checkpoint{}, fmt.Errorf("%w: %d bytes exceeds %d", ErrCheckpoint, len(msg), MaxCheckpointSize)
	}
	i := bytes.LastIndex(msg, []byte("\n\n"))
	if i < 0 {
		return Checkpoint{}, fmt.Errorf("%w: no signature block", ErrCheckpoint)
	}
	return ParseCheckpoint(msg[:i+1])
}

// VerifierName returns the key name (the origin) of a verifier key.
func VerifierName(vkey string) (string, error) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return "", fmt.Errorf("%w: verifier key: %v", ErrSignature, err)
	}
	return v.Name(), nil
}

// ProveCheckpoint checks, before next is signed, that the tree it names
// extends the tree of prev: a consistency proof read through r, checked
// against both roots. A zero prev (no earlier checkpoint) needs no proof.
// Errors wrap ErrInconsistent.
func ProveCheckpoint(prev, next Checkpoint, r HashReader) error {
	if prev.Size == 0 {
		return nil
	}
	if next.Size < prev.Size {
		return fmt.Errorf("%w: tree shrank from %d to %d", ErrInconsistent, prev.Size, next.Size)
	}
	p, err := tlog.ProveTree(next.Size, prev.Size, r)
	if err != nil {
		return fmt.Errorf("audit: prove tree %d→%d: %w", prev.Size, next.Size, err)
	}
	return CheckConsistency(p, prev.Size, prev.Hash, next.Size, next.Hash)
}

// SignedByNoneOf reports whether msg is a well-formed signed note none of
// whose signatures names (by name and key hash) one of vkeys: a note
// signed by a key its reader does not hold, rather than one whose text
// was changed under a known key's signature.
func SignedByNoneOf(msg []byte, vkeys []string) bool {
	var vs []note.Verifier
	for _, k := range vkeys {
		if v, err := note.NewVerifier(k); err == nil {
			vs = append(vs, v)
		}
	}
	_, err := note.Open(msg, note.VerifierList(vs...))
	var unverified *note.UnverifiedNoteError
	return errors.As(err, &unverified)
}

package audit

import (
	"errors"
	"fmt"
	"strconv"
	"unicode"
)

// Reason says what a failed verification found. Reasons are stable: tools
// and tests switch on them.
type Reason string

// Reasons of a VerifyError.
const (
	ReasonMalformed   Reason = "malformed"          // record bytes are not a canonical record
	ReasonSeq         Reason = "seq"                // a record is missing, moved, or names another seq
	ReasonLeafHash    Reason = "leaf_hash"          // record hash differs from the stored leaf hash
	ReasonTreeHash    Reason = "tree_hash"          // a stored interior tree hash is wrong or missing
	ReasonPrev        Reason = "prev"               // the previous-hash link is broken
	ReasonTime        Reason = "time"               // commit time did not move forward
	ReasonHead        Reason = "head"               // the writer head disagrees with the log
	ReasonCheckpoint  Reason = "checkpoint"         // a checkpoint's root, size or format is wrong
	ReasonSignature   Reason = "signature"          // a checkpoint is not signed by the key in force
	ReasonKey         Reason = "key"                // no key in force, or a bad key record
	ReasonEffects     Reason = "effects"            // effects malformed or impossible to replay
	ReasonGuard       Reason = "guard"              // a replayed change broke an account's guard
	ReasonBalance     Reason = "balance"            // a stored account differs from the replay
	ReasonHistory     Reason = "history"            // a stored history line differs from the chain
	ReasonTransaction Reason = "transaction"        // a stored transaction differs from the chain
	ReasonDocument    Reason = "document"           // a stored workflow document differs from the chain
	ReasonTrusted     Reason = "trusted_checkpoint" // the log does not extend a trusted checkpoint
	ReasonTrustedKey  Reason = "trusted_key"        // the latest checkpoint is not signed by a key the user gave
)

// ErrVerify is wrapped by every *VerifyError.
var ErrVerify = errors.New("audit: verification failed")

// VerifyError names the first bad record. When End > Seq the fault is
// known only to lie in [Seq, End): a tree root disagrees with a trusted
// checkpoint, and a root does not say which leaf changed.
type VerifyError struct {
	Seq     uint64
	End     uint64
	Reason  Reason
	Account string // ReasonBalance, ReasonHistory and ReasonGuard: the account
	Detail  string
}

func (e *VerifyError) Error() string {
	at := fmt.Sprintf("seq %d", e.Seq)
	if e.End > e.Seq+1 {
		at = fmt.Sprintf("seq %d (a record in %d..%d)", e.Seq, e.Seq, e.End-1)
	}
	if e.Account != "" {
		at += " account " + Printable(e.Account)
	}
	return fmt.Sprintf("audit: verification failed at %s: %s: %s", at, e.Reason, e.Detail)
}

func (e *VerifyError) Unwrap() error { return ErrVerify }

func failAt(seq uint64, r Reason, format string, args ...any) *VerifyError {
	return &VerifyError{Seq: seq, Reason: r, Detail: fmt.Sprintf(format, args...)}
}

// Printable is s as it is when every character of it prints, else
// quoted with Go escapes: ids and keys read from a damaged store may
// hold control characters, which must not reach a terminal or a log raw.
func Printable(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) || r == '"' || r == '\\' || r == unicode.ReplacementChar {
			return strconv.Quote(s)
		}
	}
	return s
}

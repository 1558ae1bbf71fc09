package ledger

import (
	"errors"
	"fmt"
	"time"
)

// Code is a stable, machine-readable error code. Codes are part of the API
// contract: clients switch on them, so they are never renamed.
type Code string

// Error codes. The HTTP status for each lives in one table in package api.
const (
	CodeInvalidRequest      Code = "invalid_request"
	CodeInvalidAmount       Code = "invalid_amount"
	CodeInvalidID           Code = "invalid_id"
	CodeUnknownUnit         Code = "unknown_unit"
	CodeUnitMismatch        Code = "unit_mismatch"
	CodeNotFound            Code = "not_found"
	CodeAlreadyExists       Code = "already_exists"
	CodeInsufficientFunds   Code = "insufficient_funds"
	CodeMaxBalanceExceeded  Code = "max_balance_exceeded"
	CodeAccountFrozen       Code = "account_frozen"
	CodeAccountClosed       Code = "account_closed"
	CodeSameAccount         Code = "same_account"
	CodeOverflow            Code = "overflow"
	CodeNotPending          Code = "not_pending"
	CodeHoldExpired         Code = "hold_expired"
	CodeAlreadyReversed     Code = "already_reversed"
	CodeIdempotencyConflict Code = "idempotency_conflict"
	CodeLimitExceeded       Code = "limit_exceeded"
	CodeForbidden           Code = "forbidden"
	CodeUnauthorized        Code = "unauthorized"
	CodeConflict            Code = "conflict"
	CodeUnavailable         Code = "unavailable"
	// CodeLedgerDamaged: the stored log or state failed verification (a
	// record, balance or document changed on disk): no writes, and no
	// figures served until an operator has checked the directory.
	CodeLedgerDamaged Code = "ledger_damaged"
	CodeStorageFull   Code = "storage_full"
	CodeInternal      Code = "internal"
	// CodeConflictOfInterest: the caller would direct value to themself
	// or a relative (a vote on a relative's payment, a gift made for a
	// resident to the coordinator making it, ...).
	CodeConflictOfInterest Code = "conflict_of_interest"
)

// Error is the one error type the domain returns to callers. Message is safe
// to show to a user; it never carries internal detail.
type Error struct {
	Code    Code
	Message string
	// RetryAfter, when set on an unavailable error, is how soon a retry
	// is expected to succeed (a record waiting for the next checkpoint);
	// zero leaves the API's default for the code.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return "ledger: " + string(e.Code) + ": " + e.Message }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code Code, format string, args ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode extracts the code of err: the code of a wrapped *Error, or
// CodeInternal for any other non-nil error, or "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// IsCode reports whether err carries code.
func IsCode(err error, code Code) bool { return err != nil && ErrorCode(err) == code }

package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"tally/ledger"
	"tally/ledger/fund"
	"tally/ledger/timebank"
)

// API-level error codes, beside the domain's (ledger.Code*).
const (
	CodeInvalidJSON     ledger.Code = "invalid_json"
	CodeUnknownField    ledger.Code = "unknown_field"
	CodeBodyTooLarge    ledger.Code = "body_too_large"
	CodeInvalidKey      ledger.Code = "invalid_idempotency_key"
	CodeTooManyAttempts ledger.Code = "too_many_attempts"
	CodeMethodNotAllow  ledger.Code = "method_not_allowed"
	CodeInvalidToken    ledger.Code = "invalid_token"
	CodeUnsupportedType ledger.Code = "unsupported_media_type"
	CodeRequestTimeout  ledger.Code = "request_timeout"
	// Requests Go's HTTP server refuses before any handler runs
	// (ProblemListener).
	CodeMalformedRequest    ledger.Code = "malformed_request"
	CodeHeadersTooLarge     ledger.Code = "headers_too_large"
	CodeUnsupportedEncoding ledger.Code = "unsupported_transfer_encoding"
	CodeHTTPVersion         ledger.Code = "http_version_not_supported"
	CodeExpectationFailed   ledger.Code = "expectation_failed"
)

// statusOf is the one code → HTTP status table. Domain codes of the
// workflows that are not listed are business-rule refusals: 422.
var statusOf = map[ledger.Code]int{
	ledger.CodeInvalidRequest:      http.StatusBadRequest,
	ledger.CodeInvalidAmount:       http.StatusBadRequest,
	ledger.CodeInvalidID:           http.StatusBadRequest,
	ledger.CodeUnknownUnit:         http.StatusBadRequest,
	ledger.CodeUnitMismatch:        http.StatusBadRequest,
	ledger.CodeSameAccount:         http.StatusBadRequest,
	CodeInvalidJSON:                http.StatusBadRequest,
	CodeUnknownField:               http.StatusBadRequest,
	CodeInvalidKey:                 http.StatusBadRequest,
	ledger.CodeUnauthorized:        http.StatusUnauthorized,
	CodeInvalidToken:               http.StatusUnauthorized,
	ledger.CodeForbidden:           http.StatusForbidden,
	ledger.CodeNotFound:            http.StatusNotFound,
	CodeMethodNotAllow:             http.StatusMethodNotAllowed,
	ledger.CodeAlreadyExists:       http.StatusConflict,
	ledger.CodeIdempotencyConflict: http.StatusConflict,
	ledger.CodeConflict:            http.StatusConflict,
	ledger.CodeNotPending:          http.StatusConflict,
	ledger.CodeAlreadyReversed:     http.StatusConflict,
	ledger.CodeHoldExpired:         http.StatusConflict,
	timebank.CodeWrongState:        http.StatusConflict,
	timebank.CodeSelfConfirmation:  http.StatusForbidden,
	fund.CodeNotCommittee:          http.StatusForbidden,
	fund.CodeProposerCannotVote:    http.StatusForbidden,
	ledger.CodeConflictOfInterest:  http.StatusForbidden,
	fund.CodeAlreadyVoted:          http.StatusConflict,
	fund.CodeProposalClosed:        http.StatusConflict,
	CodeBodyTooLarge:               http.StatusRequestEntityTooLarge,
	CodeRequestTimeout:             http.StatusRequestTimeout,
	CodeExpectationFailed:          http.StatusExpectationFailed,
	CodeUnsupportedType:            http.StatusUnsupportedMediaType,
	ledger.CodeInsufficientFunds:   http.StatusUnprocessableEntity,
	ledger.CodeMaxBalanceExceeded:  http.StatusUnprocessableEntity,
	ledger.CodeAccountFrozen:       http.StatusUnprocessableEntity,
	ledger.CodeAccountClosed:       http.StatusUnprocessableEntity,
	ledger.CodeOverflow:            http.StatusUnprocessableEntity,
	ledger.CodeLimitExceeded:       http.StatusUnprocessableEntity,
	CodeTooManyAttempts:            http.StatusTooManyRequests,
	ledger.CodeUnavailable:         http.StatusServiceUnavailable,
	ledger.CodeLedgerDamaged:       http.StatusServiceUnavailable,
	ledger.CodeStorageFull:         http.StatusInsufficientStorage,
	ledger.CodeInternal:            http.StatusInternalServerError,
	CodeMalformedRequest:           http.StatusBadRequest,
	CodeHeadersTooLarge:            http.StatusRequestHeaderFieldsTooLarge,
	CodeUnsupportedEncoding:        http.StatusNotImplemented,
	CodeHTTPVersion:                http.StatusHTTPVersionNotSupported,
}

// Status returns the HTTP status of a code.
func Status(code ledger.Code) int {
	if s, ok := statusOf[code]; ok {
		return s
	}
	return http.StatusUnprocessableEntity
}

// Problem is an RFC 9457 problem document with Tally's stable code.
type Problem struct {
	Type   string      `json:"type"`
	Title  string      `json:"title"`
	Status int         `json:"status"`
	Code   ledger.Code `json:"code"`
	Detail string      `json:"detail,omitempty"`
}

// problemTypeBase prefixes every problem type URI.
const problemTypeBase = "https://tally.community/problems/"

// fail writes err as a problem and aborts the request. Internal errors are
// logged with their cause and answered without it.
// packagePrefixes are the Go package names some domain messages start
// with; a problem's detail speaks to the user, not of the code's layout.
var packagePrefixes = []string{"timebank: ", "fund: ", "community: ", "ledger: ", "store: ", "audit: "}

func userDetail(msg string) string {
	for _, p := range packagePrefixes {
		if rest, ok := strings.CutPrefix(msg, p); ok {
			msg = rest
			break
		}
	}
	return escapeControls(msg)
}

// escapeControls writes the control and bidirectional-formatting
// characters a message may echo from a request (an id looked up as sent)
// as \uXXXX: a detail shown in a terminal, a log or a page must not
// carry escape sequences or reorder its text.
func escapeControls(s string) string {
	if !strings.ContainsFunc(s, hiddenRune) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if hiddenRune(r) {
			fmt.Fprintf(&b, "\\u%04x", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func hiddenRune(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == utf8.RuneError ||
		r >= 0x200b && r <= 0x200f || r == 0x2028 || r == 0x2029 || r == 0xfeff
}

// UnavailableRetryAfter is the Retry-After of a 503 (a record not yet in
// a checkpoint, a write the disk refused, a server shutting down): a
// retry after it usually succeeds. A 429 says LoginWindow, the longest a
// throttled login may have to wait.
const UnavailableRetryAfter = 5 * time.Second

// LoginBusyRetryAfter is the Retry-After of a 429 caused by logins still
// being checked rather than by failures (errBusy).
const LoginBusyRetryAfter = time.Second

func fail(c *gin.Context, err error) {
	var e *ledger.Error
	if !errors.As(err, &e) && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		// The caller went away (or its deadline passed) before the
		// request reached the writer: nothing was written, and nothing
		// is wrong with the server.
		slog.Info("request given up before it was written", "method", c.Request.Method, "path", c.FullPath(), "err", err)
		e = errAbandoned
	} else if e == nil {
		slog.Error("internal error", "method", c.Request.Method, "path", c.FullPath(), "err", err)
		e = &ledger.Error{Code: ledger.CodeInternal, Message: "internal error"}
	}
	st := Status(e.Code)
	switch st {
	case http.StatusTooManyRequests:
		wait := LoginWindow
		if e == errBusy {
			wait = LoginBusyRetryAfter
		}
		c.Header("Retry-After", strconv.Itoa(int(wait/time.Second)))
	case http.StatusServiceUnavailable:
		if e.Code == ledger.CodeLedgerDamaged {
			break // waiting does not help: an operator must check the directory
		}
		wait := UnavailableRetryAfter
		if e.RetryAfter > 0 {
			wait = e.RetryAfter
		}
		c.Header("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
	}
	c.Header("Content-Type", "application/problem+json")
	c.AbortWithStatusJSON(st, Problem{Type: problemTypeBase + string(e.Code), Title: http.StatusText(st),
		Status: st, Code: e.Code, Detail: userDetail(e.Message)})
}

// errAbandoned answers a request whose context ended before it was
// written (its client has usually gone, but a proxy may still read it).
var errAbandoned = &ledger.Error{Code: ledger.CodeUnavailable, Message: "the request was given up before it reached the ledger; send it again (under the same Idempotency-Key a retry cannot write twice)"}

// failCode writes a problem with the given code and message.
func failCode(c *gin.Context, code ledger.Code, format string, args ...any) {
	fail(c, ledger.Errorf(code, format, args...))
}

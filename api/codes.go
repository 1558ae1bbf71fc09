package api

import (
	"tally/ledger"
	"tally/ledger/fund"
	"tally/ledger/timebank"
)

// ProblemCode is one stable code a problem document may carry, with what
// it means to the client. docs/API.md lists the same table (a test keeps
// the two, and every code constant in the source, in step), and the
// OpenAPI document lists the codes as the enum of Problem.code.
type ProblemCode struct {
	Code    ledger.Code
	Meaning string
}

// ProblemCodes are every code the API answers, in the order docs/API.md
// lists them: malformed requests, then authentication and authorisation,
// then the ledger's refusals, then the workflows', then the server's.
var ProblemCodes = []ProblemCode{
	{CodeInvalidJSON, "the body is not one JSON object of the route's fields and types (malformed, a wrong type, a key given twice, nested too deep, trailing data, invalid UTF-8 or an unpaired surrogate escape)"},
	{CodeUnknownField, "a field the route does not take (names are matched exactly, case included)"},
	{ledger.CodeInvalidRequest, "a value or query parameter the route cannot use (a missing required field, an unknown status, a bad period, a limit out of range, a bad cursor)"},
	{ledger.CodeInvalidAmount, "an amount that is not a positive decimal string within its unit's scale (zero, negative, exponent, too many decimals, too large, empty)"},
	{ledger.CodeInvalidID, "an id that is not URL-safe, too long, or reads as personal data (a phone or ID-card number)"},
	{ledger.CodeUnknownUnit, "a unit other than HOUR and CNY"},
	{ledger.CodeUnitMismatch, "a posting's unit differs from its account's"},
	{ledger.CodeSameAccount, "a posting from an account to itself"},
	{CodeInvalidKey, "an Idempotency-Key that is empty, too long or not printable ASCII"},
	{CodeBodyTooLarge, "the body is larger than the server takes"},
	{CodeUnsupportedType, "a body that is not application/json in UTF-8, or is compressed"},
	{CodeMethodNotAllow, "the route exists, not with this method"},
	{CodeMalformedRequest, "an HTTP request the server cannot parse (refused before any route)"},
	{CodeHeadersTooLarge, "request headers larger than the server takes"},
	{CodeUnsupportedEncoding, "a Transfer-Encoding other than chunked"},
	{CodeHTTPVersion, "an HTTP version the server does not speak"},
	{CodeExpectationFailed, "an Expect header other than 100-continue"},
	{CodeRequestTimeout, "the request was not received in time"},
	{ledger.CodeUnauthorized, "no usable credentials: no token, a wrong username or password, a wrong current password"},
	{CodeInvalidToken, "a token that is malformed, expired, revoked, signed with another key or algorithm, or of the wrong kind"},
	{CodeTooManyAttempts, "too many failed logins for this username or address; retry after the Retry-After header's seconds"},
	{ledger.CodeForbidden, "the caller's role or scope does not allow this"},
	{ledger.CodeConflictOfInterest, "the caller may not act here for themself or their relatives (a vote, a confirmation, eligibility)"},
	{ledger.CodeNotFound, "no such resource, or one outside the caller's scope"},
	{ledger.CodeAlreadyExists, "an id or username already taken"},
	{ledger.CodeIdempotencyConflict, "the Idempotency-Key was used before with another request (another body, route or member)"},
	{ledger.CodeConflict, "the change conflicts with the resource's current state (a policy's earning model, a key already made)"},
	{ledger.CodeInsufficientFunds, "the account's available balance (or credit limit) does not cover the amount"},
	{ledger.CodeMaxBalanceExceeded, "the amount would take the account over its storage cap"},
	{ledger.CodeAccountFrozen, "a frozen account takes no postings"},
	{ledger.CodeAccountClosed, "a closed account takes no postings"},
	{ledger.CodeOverflow, "the amount would overflow a balance or total"},
	{ledger.CodeNotPending, "the transaction is not a pending hold (posted, voided or expired already)"},
	{ledger.CodeHoldExpired, "the hold expired and the ledger voided it"},
	{ledger.CodeAlreadyReversed, "the transaction was reversed already"},
	{ledger.CodeLimitExceeded, "a named limit was reached (postings per transfer, relatives, list lengths, a report's scan)"},
	{timebank.CodeWrongState, "the step does not apply to the record in its current state"},
	{timebank.CodeSelfConfirmation, "nobody confirms or rejects their own service"},
	{timebank.CodeSelfService, "nobody serves or claims for themself"},
	{timebank.CodeDailyLimitExceeded, "the volunteer would log more than 24 hours in one day"},
	{timebank.CodeFutureOccurrence, "the service's occurred_at is in the future"},
	{timebank.CodeFlaggedOverlap, "the service overlaps another of the volunteer's; a coordinator confirms it"},
	{timebank.CodeNotVolunteer, "the member does not hold the volunteer role"},
	{timebank.CodeNotInCommunity, "the member, account or item belongs to another community (or district)"},
	{timebank.CodeNotEligible, "the member does not meet the item's eligibility (age, hardship)"},
	{timebank.CodeNotRelative, "a gift to someone who is not a registered relative (or the pool)"},
	{timebank.CodePriceMismatch, "the hours differ from the catalogue item's price"},
	{timebank.CodeItemWithdrawn, "the catalogue item was withdrawn"},
	{fund.CodeNotCommittee, "the voter is not on the fund's committee"},
	{fund.CodeProposerCannotVote, "the proposer votes on their own proposal"},
	{fund.CodeAlreadyVoted, "one vote (or recusal) per member per round"},
	{fund.CodeProposalClosed, "the proposal is decided, or its objection window is not open"},
	{fund.CodeRestrictedFunds, "the fund's money is restricted to other projects than this proposal's"},
	{fund.CodeQuorumUnreachable, "fewer eligible voters than the quorum"},
	{ledger.CodeUnavailable, "the server is starting, stopping or cannot write; retry later"},
	{ledger.CodeLedgerDamaged, "the stored ledger failed verification; an operator must check it (docs/OPERATIONS.md)"},
	{ledger.CodeStorageFull, "the disk is below the server's reserve; nothing was written"},
	{ledger.CodeInternal, "an unexpected fault; the server's log holds its cause, the answer never does"},
}

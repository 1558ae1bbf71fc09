// Package ledger is Tally's domain: units and exact amounts, accounts with
// their guards, double-entry transactions of postings, two-phase holds,
// reversals, typed errors with stable codes, limits, and the interfaces the
// rest of the code commits through (Committer, Tx, Reader).
//
// It imports only the standard library and shopspring/decimal. Storage lives
// in ledger/store (the only importer of Badger); the time bank and fund
// workflows build on the functions here.
package ledger

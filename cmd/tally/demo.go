package main

import (
	"context"

	"tally/ledger/store"
)

// demoAdminPassword is the admin password of --demo (README lists it).
const demoAdminPassword = "demo-admin-2026"

// loadDemo fills a new data directory with a demo district.
func loadDemo(ctx context.Context, st *store.Store) error { return nil }

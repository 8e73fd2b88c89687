package main

import "github.com/authv2/authv2/store/postgres"

// translate maps lib/pq and database/sql errors to the sentinels of package
// store, which is all the Manager understands, exactly as authv2's own
// PostgreSQL stores do: postgres.Translate is the one classification of
// SQLSTATEs and network errors, so a custom store cannot drift from it.
func translate(op string, err error) error { return postgres.Translate(op, err) }

// Package postgres is the center's shared store: a regcenter.Store in a
// PostgreSQL database, through pgx (github.com/jackc/pgx/v5) and its
// connection pool, for deployments of several identical center replicas
// (see docs/decisions/0007-scaling-out.md).
//
// Everything a replica must share lives in the database, and every method
// is one transaction that is committed (durable, with PostgreSQL's default
// synchronous_commit) before it returns. Writes that several replicas make
// at once are applied in the database, never read and written back: a
// bootstrap count grows by n in an UPDATE, a claim is an INSERT ... ON
// CONFLICT DO NOTHING, so concurrent uploads of overlapping devices both
// succeed and every ESN ends with one holder. Event sequence numbers are
// handed out under one row lock, so they become visible in increasing
// order. An upload of any size is a few multi-row statements over arrays
// (unnest), not a statement per device.
//
// The schema is created and upgraded at Open from the migrations embedded
// in this package, under an advisory lock so that replicas starting
// together take turns; migrations only ever add. The statements of the
// request paths stay within what CockroachDB also accepts.
//
// This package implements the domain's storage interface and nothing more.
// It must never import a transport (net/http, crypto/tls), another adapter
// of this module (sqlite, httpapi, prometheus, ...), or be imported by the
// domain package.
package postgres

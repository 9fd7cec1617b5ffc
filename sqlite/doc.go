// Package sqlite is the center's embedded default store: a regcenter.Store
// kept in one SQLite file, through database/sql and the pure-Go driver
// modernc.org/sqlite (no cgo; see docs/decisions/0002-sqlite-driver.md).
//
// The file is in WAL mode with synchronous=FULL, so a claim, a release or a
// platform change is on disk before its method returns. Writes go through a
// single connection that begins every transaction IMMEDIATE, which orders
// them without SQLITE_BUSY retries inside the process; reads go through a
// separate pool of query-only connections, so the switches' bootstrap
// lookups never wait behind an upload. The schema is created and upgraded
// at Open from the migrations embedded in this package; migrations only
// ever add.
//
// This package implements the domain's storage interface and nothing more.
// It must never import a transport (net/http, crypto/tls), another adapter
// of this module (postgres, httpapi, prometheus, ...), or be imported by
// the domain package.
package sqlite

// Package sqlite is the reference platform's store: a cmp.Store in one
// SQLite file (modernc.org/sqlite, no cgo), opened the way the center opens
// its own: WAL with synchronous=FULL, so that an import and its outbox
// entries are on disk before the administrator is answered; one writer
// connection that begins every transaction IMMEDIATE; a query-only pool
// for reads; the schema migrated at Open from embedded files that only
// ever add. Callers import it as cmpsqlite.
//
// It implements the platform's storage interface and nothing more. It must
// never import a transport, the center's store, or be imported by cmp.
package sqlite

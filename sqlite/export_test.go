package sqlite

// SetAnswerCacheSize replaces db's answer cache with an empty one of n
// entries (0: no cache), so that a benchmark can measure the database
// lookup itself.
func SetAnswerCacheSize(db *DB, n int) { db.cache = newTargetCache(n) }

package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/sqlite"
	"github.com/regcenter/regcenter/storetest"
)

func BenchmarkClaimDevices(b *testing.B) {
	storetest.BenchClaimDevices(b, func(tb testing.TB) regcenter.Store { return open(tb, filepath.Join(tb.TempDir(), "bench.db")) })
}

// BenchmarkBootstrapTarget measures the switches' lookup against a table of
// 100,000 devices. "database" is the lookup itself, the answer cache turned
// off; "cached" asks about 500 devices again and again, as a site powering
// on does, and is answered from memory.
func BenchmarkBootstrapTarget(b *testing.B) {
	db := open(b, filepath.Join(b.TempDir(), "bench.db"))
	esns := storetest.Fill(b, db, "B", 100_000)
	for _, tc := range []struct {
		name      string
		cacheSize int
		esns      []string
	}{{"database", 0, esns}, {"cached", 200_000, esns[:500]}} {
		sqlite.SetAnswerCacheSize(db, tc.cacheSize)
		b.Run(tc.name, func(b *testing.B) { storetest.BenchLookups(b, db, tc.esns) })
	}
}

package sqlite_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/sqlite"
	"github.com/regcenter/regcenter/storetest"
)

const benchBatch = regcenter.MaxUploadDevices

// BenchmarkClaimDevices measures full uploads (MaxUploadDevices claims in
// one call, one durable transaction): "new" creates every device, "again"
// re-uploads devices the platform already holds unchanged.
func BenchmarkClaimDevices(b *testing.B) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	b.Run("new", func(b *testing.B) {
		db := open(b, filepath.Join(b.TempDir(), "bench.db"))
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			b.StopTimer()
			// Each round claims ESNs never seen before.
			claims := storetest.Claims(fmt.Sprintf("N%04d-", n), benchBatch)
			n++
			b.StartTimer()
			if _, err := db.ClaimDevices(b.Context(), "cmp-a", claims, now); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n*benchBatch)/b.Elapsed().Seconds(), "devices/s")
	})
	b.Run("again", func(b *testing.B) {
		db := open(b, filepath.Join(b.TempDir(), "bench.db"))
		claims := storetest.Claims("A-", benchBatch)
		if _, err := db.ClaimDevices(b.Context(), "cmp-a", claims, now); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			if _, err := db.ClaimDevices(b.Context(), "cmp-a", claims, now); err != nil {
				b.Fatal(err)
			}
			n++
		}
		b.ReportMetric(float64(n*benchBatch)/b.Elapsed().Seconds(), "devices/s")
	})
}

// BenchmarkBootstrapTarget measures the switches' lookup against a table
// of 100,000 devices, from parallel goroutines as the server calls it.
func BenchmarkBootstrapTarget(b *testing.B) {
	const devices = 100_000
	db := open(b, filepath.Join(b.TempDir(), "bench.db"))
	ctx := b.Context()
	now := time.Now().UTC().Truncate(time.Microsecond)
	if err := db.PutPlatform(ctx, regcenter.Platform{ID: "cmp-a", Addresses: []regcenter.Address{{Host: "cmp-a.example.net", Port: 10020}}, UpdatedAt: now}); err != nil {
		b.Fatal(err)
	}
	esns := make([]string, 0, devices)
	for i := 0; i < devices; i += benchBatch {
		claims := storetest.Claims(fmt.Sprintf("B%02d-", i/benchBatch), benchBatch)
		if _, err := db.ClaimDevices(ctx, "cmp-a", claims, now); err != nil {
			b.Fatal(err)
		}
		for _, c := range claims {
			esns = append(esns, c.ESN)
		}
	}

	// "database" is the lookup itself, the answer cache turned off;
	// "cached" asks about 500 devices again and again, as a site powering
	// on does, and is answered from memory.
	for _, tc := range []struct {
		name      string
		cacheSize int
		esns      []string
	}{{"database", 0, esns}, {"cached", 200_000, esns[:500]}} {
		sqlite.SetAnswerCacheSize(db, tc.cacheSize)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i = (i + 7919) % len(tc.esns)
					if _, _, err := db.BootstrapTarget(ctx, tc.esns[i]); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
		})
	}
}

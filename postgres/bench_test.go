package postgres_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/postgres/pgtest"
	"github.com/regcenter/regcenter/storetest"
)

// The benchmarks mirror sqlite/bench_test.go, so that
//
//	go test -run - -bench . ./sqlite ./postgres
//
// prints the two stores side by side.

const benchBatch = regcenter.MaxUploadDevices

// BenchmarkClaimDevices measures full uploads (MaxUploadDevices claims in
// one call, one durable transaction): "new" creates every device, "again"
// re-uploads devices the platform already holds unchanged.
func BenchmarkClaimDevices(b *testing.B) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	b.Run("new", func(b *testing.B) {
		dsn, _ := pgtest.FreshSchema(b)
		db := open(b, dsn)
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
		dsn, _ := pgtest.FreshSchema(b)
		db := open(b, dsn)
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
	dsn, _ := pgtest.FreshSchema(b)
	db := open(b, dsn)
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

	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			// A stride through the table so that lookups are not all cached
			// neighbours.
			i = (i + 7919) % len(esns)
			if _, _, err := db.BootstrapTarget(ctx, esns[i]); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
}

// BenchmarkRecordBootstraps measures the recorder's flushes: batches of
// 10,000 records (distinct devices among 100,000, one event each), as the
// replicas write them every second during a mass power-on. There is no
// SQLite twin: with one process there is no sharing to measure.
func BenchmarkRecordBootstraps(b *testing.B) {
	const devices = 100_000
	dsn, _ := pgtest.FreshSchema(b)
	db := open(b, dsn)
	ctx := b.Context()
	now := time.Now().UTC().Truncate(time.Microsecond)
	var esns []string
	for i := 0; i < devices; i += benchBatch {
		claims := storetest.Claims(fmt.Sprintf("R%02d-", i/benchBatch), benchBatch)
		if _, err := db.ClaimDevices(ctx, "cmp-a", claims, now); err != nil {
			b.Fatal(err)
		}
		for _, c := range claims {
			esns = append(esns, c.ESN)
		}
	}
	records := make([]regcenter.BootstrapRecord, benchBatch)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		b.StopTimer()
		for k := range records {
			// A stride, as requests arrive in no order.
			esn := esns[(n*benchBatch+k)*7919%len(esns)]
			records[k] = regcenter.BootstrapRecord{ESN: esn, PlatformID: "cmp-a", At: now.Add(time.Duration(n) * time.Second),
				Count: 1, Mode: regcenter.ModeCloud, SoftwareVersion: "V200R022C10SPC500"}
		}
		n++
		b.StartTimer()
		if err := db.RecordBootstraps(ctx, records); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*benchBatch)/b.Elapsed().Seconds(), "records/s")
}

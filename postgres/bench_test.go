package postgres_test

import (
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

func BenchmarkClaimDevices(b *testing.B) {
	storetest.BenchClaimDevices(b, func(tb testing.TB) regcenter.Store {
		dsn, _ := pgtest.FreshSchema(tb)
		return open(tb, dsn)
	})
}

// BenchmarkBootstrapTarget measures the switches' lookup against a table
// of 100,000 devices, from parallel goroutines as the server calls it.
func BenchmarkBootstrapTarget(b *testing.B) {
	dsn, _ := pgtest.FreshSchema(b)
	db := open(b, dsn)
	storetest.BenchLookups(b, db, storetest.Fill(b, db, "B", 100_000))
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
	esns := storetest.Fill(b, db, "R", devices)
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

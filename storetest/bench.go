package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/regcenter/regcenter"
)

// The benchmarks every store runs, so that
//
//	go test -run '^$' -bench . ./sqlite ./postgres
//
// prints the stores side by side. open returns a fresh, empty store.

// BenchClaimDevices measures full uploads (MaxUploadDevices claims in one
// call, one durable transaction): "new" creates every device, "again"
// re-uploads devices the platform already holds unchanged.
func BenchClaimDevices(b *testing.B, open func(testing.TB) regcenter.Store) {
	const batch = regcenter.MaxUploadDevices
	now := time.Now().UTC().Truncate(time.Microsecond)
	b.Run("new", func(b *testing.B) {
		s := open(b)
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			b.StopTimer()
			// Each round claims ESNs never seen before.
			claims := Claims(fmt.Sprintf("N%04d-", n), batch)
			n++
			b.StartTimer()
			if _, err := s.ClaimDevices(b.Context(), "cmp-a", claims, now); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n*batch)/b.Elapsed().Seconds(), "devices/s")
	})
	b.Run("again", func(b *testing.B) {
		s := open(b)
		claims := Claims("A-", batch)
		if _, err := s.ClaimDevices(b.Context(), "cmp-a", claims, now); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			if _, err := s.ClaimDevices(b.Context(), "cmp-a", claims, now); err != nil {
				b.Fatal(err)
			}
			n++
		}
		b.ReportMetric(float64(n*batch)/b.Elapsed().Seconds(), "devices/s")
	})
}

// Fill publishes platform cmp-a and claims n devices for it (in uploads
// of MaxUploadDevices), and returns their ESNs.
func Fill(tb testing.TB, s regcenter.Store, prefix string, n int) []string {
	tb.Helper()
	const batch = regcenter.MaxUploadDevices
	ctx := tb.Context()
	now := time.Now().UTC().Truncate(time.Microsecond)
	if err := s.PutPlatform(ctx, regcenter.Platform{ID: "cmp-a", Addresses: []regcenter.Address{{Host: "cmp-a.example.net", Port: 10020}}, UpdatedAt: now}); err != nil {
		tb.Fatal(err)
	}
	esns := make([]string, 0, n)
	for i := 0; i < n; i += batch {
		claims := Claims(fmt.Sprintf("%s%02d-", prefix, i/batch), min(batch, n-i))
		if _, err := s.ClaimDevices(ctx, "cmp-a", claims, now); err != nil {
			tb.Fatal(err)
		}
		for _, c := range claims {
			esns = append(esns, c.ESN)
		}
	}
	return esns
}

// BenchLookups measures BootstrapTarget of esns from parallel goroutines,
// as the server calls it, striding through them so that successive
// lookups are not neighbours.
func BenchLookups(b *testing.B, s regcenter.Store, esns []string) {
	ctx := b.Context()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i = (i + 7919) % len(esns)
			if _, _, err := s.BootstrapTarget(ctx, esns[i]); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
}

package storetest

import (
	"testing"
	"time"

	"github.com/regcenter/regcenter"
)

// trustAnchor stands for a PEM bundle; stores keep it as opaque text, so
// what matters is that every byte, newlines included, comes back.
const trustAnchor = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2VudGVy\n-----END CERTIFICATE-----\n" +
	"-----BEGIN CERTIFICATE-----\nMIIBpDCCAUqgAwIBAgIUU2Vjb25k\n-----END CERTIFICATE-----\n"

func testPlatform(t *testing.T, s regcenter.Store) {
	ctx := t.Context()

	_, err := s.Platform(ctx, "cmp-a")
	wantNotFound(t, err, "Platform of an ID that never published")

	a := regcenter.Platform{
		ID: "cmp-a",
		// Not in any sorted order, so that a store that sorts them fails.
		Addresses: []regcenter.Address{
			{Host: "cmp-b.example.net", Port: 10020},
			{Host: "192.0.2.7", Port: 443},
			{Host: "2001:db8::7", Port: 8443},
			{Host: "a.example.net", Port: 10020},
		},
		TrustAnchor: trustAnchor,
		UpdatedAt:   at(0),
	}
	b := regcenter.Platform{
		ID:        "cmp-b",
		Addresses: []regcenter.Address{{Host: "b.example.org", Port: 443}},
		UpdatedAt: at(time.Second),
	}
	for _, p := range []regcenter.Platform{a, b} {
		if err := s.PutPlatform(ctx, p); err != nil {
			t.Fatalf("PutPlatform(%s) = %v", p.ID, err)
		}
	}
	for _, want := range []regcenter.Platform{a, b} {
		got, err := s.Platform(ctx, want.ID)
		if err != nil {
			t.Fatalf("Platform(%s) = %v", want.ID, err)
		}
		wantPlatform(t, got, want)
	}

	// A second Put replaces the whole record, dropping the trust anchor
	// and the addresses that are no longer listed.
	a2 := regcenter.Platform{
		ID:        "cmp-a",
		Addresses: []regcenter.Address{{Host: "a.example.net", Port: 10021}},
		UpdatedAt: at(time.Hour + 1),
	}
	if err := s.PutPlatform(ctx, a2); err != nil {
		t.Fatalf("PutPlatform(%s) again = %v", a2.ID, err)
	}
	got, err := s.Platform(ctx, "cmp-a")
	if err != nil {
		t.Fatalf("Platform(cmp-a) after replace = %v", err)
	}
	wantPlatform(t, got, a2)
	got, err = s.Platform(ctx, "cmp-b")
	if err != nil {
		t.Fatalf("Platform(cmp-b) after cmp-a's replace = %v", err)
	}
	wantPlatform(t, got, b)

	_, err = s.Platform(ctx, "cmp-c")
	wantNotFound(t, err, "Platform of another ID that never published")
}

package regcenter_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/regcenter/regcenter"
)

func TestNormalizeESN(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"2102113374P0F4000046", "2102113374P0F4000046", true},
		{"2102113374p0f4000046", "2102113374P0F4000046", true},
		{"a-b_c.d", "A-B_C.D", true},
		{strings.Repeat("A", 64), strings.Repeat("A", 64), true},
		{"", "", false},
		{strings.Repeat("A", 65), "", false},
		{"ESN 1", "", false},
		{"ESN/1", "", false},
		{"ÉSN", "", false},
		{"ESN\x00", "", false},
	}
	for _, tt := range tests {
		got, err := regcenter.NormalizeESN(tt.in)
		if tt.ok {
			if err != nil || got != tt.want {
				t.Errorf("NormalizeESN(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			continue
		}
		if !errors.Is(err, regcenter.ErrInvalid) {
			t.Errorf("NormalizeESN(%q) error = %v; want ErrInvalid", tt.in, err)
		}
	}
}

func TestNormalizeESNDoesNotAllocateWhenCanonical(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := regcenter.NormalizeESN("2102113374P0F4000046"); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("NormalizeESN of a canonical ESN allocates %v times", allocs)
	}
}

func BenchmarkNormalizeESN(b *testing.B) {
	for _, in := range []string{"2102113374P0F4000046", "2102113374p0f4000046"} {
		b.Run(in, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				regcenter.NormalizeESN(in)
			}
		})
	}
}

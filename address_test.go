package regcenter_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/regcenter/regcenter"
)

func TestValidateAddresses(t *testing.T) {
	one := func(host string, port int) []regcenter.Address { return []regcenter.Address{{Host: host, Port: port}} }
	nine := make([]regcenter.Address, 9)
	for i := range nine {
		nine[i] = regcenter.Address{Host: "cmp.example.net", Port: 10030}
	}
	tests := []struct {
		name  string
		addrs []regcenter.Address
		ok    bool
	}{
		{"dns name", one("cmp.example.net", 10030), true},
		{"trailing dot", one("cmp.example.net.", 443), true},
		{"single label", one("localhost", 1), true},
		{"ipv4", one("192.0.2.10", 65535), true},
		{"ipv6", one("2001:db8::1", 10030), true},
		{"eight", nine[:8], true},
		{"empty list", nil, false},
		{"nine", nine, false},
		{"port 0", one("cmp.example.net", 0), false},
		{"port 65536", one("cmp.example.net", 65536), false},
		{"empty host", one("", 10030), false},
		{"space", one("cmp example.net", 10030), false},
		{"scheme", one("https://cmp.example.net", 10030), false},
		{"host with port", one("cmp.example.net:10030", 10030), false},
		{"leading hyphen", one("-cmp.example.net", 10030), false},
		{"empty label", one("cmp..example.net", 10030), false},
		{"long label", one(strings.Repeat("a", 64)+".net", 10030), false},
		{"bad ipv4", one("192.0.2.300", 10030), false},
		{"zone", one("fe80::1%eth0", 10030), false},
		{"bracketed ipv6", one("[2001:db8::1]", 10030), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := regcenter.ValidateAddresses(tt.addrs)
			if tt.ok && err != nil {
				t.Fatalf("want valid, got %v", err)
			}
			if !tt.ok && !errors.Is(err, regcenter.ErrInvalid) {
				t.Fatalf("want ErrInvalid, got %v", err)
			}
		})
	}
}

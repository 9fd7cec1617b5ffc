package agent_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/agent"
)

func TestParseOption148(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       agent.Option148
	}{
		{"domain", "agilemode=agile-cloud;agilemanage-mode=domain;agilemanage-domain=cmp.example.net;agilemanage-port=10020",
			agent.Option148{Address: regcenter.Address{Host: "cmp.example.net", Port: 10020}}},
		{"ip", "agilemode=agile-cloud;agilemanage-mode=ip;agilemanage-domain=192.0.2.10;agilemanage-port=443",
			agent.Option148{ByIP: true, Address: regcenter.Address{Host: "192.0.2.10", Port: 443}}},
		{"ipv6", "agilemode=agile-cloud;agilemanage-mode=ip;agilemanage-domain=2001:db8::1;agilemanage-port=1",
			agent.Option148{ByIP: true, Address: regcenter.Address{Host: "2001:db8::1", Port: 1}}},
		{"any order, whitespace, trailing separator",
			"  agilemanage-port = 65535 ;agilemanage-domain=\tcmp.example.net ; agilemode=agile-cloud;\nagilemanage-mode=domain ; ",
			agent.Option148{Address: regcenter.Address{Host: "cmp.example.net", Port: 65535}}},
		{"keys and modes in any case",
			"AgileMode=Agile-Cloud;AGILEMANAGE-MODE=IP;agilemanage-domain=10.0.0.1;agilemanage-port=10020",
			agent.Option148{ByIP: true, Address: regcenter.Address{Host: "10.0.0.1", Port: 10020}}},
		{"unknown keys of later firmware are ignored",
			"agilemode=agile-cloud;agilemanage-mode=domain;agilemanage-domain=a.example;agilemanage-port=8443;agilemanage-dns=192.0.2.53",
			agent.Option148{Address: regcenter.Address{Host: "a.example", Port: 8443}}},
		{"domain mode accepts an IP literal",
			"agilemode=agile-cloud;agilemanage-mode=domain;agilemanage-domain=192.0.2.1;agilemanage-port=10020",
			agent.Option148{Address: regcenter.Address{Host: "192.0.2.1", Port: 10020}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := agent.ParseOption148(tc.text)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			again, err := agent.ParseOption148(got.String())
			if err != nil || again != got {
				t.Fatalf("String() %q reads back as %+v, %v", got.String(), again, err)
			}
		})
	}
}

func TestParseOption148Refuses(t *testing.T) {
	const ok = "agilemode=agile-cloud;agilemanage-mode=domain;agilemanage-domain=cmp.example.net;agilemanage-port=10020"
	if _, err := agent.ParseOption148(ok); err != nil {
		t.Fatalf("the base case: %v", err)
	}
	for _, tc := range []struct{ name, text, wantErr string }{
		{"empty", "", "agilemode is missing"},
		{"not key=value", ok + ";garbage", `"garbage" is not key=value`},
		{"duplicate key", ok + ";agilemanage-port=1", "agilemanage-port given twice"},
		{"missing port", strings.Replace(ok, ";agilemanage-port=10020", "", 1), "agilemanage-port is missing"},
		{"missing domain", strings.Replace(ok, ";agilemanage-domain=cmp.example.net", "", 1), "agilemanage-domain is missing"},
		{"not cloud mode", strings.Replace(ok, "agile-cloud", "agile-local", 1), "not agile-cloud"},
		{"unknown manage mode", strings.Replace(ok, "mode=domain", "mode=dns", 1), "not ip or domain"},
		{"ip mode with a name", strings.Replace(ok, "mode=domain", "mode=ip", 1), "is not an IP address"},
		{"bad host", strings.Replace(ok, "cmp.example.net", "cmp_example/net", 1), "must be a DNS name or an IP literal"},
		{"empty host", strings.Replace(ok, "cmp.example.net", "", 1), "must be a DNS name or an IP literal"},
		{"zoned IP", strings.Replace(strings.Replace(ok, "mode=domain", "mode=ip", 1), "cmp.example.net", "fe80::1%eth0", 1), "must be a DNS name or an IP literal"},
		{"port 0", strings.Replace(ok, "10020", "0", 1), "1 to 65535"},
		{"port too big", strings.Replace(ok, "10020", "65536", 1), "1 to 65535"},
		{"port not a number", strings.Replace(ok, "10020", "https", 1), "1 to 65535"},
		{"port with sign", strings.Replace(ok, "10020", "+443", 1), "1 to 65535"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := agent.ParseOption148(tc.text)
			if err == nil {
				t.Fatalf("accepted as %+v", o)
			}
			if !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "option 148: ") {
				t.Fatalf("error %q, want it to name %q", err, tc.wantErr)
			}
		})
	}
}

// FuzzParseOption148: whatever the text, the parser does not panic, and
// what it accepts is an address the center itself would accept, which
// reads back unchanged from its canonical form.
func FuzzParseOption148(f *testing.F) {
	// testdata/fuzz/FuzzParseOption148 holds the seed corpus.
	f.Fuzz(func(t *testing.T, text string) {
		o, err := agent.ParseOption148(text)
		if err != nil {
			return
		}
		if err := regcenter.ValidateAddresses([]regcenter.Address{o.Address}); err != nil {
			t.Fatalf("%q accepted with an invalid address %+v: %v", text, o.Address, err)
		}
		if _, err := netip.ParseAddr(o.Address.Host); o.ByIP && err != nil {
			t.Fatalf("%q: ip mode with host %q", text, o.Address.Host)
		}
		again, err := agent.ParseOption148(o.String())
		if err != nil || again != o {
			t.Fatalf("%q: canonical form %q reads back as %+v, %v; want %+v", text, o.String(), again, err, o)
		}
	})
}

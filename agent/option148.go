package agent

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/regcenter/regcenter"
)

// Option148 is a parsed DHCP option 148, with which Huawei's DHCP servers
// point a switch straight at its cloud management platform:
//
//	agilemode=agile-cloud;agilemanage-mode=ip|domain;agilemanage-domain=ADDR;agilemanage-port=PORT
type Option148 struct {
	// ByIP is agilemanage-mode=ip: Address.Host is an IP literal.
	ByIP    bool
	Address regcenter.Address
}

// The keys of option 148.
const (
	opt148Mode       = "agilemode"
	opt148ManageMode = "agilemanage-mode"
	opt148Domain     = "agilemanage-domain"
	opt148Port       = "agilemanage-port"
)

// ParseOption148 parses option 148's text. Keys may come in any order,
// whitespace around keys, values and separators is ignored, and so are
// empty items (a trailing ';') and keys it does not know, which later
// firmware may add. Every key it knows must appear once; agilemode must be
// agile-cloud; agilemanage-domain must be a DNS name or an IP literal (an
// IP literal with agilemanage-mode=ip); the port must be 1-65535.
func ParseOption148(text string) (Option148, error) {
	vals := make(map[string]string, 4)
	for item := range strings.SplitSeq(text, ";") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		if !ok {
			return Option148{}, fmt.Errorf("option 148: item %q is not key=value", item)
		}
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		if _, dup := vals[k]; dup {
			return Option148{}, fmt.Errorf("option 148: %s given twice", k)
		}
		vals[k] = v
	}
	for _, k := range []string{opt148Mode, opt148ManageMode, opt148Domain, opt148Port} {
		if _, ok := vals[k]; !ok {
			return Option148{}, fmt.Errorf("option 148: %s is missing", k)
		}
	}
	if m := vals[opt148Mode]; !strings.EqualFold(m, "agile-cloud") {
		return Option148{}, fmt.Errorf("option 148: agilemode is %q, not agile-cloud", m)
	}
	var o Option148
	switch m := strings.ToLower(vals[opt148ManageMode]); m {
	case "ip":
		o.ByIP = true
	case "domain":
	default:
		return Option148{}, fmt.Errorf("option 148: agilemanage-mode is %q, not ip or domain", m)
	}
	o.Address.Host = vals[opt148Domain]
	if err := regcenter.ValidateHost(o.Address.Host); err != nil {
		return Option148{}, fmt.Errorf("option 148: agilemanage-domain: %w", err)
	}
	if _, err := netip.ParseAddr(o.Address.Host); o.ByIP && err != nil {
		return Option148{}, fmt.Errorf("option 148: agilemanage-mode is ip but agilemanage-domain %q is not an IP address", o.Address.Host)
	}
	// Digits only: Atoi alone would take "+443" and "-0".
	p := vals[opt148Port]
	port, err := strconv.Atoi(p)
	if err != nil || strings.Trim(p, "0123456789") != "" || port < 1 || port > 65535 {
		return Option148{}, errors.New("option 148: agilemanage-port must be 1 to 65535")
	}
	o.Address.Port = port
	return o, nil
}

// String returns the option's canonical text, which ParseOption148 reads
// back to the same value.
func (o Option148) String() string {
	mode := "domain"
	if o.ByIP {
		mode = "ip"
	}
	return fmt.Sprintf("%s=agile-cloud;%s=%s;%s=%s;%s=%d", opt148Mode, opt148ManageMode, mode, opt148Domain, o.Address.Host, opt148Port, o.Address.Port)
}

package main

import (
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"

	"github.com/regcenter/regcenter/pki"
)

// printDevCommands prints curl commands that walk the whole API with the
// sample certificates of --dev, ready to paste from the working directory.
func printDevCommands(w io.Writer, apiAddr, opsAddr string) {
	_, port, _ := net.SplitHostPort(apiAddr)
	base := "https://localhost:" + port
	dir := pki.Dir(devDir)
	esns := devDevices()
	platform := curlAuth(dir.CenterCACert(), dir.PlatformCert(devPlatform), dir.PlatformKey(devPlatform))
	device := curlAuth(dir.CenterCACert(), dir.DeviceCert(esns[0]), dir.DeviceKey(esns[0]))

	var devices []string
	for _, esn := range esns {
		devices = append(devices, fmt.Sprintf(`{"esn":"%s","device_type":"S5735-L24T4S-A"}`, esn))
	}
	steps := []struct{ what, cmd string }{
		{"A switch asks before anyone claimed it (404 not_claimed, Retry-After):",
			device + ` -H 'Content-Type: application/json' -d '{"esn":"` + esns[0] + `","device_type":"S5735-L24T4S-A","software_version":"V200R022C00","mode":"traditional"}' ` + base + "/v1/bootstrap"},
		{"The platform publishes its address information:",
			platform + ` -X PUT -H 'Content-Type: application/json' -d '{"addresses":[{"host":"cmp.example.net","port":10030}]}' ` + base + "/v1/platform"},
		{"It reads it back:", platform + " " + base + "/v1/platform"},
		{"It claims three switches (run it twice: the second answer says unchanged):",
			platform + ` -H 'Content-Type: application/json' -d '{"devices":[` + strings.Join(devices, ",") + `]}' ` + base + "/v1/devices"},
		{"It lists its devices, two a page (follow \"next\" with &after=ESN):", platform + " '" + base + "/v1/devices?limit=2'"},
		{"The switch asks again and learns where its platform is:",
			device + ` -H 'Content-Type: application/json' -d '{"esn":"` + esns[0] + `","device_type":"S5735-L24T4S-A","software_version":"V200R022C00","mode":"traditional"}' ` + base + "/v1/bootstrap"},
		{"A switch asking about another ESN is refused (403 esn_mismatch):",
			device + ` -H 'Content-Type: application/json' -d '{"esn":"` + esns[1] + `","mode":"traditional"}' ` + base + "/v1/bootstrap"},
		{"The platform sees the bootstrap (recorded within a second):", platform + " " + base + "/v1/devices/" + esns[0]},
		{"It releases a claim (204), so that another platform may claim the switch:", platform + " -X DELETE " + base + "/v1/devices/" + esns[2]},
		{"Operations: health, readiness, metrics (plain HTTP on the ops listener):", "curl -s http://" + opsAddr + "/readyz; curl -s http://" + opsAddr + "/metrics | grep ^regcenter_"},
	}
	fmt.Fprintf(w, "\nDevelopment mode: PKI and store in ./%s/. Try the API from this directory:\n", devDir)
	for i, s := range steps {
		fmt.Fprintf(w, "\n# %d. %s\n%s\n", i+1, s.what, s.cmd)
	}
	fmt.Fprintln(w)
}

func curlAuth(ca, cert, key string) string {
	return fmt.Sprintf("curl -sS --http2 --cacert %s --cert %s --key %s", filepath.ToSlash(ca), filepath.ToSlash(cert), filepath.ToSlash(key))
}

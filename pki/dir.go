package pki

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/regcenter/regcenter"
)

// Lifetimes of what this package issues. Device certificates stand in for
// IDevIDs, which live as long as the switch, so they last as long as their
// CA allows.
const (
	CAYears       = 10
	ServerYears   = 2
	PlatformYears = 2
	DeviceYears   = CAYears
)

// MaxFleetSize bounds IssueDevices: a mistyped count should not fill a disk.
const MaxFleetSize = 1_000_000

// Dir is the root of a PKI directory:
//
//	center-ca.crt, center-ca.key        signs the center's server certificate
//	platform-ca.crt, platform-ca.key    signs platforms' client certificates
//	device-ca.crt, device-ca.key        signs device certificates
//	center/server.crt, server.key       the center's server certificate
//	platforms/ID/client.crt, client.key a platform's client certificate
//	platforms/ID/server.crt, server.key a platform's server certificate
//	devices/ESN/device.crt, device.key  a device certificate
//
// A platform's directory also holds its own server certificate
// (platforms/ID/server.crt), which is why the client pair is not named
// after the platform.
//
// IDs and ESNs are used as single path elements: any byte other than
// A-Z a-z 0-9 '-' '_' '.', and a leading '.', is written as %XX, so that no
// ID can name a path outside its directory ("..", "a/b").
type Dir string

func (d Dir) path(elem ...string) string {
	return filepath.Join(append([]string{string(d)}, elem...)...)
}

// The CAs' files, at the root.
func (d Dir) CenterCACert() string   { return d.path("center-ca.crt") }
func (d Dir) CenterCAKey() string    { return d.path("center-ca.key") }
func (d Dir) PlatformCACert() string { return d.path("platform-ca.crt") }
func (d Dir) PlatformCAKey() string  { return d.path("platform-ca.key") }
func (d Dir) DeviceCACert() string   { return d.path("device-ca.crt") }
func (d Dir) DeviceCAKey() string    { return d.path("device-ca.key") }

// The center's server certificate and key.
func (d Dir) ServerCert() string { return d.path("center", "server.crt") }
func (d Dir) ServerKey() string  { return d.path("center", "server.key") }

// PlatformDir is the directory of everything issued to platform id.
func (d Dir) PlatformDir(id string) string { return d.path("platforms", pathElem(id)) }

// The client certificate and key of platform id.
func (d Dir) PlatformCert(id string) string { return filepath.Join(d.PlatformDir(id), "client.crt") }
func (d Dir) PlatformKey(id string) string  { return filepath.Join(d.PlatformDir(id), "client.key") }

// The server certificate and key of platform id: what switches verify
// the platform with, signed by the platform CA.
func (d Dir) PlatformServerCert(id string) string {
	return filepath.Join(d.PlatformDir(id), "server.crt")
}
func (d Dir) PlatformServerKey(id string) string {
	return filepath.Join(d.PlatformDir(id), "server.key")
}

// DeviceDir is the directory of the device with this ESN. A valid ESN is
// normalised first, so "p0001" and "P0001" are the same device.
func (d Dir) DeviceDir(esn string) string {
	if n, err := regcenter.NormalizeESN(esn); err == nil {
		esn = n
	}
	return d.path("devices", pathElem(esn))
}

// The device certificate and key of esn.
func (d Dir) DeviceCert(esn string) string { return filepath.Join(d.DeviceDir(esn), "device.crt") }
func (d Dir) DeviceKey(esn string) string  { return filepath.Join(d.DeviceDir(esn), "device.key") }

// pathElem escapes s into one safe path element; see Dir.
func pathElem(s string) string {
	safe := func(i int, c byte) bool {
		return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
			c == '-' || c == '_' || c == '.' && i > 0
	}
	i := 0
	for i < len(s) && safe(i, s[i]) {
		i++
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.WriteString(s[:i])
	for ; i < len(s); i++ {
		if c := s[i]; safe(i, c) {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// Init creates the three CAs (valid CAYears) and the center's server
// certificate for hosts (valid ServerYears). It refuses, with an error
// wrapping fs.ErrExist that names the file, when any file it would write
// already exists: replacing a CA silently would orphan every certificate
// it signed. Everything is generated before the first file is written, and
// files written before a failure are removed again.
func Init(dir Dir, hosts []string, now time.Time) error {
	type file struct {
		name string
		data []byte
		perm os.FileMode
	}
	var files []file
	add := func(kp KeyPair, certFile, keyFile string) {
		files = append(files, file{keyFile, kp.KeyPEM, 0o600}, file{certFile, kp.CertPEM, 0o644})
	}

	for _, name := range []string{
		dir.CenterCACert(), dir.CenterCAKey(), dir.PlatformCACert(), dir.PlatformCAKey(),
		dir.DeviceCACert(), dir.DeviceCAKey(), dir.ServerCert(), dir.ServerKey(),
	} {
		if err := refuseExisting("pki init", name); err != nil {
			return err
		}
	}

	caValidity := ValidFor(now, CAYears)
	var center *CA
	for _, c := range []struct{ name, certFile, keyFile string }{
		{"regcenter center CA", dir.CenterCACert(), dir.CenterCAKey()},
		{"regcenter platform CA", dir.PlatformCACert(), dir.PlatformCAKey()},
		{"regcenter device CA", dir.DeviceCACert(), dir.DeviceCAKey()},
	} {
		ca, err := NewCA(c.name, caValidity)
		if err != nil {
			return err
		}
		kp, err := ca.keyPair()
		if err != nil {
			return err
		}
		add(kp, c.certFile, c.keyFile)
		if center == nil { // the first one, which signs the server certificate
			center = ca
		}
	}
	server, err := center.IssueServer(hosts, ValidFor(now, ServerYears))
	if err != nil {
		return err
	}
	add(server, dir.ServerCert(), dir.ServerKey())

	// The root holds keys, and so does center/.
	if err := os.MkdirAll(string(dir), 0o700); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	for i, f := range files {
		err := os.MkdirAll(filepath.Dir(f.name), 0o700)
		if err != nil {
			err = fmt.Errorf("pki: %w", err)
		} else {
			err = writeFileAtomic(f.name, f.data, f.perm)
		}
		if err != nil {
			for _, done := range files[:i] {
				os.Remove(done.name)
			}
			return err
		}
	}
	return nil
}

func refuseExisting(op, name string) error {
	_, err := os.Lstat(name)
	switch {
	case err == nil:
		return &fs.PathError{Op: op, Path: name, Err: fs.ErrExist}
	case errors.Is(err, fs.ErrNotExist):
		return nil
	default:
		return fmt.Errorf("pki: %w", err)
	}
}

// IssuePlatform issues platform id's client certificate (valid
// PlatformYears) with the platform CA in dir. It refuses with an error
// wrapping fs.ErrExist when the platform already has one, and returns an
// error of kind regcenter.ErrInvalid for an invalid ID.
func IssuePlatform(dir Dir, id string, now time.Time) error {
	if err := regcenter.ValidatePlatformID(id); err != nil {
		return err
	}
	return issueWith(dir.PlatformCACert(), dir.PlatformCAKey(), dir.PlatformCert(id), dir.PlatformKey(id), func(ca *CA) (KeyPair, error) {
		return ca.IssuePlatform(id, ValidFor(now, PlatformYears))
	})
}

// issueWith issues one certificate with the CA in caCert and caKey and
// writes it to certFile and keyFile, refusing (fs.ErrExist) to replace an
// existing certificate.
func issueWith(caCert, caKey, certFile, keyFile string, issue func(*CA) (KeyPair, error)) error {
	if err := refuseExisting("pki issue", certFile); err != nil {
		return err
	}
	ca, err := LoadCA(caCert, caKey)
	if err != nil {
		return err
	}
	kp, err := issue(ca)
	if err != nil {
		return err
	}
	return kp.Write(certFile, keyFile)
}

// IssuePlatformServer issues platform id's TLS server certificate for
// hosts (valid ServerYears), signed by the platform CA in dir: the platform
// then publishes the platform CA as its trust anchor, and switches verify
// the platform with it. It refuses with an error wrapping fs.ErrExist when
// the platform already has one, and returns an error of kind
// regcenter.ErrInvalid for an invalid ID or host.
func IssuePlatformServer(dir Dir, id string, hosts []string, now time.Time) error {
	if err := regcenter.ValidatePlatformID(id); err != nil {
		return err
	}
	return issueWith(dir.PlatformCACert(), dir.PlatformCAKey(), dir.PlatformServerCert(id), dir.PlatformServerKey(id), func(ca *CA) (KeyPair, error) {
		return ca.IssueServer(hosts, ValidFor(now, ServerYears))
	})
}

// IssueDevice issues the device certificate of esn with the device CA in
// dir. It refuses with an error wrapping fs.ErrExist when the device
// already has one, and returns an error of kind regcenter.ErrInvalid for
// an invalid ESN.
func IssueDevice(dir Dir, esn string, now time.Time) error {
	n, err := regcenter.NormalizeESN(esn)
	if err != nil {
		return err
	}
	if err := refuseExisting("pki issue", dir.DeviceCert(n)); err != nil {
		return err
	}
	ca, err := LoadCA(dir.DeviceCACert(), dir.DeviceCAKey())
	if err != nil {
		return err
	}
	return issueDevice(ca, dir, n, now)
}

func issueDevice(ca *CA, dir Dir, esn string, now time.Time) error {
	kp, err := ca.IssueDevice(esn, ValidFor(now, DeviceYears))
	if err != nil {
		return err
	}
	return kp.Write(dir.DeviceCert(esn), dir.DeviceKey(esn))
}

// FleetESNs returns the ESNs of a fleet of count devices: prefix followed
// by the index, zero-padded to at least four digits so that the ESNs sort
// in index order (P0000 ... P0099). It returns an error of kind
// regcenter.ErrInvalid when count is out of range or an ESN would be
// invalid.
func FleetESNs(prefix string, count int) ([]string, error) {
	if count < 1 || count > MaxFleetSize {
		return nil, invalidf("fleet size must be 1 to %d", MaxFleetSize)
	}
	width := max(4, len(strconv.Itoa(count-1)))
	esns := make([]string, count)
	for i := range esns {
		n, err := regcenter.NormalizeESN(fmt.Sprintf("%s%0*d", prefix, width, i))
		if err != nil {
			return nil, fmt.Errorf("ESN prefix %q: %w", prefix, err)
		}
		esns[i] = n
	}
	return esns, nil
}

// IssueDevices issues certificates for the fleet FleetESNs(prefix, count)
// and returns, in order, the ESNs it issued. Devices that already have a
// certificate are skipped, so running it again is cheap and completes an
// interrupted run. The device CA is loaded once; devices are issued in
// parallel. On an error (or when ctx ends) it returns what it issued so
// far with the error.
func IssueDevices(ctx context.Context, dir Dir, prefix string, count int, now time.Time) ([]string, error) {
	esns, err := FleetESNs(prefix, count)
	if err != nil {
		return nil, err
	}
	ca, err := LoadCA(dir.DeviceCACert(), dir.DeviceCAKey())
	if err != nil {
		return nil, err
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	issued := make([]bool, len(esns))
	next := make(chan int)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range next {
				esn := esns[i]
				_, err := os.Lstat(dir.DeviceCert(esn))
				if err == nil {
					continue
				}
				if errors.Is(err, fs.ErrNotExist) {
					err = issueDevice(ca, dir, esn, now)
				}
				if err != nil {
					cancel(fmt.Errorf("pki: device %s: %w", esn, err))
					return
				}
				issued[i] = true
			}
		})
	}
feed:
	for i := range esns {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()

	var done []string
	for i, ok := range issued {
		if ok {
			done = append(done, esns[i])
		}
	}
	return done, context.Cause(ctx)
}

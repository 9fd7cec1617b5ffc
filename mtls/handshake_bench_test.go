package mtls_test

import (
	"crypto/ecdh"
	"crypto/mlkem"
	"crypto/rand"
	"crypto/tls"
	"net"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/regcenter/regcenter/mtls"
)

// kexCases are the key exchanges the center can be configured with.
var kexCases = []struct {
	name        string
	postQuantum bool
	want        tls.CurveID
}{
	{"X25519", false, tls.X25519},
	{"X25519MLKEM768", true, tls.X25519MLKEM768},
}

// BenchmarkHandshake measures full mutual-TLS 1.3 handshakes (ECDSA P-256
// certificates on both sides, session tickets issued, no resumption) over
// net.Pipe, with the classical and the hybrid post-quantum key exchange.
//
// ns/op is client and server together. server-µs/op (Linux only) is the
// median CPU time of the server's side of one handshake, the figure that
// sizes the center (docs/decisions/0003-tls-key-exchange.md). The
// "interleaved" case alternates the two exchanges handshake by handshake,
// so that other load on the machine weighs on both alike, and reports
// their ratio.
func BenchmarkHandshake(b *testing.B) {
	f := newPKI(b)
	client := mtls.ClientConfig(f.device(b, "SW-BENCH"), f.roots)
	client.ServerName = "localhost"
	// A client offering both, as current browsers and Go clients do: the
	// server's configuration alone decides.
	client.CurvePreferences = mtls.CurvePreferences(true)
	servers := make([]*tls.Config, len(kexCases))
	for i, k := range kexCases {
		servers[i] = f.auth.ServerConfig(mtls.ServerOptions{Certificate: f.serverCert, PostQuantum: k.postQuantum})
	}

	for i, k := range kexCases {
		b.Run(k.name, func(b *testing.B) {
			cpu := runHandshakes(b, client, servers, func(int) int { return i })
			if med, ok := median(cpu[i]); ok {
				b.ReportMetric(med, "server-µs/op")
			}
		})
	}
	b.Run("interleaved", func(b *testing.B) {
		cpu := runHandshakes(b, client, servers, func(n int) int { return n % len(servers) })
		classical, ok1 := median(cpu[0])
		hybrid, ok2 := median(cpu[1])
		if ok1 && ok2 {
			b.ReportMetric(classical, "x25519-server-µs/op")
			b.ReportMetric(hybrid, "mlkem-server-µs/op")
			b.ReportMetric(hybrid/classical, "server-cpu-ratio")
		}
	})
}

// runHandshakes runs one handshake per benchmark iteration, the n-th with
// servers[pick(n)], and returns the server's CPU time of each handshake
// (in µs) by server configuration.
func runHandshakes(b *testing.B, client *tls.Config, servers []*tls.Config, pick func(n int) int) [][]float64 {
	type job struct {
		conn net.Conn
		cfg  int
	}
	jobs := make(chan job)
	type result struct {
		cpu [][]float64
		err error
	}
	done := make(chan result)
	go func() {
		// Locked, so that the thread's CPU time is this goroutine's.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		res := result{cpu: make([][]float64, len(servers))}
		for j := range jobs {
			start, ok := threadCPU()
			c := tls.Server(j.conn, servers[j.cfg])
			if err := c.Handshake(); err != nil && res.err == nil {
				res.err = err
			}
			c.Close()
			if end, ok2 := threadCPU(); ok && ok2 {
				res.cpu[j.cfg] = append(res.cpu[j.cfg], float64(end-start)/float64(time.Microsecond))
			}
		}
		done <- res
	}()

	buf := make([]byte, 1)
	n := 0
	for b.Loop() {
		cfg := pick(n)
		cc, sc := net.Pipe()
		jobs <- job{sc, cfg}
		c := tls.Client(cc, client)
		if err := c.Handshake(); err != nil {
			b.Fatal(err)
		}
		if got, want := c.ConnectionState().CurveID, kexCases[cfg].want; got != want {
			b.Fatalf("negotiated %v, want %v", got, want)
		}
		// Reads the session tickets, then the server's close_notify.
		c.Read(buf)
		c.Close()
		n++
	}
	close(jobs)
	res := <-done
	if res.err != nil {
		b.Fatal(res.err)
	}
	return res.cpu
}

func median(xs []float64) (float64, bool) {
	if len(xs) == 0 {
		return 0, false
	}
	xs = slices.Clone(xs)
	slices.Sort(xs)
	return xs[len(xs)/2], true
}

// BenchmarkServerKeyShare isolates what the key exchange costs the server
// in one handshake: X25519 is a key generation and a Diffie-Hellman;
// X25519MLKEM768 adds parsing the client's ML-KEM-768 encapsulation key
// and encapsulating to it.
func BenchmarkServerKeyShare(b *testing.B) {
	clientX, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	clientShare := clientX.PublicKey().Bytes()
	dk, err := mlkem.GenerateKey768()
	if err != nil {
		b.Fatal(err)
	}
	clientEK := dk.EncapsulationKey().Bytes()

	x25519 := func(b *testing.B) {
		k, err := ecdh.X25519().GenerateKey(rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		peer, err := ecdh.X25519().NewPublicKey(clientShare)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := k.ECDH(peer); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("X25519", func(b *testing.B) {
		for b.Loop() {
			x25519(b)
		}
	})
	b.Run("X25519MLKEM768", func(b *testing.B) {
		for b.Loop() {
			x25519(b)
			ek, err := mlkem.NewEncapsulationKey768(clientEK)
			if err != nil {
				b.Fatal(err)
			}
			ek.Encapsulate()
		}
	})
}

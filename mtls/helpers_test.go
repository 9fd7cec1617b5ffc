package mtls_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/regcenter/regcenter/mtls"
	"github.com/regcenter/regcenter/pki"
)

// pkiFixture is a PKI like the one `regcenter pki init` makes, in memory.
type pkiFixture struct {
	center, platformCA, deviceCA *pki.CA
	auth                         *mtls.Authority
	serverCert                   tls.Certificate
	roots                        *x509.CertPool // trusts the center CA
}

func newPKI(tb testing.TB) *pkiFixture {
	tb.Helper()
	// Backdated, so that certificates can be issued already expired.
	v := pki.ValidFor(time.Now().AddDate(-1, 0, 0), 10)
	f := &pkiFixture{
		center:     newCA(tb, "test center CA", v),
		platformCA: newCA(tb, "test platform CA", v),
		deviceCA:   newCA(tb, "test device CA", v),
		roots:      x509.NewCertPool(),
	}
	f.roots.AddCert(f.center.Cert)
	var err error
	f.auth, err = mtls.NewAuthority([]*x509.Certificate{f.platformCA.Cert}, []*x509.Certificate{f.deviceCA.Cert})
	if err != nil {
		tb.Fatal(err)
	}
	kp, err := f.center.IssueServer([]string{"localhost", "127.0.0.1"}, pki.ValidFor(time.Now(), 1))
	if err != nil {
		tb.Fatal(err)
	}
	f.serverCert = tlsCert(tb, kp)
	return f
}

func newCA(tb testing.TB, name string, v pki.Validity) *pki.CA {
	tb.Helper()
	ca, err := pki.NewCA(name, v)
	if err != nil {
		tb.Fatal(err)
	}
	return ca
}

func tlsCert(tb testing.TB, kp pki.KeyPair) tls.Certificate {
	tb.Helper()
	c, err := kp.TLSCertificate()
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func (f *pkiFixture) platform(tb testing.TB, id string) tls.Certificate {
	tb.Helper()
	kp, err := f.platformCA.IssuePlatform(id, pki.ValidFor(time.Now(), 1))
	if err != nil {
		tb.Fatal(err)
	}
	return tlsCert(tb, kp)
}

func (f *pkiFixture) device(tb testing.TB, esn string) tls.Certificate {
	tb.Helper()
	kp, err := f.deviceCA.IssueDevice(esn, pki.ValidFor(time.Now(), 1))
	if err != nil {
		tb.Fatal(err)
	}
	return tlsCert(tb, kp)
}

// custom signs a client certificate with any subject, for what pki would
// refuse to issue (an invalid ESN, a device certificate with a CN only).
func custom(tb testing.TB, ca *pki.CA, subject pkix.Name, usage x509.ExtKeyUsage, notAfter time.Time) tls.Certificate {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      subject,
		NotBefore:    ca.Cert.NotBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	return tlsCert(tb, pki.KeyPair{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	})
}

type failure struct {
	reason string
	remote net.Addr
	err    error
}

// testServer is a real TLS listener on 127.0.0.1 through mtls.NewListener;
// accepted connections and reported failures arrive on channels.
type testServer struct {
	ln       net.Listener
	accepted chan *tls.Conn
	failures chan failure
}

func serve(tb testing.TB, cfg *tls.Config, timeout time.Duration) *testServer {
	tb.Helper()
	return serveWith(tb, func(inner net.Listener, onFailure func(string, net.Addr, error)) net.Listener {
		return mtls.NewListener(inner, cfg, timeout, onFailure)
	})
}

func serveWith(tb testing.TB, newListener func(net.Listener, func(string, net.Addr, error)) net.Listener) *testServer {
	tb.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &testServer{accepted: make(chan *tls.Conn, 16), failures: make(chan failure, 16)}
	s.ln = newListener(inner, func(reason string, remote net.Addr, err error) {
		s.failures <- failure{reason, remote, err}
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := s.ln.Accept()
			if err != nil {
				return
			}
			s.accepted <- c.(*tls.Conn)
		}
	}()
	tb.Cleanup(func() {
		s.ln.Close()
		<-done
		close(s.accepted)
		for c := range s.accepted {
			c.Close()
		}
	})
	return s
}

func (s *testServer) addr() string { return s.ln.Addr().String() }

// dial connects with cfg and completes the client's side of the handshake.
// In TLS 1.3 the server judges the client's certificate after the client's
// handshake has finished, so a rejection shows in a later read, not here.
func (s *testServer) dial(tb testing.TB, cfg *tls.Config) (*tls.Conn, error) {
	tb.Helper()
	d := tls.Dialer{Config: cfg, NetDialer: &net.Dialer{Timeout: 5 * time.Second}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", s.addr())
	if err != nil {
		return nil, err
	}
	tb.Cleanup(func() { c.Close() })
	return c.(*tls.Conn), nil
}

func (s *testServer) nextAccepted(tb testing.TB) *tls.Conn {
	tb.Helper()
	select {
	case c := <-s.accepted:
		return c
	case f := <-s.failures:
		tb.Fatalf("handshake failed on the server: %s: %v", f.reason, f.err)
	case <-time.After(5 * time.Second):
		tb.Fatal("no connection accepted")
	}
	return nil
}

func (s *testServer) nextFailure(tb testing.TB) failure {
	tb.Helper()
	select {
	case f := <-s.failures:
		return f
	case c := <-s.accepted:
		cs := c.ConnectionState()
		tb.Fatalf("server accepted a connection it should have refused (version %x, peer %v)", cs.Version, subjects(cs.PeerCertificates))
	case <-time.After(5 * time.Second):
		tb.Fatal("no handshake failure reported")
	}
	return failure{}
}

func subjects(certs []*x509.Certificate) []string {
	var s []string
	for _, c := range certs {
		s = append(s, c.Subject.String())
	}
	return s
}

package mtls

import "crypto/x509"

// LoadPool reads a PEM bundle of CAs, as strictly as LoadCertificates,
// into a pool of roots: what every client of the project trusts its server
// with (a switch its center, a platform its center, a load generator the
// center it measures).
func LoadPool(file string) (*x509.CertPool, error) {
	cas, err := LoadCertificates(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range cas {
		pool.AddCert(c)
	}
	return pool, nil
}

package loadgen

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
)

// BaselineAnswer is the baseline server's constant body: the center's
// answer to switch esn, encoded as the center encodes it (json.Encoder,
// with its trailing newline), so that both servers send the same bytes.
func BaselineAnswer(esn, trustAnchor string) []byte {
	var b bytes.Buffer
	if err := json.NewEncoder(&b).Encode(BootstrapAnswer(esn, trustAnchor)); err != nil {
		panic(err) // strings only: cannot fail
	}
	return b.Bytes()
}

// BaselineHandler answers every POST with answer, after reading the
// request's body as any server must, and refuses other methods. It does
// nothing else: the difference between the center and it is everything
// the center does beyond TLS and HTTP/2.
func BaselineHandler(answer []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(answer)
	})
}

// Baseline is the bare server the center is measured against: a plain,
// default-configured net/http server with the center's TLS configuration.
// Nothing tunes it, on purpose: no timeouts, no handshaking listener, the
// default HTTP/2 settings. What it costs is what TLS and HTTP/2 cost.
type Baseline struct {
	srv *http.Server
	ln  net.Listener
}

// ListenBaseline binds addr; tlsConfig is the center's
// (mtls.Authority.ServerConfig), answer the constant body.
func ListenBaseline(addr string, tlsConfig *tls.Config, answer []byte) (*Baseline, error) {
	if tlsConfig == nil {
		return nil, errors.New("loadgen: the baseline needs the center's TLS configuration")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &Baseline{srv: &http.Server{Handler: BaselineHandler(answer), TLSConfig: tlsConfig}, ln: ln}, nil
}

// Addr is the bound address, with the real port when :0 was asked.
func (b *Baseline) Addr() string { return b.ln.Addr().String() }

// Serve answers until Shutdown, and then returns nil.
func (b *Baseline) Serve() error {
	err := b.srv.ServeTLS(b.ln, "", "")
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting and waits for requests in flight until ctx
// ends, then closes what is left.
func (b *Baseline) Shutdown(ctx context.Context) error {
	err := b.srv.Shutdown(ctx)
	if err != nil {
		b.srv.Close()
	}
	return err
}

package httpapi

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/regcenter/regcenter/mtls"
)

// ServerConfig describes one listener and what it serves.
type ServerConfig struct {
	Addr    string
	Handler http.Handler
	// TLS, when set, makes this an HTTPS server whose handshakes complete
	// before net/http sees the connection, so that every refused handshake
	// is counted by reason. Nil serves plain HTTP (the operations listener).
	TLS                *tls.Config
	OnHandshakeFailure func(reason string, remote net.Addr, err error)
	Logger             *slog.Logger
}

// Timeouts and bounds of every server. An upload of 10,000 devices takes
// well under a second on loopback; the read timeout leaves room for slow
// links without letting a client hold a stream open forever.
const (
	handshakeTimeout  = 10 * time.Second
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 60 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 5 * time.Minute
	maxHeaderBytes    = 16 << 10
)

// Server is a running listener. Listen binds synchronously so that a bad
// address fails at once and tests can bind :0 and read the port back.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// Listen binds cfg.Addr.
func Listen(cfg ServerConfig) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{
		Handler:           cfg.Handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams: 250,
			// Dead peers (a switch that lost power) are found by pings
			// rather than left holding a connection until IdleTimeout.
			SendPingTimeout: time.Minute,
			PingTimeout:     15 * time.Second,
		},
	}
	if cfg.TLS != nil {
		srv.TLSConfig = cfg.TLS
		onFailure := cfg.OnHandshakeFailure
		if onFailure == nil {
			onFailure = func(string, net.Addr, error) {}
		}
		ln = mtls.NewListener(ln, cfg.TLS, handshakeTimeout, onFailure)
	}
	return &Server{srv: srv, ln: ln}, nil
}

// Addr is the bound address (with the real port when :0 was asked).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve answers until Shutdown; it then returns nil.
func (s *Server) Serve() error {
	err := s.srv.Serve(s.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting, lets requests in flight finish until ctx ends,
// then closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close()
	}
	return err
}

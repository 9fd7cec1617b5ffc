package httpapi

import (
	"crypto/tls"
	"log/slog"
	"net/http"
	"time"

	"github.com/regcenter/regcenter"
)

// callerHandler serves an authenticated request. A returned error is
// rendered by writeError; the handler writes only successful answers.
type callerHandler func(w http.ResponseWriter, r *http.Request, caller regcenter.Identity) error

// authenticated resolves the caller from the TLS chain and refuses the
// wrong role before the body is read, so that a device cannot make the
// center parse an 8 MiB upload.
func authenticated(identify func(*tls.ConnectionState) (regcenter.Identity, error), role regcenter.Role, log *slog.Logger, h callerHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			WriteError(w, r, log, regcenter.Errorf(regcenter.ErrForbidden, regcenter.CodeForbidden, "a client certificate is required"))
			return
		}
		caller, err := identify(r.TLS)
		if err != nil {
			log.Warn("unidentifiable client", "remote", r.RemoteAddr, "err", err)
			WriteError(w, r, log, regcenter.Errorf(regcenter.ErrForbidden, regcenter.CodeForbidden, "the client certificate does not identify a platform or a device"))
			return
		}
		if err := caller.Require(role); err != nil {
			WriteError(w, r, log, err)
			return
		}
		if err := h(w, r, caller); err != nil {
			WriteError(w, r, log, err)
		}
	})
}

func requireHTTP2(next http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			WriteError(w, r, log, regcenter.Errorf(errHTTPVersion, codeHTTP2Required,
				"this center speaks only HTTP/2: negotiate \"h2\" with ALPN (curl --http2)"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// observe counts every request by the pattern that served it. The pattern
// is known only after the mux ran, which sets it on the same request.
func observe(next http.Handler, m Metrics) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		route := r.Pattern
		if route == "" || route == "/" {
			route = "unmatched"
		}
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		m.ObserveRequest(route, rec.status, time.Since(start))
	})
}

// recoverPanics turns a handler's panic into a logged 500, so that one bad
// request never takes a connection's other streams down with it.
func recoverPanics(next http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.Error("handler panicked", "route", r.Pattern, "panic", v)
				WriteError(w, r, log, regcenter.Errorf(nil, codeInternal, "internal error"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

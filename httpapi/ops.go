package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/regcenter/regcenter"
)

// NewOpsHandler serves the operations endpoints on their own listener:
// liveness, readiness (the store answers within a second), and metrics.
// It is plain HTTP and never behind client certificates, so that probes
// and scrapers need no credentials; bind it to loopback or a private net.
//
// With profiling, /debug/pprof/ serves the Go runtime's profiles, for an
// operator who must find where the CPU goes under load.
func NewOpsHandler(ping func(context.Context) error, metrics http.Handler, profiling bool, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		defer cancel()
		if err := ping(ctx); err != nil {
			log.Warn("not ready: store does not answer", "err", err)
			WriteError(w, r, log, &regcenter.Error{Kind: regcenter.ErrUnavailable, Code: regcenter.CodeStoreUnavailable,
				Detail: "the store does not answer", RetryAfter: storeRetryAfter})
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", metrics)
	if profiling {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}

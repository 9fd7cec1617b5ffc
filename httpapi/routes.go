package httpapi

import (
	"crypto/tls"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/regcenter/regcenter"
)

// Config holds what the API handler needs.
type Config struct {
	Service *regcenter.Service
	// Identify derives the caller from the verified TLS chain.
	Identify  func(*tls.ConnectionState) (regcenter.Identity, error)
	Metrics   Metrics      // default NopMetrics
	Logger    *slog.Logger // default discards
	HTTP2Only bool         // refuse HTTP/1.x requests with 505
	// EventPoll is how often an events stream looks for new events
	// (default 1s).
	EventPoll time.Duration
	// Shutdown, closed when the server begins to shut down, ends the
	// long-lived streams so that the drain does not wait for them.
	Shutdown <-chan struct{}
}

// route is one entry of the API: who may call it and what answers.
type route struct {
	method, path string
	role         regcenter.Role
	handler      callerHandler
}

// NewHandler returns the center's API. This table is the whole API surface.
func NewHandler(cfg Config) http.Handler {
	if cfg.Metrics == nil {
		cfg.Metrics = NopMetrics{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.EventPoll <= 0 {
		cfg.EventPoll = time.Second
	}
	svc, m, log := cfg.Service, cfg.Metrics, cfg.Logger

	routes := []route{
		// Platforms: their address information and their devices.
		{"PUT", "/v1/platform", regcenter.RolePlatform, handlePutPlatform(svc, log)},
		{"GET", "/v1/platform", regcenter.RolePlatform, handleGetPlatform(svc, log)},
		{"POST", "/v1/devices", regcenter.RolePlatform, handleUploadDevices(svc, m, log)},
		{"GET", "/v1/devices", regcenter.RolePlatform, handleListDevices(svc, log)},
		{"GET", "/v1/devices/{esn}", regcenter.RolePlatform, handleGetDevice(svc, log)},
		{"DELETE", "/v1/devices/{esn}", regcenter.RolePlatform, handleDeleteDevice(svc, m)},
		{"GET", "/v1/events", regcenter.RolePlatform, handleEvents(svc, cfg.EventPoll, cfg.Shutdown, log)},

		// Switches: where is my platform?
		{"POST", "/v1/bootstrap", regcenter.RoleDevice, handleBootstrap(svc, m, log)},
	}

	table := make([]Route, len(routes))
	for i, rt := range routes {
		table[i] = Route{rt.method, rt.path, authenticated(cfg.Identify, rt.role, log, rt.handler)}
	}
	mux := NewMux(table, log)

	var h http.Handler = mux
	if cfg.HTTP2Only {
		h = requireHTTP2(h, log)
	}
	return recoverPanics(observe(h, m), log)
}

// Route is one entry of an API's table.
type Route struct {
	Method, Path string
	Handler      http.Handler
}

// NewMux serves an API's table. Every refusal is problem details: an
// unknown path is 404 not_found, a known path with another method 405
// with an Allow header (the mux's own answers would be plain text).
func NewMux(routes []Route, log *slog.Logger) *http.ServeMux {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	allowed := map[string][]string{}
	var paths []string
	for _, rt := range routes {
		mux.Handle(rt.Method+" "+rt.Path, rt.Handler)
		if _, ok := allowed[rt.Path]; !ok {
			paths = append(paths, rt.Path)
		}
		allowed[rt.Path] = append(allowed[rt.Path], rt.Method)
	}
	// Method-less patterns are less specific than the ones above, so they
	// catch only the methods a path does not serve.
	for _, path := range paths {
		mux.Handle(path, methodNotAllowed(allowed[path], log))
	}
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, r, log, regcenter.Errorf(regcenter.ErrNotFound, regcenter.CodeNotFound, "no such resource"))
	}))
	return mux
}

func methodNotAllowed(methods []string, log *slog.Logger) http.Handler {
	allow := strings.Join(methods, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		WriteError(w, r, log, regcenter.Errorf(errMethodNotAllowed, codeMethodNotAllowed, "%s allows only %s", r.URL.Path, allow))
	})
}

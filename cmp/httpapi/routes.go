package httpapi

import (
	"crypto/tls"
	"log/slog"
	"net/http"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/cmp"
)

// NewDeviceHandler returns the API switches call, over mutual TLS with a
// device certificate (mtls.NewDeviceAuthority's ServerConfig). identify
// reads the caller from the verified chain.
func NewDeviceHandler(svc *cmp.Service, identify func(*tls.ConnectionState) (regcenter.Identity, error), log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /v1/register", device(identify, log, handleRegister(svc, log)))
	mux.Handle("POST /v1/heartbeat", device(identify, log, handleHeartbeat(svc, log)))
	return mux
}

// NewAdminHandler returns the administrator's API. It has no
// authentication: serve it on a loopback or otherwise private listener.
func NewAdminHandler(svc *cmp.Service, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /admin/devices", handleImport(svc, log))         // text/csv or application/json
	mux.Handle("GET /admin/devices", handleList(svc, log))            // cmpwire.AdminDevices
	mux.Handle("DELETE /admin/devices/{esn}", handleDelete(svc, log)) // 204, and released at the center
	return mux
}

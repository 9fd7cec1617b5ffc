package httpapi

import (
	"crypto/tls"
	"log/slog"
	"net/http"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/cmp"
	"github.com/regcenter/regcenter/httpapi"
)

// NewDeviceHandler returns the API switches call, over mutual TLS with a
// device certificate (mtls.NewDeviceAuthority's ServerConfig). identify
// reads the caller from the verified chain.
func NewDeviceHandler(svc *cmp.Service, identify func(*tls.ConnectionState) (regcenter.Identity, error), log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return httpapi.NewMux([]httpapi.Route{
		{Method: "POST", Path: "/v1/register", Handler: device(identify, log, handleRegister(svc, log))},
		{Method: "POST", Path: "/v1/heartbeat", Handler: device(identify, log, handleHeartbeat(svc, log))},
	}, log)
}

// NewAdminHandler returns the administrator's API. It has no
// authentication: serve it on a loopback or otherwise private listener.
func NewAdminHandler(svc *cmp.Service, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return httpapi.NewMux([]httpapi.Route{
		{Method: "POST", Path: "/admin/devices", Handler: handleImport(svc, log)},         // text/csv or application/json
		{Method: "GET", Path: "/admin/devices", Handler: handleList(svc, log)},            // cmpwire.AdminDevices
		{Method: "DELETE", Path: "/admin/devices/{esn}", Handler: handleDelete(svc, log)}, // 204, and released at the center
	}, log)
}

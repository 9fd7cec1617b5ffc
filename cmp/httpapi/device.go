package httpapi

import (
	"crypto/tls"
	"log/slog"
	"net/http"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/cmp"
	"github.com/regcenter/regcenter/cmp/cmpwire"
	"github.com/regcenter/regcenter/httpapi"
)

// maxDeviceBody bounds a register or heartbeat body: a few short fields.
const maxDeviceBody = 16 << 10

// deviceHandler serves a request of an identified switch; a returned
// error is rendered as problem details.
type deviceHandler func(w http.ResponseWriter, r *http.Request, caller regcenter.Identity) error

// device reads the caller from the verified chain before anything else.
// The handshake already refused anything but a device certificate; this
// is the identity the Service checks the ESN against.
func device(identify func(*tls.ConnectionState) (regcenter.Identity, error), log *slog.Logger, h deviceHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var caller regcenter.Identity
		var err error = regcenter.Errorf(regcenter.ErrForbidden, regcenter.CodeForbidden, "a device certificate is required")
		if r.TLS != nil {
			if id, ierr := identify(r.TLS); ierr == nil {
				caller, err = id, nil
			} else {
				log.Warn("unidentifiable client", "remote", r.RemoteAddr, "err", ierr)
			}
		}
		if err == nil {
			err = h(w, r, caller)
		}
		if err != nil {
			httpapi.WriteError(w, r, log, err)
		}
	})
}

// intervalSeconds is the heartbeat interval in whole seconds, at least
// one: what the wire can say.
func intervalSeconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}

func handleRegister(svc *cmp.Service, log *slog.Logger) deviceHandler {
	return func(w http.ResponseWriter, r *http.Request, caller regcenter.Identity) error {
		var req cmpwire.RegisterRequest
		if err := httpapi.DecodeJSON(w, r, maxDeviceBody, &req); err != nil {
			return err
		}
		reg, err := svc.Register(r.Context(), caller, cmp.Registration{
			ESN: req.ESN, DeviceType: req.DeviceType, SoftwareVersion: req.SoftwareVersion, RemoteAddr: r.RemoteAddr,
		})
		if err != nil {
			return err
		}
		log.Info("switch registered", "esn", reg.ESN, "remote", reg.RemoteAddr, "software_version", reg.SoftwareVersion)
		httpapi.WriteJSON(w, r, log, http.StatusOK, cmpwire.RegisterResponse{
			ESN: reg.ESN, PlatformID: svc.PlatformID(), RegisteredAt: reg.At,
			HeartbeatIntervalSeconds: intervalSeconds(svc.HeartbeatInterval()),
		})
		return nil
	}
}

func handleHeartbeat(svc *cmp.Service, log *slog.Logger) deviceHandler {
	return func(w http.ResponseWriter, r *http.Request, caller regcenter.Identity) error {
		var req cmpwire.HeartbeatRequest
		if err := httpapi.DecodeJSON(w, r, maxDeviceBody, &req); err != nil {
			return err
		}
		if err := svc.Heartbeat(r.Context(), caller, req.ESN); err != nil {
			return err
		}
		httpapi.WriteJSON(w, r, log, http.StatusOK, cmpwire.HeartbeatResponse{HeartbeatIntervalSeconds: intervalSeconds(svc.HeartbeatInterval())})
		return nil
	}
}

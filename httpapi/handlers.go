package httpapi

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/wire"
)

// Body limits. An upload of MaxUploadDevices devices with typical fields
// is under 1 MiB; 8 MiB leaves room for per-device addresses.
const (
	maxPlatformBody  = 2*regcenter.MaxTrustAnchorSize + 16<<10
	maxUploadBody    = 8 << 20
	maxBootstrapBody = 16 << 10
)

func handlePutPlatform(svc *regcenter.Service, log *slog.Logger) callerHandler {
	return func(w http.ResponseWriter, r *http.Request, caller regcenter.Identity) error {
		var req wire.PutPlatformRequest
		if err := DecodeJSON(w, r, maxPlatformBody, &req); err != nil {
			return err
		}
		p, err := svc.PutPlatform(r.Context(), caller, req.Addresses, req.TrustAnchor)
		if err != nil {
			return err
		}
		WriteJSON(w, r, log, http.StatusOK, wire.FromPlatform(p))
		return nil
	}
}

func handleGetPlatform(svc *regcenter.Service, log *slog.Logger) callerHandler {
	return func(w http.ResponseWriter, r *http.Request, caller regcenter.Identity) error {
		p, err := svc.Platform(r.Context(), caller)
		if err != nil {
			return err
		}
		WriteJSON(w, r, log, http.StatusOK, wire.FromPlatform(p))
		return nil
	}
}

func handleUploadDevices(svc *regcenter.Service, metrics Metrics, log *slog.Logger) callerHandler {
	return func(w http.ResponseWriter, r *http.Request, caller regcenter.Identity) error {
		var req wire.UploadRequest
		if err := DecodeJSON(w, r, maxUploadBody, &req); err != nil {
			return err
		}
		report, err := svc.UploadDevices(r.Context(), caller, req.Domain())
		if err != nil {
			return err
		}
		metrics.DevicesClaimed(report.Counts.Created)
		WriteJSON(w, r, log, http.StatusOK, wire.FromUploadReport(report))
		return nil
	}
}

func handleListDevices(svc *regcenter.Service, log *slog.Logger) callerHandler {
	return func(w http.ResponseWriter, r *http.Request, caller regcenter.Identity) error {
		q := r.URL.Query()
		for name := range q {
			if name != "limit" && name != "after" {
				return regcenter.Errorf(regcenter.ErrInvalid, regcenter.CodeInvalid, "unknown query parameter %q", name)
			}
		}
		limit := 0
		if s := q.Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil {
				return regcenter.Errorf(regcenter.ErrInvalid, regcenter.CodeInvalid, "limit must be a whole number")
			}
			limit = n
		}
		page, err := svc.Devices(r.Context(), caller, q.Get("after"), limit)
		if err != nil {
			return err
		}
		WriteJSON(w, r, log, http.StatusOK, wire.FromDevicePage(page))
		return nil
	}
}

func handleGetDevice(svc *regcenter.Service, log *slog.Logger) callerHandler {
	return func(w http.ResponseWriter, r *http.Request, caller regcenter.Identity) error {
		d, err := svc.Device(r.Context(), caller, r.PathValue("esn"))
		if err != nil {
			return err
		}
		WriteJSON(w, r, log, http.StatusOK, wire.FromDevice(d))
		return nil
	}
}

func handleDeleteDevice(svc *regcenter.Service, metrics Metrics) callerHandler {
	return func(w http.ResponseWriter, r *http.Request, caller regcenter.Identity) error {
		if err := svc.ReleaseDevice(r.Context(), caller, r.PathValue("esn")); err != nil {
			return err
		}
		metrics.DevicesReleased(1)
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

func handleBootstrap(svc *regcenter.Service, metrics Metrics, log *slog.Logger) callerHandler {
	return func(w http.ResponseWriter, r *http.Request, caller regcenter.Identity) error {
		var req wire.BootstrapRequest
		if err := DecodeJSON(w, r, maxBootstrapBody, &req); err != nil {
			metrics.BootstrapOutcome("invalid")
			return err
		}
		ans, err := svc.Bootstrap(r.Context(), caller, regcenter.BootstrapRequest(req))
		if err != nil {
			metrics.BootstrapOutcome(bootstrapOutcome(err))
			return err
		}
		metrics.BootstrapOutcome("answered")
		WriteJSON(w, r, log, http.StatusOK, wire.FromBootstrapAnswer(ans))
		return nil
	}
}

func bootstrapOutcome(err error) string {
	e, ok := regcenter.AsError(err)
	switch {
	case ok && e.Code == regcenter.CodeNotClaimed:
		return "not_claimed"
	case ok && e.Code == regcenter.CodeESNMismatch:
		return "mismatch"
	case errors.Is(err, regcenter.ErrInvalid):
		return "invalid"
	default:
		return "error"
	}
}

package httpapi

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/regcenter/regcenter"
)

// Body limits. An upload of MaxUploadDevices devices with typical fields
// is under 1 MiB; 8 MiB leaves room for per-device addresses.
const (
	maxPlatformBody  = 2*regcenter.MaxTrustAnchorSize + 16<<10
	maxUploadBody    = 8 << 20
	maxBootstrapBody = 16 << 10
)

// JSON shapes of the API. They are separate from the domain's types so
// that the wire format is stated here, once, and changes only on purpose.

type platformJSON struct {
	ID          string              `json:"id"`
	Addresses   []regcenter.Address `json:"addresses"`
	TrustAnchor string              `json:"trust_anchor"`
	UpdatedAt   time.Time           `json:"updated_at"`
}

func toPlatformJSON(p regcenter.Platform) platformJSON {
	return platformJSON{ID: p.ID, Addresses: p.Addresses, TrustAnchor: p.TrustAnchor, UpdatedAt: p.UpdatedAt}
}

type putPlatformRequest struct {
	Addresses   []regcenter.Address `json:"addresses"`
	TrustAnchor string              `json:"trust_anchor"`
}

func handlePutPlatform(svc *regcenter.Service, log *slog.Logger) callerHandler {
	return func(w http.ResponseWriter, r *http.Request, caller regcenter.Identity) error {
		var req putPlatformRequest
		if err := decodeJSON(w, r, maxPlatformBody, &req); err != nil {
			return err
		}
		p, err := svc.PutPlatform(r.Context(), caller, req.Addresses, req.TrustAnchor)
		if err != nil {
			return err
		}
		writeJSON(w, r, log, http.StatusOK, toPlatformJSON(p))
		return nil
	}
}

func handleGetPlatform(svc *regcenter.Service, log *slog.Logger) callerHandler {
	return func(w http.ResponseWriter, r *http.Request, caller regcenter.Identity) error {
		p, err := svc.Platform(r.Context(), caller)
		if err != nil {
			return err
		}
		writeJSON(w, r, log, http.StatusOK, toPlatformJSON(p))
		return nil
	}
}

type uploadRequest struct {
	Devices []struct {
		ESN        string              `json:"esn"`
		DeviceType string              `json:"device_type"`
		Addresses  []regcenter.Address `json:"addresses"`
	} `json:"devices"`
}

type uploadResultJSON struct {
	ESN    string                  `json:"esn"`
	Result regcenter.UploadOutcome `json:"result"`
	Detail string                  `json:"detail,omitempty"`
}

type uploadCountsJSON struct {
	Created   int `json:"created"`
	Unchanged int `json:"unchanged"`
	Updated   int `json:"updated"`
	Conflict  int `json:"conflict"`
	Invalid   int `json:"invalid"`
}

type uploadResponse struct {
	Results []uploadResultJSON `json:"results"`
	Counts  uploadCountsJSON   `json:"counts"`
}

func handleUploadDevices(svc *regcenter.Service, metrics Metrics, log *slog.Logger) callerHandler {
	return func(w http.ResponseWriter, r *http.Request, caller regcenter.Identity) error {
		var req uploadRequest
		if err := decodeJSON(w, r, maxUploadBody, &req); err != nil {
			return err
		}
		items := make([]regcenter.DeviceUpload, len(req.Devices))
		for i, d := range req.Devices {
			items[i] = regcenter.DeviceUpload{ESN: d.ESN, DeviceType: d.DeviceType, Addresses: d.Addresses}
		}
		report, err := svc.UploadDevices(r.Context(), caller, items)
		if err != nil {
			return err
		}
		metrics.DevicesClaimed(report.Counts.Created)
		resp := uploadResponse{Results: make([]uploadResultJSON, len(report.Results)), Counts: uploadCountsJSON(report.Counts)}
		for i, res := range report.Results {
			resp.Results[i] = uploadResultJSON(res)
		}
		writeJSON(w, r, log, http.StatusOK, resp)
		return nil
	}
}

type deviceJSON struct {
	ESN                 string              `json:"esn"`
	DeviceType          string              `json:"device_type"`
	Addresses           []regcenter.Address `json:"addresses,omitempty"`
	ClaimedAt           time.Time           `json:"claimed_at"`
	LastBootstrapAt     *time.Time          `json:"last_bootstrap_at,omitempty"`
	BootstrapCount      int64               `json:"bootstrap_count"`
	LastMode            regcenter.Mode      `json:"last_mode,omitempty"`
	LastSoftwareVersion string              `json:"last_software_version,omitempty"`
}

func toDeviceJSON(d regcenter.Device) deviceJSON {
	j := deviceJSON{
		ESN: d.ESN, DeviceType: d.DeviceType, Addresses: d.Addresses, ClaimedAt: d.ClaimedAt,
		BootstrapCount: d.BootstrapCount, LastMode: d.LastMode, LastSoftwareVersion: d.LastSoftwareVersion,
	}
	if !d.LastBootstrapAt.IsZero() {
		j.LastBootstrapAt = &d.LastBootstrapAt
	}
	return j
}

type devicePageJSON struct {
	Devices []deviceJSON `json:"devices"`
	Next    string       `json:"next,omitempty"`
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
		resp := devicePageJSON{Devices: make([]deviceJSON, len(page.Devices)), Next: page.Next}
		for i, d := range page.Devices {
			resp.Devices[i] = toDeviceJSON(d)
		}
		writeJSON(w, r, log, http.StatusOK, resp)
		return nil
	}
}

func handleGetDevice(svc *regcenter.Service, log *slog.Logger) callerHandler {
	return func(w http.ResponseWriter, r *http.Request, caller regcenter.Identity) error {
		d, err := svc.Device(r.Context(), caller, r.PathValue("esn"))
		if err != nil {
			return err
		}
		writeJSON(w, r, log, http.StatusOK, toDeviceJSON(d))
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

type bootstrapRequest struct {
	ESN             string         `json:"esn"`
	DeviceType      string         `json:"device_type"`
	SoftwareVersion string         `json:"software_version"`
	Mode            regcenter.Mode `json:"mode"`
}

type bootstrapResponse struct {
	ESN      string `json:"esn"`
	Platform struct {
		ID          string              `json:"id"`
		Addresses   []regcenter.Address `json:"addresses"`
		TrustAnchor string              `json:"trust_anchor,omitempty"`
	} `json:"platform"`
}

func handleBootstrap(svc *regcenter.Service, metrics Metrics, log *slog.Logger) callerHandler {
	return func(w http.ResponseWriter, r *http.Request, caller regcenter.Identity) error {
		var req bootstrapRequest
		if err := decodeJSON(w, r, maxBootstrapBody, &req); err != nil {
			metrics.BootstrapOutcome("invalid")
			return err
		}
		ans, err := svc.Bootstrap(r.Context(), caller, regcenter.BootstrapRequest(req))
		if err != nil {
			metrics.BootstrapOutcome(bootstrapOutcome(err))
			return err
		}
		metrics.BootstrapOutcome("answered")
		var resp bootstrapResponse
		resp.ESN = ans.ESN
		resp.Platform.ID, resp.Platform.Addresses, resp.Platform.TrustAnchor = ans.PlatformID, ans.Addresses, ans.TrustAnchor
		writeJSON(w, r, log, http.StatusOK, resp)
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

package httpapi

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/cmp"
	"github.com/regcenter/regcenter/cmp/cmpwire"
	"github.com/regcenter/regcenter/httpapi"
	"github.com/regcenter/regcenter/wire"
)

// maxImportBody bounds an import: cmp.MaxImportDevices rows of typical
// length fit with room to spare.
const maxImportBody = 16 << 20

// CSVHeader is the first line of an import file.
const CSVHeader = "esn,device_type"

func handleImport(svc *cmp.Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rows []cmp.ImportRow
		var err error
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "text/csv" {
			rows, err = readCSV(http.MaxBytesReader(w, r.Body, maxImportBody))
		} else {
			var req cmpwire.ImportRequest
			if err = httpapi.DecodeJSON(w, r, maxImportBody, &req); err == nil {
				rows = make([]cmp.ImportRow, len(req.Devices))
				for i, d := range req.Devices {
					rows[i] = cmp.ImportRow{Line: i + 1, ESN: d.ESN, DeviceType: d.DeviceType}
				}
			}
		}
		var rep cmp.ImportReport
		if err == nil {
			rep, err = svc.Import(r.Context(), rows)
		}
		var refused *cmp.ImportError
		switch {
		case errors.As(err, &refused):
			writeImportProblem(w, refused)
		case err != nil:
			httpapi.WriteError(w, r, log, err)
		default:
			log.Info("devices imported", "imported", rep.Imported, "updated", rep.Updated, "unchanged", rep.Unchanged)
			httpapi.WriteJSON(w, r, log, http.StatusOK, cmpwire.ImportResponse{Imported: rep.Imported, Unchanged: rep.Unchanged, Updated: rep.Updated})
		}
	})
}

// readCSV reads an import file: the header esn,device_type, then one
// device per line. A line it cannot read becomes a row with a Problem, so
// that the import reports it with every other bad row.
func readCSV(body io.Reader) ([]cmp.ImportRow, error) {
	cr := csv.NewReader(body)
	cr.FieldsPerRecord = -1 // counted here, so that a bad line does not hide the next ones
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, regcenter.Errorf(regcenter.ErrInvalid, regcenter.CodeInvalid, "the file is empty; its first line must be %s", CSVHeader)
	}
	if err := bodyError(err); err != nil {
		return nil, err
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\uFEFF") // spreadsheets write a byte order mark
	}
	if line, _ := cr.FieldPos(0); !isHeader(header) {
		return nil, &cmp.ImportError{Rows: []cmp.RowError{{Line: line, Detail: "the first line must be the header " + CSVHeader}}}
	}
	var rows []cmp.ImportRow
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		var pe *csv.ParseError
		switch {
		case errors.As(err, &pe):
			rows = append(rows, cmp.ImportRow{Line: pe.StartLine, Problem: "malformed CSV: " + pe.Err.Error()})
			continue
		case err != nil:
			return nil, bodyError(err)
		}
		line, _ := cr.FieldPos(0)
		row := cmp.ImportRow{Line: line, ESN: strings.TrimSpace(rec[0])}
		if len(rec) != 2 {
			row.Problem = "want 2 fields (" + CSVHeader + "), got " + strconv.Itoa(len(rec))
		} else {
			row.DeviceType = strings.TrimSpace(rec[1])
		}
		rows = append(rows, row)
	}
}

func isHeader(h []string) bool {
	if len(h) != 2 {
		return false
	}
	return strings.EqualFold(strings.TrimSpace(h[0]), "esn") && strings.EqualFold(strings.TrimSpace(h[1]), "device_type")
}

func bodyError(err error) error {
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &tooBig):
		return regcenter.Errorf(regcenter.ErrTooLarge, regcenter.CodeTooLarge, "the body must be at most %d bytes", maxImportBody)
	default:
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return &cmp.ImportError{Rows: []cmp.RowError{{Line: pe.StartLine, Detail: "malformed CSV: " + pe.Err.Error()}}}
		}
		return err
	}
}

// writeImportProblem answers a refused import: the problem details every
// error of this project has, with the bad rows as an extension member.
func writeImportProblem(w http.ResponseWriter, refused *cmp.ImportError) {
	e, _ := regcenter.AsError(refused)
	p := cmpwire.ImportProblem{
		Type: wire.ProblemType(e.Code), Title: http.StatusText(http.StatusBadRequest), Status: http.StatusBadRequest,
		Detail: e.Detail, Code: e.Code, Errors: make([]cmpwire.ImportError, len(refused.Rows)),
	}
	for i, r := range refused.Rows {
		p.Errors[i] = cmpwire.ImportError{Line: r.Line, ESN: r.ESN, Detail: r.Detail}
	}
	body, _ := json.Marshal(p)
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusBadRequest)
	w.Write(body)
}

func handleList(svc *cmp.Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		devs, err := svc.Devices(r.Context())
		if err != nil {
			httpapi.WriteError(w, r, log, err)
			return
		}
		out := cmpwire.AdminDevices{Devices: make([]cmpwire.AdminDevice, len(devs))}
		for i, d := range devs {
			out.Devices[i] = AdminDevice(d)
		}
		httpapi.WriteJSON(w, r, log, http.StatusOK, out)
	})
}

// AdminDevice is the wire form of a device.
func AdminDevice(d cmp.Device) cmpwire.AdminDevice {
	return cmpwire.AdminDevice{
		ESN: d.ESN, DeviceType: d.DeviceType, State: d.State, Detail: d.Detail, ImportedAt: d.ImportedAt,
		ClaimedAt: optional(d.ClaimedAt), LastCenterQuery: optional(d.LastCenterQuery), CenterQueries: d.CenterQueries,
		RegisteredAt: optional(d.RegisteredAt), RemoteAddr: d.RemoteAddr, SoftwareVersion: d.SoftwareVersion,
		LastHeartbeatAt: optional(d.LastHeartbeatAt),
	}
}

func optional(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func handleDelete(svc *cmp.Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := svc.Delete(r.Context(), r.PathValue("esn")); err != nil {
			httpapi.WriteError(w, r, log, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

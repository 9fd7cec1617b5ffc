// Package cmpclient is the Go client of the reference platform's admin
// API: what 'regcenter platform import', the demo and the tests use to
// import, list and delete devices. Problems come back as the domain's
// *regcenter.Error; a refused import as *RefusedError with every bad row.
// It must never import the platform's implementation.
package cmpclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/client"
	"github.com/regcenter/regcenter/cmp/cmpwire"
)

// maxAnswer bounds what the client reads of one answer (a list of every
// device of a large platform).
const maxAnswer = 256 << 20

// Admin is a client of one platform's admin API.
type Admin struct {
	base string
	http *http.Client
}

// NewAdmin returns a client of the admin API at baseURL
// (http://host:port).
func NewAdmin(baseURL string) (*Admin, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("admin URL %q: must be http://host:port", baseURL)
	}
	return &Admin{base: strings.TrimSuffix(u.String(), "/"), http: &http.Client{Timeout: 5 * time.Minute}}, nil
}

// RefusedError is an import the platform refused whole: nothing of it was
// imported. It unwraps to the *regcenter.Error of the problem.
type RefusedError struct {
	Problem cmpwire.ImportProblem
}

func (e *RefusedError) Error() string { return "import refused: " + e.Problem.Detail }

func (e *RefusedError) Unwrap() error {
	return &regcenter.Error{Kind: regcenter.ErrInvalid, Code: e.Problem.Code, Detail: e.Problem.Detail}
}

// ImportCSV imports a CSV file (header esn,device_type).
func (a *Admin) ImportCSV(ctx context.Context, csv io.Reader) (cmpwire.ImportResponse, error) {
	var out cmpwire.ImportResponse
	err := a.do(ctx, "POST", "/admin/devices", "text/csv", csv, &out)
	return out, err
}

// Import imports devices given as JSON.
func (a *Admin) Import(ctx context.Context, devices []cmpwire.ImportItem) (cmpwire.ImportResponse, error) {
	b, err := json.Marshal(cmpwire.ImportRequest{Devices: devices})
	if err != nil {
		return cmpwire.ImportResponse{}, err
	}
	var out cmpwire.ImportResponse
	err = a.do(ctx, "POST", "/admin/devices", "application/json", bytes.NewReader(b), &out)
	return out, err
}

// Devices lists every device in ESN order.
func (a *Admin) Devices(ctx context.Context) ([]cmpwire.AdminDevice, error) {
	var out cmpwire.AdminDevices
	err := a.do(ctx, "GET", "/admin/devices", "", nil, &out)
	return out.Devices, err
}

// Delete removes a device; the platform releases it at the center.
func (a *Admin) Delete(ctx context.Context, esn string) error {
	return a.do(ctx, "DELETE", "/admin/devices/"+url.PathEscape(esn), "", nil, nil)
}

func (a *Admin) do(ctx context.Context, method, path, contentType string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return problem(resp)
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxAnswer)).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decoding the answer: %w", method, path, err)
	}
	return nil
}

// problem reads a refused import with its rows; any other problem is what
// the center's client makes of it.
func problem(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	var p cmpwire.ImportProblem
	if json.Unmarshal(b, &p) == nil && len(p.Errors) > 0 {
		return &RefusedError{Problem: p}
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return client.ProblemError(resp)
}

package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/cmp"
	"github.com/regcenter/regcenter/cmp/cmpwire"
	cmphttp "github.com/regcenter/regcenter/cmp/httpapi"
	cmpsqlite "github.com/regcenter/regcenter/cmp/sqlite"
	"github.com/regcenter/regcenter/httpapi"
	"github.com/regcenter/regcenter/wire"
)

// startAdmin serves the admin API of a platform with a real store on a
// real loopback listener.
func startAdmin(t *testing.T) (url string, db *cmpsqlite.DB) {
	t.Helper()
	db, err := cmpsqlite.Open(context.Background(), filepath.Join(t.TempDir(), "platform.db"))
	if err != nil {
		t.Fatal(err)
	}
	svc := cmp.NewService(cmp.Config{Store: db, PlatformID: "cmp-a"})
	srv, err := httpapi.Listen(httpapi.ServerConfig{Addr: "127.0.0.1:0", Handler: cmphttp.NewAdminHandler(svc, nil)})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		db.Close()
	})
	return "http://" + srv.Addr(), db
}

func postImport(t *testing.T, url, contentType, body string) (int, []byte) {
	t.Helper()
	resp, err := http.Post(url+"/admin/devices", contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func problem(t *testing.T, status int, body []byte) cmpwire.ImportProblem {
	t.Helper()
	if status != http.StatusBadRequest {
		t.Fatalf("status %d, want 400: %s", status, body)
	}
	var p cmpwire.ImportProblem
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Code != regcenter.CodeInvalid || p.Type != wire.ProblemType(regcenter.CodeInvalid) || p.Status != 400 {
		t.Errorf("problem %+v", p)
	}
	return p
}

type row struct {
	line int
	esn  string
}

func rowsOf(p cmpwire.ImportProblem) []row {
	var r []row
	for _, e := range p.Errors {
		r = append(r, row{e.Line, e.ESN})
	}
	return r
}

func listed(t *testing.T, url string) []cmpwire.AdminDevice {
	t.Helper()
	resp, err := http.Get(url + "/admin/devices")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "application/json" {
		t.Fatalf("GET /admin/devices: %s %s", resp.Status, ct)
	}
	var out cmpwire.AdminDevices
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Devices
}

// TestCSVWithBadRowsImportsNothing: every bad row is named by its line,
// and nothing of the file is imported.
func TestCSVWithBadRowsImportsNothing(t *testing.T) {
	url, _ := startAdmin(t)
	csv := "esn,device_type\n" +
		"SW-1,S5735\n" + // 2
		"bad esn!,S5735\n" + // 3
		"\n" + // blank lines are skipped, and still counted
		"SW-2,S5735,extra\n" + // 5
		"SW-3,\n" + // 6
		"sw-1,S5735\n" + // 7: SW-1 again
		"\"SW-4,S5735\n" // 8: an unterminated quote, to the end
	status, body := postImport(t, url, "text/csv", csv)
	p := problem(t, status, body)
	want := []row{{2, "SW-1"}, {3, "bad esn!"}, {5, "SW-2"}, {6, "SW-3"}, {7, "SW-1"}, {8, ""}}
	if !slices.Equal(rowsOf(p), want) {
		t.Errorf("bad rows %+v, want %+v", p.Errors, want)
	}
	if !strings.Contains(p.Errors[0].Detail, "lines 2, 7") || !strings.Contains(p.Errors[2].Detail, "got 3") || p.Detail != "6 bad rows; nothing was imported" {
		t.Errorf("details: %q / %q / %q", p.Errors[0].Detail, p.Errors[2].Detail, p.Detail)
	}
	if devs := listed(t, url); len(devs) != 0 {
		t.Errorf("a refused import stored %v", devs)
	}
}

func TestImportForms(t *testing.T) {
	url, db := startAdmin(t)
	for _, tc := range []struct {
		name, contentType, body string
		want                    []row // bad rows; nil: accepted
	}{
		{"duplicates only", "text/csv", "esn,device_type\nA1,S\nA2,S\na1,S\n", []row{{2, "A1"}, {4, "A1"}}},
		{"wrong header", "text/csv", "serial,type\nA1,S\n", []row{{1, ""}}},
		{"JSON with a bad item", "application/json", `{"devices":[{"esn":"A1","device_type":"S"},{"esn":"","device_type":"S"}]}`, []row{{2, ""}}},
		{"JSON duplicates", "application/json", `{"devices":[{"esn":"A1","device_type":"S"},{"esn":"a1","device_type":"T"}]}`, []row{{1, "A1"}, {2, "A1"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := postImport(t, url, tc.contentType, tc.body)
			if got := rowsOf(problem(t, status, body)); !slices.Equal(got, tc.want) {
				t.Errorf("bad rows %+v, want %+v", got, tc.want)
			}
		})
	}
	if devs := listed(t, url); len(devs) != 0 {
		t.Fatalf("refused imports stored %v", devs)
	}

	// Accepted: CSV with a byte order mark, CRLF and spaces; then JSON.
	status, body := postImport(t, url, "text/csv; charset=utf-8", "\uFEFFESN, Device_Type\r\nsw-1, S5735 \r\nSW-2,S5735\r\n")
	if status != 200 || strings.TrimSpace(string(body)) != `{"imported":2,"unchanged":0,"updated":0}` {
		t.Errorf("CSV import: %d %s", status, body)
	}
	status, body = postImport(t, url, "application/json", `{"devices":[{"esn":"SW-1","device_type":"S5735"},{"esn":"SW-2","device_type":"S6730"},{"esn":"SW-3","device_type":"S6730"}]}`)
	if status != 200 || strings.TrimSpace(string(body)) != `{"imported":1,"unchanged":1,"updated":1}` {
		t.Errorf("JSON import: %d %s", status, body)
	}
	devs := listed(t, url)
	if len(devs) != 3 || devs[0].ESN != "SW-1" || devs[0].DeviceType != "S5735" || devs[0].State != cmpwire.StateImported || devs[1].DeviceType != "S6730" {
		t.Errorf("listed %+v", devs)
	}
	entries, _ := db.Outbox(context.Background(), 10)
	if len(entries) != 3 {
		t.Errorf("outbox holds %d entries, want 3", len(entries))
	}

	for _, tc := range []struct {
		name, contentType, body string
		status                  int
		code                    string
	}{
		{"empty CSV", "text/csv", "", 400, regcenter.CodeInvalid},
		{"header only", "text/csv", "esn,device_type\n", 400, regcenter.CodeInvalid},
		{"unknown JSON field", "application/json", `{"devices":[],"extra":1}`, 400, regcenter.CodeInvalid},
		{"plain text", "text/plain", "A1,S", 415, "unsupported_media_type"},
	} {
		status, body := postImport(t, url, tc.contentType, tc.body)
		var p wire.Problem
		json.Unmarshal(body, &p)
		if status != tc.status || p.Code != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.name, status, body, tc.status, tc.code)
		}
	}
}

func TestDeleteDevice(t *testing.T) {
	url, db := startAdmin(t)
	postImport(t, url, "text/csv", "esn,device_type\nSW-1,S\n")
	del := func(esn string) (int, wire.Problem) {
		req, _ := http.NewRequest("DELETE", url+"/admin/devices/"+esn, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var p wire.Problem
		json.NewDecoder(resp.Body).Decode(&p)
		return resp.StatusCode, p
	}
	if status, p := del("SW-2"); status != 404 || p.Code != regcenter.CodeNotFound {
		t.Errorf("deleting a device never imported: %d %+v", status, p)
	}
	if status, p := del("not%20an%20ESN"); status != 400 || p.Code != regcenter.CodeInvalid {
		t.Errorf("deleting an invalid ESN: %d %+v", status, p)
	}
	if status, _ := del("sw-1"); status != 204 {
		t.Errorf("DELETE: %d, want 204", status)
	}
	if devs := listed(t, url); len(devs) != 0 {
		t.Errorf("listed after delete %v", devs)
	}
	if entries, _ := db.Outbox(context.Background(), 10); len(entries) != 1 || entries[0].Op != cmp.OpRelease || entries[0].ESN != "SW-1" {
		t.Errorf("outbox after delete %+v, want the release of SW-1", entries)
	}
}

func TestUnknownRoutesAreProblems(t *testing.T) {
	url, _ := startAdmin(t)
	for _, tc := range []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{"GET", "/admin/nothing", http.StatusNotFound, "not_found", ""},
		{"PUT", "/admin/devices", http.StatusMethodNotAllowed, "method_not_allowed", "POST, GET"},
		{"POST", "/admin/devices/SW-1", http.StatusMethodNotAllowed, "method_not_allowed", "DELETE"},
	} {
		req, _ := http.NewRequest(tc.method, url+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != "application/problem+json" ||
			!strings.Contains(string(body), `"code":"`+tc.code+`"`) || resp.Header.Get("Allow") != tc.allow {
			t.Errorf("%s %s = %d %s (Allow %q) %s", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Allow"), body)
		}
	}
}

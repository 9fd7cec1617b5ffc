// Package client is the Go client of the center's API, used by the
// reference platform, the switch agent and the load generator. It speaks
// HTTP/2 only, with mutual TLS, and turns every problem answer back into
// the domain's *regcenter.Error, so that callers switch on the same codes
// the center sends. It must never import a store or the server.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/mtls"
	"github.com/regcenter/regcenter/wire"
)

// maxResponse bounds what the client reads of one answer.
const maxResponse = 32 << 20

// Config describes how to reach the center.
type Config struct {
	URL         string          // https://host:port of the center
	Certificate tls.Certificate // the platform's or the device's client certificate
	Roots       *x509.CertPool  // the center's CA; never the system roots
	// Timeout bounds each request (default 30s). Streams have no timeout
	// but their context.
	Timeout time.Duration
}

// Center is a client of one center. Every request shares one HTTP/2
// connection, which the transport opens on first use and reopens after a
// failure. It is safe for concurrent use.
type Center struct {
	*Endpoint
}

// New returns a client; it does not connect until the first request.
func New(cfg Config) (*Center, error) {
	if cfg.Roots == nil {
		return nil, errors.New("client: the center's CA is required")
	}
	e, err := NewEndpoint(cfg.URL, mtls.ClientConfig(cfg.Certificate, cfg.Roots), cfg.Timeout)
	if err != nil {
		return nil, err
	}
	return &Center{e}, nil
}

// Endpoint is a JSON API over HTTPS with HTTP/2 only: what the center's
// client and the platform's device client have in common.
type Endpoint struct {
	base      string
	transport *http.Transport
	timeout   time.Duration
}

// NewEndpoint returns an endpoint at baseURL (https://host[:port]) that
// authenticates with tlsConfig. timeout bounds each request (default 30s).
func NewEndpoint(baseURL string, tlsConfig *tls.Config, timeout time.Duration) (*Endpoint, error) {
	u, err := url.Parse(baseURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("URL %q: must be https://host[:port]", baseURL)
	}
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	return &Endpoint{base: strings.TrimSuffix(u.String(), "/"), transport: NewTransport(tlsConfig), timeout: timeout}, nil
}

// NewTransport returns an HTTP/2-only transport for tlsConfig: the
// project's own clients never fall back to HTTP/1.1.
func NewTransport(tlsConfig *tls.Config) *http.Transport {
	tr := &http.Transport{
		TLSClientConfig:     tlsConfig,
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     5 * time.Minute,
		Protocols:           new(http.Protocols),
		HTTP2: &http.HTTP2Config{
			// Find a dead center (or a dead path to it) in seconds, not
			// at the next write.
			SendPingTimeout: 30 * time.Second,
			PingTimeout:     10 * time.Second,
		},
	}
	tr.Protocols.SetHTTP2(true)
	return tr
}

// Close drops the idle connection.
func (c *Endpoint) Close() { c.transport.CloseIdleConnections() }

// PutPlatform publishes the caller's address information.
func (c *Center) PutPlatform(ctx context.Context, addrs []regcenter.Address, trustAnchor string) (regcenter.Platform, error) {
	var p wire.Platform
	err := c.Do(ctx, "PUT", "/v1/platform", wire.PutPlatformRequest{Addresses: addrs, TrustAnchor: trustAnchor}, &p)
	return p.Domain(), err
}

// Platform returns the caller's published record.
func (c *Center) Platform(ctx context.Context) (regcenter.Platform, error) {
	var p wire.Platform
	err := c.Do(ctx, "GET", "/v1/platform", nil, &p)
	return p.Domain(), err
}

// UploadDevices claims devices (at most regcenter.MaxUploadDevices).
func (c *Center) UploadDevices(ctx context.Context, items []regcenter.DeviceUpload) (regcenter.UploadReport, error) {
	var resp wire.UploadResponse
	err := c.Do(ctx, "POST", "/v1/devices", wire.FromUploads(items), &resp)
	return resp.Domain(), err
}

// Devices lists one page of the caller's devices.
func (c *Center) Devices(ctx context.Context, after string, limit int) (regcenter.DevicePage, error) {
	q := url.Values{}
	if after != "" {
		q.Set("after", after)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	path := "/v1/devices"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var page wire.DevicePage
	err := c.Do(ctx, "GET", path, nil, &page)
	return page.Domain(), err
}

// Device returns one of the caller's devices.
func (c *Center) Device(ctx context.Context, esn string) (regcenter.Device, error) {
	var d wire.Device
	err := c.Do(ctx, "GET", "/v1/devices/"+url.PathEscape(esn), nil, &d)
	return d.Domain(), err
}

// ReleaseDevice drops the caller's claim on esn.
func (c *Center) ReleaseDevice(ctx context.Context, esn string) error {
	return c.Do(ctx, "DELETE", "/v1/devices/"+url.PathEscape(esn), nil, nil)
}

// Bootstrap asks where the calling switch's platform is.
func (c *Center) Bootstrap(ctx context.Context, req regcenter.BootstrapRequest) (regcenter.BootstrapAnswer, error) {
	var resp wire.BootstrapResponse
	err := c.Do(ctx, "POST", "/v1/bootstrap", wire.BootstrapRequest(req), &resp)
	return resp.Domain(), err
}

// Events follows the caller's device events after the cursor (""
// for the beginning), calling handle for each in order. It returns when the
// stream ends (the center ends streams now and then, and at shutdown),
// when ctx ends, or when handle fails, with the cursor of the last event
// handled: pass it back to resume without losing or repeating one.
func (c *Center) Events(ctx context.Context, after string, handle func(regcenter.Event) error) (string, error) {
	path := "/v1/events"
	if after != "" {
		path += "?after=" + url.QueryEscape(after)
	}
	resp, err := c.Send(ctx, "GET", path, nil)
	if err != nil {
		return after, err
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != wire.EventsContentType {
		return after, fmt.Errorf("GET %s: content type %q, want %s", path, ct, wire.EventsContentType)
	}
	dec := json.NewDecoder(resp.Body)
	for {
		var we wire.Event
		if err := dec.Decode(&we); err != nil {
			if errors.Is(err, io.EOF) {
				return after, nil
			}
			return after, fmt.Errorf("GET %s: %w", path, err)
		}
		e, err := we.Domain()
		if err != nil {
			return after, fmt.Errorf("GET %s: %w", path, err)
		}
		if err := handle(e); err != nil {
			return after, err
		}
		after = we.Cursor
	}
}

// Do sends one request with in as its JSON body (none if nil) and decodes
// a 2xx answer into out (if not nil). Any other answer is returned as the
// domain's *regcenter.Error (see ProblemError).
func (c *Endpoint) Do(ctx context.Context, method, path string, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := c.Send(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxResponse)).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decoding the answer: %w", method, path, err)
	}
	return nil
}

// Send returns a 2xx response whose body the caller must close, or the
// error the answer stands for. It has no timeout but ctx's.
func (c *Endpoint) Send(ctx context.Context, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.transport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, ProblemError(resp)
}

// ProblemError turns a non-2xx answer into the domain's error: the code and
// detail from the problem body, the kind from the status, and Retry-After.
func ProblemError(resp *http.Response) error {
	var p wire.Problem
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &p) != nil || p.Code == "" {
		p = wire.Problem{Code: "http_" + strconv.Itoa(resp.StatusCode), Detail: strings.TrimSpace(string(b))}
	}
	return &regcenter.Error{
		Kind:       kindOf(resp.StatusCode),
		Code:       p.Code,
		Detail:     p.Detail,
		RetryAfter: RetryAfter(resp.Header.Get("Retry-After"), time.Now()),
	}
}

// kindOf is the inverse of the server's mapping, for the statuses it sends.
func kindOf(status int) error {
	switch status {
	case http.StatusBadRequest, http.StatusUnsupportedMediaType:
		return regcenter.ErrInvalid
	case http.StatusForbidden, http.StatusUnauthorized:
		return regcenter.ErrForbidden
	case http.StatusNotFound:
		return regcenter.ErrNotFound
	case http.StatusConflict:
		return regcenter.ErrConflict
	case http.StatusRequestEntityTooLarge:
		return regcenter.ErrTooLarge
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout, http.StatusTooManyRequests:
		return regcenter.ErrUnavailable
	default:
		return errors.New(http.StatusText(status))
	}
}

// RetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
// It returns 0 when the header is absent or malformed.
func RetryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if n, err := strconv.Atoi(h); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

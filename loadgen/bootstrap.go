package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// opTimeout bounds one operation, so that a server that stops answering
// ends the run with timeouts counted instead of hanging it.
const opTimeout = 30 * time.Second

// post sends body to url on tr and returns the error the answer stands
// for; a 2xx body goes to out when it is not nil, else it is drained.
func post(ctx context.Context, tr *http.Transport, url string, body []byte, out func(io.Reader) error) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return err
	}
	if out != nil && resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		defer resp.Body.Close()
		return out(resp.Body)
	}
	return checkAnswer(resp)
}

// switchLoad is a device ready to ask: its body encoded once.
type switchLoad struct {
	Device
	body []byte
}

func switches(devs []Device) ([]switchLoad, error) {
	if len(devs) == 0 {
		return nil, errors.New("loadgen: no device certificates to load with")
	}
	s := make([]switchLoad, len(devs))
	for i, d := range devs {
		s[i] = switchLoad{Device: d, body: bootstrapBody(d.ESN)}
	}
	return s, nil
}

// bootstrapRun checks what the cold and warm scenarios share, and returns
// their switches and the URL they ask.
func bootstrapRun(t Target, l Load, devs []Device) ([]switchLoad, string, error) {
	if err := errors.Join(t.check(), l.check()); err != nil {
		return nil, "", err
	}
	sw, err := switches(devs)
	return sw, t.base() + "/v1/bootstrap", err
}

// ColdConfig is a fleet powering on: each operation is a switch that
// opens a new connection (a full mutual-TLS handshake with its own
// certificate), asks POST /v1/bootstrap over HTTP/2, and closes.
type ColdConfig struct {
	Load
	Devices []Device // operation i is Devices[i % len(Devices)]
}

// Cold runs the cold scenario. Its error is about the setup; failed
// operations are counted in the Result.
func Cold(ctx context.Context, t Target, cfg ColdConfig) (Result, error) {
	res := Result{Scenario: "cold", Target: t.Name, Unit: "request"}
	sw, url, err := bootstrapRun(t, cfg.Load, cfg.Devices)
	if err != nil {
		return res, err
	}
	var dials atomic.Int64
	err = measure(t, &res, func() {
		cfg.Load.run(ctx, func(ctx context.Context, _, i int) error {
			s := sw[i%len(sw)]
			tr := t.transport(s.Certificate, &dials)
			defer tr.CloseIdleConnections()
			return post(ctx, tr, url, s.body, nil)
		}).into(&res)
	})
	res.Conns = int(dials.Load())
	return res, err
}

// WarmConfig is switches (or a proxy in front of them) that keep their
// connections: Conns long-lived HTTP/2 connections, each with its own
// device's certificate, carrying Concurrency bootstrap requests in flight
// between them.
type WarmConfig struct {
	Load
	Devices []Device // connection k is Devices[k % len(Devices)]'s
	Conns   int      // default 1
}

// Warm runs the warm scenario. The connections are opened, each with one
// request, before the measured window.
func Warm(ctx context.Context, t Target, cfg WarmConfig) (Result, error) {
	res := Result{Scenario: "warm", Target: t.Name, Unit: "request"}
	sw, url, err := bootstrapRun(t, cfg.Load, cfg.Devices)
	if err != nil {
		return res, err
	}
	var dials atomic.Int64
	type conn struct {
		tr   *http.Transport
		body []byte
	}
	conns := make([]conn, max(1, cfg.Conns))
	defer func() {
		for _, c := range conns {
			if c.tr != nil {
				c.tr.CloseIdleConnections()
			}
		}
	}()
	for k := range conns {
		s := sw[k%len(sw)]
		conns[k] = conn{tr: t.transport(s.Certificate, &dials), body: s.body}
		if err := post(ctx, conns[k].tr, url, s.body, nil); err != nil {
			return res, fmt.Errorf("loadgen: warm: opening connection %d: %w", k, err)
		}
	}
	err = measure(t, &res, func() {
		cfg.Load.run(ctx, func(ctx context.Context, _, i int) error {
			c := conns[i%len(conns)]
			return post(ctx, c.tr, url, c.body, nil)
		}).into(&res)
	})
	// Reconnections during the window, if any, show as more than Conns.
	res.Conns = int(dials.Load())
	return res, err
}

package loadgen

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/wire"
)

// UploadConfig is a platform importing a shipment: Devices new devices
// uploaded through POST /v1/devices in batches of Batch.
type UploadConfig struct {
	Platform tls.Certificate // the platform's client certificate
	Devices  int
	Batch    int // default regcenter.MaxUploadDevices
	// ESNPrefix starts every ESN; the index follows, zero-padded to nine
	// digits. Give each run its own prefix to measure new devices rather
	// than unchanged ones.
	ESNPrefix   string
	Concurrency int // uploads in flight (default 1)
}

// Upload runs the upload scenario. Items counts the devices of the
// batches the server answered with a 2xx; Outcomes, what the center said
// of each (a server that is not the center says nothing); devices it
// refused are counted in Errors as "item conflict" or "item invalid".
func Upload(ctx context.Context, t Target, cfg UploadConfig) (Result, error) {
	res := Result{Scenario: "upload", Target: t.Name, Unit: "batch", ItemUnit: "device"}
	if err := t.check(); err != nil {
		return res, err
	}
	if cfg.Batch <= 0 {
		cfg.Batch = regcenter.MaxUploadDevices
	}
	if cfg.Devices <= 0 {
		return res, errors.New("loadgen: upload: give a number of devices")
	}
	const width = 9
	if _, err := regcenter.NormalizeESN(cfg.ESNPrefix + "000000000"); err != nil || cfg.Devices > 1e9 {
		return res, fmt.Errorf("loadgen: upload: ESN prefix %q does not make valid ESNs", cfg.ESNPrefix)
	}
	batches := (cfg.Devices + cfg.Batch - 1) / cfg.Batch
	load := Load{Requests: batches, Concurrency: max(1, cfg.Concurrency)}

	// Bodies are encoded ahead of the uploads, on another goroutine, so
	// that encoding overlaps with the server's work instead of adding to
	// each batch's latency.
	type batch struct {
		body    []byte
		devices int
	}
	bodies := make(chan batch, load.Concurrency+1)
	genCtx, stopGen := context.WithCancel(ctx)
	var gen sync.WaitGroup
	gen.Go(func() {
		defer close(bodies)
		for b := range batches {
			lo, hi := b*cfg.Batch, min((b+1)*cfg.Batch, cfg.Devices)
			req := wire.UploadRequest{Devices: make([]wire.UploadItem, 0, hi-lo)}
			for i := lo; i < hi; i++ {
				esn := fmt.Sprintf("%s%0*d", cfg.ESNPrefix, width, i)
				req.Devices = append(req.Devices, wire.UploadItem{ESN: esn, DeviceType: DeviceType})
			}
			body, err := json.Marshal(req)
			if err != nil {
				panic(err) // strings only: cannot fail
			}
			select {
			case bodies <- batch{body, hi - lo}:
			case <-genCtx.Done():
				return
			}
		}
	})
	defer func() { stopGen(); gen.Wait() }()

	var dials atomic.Int64
	tr := t.transport(cfg.Platform, &dials)
	defer tr.CloseIdleConnections()
	url := t.base() + "/v1/devices"
	var items atomic.Int64
	var mu sync.Mutex
	var outcomes wire.UploadCounts
	err := measure(t, &res, func() {
		load.run(ctx, func(ctx context.Context, _, _ int) error {
			b, ok := <-bodies
			if !ok { // only when ctx ended: there are as many bodies as operations
				return cmp.Or(ctx.Err(), errors.New("loadgen: upload: no batch left"))
			}
			var ans struct {
				Counts wire.UploadCounts `json:"counts"`
			}
			err := post(ctx, tr, url, b.body, func(r io.Reader) error { return json.NewDecoder(r).Decode(&ans) })
			if err != nil {
				return err
			}
			items.Add(int64(b.devices))
			mu.Lock()
			outcomes.Created += ans.Counts.Created
			outcomes.Unchanged += ans.Counts.Unchanged
			outcomes.Updated += ans.Counts.Updated
			outcomes.Conflict += ans.Counts.Conflict
			outcomes.Invalid += ans.Counts.Invalid
			mu.Unlock()
			return nil
		}).into(&res)
	})
	res.Items = int(items.Load())
	res.Conns = int(dials.Load())
	res.Outcomes = map[string]int{}
	for k, n := range map[regcenter.UploadOutcome]int{
		regcenter.OutcomeCreated: outcomes.Created, regcenter.OutcomeUnchanged: outcomes.Unchanged,
		regcenter.OutcomeUpdated: outcomes.Updated, regcenter.OutcomeConflict: outcomes.Conflict,
		regcenter.OutcomeInvalid: outcomes.Invalid,
	} {
		if n > 0 {
			res.Outcomes[string(k)] = n
		}
		if n > 0 && (k == regcenter.OutcomeConflict || k == regcenter.OutcomeInvalid) {
			if res.Errors == nil {
				res.Errors = map[string]int{}
			}
			res.Errors["item "+string(k)] += n
		}
	}
	return res, err
}

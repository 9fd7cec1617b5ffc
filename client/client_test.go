package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/centertest"
	"github.com/regcenter/regcenter/client"
)

func TestClientAgainstARealCenter(t *testing.T) {
	p := centertest.NewPKI(t)
	c := centertest.Start(t, p, centertest.Options{})
	ctx := context.Background()
	platform := p.Client(t, c, p.PlatformCert(t, "cmp-a"))
	sw := p.Client(t, c, p.DeviceCert(t, "ESN-1"))

	_, err := sw.Bootstrap(ctx, regcenter.BootstrapRequest{ESN: "ESN-1", Mode: regcenter.ModeTraditional})
	e, ok := regcenter.AsError(err)
	if !ok || !errors.Is(err, regcenter.ErrNotFound) || e.Code != regcenter.CodeNotClaimed || e.RetryAfter != 7*time.Second {
		t.Fatalf("unclaimed bootstrap: %#v", err)
	}

	_, err = platform.Platform(ctx)
	if e, ok := regcenter.AsError(err); !ok || e.Code != regcenter.CodePlatformNotConfigured {
		t.Fatalf("Platform before PUT: %v", err)
	}
	rec, err := platform.PutPlatform(ctx, []regcenter.Address{{Host: "cmp.example.net", Port: 10030}}, "")
	if err != nil || rec.ID != "cmp-a" || rec.UpdatedAt.IsZero() {
		t.Fatalf("PutPlatform = %+v, %v", rec, err)
	}
	rep, err := platform.UploadDevices(ctx, []regcenter.DeviceUpload{{ESN: "esn-1", DeviceType: "S5735"}, {ESN: "bad esn", DeviceType: "S5735"}})
	if err != nil || rep.Counts != (regcenter.UploadCounts{Created: 1, Invalid: 1}) || rep.Results[0].ESN != "ESN-1" || rep.Results[1].Detail == "" {
		t.Fatalf("UploadDevices = %+v, %v", rep, err)
	}
	ans, err := sw.Bootstrap(ctx, regcenter.BootstrapRequest{ESN: "ESN-1", Mode: regcenter.ModeTraditional})
	if err != nil || ans.PlatformID != "cmp-a" || ans.Addresses[0] != (regcenter.Address{Host: "cmp.example.net", Port: 10030}) {
		t.Fatalf("Bootstrap = %+v, %v", ans, err)
	}
	page, err := platform.Devices(ctx, "", 10)
	if err != nil || len(page.Devices) != 1 || page.Devices[0].ESN != "ESN-1" || page.Next != "" {
		t.Fatalf("Devices = %+v, %v", page, err)
	}
	if err := platform.ReleaseDevice(ctx, "ESN-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := platform.Device(ctx, "ESN-1"); !errors.Is(err, regcenter.ErrNotFound) {
		t.Fatalf("Device after release: %v", err)
	}
	for _, proto := range c.Protocols() {
		if proto != "HTTP/2.0" {
			t.Fatalf("the client used %s", proto)
		}
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	p := centertest.NewPKI(t)
	for _, cfg := range []client.Config{
		{URL: "http://localhost:10020", Roots: p.Roots},
		{URL: "localhost:10020", Roots: p.Roots},
		{URL: "https://localhost:10020"},
	} {
		if _, err := client.New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		h    string
		want time.Duration
	}{
		{"", 0}, {"60", time.Minute}, {"0", 0}, {"-5", 0}, {"soon", 0},
		{"Fri, 27 Nov 2026 12:00:30 GMT", 30 * time.Second},
		{"Fri, 27 Nov 2026 11:00:00 GMT", 0},
	}
	for _, tt := range tests {
		if got := client.RetryAfter(tt.h, now); got != tt.want {
			t.Errorf("RetryAfter(%q) = %v, want %v", tt.h, got, tt.want)
		}
	}
}

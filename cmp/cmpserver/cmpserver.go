// Package cmpserver assembles a running reference platform from its
// parts: its SQLite store in the data directory, the Service, the Syncer
// and the Follower over one client of the center, the device API with
// mutual TLS and the admin API. The command (regcenter platform serve),
// the demo and the end-to-end tests all start a platform through Start,
// so that it is wired in exactly one place.
package cmpserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/backoff"
	"github.com/regcenter/regcenter/client"
	"github.com/regcenter/regcenter/cmp"
	cmphttp "github.com/regcenter/regcenter/cmp/httpapi"
	cmpsqlite "github.com/regcenter/regcenter/cmp/sqlite"
	"github.com/regcenter/regcenter/httpapi"
	"github.com/regcenter/regcenter/mtls"
)

// DBFile is the name of the platform's database in its data directory.
const DBFile = "platform.db"

// Config describes a platform. CenterURL, Certificate, CenterRoots,
// ServerCertificate, DeviceCAs, TrustAnchor and DataDir are required.
type Config struct {
	// Toward the center: its URL, the platform's client certificate (its
	// CN is the platform's ID) and the center's CA.
	CenterURL   string
	Certificate tls.Certificate
	CenterRoots *x509.CertPool

	// The device API: where it listens (default 127.0.0.1:0), its server
	// certificate, and the CAs of the devices it serves.
	Listen            string
	ServerCertificate tls.Certificate
	DeviceCAs         []*x509.Certificate
	// TrustAnchor is the PEM of the CA(s) that signed ServerCertificate,
	// published so that switches can verify the platform.
	TrustAnchor string
	// Advertise is the address information published at the center
	// (default: the device API's bound address; see advertised).
	Advertise []regcenter.Address

	AdminListen string // the admin API (plain HTTP; default 127.0.0.1:0)
	DataDir     string // holds DBFile; created if missing

	HeartbeatInterval time.Duration  // told to switches (default cmp.DefaultHeartbeatInterval)
	Retry             backoff.Policy // between attempts while the center fails (default backoff.Default())
	SyncInterval      time.Duration  // how often the outbox is looked at unprompted (default 1 min)
	Logger            *slog.Logger   // default discards
	// WrapDevices, when set, wraps the device API's handler (tests use it
	// to see every request as the platform saw it).
	WrapDevices func(http.Handler) http.Handler
	Now         func() time.Time
}

// Platform is a running platform.
type Platform struct {
	ID                    string // the platform's ID at the center
	DeviceAddr, AdminAddr string // bound host:port of the two APIs
	DeviceURL, AdminURL   string // https://DeviceAddr, http://AdminAddr
	Service               *cmp.Service
	Syncer                *cmp.Syncer

	trustAnchor    string
	db             *cmpsqlite.DB
	center         *client.Center
	devices, admin *httpapi.Server
	log            *slog.Logger
	stopBackground context.CancelFunc
	background     sync.WaitGroup
	serveErr       chan error
	stopOnce       sync.Once
	stopErr        error
}

// Start opens the store, binds both listeners (synchronously: a bad
// address fails here), and serves and syncs in the background until
// Shutdown.
func Start(ctx context.Context, cfg Config) (*Platform, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.AdminListen == "" {
		cfg.AdminListen = "127.0.0.1:0"
	}
	id, err := platformID(cfg.Certificate)
	if err != nil {
		return nil, err
	}
	if cfg.DataDir == "" {
		return nil, errors.New("cmpserver: a data directory is required")
	}
	if err := regcenter.ValidateTrustAnchor(cfg.TrustAnchor); err != nil || cfg.TrustAnchor == "" {
		return nil, fmt.Errorf("cmpserver: trust anchor: need the PEM of the CA of the server certificate (%v)", err)
	}
	if cfg.Advertise != nil {
		if err := regcenter.ValidateAddresses(cfg.Advertise); err != nil {
			return nil, fmt.Errorf("cmpserver: advertised addresses: %w", err)
		}
	}
	authority, err := mtls.NewDeviceAuthority(cfg.DeviceCAs)
	if err != nil {
		return nil, err
	}
	center, err := client.New(client.Config{URL: cfg.CenterURL, Certificate: cfg.Certificate, Roots: cfg.CenterRoots})
	if err != nil {
		return nil, fmt.Errorf("cmpserver: center: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("cmpserver: %w", err)
	}
	db, err := cmpsqlite.Open(ctx, filepath.Join(cfg.DataDir, DBFile))
	if err != nil {
		return nil, err
	}

	log := cfg.Logger
	p := &Platform{ID: id, trustAnchor: cfg.TrustAnchor, db: db, center: center, log: log, serveErr: make(chan error, 2)}
	p.Service = cmp.NewService(cmp.Config{Store: db, PlatformID: id, HeartbeatInterval: cfg.HeartbeatInterval, Now: cfg.Now})
	var devices http.Handler = cmphttp.NewDeviceHandler(p.Service, authority.Identify, log)
	if cfg.WrapDevices != nil {
		devices = cfg.WrapDevices(devices)
	}
	p.devices, err = httpapi.Listen(httpapi.ServerConfig{
		Addr:    cfg.Listen,
		Handler: devices,
		TLS:     authority.ServerConfig(mtls.ServerOptions{Certificate: cfg.ServerCertificate}),
		OnHandshakeFailure: func(reason string, remote net.Addr, err error) {
			log.Debug("TLS handshake refused", "reason", reason, "remote", remote.String(), "err", err)
		},
		Logger: log,
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	p.admin, err = httpapi.Listen(httpapi.ServerConfig{Addr: cfg.AdminListen, Handler: cmphttp.NewAdminHandler(p.Service, log), Logger: log})
	if err != nil {
		p.devices.Shutdown(ctx)
		db.Close()
		return nil, fmt.Errorf("listen %s: %w", cfg.AdminListen, err)
	}
	p.DeviceAddr, p.AdminAddr = p.devices.Addr(), p.admin.Addr()
	p.DeviceURL, p.AdminURL = "https://"+p.DeviceAddr, "http://"+p.AdminAddr

	advertise := cfg.Advertise
	if advertise == nil {
		advertise = advertised(p.DeviceAddr, cfg.ServerCertificate)
	}
	p.Syncer = cmp.NewSyncer(cmp.SyncConfig{
		Store: db, Center: center, Publication: cmp.Publication{Addresses: advertise, TrustAnchor: cfg.TrustAnchor},
		Wake: p.Service.Queued(), Retry: cfg.Retry, Interval: cfg.SyncInterval, Logger: log, Now: cfg.Now,
	})
	follower := cmp.NewFollower(cmp.FollowConfig{Store: db, Center: center, Retry: cfg.Retry, Logger: log})

	bgCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	p.stopBackground = stop
	p.background.Go(func() { p.Syncer.Run(bgCtx) })
	p.background.Go(func() { follower.Run(bgCtx) })
	go func() { p.serveErr <- p.devices.Serve() }()
	go func() { p.serveErr <- p.admin.Serve() }()
	log.Info("platform serving", "id", id, "devices", p.DeviceAddr, "admin", p.AdminAddr, "center", cfg.CenterURL, "advertise", advertise)
	return p, nil
}

// platformID is the CN of the platform's client certificate: what the
// center will identify it by.
func platformID(cert tls.Certificate) (string, error) {
	leaf := cert.Leaf
	if leaf == nil && len(cert.Certificate) > 0 {
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return "", fmt.Errorf("cmpserver: platform certificate: %w", err)
		}
	}
	if leaf == nil {
		return "", errors.New("cmpserver: the platform's client certificate is required")
	}
	if err := regcenter.ValidatePlatformID(leaf.Subject.CommonName); err != nil {
		return "", fmt.Errorf("cmpserver: platform certificate CN: %w", err)
	}
	return leaf.Subject.CommonName, nil
}

// advertised is what the platform publishes by default: the address it
// listens on. A wildcard listener (":10030") names no host, so the server
// certificate's first name stands in: switches must reach the platform by
// a name its certificate holds anyway.
func advertised(bound string, cert tls.Certificate) []regcenter.Address {
	host, portText, _ := net.SplitHostPort(bound)
	port, _ := strconv.Atoi(portText)
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
		if leaf := cert.Leaf; leaf != nil {
			switch {
			case len(leaf.DNSNames) > 0:
				host = leaf.DNSNames[0]
			case len(leaf.IPAddresses) > 0:
				host = leaf.IPAddresses[0].String()
			}
		}
	}
	return []regcenter.Address{{Host: host, Port: port}}
}

// Advertise changes the address information published at the center; the
// Syncer sends it at once.
func (p *Platform) Advertise(addrs []regcenter.Address) error {
	if err := regcenter.ValidateAddresses(addrs); err != nil {
		return err
	}
	p.Syncer.Publish(cmp.Publication{Addresses: addrs, TrustAnchor: p.trustAnchor})
	return nil
}

// Err delivers the error of a server that stopped by itself.
func (p *Platform) Err() <-chan error { return p.serveErr }

// Shutdown stops accepting, lets requests in flight finish until ctx
// ends, stops the Syncer and the Follower, and closes the store. Whatever
// was not synced yet stays in the outbox for the next start.
func (p *Platform) Shutdown(ctx context.Context) error {
	p.stopOnce.Do(func() {
		if err := p.devices.Shutdown(ctx); err != nil {
			p.log.Warn("requests still in flight at the shutdown deadline were cut", "err", err)
			p.stopErr = err
		}
		p.admin.Shutdown(ctx)
		p.stopBackground()
		p.background.Wait()
		p.center.Close()
		if err := p.db.Close(); err != nil && p.stopErr == nil {
			p.stopErr = err
		}
	})
	return p.stopErr
}

package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/centertest"
	"github.com/regcenter/regcenter/postgres"
	"github.com/regcenter/regcenter/postgres/pgtest"
)

// startReplica starts one center with its own store handle (its own
// connection pool) on the shared database, as a separate process would.
func startReplica(t *testing.T, p *centertest.PKI, dsn string) *centertest.Center {
	t.Helper()
	db, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() }) // cleanups run last first: after the center's drain and final flush
	return centertest.Start(t, p, centertest.Options{Store: db, FlushInterval: time.Hour})
}

func TestTwoReplicasShareOneDatabase(t *testing.T) {
	dsn, _ := pgtest.FreshSchema(t)
	p := centertest.NewPKI(t)
	a, b := startReplica(t, p, dsn), startReplica(t, p, dsn)
	ctx := context.Background()

	viaA := p.Client(t, a, p.PlatformCert(t, "cmp-a"))
	viaB := p.Client(t, b, p.PlatformCert(t, "cmp-a"))
	if _, err := viaA.PutPlatform(ctx, []regcenter.Address{{Host: "cmp-a.example.net", Port: 10030}}, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := viaA.UploadDevices(ctx, []regcenter.DeviceUpload{{ESN: "R-1", DeviceType: "S"}, {ESN: "R-2", DeviceType: "S"}}); err != nil {
		t.Fatal(err)
	}

	// Claimed through A, answered by B at once: B keeps no state of its own.
	ans, err := p.Client(t, b, p.DeviceCert(t, "R-1")).Bootstrap(ctx, regcenter.BootstrapRequest{ESN: "R-1", Mode: regcenter.ModeTraditional})
	if err != nil || ans.PlatformID != "cmp-a" || ans.Addresses[0].Host != "cmp-a.example.net" {
		t.Fatalf("B's answer for a device claimed through A: %+v, %v", ans, err)
	}
	if _, err := p.Client(t, a, p.DeviceCert(t, "R-2")).Bootstrap(ctx, regcenter.BootstrapRequest{ESN: "R-2", Mode: regcenter.ModeCloud}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*centertest.Center{a, b} {
		if err := c.Recorder.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}

	// The events stream of either replica carries the events of both.
	seen := map[string]regcenter.Mode{}
	follow, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = viaB.Events(follow, "", func(e regcenter.Event) error {
		seen[e.ESN] = e.Mode
		if len(seen) == 2 {
			return errEnough
		}
		return nil
	})
	if !errors.Is(err, errEnough) || seen["R-1"] != regcenter.ModeTraditional || seen["R-2"] != regcenter.ModeCloud {
		t.Fatalf("events through B: %v (%v)", seen, err)
	}
}

var errEnough = errors.New("enough")

func TestRaceForOneESNThroughTwoReplicas(t *testing.T) {
	dsn, _ := pgtest.FreshSchema(t)
	p := centertest.NewPKI(t)
	a, b := startReplica(t, p, dsn), startReplica(t, p, dsn)
	ctx := context.Background()

	const perPlatform = 16
	type answer struct {
		platform string
		result   regcenter.UploadOutcome
		err      error
	}
	answers := make(chan answer, 2*perPlatform)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, platform := range []string{"cmp-x", "cmp-y"} {
		for i := range perPlatform {
			replica := a
			if i%2 == 1 {
				replica = b
			}
			cl := p.Client(t, replica, p.PlatformCert(t, platform))
			wg.Go(func() {
				<-start
				rep, err := cl.UploadDevices(ctx, []regcenter.DeviceUpload{{ESN: "CONTESTED-1", DeviceType: "S5735"}})
				if err != nil {
					answers <- answer{platform, "", err}
					return
				}
				answers <- answer{platform, rep.Results[0].Result, nil}
			})
		}
	}
	close(start)
	wg.Wait()
	close(answers)

	byPlatform := map[string]map[regcenter.UploadOutcome]int{"cmp-x": {}, "cmp-y": {}}
	for ans := range answers {
		if ans.err != nil {
			t.Fatalf("%s's upload failed: %v", ans.platform, ans.err)
		}
		byPlatform[ans.platform][ans.result]++
	}
	winner, loser := "cmp-x", "cmp-y"
	if byPlatform["cmp-y"][regcenter.OutcomeCreated] > 0 {
		winner, loser = loser, winner
	}
	// The winner created the claim once and found it unchanged after; every
	// answer to the loser is conflict.
	if w := byPlatform[winner]; w[regcenter.OutcomeCreated] != 1 || w[regcenter.OutcomeUnchanged] != perPlatform-1 {
		t.Errorf("the winner %s got %v", winner, w)
	}
	if l := byPlatform[loser]; l[regcenter.OutcomeConflict] != perPlatform {
		t.Errorf("the loser %s got %v", loser, l)
	}
	if d, err := a.DB.Device(ctx, winner, "CONTESTED-1"); err != nil || d.PlatformID != winner {
		t.Errorf("the store's claim: %+v, %v", d, err)
	}
	if n := pgtest.QueryInt(t, dsn, "SELECT count(*) FROM devices WHERE esn = 'CONTESTED-1'"); n != 1 {
		t.Errorf("the store holds %d claims on the ESN", n)
	}
}

// proxy is a TCP proxy between a center and PostgreSQL that a test can
// cut (every connection dropped, new ones refused) and restore.
type proxy struct {
	addr, target string

	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	p := &proxy{target: target}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *proxy) restore(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	p.serve(ln)
}

func TestDatabaseGoesAwayAndComesBack(t *testing.T) {
	dsn, schema := pgtest.FreshSchema(t)
	pgAddr := pgHostPort(t, pgtest.DSN(t))
	px := newProxy(t, pgAddr)
	viaProxy := pgtest.WithParam(t, replaceHost(t, dsn, px.addr), "options", "-csearch_path="+schema)
	p := centertest.NewPKI(t)
	c := startReplica(t, p, viaProxy)
	ctx := context.Background()

	platform := p.Client(t, c, p.PlatformCert(t, "cmp-a"))
	if _, err := platform.PutPlatform(ctx, []regcenter.Address{{Host: "cmp-a.example.net", Port: 10030}}, ""); err != nil {
		t.Fatal(err)
	}
	var acked []string
	for i := range 3 {
		esn := "ACKED-" + strconv.Itoa(i)
		if _, err := platform.UploadDevices(ctx, []regcenter.DeviceUpload{{ESN: esn, DeviceType: "S"}}); err != nil {
			t.Fatal(err)
		}
		acked = append(acked, esn)
	}
	sw := p.Client(t, c, p.DeviceCert(t, "ACKED-0"))
	ops := &http.Client{Timeout: 15 * time.Second}

	px.cut()

	if code := status(t, ops, c.OpsURL+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the database cut = %d", code)
	}
	// The API answers 503 store_unavailable with Retry-After, within the
	// store's own deadline (5s for a read), never hanging.
	begin := time.Now()
	_, err := sw.Bootstrap(ctx, regcenter.BootstrapRequest{ESN: "ACKED-0", Mode: regcenter.ModeTraditional})
	e, ok := regcenter.AsError(err)
	if !ok || e.Code != regcenter.CodeStoreUnavailable || e.RetryAfter <= 0 {
		t.Fatalf("bootstrap with the database cut: %#v", err)
	}
	if took := time.Since(begin); took > 12*time.Second {
		t.Errorf("the request hung %v", took)
	}
	_, err = platform.UploadDevices(ctx, []regcenter.DeviceUpload{{ESN: "LOST-1", DeviceType: "S"}})
	if e, ok := regcenter.AsError(err); !ok || e.Code != regcenter.CodeStoreUnavailable {
		t.Fatalf("upload with the database cut: %v", err)
	}

	px.restore(t)
	eventually(t, "the center is ready again without a restart", func() bool {
		return status(t, ops, c.OpsURL+"/readyz") == http.StatusOK
	})
	ans, err := sw.Bootstrap(ctx, regcenter.BootstrapRequest{ESN: "ACKED-0", Mode: regcenter.ModeTraditional})
	if err != nil || ans.PlatformID != "cmp-a" {
		t.Fatalf("bootstrap after the database came back: %+v, %v", ans, err)
	}
	for _, esn := range acked {
		if _, err := platform.Device(ctx, esn); err != nil {
			t.Errorf("acknowledged %s lost: %v", esn, err)
		}
	}
	if _, err := platform.Device(ctx, "LOST-1"); !errors.Is(err, regcenter.ErrNotFound) {
		t.Errorf("an upload answered 503 was stored: %v", err)
	}
}

func status(t *testing.T, c *http.Client, url string) int {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// pgHostPort is the host:port of the test database.
func pgHostPort(t *testing.T, dsn string) string {
	t.Helper()
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
}

// replaceHost points a DSN at another host:port, keeping user and database.
func replaceHost(t *testing.T, dsn, hostport string) string {
	t.Helper()
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", cfg.User, hostport, cfg.Database)
}

package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/client"
	"github.com/regcenter/regcenter/mtls"
	"github.com/regcenter/regcenter/pki"
	"github.com/regcenter/regcenter/postgres/pgtest"
)

// replicaProcess is `regcenter serve` as a real process on the shared
// database.
type replicaProcess struct {
	cmd *exec.Cmd
	url string
}

var apiLine = regexp.MustCompile(`API on (https://\S+) \(mutual TLS\)`)

func startReplicaProcess(t *testing.T, dir pki.Dir, dsn string) *replicaProcess {
	t.Helper()
	cmd := regcenterCommand("serve", "--pki", string(dir), "--store", dsn,
		"--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0", "--bootstrap-flush-interval", "100ms", "--log-level", "error")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := apiLine.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	select {
	case url := <-urls:
		return &replicaProcess{cmd: cmd, url: url}
	case <-exited:
		t.Fatal("a replica exited before serving")
	case <-time.After(30 * time.Second):
		t.Fatal("a replica did not serve within 30s")
	}
	return nil
}

// failover is a client that retries a call against the next replica when
// the one it used fails, as a client behind a load balancer does.
type failover struct {
	clients []*client.Center
	next    atomic.Int64
}

func (f *failover) do(ctx context.Context, call func(*client.Center) error) (failures int, err error) {
	for {
		c := f.clients[f.next.Load()%int64(len(f.clients))]
		err = call(c)
		if err == nil {
			return failures, nil
		}
		if e, ok := regcenter.AsError(err); ok && e.Code != regcenter.CodeStoreUnavailable {
			return failures, err // an answer, not a failure of the replica
		}
		failures++
		f.next.Add(1)
		if ctx.Err() != nil {
			return failures, ctx.Err()
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func newFailover(t *testing.T, dir pki.Dir, cert tls.Certificate, urls ...string) *failover {
	t.Helper()
	roots, err := mtls.LoadPool(dir.CenterCACert())
	if err != nil {
		t.Fatal(err)
	}
	f := &failover{}
	for _, u := range urls {
		c, err := client.New(client.Config{URL: u, Certificate: cert, Roots: roots, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		f.clients = append(f.clients, c)
	}
	return f
}

// TestReplicaKilledUnderLoad kills one of two replicas (SIGKILL, not a
// shutdown) while platforms upload and switches bootstrap through both:
// the clients that retry against the other replica finish, and every
// upload that was acknowledged is in the database.
func TestReplicaKilledUnderLoad(t *testing.T) {
	dsn, _ := pgtest.FreshSchema(t)
	dir := pki.Dir(filepath.Join(t.TempDir(), "pki"))
	now := time.Now()
	if err := pki.Init(dir, []string{"localhost", "127.0.0.1"}, now); err != nil {
		t.Fatal(err)
	}
	if err := pki.IssuePlatform(dir, "cmp-kill", now); err != nil {
		t.Fatal(err)
	}
	switches, err := pki.IssueDevices(context.Background(), dir, "KILLSW", 4, now)
	if err != nil {
		t.Fatal(err)
	}
	a := startReplicaProcess(t, dir, dsn)
	b := startReplicaProcess(t, dir, dsn)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	platformCert, err := tls.LoadX509KeyPair(dir.PlatformCert("cmp-kill"), dir.PlatformKey("cmp-kill"))
	if err != nil {
		t.Fatal(err)
	}
	setup := newFailover(t, dir, platformCert, a.url)
	if _, err := setup.do(ctx, func(c *client.Center) error {
		_, err := c.PutPlatform(ctx, []regcenter.Address{{Host: "cmp-kill.example.net", Port: 10030}}, "")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	claims := make([]regcenter.DeviceUpload, len(switches))
	for i, esn := range switches {
		claims[i] = regcenter.DeviceUpload{ESN: esn, DeviceType: "S5735"}
	}
	if _, err := setup.do(ctx, func(c *client.Center) error { _, err := c.UploadDevices(ctx, claims); return err }); err != nil {
		t.Fatal(err)
	}

	const uploaders, batches, batchSize = 4, 25, 50
	var (
		mu          sync.Mutex
		acked       []string
		failures    atomic.Int64
		bootstraps  atomic.Int64
		killed      = make(chan struct{})
		ackedAtKill int
	)
	var wg sync.WaitGroup
	for u := range uploaders {
		// Half the clients start on A, half on B.
		f := newFailover(t, dir, platformCert, a.url, b.url)
		f.next.Store(int64(u))
		wg.Go(func() {
			for n := range batches {
				batch := make([]regcenter.DeviceUpload, batchSize)
				for i := range batch {
					batch[i] = regcenter.DeviceUpload{ESN: fmt.Sprintf("KILL-%d-%03d-%03d", u, n, i), DeviceType: "S5735"}
				}
				var rep regcenter.UploadReport
				fails, err := f.do(ctx, func(c *client.Center) error { var err error; rep, err = c.UploadDevices(ctx, batch); return err })
				failures.Add(int64(fails))
				if err != nil {
					t.Errorf("uploader %d batch %d never acknowledged: %v", u, n, err)
					return
				}
				mu.Lock()
				for _, r := range rep.Results {
					if r.Result == regcenter.OutcomeCreated || r.Result == regcenter.OutcomeUnchanged {
						acked = append(acked, r.ESN)
					}
				}
				mu.Unlock()
			}
		})
	}
	stopBootstraps := make(chan struct{})
	for i, esn := range switches {
		cert, err := tls.LoadX509KeyPair(dir.DeviceCert(esn), dir.DeviceKey(esn))
		if err != nil {
			t.Fatal(err)
		}
		f := newFailover(t, dir, cert, a.url, b.url)
		f.next.Store(int64(i))
		wg.Go(func() {
			for {
				select {
				case <-stopBootstraps:
					return
				default:
				}
				fails, err := f.do(ctx, func(c *client.Center) error {
					_, err := c.Bootstrap(ctx, regcenter.BootstrapRequest{ESN: esn, Mode: regcenter.ModeTraditional})
					return err
				})
				failures.Add(int64(fails))
				if err != nil {
					t.Errorf("switch %s: %v", esn, err)
					return
				}
				bootstraps.Add(1)
			}
		})
	}

	// Kill A once the load is well under way.
	go func() {
		for {
			mu.Lock()
			n := len(acked)
			mu.Unlock()
			if n >= uploaders*batchSize*3 || ctx.Err() != nil {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		a.cmd.Process.Kill()
		mu.Lock()
		ackedAtKill = len(acked)
		mu.Unlock()
		close(killed)
	}()
	<-killed
	// The uploaders finish through B; then the switches stop.
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n == uploaders*batches*batchSize || ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stopBootstraps)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	if len(acked) != uploaders*batches*batchSize {
		t.Fatalf("%d of %d devices acknowledged", len(acked), uploaders*batches*batchSize)
	}
	if ackedAtKill == 0 || ackedAtKill == len(acked) {
		t.Fatalf("the kill came at %d of %d acknowledged devices: not during the load", ackedAtKill, len(acked))
	}
	stored := pgtest.QueryInt(t, dsn, "SELECT count(*) FROM devices WHERE platform_id = 'cmp-kill' AND esn LIKE 'KILL-%'")
	if stored != len(acked) {
		t.Fatalf("%d acknowledged uploads, %d in the database", len(acked), stored)
	}
	t.Logf("killed A after %d of %d devices; %d failed calls retried on the other replica; %d bootstraps answered",
		ackedAtKill, len(acked), failures.Load(), bootstraps.Load())
}

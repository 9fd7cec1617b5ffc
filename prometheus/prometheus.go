// Package prometheus implements the center's metrics on a Prometheus
// registry of its own (never the global default registry, so that two
// centers in one test process do not collide and nothing registers behind
// our back). It must never import a store or the domain's internals.
package prometheus

import (
	"net/http"
	"strconv"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the center's collectors. It satisfies httpapi.Metrics.
type Metrics struct {
	registry   *prom.Registry
	requests   *prom.CounterVec
	latency    *prom.HistogramVec
	handshakes *prom.CounterVec
	bootstraps *prom.CounterVec
	claimed    prom.Counter
	released   prom.Counter
}

// New returns metrics registered on a fresh registry, with the Go runtime
// and process collectors.
func New() *Metrics {
	m := &Metrics{
		registry: prom.NewRegistry(),
		requests: prom.NewCounterVec(prom.CounterOpts{
			Name: "regcenter_http_requests_total", Help: "API requests answered, by route pattern and status.",
		}, []string{"route", "status"}),
		latency: prom.NewHistogramVec(prom.HistogramOpts{
			Name: "regcenter_http_request_duration_seconds", Help: "API request latency by route pattern, after the TLS handshake.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		handshakes: prom.NewCounterVec(prom.CounterOpts{
			Name: "regcenter_tls_handshake_failures_total", Help: "Refused TLS handshakes, by reason.",
		}, []string{"reason"}),
		bootstraps: prom.NewCounterVec(prom.CounterOpts{
			Name: "regcenter_bootstrap_requests_total", Help: "Bootstrap requests of switches, by outcome.",
		}, []string{"outcome"}),
		claimed: prom.NewCounter(prom.CounterOpts{
			Name: "regcenter_devices_claimed_total", Help: "Devices newly claimed by platforms.",
		}),
		released: prom.NewCounter(prom.CounterOpts{
			Name: "regcenter_devices_released_total", Help: "Device claims released by platforms.",
		}),
	}
	m.registry.MustRegister(m.requests, m.latency, m.handshakes, m.bootstraps, m.claimed, m.released,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Known label values exist from the start, so that dashboards and
	// alerts see zeros rather than absent series.
	for _, o := range []string{"answered", "not_claimed", "mismatch", "invalid", "error"} {
		m.bootstraps.WithLabelValues(o)
	}
	return m
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

func (m *Metrics) ObserveRequest(route string, status int, elapsed time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route).Observe(elapsed.Seconds())
}

func (m *Metrics) HandshakeFailed(reason string)   { m.handshakes.WithLabelValues(reason).Inc() }
func (m *Metrics) BootstrapOutcome(outcome string) { m.bootstraps.WithLabelValues(outcome).Inc() }
func (m *Metrics) DevicesClaimed(n int)            { m.claimed.Add(float64(n)) }
func (m *Metrics) DevicesReleased(n int)           { m.released.Add(float64(n)) }

package gateway

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vex-ioc/vex/core/ratelimit"
)

// metrics are the gateway's Prometheus series. Each Gateway registers its
// own, so replicas in one test process do not collide.
type metrics struct {
	requests    *prometheus.CounterVec   // client, code
	duration    *prometheus.HistogramVec // cache outcome
	cache       *prometheus.CounterVec   // result: hit, miss, shared, stale
	upstream    *prometheus.CounterVec   // code of each upstream HTTP request
	rateLimited *prometheus.CounterVec   // reason: client, deployment
	nonRoutable prometheus.Counter       // requests for private or reserved addresses, rejected without an upstream request
}

func newMetrics(reg prometheus.Registerer, quota ratelimit.Quota, health map[string]func(context.Context) error) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vex_gateway_requests_total",
			Help: "API requests served, by client name and HTTP status code.",
		}, []string{"client", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vex_gateway_request_duration_seconds",
			Help:    "Time to respond to an API request, by cache outcome.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"cache"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vex_gateway_cache_requests_total",
			Help: "API requests by cache outcome: hit, miss (sent upstream), shared (served by another request's upstream call) or stale.",
		}, []string{"result"}),
		upstream: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vex_gateway_upstream_requests_total",
			Help: "HTTP requests sent to VirusTotal, retries included, by status code (\"error\" when no response arrived).",
		}, []string{"code"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vex_gateway_rate_limited_total",
			Help: "429 responses, by reason: client (a token over its rate) or deployment (the VirusTotal limit or quota).",
		}, []string{"reason"}),
		nonRoutable: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vex_gateway_non_routable_total",
			Help: "API requests for private, loopback or reserved addresses, rejected with 400 without an upstream request.",
		}),
	}
	reg.MustRegister(m.requests, m.duration, m.cache, m.upstream, m.rateLimited, m.nonRoutable, &quotaCollector{quota: quota})
	if len(health) > 0 {
		reg.MustRegister(&healthCollector{checks: health})
	}
	return m
}

// healthCollector runs the health checks once per scrape.
type healthCollector struct {
	checks map[string]func(context.Context) error
}

var healthUpDesc = prometheus.NewDesc("vex_gateway_health_check_up",
	"1 when the health check passes, 0 when it fails (the gateway then runs degraded); the cause is in the log.", []string{"check"}, nil)

func (c *healthCollector) Describe(ch chan<- *prometheus.Desc) { ch <- healthUpDesc }

func (c *healthCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for name, check := range c.checks {
		up := 1.0
		if check(ctx) != nil {
			up = 0
		}
		ch <- prometheus.MustNewConstMetric(healthUpDesc, prometheus.GaugeValue, up, name)
	}
}

// quotaCollector reads the quota once per scrape.
type quotaCollector struct{ quota ratelimit.Quota }

var (
	quotaRemainingDesc = prometheus.NewDesc("vex_gateway_quota_remaining",
		"VirusTotal requests left today under the deployment's daily quota.", nil, nil)
	quotaUsedDesc = prometheus.NewDesc("vex_gateway_quota_used_today",
		"VirusTotal requests reserved since 00:00 UTC.", nil, nil)
	quotaMinuteDesc = prometheus.NewDesc("vex_gateway_quota_last_minute",
		"VirusTotal requests reserved in the last 60 s.", nil, nil)
)

func (c *quotaCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- quotaRemainingDesc
	ch <- quotaUsedDesc
	ch <- quotaMinuteDesc
}

func (c *quotaCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := c.quota.Status(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(quotaRemainingDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(quotaRemainingDesc, prometheus.GaugeValue, float64(st.Remaining()))
	ch <- prometheus.MustNewConstMetric(quotaUsedDesc, prometheus.GaugeValue, float64(st.UsedToday))
	ch <- prometheus.MustNewConstMetric(quotaMinuteDesc, prometheus.GaugeValue, float64(st.InLastMinute))
}

// countingTransport counts every upstream HTTP request by status code.
type countingTransport struct {
	next    http.RoundTripper
	counter *prometheus.CounterVec
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		t.counter.WithLabelValues("error").Inc()
		return nil, err
	}
	t.counter.WithLabelValues(strconv.Itoa(resp.StatusCode)).Inc()
	return resp, nil
}

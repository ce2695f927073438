package gateway_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/faultline/faultline/libs/projectkeys"
	"github.com/faultline/faultline/libs/spike"
	"github.com/faultline/faultline/services/gateway"
)

// spikeClock is the clock the gateways count minutes by; the test moves it
// a minute at a time.
type spikeClock struct{ ns atomic.Int64 }

func newSpikeClock() *spikeClock {
	c := &spikeClock{}
	c.ns.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *spikeClock) now() time.Time { return time.Unix(0, c.ns.Load()) }
func (c *spikeClock) next()          { c.ns.Add(int64(time.Minute)) }

// spikeOptions cap at max(20, 10 × the mean of the last 5 minutes), by clk;
// counts are shared when the test syncs them, never by a timer.
func spikeOptions(t *testing.T, clk *spikeClock) gateway.Options {
	opt := defaultOptions(t)
	opt.Spike = spike.Config{Enabled: true, Window: 5, Multiplier: 10, Floor: 20, Minute: time.Minute}
	opt.SpikeInterval = time.Hour
	opt.SpikeClock = clk.now
	opt.OutcomeInterval = time.Hour
	return opt
}

// sdk is a sentry-go client of a gateway that remembers every answer it got.
type sdk struct {
	t       *testing.T
	client  *sentry.Client
	mu      sync.Mutex
	answers []answer
	sent    int
}

type answer struct {
	status        int
	limits, retry string
}

func newSDK(t *testing.T, g *gw, project int64, key string) *sdk {
	t.Helper()
	u, err := url.Parse(g.url)
	if err != nil {
		t.Fatal(err)
	}
	s := &sdk{t: t}
	s.client, err = sentry.NewClient(sentry.ClientOptions{
		Dsn:           fmt.Sprintf("http://%s@%s/%d", key, u.Host, project),
		Transport:     sentry.NewHTTPSyncTransport(),
		HTTPTransport: s,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// RoundTrip sends the SDK's request and remembers the answer.
func (s *sdk) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		s.mu.Lock()
		s.answers = append(s.answers, answer{res.StatusCode, res.Header.Get("X-Sentry-Rate-Limits"), res.Header.Get("Retry-After")})
		s.mu.Unlock()
	}
	return res, err
}

// capture reports n errors, one after the other.
func (s *sdk) capture(n int) {
	for range n {
		s.sent++
		s.client.CaptureException(fmt.Errorf("spike test error %d", s.sent), nil, sentry.NewScope())
	}
}

// statuses counts the answers by status.
func (s *sdk) statuses() map[int]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[int]int{}
	for _, a := range s.answers {
		m[a.status]++
	}
	return m
}

// minutes runs each in each of n minutes: the gateways share their counts
// at the end of every minute, and once more in the minute after the last.
func minutes(t *testing.T, clk *spikeClock, n int, each func(), gws ...*gw) {
	t.Helper()
	sync := func() {
		for _, g := range gws {
			if s := g.Spikes(); s != nil {
				s.Sync(testContext(t))
			}
		}
	}
	for range n {
		each()
		sync()
		clk.next()
	}
	sync()
}

var spikeLimitsRE = regexp.MustCompile(`^(\d+):error:project:spike_protection$`)

// checkSpiked asserts a 429 of the spike cap, with Retry-After the rest of
// the minute.
func checkSpiked(t *testing.T, a answer, retry string) {
	t.Helper()
	if a.status != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429", a.status)
	}
	m := spikeLimitsRE.FindStringSubmatch(a.limits)
	if m == nil || m[1] != retry || a.retry != retry {
		t.Errorf("X-Sentry-Rate-Limits %q, Retry-After %q; want %s:error:project:spike_protection and %s", a.limits, a.retry, retry, retry)
	}
}

func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

// TestSpikeCappedAfterBaseline: a project that sent 2 errors a minute for
// the whole window has a baseline of 2 and a cap of max(20, 10 × 2); a
// burst through sentry-go gets 20 in, then a 429 naming the spike cap, and
// the SDK, told so, sends nothing more this minute. What was dropped is an
// outcome, a metric and the project's status; the next minute admits again.
func TestSpikeCappedAfterBaseline(t *testing.T) {
	c := newCluster(t)
	standardKeys(c)
	reg := prometheus.NewRegistry()
	c.reg = reg
	clk := newSpikeClock()
	var logs lockedBuffer
	g := c.startGatewayLogging(spikeOptions(t, clk), slog.New(slog.NewJSONHandler(&logs, nil)))

	steady := newSDK(t, g, project, key)
	minutes(t, clk, 4, func() { steady.capture(2) }, g)
	if st := g.Spikes().Status(project); st.HasBaseline || st.Cap != 0 {
		t.Fatalf("after 4 of 5 minutes: %+v, want no baseline and no cap", st)
	}
	minutes(t, clk, 1, func() { steady.capture(2) }, g)
	if got := steady.statuses(); got[http.StatusOK] != 10 || len(got) != 1 {
		t.Fatalf("steady traffic answered %v, want 10 × 200", got)
	}
	st := g.Spikes().Status(project)
	if !st.HasBaseline || st.Baseline != 2 || st.Cap != 20 {
		t.Fatalf("after the window: %+v, want baseline 2 and cap 20", st)
	}

	before := c.count()
	burst := newSDK(t, g, project, key)
	burst.capture(30)
	if len(burst.answers) != 21 {
		t.Fatalf("the SDK sent %d requests, want 21: 20 admitted, one refused, then none", len(burst.answers))
	}
	for i, a := range burst.answers[:20] {
		if a.status != http.StatusOK {
			t.Fatalf("burst request %d: status %d, want 200 under the cap", i, a.status)
		}
	}
	checkSpiked(t, burst.answers[20], "60")
	if n := c.count() - before; n != 20 {
		t.Errorf("%d envelopes of the burst stored, want 20", n)
	}
	// Another project is not capped.
	if got := newSDK(t, g, otherProject, otherKey); true {
		got.capture(1)
		if s := got.statuses(); s[http.StatusOK] != 1 {
			t.Errorf("another project's error answered %v, want 200", s)
		}
	}

	if err := g.FlushOutcomes(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if out, _ := c.readOutcomes(t); !strings.Contains(out+"\n", "p42 error rate_limited spike_protection=1\n") {
		t.Errorf("outcomes:\n%s\nwant p42 error rate_limited spike_protection=1", out)
	}
	if v := counterValue(t, reg, "faultline_gateway_spike_dropped_total"); v != 1 {
		t.Errorf("faultline_gateway_spike_dropped_total = %v, want 1", v)
	}
	g.Spikes().Sync(testContext(t))
	if st := g.Spikes().Status(project); st.Current != 20 || st.Dropped != 1 {
		t.Errorf("status after the burst: %+v, want current 20, dropped 1", st)
	}
	g.Spikes().Sync(testContext(t)) // the same minute: logged once
	if n := strings.Count(logs.String(), `"msg":"spike protection is capping a project's errors","project_id":42,"cap_per_minute":20`); n != 1 {
		t.Errorf("the cap was logged %d times, want once:\n%s", n, logs.String())
	}

	// The spike's minute is over: the project is admitted again.
	clk.next()
	g.Spikes().Sync(testContext(t))
	g.send(t, project, key, eventEnvelope(eventID(1))).id(t)
}

// TestSpikeProtectionSwitchedOff: with the project's switch off, or the
// global one, the same baseline and burst are admitted whole.
func TestSpikeProtectionSwitchedOff(t *testing.T) {
	const offKey = "5b1ce0ff5b1ce0ff5b1ce0ff5b1ce0ff"
	for _, tt := range []struct {
		name   string
		global bool
		key    projectkeys.Key
	}{
		{"project switch", true, projectkeys.Key{PublicKey: offKey, ProjectID: 44, SpikeProtectionDisabled: true}},
		{"global switch", false, projectkeys.Key{PublicKey: offKey, ProjectID: 44}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newCluster(t)
			c.putKey(tt.key)
			clk := newSpikeClock()
			opt := spikeOptions(t, clk)
			opt.Spike.Enabled = tt.global
			g := c.startGateway(opt)
			if (g.Spikes() != nil) != tt.global {
				t.Fatalf("Spikes() = %v with the global switch %v", g.Spikes(), tt.global)
			}
			s := newSDK(t, g, 44, offKey)
			minutes(t, clk, 5, func() { s.capture(2) }, g)
			s.capture(30)
			if got := s.statuses(); got[http.StatusOK] != 40 || len(got) != 1 {
				t.Errorf("answers %v, want 40 × 200", got)
			}
		})
	}
}

// TestSpikeCapAgreedByReplicas: two gateways each see half of a project's
// traffic; both know the whole baseline and cap, and together admit the
// cap in a minute: what one admitted counts against the other.
func TestSpikeCapAgreedByReplicas(t *testing.T) {
	c := newCluster(t)
	standardKeys(c)
	clk := newSpikeClock()
	a, b := c.startGateway(spikeOptions(t, clk)), c.startGateway(spikeOptions(t, clk))
	sa, sb := newSDK(t, a, project, key), newSDK(t, b, project, key)
	minutes(t, clk, 5, func() { sa.capture(1); sb.capture(1) }, a, b)
	eventually(t, "both gateways know the baseline of both", func() bool {
		for _, g := range []*gw{a, b} {
			g.Spikes().Sync(testContext(t))
			if st := g.Spikes().Status(project); st.Baseline != 2 || st.Cap != 20 {
				return false
			}
		}
		return true
	})

	sa.capture(15)
	a.Spikes().Sync(testContext(t))
	eventually(t, "b knows what a admitted this minute", func() bool {
		b.Spikes().Sync(testContext(t))
		return b.Spikes().Status(project).Current == 15
	})
	sb.capture(10)
	if got := sa.statuses(); got[http.StatusOK] != 20 || len(got) != 1 {
		t.Errorf("gateway a answered %v, want 20 × 200", got)
	}
	if got := sb.statuses(); got[http.StatusOK] != 10 || got[http.StatusTooManyRequests] != 1 {
		t.Fatalf("gateway b answered %v, want 10 × 200 (5 of the baseline, 5 of the burst) and one 429", got)
	}
	checkSpiked(t, sb.answers[len(sb.answers)-1], "60")
}

// TestYoungProjectNotCapped: a project whose history is shorter than the
// window has no baseline, whatever it sends: a load test or a soak to a
// fresh project is never capped.
func TestYoungProjectNotCapped(t *testing.T) {
	c := newCluster(t)
	standardKeys(c)
	clk := newSpikeClock()
	g := c.startGateway(spikeOptions(t, clk))
	s := newSDK(t, g, project, key)
	minutes(t, clk, 4, func() { s.capture(1) }, g)
	s.capture(300)
	if got := s.statuses(); got[http.StatusOK] != 304 || len(got) != 1 {
		t.Errorf("answers %v, want 304 × 200", got)
	}
	g.Spikes().Sync(testContext(t))
	if st := g.Spikes().Status(project); st.HasBaseline || st.Cap != 0 || st.Current != 300 {
		t.Errorf("status %+v, want no baseline, no cap, 300 this minute", st)
	}
}

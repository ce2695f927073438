package gateway_test

import (
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultline/faultline/libs/envelope"
	"github.com/faultline/faultline/libs/projectkeys"
	"github.com/faultline/faultline/services/gateway"
)

// hourlyProjectLimit is the default options with a per-project hourly quota;
// the tests count in hours so that a window rarely ends during one, and wait
// for the next hour when it is about to.
func hourlyProjectLimit(t *testing.T, n int64) gateway.Options {
	opt := defaultOptions(t)
	opt.Limits.PerProjectPerHour = n
	awayFromWindowEnd(time.Hour, 30*time.Second)
	return opt
}

var rateLimitsRE = regexp.MustCompile(`^(\d+):([a-z_;]+):(organization|project|key):too_many_events$`)

// checkLimited asserts a 429 naming category and scope in
// X-Sentry-Rate-Limits, with a Retry-After that agrees.
func checkLimited(t *testing.T, res *response, category, scope string) {
	t.Helper()
	if res.status != http.StatusTooManyRequests {
		t.Fatalf("status %d (%s), want 429", res.status, res.body)
	}
	res.detail(t)
	retry, err := strconv.Atoi(res.header.Get("Retry-After"))
	if err != nil || retry < 1 || retry > 3600 {
		t.Errorf("Retry-After %q, want 1 to 3600 seconds", res.header.Get("Retry-After"))
	}
	m := rateLimitsRE.FindStringSubmatch(res.header.Get("X-Sentry-Rate-Limits"))
	if m == nil {
		t.Fatalf("X-Sentry-Rate-Limits %q, want retry:categories:scope:too_many_events", res.header.Get("X-Sentry-Rate-Limits"))
	}
	if m[1] != strconv.Itoa(retry) || m[2] != category || m[3] != scope {
		t.Errorf("X-Sentry-Rate-Limits %q, want %d:%s:%s", m[0], retry, category, scope)
	}
}

func transactionEnvelope(id string) []byte {
	return buildEnvelope(`{"event_id":"`+id+`"}`, item{"transaction", `{"event_id":"` + id + `","type":"transaction","transaction":"/","spans":[]}`})
}

func TestProjectLimitAnswers429(t *testing.T) {
	c := newCluster(t)
	standardKeys(c)
	g := c.startGateway(hourlyProjectLimit(t, 3))

	for i := range 3 {
		g.send(t, project, key, eventEnvelope(eventID(i))).id(t)
	}
	before := c.count()
	for i := range 3 {
		checkLimited(t, g.send(t, project, key, eventEnvelope(eventID(10+i))), "error", "project")
	}
	if n := c.count(); n != before {
		t.Errorf("refused envelopes were stored: %d messages, want %d", n, before)
	}
	// Other categories and other projects have their own quotas.
	g.send(t, project, key, transactionEnvelope(eventID(20))).id(t)
	g.send(t, otherProject, otherKey, eventEnvelope(eventID(21))).id(t)
	// /store/ counts against the same quota.
	checkLimited(t, g.post(t, "/api/42/store/?sentry_key="+key, []byte(`{"message":"x"}`), nil), "error", "project")
}

// TestPartiallyLimitedEnvelope sends an envelope of which only the event is
// over its quota: the rest is stored without the event and its attachment.
func TestPartiallyLimitedEnvelope(t *testing.T) {
	c := newCluster(t)
	standardKeys(c)
	g := c.startGateway(hourlyProjectLimit(t, 1))
	g.send(t, project, key, eventEnvelope(eventID(1))).id(t)

	session := item{"session", `{"sid":"` + eventID(99) + `","status":"exited","attrs":{"release":"1.0"}}`}
	report := item{"client_report", `{"timestamp":1700000000,"discarded_events":[]}`}
	body := buildEnvelope(`{"event_id":"`+eventID(2)+`"}`, eventItem(eventID(2)), item{"attachment", "log file"}, session, report)
	res := g.send(t, project, key, body)
	if res.status != http.StatusOK {
		t.Fatalf("status %d (%s), want 200", res.status, res.body)
	}
	if m := rateLimitsRE.FindStringSubmatch(res.header.Get("X-Sentry-Rate-Limits")); m == nil || m[2] != "error" || m[3] != "project" {
		t.Errorf("X-Sentry-Rate-Limits %q, want the error category limited", res.header.Get("X-Sentry-Rate-Limits"))
	}
	m := c.last()
	env, err := envelope.Parse(m.Data, envelope.DefaultLimits)
	if err != nil {
		t.Fatalf("stored message is not an envelope: %v\n%s", err, m.Data)
	}
	var types []string
	for _, it := range env.Items {
		types = append(types, it.Type)
	}
	if len(types) != 2 || types[0] != "session" || types[1] != "client_report" {
		t.Errorf("stored items %v, want [session client_report]", types)
	}
	if m.Subject != "ingest.42.session" {
		t.Errorf("subject %q, want ingest.42.session", m.Subject)
	}

	// An envelope left with nothing but a client report is refused whole.
	before := c.count()
	checkLimited(t, g.send(t, project, key, buildEnvelope(`{}`, eventItem(eventID(3)), item{"attachment", "x"}, report)), "error", "project")
	if c.count() != before {
		t.Error("an envelope with its event limited was stored")
	}
}

func TestPerKeyLimit(t *testing.T) {
	c := newCluster(t)
	standardKeys(c)
	limited := "11111111111111111111111111111111"
	c.putKey(projectkeys.Key{PublicKey: limited, ProjectID: project, RateLimitPerHour: 2})
	awayFromWindowEnd(time.Hour, 30*time.Second)
	g := c.startGateway(defaultOptions(t))

	for i := range 2 {
		g.send(t, project, limited, eventEnvelope(eventID(i))).id(t)
	}
	checkLimited(t, g.send(t, project, limited, eventEnvelope(eventID(5))), "error", "key")
	// The project's other keys are not limited by it.
	g.send(t, project, key, eventEnvelope(eventID(6))).id(t)
	// Raising the key's limit in the bucket takes effect.
	c.putKey(projectkeys.Key{PublicKey: limited, ProjectID: project, RateLimitPerHour: 5})
	eventually(t, "raised key limit", func() bool {
		return g.send(t, project, limited, eventEnvelope(eventID(7))).status == http.StatusOK
	})
}

// TestLimitHeldAcrossGateways alternates requests between two gateways
// sharing one NATS: together they hold the project quota within 10%.
func TestLimitHeldAcrossGateways(t *testing.T) {
	c := newCluster(t)
	standardKeys(c)
	const limit = 200
	opt := hourlyProjectLimit(t, limit)
	gws := []*gw{c.startGateway(opt), c.startGateway(opt)}

	// Four clients at once, each alternating between the gateways.
	var accepted atomic.Int64
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < limit*3/2; i += 4 {
				res := gws[i%2].send(t, project, key, eventEnvelope(eventID(i)))
				switch res.status {
				case http.StatusOK:
					accepted.Add(1)
				case http.StatusTooManyRequests:
				default:
					t.Errorf("request %d: status %d (%s)", i, res.status, res.body)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := accepted.Load(); n > limit || n < limit*9/10 {
		t.Errorf("two gateways accepted %d under a limit of %d, want %d to %d", n, limit, limit*9/10, limit)
	}
	if n := c.count(); n != uint64(accepted.Load()) {
		t.Errorf("stream holds %d messages, %d were accepted", n, accepted.Load())
	}
}

func TestGlobalLimitCoversEveryProject(t *testing.T) {
	c := newCluster(t)
	standardKeys(c)
	opt := defaultOptions(t)
	opt.Limits.PerHour = 2
	awayFromWindowEnd(time.Hour, 30*time.Second)
	g := c.startGateway(opt)

	g.send(t, project, key, eventEnvelope(eventID(1))).id(t)
	g.send(t, otherProject, otherKey, eventEnvelope(eventID(2))).id(t)
	checkLimited(t, g.send(t, project, key, eventEnvelope(eventID(3))), "error", "organization")
	checkLimited(t, g.send(t, otherProject, otherKey, eventEnvelope(eventID(4))), "error", "organization")
	if n := c.count(); n != 2 {
		t.Errorf("stream holds %d messages, want 2", n)
	}
}

// logEnvelope is a log container with n records that claims claimed in its
// item_count.
func logEnvelope(n, claimed int) []byte {
	records := make([]string, n)
	for i := range records {
		records[i] = `{"timestamp":1.7e9,"level":"info","body":"r"}`
	}
	payload := `{"items":[` + strings.Join(records, ",") + `]}`
	return []byte(`{}` + "\n" + fmt.Sprintf(`{"type":"log","length":%d,"item_count":%d,"content_type":"application/vnd.sentry.items.log+json"}`, len(payload), claimed) +
		"\n" + payload + "\n")
}

// TestQuotaCountsItemsNotItemCount: a tiny envelope claiming a million log
// records must not use up the project's log quota, and one holding more
// records than it claims is charged for all of them.
func TestQuotaCountsItemsNotItemCount(t *testing.T) {
	c := newCluster(t)
	standardKeys(c)
	g := c.startGateway(hourlyProjectLimit(t, 10))

	liar := logEnvelope(1, 1_000_000)
	if len(liar) > 200 {
		t.Fatalf("test envelope is %d bytes, want a small one", len(liar))
	}
	g.send(t, project, key, liar).id(t)
	// Nine records are left of the ten.
	g.send(t, project, key, logEnvelope(4, 1)).id(t)
	g.send(t, project, key, logEnvelope(5, 0)).id(t)
	checkLimited(t, g.send(t, project, key, logEnvelope(1, 1)), "log_item", "project")
}

// TestKeyRateLimitAnyWindow: a key's Sentry rate limit (rateLimit {count,
// window}) holds over its own window, here 90 s, neither a minute nor an
// hour: the 429 says so in Retry-After and X-Sentry-Rate-Limits.
func TestKeyRateLimitAnyWindow(t *testing.T) {
	c := newCluster(t)
	standardKeys(c)
	limited := "22222222222222222222222222222222"
	c.putKey(projectkeys.Key{PublicKey: limited, ProjectID: project, RateLimit: &projectkeys.RateLimit{Count: 3, Window: 90}})
	const window = 90 * time.Second
	awayFromWindowEnd(window, 20*time.Second)
	g := c.startGateway(defaultOptions(t))

	for i := range 3 {
		g.send(t, project, limited, eventEnvelope(eventID(i))).id(t)
	}
	before := c.count()
	sent := time.Now()
	res := g.send(t, project, limited, eventEnvelope(eventID(3)))
	checkLimited(t, res, "error", "key")
	if c.count() != before {
		t.Error("an envelope over the key's limit was stored")
	}
	// The window ends on a multiple of 90 s, not of a minute.
	end := sent.Truncate(window).Add(window)
	want := int(math.Ceil(end.Sub(sent).Seconds()))
	if got, _ := strconv.Atoi(res.header.Get("Retry-After")); got < want-1 || got > want+1 {
		t.Errorf("Retry-After %d s, want %d s (the end of the 90 s window)", got, want)
	}
	// The project's other keys have their own limits.
	g.send(t, project, key, eventEnvelope(eventID(4))).id(t)
	// Raising the limit in the bucket takes effect within the window.
	c.putKey(projectkeys.Key{PublicKey: limited, ProjectID: project, RateLimit: &projectkeys.RateLimit{Count: 5, Window: 90}})
	eventually(t, "raised key limit", func() bool {
		return g.send(t, project, limited, eventEnvelope(eventID(5))).status == http.StatusOK
	})
}

package main

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/faultline/faultline/streams"
)

// The alerting scenario measures notification latency in the all-in-one:
// error events go in through the gateway at a fixed rate, open loop, with
// one request in freshEvery starting an issue of its own; a first-seen rule
// of the project notifies the webhooks plugin, whose URL is a real HTTP
// receiver in this process (the server runs with ALLOW_PRIVATE_WEBHOOKS), and
// each notification is timed from the gateway's 200 for its event to the
// webhook's arrival. The project has more rules that are evaluated on every
// event and never fire, so the latency is that of a project with many rules.

// alertingOptions configure the alerting scenario.
type alertingOptions struct {
	rate       int
	freshEvery int // one request in freshEvery starts an issue (and so a notification)
	rules      int // rules of the project, one of which fires
	issues     int // issues the other events are drawn from
}

// hookRecord is what the receiver and the senders record, indexed by the
// request's sequence number from base.
type hookRecord struct {
	base    uint64
	ok      []atomic.Int64 // unix nanoseconds of the gateway's 200; 0 if none
	grouped []atomic.Int64 // unix nanoseconds of grouping's announcement; 0 if none
	fresh   []atomic.Bool  // the request started an issue of its own
	mu      sync.Mutex
	got     map[uint64]time.Time
	dups    int
	others  int // notifications of events outside the run (the probe)
	bad     int // bodies that are not Sentry's webhook-plugin shape
}

func (r *hookRecord) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	now := time.Now()
	b, err := io.ReadAll(io.LimitReader(req.Body, 8<<20))
	w.WriteHeader(http.StatusOK)
	var body struct {
		ID    string `json:"id"`
		Event struct {
			EventID string `json:"event_id"`
		} `json:"event"`
		TriggeringRules []string `json:"triggering_rules"`
	}
	if err == nil {
		err = json.Unmarshal(b, &body)
	}
	var id [16]byte
	hexID := strings.ReplaceAll(body.Event.EventID, "-", "")
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil || body.ID == "" || len(body.TriggeringRules) == 0 || len(hexID) != 32 {
		r.bad++
		return
	}
	if _, err := hex.Decode(id[:], []byte(hexID)); err != nil || binary.BigEndian.Uint64(id[8:]) != runID {
		r.others++
		return
	}
	seq := binary.BigEndian.Uint64(id[:8])
	if seq < r.base || seq-r.base >= uint64(len(r.ok)) {
		r.others++
		return
	}
	if _, ok := r.got[seq]; ok {
		r.dups++
		return
	}
	r.got[seq] = now
}

// onGrouped records when grouping announced an event of the run.
func (r *hookRecord) onGrouped(m *nats.Msg) {
	now := time.Now().UnixNano()
	var id [16]byte
	if h := m.Header.Get(streams.HeaderEventID); len(h) != 32 {
		return
	} else if _, err := hex.Decode(id[:], []byte(h)); err != nil || binary.BigEndian.Uint64(id[8:]) != runID {
		return
	}
	if seq := binary.BigEndian.Uint64(id[:8]); seq >= r.base && seq-r.base < uint64(len(r.grouped)) {
		r.grouped[seq-r.base].CompareAndSwap(0, now)
	}
}

func (r *hookRecord) has(seq uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.got[seq]
	return ok
}

// runAlerting runs the alerting scenario against a server of its own.
func runAlerting(ctx context.Context, o options, ao alertingOptions) error {
	n := int(float64(ao.rate) * (o.warmup + o.duration).Seconds())
	fresh := n/max(ao.freshEvery, 1) + 1
	corpus := buildPipelineCorpus(o.bodies, ao.issues, fresh+20, 13)
	rec := &hookRecord{base: 1 << 42, ok: make([]atomic.Int64, n), grouped: make([]atomic.Int64, n), fresh: make([]atomic.Bool, n),
		got: map[uint64]time.Time{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hookSrv := &http.Server{Handler: rec, ReadHeaderTimeout: 5 * time.Second}
	go hookSrv.Serve(ln)
	defer hookSrv.Close()

	o.serverEnv += ",ALLOW_PRIVATE_WEBHOOKS=true"
	p, err := startPipelineServer(ctx, o)
	if err != nil {
		return err
	}
	defer p.stop()
	fmt.Printf("started %s serve (pid %d) at %s; webhook receiver at %s\n", o.binary, p.pid(), p.base, ln.Addr())

	sub, err := p.nc.Subscribe("events."+p.project+".grouped", rec.onGrouped)
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	sub.SetPendingLimits(-1, -1)
	client := &http.Client{Timeout: 10 * time.Second}
	hookURL := "http://" + ln.Addr().String() + "/hook"
	if code, body, err := p.apiDo(ctx, client, http.MethodPut, "/api/0/projects/bench/bench/plugins/webhooks/",
		fmt.Sprintf(`{"urls":%q}`, hookURL)); err != nil || code/100 != 2 {
		return fmt.Errorf("set the webhooks plugin: %d %v %.200s", code, err, body)
	}
	const service = `{"id":"sentry.rules.actions.notify_event_service.NotifyEventServiceAction","service":"webhooks"}`
	rules := []string{`{"name":"new issues","actionMatch":"all","filterMatch":"all","frequency":5,
		"conditions":[{"id":"sentry.rules.conditions.first_seen_event.FirstSeenEventCondition"}],
		"filters":[{"id":"sentry.rules.filters.level.LevelFilter","match":"gte","level":"40"}],"actions":[` + service + `]}`}
	for i := 1; i < ao.rules; i++ {
		rules = append(rules, fmt.Sprintf(`{"name":"busy %d","actionMatch":"any","filterMatch":"all","frequency":60,
			"conditions":[{"id":"sentry.rules.conditions.event_frequency.EventFrequencyCondition","value":%d,"interval":"1h"},
				{"id":"sentry.rules.conditions.event_frequency.EventUniqueUserFrequencyCondition","value":%d,"interval":"1d"}],
			"filters":[{"id":"sentry.rules.filters.level.LevelFilter","match":"gte","level":"%d"}],"actions":[%s]}`,
			i, 10_000_000+i, 10_000_000+i, []int{30, 40, 50}[i%3], service))
	}
	for _, r := range rules {
		if code, body, err := p.apiDo(ctx, client, http.MethodPost, "/api/0/projects/bench/bench/rules/", r); err != nil || code/100 != 2 {
			return fmt.Errorf("create a rule: %d %v %.200s", code, err, body)
		}
	}

	// Ready when a new issue notifies: the rules reached the alerting role.
	c := &conn{addr: p.target.host}
	probe := uint64(1) << 43
	deadline := time.Now().Add(30 * time.Second)
	for probed := false; !probed; {
		if time.Now().After(deadline) {
			return errors.New("no notification for a new issue within 30s of creating the rule")
		}
		rec.mu.Lock()
		before := rec.others
		rec.mu.Unlock()
		probe++
		if status, err := c.do(request(nil, p.target, corpus.body(0, 1), probe), o.timeout); err != nil || status != http.StatusOK {
			return fmt.Errorf("probe: status %d, %v", status, err)
		}
		for t := time.Now(); time.Since(t) < 3*time.Second && !probed; time.Sleep(20 * time.Millisecond) {
			rec.mu.Lock()
			probed = rec.others > before
			rec.mu.Unlock()
		}
	}
	c.close()
	issues0, _, err := p.counts(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("%-34s %d rules (1 first-seen, %d never firing), %d events/s, 1 in %d starting an issue, %d other issues\n",
		"alerting setup", len(rules), len(rules)-1, ao.rate, ao.freshEvery, corpus.issues)

	interval := time.Second / time.Duration(ao.rate)
	begin := time.Now()
	from, until := begin.Add(o.warmup), begin.Add(o.warmup+o.duration)
	cpu := measureCPU(p.pid(), o.warmup, o.duration)
	pgDone := make(chan time.Duration, 1)
	go func() {
		time.Sleep(o.warmup)
		pg := p.pgCPU(ctx)
		time.Sleep(o.duration)
		pgDone <- pg()
	}()
	recs, wait := openLoop(ctx, p.target.host, o.rateConns, uint64(n), begin, interval,
		func(c *conn, r *recorder, i uint64, due time.Time, buf []byte) []byte {
			seq := rec.base + i
			b, isFresh := corpus.body(i+1, 0), false
			if ao.freshEvery > 0 && (i+1)%uint64(ao.freshEvery) == 0 {
				if k := corpus.nextFresh.Add(1) - 1; k < uint64(len(corpus.fresh)) {
					b, isFresh = &corpus.fresh[k], true
				}
			}
			buf = request(buf[:0], p.target, b, seq)
			sleepUntil(due)
			status, err := c.do(buf, o.timeout)
			if err == nil && status == http.StatusOK {
				rec.ok[i].Store(time.Now().UnixNano())
				rec.fresh[i].Store(isFresh)
			}
			if !due.Before(from) {
				r.add(status, time.Since(due), err)
			}
			return buf
		})
	wait()
	gw := merge("alerting gateway", o.duration, recs)
	serverCPU := cpu()
	pg := <-pgDone

	// Drain: wait for the notifications of every new issue.
	wanted := 0
	for i := range rec.ok {
		if rec.fresh[i].Load() {
			wanted++
		}
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && ctx.Err() == nil; time.Sleep(100 * time.Millisecond) {
		missing := 0
		for i := range rec.ok {
			if rec.fresh[i].Load() && !rec.has(rec.base+uint64(i)) {
				missing++
			}
		}
		if missing == 0 {
			break
		}
	}
	time.Sleep(time.Second) // a duplicate would arrive by now
	issues1, events, err := p.counts(ctx)
	if err != nil {
		return err
	}

	rec.mu.Lock()
	var lat, toGrouped, fromGrouped []time.Duration
	freshGot, inWindow := 0, 0
	for seq, at := range rec.got {
		i := seq - rec.base
		okAt := rec.ok[i].Load()
		if okAt == 0 {
			continue
		}
		if rec.fresh[i].Load() {
			freshGot++
		}
		if t := time.Unix(0, okAt); !t.Before(from) && t.Before(until) {
			inWindow++
			lat = append(lat, at.Sub(t))
			if g := rec.grouped[i].Load(); g != 0 {
				toGrouped, fromGrouped = append(toGrouped, time.Unix(0, g).Sub(t)), append(fromGrouped, at.Sub(time.Unix(0, g)))
			}
		}
	}
	total, dups, bad := len(rec.got), rec.dups, rec.bad
	rec.mu.Unlock()
	slices.Sort(lat)
	slices.Sort(toGrouped)
	slices.Sort(fromGrouped)
	d := until.Sub(from)
	fmt.Printf("%-34s 200 to webhook p50 %s  p90 %s  p99 %s  max %s  (%d notifications of events answered in the window, %.0f/s)\n",
		fmt.Sprintf("alerting %d/s", ao.rate), ms(quantile(lat, .5)), ms(quantile(lat, .9)), ms(quantile(lat, .99)), ms(quantile(lat, 1)), len(lat), float64(inWindow)/d.Seconds())
	fmt.Printf("%-34s of which 200 to grouped p50 %s  p99 %s; grouped to webhook p50 %s  p99 %s\n", "",
		ms(quantile(toGrouped, .5)), ms(quantile(toGrouped, .99)), ms(quantile(fromGrouped, .5)), ms(quantile(fromGrouped, .99)))
	fmt.Printf("%-34s %d of %d events that started an issue notified; %d notifications in all for %d issues created; %d duplicates, %d malformed\n", "",
		freshGot, wanted, total, issues1-issues0, dups, bad)
	fmt.Printf("%-34s gateway 200 p50 %s  p99 %s  (%d accepted in the window); %d events stored\n", "",
		ms(quantile(gw.ok, .5)), ms(quantile(gw.ok, .99)), len(gw.ok), events)
	if k := len(gw.ok); k > 0 {
		fmt.Printf("%-34s server CPU %.0f µs per event (%.2f cores), its Postgres backends %.0f µs (%.2f cores); server %s\n", "",
			float64(serverCPU.Microseconds())/float64(k), serverCPU.Seconds()/d.Seconds(),
			float64(pg.Microseconds())/float64(k), pg.Seconds()/d.Seconds(), p.rss())
	}
	if gw.errors > 0 || len(gw.statuses) > 1 {
		fmt.Fprintf(os.Stdout, "%-34s gateway statuses %v, %d transport errors (last: %v)\n", "", gw.statuses, gw.errors, gw.lastErr)
	}
	if dups > 0 {
		return fmt.Errorf("alerting: %d duplicate notifications", dups)
	}
	return nil
}

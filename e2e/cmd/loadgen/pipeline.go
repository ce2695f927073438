package main

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/streams"
)

// The pipeline scenario measures the all-in-one server end to end: error
// envelopes go in through the gateway at fixed rates, open loop, and each
// event's latency runs from when it was due to when the grouping role's
// events.<project>.grouped announcement of it arrives (published after the
// transaction that stored it committed). A sample of events is also read
// back through the REST API, polled from the gateway's 200 until it answers.
// The grouping consumer's backlog is sampled through each step; a step is
// sustained when the backlog does not grow and p99 stays bounded.

// pipelineOptions configure the pipeline and backlog scenarios.
type pipelineOptions struct {
	rates      []int
	duration   time.Duration // measured time of each step
	drain      time.Duration // how long to wait after a step for its last events
	samples    int           // events per second read back through the REST API
	issues     int           // issues the repeated events are drawn from
	freshEvery int           // one request in freshEvery starts an issue of its own (0: none)
	backlog    int           // envelopes queued in the backlog scenario
	decisions  int           // status changes per second through the REST API during each step
	minified   int           // percent of the error events that are minified JavaScript, symbolicated by grouping
}

// consumerName is the grouping role's durable consumer on INGEST.
const consumerName = "grouping"

// pipelineServer is a started faultline serve that the load generator can
// also reach over NATS and the REST API.
type pipelineServer struct {
	*server
	nc      *nats.Conn
	js      jetstream.JetStream
	project string // numeric id, as in the DSN
	token   string
}

func startPipelineServer(ctx context.Context, o options) (*pipelineServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	natsAddr := "127.0.0.1:" + strconv.Itoa(port)
	srv, err := startServer(ctx, o.binary, o.serverRoles, append(splitEnv(o.serverEnv), "NATS_LISTEN="+natsAddr), o.keep)
	if err != nil {
		return nil, err
	}
	p := &pipelineServer{server: srv}
	fail := func(err error) (*pipelineServer, error) {
		p.stop()
		return nil, err
	}
	const email = "bench@bench.invalid"
	if _, err := srv.cli(ctx, "user", "create", "--email", email, "--password", "bench-password", "--superuser"); err != nil {
		return fail(err)
	}
	out, err := srv.cli(ctx, "token", "create", "--user", email, "--scopes", "read,write")
	if err != nil {
		return fail(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	p.token = strings.TrimSpace(lines[len(lines)-1])
	p.project = strings.TrimSuffix(strings.TrimPrefix(srv.target.path, "/api/"), "/envelope/")
	if p.nc, err = nats.Connect("nats://"+natsAddr, nats.Name("loadgen")); err != nil {
		return fail(fmt.Errorf("connect to the server's NATS: %w", err))
	}
	if p.js, err = jetstream.New(p.nc); err != nil {
		return fail(err)
	}
	// The grouping role creates its consumer when it starts.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := p.pending(ctx); err == nil {
			break
		} else if time.Now().After(deadline) {
			return fail(fmt.Errorf("grouping consumer: %w", err))
		}
		time.Sleep(100 * time.Millisecond)
	}
	return p, nil
}

func (p *pipelineServer) stop() {
	if p.nc != nil {
		p.nc.Close()
	}
	p.server.stop()
}

// pending is the grouping consumer's backlog: messages not yet delivered
// plus those delivered and not yet acknowledged.
func (p *pipelineServer) pending(ctx context.Context) (int, error) {
	info, err := p.consumerInfo(ctx)
	if err != nil {
		return 0, err
	}
	return int(info.NumPending) + info.NumAckPending, nil
}

func (p *pipelineServer) consumerInfo(ctx context.Context) (*jetstream.ConsumerInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := p.js.Consumer(ctx, streams.Ingest, consumerName)
	if err != nil {
		return nil, err
	}
	return c.CachedInfo(), nil
}

// counts returns the issues and events the grouping role stored.
func (p *pipelineServer) counts(ctx context.Context) (issues, events int, err error) {
	err = p.db.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM grouping.issues), (SELECT count(*) FROM grouping.events)`).Scan(&issues, &events)
	return issues, events, err
}

// pgCPU returns a function that, called later, returns the CPU time the
// Postgres backends serving the server's database used since now (those of
// them alive at both times, and all of those started in between). Postgres
// runs on the same cores, so its share is part of the cost of an event.
func (p *pipelineServer) pgCPU(ctx context.Context) func() time.Duration {
	start := p.pgBackends(ctx)
	return func() time.Duration {
		var d time.Duration
		for pid, c := range p.pgBackends(ctx) {
			d += c - start[pid]
		}
		return d
	}
}

func (p *pipelineServer) pgBackends(ctx context.Context) map[int]time.Duration {
	rows, err := p.db.Pool.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, p.db.Name)
	if err != nil {
		return nil
	}
	defer rows.Close()
	out := map[int]time.Duration{}
	for rows.Next() {
		var pid int
		if rows.Scan(&pid) == nil {
			out[pid] = cpuTime(pid)
		}
	}
	return out
}

// apiGet GETs path from the REST API with the bench token.
func (p *pipelineServer) apiGet(ctx context.Context, client *http.Client, path string) (int, http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+path, nil)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

// tracker knows when each event of the run was due and records when its
// grouped announcement arrived. Event ids carry the request's sequence
// number (headerLine), so no map is needed.
type tracker struct {
	base  uint64         // sequence number of the first event
	due   []atomic.Int64 // unix nanoseconds; 0 while not sent
	step  []int          // step of each event
	steps []*stepRecord
}

// stepRecord is what one step measured.
type stepRecord struct {
	rate       int
	from, end  time.Time // the measured window
	sent       atomic.Int64
	mu         sync.Mutex
	lat        []time.Duration // grouped - due, events due in the window
	got        int             // announcements of this step's events
	inWindow   int             // announcements of any step received in the window
	dups       int
	api        []time.Duration // visible through the REST API - due
	apiFirst   int             // samples visible on the first GET
	apiMissing int             // samples never visible within the poll limit
	decided    []time.Duration // a status change through the REST API: PUT sent to its answer
	visible    []time.Duration // PUT sent to the first answer that shows the change: the PUT's own (200), or a GET's after a 202
	confirmed  []time.Duration // PUT sent to the first GET of the issue that shows the change
	decided202 int             // PUTs answered 202: stored, not applied within the API's wait
	decideErrs int
	lastDecErr string
	pend       []pendSample
	gateway    result
	cpu, self  time.Duration
	pgCPU      time.Duration
	rss        string
	seen       []bool
}

type pendSample struct {
	at time.Time
	n  int
}

// onGrouped handles one events.<project>.grouped message.
func (t *tracker) onGrouped(m *nats.Msg) {
	now := time.Now()
	var id [16]byte
	if h := m.Header.Get(streams.HeaderEventID); len(h) != 32 {
		return
	} else if _, err := hex.Decode(id[:], []byte(h)); err != nil {
		return
	}
	if binary.BigEndian.Uint64(id[8:]) != runID {
		return
	}
	seq := binary.BigEndian.Uint64(id[:8])
	if seq < t.base || seq-t.base >= uint64(len(t.due)) {
		return
	}
	k := seq - t.base
	due := t.due[k].Load()
	if due == 0 {
		return
	}
	for _, s := range t.steps {
		if s.from.IsZero() {
			continue
		}
		if !now.Before(s.from) && now.Before(s.end) {
			s.mu.Lock()
			s.inWindow++
			s.mu.Unlock()
		}
	}
	s := t.steps[t.step[k]]
	s.mu.Lock()
	defer s.mu.Unlock()
	idx := int(k) - t.firstOf(t.step[k])
	if s.seen[idx] {
		s.dups++
		return
	}
	s.seen[idx] = true
	s.got++
	if dueAt := time.Unix(0, due); !dueAt.Before(s.from) {
		s.lat = append(s.lat, now.Sub(dueAt))
	}
}

func (t *tracker) firstOf(step int) int {
	n := 0
	for i := range step {
		n += len(t.steps[i].seen)
	}
	return n
}

// runPipeline runs the fixed-rate steps against a server of its own.
func runPipeline(ctx context.Context, o options, po pipelineOptions) error {
	perStep := make([]int, len(po.rates))
	total := 0
	for i, r := range po.rates {
		perStep[i] = int(float64(r) * (o.warmup + po.duration).Seconds())
		total += perStep[i]
	}
	fresh := 0
	if po.freshEvery > 0 {
		fresh = total/po.freshEvery + 1
	}
	start := time.Now()
	corpus := buildPipelineCorpus(o.bodies, po.issues, fresh, 7)
	if po.minified > 0 {
		corpus.minified, corpus.minifiedPct = minifiedBodies(o.bodies, 9), po.minified
	}
	fmt.Printf("pipeline payloads: %d error envelopes over %d issues (Zipf), plus %d that start an issue each (1 request in %d); %d%% minified JavaScript; built in %s\n",
		len(corpus.repeats), corpus.issues, len(corpus.fresh), po.freshEvery, po.minified, time.Since(start).Round(time.Millisecond))

	p, err := startPipelineServer(ctx, o)
	if err != nil {
		return err
	}
	defer p.stop()
	fmt.Printf("started %s serve (pid %d) at %s, NATS for the load generator at %s\n", o.binary, p.pid(), p.base, p.nc.ConnectedUrl())
	if po.minified > 0 {
		if err := uploadJSBundle(ctx, p, &http.Client{Timeout: 10 * time.Second}); err != nil {
			return fmt.Errorf("upload the JavaScript bundle: %w", err)
		}
	}

	t := &tracker{base: 1 << 40, due: make([]atomic.Int64, total), step: make([]int, total)}
	k := 0
	for i, n := range perStep {
		t.steps = append(t.steps, &stepRecord{rate: po.rates[i], seen: make([]bool, n)})
		for range n {
			t.step[k] = i
			k++
		}
	}
	sub, err := p.nc.Subscribe("events."+p.project+".grouped", t.onGrouped)
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	sub.SetPendingLimits(-1, -1)
	if err := p.nc.Flush(); err != nil {
		return err
	}

	client := &http.Client{Timeout: 10 * time.Second}
	seq := t.base
	for i, s := range t.steps {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		runStep(ctx, o, po, p, t, corpus, client, s, seq)
		seq += uint64(len(s.seen))
		s.print(os.Stdout, i)
		select {
		case <-p.done:
			return errors.New("the server exited")
		default:
		}
	}
	issues, events, err := p.counts(ctx)
	if err != nil {
		return err
	}
	status, hdr, _, err := p.apiGet(ctx, client, "/api/0/projects/bench/bench/issues/?per_page=100")
	if err != nil {
		return err
	}
	fmt.Printf("%-34s %d issues and %d events stored; REST issue list answers %d with %s issues on its first page\n",
		"pipeline stored", issues, events, status, hdr.Get("X-Hits"))
	best := 0
	for _, s := range t.steps {
		if s.sustained() {
			best = max(best, s.rate)
		}
	}
	fmt.Printf("%-34s %d events/s (steps with no growing backlog and e2e p99 under 1s)\n", "pipeline highest sustained", best)
	if po.minified > 0 && po.freshEvery != 1 {
		sample := t.base // the first minified event sent
		for sample%100 >= uint64(po.minified) || po.freshEvery > 0 && sample%uint64(po.freshEvery) == 0 {
			sample++
		}
		fmt.Printf("%-34s %s\n", "pipeline minified symbolicated", checkSymbolicated(ctx, p, client, eventID(sample)))
	}
	p.printRSS("pipeline rss at the end")
	return nil
}

// runStep sends s.rate events per second for warmup+duration, open loop,
// then waits up to po.drain for the step's events to be grouped.
func runStep(ctx context.Context, o options, po pipelineOptions, p *pipelineServer, t *tracker, corpus *pipelineCorpus,
	client *http.Client, s *stepRecord, first uint64) {
	n := uint64(len(s.seen))
	interval := time.Second / time.Duration(s.rate)
	begin := time.Now()
	s.mu.Lock()
	s.from, s.end = begin.Add(o.warmup), begin.Add(o.warmup+po.duration)
	s.mu.Unlock()
	cpu, self := measureCPU(p.pid(), o.warmup, po.duration), measureCPU(os.Getpid(), o.warmup, po.duration)
	pgDone := make(chan time.Duration, 1)
	go func() {
		time.Sleep(o.warmup)
		pg := p.pgCPU(ctx)
		time.Sleep(po.duration)
		pgDone <- pg()
	}()

	// The backlog, four times a second until the drain ends.
	stopPend := make(chan struct{})
	pendDone := make(chan struct{})
	go func() {
		defer close(pendDone)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			if v, err := p.pending(ctx); err == nil {
				s.mu.Lock()
				s.pend = append(s.pend, pendSample{time.Now(), v})
				s.mu.Unlock()
			}
			select {
			case <-tick.C:
			case <-stopPend:
				return
			case <-ctx.Done():
				return
			}
		}
	}()

	// REST samples: polled from the gateway's 200 until visible, every
	// 10ms for the first 100ms and every 50ms after, so that the polling
	// itself (each GET authenticates and reads the event) does not grow into
	// a load of its own when the pipeline falls behind.
	type sample struct {
		id  string
		due time.Time
	}
	samples := make(chan sample, 64)
	sampleEvery := uint64(max(1, s.rate/max(po.samples, 1)))
	var swg sync.WaitGroup
	for range 4 {
		swg.Go(func() {
			for sm := range samples {
				path := "/api/0/projects/bench/bench/events/" + sm.id + "/"
				deadline := time.Now().Add(10 * time.Second)
				for tries := 1; ; tries++ {
					status, _, _, err := p.apiGet(ctx, client, path)
					if err == nil && status == http.StatusOK {
						lat := time.Since(sm.due)
						s.mu.Lock()
						s.api = append(s.api, lat)
						if tries == 1 {
							s.apiFirst++
						}
						s.mu.Unlock()
						break
					}
					if time.Now().After(deadline) || ctx.Err() != nil {
						s.mu.Lock()
						s.apiMissing++
						s.mu.Unlock()
						break
					}
					time.Sleep(pollPause(tries))
				}
			}
		})
	}

	decDone := make(chan struct{})
	go func() {
		defer close(decDone)
		runDecisions(ctx, p, client, s, po.decisions)
	}()

	recs, wait := openLoop(ctx, p.target.host, o.rateConns, n, begin, interval,
		func(c *conn, rec *recorder, i uint64, due time.Time, buf []byte) []byte {
			seq := first + i
			buf = request(buf[:0], p.target, corpus.body(seq, uint64(po.freshEvery)), seq)
			sleepUntil(due)
			t.due[seq-t.base].Store(due.UnixNano())
			status, err := c.do(buf, o.timeout)
			if err == nil && status == http.StatusOK {
				s.sent.Add(1)
				if due.After(s.from) && i%sampleEvery == 0 {
					select {
					case samples <- sample{eventID(seq), due}:
					default:
					}
				}
			}
			if !due.Before(s.from) {
				rec.add(status, time.Since(due), err)
			}
			return buf
		})
	wait()
	s.gateway = merge(fmt.Sprintf("pipeline %d/s gateway", s.rate), po.duration, recs)
	s.cpu, s.self = cpu(), self()
	s.pgCPU = <-pgDone
	s.rss = p.rss()
	close(samples)
	<-decDone

	// Drain: wait for this step's announcements, or give up.
	deadline := time.Now().Add(po.drain)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		s.mu.Lock()
		done := int64(s.got) >= s.sent.Load()
		s.mu.Unlock()
		if done {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	swg.Wait()
	close(stopPend)
	<-pendDone
}

// eventID is the event id headerLine gives request seq.
func eventID(seq uint64) string {
	var id [16]byte
	binary.BigEndian.PutUint64(id[:8], seq)
	binary.BigEndian.PutUint64(id[8:], runID)
	return hex.EncodeToString(id[:])
}

// backlogIn returns the backlog at the start and end of the measured
// window and its growth in events per second over the window (least
// squares).
func (s *stepRecord) backlogIn() (start, end int, slope float64) {
	var xs, ys []float64
	start, end = -1, -1
	for _, ps := range s.pend {
		if ps.at.Before(s.from) {
			start = ps.n
			continue
		}
		if ps.at.After(s.end) {
			continue
		}
		if start < 0 {
			start = ps.n
		}
		end = ps.n
		xs = append(xs, ps.at.Sub(s.from).Seconds())
		ys = append(ys, float64(ps.n))
	}
	if len(xs) < 2 {
		return start, end, 0
	}
	var mx, my float64
	for i := range xs {
		mx += xs[i]
		my += ys[i]
	}
	mx /= float64(len(xs))
	my /= float64(len(xs))
	var num, den float64
	for i := range xs {
		num += (xs[i] - mx) * (ys[i] - my)
		den += (xs[i] - mx) * (xs[i] - mx)
	}
	if den == 0 {
		return start, end, 0
	}
	return start, end, num / den
}

// sustained: the backlog grew by less than 3% of the rate and p99 stayed
// under a second.
func (s *stepRecord) sustained() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sustainedLocked()
}

func (s *stepRecord) sustainedLocked() bool {
	_, _, slope := s.backlogIn()
	slices.Sort(s.lat)
	return len(s.lat) > 0 && slope < 0.03*float64(s.rate) && quantile(s.lat, .99) < time.Second &&
		int64(s.got) >= s.sent.Load()
}

func (s *stepRecord) print(w io.Writer, i int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	slices.Sort(s.lat)
	slices.Sort(s.api)
	d := s.end.Sub(s.from)
	name := fmt.Sprintf("pipeline %d/s", s.rate)
	inWin := s.inWindow
	fmt.Fprintf(w, "%-34s grouped %6.0f/s  e2e p50 %s  p99 %s  max %s  (%d of %d sent grouped",
		name, float64(inWin)/d.Seconds(), ms(quantile(s.lat, .5)), ms(quantile(s.lat, .99)), ms(quantile(s.lat, 1)), s.got, s.sent.Load())
	if s.dups > 0 {
		fmt.Fprintf(w, ", %d announced twice", s.dups)
	}
	fmt.Fprintln(w, ")")
	start, end, slope := s.backlogIn()
	verdict := "sustained"
	if !s.sustainedLocked() {
		verdict = "NOT sustained"
	}
	fmt.Fprintf(w, "%-34s backlog %d at the start, %d at the end, trend %+.0f/s: %s\n", "", start, end, slope, verdict)
	fmt.Fprintf(w, "%-34s REST event visible p50 %s  p99 %s  max %s  (%d samples, %d on the first GET, %d never)\n", "",
		ms(quantile(s.api, .5)), ms(quantile(s.api, .99)), ms(quantile(s.api, 1)), len(s.api), s.apiFirst, s.apiMissing)
	if len(s.decided) > 0 || s.decideErrs > 0 {
		slices.Sort(s.decided)
		slices.Sort(s.visible)
		slices.Sort(s.confirmed)
		fmt.Fprintf(w, "%-34s resolve/unresolve via REST: answered p50 %s  p99 %s; visible p50 %s  p99 %s  max %s; next GET shows it p50 %s  p99 %s  (%d decisions, %d answered 202, %d failed%s)\n", "",
			ms(quantile(s.decided, .5)), ms(quantile(s.decided, .99)), ms(quantile(s.visible, .5)), ms(quantile(s.visible, .99)),
			ms(quantile(s.visible, 1)), ms(quantile(s.confirmed, .5)), ms(quantile(s.confirmed, .99)),
			len(s.decided), s.decided202, s.decideErrs, s.lastDecErr)
	}
	g := s.gateway
	fmt.Fprintf(w, "%-34s gateway 200 p50 %s  p99 %s  (%d accepted in the window)\n", "", ms(quantile(g.ok, .5)), ms(quantile(g.ok, .99)), len(g.ok))
	if n := len(g.ok); n > 0 && s.cpu > 0 {
		fmt.Fprintf(w, "%-34s server CPU %.0f µs per event (%.2f cores), its Postgres backends %.0f µs (%.2f cores); load generator %.2f cores\n", "",
			float64(s.cpu.Microseconds())/float64(n), s.cpu.Seconds()/d.Seconds(),
			float64(s.pgCPU.Microseconds())/float64(n), s.pgCPU.Seconds()/d.Seconds(), s.self.Seconds()/d.Seconds())
		fmt.Fprintf(w, "%-34s server %s\n", "", s.rss)
	}
	var non []string
	for st, c := range g.statuses {
		if st != 200 {
			non = append(non, fmt.Sprintf("%d: %d", st, c))
		}
	}
	if g.errors > 0 {
		non = append(non, fmt.Sprintf("transport errors: %d (last: %v)", g.errors, g.lastErr))
	}
	if len(non) > 0 {
		fmt.Fprintf(w, "%-34s gateway non-200 %s\n", "", strings.Join(non, ", "))
	}
}

// rss is the server's VmRSS and VmHWM now.
func (s *server) rss() string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.pid()))
	if err != nil {
		return err.Error()
	}
	vals := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		name, v, ok := strings.Cut(line, ":")
		if ok && (name == "VmRSS" || name == "VmHWM") {
			vals[name] = strings.TrimSpace(v)
		}
	}
	return fmt.Sprintf("VmRSS %s  VmHWM %s", mb(vals["VmRSS"]), mb(vals["VmHWM"]))
}

// runBacklog queues po.backlog error envelopes while the grouping consumer
// is paused, resumes it and times how long the backlog takes to clear.
func runBacklog(ctx context.Context, o options, po pipelineOptions) error {
	corpus := buildPipelineCorpus(o.bodies, po.issues, po.backlog/max(po.freshEvery, 1)+1, 11)
	p, err := startPipelineServer(ctx, o)
	if err != nil {
		return err
	}
	defer p.stop()
	fmt.Printf("started %s serve (pid %d) for the backlog\n", o.binary, p.pid())
	if _, err := p.js.PauseConsumer(ctx, streams.Ingest, consumerName, time.Now().Add(time.Hour)); err != nil {
		return fmt.Errorf("pause the grouping consumer: %w", err)
	}
	// Flat out until po.backlog envelopes are in.
	var next, okCount atomic.Uint64
	n := uint64(po.backlog)
	first := uint64(1) << 41
	begin := time.Now()
	var wg sync.WaitGroup
	var errs atomic.Int64
	for range o.conns {
		wg.Go(func() {
			c := &conn{addr: p.target.host}
			defer c.close()
			var buf []byte
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= n {
					return
				}
				seq := first + i
				buf = request(buf[:0], p.target, corpus.body(seq, uint64(po.freshEvery)), seq)
				status, err := c.do(buf, o.timeout)
				if err == nil && status == http.StatusOK {
					okCount.Add(1)
				} else {
					errs.Add(1)
				}
			}
		})
	}
	wg.Wait()
	fill := time.Since(begin)
	fmt.Printf("%-34s %d envelopes accepted in %.1fs (%.0f/s), %d refused or failed, grouping paused\n",
		"backlog fill", okCount.Load(), fill.Seconds(), float64(okCount.Load())/fill.Seconds(), errs.Load())
	time.Sleep(time.Second)
	before, err := p.pending(ctx)
	if err != nil {
		return err
	}
	_, eventsBefore, err := p.counts(ctx)
	if err != nil {
		return err
	}
	resumed := time.Now()
	if _, err := p.js.ResumeConsumer(ctx, streams.Ingest, consumerName); err != nil {
		return fmt.Errorf("resume the grouping consumer: %w", err)
	}
	// The clock starts at the first delivery after the resume: the grouping
	// role's pull requests, made while the consumer was paused, are only
	// renewed after the client misses heartbeats (~10s), an artefact of
	// pausing, not of grouping.
	var t0 time.Time
	var cpu0 time.Duration
	pgCPU := func() time.Duration { return 0 }
	var left int
	for {
		info, err := p.consumerInfo(ctx)
		if err != nil {
			return err
		}
		left = int(info.NumPending) + info.NumAckPending
		if t0.IsZero() && int(info.NumPending) < before {
			t0, cpu0 = time.Now(), cpuTime(p.pid())
			pgCPU = p.pgCPU(ctx)
		}
		if left == 0 || time.Since(resumed) > 5*time.Minute || ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(t0)
	cpu := cpuTime(p.pid()) - cpu0
	pg := pgCPU()
	issues, events, err := p.counts(ctx)
	if err != nil {
		return err
	}
	cleared := before - left
	fmt.Printf("%-34s %d events grouped in %.1fs: %.0f events/s\n", "backlog clear", cleared, took.Seconds(), float64(cleared)/took.Seconds())
	fmt.Printf("%-34s server CPU %.0f µs per event (%.2f cores), its Postgres backends %.0f µs (%.2f cores); server %s\n", "",
		float64(cpu.Microseconds())/float64(max(cleared, 1)), cpu.Seconds()/took.Seconds(),
		float64(pg.Microseconds())/float64(max(cleared, 1)), pg.Seconds()/took.Seconds(), p.rss())
	fmt.Printf("%-34s %d events stored during the run (%d before), %d issues; first delivery %.1fs after the resume\n",
		"", events-eventsBefore, eventsBefore, issues, t0.Sub(resumed).Seconds())
	if left > 0 {
		return errors.New("backlog: not cleared within 5 minutes")
	}
	return nil
}

// parseRates parses a comma-separated list of rates.
func parseRates(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("rate %q is not a positive count", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// pollPause is the wait after the tries-th GET of a REST sample.
func pollPause(tries int) time.Duration {
	if tries < 10 {
		return 10 * time.Millisecond
	}
	return 50 * time.Millisecond
}

// runDecisions resolves and unresolves the project's issues through the REST
// API, rate times a second through s's measured window, as people on the
// dashboard do while events stream in. Each decision is timed to the PUT's
// answer (the API waits until grouping applied it), to the first answer that
// shows the change (the PUT's 200 carries the issue as applied; after a 202,
// a later GET), and to the first GET of the issue that shows it. An issue
// shows the change when it is resolved, or regressed by a newer event since
// (either means the decision was applied), or unresolved.
func runDecisions(ctx context.Context, p *pipelineServer, client *http.Client, s *stepRecord, rate int) {
	if rate <= 0 {
		return
	}
	if wait := time.Until(s.from); wait > 0 {
		time.Sleep(wait)
	}
	status, _, body, err := p.apiGet(ctx, client, "/api/0/projects/bench/bench/issues/?per_page=100&query=")
	var list []struct {
		ID string `json:"id"`
	}
	if err == nil && status == http.StatusOK {
		err = json.Unmarshal(body, &list)
	}
	if err != nil || len(list) == 0 {
		s.mu.Lock()
		s.decideErrs++
		s.lastDecErr = fmt.Sprintf("; listing issues: %d %v", status, err)
		s.mu.Unlock()
		return
	}
	resolved := map[string]bool{}
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for i := 0; time.Now().Before(s.end) && ctx.Err() == nil; i++ {
		<-tick.C
		id := list[i%len(list)].ID
		want := "resolved"
		if resolved[id] {
			want = "unresolved"
		}
		path := "/api/0/organizations/bench/issues/" + id + "/"
		start := time.Now()
		code, body, err := p.apiDo(ctx, client, http.MethodPut, path, `{"status":"`+want+`"}`)
		answered := time.Since(start)
		if err != nil || code != http.StatusOK && code != http.StatusAccepted {
			s.mu.Lock()
			s.decideErrs++
			s.lastDecErr = fmt.Sprintf("; last: %d %v %.100s", code, err, body)
			s.mu.Unlock()
			continue
		}
		resolved[id] = want == "resolved"
		shows := func(body []byte) bool {
			var is struct {
				Status    string `json:"status"`
				Substatus string `json:"substatus"`
			}
			return json.Unmarshal(body, &is) == nil && (is.Status == want || want == "resolved" && is.Substatus == "regressed")
		}
		var seen, confirmed time.Duration
		if code == http.StatusOK && shows(body) {
			seen = answered
		}
		for tries := 1; time.Since(start) < 10*time.Second && ctx.Err() == nil; tries++ {
			code, _, body, err := p.apiGet(ctx, client, path)
			if err == nil && code == http.StatusOK && shows(body) {
				confirmed = time.Since(start)
				break
			}
			time.Sleep(pollPause(tries))
		}
		if seen == 0 {
			seen = confirmed
		}
		s.mu.Lock()
		s.decided = append(s.decided, answered)
		if code == http.StatusAccepted {
			s.decided202++
		}
		if confirmed > 0 {
			s.confirmed = append(s.confirmed, confirmed)
		}
		if seen > 0 {
			s.visible = append(s.visible, seen)
		} else {
			s.decideErrs++
			s.lastDecErr = "; a decision never became visible"
		}
		s.mu.Unlock()
	}
}

// apiDo sends a JSON body to path with the bench token.
func (p *pipelineServer) apiDo(ctx context.Context, client *http.Client, method, path, body string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, p.base+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

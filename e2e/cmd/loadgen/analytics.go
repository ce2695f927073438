package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/libs/clickhouse"
	"github.com/faultline/faultline/libs/clickhouse/chtest"
	"github.com/faultline/faultline/services/analytics"
	"github.com/faultline/faultline/streams"
)

// The analytics scenario measures issue 12's lag of the analytics role in
// the all-in-one: a ClickHouse server of the run's own (chtest starts it),
// `faultline serve` with CLICKHOUSE_URL pointing at a fresh database of it,
// and SDK-shaped traffic through the gateway at a fixed rate, open loop:
// distinct transactions (each with its trace context and two spans, every
// id distinct) and error events (which reach ClickHouse through grouping
// and EVENTS). Every second it samples the backlog of the role's durable
// consumers on INGEST and EVENTS (pending plus unacknowledged), the age of
// the oldest message not yet acknowledged, and the rows in ClickHouse; and
// for a sample of events it times the gateway's 200 until the event's row
// is queryable, polling ClickHouse by event id.

// analyticsOptions configure the analytics scenario.
type analyticsOptions struct {
	rate          int
	errorsPercent int           // percent of the requests that are error events, the rest transactions
	samples       int           // events per second timed until queryable in ClickHouse
	drain         time.Duration // how long to wait after sending for the backlog to clear
}

// chSample is an event timed from the gateway's 200 to its row.
type chSample struct {
	id    string
	table string
	ok    time.Time
	seen  time.Time
}

// chSampler polls ClickHouse for the sampled events' rows.
type chSampler struct {
	mu      sync.Mutex
	waiting map[string]*chSample
	all     []*chSample
	polls   int
	errs    int
	lastErr error
}

func (s *chSampler) add(id, table string, ok time.Time) {
	c := &chSample{id: id, table: table, ok: ok}
	s.mu.Lock()
	s.waiting[id] = c
	s.all = append(s.all, c)
	s.mu.Unlock()
}

// poll asks ClickHouse once which waiting events have a row, every 100ms
// until ctx ends: the times it reports are late by up to one poll.
func (s *chSampler) poll(ctx context.Context, ch clickhouse.Conn) {
	for ctx.Err() == nil {
		s.mu.Lock()
		var tx, er []string
		for id, c := range s.waiting {
			if c.table == "transactions" {
				tx = append(tx, "'"+id+"'") // our own hex ids
			} else {
				er = append(er, "'"+id+"'")
			}
		}
		s.mu.Unlock()
		if len(tx)+len(er) > 0 {
			var parts []string
			if len(tx) > 0 {
				parts = append(parts, "SELECT event_id FROM transactions WHERE event_id IN ("+strings.Join(tx, ",")+")")
			}
			if len(er) > 0 {
				parts = append(parts, "SELECT event_id FROM errors WHERE event_id IN ("+strings.Join(er, ",")+")")
			}
			qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			rows, err := ch.Query(qctx, strings.Join(parts, " UNION ALL "))
			now := time.Now()
			var found []string
			if err == nil {
				for rows.Next() {
					var id string
					if err = rows.Scan(&id); err != nil {
						break
					}
					found = append(found, id)
				}
				if err == nil {
					err = rows.Err()
				}
				rows.Close()
			}
			cancel()
			s.mu.Lock()
			s.polls++
			if err != nil && ctx.Err() == nil {
				s.errs++
				s.lastErr = err
			}
			for _, id := range found {
				if c := s.waiting[id]; c != nil {
					c.seen = now
					delete(s.waiting, id)
				}
			}
			s.mu.Unlock()
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (s *chSampler) pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.waiting)
}

// lagSample is one second's look at the role's consumers and tables.
type lagSample struct {
	at             time.Time
	ingest, events int           // pending plus unacknowledged
	ingestAge      time.Duration // age of the oldest unacknowledged message; 0 with none
	eventsAge      time.Duration
	rows           map[string]uint64
	err            error
}

// analyticsServer is a pipeline server with the role's consumers and a
// connection to its ClickHouse database.
type analyticsServer struct {
	*pipelineServer
	ch     clickhouse.Conn
	ingest jetstream.Stream
	events jetstream.Stream
	opt    analytics.Options
}

// consumerLag is a consumer's backlog and the age of its oldest message not
// yet acknowledged: the stream's message just past the ack floor (for the
// filtered INGEST consumer that may be a message it does not take, at most
// one envelope older than the one it waits for).
func (a *analyticsServer) consumerLag(ctx context.Context, st jetstream.Stream, stream, name string) (int, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := a.js.Consumer(ctx, stream, name)
	if err != nil {
		return 0, 0, err
	}
	info := c.CachedInfo()
	n := int(info.NumPending) + info.NumAckPending
	if n == 0 {
		return 0, 0, nil
	}
	m, err := st.GetMsg(ctx, info.AckFloor.Stream+1)
	if err != nil {
		return n, 0, fmt.Errorf("message after the ack floor of %s: %w", name, err)
	}
	return n, time.Since(m.Time), nil
}

func (a *analyticsServer) sample(ctx context.Context) lagSample {
	s := lagSample{at: time.Now(), rows: map[string]uint64{}}
	var err1, err2 error
	s.ingest, s.ingestAge, err1 = a.consumerLag(ctx, a.ingest, streams.Ingest, a.opt.IngestConsumer)
	s.events, s.eventsAge, err2 = a.consumerLag(ctx, a.events, streams.Events, a.opt.EventsConsumer)
	s.err = errors.Join(err1, err2)
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	// Rows inserted (the server's own counter: merges that collapse
	// redelivered rows do not lower it) and distinct rows stored.
	var tx, spans, errs, inserted uint64
	if err := a.ch.QueryRow(qctx, `SELECT (SELECT uniqExact(event_id) FROM transactions), (SELECT uniqExact(span_id) FROM spans),
		(SELECT uniqExact(event_id) FROM errors), (SELECT sum(value) FROM system.events WHERE event = 'InsertedRows')`).Scan(&tx, &spans, &errs, &inserted); err != nil {
		s.err = errors.Join(s.err, err)
		return s
	}
	s.rows = map[string]uint64{"transactions": tx, "spans": spans, "errors": errs, "inserted": inserted}
	return s
}

func (s lagSample) total() uint64 { return s.rows["inserted"] }

// analyticsTransaction is a transaction event with every id distinct to
// request seq, shaped like BenchmarkAnalyticsInsert's: a trace context and
// two spans, one of 50 names, ending now. Its event_id is the envelope
// header's.
func analyticsTransaction(seq uint64, now time.Time) body {
	i := int(seq % 1_000_000_007)
	end := float64(now.UnixMicro()) / 1e6
	dur := float64(10+(i*7919)%990) / 1000
	status := "ok"
	if i%20 == 0 {
		status = "internal_error"
	}
	id := eventID(seq)
	// Span ids look random, as SDKs make them: an all-digit id (as seq<<2|k
	// would give) can pass the Luhn check and be scrubbed as a card number.
	span := func(k uint64) string { return fmt.Sprintf("%016x", mix64(seq<<2|k)) }
	p := fmt.Appendf(nil, `{"event_id":"%s","type":"transaction","transaction":"GET /route/%d","start_timestamp":%.6f,"timestamp":%.6f,"release":"r%d","environment":"prod","platform":"go",`+
		`"user":{"id":"u%d"},"contexts":{"trace":{"trace_id":"%s","span_id":"%s","op":"http.server","status":%q}},`+
		`"spans":[{"span_id":"%s","parent_span_id":"%s","trace_id":"%s","op":"db","description":"SELECT 1","start_timestamp":%.6f,"timestamp":%.6f},`+
		`{"span_id":"%s","parent_span_id":"%s","trace_id":"%s","op":"cache","start_timestamp":%.6f,"timestamp":%.6f}]}`,
		id, i%50, end-dur, end, i%5, i%1000, id, span(0), status,
		span(1), span(0), id, end-dur, end-dur/2, span(2), span(0), id, end-dur/2, end)
	var items []byte
	items = fmt.Appendf(items, `{"type":"transaction","length":%d}`+"\n", len(p))
	items = append(items, p...)
	items = append(items, '\n')
	// A stored gzip member (as the header's): no compression work per request.
	return body{kind: "transaction", hasEvent: true, items: headerMember(nil, items), rawSize: len(items)}
}

// mix64 is splitmix64's finalizer: a bijection, so distinct inputs stay
// distinct.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// runAnalytics runs the analytics scenario against a server and a
// ClickHouse of its own.
func runAnalytics(ctx context.Context, o options, ao analyticsOptions) error {
	if ao.rate <= 0 || ao.errorsPercent < 0 || ao.errorsPercent > 100 {
		return fmt.Errorf("-analytics-rate %d and -analytics-errors-percent %d: want a rate above 0 and a percent in 0..100", ao.rate, ao.errorsPercent)
	}
	chs, err := chtest.Shared()
	defer chtest.Close()
	if err != nil {
		return fmt.Errorf("no ClickHouse server: %w (install clickhouse-server, or point TEST_CLICKHOUSE_URL at one)", err)
	}
	dbURL, err := chs.NewDatabase()
	if err != nil {
		return fmt.Errorf("ClickHouse database: %w", err)
	}
	n := int(float64(ao.rate) * (o.warmup + o.duration).Seconds())
	corpus := buildPipelineCorpus(o.bodies, o.pipeline.issues, n/100+1, 17)

	o.serverEnv += ",CLICKHOUSE_URL=" + dbURL
	p, err := startPipelineServer(ctx, o)
	if err != nil {
		return err
	}
	defer p.stop()
	a := &analyticsServer{pipelineServer: p, opt: analytics.DefaultOptions()}
	if a.ch, err = clickhouse.Open(ctx, dbURL); err != nil {
		return fmt.Errorf("open ClickHouse: %w", err)
	}
	defer a.ch.Close()
	if a.ingest, err = p.js.Stream(ctx, streams.Ingest); err != nil {
		return err
	}
	if a.events, err = p.js.Stream(ctx, streams.Events); err != nil {
		return err
	}
	fmt.Printf("started %s serve (pid %d) at %s with CLICKHOUSE_URL %s\n", o.binary, p.pid(), p.base, dbURL)

	// Ready when a transaction sent through the gateway is queryable: the
	// role consumes and inserts.
	probe := &chSampler{waiting: map[string]*chSample{}}
	pctx, pcancel := context.WithCancel(ctx)
	go probe.poll(pctx, a.ch)
	c := &conn{addr: p.target.host}
	probeSeq := uint64(1) << 43
	tb := analyticsTransaction(probeSeq, time.Now())
	status, err := c.do(request(nil, p.target, &tb, probeSeq), o.timeout)
	c.close()
	if err != nil || status != http.StatusOK {
		pcancel()
		return fmt.Errorf("probe transaction: status %d, %v", status, err)
	}
	probe.add(eventID(probeSeq), "transactions", time.Now())
	for deadline := time.Now().Add(60 * time.Second); probe.pending() > 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			pcancel()
			probe.mu.Lock()
			defer probe.mu.Unlock()
			return fmt.Errorf("the probe transaction is not in ClickHouse within 60s (%d polls, %d failed, last error %v)", probe.polls, probe.errs, probe.lastErr)
		}
	}
	pcancel()
	fmt.Printf("%-34s %d requests/s for %s after %s warmup: %d%% error events (%d issues, 1 in 100 new), %d%% transactions (2 spans each); %d/s timed to ClickHouse\n",
		"analytics setup", ao.rate, o.duration, o.warmup, ao.errorsPercent, corpus.issues, 100-ao.errorsPercent, ao.samples)

	samples := &chSampler{waiting: map[string]*chSample{}}
	sctx, scancel := context.WithCancel(ctx)
	defer scancel()
	go samples.poll(sctx, a.ch)

	baseline := a.sample(ctx)
	if baseline.err != nil {
		return fmt.Errorf("look at the role's consumers and tables: %w", baseline.err)
	}
	interval := time.Second / time.Duration(ao.rate)
	sampleEvery := uint64(max(ao.rate/max(ao.samples, 1), 1))
	base := uint64(1) << 42
	begin := time.Now()
	from, until := begin.Add(o.warmup), begin.Add(o.warmup+o.duration)
	cpu, chCPU, self := measureCPU(p.pid(), o.warmup, o.duration), measureCPU(chs.Pid(), o.warmup, o.duration), measureCPU(os.Getpid(), o.warmup, o.duration)
	pgDone := make(chan time.Duration, 1)
	go func() {
		time.Sleep(o.warmup)
		pg := p.pgCPU(ctx)
		time.Sleep(o.duration)
		pgDone <- pg()
	}()
	var sentN, okN [2]atomic.Int64 // in the window: [errors, transactions]
	var sentSec, okSec sync.Map    // second of the run -> *atomic.Int64
	count := func(m *sync.Map, sec int64) {
		v, _ := m.LoadOrStore(sec, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
	recs, wait := openLoop(ctx, p.target.host, o.rateConns, uint64(n), begin, interval,
		func(c *conn, r *recorder, i uint64, due time.Time, buf []byte) []byte {
			seq := base + i
			sleepUntil(due)
			isErr := int(i%100) < ao.errorsPercent
			var b *body
			table := "transactions"
			if isErr {
				b, table = corpus.body(i+1, 100), "errors"
			} else {
				tb := analyticsTransaction(seq, time.Now())
				b = &tb
			}
			buf = request(buf[:0], p.target, b, seq)
			sentAt := time.Now()
			count(&sentSec, int64(sentAt.Sub(begin)/time.Second))
			k := 1
			if isErr {
				k = 0
			}
			if !sentAt.Before(from) && sentAt.Before(until) {
				sentN[k].Add(1)
			}
			status, err := c.do(buf, o.timeout)
			okAt := time.Now()
			if !due.Before(from) {
				r.add(status, okAt.Sub(due), err)
			}
			if err != nil || status != http.StatusOK {
				return buf
			}
			count(&okSec, int64(okAt.Sub(begin)/time.Second))
			if !okAt.Before(from) && okAt.Before(until) {
				okN[k].Add(1)
			}
			if !due.Before(from) && i%sampleEvery == (i/sampleEvery*7919)%sampleEvery { // offsets vary: both kinds
				samples.add(eventID(seq), table, okAt)
			}
			return buf
		})

	// One look a second while sending, then while draining.
	var looks []lagSample
	printLook := func(s lagSample, prev *lagSample) {
		sec := int64(s.at.Sub(begin) / time.Second)
		var sent, ok int64
		if v, found := sentSec.Load(sec - 1); found {
			sent = v.(*atomic.Int64).Load()
		}
		if v, found := okSec.Load(sec - 1); found {
			ok = v.(*atomic.Int64).Load()
		}
		if s.err != nil {
			// A failed look prints its error, not numbers.
			fmt.Printf("%-34s sent %4d ok %4d | look failed: %v\n", fmt.Sprintf("analytics t=%3.0fs", s.at.Sub(begin).Seconds()), sent, ok, s.err)
			return
		}
		d := s.total() - prev.total()
		fmt.Printf("%-34s sent %4d ok %4d | INGEST backlog %6d oldest %6s | EVENTS backlog %6d oldest %6s | rows inserted +%6d, stored %d tx, %d spans, %d errors\n",
			fmt.Sprintf("analytics t=%3.0fs", s.at.Sub(begin).Seconds()), sent, ok, s.ingest, secs(s.ingestAge), s.events, secs(s.eventsAge), d,
			s.rows["transactions"], s.rows["spans"], s.rows["errors"])
	}
	sendDone := make(chan struct{})
	go func() { wait(); close(sendDone) }()
	// A full look every second; after sending stops, the consumers and the
	// samples every 100ms too, so the drain time is good to about 100ms.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	prev := &baseline
	atFrom, atUntil := -1, -1
	sending := true
	var sendEnd time.Time
	var drained time.Duration = -1
	nextLook := begin.Add(time.Second)
	for sending || drained < 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-sendDone:
			sending, sendEnd = false, time.Now()
			sendDone = nil
			continue
		case <-tick.C:
		}
		var ing, ev int
		var err error
		at := time.Now()
		if !at.Before(nextLook) {
			for !at.Before(nextLook) {
				nextLook = nextLook.Add(time.Second)
			}
			s := a.sample(ctx)
			looks = append(looks, s)
			printLook(s, prev)
			if s.err == nil {
				prev = &s
			}
			if atFrom < 0 && s.err == nil && !s.at.Before(from) {
				atFrom = len(looks) - 1
			}
			if atUntil < 0 && s.err == nil && !s.at.Before(until) {
				atUntil = len(looks) - 1
			}
			at, ing, ev, err = s.at, s.ingest, s.events, s.err
		} else if !sending {
			var err1, err2 error
			ing, _, err1 = a.consumerLag(ctx, a.ingest, streams.Ingest, a.opt.IngestConsumer)
			ev, _, err2 = a.consumerLag(ctx, a.events, streams.Events, a.opt.EventsConsumer)
			err = errors.Join(err1, err2)
		} else {
			continue
		}
		if !sending {
			if err == nil && ing == 0 && ev == 0 && samples.pending() == 0 {
				drained = at.Sub(sendEnd)
			} else if time.Since(sendEnd) > ao.drain {
				break
			}
		}
	}
	serverCPU, clickhouseCPU, selfCPU, pgCPU := cpu(), chCPU(), self(), <-pgDone
	gw := merge("analytics gateway", o.duration, recs)

	// Summary.
	d := o.duration.Seconds()
	samples.mu.Lock()
	var lat, latTx, latErr []time.Duration
	unseen := 0
	for _, c := range samples.all {
		if c.seen.IsZero() {
			unseen++
			continue
		}
		l := c.seen.Sub(c.ok)
		lat = append(lat, l)
		if c.table == "transactions" {
			latTx = append(latTx, l)
		} else {
			latErr = append(latErr, l)
		}
	}
	sampled, pollErrs, lastPollErr := len(samples.all), samples.errs, samples.lastErr
	samples.mu.Unlock()
	slices.Sort(lat)
	slices.Sort(latTx)
	slices.Sort(latErr)
	name := fmt.Sprintf("analytics %d/s", ao.rate)
	sent := sentN[0].Load() + sentN[1].Load()
	ok := okN[0].Load() + okN[1].Load()
	fmt.Printf("%-34s sent %.0f/s, accepted %.0f/s (%.0f/s error events, %.0f/s transactions); gateway 200 p50 %s p99 %s\n",
		name, float64(sent)/d, float64(ok)/d, float64(okN[0].Load())/d, float64(okN[1].Load())/d, ms(quantile(gw.ok, .5)), ms(quantile(gw.ok, .99)))
	if atFrom >= 0 && atUntil > atFrom {
		f, u := looks[atFrom], looks[atUntil]
		w := u.at.Sub(f.at).Seconds()
		fmt.Printf("%-34s rows inserted into ClickHouse %.0f/s over the window; stored %.0f transactions/s, %.0f spans/s, %.0f error events/s (distinct)\n", "",
			float64(u.total()-f.total())/w, float64(u.rows["transactions"]-f.rows["transactions"])/w, float64(u.rows["spans"]-f.rows["spans"])/w,
			float64(u.rows["errors"]-f.rows["errors"])/w)
		var backlog, ages []int
		for _, s := range looks[atFrom : atUntil+1] {
			if s.err != nil {
				continue
			}
			backlog = append(backlog, s.ingest+s.events)
			ages = append(ages, int(max(s.ingestAge, s.eventsAge)/time.Millisecond))
		}
		slices.Sort(backlog)
		slices.Sort(ages)
		fmt.Printf("%-34s consumers' backlog (INGEST+EVENTS) in the window p50 %d max %d; oldest unacknowledged p50 %s max %s\n", "",
			backlog[len(backlog)/2], backlog[len(backlog)-1], secs(time.Duration(ages[len(ages)/2])*time.Millisecond), secs(time.Duration(ages[len(ages)-1])*time.Millisecond))
		fmt.Printf("%-34s at the end of sending: INGEST backlog %d (oldest %s), EVENTS backlog %d (oldest %s)\n", "",
			u.ingest, secs(u.ingestAge), u.events, secs(u.eventsAge))
	}
	fmt.Printf("%-34s 200 to queryable in ClickHouse p50 %s p99 %s max %s (%d sampled events, %d never seen; polled every 100ms)\n", "",
		ms(quantile(lat, .5)), ms(quantile(lat, .99)), ms(quantile(lat, 1)), sampled, unseen)
	fmt.Printf("%-34s of which %d transactions p50 %s p99 %s, %d error events (through grouping) p50 %s p99 %s\n", "",
		len(latTx), ms(quantile(latTx, .5)), ms(quantile(latTx, .99)), len(latErr), ms(quantile(latErr, .5)), ms(quantile(latErr, .99)))
	if drained >= 0 {
		fmt.Printf("%-34s drained %s after sending stopped (both backlogs 0, every sample queryable; looked at every 100ms)\n", "", secs(drained))
	} else {
		fmt.Printf("%-34s NOT drained %s after sending stopped\n", "", ao.drain)
	}
	end := a.sample(ctx)
	if end.err != nil {
		return end.err
	}
	fmt.Printf("%-34s distinct rows in ClickHouse: %d transactions, %d spans, %d error events, of %d rows inserted (the whole run, warmup and probes included)\n", "",
		end.rows["transactions"], end.rows["spans"], end.rows["errors"], end.rows["inserted"])
	if k := len(gw.ok); k > 0 {
		fmt.Printf("%-34s server CPU %.0f µs per request (%.2f cores); server %s\n", "",
			float64(serverCPU.Microseconds())/float64(k), serverCPU.Seconds()/d, p.rss())
	}
	chCores := "n/a (external)"
	if chs.Pid() != 0 {
		chCores = fmt.Sprintf("%.2f", clickhouseCPU.Seconds()/d)
	}
	fmt.Printf("%-34s CPU in the window: server %.2f cores, ClickHouse %s, its Postgres backends %.2f, the load generator %.2f (of %d)\n", "",
		serverCPU.Seconds()/d, chCores, pgCPU.Seconds()/d, selfCPU.Seconds()/d, runtime.NumCPU())
	if gw.errors > 0 || len(gw.statuses) > 1 {
		fmt.Printf("%-34s gateway statuses %v, %d transport errors (last: %v)\n", "", gw.statuses, gw.errors, gw.lastErr)
	}
	if pollErrs > 0 {
		fmt.Printf("%-34s %d ClickHouse polls failed (last: %v)\n", "", pollErrs, lastPollErr)
	}
	if drained < 0 {
		return fmt.Errorf("the analytics backlog did not clear within %s of sending stopping", ao.drain)
	}
	if unseen > 0 {
		return fmt.Errorf("%d sampled events never became queryable", unseen)
	}
	return nil
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

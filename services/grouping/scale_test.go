package grouping

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/faultline/faultline/streams"
)

// workload is a deterministic mix of events over a few dozen issues, users,
// releases and environments, as INGEST messages.
func workload(n int, seed uint64) []*nats.Msg { return projectWorkload(5, n, seed) }

func projectWorkload(project int64, n int, seed uint64) []*nats.Msg {
	r := rand.New(rand.NewPCG(seed, 1))
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	var out []*nats.Msg
	for i := range n {
		g := r.IntN(25)
		te := testEvent{
			id:          fmt.Sprintf("%032x", r.Uint64()<<1|1),
			excType:     []string{"TimeoutError", "KeyError", "ValueError", "IOError", "PanicError"}[g%5],
			excValue:    fmt.Sprintf("failure %d", r.IntN(1000)),
			function:    "handler" + strconv.Itoa(g),
			release:     "app@1." + strconv.Itoa(r.IntN(5)) + ".0",
			environment: []string{"production", "staging", "dev"}[r.IntN(3)],
			user:        "user" + strconv.Itoa(r.IntN(40)),
			ts:          base.Add(time.Duration(r.IntN(3600_000)) * time.Millisecond),
		}
		received := base.Add(time.Duration(i) * time.Millisecond)
		out = append(out, ingestMsg(project, "error", te.id, envelopeOf(te.id, "event", te.payload()), received))
	}
	return out
}

// snapshot is a projection without the ids that depend on creation order.
func snapshot(t *testing.T, pool *pgxpool.Pool) map[string]any { return projectSnapshot(t, pool, 0) }

// projectSnapshot is a snapshot of one project's rows (0: every project).
func projectSnapshot(t *testing.T, pool *pgxpool.Pool, project int64) map[string]any {
	t.Helper()
	ctx := context.Background()
	q := func(sql string) []map[string]any {
		rows, err := pool.Query(ctx, sql, project)
		if err != nil {
			t.Fatal(err)
		}
		out, err := pgx.CollectRows(rows, pgx.RowToMap)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	return map[string]any{
		"issues": q(`SELECT primary_hash, grouping_config, type, title, culprit, level, platform, first_seen, last_seen,
			last_event_id, times_seen, users_hll, users_seen, first_release, last_release, environments, status, substatus
			FROM grouping.issues WHERE $1::bigint IN (0, project_id) ORDER BY primary_hash`),
		"hashes": q(`SELECT h.hash, i.primary_hash FROM grouping.issue_hashes h JOIN grouping.issues i ON i.id = h.issue_id WHERE $1::bigint IN (0, i.project_id) ORDER BY h.hash`),
		"tags": q(`SELECT i.primary_hash, t.key, t.value, t.times_seen, t.first_seen, t.last_seen
			FROM grouping.issue_tags t JOIN grouping.issues i ON i.id = t.issue_id WHERE $1::bigint IN (0, i.project_id) ORDER BY 1, 2, 3`),
		"events": q(`SELECT e.event_id, i.primary_hash, e.ts, e.received, e.release, e.environment, e.user_key, e.hashes
			FROM grouping.events e JOIN grouping.issues i ON i.id = e.issue_id WHERE $1::bigint IN (0, e.project_id) ORDER BY e.event_id`),
	}
}

func TestThreeReplicasAgreeWithOne(t *testing.T) {
	const n = 1500
	msgs := workload(n, 42)
	one, three := newEnv(t), newEnv(t)
	one.publish(msgs...)
	publishTo(t, three.nc, msgs...)

	opt := testOptions()
	one.start(one.pool, opt)
	opt.BatchSize = 37 // small batches interleave the replicas more
	for range 3 {
		three.start(three.pool, opt)
	}
	one.waitEvents(one.pool, n)
	three.waitEvents(three.pool, n)

	a, b := snapshot(t, one.pool), snapshot(t, three.pool)
	for _, k := range []string{"issues", "hashes", "tags", "events"} {
		if !reflect.DeepEqual(a[k], b[k]) {
			t.Errorf("%s differ between one replica and three:\n one: %.2000v\nthree: %.2000v", k, a[k], b[k])
		}
	}
	if got := len(a["issues"].([]map[string]any)); got != 25 {
		t.Errorf("issues: got %d, want 25", got)
	}
	waitFor(t, "publications", func() (bool, string) {
		sa, sb := eventsSubjects(t, one.nc), eventsSubjects(t, three.nc)
		return sa["events.5.grouped"] == n && sb["events.5.grouped"] == n && sa["issues.5.created"] == 25 && sb["issues.5.created"] == 25,
			fmt.Sprint(sa, sb)
	})
}

// proxy is a TCP proxy in front of Postgres that a test takes down and
// brings back, so the shared server itself is never stopped.
type proxy struct {
	t      testing.TB
	addr   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

func startProxy(t testing.TB, target string) *proxy {
	p := &proxy{t: t, target: target}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.down)
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

// down stops accepting and cuts every connection.
func (p *proxy) down() {
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

// up listens again on the same address.
func (p *proxy) up() {
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatal(err)
	}
	p.serve(ln)
}

func TestPostgresDownThenBack(t *testing.T) {
	e := newEnv(t)
	u, err := url.Parse(e.db.URL)
	if err != nil {
		t.Fatal(err)
	}
	px := startProxy(t, u.Host)
	u.Host = px.addr
	cfg, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.ConnectTimeout = 2 * time.Second
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)

	msgs := workload(300, 7)
	e.publish(msgs[:100]...)
	s := e.start(pool, testOptions())
	e.waitEvents(e.pool, 100)

	px.down()
	e.publish(msgs[100:]...)
	waitFor(t, "failed batches while Postgres is down", func() (bool, string) {
		got := testutil.ToFloat64(s.m.failures)
		return got >= 3, fmt.Sprint(got)
	})
	if n := count(t, e.pool, `SELECT count(*) FROM grouping.events`); n != 100 {
		t.Fatalf("events while down: got %d, want 100", n)
	}
	c, err := e.nc.JS.Consumer(context.Background(), streams.Ingest, "grouping")
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.AckFloor.Stream > 100+1 { // +1: nothing else is in the stream, but be exact about acks
		t.Errorf("ack floor %d while Postgres is down: want at most the first 100 acknowledged", info.AckFloor.Stream)
	}

	px.up()
	e.waitEvents(e.pool, 300)
	if n := count(t, e.pool, `SELECT sum(times_seen) FROM grouping.issues`); n != 300 {
		t.Errorf("sum of times_seen: got %d, want 300", n)
	}
	if n := count(t, e.pool, `SELECT count(*) FROM grouping.rejected`); n != 0 {
		t.Errorf("rejected: got %d, want 0", n)
	}
	waitFor(t, "publications after recovery", func() (bool, string) {
		got := eventsSubjects(t, e.nc)
		return got["events.5.grouped"] == 300, fmt.Sprint(got)
	})
}

// Command loadgen measures Faultline's gateway: it sends realistic, gzipped
// Sentry envelopes over many keep-alive connections, flat out or at a fixed
// rate, and prints accepted envelopes per second, non-2xx answers by status
// and latency percentiles. Latency is timed from when each request was due,
// not from when it went out, so a stalled server cannot hide queued requests
// (coordinated omission).
//
// It starts `faultline serve` itself (fresh Postgres database, embedded
// NATS, a project made with `faultline project create`) or targets a
// running server (-target, -dsn). In the same run it measures a bare
// handler that only decompresses the body on the same payloads, and prints
// the ratio of the two.
//
//	loadgen -faultline bin/faultline -scenarios flat,bare,rate,overload,rss
package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type options struct {
	binary        string
	targetURL     string
	dsn           string
	scenarios     []string
	duration      time.Duration
	warmup        time.Duration
	conns         int
	rate          int
	rateConns     int
	overloadConns int
	overloadMax   []int
	bodies        int
	timeout       time.Duration
	keep          bool
	serverEnv     string
	bareListen    string
	pipeline      pipelineOptions
	soak          soakOptions
	alerting      alertingOptions
	analytics     analyticsOptions
	serverRoles   string
}

func main() {
	var o options
	var scen string
	flag.StringVar(&o.binary, "faultline", "bin/faultline", "faultline binary to start (ignored with -target)")
	flag.StringVar(&o.targetURL, "target", "", "URL of a running faultline (e.g. http://127.0.0.1:8080); needs -dsn")
	flag.StringVar(&o.dsn, "dsn", "", "DSN of a project on -target")
	flag.StringVar(&scen, "scenarios", "rss,flat,bare,rate,overload", "comma-separated: flat (flat out), bare (flat out against a decompress-only handler), rate (fixed rate), overload, rss, pipeline (gateway to grouped at fixed rates), backlog (grouping clearing a queued backlog), soak (make soak: a long fixed rate, watched for growth), alerting (notification latency: the gateway's 200 to a webhook received), analytics (the analytics role's lag with a ClickHouse of the run's own)")
	flag.DurationVar(&o.duration, "duration", 15*time.Second, "measured time of each scenario")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured time before each scenario")
	flag.IntVar(&o.conns, "conns", 64, "keep-alive connections, flat out")
	flag.IntVar(&o.rate, "rate", 1000, "envelopes per second in the fixed-rate scenario")
	flag.IntVar(&o.rateConns, "rate-conns", 64, "keep-alive connections in the fixed-rate scenario")
	flag.IntVar(&o.overloadConns, "overload-conns", 1024, "connections sending flat out in the overload scenario")
	var maxes string
	flag.StringVar(&maxes, "overload-max-in-flight", "0", "comma-separated GATEWAY_MAX_IN_FLIGHT values, one overload run each on a server of its own (0: the default)")
	flag.IntVar(&o.bodies, "bodies", 2000, "distinct pre-built envelopes")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Second, "timeout of one request")
	flag.BoolVar(&o.keep, "keep", false, "keep the started server's data and database")
	flag.StringVar(&o.serverEnv, "server-env", "", "comma-separated NAME=value pairs added to the started server's environment (e.g. GOGC=200)")
	flag.StringVar(&o.bareListen, "bare-listen", "", "internal: serve the bare handler on this address")
	var rates string
	flag.StringVar(&rates, "pipeline-rates", "500,1000,2000,2500,3000", "comma-separated error events per second, one pipeline step each")
	flag.DurationVar(&o.pipeline.duration, "pipeline-duration", 15*time.Second, "measured time of each pipeline step (after -warmup)")
	flag.DurationVar(&o.pipeline.drain, "pipeline-drain", 20*time.Second, "how long to wait after a pipeline step for its events to be grouped")
	flag.IntVar(&o.pipeline.samples, "pipeline-samples", 10, "events per second read back through the REST API in the pipeline scenario")
	flag.IntVar(&o.pipeline.issues, "pipeline-issues", 500, "issues the repeated events of the pipeline and backlog scenarios are drawn from")
	flag.IntVar(&o.pipeline.freshEvery, "pipeline-fresh-every", 100, "one error event in this many starts an issue of its own (0: none)")
	flag.IntVar(&o.pipeline.backlog, "backlog-events", 30000, "envelopes queued while grouping is paused, in the backlog scenario")
	flag.IntVar(&o.pipeline.minified, "pipeline-minified", 0, "percent of the pipeline's error events that are minified JavaScript from a bundle uploaded first, symbolicated by grouping (issue 11's benchmark: 50)")
	flag.IntVar(&o.pipeline.decisions, "pipeline-decisions", 5, "issues resolved or unresolved per second through the REST API during each pipeline step, timed until visible (0: none)")
	flag.DurationVar(&o.soak.duration, "soak-duration", 30*time.Minute, "how long the soak scenario sends")
	flag.DurationVar(&o.soak.warmup, "soak-warmup", 5*time.Minute, "soak minutes before the level later minutes are compared with")
	flag.IntVar(&o.soak.rate, "soak-rate", 1000, "error events per second in the soak scenario")
	flag.IntVar(&o.alerting.rate, "alerting-rate", 1000, "error events per second in the alerting scenario")
	flag.IntVar(&o.alerting.freshEvery, "alerting-new-every", 20, "one request in this many starts an issue, which a first-seen rule notifies, in the alerting scenario")
	flag.IntVar(&o.alerting.rules, "alerting-rules", 50, "rules of the project in the alerting scenario: one first-seen rule and others that never fire")
	flag.IntVar(&o.alerting.issues, "alerting-issues", 100, "issues the other events of the alerting scenario are drawn from")
	flag.IntVar(&o.analytics.rate, "analytics-rate", 2500, "requests per second in the analytics scenario")
	flag.IntVar(&o.analytics.errorsPercent, "analytics-errors-percent", 20, "percent of the analytics scenario's requests that are error events; the rest are transactions with two spans")
	flag.IntVar(&o.analytics.samples, "analytics-samples", 5, "events per second timed from the gateway's 200 until queryable in ClickHouse, in the analytics scenario")
	flag.DurationVar(&o.analytics.drain, "analytics-drain", 60*time.Second, "how long the analytics scenario waits after sending for the backlog to clear")
	flag.StringVar(&o.serverRoles, "server-roles", "", "serve --roles for the pipeline, backlog and soak servers (default: every role)")
	flag.Parse()
	o.scenarios = strings.Split(scen, ",")
	var err error
	if o.pipeline.rates, err = parseRates(rates); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen: -pipeline-rates:", err)
		os.Exit(2)
	}
	for _, m := range strings.Split(maxes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(m))
		if err != nil || n < 0 {
			fmt.Fprintf(os.Stderr, "loadgen: -overload-max-in-flight: %q is not a count\n", m)
			os.Exit(2)
		}
		o.overloadMax = append(o.overloadMax, n)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.bareListen != "" {
		if err := serveBare(ctx, o.bareListen); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// target is where envelopes go.
type target struct {
	host string // host:port to dial
	path string // /api/<project>/envelope/
	key  string
	dsn  string
}

func newTarget(base, dsn string) (*target, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("target %q is not a URL", base)
	}
	d, err := url.Parse(dsn)
	if err != nil || d.User == nil {
		return nil, fmt.Errorf("DSN %q has no public key", dsn)
	}
	project := strings.Trim(d.Path, "/")
	if project == "" {
		return nil, fmt.Errorf("DSN %q has no project id", dsn)
	}
	return &target{host: u.Host, path: "/api/" + project + "/envelope/", key: d.User.Username(), dsn: dsn}, nil
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func run(ctx context.Context, o options) error {
	start := time.Now()
	bodies := buildBodies(o.bodies, 1)
	var raw, wire int
	for _, b := range bodies {
		raw += b.rawSize
		wire += len(b.items)
	}
	errSize := 0
	nErr := 0
	for _, b := range bodies {
		if b.kind == "error" {
			errSize += b.rawSize
			nErr++
		}
	}
	fmt.Printf("payloads: %d envelopes (%s), mean %d bytes raw, %d gzipped; error events mean %d bytes; built in %s\n",
		len(bodies), mixString(), raw/len(bodies), wire/len(bodies), errSize/max(nErr, 1), time.Since(start).Round(time.Millisecond))

	var srv *server
	var tgt *target
	if o.targetURL != "" {
		var err error
		if tgt, err = newTarget(o.targetURL, o.dsn); err != nil {
			return err
		}
	} else if slices.ContainsFunc(o.scenarios, func(s string) bool {
		return s != "pipeline" && s != "backlog" && s != "soak" && s != "alerting" && s != "analytics"
	}) {
		var err error
		srv, err = startServer(ctx, o.binary, gatewayRoles, splitEnv(o.serverEnv), o.keep)
		if err != nil {
			return err
		}
		defer srv.stop()
		tgt = srv.target
		fmt.Printf("started %s serve (pid %d) at %s, project %s\n", o.binary, srv.pid(), srv.base, tgt.path)
	}

	var flat result
	for _, s := range o.scenarios {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		switch s {
		case "rss":
			if srv == nil {
				fmt.Println("rss: skipped (needs a started server)")
				continue
			}
			srv.printRSS("rss idle")
		case "flat":
			flat = flatOut(ctx, "faultline flat out", tgt, srv.pidOrZero(), bodies, o.conns, o.warmup, o.duration, o.timeout)
			flat.print(os.Stdout)
			if srv != nil {
				srv.printRSS("rss after load")
			}
		case "bare":
			bare, err := startBare(ctx)
			if err != nil {
				return err
			}
			bt := *tgt
			bt.host = bare.addr
			r := flatOut(ctx, "bare decompress flat out", &bt, bare.cmd.Process.Pid, bodies, o.conns, o.warmup, o.duration, o.timeout)
			bare.close()
			r.print(os.Stdout)
			if flat.elapsed > 0 && r.rate() > 0 {
				fmt.Printf("%-34s %.2f (faultline %.0f/s ÷ bare %.0f/s)\n", "ratio", flat.rate()/r.rate(), flat.rate(), r.rate())
			}
		case "rate":
			r := fixedRate(ctx, fmt.Sprintf("faultline fixed %d/s", o.rate), tgt, srv.pidOrZero(), bodies, o.rateConns, o.rate, o.warmup, o.duration, o.timeout)
			r.print(os.Stdout)
		case "overload":
			if srv == nil {
				r := flatOut(ctx, fmt.Sprintf("overload %d conns", o.overloadConns), tgt, 0, bodies, o.overloadConns, o.warmup, o.duration, o.timeout)
				r.print(os.Stdout)
				continue
			}
			for _, m := range o.overloadMax {
				// A server of its own, so its quotas and queues start empty.
				env := splitEnv(o.serverEnv)
				limit := "default"
				if m > 0 {
					env = append(env, fmt.Sprintf("GATEWAY_MAX_IN_FLIGHT=%d", m))
					limit = strconv.Itoa(m)
				}
				os2, err := startServer(ctx, o.binary, gatewayRoles, env, o.keep)
				if err != nil {
					return err
				}
				name := fmt.Sprintf("overload %d conns, max %s", o.overloadConns, limit)
				r := flatOut(ctx, name, os2.target, os2.pid(), bodies, o.overloadConns, o.warmup, o.duration, o.timeout)
				os2.stop()
				r.print(os.Stdout)
			}
		case "soak":
			if o.targetURL != "" {
				fmt.Println("soak: skipped (needs a started server)")
				continue
			}
			if err := runSoak(ctx, o, o.soak); err != nil {
				return fmt.Errorf("soak: %w", err)
			}
		case "alerting":
			if o.targetURL != "" {
				fmt.Println("alerting: skipped (needs a started server)")
				continue
			}
			if err := runAlerting(ctx, o, o.alerting); err != nil {
				return fmt.Errorf("alerting: %w", err)
			}
		case "analytics":
			if o.targetURL != "" {
				fmt.Println("analytics: skipped (needs a started server)")
				continue
			}
			if err := runAnalytics(ctx, o, o.analytics); err != nil {
				return fmt.Errorf("analytics: %w", err)
			}
		case "pipeline", "backlog":
			if o.targetURL != "" {
				fmt.Printf("%s: skipped (needs a started server)\n", s)
				continue
			}
			scenario := runPipeline
			if s == "backlog" {
				scenario = runBacklog
			}
			if err := scenario(ctx, o, o.pipeline); err != nil {
				return fmt.Errorf("%s: %w", s, err)
			}
		default:
			return fmt.Errorf("unknown scenario %q", s)
		}
	}
	if srv != nil {
		time.Sleep(5 * time.Second)
		srv.printRSS("rss idle after load (5s)")
	}
	return nil
}

func mixString() string {
	var parts []string
	for _, m := range mix {
		parts = append(parts, fmt.Sprintf("%d%% %s", m.weight, m.kind))
	}
	return strings.Join(parts, ", ")
}

// flatOut sends as fast as conns connections allow: each sends its next
// envelope as soon as the last is answered.
func flatOut(ctx context.Context, name string, t *target, pid int, bodies []body, conns int, warmup, d, timeout time.Duration) result {
	var seq atomic.Uint64
	begin := time.Now()
	from, until := begin.Add(warmup), begin.Add(warmup+d)
	cpu, self := measureCPU(pid, warmup, d), measureCPU(os.Getpid(), warmup, d)
	recs := make([]*recorder, conns)
	var wg sync.WaitGroup
	for w := range conns {
		rec := newRecorder()
		recs[w] = rec
		wg.Go(func() {
			c := &conn{addr: t.host}
			defer c.close()
			var buf []byte
			for ctx.Err() == nil {
				i := seq.Add(1)
				b := &bodies[i%uint64(len(bodies))]
				buf = request(buf[:0], t, b, i)
				sent := time.Now()
				if sent.After(until) {
					return
				}
				status, err := c.do(buf, timeout)
				done := time.Now()
				if sent.Before(from) || done.After(until) {
					continue
				}
				rec.add(status, done.Sub(sent), err)
				if err != nil {
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	r := merge(name, d, recs)
	r.cpu, r.selfCPU = cpu(), self()
	return r
}

// fixedRate sends rate envelopes per second, open loop: request i is due at
// begin + i/rate, and its latency counts from then, so requests that wait
// for a free connection are charged for the wait.
func fixedRate(ctx context.Context, name string, t *target, pid int, bodies []body, conns, rate int, warmup, d, timeout time.Duration) result {
	interval := time.Second / time.Duration(rate)
	begin := time.Now()
	from := begin.Add(warmup)
	n := uint64((warmup + d + interval - 1) / interval) // those due before the end
	cpu, self := measureCPU(pid, warmup, d), measureCPU(os.Getpid(), warmup, d)
	recs, wait := openLoop(ctx, t.host, conns, n, begin, interval,
		func(c *conn, rec *recorder, i uint64, due time.Time, buf []byte) []byte {
			buf = request(buf[:0], t, &bodies[i%uint64(len(bodies))], i+1)
			sleepUntil(due)
			status, err := c.do(buf, timeout)
			if !due.Before(from) {
				rec.add(status, time.Since(due), err)
			}
			return buf
		})
	wait()
	r := merge(name, d, recs)
	r.cpu, r.selfCPU = cpu(), self()
	return r
}

func splitEnv(s string) []string {
	var out []string
	for _, kv := range strings.Split(s, ",") {
		if kv = strings.TrimSpace(kv); kv != "" {
			out = append(out, kv)
		}
	}
	return out
}

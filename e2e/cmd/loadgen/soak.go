package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/faultline/faultline/streams"
)

// The soak scenario (make soak, not in CI): error events at a fixed rate
// through the all-in-one for a long time, open loop, distinct events
// throughout. Once a minute it prints the minute's gateway and end-to-end
// (gateway due → grouped announcement) p99, the server's RSS, goroutines
// and open files, and the grouping consumer's backlog. At the end it
// compares the last minutes with the level after warm-up: a leak shows as
// growth, a slowdown as a rising p99.

// soakOptions configure the soak scenario.
type soakOptions struct {
	duration time.Duration
	warmup   time.Duration // minutes not compared (caches, pools and the JIT-like growth of Go's heap)
	rate     int
}

// soakMinute is what one minute measured.
type soakMinute struct {
	sent, grouped int
	gateway, e2e  []time.Duration
	non200        int
	rssMB         float64
	goroutines    float64
	openFiles     int
	backlog       int
}

func runSoak(ctx context.Context, o options, so soakOptions) error {
	total := int(float64(so.rate) * so.duration.Seconds())
	fresh := total/max(o.pipeline.freshEvery, 1) + 1
	corpus := buildPipelineCorpus(o.bodies, o.pipeline.issues, fresh, 13)
	metricsPort, err := freePort()
	if err != nil {
		return err
	}
	so2 := o
	so2.serverEnv = strings.Trim(o.serverEnv+",METRICS_LISTEN=127.0.0.1:"+strconv.Itoa(metricsPort), ",")
	p, err := startPipelineServer(ctx, so2)
	if err != nil {
		return err
	}
	defer p.stop()
	metricsURL := "http://127.0.0.1:" + strconv.Itoa(metricsPort) + "/metrics"
	fmt.Printf("soak: %d error events/s for %s through %s serve (pid %d); one line a minute\n", so.rate, so.duration, o.binary, p.pid())

	start := time.Now()
	minutes := make([]*soakMinute, int(so.duration/time.Minute)+2)
	for i := range minutes {
		minutes[i] = &soakMinute{}
	}
	var mu sync.Mutex
	minuteOf := func(t time.Time) *soakMinute {
		i := int(t.Sub(start) / time.Minute)
		return minutes[min(max(i, 0), len(minutes)-1)]
	}
	const base = uint64(1) << 42
	due := make([]atomic.Int64, total)
	sub, err := p.nc.Subscribe("events."+p.project+".grouped", func(m *nats.Msg) {
		now := time.Now()
		var id [16]byte
		if h := m.Header.Get(streams.HeaderEventID); len(h) != 32 {
			return
		} else if _, err := hex.Decode(id[:], []byte(h)); err != nil {
			return
		}
		seq := binary.BigEndian.Uint64(id[:8])
		if binary.BigEndian.Uint64(id[8:]) != runID || seq < base || seq-base >= uint64(total) {
			return
		}
		d := due[seq-base].Load()
		if d == 0 {
			return
		}
		mu.Lock()
		mm := minuteOf(time.Unix(0, d))
		mm.grouped++
		mm.e2e = append(mm.e2e, now.Sub(time.Unix(0, d)))
		mu.Unlock()
	})
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	sub.SetPendingLimits(-1, -1)

	interval := time.Second / time.Duration(so.rate)
	_, wait := openLoop(ctx, p.target.host, o.rateConns, uint64(total), start, interval,
		func(c *conn, _ *recorder, i uint64, at time.Time, buf []byte) []byte {
			seq := base + i
			buf = request(buf[:0], p.target, corpus.body(seq, uint64(o.pipeline.freshEvery)), seq)
			sleepUntil(at)
			due[i].Store(at.UnixNano())
			status, err := c.do(buf, o.timeout)
			lat := time.Since(at)
			mu.Lock()
			mm := minuteOf(at)
			mm.sent++
			if err == nil && status == http.StatusOK {
				mm.gateway = append(mm.gateway, lat)
			} else {
				mm.non200++
			}
			mu.Unlock()
			return buf
		})

	// Once a minute: the server's state, and the minute before's numbers
	// (its late announcements have arrived by then).
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	done := make(chan struct{})
	go func() { wait(); close(done) }()
	fmt.Printf("%6s %8s %8s %12s %12s %9s %10s %10s %8s\n", "minute", "sent/s", "grouped", "gateway p99", "e2e p99", "rss MB", "goroutines", "open files", "backlog")
	printed, underLoad := 0, -1
	sample := func(i int) {
		mm := minutes[i]
		mm.rssMB = rssMB(p.pid())
		mm.goroutines = metricValue(metricsURL, "go_goroutines")
		mm.openFiles = openFiles(p.pid())
		mm.backlog, _ = p.pending(ctx)
	}
	report := func(i int) {
		mu.Lock()
		mm := minutes[i]
		slices.Sort(mm.gateway)
		slices.Sort(mm.e2e)
		fmt.Printf("%6d %8.0f %8d %12s %12s %9.1f %10.0f %10d %8d\n", i+1, float64(mm.sent)/60, mm.grouped,
			ms(quantile(mm.gateway, .99)), ms(quantile(mm.e2e, .99)), mm.rssMB, mm.goroutines, mm.openFiles, mm.backlog)
		mu.Unlock()
	}
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-done:
			break loop
		case <-tick.C:
			i := int(time.Since(start)/time.Minute) - 1
			sample(i)
			underLoad = i
			if i > 0 {
				report(i - 1)
				printed = i
			}
		}
	}
	time.Sleep(10 * time.Second) // the last announcements
	last := int(time.Since(start)/time.Minute) - 1
	sample(min(last, len(minutes)-1))
	for i := printed; i <= min(last, len(minutes)-1); i++ {
		report(i)
	}
	// A minute sampled here, after the senders stopped and closed their
	// connections, shows the server idle: it is printed but not compared.
	if n := min(last+1, len(minutes)); n > underLoad+1 {
		fmt.Printf("soak: minute %d was sampled after the load ended; the verdict leaves it out\n", n)
	}
	return soakVerdict(minutes[:underLoad+1], int(so.warmup/time.Minute))
}

// soakVerdict compares the last five minutes with the first five after
// warm-up: within 10 % is flat.
func soakVerdict(ms []*soakMinute, warm int) error {
	if len(ms) < warm+10 {
		fmt.Printf("soak: %d minutes, too short to compare (want warm-up %d + 10)\n", len(ms), warm)
		return nil
	}
	first, last := ms[warm:warm+5], ms[len(ms)-5:]
	avg := func(part []*soakMinute, f func(*soakMinute) float64) float64 {
		s := 0.0
		for _, m := range part {
			s += f(m)
		}
		return s / float64(len(part))
	}
	for _, c := range []struct {
		name string
		f    func(*soakMinute) float64
	}{
		{"rss MB", func(m *soakMinute) float64 { return m.rssMB }},
		{"goroutines", func(m *soakMinute) float64 { return m.goroutines }},
		{"open files", func(m *soakMinute) float64 { return float64(m.openFiles) }},
		{"gateway p99 ms", func(m *soakMinute) float64 { return float64(quantile(m.gateway, .99)) / 1e6 }},
		{"e2e p99 ms", func(m *soakMinute) float64 { return float64(quantile(m.e2e, .99)) / 1e6 }},
	} {
		a, b := avg(first, c.f), avg(last, c.f)
		verdict := "flat"
		if b > a*1.10 {
			verdict = "GREW"
		}
		fmt.Printf("soak %-16s minutes %d-%d %10.1f, last five %10.1f: %+.1f%% %s\n", c.name, warm+1, warm+5, a, b, 100*(b-a)/max(a, 1e-9), verdict)
	}
	return nil
}

// rssMB is pid's resident set in MB.
func rssMB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// openFiles counts pid's open file descriptors.
func openFiles(pid int) int {
	es, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0
	}
	return len(es)
}

// metricValue reads one unlabelled gauge from a Prometheus text page.
func metricValue(url, name string) float64 {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	prefix := []byte(name + " ")
	for sc.Scan() {
		if line := sc.Bytes(); bytes.HasPrefix(line, prefix) {
			v, _ := strconv.ParseFloat(string(bytes.TrimSpace(line[len(prefix):])), 64)
			return v
		}
	}
	return 0
}

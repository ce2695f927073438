package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// recorder is one worker's record; merged after the run, so workers never
// share a lock.
type recorder struct {
	ok       []time.Duration // latencies of 2xx answers
	rejLat   []time.Duration // latencies of 429 and 503 answers
	statuses map[int]int
	errors   int
	lastErr  error
}

func newRecorder() *recorder {
	return &recorder{statuses: map[int]int{}}
}

func (r *recorder) add(status int, lat time.Duration, err error) {
	if err != nil {
		r.errors++
		r.lastErr = err
		return
	}
	r.statuses[status]++
	if status >= 200 && status < 300 {
		r.ok = append(r.ok, lat)
		return
	}
	if status == 429 || status == 503 {
		r.rejLat = append(r.rejLat, lat)
	}
}

// result is a merged run.
type result struct {
	name     string
	elapsed  time.Duration
	ok       []time.Duration // sorted
	rejLat   []time.Duration // sorted
	statuses map[int]int
	errors   int
	lastErr  error
	cpu      time.Duration // CPU time the server process used in the measured window
	selfCPU  time.Duration // and the load generator
}

func merge(name string, elapsed time.Duration, rs []*recorder) result {
	out := result{name: name, elapsed: elapsed, statuses: map[int]int{}}
	for _, r := range rs {
		out.ok = append(out.ok, r.ok...)
		out.rejLat = append(out.rejLat, r.rejLat...)
		for s, n := range r.statuses {
			out.statuses[s] += n
		}
		out.errors += r.errors
		if r.lastErr != nil {
			out.lastErr = r.lastErr
		}
	}
	slices.Sort(out.ok)
	slices.Sort(out.rejLat)
	return out
}

func (r result) requests() int {
	n := r.errors
	for _, c := range r.statuses {
		n += c
	}
	return n
}

func (r result) rate() float64 { return float64(len(r.ok)) / r.elapsed.Seconds() }

func quantile(s []time.Duration, q float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/1e6) }

func (r result) print(w io.Writer) {
	fmt.Fprintf(w, "%-34s accepted %8.0f/s  (%d in %.1fs)  p50 %s  p99 %s  max %s\n",
		r.name, r.rate(), len(r.ok), r.elapsed.Seconds(), ms(quantile(r.ok, .5)), ms(quantile(r.ok, .99)), ms(quantile(r.ok, 1)))
	if r.cpu > 0 && len(r.ok) > 0 {
		fmt.Fprintf(w, "%-34s server CPU %.0f µs per accepted envelope (%.2f cores busy); load generator %.0f µs per request (%.2f cores)\n", "",
			float64(r.cpu.Microseconds())/float64(len(r.ok)), r.cpu.Seconds()/r.elapsed.Seconds(),
			float64(r.selfCPU.Microseconds())/float64(max(1, r.requests())), r.selfCPU.Seconds()/r.elapsed.Seconds())
	}
	var non []string
	for _, s := range slices.Sorted(maps.Keys(r.statuses)) {
		if s < 200 || s >= 300 {
			non = append(non, fmt.Sprintf("%d: %d", s, r.statuses[s]))
		}
	}
	if r.errors > 0 {
		non = append(non, fmt.Sprintf("transport errors: %d (last: %v)", r.errors, r.lastErr))
	}
	if len(non) > 0 {
		fmt.Fprintf(w, "%-34s non-2xx  %s\n", "", strings.Join(non, ", "))
	}
	if len(r.rejLat) > 0 {
		within := 0
		for _, d := range r.rejLat {
			if d <= 50*time.Millisecond {
				within++
			}
		}
		fmt.Fprintf(w, "%-34s 429/503  p50 %s  p99 %s  max %s  within 50ms %.1f%%\n", "",
			ms(quantile(r.rejLat, .5)), ms(quantile(r.rejLat, .99)), ms(quantile(r.rejLat, 1)),
			100*float64(within)/float64(len(r.rejLat)))
	}
}

package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// openLoop sends n requests over conns keep-alive connections to host,
// open loop: request i is due at begin + i×interval whatever became of the
// ones before. send makes and sends request i on c (buf is the connection's
// scratch space, returned for reuse) and records its answer in rec, the
// connection's recorder. openLoop returns the recorders and a function
// that waits until every request is sent or ctx ended.
func openLoop(ctx context.Context, host string, conns int, n uint64, begin time.Time, interval time.Duration,
	send func(c *conn, rec *recorder, i uint64, due time.Time, buf []byte) []byte) ([]*recorder, func()) {
	var next atomic.Uint64
	recs := make([]*recorder, conns)
	var wg sync.WaitGroup
	for w := range conns {
		rec := newRecorder()
		recs[w] = rec
		wg.Go(func() {
			c := &conn{addr: host}
			defer c.close()
			var buf []byte
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= n {
					return
				}
				buf = send(c, rec, i, begin.Add(time.Duration(i)*interval), buf)
			}
		})
	}
	return recs, wg.Wait
}

// sleepUntil waits until t.
func sleepUntil(t time.Time) {
	if wait := time.Until(t); wait > 0 {
		time.Sleep(wait)
	}
}

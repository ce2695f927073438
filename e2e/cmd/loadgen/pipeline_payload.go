package main

import (
	"bytes"
	"compress/gzip"
	"math/rand/v2"
	"sync/atomic"
)

// issueTemplate is what makes events group together: an exception type, a
// message and a stack trace. Events built from one template differ in
// everything else (user, host, release, tags, trace) and land in one issue.
type issueTemplate struct {
	typ, value string
	frames     []map[string]any
}

func newIssueTemplate(rng *rand.Rand) issueTemplate {
	return issueTemplate{
		typ:    pick(rng, errTypes),
		value:  pick(rng, messages),
		frames: frames(rng, 20),
	}
}

// pipelineCorpus is the error traffic of the pipeline and backlog
// scenarios: repeats are bodies drawn from a fixed set of issues with a
// Zipf distribution (a few issues take most events, as in real traffic);
// fresh bodies each start an issue of their own and are used once.
type pipelineCorpus struct {
	repeats []body
	fresh   []body
	issues  int // distinct issues among repeats
	// minified are JavaScript events thrown from the uploaded bundle; they
	// take minifiedPct of every 100 requests.
	minified    []body
	minifiedPct int

	nextFresh atomic.Uint64
}

// buildPipelineCorpus builds n repeat bodies over at most issues issues,
// and fresh one-off bodies. Payloads carry no event_id, so the envelope
// header's (unique per request) names the event.
func buildPipelineCorpus(n, issues, fresh int, seed uint64) *pipelineCorpus {
	rng := rand.New(rand.NewPCG(seed, seed^0x2545f4914f6cdd1d))
	tmpl := make([]issueTemplate, issues)
	for i := range tmpl {
		tmpl[i] = newIssueTemplate(rng)
	}
	zipf := rand.NewZipf(rng, 1.1, 2, uint64(issues-1))
	c := &pipelineCorpus{repeats: make([]body, n), fresh: make([]body, fresh)}
	used := map[uint64]bool{}
	for i := range c.repeats {
		k := zipf.Uint64()
		used[k] = true
		c.repeats[i] = errorBody(pipelineEvent(rng, tmpl[k]))
	}
	c.issues = len(used)
	for i := range c.fresh {
		c.fresh[i] = errorBody(pipelineEvent(rng, newIssueTemplate(rng)))
	}
	return c
}

func errorBody(payload []byte) body {
	var items bytes.Buffer
	item(&items, "event", payload, true)
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(items.Bytes())
	zw.Close()
	return body{kind: "error", hasEvent: true, items: z.Bytes(), rawSize: items.Len()}
}

// pipelineEvent is an error event of template t, shaped like errorEvent's
// but without an event_id.
func pipelineEvent(rng *rand.Rand, t issueTemplate) []byte {
	return mustJSON(goError(rng, t.typ, t.value, t.frames))
}

// body returns the body of the i-th request: every freshEvery-th takes the
// next unused fresh body (while there are any), minifiedPct of every 100 a
// minified JavaScript event, the rest a repeat.
func (c *pipelineCorpus) body(i uint64, freshEvery uint64) *body {
	if freshEvery > 0 && i%freshEvery == 0 {
		if n := c.nextFresh.Add(1) - 1; n < uint64(len(c.fresh)) {
			return &c.fresh[n]
		}
	}
	if c.minifiedPct > 0 && i%100 < uint64(c.minifiedPct) {
		return &c.minified[i%uint64(len(c.minified))]
	}
	return &c.repeats[i%uint64(len(c.repeats))]
}

package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// A body is one pre-built envelope: its items, gzip-compressed once at
// start, and what its envelope header carries. Each request prepends a
// fresh header as a first gzip member (stored, not compressed: a handful of
// bytes of work) so that every request is a distinct envelope with its own
// event_id and JetStream's duplicate window never swallows a repeat.
type body struct {
	kind     string // error, transaction, session, client_report
	hasEvent bool   // the header carries an event_id
	items    []byte // gzip member holding every item
	rawSize  int    // decompressed size of the items
}

// mix is the share of each kind, shaped like what SDKs of a busy
// application send: mostly errors, some transactions, sessions and client
// reports.
var mix = []struct {
	kind   string
	weight int
}{
	{"error", 80},
	{"transaction", 8},
	{"session", 8},
	{"client_report", 4},
}

// buildBodies returns n bodies in the proportions of mix, shuffled.
func buildBodies(n int, seed uint64) []body {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	total := 0
	for _, m := range mix {
		total += m.weight
	}
	out := make([]body, 0, n)
	for _, m := range mix {
		k := n * m.weight / total
		for range k {
			out = append(out, buildBody(rng, m.kind))
		}
	}
	for len(out) < n {
		out = append(out, buildBody(rng, "error"))
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func buildBody(rng *rand.Rand, kind string) body {
	var items bytes.Buffer
	b := body{kind: kind}
	switch kind {
	case "error":
		b.hasEvent = true
		item(&items, "event", errorEvent(rng), true)
	case "transaction":
		b.hasEvent = true
		item(&items, "transaction", transaction(rng), true)
	case "session":
		item(&items, "session", session(rng), rng.IntN(2) == 0)
	case "client_report":
		item(&items, "client_report", clientReport(rng), true)
	}
	b.rawSize = items.Len()
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(items.Bytes())
	zw.Close()
	b.items = z.Bytes()
	return b
}

// item appends an item, with or without length as SDKs variously send it.
func item(w *bytes.Buffer, typ string, payload []byte, withLength bool) {
	if withLength {
		fmt.Fprintf(w, `{"type":%q,"length":%d}`+"\n", typ, len(payload))
	} else {
		fmt.Fprintf(w, `{"type":%q}`+"\n", typ)
	}
	w.Write(payload)
	w.WriteByte('\n')
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

var (
	words    = strings.Fields("order payment invoice user session cart checkout account profile token cache queue worker handler request response upload export import report billing shipment inventory search index")
	verbs    = strings.Fields("load save process validate render fetch parse resolve dispatch compute update delete create sync flush encode decode")
	errTypes = []string{"*errors.errorString", "*fs.PathError", "*net.OpError", "*json.SyntaxError", "*url.Error", "*pq.Error", "context.deadlineExceededError"}
	messages = []string{
		"connection refused while %s the %s",
		"invalid character '%s' looking for beginning of value in %s",
		"timeout after 30s waiting for %s %s",
		"%s: record not found for %s",
		"unexpected EOF reading %s from %s",
		"permission denied opening /var/lib/app/%s/%s.json",
	}
)

func pick[T any](rng *rand.Rand, s []T) T { return s[rng.IntN(len(s))] }

func hexID(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return hex.EncodeToString(b)
}

func frames(rng *rand.Rand, n int) []map[string]any {
	fs := make([]map[string]any, n)
	for i := range fs {
		pkg := pick(rng, words)
		fn := pick(rng, verbs) + strings.ToUpper(pick(rng, words)[:1]) + pick(rng, words)[1:]
		file := fmt.Sprintf("internal/%s/%s.go", pkg, pick(rng, words))
		line := 20 + rng.IntN(900)
		f := map[string]any{
			"function": fn,
			"module":   "github.com/acme/shop/internal/" + pkg,
			"abs_path": "/home/build/src/github.com/acme/shop/" + file,
			"lineno":   line,
			"in_app":   i >= n/2,
		}
		if i >= n/2 { // source context, as sentry-go's ContextifyFrames adds for in-app frames
			f["pre_context"] = []string{"\tif err != nil {"}
			f["context_line"] = fmt.Sprintf("\t%s, err := %s.%s(ctx, %s)", pick(rng, words), pkg, fn, pick(rng, words)+"ID")
			f["post_context"] = []string{"\t\treturn nil, err"}
		}
		fs[i] = f
	}
	return fs
}

func errorEvent(rng *rand.Rand) []byte {
	msg := fmt.Sprintf(pick(rng, messages), pick(rng, verbs), pick(rng, words))
	ev := goError(rng, pick(rng, errTypes), msg, frames(rng, 20))
	ev["event_id"] = hexID(rng, 16)
	return mustJSON(ev)
}

// goError is an error event as sentry-go sends it, with an exception of
// type typ and value over frames, and the varying context (host, release,
// trace, tags, user, request) drawn from rng. It has no event_id.
func goError(rng *rand.Rand, typ, value string, frames []map[string]any) map[string]any {
	return map[string]any{
		"timestamp":   time.Now().UTC().Format(time.RFC3339Nano),
		"platform":    "go",
		"level":       "error",
		"logger":      "app",
		"server_name": "web-" + strconv.Itoa(rng.IntN(40)),
		"release":     "shop@1." + strconv.Itoa(rng.IntN(30)) + ".0",
		"environment": pick(rng, []string{"production", "staging"}),
		"sdk":         map[string]any{"name": "sentry.go", "version": "0.31.1", "integrations": []string{"ContextifyFrames", "Environment", "Modules", "IgnoreErrors"}},
		"exception": map[string]any{"values": []any{map[string]any{
			"type":       typ,
			"value":      value,
			"stacktrace": map[string]any{"frames": frames},
			"mechanism":  map[string]any{"type": "generic", "handled": true},
		}}},
		"contexts": map[string]any{
			"os":      map[string]any{"name": "linux"},
			"runtime": map[string]any{"name": "go", "version": "go1.24.2"},
			"device":  map[string]any{"arch": "amd64", "num_cpu": 8},
			"trace":   map[string]any{"trace_id": hexID(rng, 16), "span_id": hexID(rng, 8)},
		},
		"tags":    map[string]string{"route": "/api/" + pick(rng, words), "region": pick(rng, []string{"eu-west-1", "us-east-1"})},
		"user":    map[string]any{"id": strconv.Itoa(rng.IntN(100000)), "ip_address": "{{auto}}"},
		"request": map[string]any{"url": "https://shop.example.com/api/" + pick(rng, words), "method": "POST", "headers": map[string]string{"User-Agent": "Mozilla/5.0", "Accept": "application/json"}},
	}
}

func transaction(rng *rand.Rand) []byte {
	now := time.Now().UTC()
	trace := hexID(rng, 16)
	spans := make([]any, 8+rng.IntN(8))
	for i := range spans {
		spans[i] = map[string]any{
			"span_id": hexID(rng, 8), "parent_span_id": hexID(rng, 8), "trace_id": trace,
			"op": pick(rng, []string{"db.sql.query", "http.client", "cache.get"}), "description": "SELECT * FROM " + pick(rng, words) + " WHERE id = $1",
			"start_timestamp": float64(now.UnixMilli())/1000 - 0.2, "timestamp": float64(now.UnixMilli()) / 1000, "status": "ok",
		}
	}
	tx := map[string]any{
		"event_id": hexID(rng, 16), "type": "transaction", "transaction": "POST /api/" + pick(rng, words),
		"start_timestamp": float64(now.UnixMilli())/1000 - 0.3, "timestamp": float64(now.UnixMilli()) / 1000,
		"platform": "go", "release": "shop@1.4.0", "environment": "production",
		"contexts": map[string]any{"trace": map[string]any{"trace_id": trace, "span_id": hexID(rng, 8), "op": "http.server", "status": "ok"}},
		"spans":    spans,
		"sdk":      map[string]any{"name": "sentry.go", "version": "0.31.1"},
	}
	return mustJSON(tx)
}

func session(rng *rand.Rand) []byte {
	now := time.Now().UTC().Format(time.RFC3339)
	return mustJSON(map[string]any{
		"sid": hexID(rng, 16), "did": strconv.Itoa(rng.IntN(100000)), "init": rng.IntN(2) == 0, "started": now, "timestamp": now,
		"status": pick(rng, []string{"ok", "exited", "errored"}), "errors": rng.IntN(3), "duration": rng.Float64() * 100,
		"attrs": map[string]any{"release": "shop-web@1.4.0", "environment": "production", "user_agent": "Mozilla/5.0 (X11; Linux x86_64)"},
	})
}

func clientReport(rng *rand.Rand) []byte {
	return mustJSON(map[string]any{
		"timestamp": float64(time.Now().Unix()),
		"discarded_events": []any{
			map[string]any{"reason": "queue_overflow", "category": "error", "quantity": 1 + rng.IntN(5)},
			map[string]any{"reason": "sample_rate", "category": "transaction", "quantity": 1 + rng.IntN(50)},
		},
	})
}

// headerMember appends to dst a gzip member holding the envelope header
// line, as a stored deflate block: valid gzip that costs nothing to make.
func headerMember(dst []byte, line []byte) []byte {
	dst = append(dst, 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff)
	dst = append(dst, 1) // final stored block
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(line)))
	dst = binary.LittleEndian.AppendUint16(dst, ^uint16(len(line)))
	dst = append(dst, line...)
	dst = binary.LittleEndian.AppendUint32(dst, crc32.ChecksumIEEE(line))
	return binary.LittleEndian.AppendUint32(dst, uint32(len(line)))
}

// headerLine appends the envelope header of request seq: a unique event_id
// for events and transactions, and a sent_at unique to the request.
func headerLine(dst []byte, b *body, seq uint64, dsn string) []byte {
	dst = append(dst, '{')
	if b.hasEvent {
		dst = append(dst, `"event_id":"`...)
		var id [16]byte
		binary.BigEndian.PutUint64(id[:8], seq)
		binary.BigEndian.PutUint64(id[8:], runID)
		dst = hex.AppendEncode(dst, id[:])
		dst = append(dst, `",`...)
	}
	now := time.Now().UTC().Truncate(time.Millisecond).Add(time.Duration(seq % 1e6))
	dst = append(dst, `"sent_at":"`...)
	dst = now.AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","dsn":"`...)
	dst = append(dst, dsn...)
	dst = append(dst, `","sdk":{"name":"sentry.go","version":"0.31.1"}}`...)
	return append(dst, '\n')
}

// runID keeps event ids of separate runs against one stream apart.
var runID = rand.Uint64()

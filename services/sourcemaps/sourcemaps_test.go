package sourcemaps_test

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/faultline/faultline/libs/event"
	"github.com/faultline/faultline/libs/natsx"
	"github.com/faultline/faultline/libs/natsx/natstest"
	"github.com/faultline/faultline/libs/pg/pgtest"
	"github.com/faultline/faultline/libs/sourcemap/sourcemaptest"
	"github.com/faultline/faultline/libs/sourcemapindex"
	"github.com/faultline/faultline/services/sourcemaps"
	"github.com/faultline/faultline/streams"
)

const debugID = sourcemaptest.DebugID

type env struct {
	t   testing.TB
	nc  *natsx.Conn
	db  *pgtest.DB
	ctx context.Context
	svc *sourcemaps.Service
}

func start(t testing.TB) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv := natstest.Start(t)
	nc := srv.Connect(t)
	if err := streams.Apply(ctx, nc.JS, streams.IngestOptions{MaxAge: time.Hour, MaxBytes: -1, DuplicateWindow: time.Minute}); err != nil {
		t.Fatal(err)
	}
	db := pgtest.NewT(t, sourcemaps.Migrations)
	svc, err := sourcemaps.New(ctx, db.Pool, nc, sourcemaps.DefaultOptions(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return &env{t: t, nc: nc, db: db, ctx: ctx, svc: svc}
}

func bundle(t testing.TB) []byte { return sourcemaptest.EsbuildBundle(t) }

func sha1hex(b []byte) string {
	s := sha1.Sum(b)
	return hex.EncodeToString(s[:])
}

// upload stores data as chunks of n bytes, as the api does, and returns
// their names.
func (e *env) upload(data []byte, n int) []string {
	store, err := e.nc.JS.ObjectStore(e.ctx, streams.ChunksBucket)
	if err != nil {
		e.t.Fatal(err)
	}
	var names []string
	for len(data) > 0 {
		c := data[:min(n, len(data))]
		data = data[len(c):]
		if _, err := store.PutBytes(e.ctx, sha1hex(c), c); err != nil {
			e.t.Fatal(err)
		}
		names = append(names, sha1hex(c))
	}
	return names
}

func (e *env) assemble(cmd streams.AssembleCommand) (state, detail string) {
	e.t.Helper()
	body, _ := cmd.Encode()
	msg := nats.NewMsg(streams.AssembleSubject(cmd.OrgID))
	msg.Data = body
	if _, err := e.nc.JS.PublishMsg(e.ctx, msg); err != nil {
		e.t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		err := e.db.Pool.QueryRow(e.ctx, `SELECT state, detail FROM sourcemaps.bundles WHERE org_id = $1 AND checksum = $2`,
			cmd.OrgID, cmd.Checksum).Scan(&state, &detail)
		if err == nil && state != "assembling" {
			return state, detail
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("bundle %s not assembled: %q", cmd.Checksum, state)
	return
}

// minifiedEvent is what @sentry/node sends for runApp("x") thrown from
// testdata's app.min.js.
func minifiedEvent(t testing.TB, project int64, release, debugMeta string) *event.Event {
	payload := `{"platform":"node","release":"` + release + `","exception":{"values":[{"type":"Error","value":"boom: not a number: x",
	"stacktrace":{"frames":[
	 {"function":"s","filename":"/srv/app/dist/app.min.js","module":"app.min","lineno":1,"colno":403,"in_app":true},
	 {"function":"i","abs_path":"/srv/app/dist/app.min.js","filename":"/srv/app/dist/app.min.js","lineno":1,"colno":335,"in_app":true}]}}]}` +
		debugMeta + `}`
	e, err := event.Normalize([]byte(payload), event.Meta{ProjectID: project, Received: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestAssembleAndSymbolicate(t *testing.T) {
	e := start(t)
	zipped := bundle(t)
	cmd := streams.AssembleCommand{OrgID: 1, Checksum: sha1hex(zipped), Chunks: e.upload(zipped, 700), ProjectIDs: []int64{7, 8}}
	if state, detail := e.assemble(cmd); state != "ok" {
		t.Fatalf("state %s: %s", state, detail)
	}
	var n int
	e.db.Pool.QueryRow(e.ctx, `SELECT count(*) FROM sourcemaps.files WHERE debug_id = $1 AND release = '1.0'`, debugID).Scan(&n)
	if n != 4 {
		t.Errorf("%d files indexed, want 2 files × 2 projects", n)
	}
	// Assembling the same bundle again changes nothing.
	if state, _ := e.assemble(cmd); state != "ok" {
		t.Errorf("again: %s", state)
	}

	ix, err := sourcemapindex.New(e.ctx, e.db.Pool, e.nc.JS, sourcemapindex.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	for name, ev := range map[string]*event.Event{
		"release":  minifiedEvent(t, 7, "1.0", ""),
		"debug id": minifiedEvent(t, 8, "", `,"debug_meta":{"images":[{"type":"sourcemap","code_file":"/srv/app/dist/app.min.js","debug_id":"`+strings.ToUpper(debugID)+`"}]}`),
	} {
		t.Run(name, func(t *testing.T) {
			n, err := ix.Symbolicate(e.ctx, ev)
			if err != nil || n != 2 {
				t.Fatalf("mapped %d frames, %v", n, err)
			}
			ex := ev.Exceptions[0]
			want := []struct {
				fn, file string
				line     int64
				ctx      string
			}{
				{"run", "src/app.js", 20, "    explode(err.message);"},
				{"explode", "src/app.js", 13, `  throw new Error("boom: " + detail.reason);`},
			}
			for i, w := range want {
				f := ex.Stacktrace.Frames[i]
				if f.Function != w.fn || f.Filename != w.file || f.Lineno != w.line || f.ContextLine != w.ctx ||
					len(f.PreContext) != 5 || !f.IsInApp() || f.AbsPath != "~/src/app.js" {
					t.Errorf("frame %d: %+v", i, f)
				}
			}
			if raw := ex.RawStacktrace; raw == nil || raw.Frames[1].Function != "i" || raw.Frames[1].Colno != 335 {
				t.Errorf("raw stack trace: %+v", raw)
			}
		})
	}
	// Another project, another release, or no map: nothing changes.
	for _, ev := range []*event.Event{minifiedEvent(t, 9, "1.0", ""), minifiedEvent(t, 7, "2.0", "")} {
		if n, err := ix.Symbolicate(e.ctx, ev); n != 0 || err != nil || ev.Exceptions[0].RawStacktrace != nil {
			t.Errorf("mapped %d frames (%v) of an event with no map", n, err)
		}
	}
	if ix.Cache().Len() != 1 {
		t.Errorf("%d maps cached, want 1", ix.Cache().Len())
	}
}

func TestAssembleErrors(t *testing.T) {
	e := start(t)
	zipped := bundle(t)
	chunks := e.upload(zipped, 1000)
	for name, c := range map[string]struct {
		cmd    streams.AssembleCommand
		detail string
	}{
		"checksum": {streams.AssembleCommand{OrgID: 1, Checksum: strings.Repeat("a", 40), Chunks: chunks, ProjectIDs: []int64{1}}, "checksum"},
		"missing":  {streams.AssembleCommand{OrgID: 1, Checksum: sha1hex(zipped), Chunks: append(chunks, strings.Repeat("b", 40)), ProjectIDs: []int64{1}}, "missing"},
		"not zip":  {streams.AssembleCommand{OrgID: 2, Checksum: sha1hex([]byte("hello")), Chunks: e.upload([]byte("hello"), 10), ProjectIDs: []int64{1}}, "zip"},
	} {
		if state, detail := e.assemble(c.cmd); state != "error" || !strings.Contains(detail, c.detail) {
			t.Errorf("%s: state %s, detail %q", name, state, detail)
		}
	}
}

// BenchmarkSymbolicate is the cost of symbolicating one event of two
// minified frames with a warm cache (the map parsed, its location known).
func BenchmarkSymbolicate(b *testing.B) {
	e := start(b)
	zipped := bundle(b)
	cmd := streams.AssembleCommand{OrgID: 1, Checksum: sha1hex(zipped), Chunks: e.upload(zipped, 1<<20), ProjectIDs: []int64{7}}
	if state, detail := e.assemble(cmd); state != "ok" {
		b.Fatalf("state %s: %s", state, detail)
	}
	ix, err := sourcemapindex.New(e.ctx, e.db.Pool, e.nc.JS, sourcemapindex.DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	events := make([]*event.Event, b.N+1)
	for i := range events {
		events[i] = minifiedEvent(b, 7, "1.0", "")
	}
	if n, err := ix.Symbolicate(e.ctx, events[b.N]); n != 2 || err != nil {
		b.Fatalf("warm-up mapped %d frames: %v", n, err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ix.Symbolicate(e.ctx, events[i])
	}
}
